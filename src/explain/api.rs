//! Which API routes a hop, and where: the resource a service's routing in
//! force is (a VirtualService, or with `routing_api = "gateway-api"` an
//! HTTPRoute, unless the routing injects a fault), how that resource matches
//! a path and orders its rules, and the proxy that applies it (the ingress
//! gateway, the caller's sidecar, or in ambient mode the waypoint behind
//! ztunnel). Decides no outcome and formats nothing.
//!
//! An HTTPRoute differs from a VirtualService in two ways explain follows,
//! as Istio translates one into the other
//! (`pilot/pkg/config/kube/gateway/conversion.go`): a `PathPrefix` matches
//! whole path segments of the path without its query string (a trailing
//! `/` of the prefix is ignored), and Istio tries the rules not in their
//! order but by the Gateway API's precedence (`sortHTTPRoutes`, stable):
//! an `Exact` path before a `PathPrefix` before a `RegularExpression`, a
//! longer path value first, a rule with a method first, more header
//! conditions first. A rule without a path condition has the API's default
//! one, `PathPrefix /`.

use serde::Serialize;

use super::uri_matches;
use crate::model::{
    Dataplane, Gateway, Rule, Scenario, ServiceRouting, StringMatch, WAYPOINT_NAME,
};
use crate::routing;

/// The resource that routes a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Resource {
    /// An Istio VirtualService: rules in order, a `prefix` is a string prefix.
    VirtualService,
    /// A Gateway API HTTPRoute: rules by precedence, a `PathPrefix` matches
    /// whole path segments.
    #[serde(rename = "HTTPRoute")]
    HttpRoute,
}

impl Resource {
    /// `VirtualService` or `HTTPRoute`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VirtualService => "VirtualService",
            Self::HttpRoute => "HTTPRoute",
        }
    }

    /// The resource `scenario` routes the gateway's requests with.
    pub(super) fn of_gateway(scenario: &Scenario) -> Self {
        if scenario.gateway_api() {
            Self::HttpRoute
        } else {
            Self::VirtualService
        }
    }

    /// The resource `scenario` routes `routing` with: with the Gateway API,
    /// an HTTPRoute unless a rule injects a fault (which only a
    /// VirtualService can say).
    pub(super) fn of_routing(scenario: &Scenario, routing: &ServiceRouting) -> Self {
        if scenario.gateway_api() && !routing.injects_fault() {
            Self::HttpRoute
        } else {
            Self::VirtualService
        }
    }

    /// A URI condition in the resource's words: `uri prefix /api`, or
    /// `path PathPrefix /api`.
    pub(super) fn condition(self, m: &StringMatch) -> String {
        match self {
            Self::VirtualService => format!("uri {} {}", m.kind(), m.value()),
            Self::HttpRoute => format!("path {}", path_match(m)),
        }
    }

    /// A URI match as a list of alternatives shows it: `/api*`, or
    /// `PathPrefix /api`.
    pub(super) fn alternative(self, m: &StringMatch) -> String {
        match self {
            Self::VirtualService => m.to_string(),
            Self::HttpRoute => path_match(m),
        }
    }

    /// Whether the request's `uri` (its `:path`) satisfies the URI
    /// condition `m` of this resource. `Err` for a regex that cannot be
    /// matched here.
    pub(super) fn uri_matches(self, m: &StringMatch, uri: &str) -> Result<bool, String> {
        match (self, m) {
            (Self::HttpRoute, StringMatch::Prefix(prefix)) => {
                let path = uri.split_once('?').map_or(uri, |(path, _)| path);
                Ok(segment_prefix_matches(prefix, path))
            }
            _ => uri_matches(m, uri),
        }
    }
}

/// `Exact /x`, `PathPrefix /api`, `RegularExpression /v[0-9]+`.
fn path_match(m: &StringMatch) -> String {
    let kind = match m {
        StringMatch::Exact(_) => "Exact",
        StringMatch::Prefix(_) => "PathPrefix",
        StringMatch::Regex(_) => "RegularExpression",
    };
    format!("{kind} {}", m.value())
}

/// Whether an HTTPRoute `PathPrefix` of `prefix` matches `path` (without
/// its query string): the prefix's path segments are the path's first
/// ones, so `/static` matches `/static`, `/static/` and `/static/x`, not
/// `/staticfoo`; a trailing `/` of the prefix is ignored (`/api/` matches
/// `/api`); `/` matches every path. Envoy's `path_separated_prefix`, which
/// Istio configures for it.
pub fn segment_prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = match prefix.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => prefix,
    };
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// The order Istio tries an HTTPRoute's rules in (`routing::httproute_order`),
/// or `None` when it is the file order.
pub(super) fn precedence(rules: &[Rule]) -> Option<Order> {
    routing::httproute_order(rules).and_then(Order::new)
}

/// The order Istio tries the gateway HTTPRoute's matches in: one per URI of
/// each gateway route (one per route without URIs, `PathPrefix /`), as
/// `(route, uri)` positions (`None`: the route has no URI), stably sorted
/// by precedence.
pub(super) fn gateway_order(gateway: &Gateway) -> Vec<(usize, Option<usize>)> {
    let mut order: Vec<(usize, Option<usize>)> = (gateway.routes.iter().enumerate())
        .flat_map(|(r, route)| {
            let uris = (0..route.uris.len()).map(move |u| (r, Some(u)));
            let default = route.uris.is_empty().then_some((r, None));
            uris.chain(default)
        })
        .collect();
    order.sort_by_key(|&(r, u)| {
        let uri = u.and_then(|u| gateway.routes[r].uris.get(u));
        std::cmp::Reverse(routing::path_rank(uri))
    });
    order
}

/// An order of a routing's rules other than the file's: the positions in
/// the order they are tried, and each position's place in it.
#[derive(Debug, Clone)]
pub(super) struct Order {
    /// Rule positions, in the order they are tried.
    pub(super) tried: Vec<usize>,
    /// For each rule position, its place in `tried`.
    pub(super) place: Vec<usize>,
}

impl Order {
    /// `tried` as an order, or `None` when it is the file order.
    fn new(tried: Vec<usize>) -> Option<Self> {
        if tried.iter().enumerate().all(|(place, &i)| place == i) {
            return None;
        }
        let mut place = vec![0; tried.len()];
        for (at, &i) in tried.iter().enumerate() {
            place[i] = at;
        }
        Some(Self { tried, place })
    }
}

/// Who sends a hop's request, for the proxy that routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    /// The ingress gateway (the entering request).
    Gateway,
    /// A client inside the mesh (`--entry SERVICE`) or a service's version.
    Mesh,
}

/// The kind of proxy that routes a hop (L7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proxy {
    /// The ingress gateway's Envoy (Istio's ingress gateway, or the
    /// deployment Istio runs for a Gateway API Gateway).
    Gateway,
    /// The caller's sidecar.
    Sidecar,
    /// The namespace's waypoint (ambient mode).
    Waypoint,
}

/// Where a hop is enforced and by what, shown when the scenario leaves the
/// default mode (Istio's API with sidecars), whose output is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    /// The resource whose rules route the hop; `None` when none is in
    /// force (the Service spreads the requests).
    pub resource: Option<Resource>,
    /// Its name: the service's, or the gateway's route resource.
    pub name: String,
    /// The proxy that routes the hop (L7: matches, versions, faults,
    /// timeouts, retries, mirroring).
    pub proxy: Proxy,
    /// Its name: the gateway's, the caller whose sidecar it is
    /// (`productpage v1`, `client`), or the waypoint's.
    pub proxy_name: String,
    /// In ambient mode, what carries the request to the pod (L4, mTLS,
    /// HBONE): `ztunnel`.
    pub tunnel: Option<&'static str>,
}

impl Enforcement {
    /// Where a hop from `from` (`gateway <name>`, `client`, `<service>
    /// <version>`), sent by `caller`, is routed in `dataplane`.
    pub(super) fn at(
        caller: Caller,
        from: &str,
        dataplane: Dataplane,
        resource: Option<Resource>,
        name: String,
    ) -> Self {
        let ambient = dataplane == Dataplane::Ambient;
        let (proxy, proxy_name) = match caller {
            Caller::Gateway => (
                Proxy::Gateway,
                from.strip_prefix("gateway ").unwrap_or(from).to_owned(),
            ),
            Caller::Mesh if ambient => (Proxy::Waypoint, WAYPOINT_NAME.to_owned()),
            Caller::Mesh => (Proxy::Sidecar, from.to_owned()),
        };
        Self {
            resource,
            name,
            proxy,
            proxy_name,
            tunnel: ambient.then_some("ztunnel"),
        }
    }

    /// `routed by waypoint waypoint, carried by ztunnel`, `routed by
    /// productpage v1's sidecar`, `routed by gateway bookinfo-gateway`.
    pub(super) fn words(&self) -> String {
        let routed = match self.proxy {
            Proxy::Gateway => format!("gateway {}", self.proxy_name),
            Proxy::Sidecar => format!("{} sidecar", super::text::possessive(&self.proxy_name)),
            Proxy::Waypoint => format!("waypoint {}", self.proxy_name),
        };
        match self.tunnel {
            Some(tunnel) => format!("routed by {routed}, carried by {tunnel}"),
            None => format!("routed by {routed}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Destination;
    use compact_str::CompactString;

    #[test]
    fn a_path_prefix_matches_whole_segments() {
        let cases = [
            ("/static", "/static", true),
            ("/static", "/static/", true),
            ("/static", "/static/x", true),
            ("/static", "/staticfoo", false),
            ("/static", "/stat", false),
            ("/static", "/", false),
            ("/api/", "/api", true),
            ("/api/", "/api/x", true),
            ("/api/", "/apix", false),
            ("/", "/", true),
            ("/", "/anything/at/all", true),
            ("/a/b", "/a/b/c", true),
            ("/a/b", "/a/bc", false),
            ("/a/b", "/a", false),
            ("/API", "/api", false),
        ];
        for (prefix, path, expected) in cases {
            assert_eq!(
                segment_prefix_matches(prefix, path),
                expected,
                "{prefix} on {path}"
            );
        }
    }

    #[test]
    fn an_httproute_prefix_ignores_the_query_string_and_a_virtualservice_prefix_does_not() {
        let api = StringMatch::Prefix("/api".into());
        let route = Resource::HttpRoute;
        let vs = Resource::VirtualService;
        assert_eq!(route.uri_matches(&api, "/api?x=1"), Ok(true));
        assert_eq!(route.uri_matches(&api, "/apix?x=/"), Ok(false));
        assert_eq!(vs.uri_matches(&api, "/apix"), Ok(true));
        assert_eq!(route.uri_matches(&api, "/apix"), Ok(false));
        let exact = StringMatch::Exact("/api".into());
        assert_eq!(route.uri_matches(&exact, "/api?x=1"), Ok(true));
        assert_eq!(route.uri_matches(&exact, "/api/"), Ok(false));
    }

    fn rule(uri: Option<StringMatch>, method: bool, headers: usize) -> Rule {
        Rule {
            headers: (0..headers)
                .map(|i| (format!("h{i}").into(), StringMatch::Exact("x".into())))
                .collect(),
            uri: uri.map(Box::new),
            method: method.then(|| "GET".into()),
            destinations: Box::new([Destination {
                version: "v1".into(),
                weight: None,
            }]),
            delay: None,
            abort: None,
            timeout: None,
            retries: None,
            mirror: None,
        }
    }

    #[test]
    fn httproute_rules_are_tried_by_precedence_and_ties_keep_their_order() {
        use StringMatch::{Exact, Prefix, Regex};
        let s = |t: &str| CompactString::from(t);
        let rules = [
            rule(None, false, 0),                          // 0: PathPrefix /, catch-all
            rule(Some(Regex(s("/v[0-9]+/.*"))), false, 0), // 1: regex, last of the paths
            rule(Some(Prefix(s("/api/"))), false, 0),      // 2: PathPrefix /api (4)
            rule(Some(Prefix(s("/api"))), true, 0),        // 3: /api (4) with a method
            rule(Some(Exact(s("/"))), false, 0),           // 4: Exact beats every prefix
            rule(None, false, 2),                          // 5: two headers
            rule(None, false, 1),                          // 6: one header
            rule(None, false, 1),                          // 7: a tie with 6
        ];
        let order = precedence(&rules).expect("not the file order");
        assert_eq!(order.tried, [4, 3, 2, 5, 6, 7, 0, 1]);
        for (at, &i) in order.tried.iter().enumerate() {
            assert_eq!(order.place[i], at);
        }
        let in_order = [rule(None, false, 1), rule(None, false, 0)];
        assert!(
            precedence(&in_order).is_none(),
            "headers first is the file order"
        );
    }

    #[test]
    fn sidecar_waypoint_and_gateway_hops_name_their_proxy() {
        let hop = |caller, from, dataplane| {
            Enforcement::at(caller, from, dataplane, None, "x".to_owned()).words()
        };
        assert_eq!(
            hop(Caller::Mesh, "productpage v1", Dataplane::Sidecar),
            "routed by productpage v1's sidecar"
        );
        assert_eq!(
            hop(Caller::Mesh, "productpage v1", Dataplane::Ambient),
            "routed by waypoint waypoint, carried by ztunnel"
        );
        assert_eq!(
            hop(Caller::Gateway, "gateway gw", Dataplane::Ambient),
            "routed by gateway gw, carried by ztunnel"
        );
        assert_eq!(
            hop(Caller::Gateway, "gateway gw", Dataplane::Sidecar),
            "routed by gateway gw"
        );
    }
}
