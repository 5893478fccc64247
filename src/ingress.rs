//! The ingress gateway's routing: the HTTP routes of its VirtualService in
//! force (per gateway route, a plain route to its service, or with
//! `version_routing` the service's routing in force, each rule's conditions
//! ANDed with each of the route's URI matches), and what one URI match says
//! of another (one takes every request of the other; two combine into one
//! match). Used by validation (unreachable routes, matches Istio cannot
//! say), rendering and explain, so that all three read the gateway alike.
//! Reads only the model; owns no rendering and no diagnostics.
//!
//! URI matches follow Envoy's path matching, which Istio configures: `exact`
//! and `regex` compare the path without its query string (a regex must match
//! all of it), `prefix` the path as sent, query string included.

use std::collections::HashSet;

use compact_str::CompactString;
use serde::Serialize;

use crate::model::{Gateway, Rule, ServiceRouting, StringMatch};

/// Two URI matches as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriAnd {
    /// Exactly the requests both match.
    Both(StringMatch),
    /// No request matches both.
    Never,
    /// Istio has no single match for the requests both match (a regex with
    /// a prefix, two different regexes).
    Inexpressible,
}

/// Whether `pattern`, an RE2 expression, matches all of `text` (as Envoy's
/// `safe_regex` does), read as RE2 reads it; `None` when RE2 or Istio
/// refuses the pattern.
fn full_match(pattern: &str, text: &str) -> Option<bool> {
    let whole = crate::re2::whole_value(pattern).ok()?;
    regex::Regex::new(&whole).ok().map(|r| r.is_match(text))
}

/// The requests that match both `a` and `b`, as one match when Istio can say it.
pub fn uri_and(a: &StringMatch, b: &StringMatch) -> UriAnd {
    use StringMatch::{Exact, Prefix, Regex};
    if a == b {
        return UriAnd::Both(a.clone());
    }
    match (a, b) {
        (Exact(_), Exact(_)) => UriAnd::Never,
        (Prefix(p), Prefix(q)) if q.starts_with(p.as_str()) => UriAnd::Both(b.clone()),
        (Prefix(p), Prefix(q)) if p.starts_with(q.as_str()) => UriAnd::Both(a.clone()),
        (Prefix(_), Prefix(_)) => UriAnd::Never,
        (Exact(e), Prefix(p)) | (Prefix(p), Exact(e)) => {
            if e.starts_with(p.as_str()) {
                // Every request for the path `e` (with any query) starts with `p`.
                UriAnd::Both(Exact(e.clone()))
            } else if p.starts_with(&format!("{e}?")) {
                // Only requests for `e` with a query string starting so.
                UriAnd::Both(Prefix(p.clone()))
            } else {
                UriAnd::Never
            }
        }
        (Regex(r), Exact(e)) | (Exact(e), Regex(r)) => match full_match(r, e) {
            Some(true) => UriAnd::Both(Exact(e.clone())),
            Some(false) => UriAnd::Never,
            None => UriAnd::Inexpressible,
        },
        (Regex(_), _) | (_, Regex(_)) => UriAnd::Inexpressible,
    }
}

/// Whether every request `later` matches is surely matched by `earlier`
/// too. Only what is certain: `false` may still be a cover.
pub fn uri_covers(earlier: &StringMatch, later: &StringMatch) -> bool {
    use StringMatch::{Exact, Prefix, Regex};
    earlier == later
        || match (earlier, later) {
            (Prefix(p), Exact(e) | Prefix(e)) => e.starts_with(p.as_str()),
            // A prefix `e?…` is requests for the path `e`, with some query.
            (Exact(e), Prefix(p)) => p.starts_with(&format!("{e}?")),
            (Regex(r), Exact(e)) => full_match(r, e) == Some(true),
            _ => false,
        }
}

/// The conditions of one `match` block of the gateway's VirtualService:
/// all of them must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Match {
    /// Header conditions, sorted by header name (the rule's).
    pub headers: Box<[(CompactString, StringMatch)]>,
    /// URI condition.
    pub uri: Option<StringMatch>,
    /// Exact HTTP method (the rule's).
    pub method: Option<Box<str>>,
}

/// One HTTP route of the gateway's VirtualService.
#[derive(Debug, Clone, Serialize)]
pub struct HttpRoute<'a> {
    /// The gateway route (0-based) it comes from.
    pub route: usize,
    /// The destination service.
    pub service: &'a str,
    /// Its port.
    pub port: u16,
    /// The match blocks, ORed; empty: every request.
    pub matches: Vec<Match>,
    /// The service's rule it applies (subsets, weights, faults, timeout,
    /// retries, mirror); `None`: to the service without a subset.
    pub rule: Option<&'a Rule>,
    /// Where `rule` stands in its service's routing: its 0-based index and
    /// the number of rules (for explain; not in the templates' context).
    #[serde(skip)]
    pub place: Option<(usize, usize)>,
}

/// The HTTP routes of the gateway's VirtualService, in order, when
/// `routing_of` gives each service's routing in force. Without
/// `version_routing` (or for a service with no routing yet), each gateway
/// route sends its URIs to its service without a subset. With it, each rule
/// of the service's routing, in order, becomes a route whose match blocks
/// are the rule's conditions ANDed with each of the gateway route's URIs (a
/// rule none of whose URIs can hold is left out); requests no rule matches
/// go on to the next gateway route, as Istio reads one VirtualService.
pub fn http<'a>(
    gateway: &'a Gateway,
    routing_of: impl Fn(&str) -> Option<&'a ServiceRouting>,
) -> Vec<HttpRoute<'a>> {
    let mut out = Vec::new();
    for (index, route) in gateway.routes.iter().enumerate() {
        let routing = (gateway.version_routing)
            .then(|| routing_of(&route.service))
            .flatten()
            .filter(|r| !r.tcp);
        let Some(routing) = routing else {
            out.push(HttpRoute {
                route: index,
                service: &route.service,
                port: route.port,
                matches: (route.uris.iter())
                    .map(|uri| Match {
                        headers: Box::default(),
                        uri: Some(uri.clone()),
                        method: None,
                    })
                    .collect(),
                rule: None,
                place: None,
            });
            continue;
        };
        for (position, rule) in routing.rules.iter().enumerate() {
            let block = |uri: Option<StringMatch>| Match {
                headers: rule.headers.clone(),
                uri,
                method: rule.method.clone(),
            };
            let matches = if route.uris.is_empty() {
                if rule.is_catch_all() {
                    Vec::new()
                } else {
                    vec![block(rule.uri.as_deref().cloned())]
                }
            } else {
                let mut seen = HashSet::new();
                let combined = route.uris.iter().filter_map(|uri| match &rule.uri {
                    None => Some(uri.clone()),
                    // Validation refuses a rule whose URI cannot be said
                    // with one of the route's: `Inexpressible` is not met.
                    Some(own) => match uri_and(uri, own) {
                        UriAnd::Both(both) => Some(both),
                        UriAnd::Never | UriAnd::Inexpressible => None,
                    },
                });
                let blocks: Vec<Match> = combined
                    .filter(|uri| seen.insert(uri.clone()))
                    .map(|uri| block(Some(uri)))
                    .collect();
                if blocks.is_empty() {
                    continue;
                }
                blocks
            };
            out.push(HttpRoute {
                route: index,
                service: &route.service,
                port: route.port,
                matches,
                rule: Some(rule),
                place: Some((position, routing.rules.len())),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use StringMatch::{Exact, Prefix, Regex};

    fn s(text: &str) -> CompactString {
        text.into()
    }

    #[test]
    fn two_uri_matches_combine_into_the_narrower_or_none() {
        let cases = [
            (
                Prefix(s("/api")),
                Exact(s("/api/v1")),
                UriAnd::Both(Exact(s("/api/v1"))),
            ),
            (
                Prefix(s("/api")),
                Prefix(s("/api/v1")),
                UriAnd::Both(Prefix(s("/api/v1"))),
            ),
            (
                Prefix(s("/api/v1")),
                Prefix(s("/api")),
                UriAnd::Both(Prefix(s("/api/v1"))),
            ),
            (Prefix(s("/a")), Prefix(s("/b")), UriAnd::Never),
            (Exact(s("/a")), Exact(s("/b")), UriAnd::Never),
            (Exact(s("/a")), Prefix(s("/b")), UriAnd::Never),
            // Exact ignores the query string, a prefix does not.
            (
                Exact(s("/a")),
                Prefix(s("/a?x=")),
                UriAnd::Both(Prefix(s("/a?x="))),
            ),
            (
                Regex(s("/v[0-9]")),
                Exact(s("/v2")),
                UriAnd::Both(Exact(s("/v2"))),
            ),
            (Regex(s("/v[0-9]")), Exact(s("/v2/x")), UriAnd::Never),
            (Regex(s("/v.*")), Prefix(s("/v")), UriAnd::Inexpressible),
            (Regex(s("/a")), Regex(s("/b")), UriAnd::Inexpressible),
            (Regex(s("/a")), Regex(s("/a")), UriAnd::Both(Regex(s("/a")))),
        ];
        for (a, b, expected) in cases {
            assert_eq!(uri_and(&a, &b), expected, "{a} and {b}");
        }
    }

    #[test]
    fn only_certain_covers_are_reported() {
        let covered = [
            (Prefix(s("/")), Prefix(s("/api"))),
            (Prefix(s("/api")), Exact(s("/api/v1"))),
            (Exact(s("/a")), Exact(s("/a"))),
            (Exact(s("/a")), Prefix(s("/a?page="))),
            (Regex(s("/v[0-9]+")), Exact(s("/v12"))),
        ];
        for (earlier, later) in covered {
            assert!(uri_covers(&earlier, &later), "{earlier} covers {later}");
        }
        let not_covered = [
            (Prefix(s("/api")), Prefix(s("/"))),
            (Exact(s("/api")), Prefix(s("/api"))),
            // A prefix may match paths a regex does not; never claimed.
            (Prefix(s("/")), Regex(s("/.*"))),
            (Regex(s("/.*")), Prefix(s("/a"))),
            (Regex(s("/v[0-9]")), Exact(s("/v12"))),
        ];
        for (earlier, later) in not_covered {
            assert!(
                !uri_covers(&earlier, &later),
                "{earlier} does not cover {later}"
            );
        }
    }
}
