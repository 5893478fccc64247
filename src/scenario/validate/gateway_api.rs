//! Validation of the routing API and the data plane (`mesh.routing_api`,
//! `mesh.dataplane`), and of what the Kubernetes Gateway API, as Istio
//! supports it, cannot express: each such field is an error at its key that
//! says what to do. Faults are not refused: a step that injects one routes
//! that service with a VirtualService instead (`render`), with a warning.

use std::collections::HashSet;
use std::ops::Range;

use compact_str::CompactString;
use toml::Spanned;

use crate::istio::{AMBIENT_FROM, AMBIENT_PROFILES, GATEWAY_API_FROM, Release};
use crate::model::{
    Dataplane, Duration, RoutingApi, Service, ServiceRouting, parse_duration, version_service,
};
use crate::scenario::raw::{RawGateway, RawMatch, RawMesh, RawRule};

use super::Checker;

/// The HTTP methods an HTTPRoute match may name.
const GATEWAY_API_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The most rules one HTTPRoute holds, and destinations one rule holds
/// (`maxItems` of the HTTPRoute CRD).
const MAX_ROUTE_RULES: usize = 16;
const MAX_BACKENDS: usize = 16;
/// The most hostnames an HTTPRoute names.
const MAX_HOSTNAMES: usize = 16;

/// What to write instead, for a field the Gateway API has no form for.
const USE_ISTIO: &str = "or set mesh.routing_api = \"istio\"";

impl Checker<'_> {
    /// `mesh.dataplane` and `mesh.routing_api`: their releases, the profile
    /// ambient mode needs, and the default routing API of each data plane.
    pub(super) fn routing_and_dataplane(
        &mut self,
        mesh: &RawMesh,
        release: Release,
        profile: &str,
    ) -> (RoutingApi, Dataplane) {
        // The schema reports any other value.
        let dataplane = match &mesh.dataplane {
            Some(d) if d.get_ref() == "ambient" => {
                if release.minor < AMBIENT_FROM {
                    self.error(
                        d.span(),
                        format!(
                            "dataplane = \"ambient\" needs Istio 1.{AMBIENT_FROM} or later (ambient \
                             mode is GA from 1.{AMBIENT_FROM}); mesh.version is {release}"
                        ),
                    );
                }
                if !AMBIENT_PROFILES.contains(&profile) {
                    let at = mesh.profile.as_ref().map_or(d.span(), Spanned::span);
                    self.error(
                        at,
                        format!(
                            "dataplane = \"ambient\" needs a profile that installs ztunnel ({}); \
                             profile `{profile}` installs none: set profile = \"ambient\"",
                            AMBIENT_PROFILES.join(", ")
                        ),
                    );
                }
                Dataplane::Ambient
            }
            _ => Dataplane::Sidecar,
        };
        let routing_api = match &mesh.routing_api {
            None if dataplane == Dataplane::Ambient => RoutingApi::GatewayApi,
            None => RoutingApi::Istio,
            Some(r) if r.get_ref() == "gateway-api" => {
                if release.minor < GATEWAY_API_FROM {
                    self.error(
                        r.span(),
                        format!(
                            "routing_api = \"gateway-api\" needs Istio 1.{GATEWAY_API_FROM} or \
                             later (in-mesh Gateway API routing is stable from 1.{GATEWAY_API_FROM}); \
                             mesh.version is {release}"
                        ),
                    );
                }
                RoutingApi::GatewayApi
            }
            Some(r) => {
                if dataplane == Dataplane::Ambient {
                    self.warning(
                        r.span(),
                        "routing_api = \"istio\" in ambient mode puts VirtualServices on the \
                         waypoint, which Istio supports as Alpha only (HTTPRoute is the API it \
                         supports there): remove routing_api to use the Gateway API",
                    );
                }
                RoutingApi::Istio
            }
        };
        (routing_api, dataplane)
    }

    /// The fields of one `[[steps.routes]]` rule the Gateway API cannot
    /// express, once per rule (not per service a `*` rule names).
    pub(super) fn gateway_api_rule(&mut self, raw: &RawRule) {
        let more = raw.more();
        if let Some(uri) = &more.uri {
            self.gateway_api_path(uri.get_ref());
        }
        if let Some(method) = &more.method
            && !GATEWAY_API_METHODS.contains(&method.get_ref().as_str())
        {
            self.error(
                method.span(),
                format!(
                    "method `{}` is not one an HTTPRoute matches ({}): match another way, \
                     {USE_ISTIO}",
                    method.get_ref(),
                    GATEWAY_API_METHODS.join(", ")
                ),
            );
        }
        for (duration, key) in [
            (&more.timeout, "timeout"),
            (&more.per_try_timeout, "per_try_timeout"),
        ] {
            self.gateway_api_duration(duration.as_ref(), key);
        }
        let nanos = |d: &Option<Spanned<CompactString>>| {
            d.as_ref().and_then(|d| parse_duration(d.get_ref()))
        };
        if let (Some(per_try), Some(request), Some(at)) = (
            nanos(&more.per_try_timeout),
            nanos(&more.timeout),
            more.per_try_timeout.as_ref(),
        ) && request > 0
            && per_try > request
        {
            self.error(
                at.span(),
                format!(
                    "per_try_timeout `{}` is longer than the rule's timeout: an HTTPRoute's \
                     timeouts.backendRequest may not exceed timeouts.request (a CEL rule of its \
                     CRD); shorten it, {USE_ISTIO}",
                    at.get_ref()
                ),
            );
        }
        if let Some(retry_on) = &more.retry_on
            && !(retry_on.get_ref().split(',')).all(is_retriable_status)
        {
            self.error(
                retry_on.span(),
                format!(
                    "retry_on `{}`: an HTTPRoute's retry names HTTP statuses only (400 to 599; \
                     Istio adds connect-failure, refused-stream, unavailable and cancelled): \
                     list statuses, remove retry_on, {USE_ISTIO}",
                    retry_on.get_ref()
                ),
            );
        }
    }

    /// A duration the Gateway API writes with at most millisecond precision.
    fn gateway_api_duration(&mut self, raw: Option<&Spanned<CompactString>>, key: &str) {
        let Some(raw) = raw else { return };
        let Some(nanos) = parse_duration(raw.get_ref()) else {
            return; // Reported by the rule's own check.
        };
        let duration = Duration {
            text: raw.get_ref().clone(),
            nanos,
        };
        if duration.gateway_api().is_none() {
            self.error(
                raw.span(),
                format!(
                    "{key} `{}` has no Gateway API form (whole milliseconds, under 100000h): \
                     round it, {USE_ISTIO}",
                    raw.get_ref()
                ),
            );
        }
    }

    /// A step's routing of one service, as one HTTPRoute: a TCP service has
    /// none (TCPRoute is experimental), and an HTTPRoute holds at most 16
    /// rules of at most 16 destinations; a fault makes it a VirtualService
    /// (a warning). `at` is the step's first rule for
    /// the service.
    pub(super) fn gateway_api_routing(
        &mut self,
        service: &Service,
        routing: &ServiceRouting,
        at: Range<usize>,
    ) {
        if routing.injects_fault() {
            self.warning(
                at.clone(),
                format!(
                    "the Gateway API has no fault injection: at this step `{0}` is routed by a \
                     VirtualService to its per-version Services, and an HTTPRoute of `{0}` is \
                     deleted once the VirtualService is applied; the step mixes the two APIs \
                     for `{0}`{1}",
                    service.name,
                    if self.ambient {
                        " (on the waypoint, where Istio supports VirtualService as Alpha)"
                    } else {
                        ""
                    }
                ),
            );
        }
        if let Some(order) = crate::routing::httproute_order(&routing.rules) {
            let moved = order.iter().enumerate().find(|&(place, &i)| place != i);
            if let Some((place, &first)) = moved {
                self.warning(
                    at.clone(),
                    format!(
                        "with the Gateway API, Istio tries the step's rules for `{}` by \
                         precedence (an Exact path, the longest PathPrefix, a method, the most \
                         headers), not as written: rule {} is tried before rule {}; order them \
                         so, or `meshgen explain` shows what each request gets",
                        service.name,
                        first + 1,
                        place + 1
                    ),
                );
            }
        }
        if routing.tcp {
            self.error(
                at,
                format!(
                    "`{}` speaks TCP, and the Gateway API routes TCP only with TCPRoute, which is \
                     experimental: route it without a step, {USE_ISTIO}",
                    service.name
                ),
            );
        } else if routing.rules.len() > MAX_ROUTE_RULES {
            self.error(
                at,
                format!(
                    "the step has {} rules for `{}`, and an HTTPRoute holds at most \
                     {MAX_ROUTE_RULES}: merge rules, {USE_ISTIO}",
                    routing.rules.len(),
                    service.name
                ),
            );
        } else if let Some(rule) =
            (routing.rules.iter()).find(|r| r.destinations.len() > MAX_BACKENDS)
        {
            self.error(
                at,
                format!(
                    "a rule of the step sends `{}` to {} versions, and an HTTPRoute rule holds at \
                     most {MAX_BACKENDS} backends: {USE_ISTIO}",
                    service.name,
                    rule.destinations.len()
                ),
            );
        }
    }

    /// The Service `<service>-<version>` the Gateway API routes a version
    /// through: an RFC 1035 label of at most 63 characters, and no declared
    /// service's name. `key` is the version's.
    pub(super) fn version_service_name(
        &mut self,
        service: &str,
        key: &Spanned<CompactString>,
        services: &HashSet<CompactString>,
    ) {
        let name = version_service(service, key.get_ref());
        if name.len() > 63 {
            self.error(
                key.span(),
                format!(
                    "the Gateway API routes version `{}` through a Service `{name}`, longer than \
                     the 63 characters of a Service name: shorten the service or version name",
                    key.get_ref()
                ),
            );
        } else if services.contains(name.as_str()) {
            self.error(
                key.span(),
                format!(
                    "the Gateway API routes version `{}` through a Service `{name}`, which is \
                     also a service of the scenario: rename one",
                    key.get_ref()
                ),
            );
        }
    }

    /// The ingress gateway's keys the Gateway API has no form for (or
    /// meshgen does not emit yet), and its routes' paths. (Its `tls` is an
    /// HTTPS listener, and with `redirect_http` an HTTPRoute that redirects.)
    pub(super) fn gateway_api_gateway(&mut self, gw: &RawGateway) {
        if let Some(selector) = &gw.selector {
            self.not_in_gateway_api(
                selector.span(),
                "gateway.selector (a Gateway API Gateway selects no pods: Istio deploys one for \
                 it)",
                "remove it",
            );
        }
        if let Some(routing) = gw.version_routing.as_ref().filter(|v| *v.get_ref()) {
            self.error(
                routing.span(),
                format!(
                    "gateway.version_routing is not supported with the Gateway API yet (the \
                     gateway's HTTPRoute would route to the per-version Services): remove it, \
                     {USE_ISTIO}"
                ),
            );
        }
        if let Some(hosts) = &gw.hosts
            && hosts.get_ref().len() > MAX_HOSTNAMES
            && !hosts.get_ref().iter().any(|h| h.get_ref() == "*")
        {
            self.error(
                hosts.span(),
                format!(
                    "an HTTPRoute names at most {MAX_HOSTNAMES} hostnames, and gateway.hosts has \
                     {}: {USE_ISTIO}",
                    hosts.get_ref().len()
                ),
            );
        }
        let routes = gw.routes.as_ref().map(Spanned::get_ref);
        let uris = routes
            .into_iter()
            .flatten()
            .filter_map(|r| r.get_ref().uris.as_ref());
        for m in uris.flat_map(|u| u.get_ref()) {
            self.gateway_api_path(m.get_ref());
        }
    }

    /// An `exact` or `prefix` URI match as an HTTPRoute path.
    fn gateway_api_path(&mut self, m: &RawMatch) {
        for (value, kind) in [(&m.exact, "exact"), (&m.prefix, "prefix")] {
            if let Some(value) = value
                && let Some(why) = path_refusal(value.get_ref())
            {
                self.error(
                    value.span(),
                    format!(
                        "uri {kind} `{}` is not a Gateway API path ({}): it {why}",
                        value.get_ref(),
                        if kind == "exact" {
                            "Exact"
                        } else {
                            "PathPrefix"
                        }
                    ),
                );
            }
        }
    }

    /// A key the Gateway API has no form for: an error at it, saying what
    /// to do.
    pub(super) fn not_in_gateway_api(&mut self, span: Range<usize>, what: &str, instead: &str) {
        self.error(
            span,
            format!("{what} has no Gateway API form: {instead}, {USE_ISTIO}"),
        );
    }
}

/// Why `path` is not a path an HTTPRoute's `Exact` or `PathPrefix` match
/// takes (the CEL rules of the HTTPRoute CRD, Gateway API v1.5.1), or `None`.
pub(super) fn path_refusal(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("does not start with '/'");
    }
    let forbidden = [
        ("//", "contains '//'"),
        ("/./", "contains '/./'"),
        ("/../", "contains '/../'"),
        ("%2f", "contains '%2f'"),
        ("%2F", "contains '%2F'"),
        ("#", "contains '#'"),
    ];
    if let Some((_, why)) = forbidden.iter().find(|(part, _)| path.contains(part)) {
        return Some(why);
    }
    if path.ends_with("/..") || path.ends_with("/.") {
        return Some("ends with '/.' or '/..'");
    }
    if path.len() > 1024 {
        return Some("is longer than 1024 characters");
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Some("has a '%' not followed by two hex digits");
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-/._~!$&'()*+,;=:@".contains(&b)) {
            return Some("has a character a path may not hold unescaped (write it as %XX)");
        }
        i += 1;
    }
    None
}

/// Whether `code` is a status an HTTPRoute's `retry.codes` takes.
fn is_retriable_status(code: &str) -> bool {
    code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (400..=599).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_httproute_cel_rules() {
        for good in ["/", "/productpage", "/api/v1/products", "/a%20b", "/~x@y:z"] {
            assert_eq!(path_refusal(good), None, "{good}");
        }
        for bad in [
            "productpage",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a%2fb",
            "/a#b",
            "/a/..",
            "/a/.",
            "/a b",
            "/a%2",
            "/é",
        ] {
            assert!(path_refusal(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn retry_codes_are_http_error_statuses() {
        assert!(is_retriable_status("503"));
        assert!(!is_retriable_status("5xx"));
        assert!(!is_retriable_status("200"));
        assert!(!is_retriable_status("0503"));
    }
}
