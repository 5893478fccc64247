//! Validation of the steps: names, rules, destinations, faults, retries,
//! mirrors, and the warnings a valid step may still deserve (IST0140,
//! versions without pods).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::model::{
    Abort, Delay, Destination, Gateway, Mirror, Protocol, Retries, Rule, Service, ServiceRouting,
    Step, StringMatch, VersionRef,
};
use crate::scenario::names::is_header_name;
use crate::scenario::portable;
use crate::scenario::raw::{RawHeaderMatch, RawRule, RawStep, RawTarget, RawVersionRef};

use super::gateway::RouteCheck;
use super::*;

impl Checker<'_> {
    /// Every step, checked against the services and the gateway's routes,
    /// with unique names.
    pub(super) fn steps(
        &mut self,
        raw: Spanned<Vec<Spanned<RawStep>>>,
        services: &[ServiceInfo],
        gateway: Option<(&Gateway, &[RouteCheck])>,
    ) -> Vec<Step> {
        self.unique(
            raw.get_ref()
                .iter()
                .filter_map(|s| s.get_ref().name.as_ref()),
            "step",
        );
        let positions: HashMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.service.name.as_str(), i))
            .collect();
        // The services the gateway sends traffic to.
        let exposed: HashSet<&str> = gateway
            .iter()
            .flat_map(|(gw, _)| &gw.routes)
            .map(|r| r.service.as_str())
            .collect();
        let mut lists = RuleLists::default();
        raw.into_inner()
            .into_iter()
            .filter_map(|s| self.step(s, services, &positions, gateway, &exposed, &mut lists))
            .collect()
    }

    fn step(
        &mut self,
        raw: Spanned<RawStep>,
        services: &[ServiceInfo],
        positions: &HashMap<&str, usize>,
        gateway: Option<(&Gateway, &[RouteCheck])>,
        exposed: &HashSet<&str>,
        lists: &mut RuleLists,
    ) -> Option<Step> {
        let checks = gateway.map_or(&[][..], |(_, c)| c);
        let gateway = gateway.map(|(g, _)| g);
        let span = raw.span();
        let mut step = raw.into_inner();
        let name = self
            .required(&step.name, "name", "[[steps]]", &span)
            .and_then(|n| self.label(n, "step name"));
        // A step that launches or retires versions may route nothing.
        // Owned, so that each rule is let go once it is built.
        let rules: Vec<Spanned<RawRule>> = match step.routes.take() {
            None if step.launch.is_some() || step.retire.is_some() => Vec::new(),
            routes => {
                let listed = self.required(&routes, "routes", "[[steps]]", &span)?;
                if listed.get_ref().is_empty() {
                    self.error(listed.span(), "a step needs at least one route");
                }
                routes.map_or_else(Vec::new, Spanned::into_inner)
            }
        };
        // Rules per service, in file order; the span of the first catch-all.
        let mut per_service: BTreeMap<usize, (Vec<Rule>, Option<Range<usize>>)> = BTreeMap::new();
        // The `service` of the first rule for each service the gateway routes
        // by version: where a fall-through is reported.
        let mut first_at: HashMap<usize, Range<usize>> = HashMap::new();
        // Per service, each rule's `to` and its destinations with their spans.
        let mut sent: BTreeMap<usize, Vec<Sent>> = BTreeMap::new();
        // With the Gateway API, the `service` of each service's first rule:
        // where what its HTTPRoute cannot hold is reported.
        let mut first_rule: HashMap<usize, Range<usize>> = HashMap::new();
        for spanned in rules {
            let rule = spanned.get_ref();
            let Some(service) = self.required(
                &rule.service,
                "service",
                "[[steps.routes]]",
                &spanned.span(),
            ) else {
                continue;
            };
            let targets: Vec<usize> = if service.get_ref() == "*" {
                (0..services.len()).collect()
            } else if let Some(&i) = positions.get(service.get_ref().as_str()) {
                vec![i]
            } else {
                self.undeclared(service, "route for");
                continue;
            };
            let to = self.required(&rule.to, "to", "[[steps.routes]]", &spanned.span());
            if self.gateway_api() {
                self.gateway_api_rule(rule);
                for &index in &targets {
                    first_rule.entry(index).or_insert_with(|| service.span());
                }
            }
            for index in targets {
                let target = &services[index].service;
                let built = self.rule(rule, to, target);
                // Room for one rule at first: most services have one or two
                // (a Vec grows to four at its first push).
                let (list, catch_all) = per_service
                    .entry(index)
                    .or_insert_with(|| (Vec::with_capacity(1), None));
                if let Some(earlier) = catch_all {
                    self.error(
                        spanned.span(),
                        format!(
                            "this rule for `{}` can never match: an earlier rule of the step \
                             (line {}) has no match condition and catches every request",
                            target.name,
                            self.line(earlier)
                        ),
                    );
                }
                // Empty `headers` are a shape error, not a catch-all.
                let matches_everything = rule.headers.is_none()
                    && rule.more().uri.is_none()
                    && rule.more().method.is_none();
                if matches_everything {
                    catch_all.get_or_insert(spanned.span());
                }
                let Some(built) = built else {
                    continue;
                };
                if let Some(gw) = gateway.filter(|g| g.version_routing)
                    && exposed.contains(target.name.as_str())
                {
                    first_at.entry(index).or_insert_with(|| service.span());
                    if let (Some(uri), Some(raw_uri)) = (&built.uri, &rule.more().uri) {
                        self.gateway_uri_combines(gw, checks, &target.name, uri, raw_uri.span());
                    }
                }
                // Only a service with a version without pods can be warned
                // about (`without_pods`): for the others nothing is kept.
                if let Some(to) = to
                    && target.versions.iter().any(|v| !v.deploy)
                {
                    (sent.entry(index))
                        .or_insert_with(|| Vec::with_capacity(1))
                        .push(Sent::of(to, &built));
                }
                // Ingress traffic reaches every deployed version of a service
                // the gateway exposes; with one deployed version, no matter.
                if let Some(gw) = gateway
                    && !gw.version_routing
                    && list.is_empty()
                    && exposed.contains(target.name.as_str())
                    && target.versions.iter().filter(|v| v.deploy).count() > 1
                {
                    let message = if self.gateway_api() {
                        format!(
                            "step routes `{0}` by version, but traffic entering through gateway \
                             `{1}` goes to the Service `{0}`, any version: the HTTPRoute of \
                             `{0}` routes traffic inside the mesh only",
                            target.name, gw.name
                        )
                    } else {
                        format!(
                            "step routes `{0}` by version, but traffic entering through gateway \
                             `{1}` goes to `{0}` without a subset and ignores this routing \
                             (Istio IST0140)",
                            target.name, gw.name
                        )
                    };
                    self.warning(service.span(), message);
                }
                list.push(built);
            }
        }
        if let Some(gw) = gateway {
            for (index, (rules, _)) in &per_service {
                if let Some(at) = first_at.get(index)
                    && !rules.last().is_some_and(Rule::is_catch_all)
                {
                    self.gateway_fall_through(gw, checks, &services[*index].service.name, at);
                }
            }
        }
        for (index, rules) in &sent {
            self.without_pods(&services[*index].service, rules);
        }
        let routes: Vec<ServiceRouting> = per_service
            .into_iter()
            .map(|(index, (rules, _))| ServiceRouting {
                service: services[index].service.name.clone(),
                tcp: services[index].service.protocol == Protocol::Tcp,
                rules: lists.share(rules),
            })
            .collect();
        for routing in &routes {
            if let Some(&index) = positions.get(routing.service.as_str())
                && let Some(at) = first_rule.remove(&index)
            {
                self.gateway_api_routing(&services[index].service, routing, at);
            }
        }
        Some(Step {
            name: name?.into(),
            description: step.description.as_ref().map(|d| d.get_ref().to_string()),
            routes,
            launch: version_refs(&step.launch),
            retire: version_refs(&step.retire),
        })
    }

    /// With `version_routing`, a rule's `uri` is ANDed with each URI of the
    /// gateway's routes to its service into one match: an error where Istio
    /// has none for both (see `ingress::uri_and`).
    fn gateway_uri_combines(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        service: &str,
        uri: &StringMatch,
        at: Range<usize>,
    ) {
        let routes = (gateway.routes.iter().enumerate()).filter(|(_, r)| r.service == service);
        for (i, route) in routes {
            let clash = (route.uris.iter())
                .find(|u| crate::ingress::uri_and(u, uri) == crate::ingress::UriAnd::Inexpressible);
            if let Some(other) = clash {
                let route = (checks.iter().find(|c| c.model == Some(i)))
                    .map_or("a gateway route".to_owned(), |c| {
                        format!("the gateway route on line {}", self.line(&c.span))
                    });
                self.error(
                    at,
                    format!(
                        "with gateway.version_routing, this rule's uri ({} {}) is ANDed with \
                         each uri of the gateway's routes to `{service}`, and Istio has no one \
                         uri match for it and {} {} ({route}): make one of them an exact path, \
                         or a prefix of the other",
                        uri.kind(),
                        uri.value(),
                        other.kind(),
                        other.value()
                    ),
                );
                return;
            }
        }
    }

    /// With `version_routing`, requests through the gateway that no rule of
    /// a step for `service` matches go on to the gateway's later routes (one
    /// VirtualService, first match wins), while inside the mesh they get 404:
    /// a warning, when a later route to another service may take them.
    fn gateway_fall_through(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        service: &str,
        at: &Range<usize>,
    ) {
        let Some(first) = gateway.routes.iter().position(|r| r.service == service) else {
            return;
        };
        let Some(later) = (gateway.routes.iter().enumerate())
            .skip(first + 1)
            .find(|(_, r)| r.service != service)
        else {
            return;
        };
        let line = (checks.iter().find(|c| c.model == Some(later.0)))
            .map_or(String::new(), |c| format!(" (line {})", self.line(&c.span)));
        self.warning(
            at.clone(),
            format!(
                "with gateway.version_routing, requests entering through gateway `{}` that no \
                 rule of this step for `{service}` matches go on to the gateway's next routes, \
                 e.g. to `{}`{line}, where inside the mesh they get 404: end the step's rules \
                 for `{service}` with one without a match condition",
                gateway.name, later.1.service
            ),
        );
    }

    /// Builds one rule for one target service (a `*` rule is built once per service).
    fn rule(
        &mut self,
        raw: &RawRule,
        to: Option<&Spanned<RawTarget>>,
        service: &Service,
    ) -> Option<Rule> {
        let mut ok = true;
        if service.protocol == Protocol::Tcp {
            ok &= self.tcp_rule(raw, service);
        }
        let mut headers: Vec<(CompactString, StringMatch)> = Vec::new();
        if let Some(raw_headers) = &raw.headers {
            for (name, value) in &raw_headers.get_ref().0 {
                if !is_header_name(name.get_ref()) {
                    ok = false;
                    self.error(
                        name.span(),
                        format!(
                            "header name `{}` must be non-empty, lowercase and contain no \
                             spaces (Istio matches lowercase header names)",
                            name.get_ref()
                        ),
                    );
                    continue;
                }
                if let Some(warning) = portable::long_key(name.get_ref(), name.span()) {
                    self.diagnostics.push(warning);
                }
                let matched = match value.get_ref() {
                    RawHeaderMatch::Exact(v) => Some(StringMatch::Exact(v.clone())),
                    RawHeaderMatch::Table(table) => {
                        self.string_match(table, value.span(), "header")
                    }
                };
                match matched {
                    Some(m) => headers.push((name.get_ref().clone(), m)),
                    None => ok = false,
                }
            }
            headers.sort_by(|a, b| a.0.cmp(&b.0));
            // A Vec grows to four entries at its first push; most rules match one header.
            headers.shrink_to_fit();
        }
        let uri = match &raw.more().uri {
            Some(u) => {
                let m = self.string_match(u.get_ref(), u.span(), "uri");
                ok &= m.is_some();
                m
            }
            None => None,
        };
        let method = match &raw.more().method {
            Some(m) if is_method(m.get_ref()) => Some(Box::from(m.get_ref().as_str())),
            Some(m) => {
                ok = false;
                self.error(
                    m.span(),
                    format!(
                        "method `{}` is not an HTTP method: write it in capitals, e.g. GET or POST",
                        m.get_ref()
                    ),
                );
                None
            }
            None => None,
        };
        let destinations = match to {
            Some(to) => self.destinations(to, service),
            None => None,
        };
        let delay = self.fault_part(
            &raw.more().delay,
            &raw.more().delay_percent,
            "delay",
            |c, d| c.duration(d, "delay", true),
        );
        let abort = self.fault_part(
            &raw.more().abort,
            &raw.more().abort_percent,
            "abort",
            |c, a| {
                c.int_in(a, 200, 599, "abort (an HTTP status)")
                    .and_then(|s| u16::try_from(s).ok())
            },
        );
        let timeout = raw
            .more()
            .timeout
            .as_ref()
            .map(|t| self.duration(t, "timeout", true));
        let retries = self.retries(raw);
        let mirror = self.mirror(raw, service, destinations.as_deref());
        let delay = delay?;
        let abort = abort?;
        let (Some(destinations), true) = (destinations, ok) else {
            return None;
        };
        Some(Rule {
            headers: headers.into(),
            uri: uri.map(Box::new),
            method,
            destinations: destinations.into(),
            delay: delay.map(|(duration, percent)| Box::new(Delay { duration, percent })),
            abort: abort.map(|(status, percent)| Box::new(Abort { status, percent })),
            timeout: match timeout {
                Some(t) => Some(Box::new(t?)),
                None => None,
            },
            retries: retries?.map(Box::new),
            mirror: mirror?.map(Box::new),
        })
    }

    /// A rule for a TCP service may only choose destinations: Istio's TCP
    /// routes have no HTTP matches, faults, timeouts, retries or mirrors.
    fn tcp_rule(&mut self, raw: &RawRule, service: &Service) -> bool {
        let http_only = [
            ("headers", raw.headers.as_ref().map(Spanned::span)),
            ("uri", raw.more().uri.as_ref().map(Spanned::span)),
            ("method", raw.more().method.as_ref().map(Spanned::span)),
            ("delay", raw.more().delay.as_ref().map(Spanned::span)),
            ("abort", raw.more().abort.as_ref().map(Spanned::span)),
            ("timeout", raw.more().timeout.as_ref().map(Spanned::span)),
            ("retries", raw.more().retries.as_ref().map(Spanned::span)),
            ("mirror", raw.more().mirror.as_ref().map(Spanned::span)),
        ];
        let mut ok = true;
        for (key, span) in http_only {
            if let Some(span) = span {
                ok = false;
                self.error(
                    span,
                    format!(
                        "`{key}` needs HTTP, but service `{}` speaks tcp: a TCP route only \
                         chooses versions (`to`)",
                        service.name
                    ),
                );
            }
        }
        ok
    }

    /// `to`: the versions must exist; weights are 0..=100 and sum to 100.
    fn destinations(
        &mut self,
        to: &Spanned<RawTarget>,
        service: &Service,
    ) -> Option<Vec<Destination>> {
        match to.get_ref() {
            RawTarget::Version(version) => {
                self.known_version(version, &to.span(), service, "to")?;
                self.undeployed(version, &to.span(), service);
                Some(vec![Destination {
                    version: version.clone(),
                    weight: None,
                }])
            }
            RawTarget::Weights(weights) => {
                if weights.0.is_empty() {
                    self.error(to.span(), "`to` needs at least one version");
                    return None;
                }
                let mut destinations = Vec::new();
                let mut sum = 0;
                let mut ok = true;
                for (version, weight) in &weights.0 {
                    let known =
                        self.known_version(version.get_ref(), &version.span(), service, "to");
                    let w = self.int_in(weight, 0, 100, "a weight");
                    match (known, w) {
                        (Some(()), Some(w)) => {
                            sum += w;
                            if w > 0 {
                                self.undeployed(version.get_ref(), &version.span(), service);
                            }
                            destinations.push(Destination {
                                version: version.get_ref().clone(),
                                weight: u32::try_from(w).ok(),
                            });
                        }
                        _ => ok = false,
                    }
                }
                if ok && sum != 100 {
                    self.error(to.span(), format!("weights must sum to 100, not {sum}"));
                    return None;
                }
                if destinations.len() == 1 {
                    destinations[0].weight = None;
                }
                ok.then_some(destinations)
            }
        }
    }

    fn known_version(
        &mut self,
        version: &str,
        span: &Range<usize>,
        service: &Service,
        what: &str,
    ) -> Option<()> {
        if service.version(version).is_some() {
            Some(())
        } else if !self.pruned.versions_complete(&service.name) {
            // The version may be the one pruned: its shape error is reported.
            None
        } else {
            self.error(
                span.clone(),
                format!(
                    "{what}: service `{}` has no version `{version}` (it has {})",
                    service.name,
                    service
                        .versions
                        .iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            None
        }
    }

    /// A step's rules for a service that has pods, sending requests to
    /// versions without (`deploy = false`): when every request the rules
    /// take goes there, nothing can answer them, an error at the first
    /// rule's `to`; otherwise a warning at each such version, with the
    /// share of the rule's requests it gets. (A service with no deployed
    /// version at all may run elsewhere: `undeployed` warns about that.)
    fn without_pods(&mut self, service: &Service, rules: &[Sent]) {
        if !service.versions.iter().any(|v| v.deploy) {
            return;
        }
        let podless = |version: &str| service.version(version).is_some_and(|v| !v.deploy);
        let sending = |rule: &Sent| -> Vec<(CompactString, u32, Range<usize>)> {
            rule.destinations
                .iter()
                .filter(|(_, weight, _)| *weight > 0)
                .cloned()
                .collect()
        };
        let everything_podless = rules
            .iter()
            .flat_map(sending)
            .all(|(version, _, _)| podless(&version));
        if everything_podless {
            let mut versions: Vec<String> = Vec::new();
            for (version, _, _) in rules.iter().flat_map(sending) {
                let quoted = format!("`{version}`");
                if !versions.contains(&quoted) {
                    versions.push(quoted);
                }
            }
            let deployed: Vec<&str> = service
                .versions
                .iter()
                .filter(|v| v.deploy)
                .map(|v| v.name.as_str())
                .collect();
            let (these, have) = if versions.len() == 1 {
                ("version", "has")
            } else {
                ("versions", "have")
            };
            if let Some(first) = rules.first() {
                self.diagnostics.push(
                    Diagnostic::error(
                        first.to.clone(),
                        format!(
                            "every request to `{}` goes to {these} {}, which {have} deploy = \
                             false: no pod can answer, and each request gets 503 (no healthy \
                             upstream)",
                            service.name,
                            versions.join(", ")
                        ),
                    )
                    .with_help(format!(
                        "route to a version with pods ({}), or give {} pods (remove \
                         deploy = false)",
                        deployed.join(", "),
                        versions.join(", ")
                    )),
                );
            }
            return;
        }
        for rule in rules {
            for (version, weight, span) in sending(rule) {
                if !podless(&version) {
                    continue;
                }
                let share = if weight >= 100 {
                    "the requests this rule takes go".to_owned()
                } else {
                    format!("{weight}% of the requests this rule takes go")
                };
                self.warning(
                    span,
                    format!(
                        "{share} to `{}` version `{version}`, which has deploy = false: no pod \
                         can answer them, and they get 503 (no healthy upstream)",
                        service.name
                    ),
                );
            }
        }
    }

    /// Warns when traffic goes to an undeployed version of a service with no deployed one.
    fn undeployed(&mut self, version: &str, span: &Range<usize>, service: &Service) {
        let target_undeployed = service.version(version).is_some_and(|v| !v.deploy);
        if target_undeployed && service.versions.iter().all(|v| !v.deploy) {
            self.warning(
                span.clone(),
                format!(
                    "traffic is sent to `{}` version `{version}`, which has deploy = false, and \
                     the service has no deployed version: unless its workloads run elsewhere \
                     (e.g. on VMs), requests get 503 no healthy upstream",
                    service.name
                ),
            );
        }
    }

    /// A fault part (delay or abort) and its percent. `None` on error;
    /// `Some(None)` when not set.
    fn fault_part<T, V>(
        &mut self,
        value: &Option<Spanned<V>>,
        percent: &Option<Spanned<f64>>,
        what: &str,
        check: impl FnOnce(&mut Self, &Spanned<V>) -> Option<T>,
    ) -> Option<Option<(T, f64)>> {
        match (value, percent) {
            (None, None) => Some(None),
            (None, Some(p)) => {
                self.error(p.span(), format!("{what}_percent is set without {what}"));
                None
            }
            (Some(v), p) => {
                let checked = check(self, v);
                let percent = match p {
                    Some(p) => self.percent(p, &format!("{what}_percent")),
                    None => Some(100.0),
                };
                Some(Some((checked?, percent?)))
            }
        }
    }

    fn retries(&mut self, raw: &RawRule) -> Option<Option<Retries>> {
        let Some(attempts) = &raw.more().retries else {
            for (set, key) in [
                (
                    raw.more().per_try_timeout.as_ref().map(Spanned::span),
                    "per_try_timeout",
                ),
                (raw.more().retry_on.as_ref().map(Spanned::span), "retry_on"),
            ] {
                if let Some(span) = set {
                    self.error(span, format!("{key} is set without retries"));
                    return None;
                }
            }
            return Some(None);
        };
        let attempts = self
            .int_in(attempts, 0, 100, "retries")
            .and_then(|a| u32::try_from(a).ok());
        let per_try_timeout = match &raw.more().per_try_timeout {
            Some(t) => Some(self.duration(t, "per_try_timeout", true)?),
            None => None,
        };
        let retry_on = match &raw.more().retry_on {
            Some(r) => {
                let bad: Vec<&str> = r
                    .get_ref()
                    .split(',')
                    .filter(|c| {
                        !(RETRY_CONDITIONS.contains(c)
                            || c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect();
                if !bad.is_empty() {
                    self.error(
                        r.span(),
                        format!(
                            "retry_on: `{}` is not a retry condition: use a comma-separated list \
                             of {} or HTTP status codes",
                            bad.join(","),
                            RETRY_CONDITIONS.join(", ")
                        ),
                    );
                    return None;
                }
                Some(r.get_ref().clone())
            }
            None => None,
        };
        Some(Some(Retries {
            attempts: attempts?,
            per_try_timeout,
            retry_on,
        }))
    }

    fn mirror(
        &mut self,
        raw: &RawRule,
        service: &Service,
        destinations: Option<&[Destination]>,
    ) -> Option<Option<Mirror>> {
        let Some(version) = &raw.more().mirror else {
            if let Some(p) = &raw.more().mirror_percent {
                self.error(p.span(), "mirror_percent is set without mirror");
                return None;
            }
            return Some(None);
        };
        self.known_version(version.get_ref(), &version.span(), service, "mirror")?;
        if let Some([only]) = destinations
            && only.version == version.get_ref()
        {
            self.warning(
                version.span(),
                format!(
                    "the rule mirrors `{}` to `{}`, the subset it already routes to: every \
                     mirrored request hits the same pods twice",
                    service.name,
                    version.get_ref()
                ),
            );
        }
        let percent = match &raw.more().mirror_percent {
            Some(p) => Some(self.percent(p, "mirror_percent")?),
            None => None,
        };
        Some(Some(Mirror {
            version: version.get_ref().clone(),
            percent,
        }))
    }
}

/// The versions a step's `launch` or `retire` names, as written; the
/// releases pass (`releases.rs`) checks them.
fn version_refs(raw: &Option<Spanned<Vec<Spanned<RawVersionRef>>>>) -> Vec<VersionRef> {
    let entries = raw.as_ref().map_or(&[][..], |l| l.get_ref().as_slice());
    entries
        .iter()
        .filter_map(|entry| {
            let entry = entry.get_ref();
            Some(VersionRef {
                service: entry.service.as_ref()?.get_ref().clone(),
                version: entry.version.as_ref()?.get_ref().clone(),
            })
        })
        .collect()
}

/// An HTTP method as Istio matches it exactly: an upper-case token.
fn is_method(method: &str) -> bool {
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase())
}

/// Each distinct list of rules the steps give a service, held once: a step
/// often routes many services alike (every service to v1, user `jason` to
/// v2), and a large mesh would otherwise hold the same rules once for each.
#[derive(Default)]
struct RuleLists {
    /// The lists by a hash of their rules (several when hashes collide).
    by_hash: HashMap<u64, Vec<Arc<[Rule]>>>,
}

impl RuleLists {
    /// `rules`, shared with an equal list given before.
    fn share(&mut self, rules: Vec<Rule>) -> Arc<[Rule]> {
        let mut hasher = DefaultHasher::new();
        for rule in &rules {
            hash_rule(rule, &mut hasher);
        }
        let lists = self.by_hash.entry(hasher.finish()).or_default();
        if let Some(same) = lists.iter().find(|list| ***list == *rules) {
            return Arc::clone(same);
        }
        let list: Arc<[Rule]> = Arc::from(rules);
        lists.push(Arc::clone(&list));
        list
    }
}

/// Hashes every field of `rule` (durations by their length, percentages by
/// their bits: `Rule` has no `Hash` of its own, for its `f64`s).
fn hash_rule(rule: &Rule, hasher: &mut impl Hasher) {
    rule.headers.hash(hasher);
    rule.uri.hash(hasher);
    rule.method.hash(hasher);
    for d in &rule.destinations {
        (&d.version, d.weight).hash(hasher);
    }
    (rule.delay.as_ref())
        .map(|d| (d.duration.nanos, d.percent.to_bits()))
        .hash(hasher);
    (rule.abort.as_ref())
        .map(|a| (a.status, a.percent.to_bits()))
        .hash(hasher);
    rule.timeout.as_ref().map(|t| t.nanos).hash(hasher);
    (rule.retries.as_ref())
        .map(|r| {
            (
                r.attempts,
                r.per_try_timeout.as_ref().map(|t| t.nanos),
                &r.retry_on,
            )
        })
        .hash(hasher);
    (rule.mirror.as_ref())
        .map(|m| (&m.version, m.percent.map(f64::to_bits)))
        .hash(hasher);
}

/// A rule's `to` as written, with each destination's weight (100 for a
/// lone version) and the span of its version, for `without_pods`.
struct Sent {
    to: Range<usize>,
    destinations: Vec<(CompactString, u32, Range<usize>)>,
}

impl Sent {
    fn of(to: &Spanned<RawTarget>, built: &Rule) -> Self {
        let spans: Vec<Range<usize>> = match to.get_ref() {
            RawTarget::Version(_) => vec![to.span()],
            RawTarget::Weights(weights) => weights.0.iter().map(|(v, _)| v.span()).collect(),
        };
        Self {
            to: to.span(),
            destinations: built
                .destinations
                .iter()
                .zip(spans)
                .map(|(d, span)| (d.version.clone(), d.weight.unwrap_or(100), span))
                .collect(),
        }
    }
}
