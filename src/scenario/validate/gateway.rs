//! Validation of the ingress gateway: its hosts, TLS, routes and the
//! routes an earlier one surely takes; URI and header matches (regexes
//! read by RE2's grammar) for the gateway and the steps alike.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use crate::model::{
    Gateway, GatewayRoute, GatewayTls, HTTPS_PORT, Install, Mesh, Protocol, Rule, Step, StringMatch,
};
use crate::scenario::names::{is_label_key, is_label_value, is_wildcard_host};
use crate::scenario::raw::{RawGateway, RawGatewayTls, RawMatch};

use super::*;

/// What the reachability check of gateway routes needs of one
/// `[[gateway.routes]]` entry.
pub(super) struct RouteCheck {
    /// The entry.
    pub(super) span: Range<usize>,
    /// No `uris` key: the route takes every request.
    pub(super) catch_all: bool,
    /// Its URI matches that are valid.
    pub(super) uris: Vec<StringMatch>,
    /// Whether every URI match is valid (an invalid one may match more).
    pub(super) complete: bool,
    /// Its position among the model's routes; `None` when its service is in error.
    pub(super) model: Option<usize>,
}

/// What the gateway routes checked so far take for sure, by value: the
/// first route (its index among the checks) to take each exact path,
/// prefix and regex.
struct Taken<'a> {
    exact: HashMap<&'a str, usize>,
    prefixes: HashMap<&'a str, usize>,
    regexes: HashMap<&'a str, usize>,
    /// Every regex of a route that takes its requests, compiled as one set
    /// of full matches, with the route of each.
    regex_set: Option<(&'a regex::RegexSet, &'a [(&'a str, usize)])>,
}

impl Taken<'_> {
    /// The first route before `before` that surely takes every request
    /// `uri` matches (what `ingress::uri_covers` says, found by value: the
    /// prefixes of a path looked up one by one, an exact path matched
    /// against every regex at once).
    fn by(&self, uri: &StringMatch, before: usize) -> Option<usize> {
        let by_prefix = |value: &str| {
            (0..=value.len())
                .filter(|&i| value.is_char_boundary(i))
                .filter_map(|i| self.prefixes.get(&value[..i]).copied())
                .min()
        };
        let found = match uri {
            StringMatch::Exact(v) => {
                let by_regex = self.regex_set.and_then(|(set, routes)| {
                    (set.matches(v).iter())
                        .map(|i| routes[i].1)
                        .filter(|&r| r < before)
                        .min()
                });
                [self.exact.get(v.as_str()).copied(), by_prefix(v), by_regex]
            }
            StringMatch::Prefix(v) => {
                // `e?…` takes only requests for the path `e`.
                let by_exact = (v.split_once('?')).and_then(|(e, _)| self.exact.get(e).copied());
                [by_prefix(v), by_exact, None]
            }
            StringMatch::Regex(v) => [self.regexes.get(v.as_str()).copied(), None, None],
        };
        found.into_iter().flatten().min()
    }
}

impl Checker<'_> {
    /// The gateway, and what the check of its routes' reachability needs of
    /// each `[[gateway.routes]]` entry (done once the steps are known).
    pub(super) fn gateway(
        &mut self,
        raw: &Spanned<RawGateway>,
        scenario: &str,
        mesh: Option<&Mesh>,
        services: &[ServiceInfo],
    ) -> Option<(Gateway, Vec<RouteCheck>)> {
        let span = raw.span();
        let gw = raw.get_ref();
        let name = match &gw.name {
            Some(n) => self.subdomain(n, "gateway name").map(String::from),
            None => Some(format!("{scenario}-gateway")),
        };
        // In ambient mode the waypoint is a Gateway API Gateway of its own.
        if let (true, true, Some(raw_name)) = (self.ambient, self.gateway_api(), &gw.name)
            && raw_name.get_ref() == WAYPOINT_NAME
        {
            self.error(
                raw_name.span(),
                format!(
                    "gateway `{WAYPOINT_NAME}` would be the waypoint's name, a Gateway of the \
                     namespace in ambient mode: name the ingress gateway otherwise"
                ),
            );
        }
        let virtual_service = match &gw.virtual_service {
            Some(v) => self
                .subdomain(v, "gateway.virtual_service")
                .map(String::from),
            None => Some(scenario.to_owned()),
        };
        if let Some(vs) = &virtual_service
            && services.iter().any(|s| s.service.name == vs)
        {
            let at = gw
                .virtual_service
                .as_ref()
                .map_or(span.clone(), Spanned::span);
            self.error(
                at,
                format!(
                    "the gateway's VirtualService would be named `{vs}`, like the \
                     VirtualService of service `{vs}`: set gateway.virtual_service to another name"
                ),
            );
        }
        let mut selector = Vec::new();
        match &gw.selector {
            Some(raw_selector) => {
                for (key, value) in &raw_selector.get_ref().0 {
                    if !is_label_key(key.get_ref()) {
                        self.error(
                            key.span(),
                            format!("`{}` is not a valid Kubernetes label key", key.get_ref()),
                        );
                    } else if !is_label_value(value.get_ref()) {
                        self.error(
                            value.span(),
                            format!(
                                "`{}` is not a valid Kubernetes label value",
                                value.get_ref()
                            ),
                        );
                    } else {
                        selector.push((key.get_ref().to_string(), value.get_ref().to_string()));
                    }
                }
                selector.sort();
            }
            None => {
                selector.push(("istio".to_owned(), "ingressgateway".to_owned()));
                // With the Gateway API, Istio deploys the gateway itself.
                if let (Some(name), Some(mesh), false) = (&name, mesh, self.gateway_api()) {
                    self.gateway_without_pods(&span, name, mesh);
                }
            }
        }
        // Without a valid mesh (already an error) the gateway is still
        // checked, with a stand-in port default.
        let port = match &gw.port {
            Some(p) => self
                .int_in(p, 1, 65535, "gateway port")
                .and_then(|p| u16::try_from(p).ok()),
            // Istio deploys a Gateway API gateway with a Service on the
            // listener's port: 80 serves plain HTTP as a browser expects.
            None if self.gateway_api() => Some(80),
            // The gateway chart's pods listen on its Service's ports (80
            // and 443), not on the IstioOperator gateway's 8080.
            None if mesh.is_some_and(|m| m.install == Install::Helm) => Some(80),
            None => Some(mesh.map_or(80, |m| m.facts.gateway_port)),
        };
        if self.gateway_api() {
            self.gateway_api_gateway(gw);
        }
        let hosts = match &gw.hosts {
            Some(raw_hosts) => {
                if raw_hosts.get_ref().is_empty() {
                    self.error(
                        raw_hosts.span(),
                        "gateway.hosts must name at least one host",
                    );
                }
                raw_hosts
                    .get_ref()
                    .iter()
                    .filter_map(|h| self.gateway_host(h))
                    .collect()
            }
            None => vec!["*".to_owned()],
        };
        let tls = match &gw.tls {
            Some(t) => self.gateway_tls(t, gw.port.as_ref(), port),
            None => Some(None),
        };
        // With the Gateway API, the HTTPRoute that redirects to HTTPS is
        // named after the gateway's: no service's HTTPRoute may share it.
        if let (true, Some(vs), Some(redirect)) = (
            self.gateway_api(),
            &virtual_service,
            (gw.tls.as_ref()).and_then(|t| t.get_ref().redirect_http.as_ref()),
        ) && *redirect.get_ref()
        {
            let name = crate::model::redirect_route(vs);
            if services.iter().any(|s| s.service.name == name) {
                self.error(
                    redirect.span(),
                    format!(
                        "with the Gateway API the HTTPRoute that redirects to HTTPS is named \
                         `{name}`, like the HTTPRoute of service `{name}`: set \
                         gateway.virtual_service to another name"
                    ),
                );
            }
        }
        let (routes, checks) = self.gateway_routes(gw, &span, services);
        // A value in error (reported) is replaced by a stand-in, so that the
        // steps are still checked against the gateway; the scenario then has
        // no model, so the stand-in is never rendered.
        let gateway = Gateway {
            name: name.unwrap_or_else(|| format!("{scenario}-gateway")),
            virtual_service: virtual_service.unwrap_or_else(|| scenario.to_owned()),
            selector,
            port: port.unwrap_or(STAND_IN_PORT),
            hosts,
            routes,
            custom_selector: gw.selector.is_some(),
            version_routing: gw.version_routing.as_ref().is_some_and(|v| *v.get_ref()),
            tls: tls.flatten(),
        };
        Some((gateway, checks))
    }

    /// Warns when the gateway's default selector (Istio's ingress gateway)
    /// selects no pod of the install meshgen emits: the profile installs no
    /// ingress gateway, or `mesh.components.ingress_gateway = false`. A
    /// custom selector is the user's own gateway, installed elsewhere.
    fn gateway_without_pods(&mut self, span: &Range<usize>, name: &str, mesh: &Mesh) {
        let why = match mesh.ingress_gateway {
            Some(true) => return,
            Some(false) => "mesh.components.ingress_gateway = false leaves Istio's ingress \
                            gateway out of the install"
                .to_owned(),
            // The Helm install's ingress gateway is a chart of its own,
            // whatever the profile.
            None if mesh.install == Install::Helm => return,
            None if mesh.facts.without_ingress_gateway(&mesh.profile) => format!(
                "the `{}` profile of Istio {}.{} installs no ingress gateway",
                mesh.profile, mesh.release.major, mesh.release.minor
            ),
            None => return,
        };
        self.warning(
            span.clone(),
            format!(
                "gateway `{name}` selects the pods labelled istio: ingressgateway (the default \
                 selector), and {why}: no pod serves the gateway. Set \
                 mesh.components.ingress_gateway = true, or give the `selector` of a gateway \
                 you install yourself"
            ),
        );
    }

    /// `[gateway] tls`: the HTTPS server's Secret, and the plain port it
    /// leaves: with `redirect_http` the HTTP server must not take 443 too;
    /// without it the gateway has no HTTP server, and a `port` goes unused.
    /// `None` on error, `Some(None)` never (the caller has a `tls` table).
    fn gateway_tls(
        &mut self,
        raw: &Spanned<RawGatewayTls>,
        raw_port: Option<&Spanned<i64>>,
        port: Option<u16>,
    ) -> Option<Option<GatewayTls>> {
        let tls = raw.get_ref();
        let redirect_http = tls.redirect_http.as_ref().is_some_and(|r| *r.get_ref());
        // A missing credential_name is the schema's to report.
        let credential_name = tls
            .credential_name
            .as_ref()
            .and_then(|c| self.subdomain(c, "tls.credential_name (a Secret's name)"));
        match raw_port {
            Some(p) if redirect_http && port == Some(HTTPS_PORT) => {
                self.error(
                    p.span(),
                    format!(
                        "gateway port {HTTPS_PORT} is the HTTPS server's: the plain HTTP server \
                         that redirects (redirect_http) needs another port"
                    ),
                );
                return None;
            }
            Some(p) if !redirect_http => self.warning(
                p.span(),
                "`port` is the plain HTTP server's, and with tls and no redirect_http the \
                 gateway serves HTTPS on 443 only: the port is unused (set redirect_http = true \
                 to redirect it to HTTPS, or remove it)",
            ),
            _ => {}
        }
        Some(Some(GatewayTls {
            credential_name: credential_name?.into(),
            redirect_http,
        }))
    }

    /// A gateway host, also a host of the gateway's VirtualService: `*`, a DNS
    /// name, or a wildcard `*.example.com` (no `namespace/` prefix: a
    /// VirtualService host cannot carry one).
    fn gateway_host(&mut self, host: &Spanned<CompactString>) -> Option<String> {
        if is_wildcard_host(host.get_ref()) {
            Some(host.get_ref().to_string())
        } else {
            self.error(
                host.span(),
                format!(
                    "gateway host `{}` is not a host name: use `*`, a DNS name such as \
                     bookinfo.example.com, or a wildcard such as *.example.com",
                    host.get_ref()
                ),
            );
            None
        }
    }

    /// The gateway's routes, and for every entry with a `service` what the
    /// reachability check needs.
    fn gateway_routes(
        &mut self,
        gw: &RawGateway,
        span: &Range<usize>,
        services: &[ServiceInfo],
    ) -> (Vec<GatewayRoute>, Vec<RouteCheck>) {
        let Some(raw_routes) = &gw.routes else {
            self.error(
                span.clone(),
                "the gateway needs at least one [[gateway.routes]] entry",
            );
            return (Vec::new(), Vec::new());
        };
        let positions: HashMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.service.name.as_str(), i))
            .collect();
        let mut routes = Vec::new();
        let mut checks = Vec::new();
        for spanned in raw_routes.get_ref() {
            let route = spanned.get_ref();
            let Some(service) = self.required(
                &route.service,
                "service",
                "[[gateway.routes]]",
                &spanned.span(),
            ) else {
                continue;
            };
            let raw_uris = route.uris.as_ref().map_or(&[][..], |u| u.get_ref());
            let uris: Vec<StringMatch> = raw_uris
                .iter()
                .filter_map(|m| self.string_match(m.get_ref(), m.span(), "uri"))
                .collect();
            let mut check = RouteCheck {
                span: spanned.span(),
                // Empty `uris` are a shape error, not a catch-all.
                catch_all: route.uris.is_none(),
                complete: uris.len() == raw_uris.len(),
                uris: uris.clone(),
                model: None,
            };
            let Some(info) = positions
                .get(service.get_ref().as_str())
                .and_then(|&i| services.get(i))
            else {
                self.undeclared(service, "gateway route to");
                checks.push(check);
                continue;
            };
            if info.service.protocol == Protocol::Tcp {
                self.error(
                    service.span(),
                    format!(
                        "gateway route to `{}`, whose protocol is tcp: the gateway routes HTTP",
                        service.get_ref()
                    ),
                );
            }
            if info.service.versions.iter().all(|v| !v.deploy) {
                self.warning(
                    service.span(),
                    format!(
                        "the gateway sends traffic to `{}`, which has no deployed version: \
                         unless its workloads run elsewhere, requests get 503 no healthy upstream",
                        service.get_ref()
                    ),
                );
            }
            check.model = Some(routes.len());
            checks.push(check);
            routes.push(GatewayRoute {
                service: info.service.name.clone(),
                port: info.service.port,
                uris,
            });
        }
        (routes, checks)
    }

    /// `the route on line N` or `the routes on lines N, M`: the gateway
    /// routes `takers` (indices among `checks`, sorted here, each once).
    fn routes_on_lines(&self, checks: &[RouteCheck], takers: &mut Vec<usize>) -> String {
        takers.sort_unstable();
        takers.dedup();
        let lines: Vec<String> = (takers.iter())
            .map(|&i| self.line(&checks[i].span).to_string())
            .collect();
        match lines.as_slice() {
            [one] => format!("the route on line {one}"),
            more => format!("the routes on lines {}", more.join(", ")),
        }
    }

    /// With the Gateway API, an error at every gateway route whose every
    /// path match an earlier route already has: Istio tries the gateway
    /// HTTPRoute's matches by precedence (a longer or exact path first), so
    /// only an identical match, which keeps the earlier route's place, takes
    /// all of a later one's requests. A route without `uris` matches
    /// `PathPrefix /`.
    fn unreachable_httproute_matches(&mut self, checks: &[RouteCheck]) {
        let every = [StringMatch::Prefix(CompactString::const_new("/"))];
        let mut first: HashMap<&StringMatch, usize> = HashMap::new();
        for (index, check) in checks.iter().enumerate() {
            let uris: &[StringMatch] = if check.catch_all { &every } else { &check.uris };
            if check.complete && !uris.is_empty() {
                let mut takers: Vec<usize> =
                    uris.iter().filter_map(|u| first.get(u).copied()).collect();
                if takers.len() == uris.len() {
                    let by = self.routes_on_lines(checks, &mut takers);
                    self.error(
                        check.span.clone(),
                        format!(
                            "this gateway route can never match: each of its paths is one of \
                             {by}, which the HTTPRoute tries first"
                        ),
                    );
                }
            }
            for uri in uris {
                first.entry(uri).or_insert(index);
            }
        }
    }

    /// An error at every gateway route that can never match: an earlier
    /// route takes every request of each of its URIs (or of every URI, for
    /// one without `uris`). Only what is certain is reported (see
    /// `ingress::uri_covers`). An earlier route takes all its URIs' requests
    /// unless, with `version_routing`, some step's rules for its service do
    /// not end with a catch-all: the requests none matches go on to later
    /// routes then.
    pub(super) fn unreachable_gateway_routes(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        steps: &[Step],
    ) {
        if self.gateway_api() {
            self.unreachable_httproute_matches(checks);
            return;
        }
        let mut falls_through: HashSet<&str> = HashSet::new();
        if gateway.version_routing {
            for routing in steps.iter().flat_map(|s| &s.routes) {
                if !routing.rules.last().is_some_and(Rule::is_catch_all) {
                    falls_through.insert(routing.service.as_str());
                }
            }
        }
        let takes_all = |check: &RouteCheck| {
            check
                .model
                .and_then(|i| gateway.routes.get(i))
                .is_some_and(|r| !falls_through.contains(r.service.as_str()))
        };
        // Every regex of a route that takes all its URIs' requests, once in
        // one set: an exact path is matched against all of them at once.
        // Each is read as RE2 reads it; one RE2 refuses is reported at its
        // value and takes nothing here.
        let regexes: Vec<(&str, usize, String)> = (checks.iter().enumerate())
            .filter(|(_, c)| takes_all(c))
            .flat_map(|(i, c)| c.uris.iter().map(move |u| (u, i)))
            .filter_map(|(u, i)| match u {
                StringMatch::Regex(r) => {
                    let whole = crate::re2::whole_value(r).ok()?;
                    Some((r.as_str(), i, whole))
                }
                _ => None,
            })
            .collect();
        let regex_set = regex::RegexSet::new(regexes.iter().map(|(_, _, whole)| whole))
            .ok()
            .filter(|_| !regexes.is_empty());
        let regexes: Vec<(&str, usize)> = regexes.iter().map(|&(r, i, _)| (r, i)).collect();
        let mut taken = Taken {
            exact: HashMap::new(),
            prefixes: HashMap::new(),
            regexes: HashMap::new(),
            regex_set: regex_set.as_ref().map(|set| (set, regexes.as_slice())),
        };
        let mut catch_all: Option<&Range<usize>> = None;
        for (index, check) in checks.iter().enumerate() {
            if let Some(earlier) = catch_all {
                self.error(
                    check.span.clone(),
                    format!(
                        "this gateway route can never match: the route on line {} has no uris \
                         and catches every request",
                        self.line(earlier)
                    ),
                );
                continue;
            }
            if check.complete && !check.catch_all && !check.uris.is_empty() {
                let takers: Option<Vec<usize>> = (check.uris.iter())
                    .map(|uri| taken.by(uri, index))
                    .collect();
                if let Some(mut takers) = takers {
                    let by = self.routes_on_lines(checks, &mut takers);
                    self.error(
                        check.span.clone(),
                        format!(
                            "this gateway route can never match: every request its uris match \
                             is taken first by {by}"
                        ),
                    );
                    continue;
                }
            }
            if !takes_all(check) {
                continue;
            }
            if check.catch_all {
                catch_all = Some(&check.span);
                continue;
            }
            for uri in &check.uris {
                let map = match uri {
                    StringMatch::Exact(_) => &mut taken.exact,
                    StringMatch::Prefix(_) => &mut taken.prefixes,
                    StringMatch::Regex(_) => &mut taken.regexes,
                };
                map.entry(uri.value()).or_insert(index);
            }
        }
    }

    /// `{ exact | prefix | regex = "..." }` with exactly one key.
    pub(super) fn string_match(
        &mut self,
        m: &RawMatch,
        span: Range<usize>,
        what: &str,
    ) -> Option<StringMatch> {
        let given: Vec<StringMatch> = [
            m.exact
                .as_ref()
                .map(|v| StringMatch::Exact(v.get_ref().clone())),
            m.prefix
                .as_ref()
                .map(|v| StringMatch::Prefix(v.get_ref().clone())),
            m.regex
                .as_ref()
                .map(|v| StringMatch::Regex(v.get_ref().clone())),
        ]
        .into_iter()
        .flatten()
        .collect();
        match <[StringMatch; 1]>::try_from(given) {
            Ok([StringMatch::Regex(pattern)]) => {
                let at = m.regex.as_ref().map_or(span, Spanned::span);
                self.regex(&pattern, at, what)?;
                Some(StringMatch::Regex(pattern))
            }
            Ok([one]) => Some(one),
            Err(_) => {
                self.error(
                    span,
                    format!("a {what} match needs exactly one of exact, prefix or regex"),
                );
                None
            }
        }
    }

    /// A `regex` match: Envoy compiles it with RE2 (a `safe_regex`) and
    /// Istio's own check with Go's `regexp`; Istio refuses an empty one.
    /// Read by RE2's rules (crate::re2), not the `regex` crate's.
    fn regex(&mut self, pattern: &str, span: Range<usize>, what: &str) -> Option<()> {
        if pattern.is_empty() {
            self.error(span, format!("the {what} regex must not be empty"));
            return None;
        }
        match crate::re2::translate(pattern) {
            Ok(_) => Some(()),
            Err(refusal) => {
                self.error(span, format!("the {what} regex `{pattern}` is {refusal}"));
                None
            }
        }
    }
}
