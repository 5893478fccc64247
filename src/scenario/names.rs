//! Name rules of Kubernetes and Istio: DNS-1123 and RFC 1035 labels, DNS-1123
//! subdomains, label keys and values, environment variable names, image
//! references, durations. Pure predicates and parsers; no diagnostics.

use std::sync::LazyLock;

use regex::Regex;

/// A DNS-1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, 1..=63.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// An RFC 1035 label: a DNS-1123 label that starts with a letter (a Service name).
pub fn is_rfc1035_label(name: &str) -> bool {
    is_dns1123_label(name) && name.as_bytes()[0].is_ascii_lowercase()
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns1123_label)
}

/// The name part of a label key, or a label value when not empty: 1..=63 of
/// alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
fn is_label_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// A Kubernetes label key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_token(name),
        None => is_label_token(key),
    }
}

/// A Kubernetes label value: empty, or a label token.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_token(value)
}

/// An environment variable name Kubernetes accepts on every release:
/// letters, digits, `_`, `-`, `.`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A host as a Gateway and a VirtualService both accept it: `*`, or a DNS name
/// (letters of either case, digits, `-`, dot-separated labels of 1..=63,
/// at most 253), optionally after a `*.` wildcard.
pub fn is_wildcard_host(host: &str) -> bool {
    if host == "*" {
        return true;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    name.len() <= 253
        && name
            .split('.')
            .all(|label| is_dns1123_label(&label.to_ascii_lowercase()))
}

/// An HTTP header name as Istio matches it: a lowercase token.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// The grammar of container image references (`github.com/distribution/reference`,
/// which containerd, CRI-O and Docker parse with): an optional registry host
/// (`[IPv6]` or DNS components, an optional port), a lowercase repository path,
/// an optional tag, an optional digest.
static IMAGE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let path_component = "[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*";
    let name = format!("(?:{host}(?::[0-9]+)?/)?{path_component}(?:/{path_component})*");
    let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!("^{name}(?::{tag})?(?:@{digest})?$")).expect("a valid pattern")
});

/// The longest image name (registry and repository) the grammar allows.
const IMAGE_NAME_MAX: usize = 255;

/// A container image reference: `[host[:port]/]path[:tag][@digest]`, the
/// path in lowercase, the name at most 255 characters.
pub fn is_image_reference(text: &str) -> bool {
    // A plain match, not captures: finding the name is left to the cheap
    // byte scan below (the name is what precedes the digest and the tag,
    // whose `:` is the last one after the last `/`).
    let named = text.split('@').next().unwrap_or(text);
    let tag_at = named
        .rfind(':')
        .filter(|&colon| !named[colon..].contains('/'));
    tag_at.unwrap_or(named.len()) <= IMAGE_NAME_MAX && IMAGE_REFERENCE.is_match(text)
}

/// What may stand before the last `/` of an image: a registry host and
/// maybe a path (`docker.io/istio`, `localhost:5000`), with no tag, digest
/// or trailing `/` (`images.registry`, `mesh.hub`).
pub fn is_image_prefix(text: &str) -> bool {
    is_image_reference(&format!("{text}/x"))
}

/// An image tag: a letter, digit or `_`, then up to 127 of those, `.` or `-`.
pub fn is_image_tag(text: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = text.as_bytes();
    bytes.first().is_some_and(word)
        && bytes.len() <= 128
        && bytes[1..]
            .iter()
            .all(|b| word(b) || *b == b'.' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_the_container_runtimes_grammar() {
        for good in [
            "nginx",
            "nginx:1.27",
            "docker.io/istio/examples-bookinfo-reviews-v1:1.15.0",
            "localhost:5000/team/app",
            "registry.example.com:443/a/b_c__d-e:v1.2-rc_3",
            "[::1]:5000/app",
            "MyRegistry.io/app",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "r.io/app:1@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in [
            "",
            "NGINX",
            "nginx:",
            "http://reg.example.com/nginx",
            "reg.example.com//nginx",
            "nginx/",
            "-app",
            "app:-1",
            "app@sha256:abc",
            &format!("r.io/{}", "a".repeat(251)),
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
        assert!(is_image_reference(&format!("r.io/{}", "a".repeat(250))));
    }

    #[test]
    fn image_prefixes_and_tags() {
        for good in [
            "docker.io/istio",
            "localhost:5000",
            "gcr.io/istio-release",
            "mirror",
        ] {
            assert!(is_image_prefix(good), "{good}");
        }
        for bad in [
            "docker.io/istio/",
            "http://reg.example.com",
            "r.io/x:1",
            "r.io/Team",
            "",
        ] {
            assert!(!is_image_prefix(bad), "{bad}");
        }
        for good in ["1.5.1", "1.22.3-distroless", "latest", "_x"] {
            assert!(is_image_tag(good), "{good}");
        }
        for bad in ["", "-1", ".1", "1/2", "1@sha256:abc", &"1".repeat(129)] {
            assert!(!is_image_tag(bad), "{bad}");
        }
    }

    #[test]
    fn dns1123_labels() {
        for good in ["a", "bookinfo", "v2-mysql", "0abc", &"a".repeat(63)] {
            assert!(is_dns1123_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(!is_rfc1035_label("9lives"));
        assert!(is_rfc1035_label("reviews"));
    }

    #[test]
    fn subdomains_and_label_keys() {
        assert!(is_dns1123_subdomain("bookinfo-gateway.v1"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_label_key("team"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("/name"));
        assert!(!is_label_key("Bad Key"));
        assert!(!is_label_key("a/b/c"));
        assert!(is_label_value(""));
        assert!(is_label_value("Books_1.0"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(&"v".repeat(64)));
    }

    #[test]
    fn env_and_header_names() {
        assert!(is_env_name("LOG_DIR"));
        assert!(is_env_name("my.var-1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A=B"));
        assert!(is_header_name("end-user"));
        assert!(!is_header_name("End-User"));
        assert!(!is_header_name(""));
        assert!(!is_header_name("a b"));
    }

    #[test]
    fn gateway_hosts() {
        for good in [
            "*",
            "bookinfo.example.com",
            "*.example.com",
            "Shop.Example.com",
            "localhost",
        ] {
            assert!(is_wildcard_host(good), "{good}");
        }
        for bad in [
            "",
            "ns/host",
            "a..b",
            "*example.com",
            "host:80",
            "a b",
            "*.",
            "a.*.b",
        ] {
            assert!(!is_wildcard_host(bad), "{bad}");
        }
    }
}
