//! The tracer: one request through the routing state of one step, hop by
//! hop — the rule that matches, the versions that serve, their calls, the
//! route's retries and timeout, the rule's fault and the caller's budget —
//! as the tree of hops and the distribution of what the sender sees.

use std::collections::{BTreeMap, BTreeSet};

use super::outcome::{Dist, Kind, Pending, Resp, merge, merge_pending, outcomes, then};
use super::text::latency;
use super::{
    Branch, Budget, Entry, ExplainError, Fault, HeaderValue, Hop, Request, RetryPolicy, Routing,
    gateway_route, string_matches, uri_matches,
};
use crate::model::{Call, Gateway, Rule, Scenario, Service, ServiceRouting, Version};

/// A scenario at one step: its services by name and the routing in force.
pub(super) struct View<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) services: BTreeMap<&'a str, &'a Service>,
    pub(super) state: BTreeMap<&'a str, &'a ServiceRouting>,
}

impl<'a> View<'a> {
    pub(super) fn new(scenario: &'a Scenario, step: usize) -> Self {
        Self {
            scenario,
            services: scenario
                .services
                .iter()
                .map(|s| (s.name.as_str(), s))
                .collect(),
            state: scenario.routing_state(step),
        }
    }
}

/// Traces one request through `view` from `entry`.
pub(super) fn trace(
    view: &View<'_>,
    request: &Request,
    entry: &Entry,
) -> Result<(Hop, Dist), ExplainError> {
    let tracer = Tracer { view, request };
    let mut path = Vec::new();
    match (entry, &view.scenario.gateway) {
        (Entry::Gateway, Some(gw)) => tracer.gateway(gw, &mut path),
        (Entry::Gateway, None) => Err(ExplainError::NoGateway),
        (Entry::Service(name), _) => tracer.call("client", None, name, &mut path),
    }
}

pub(super) struct Tracer<'a> {
    view: &'a View<'a>,
    request: &'a Request,
}

impl Tracer<'_> {
    /// The hop from the gateway: its VirtualService routes by URI to a
    /// service without a subset, so the mesh routing of that service does not
    /// apply (IST0140) and every deployed version gets a share.
    fn gateway(&self, gw: &Gateway, path: &mut Vec<String>) -> Result<(Hop, Dist), ExplainError> {
        let from = format!("gateway {}", gw.name);
        let Some((route, why)) = gateway_route(gw, &self.request.uri) else {
            let skipped = gw
                .routes
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let uris: Vec<String> = r.uris.iter().map(ToString::to_string).collect();
                    format!(
                        "route {}: uri {} is not {}",
                        i + 1,
                        self.request.uri,
                        uris.join(" or ")
                    )
                })
                .collect();
            let dist = vec![(
                1.0,
                Resp {
                    latency: 0,
                    kind: Kind::Status {
                        code: 404,
                        at: from.clone(),
                        reason: format!("no gateway route matches {}", self.request.uri),
                    },
                    causes: BTreeSet::new(),
                },
            )];
            let hop = Hop {
                from,
                to: "-".to_owned(),
                budget: None,
                routing: Routing::NoMatch { skipped },
                branches: Vec::new(),
                delay: None,
                abort: None,
                timeout: None,
                retries: None,
                mirror: None,
                outcomes: outcomes(&dist),
            };
            return Ok((hop, dist));
        };
        let target = &gw.routes[route - 1].service;
        let Some(service) = self.view.services.get(target.as_str()).copied() else {
            return Err(ExplainError::UnknownEntry(target.clone()));
        };
        let (branches, dist) = self.serve(service, &spread(service), path)?;
        let dist = self.client(None, target, dist)?;
        let hop = Hop {
            from,
            to: target.clone(),
            budget: None,
            routing: Routing::Gateway { route, why },
            branches,
            delay: None,
            abort: None,
            timeout: None,
            retries: None,
            mirror: None,
            outcomes: outcomes(&dist),
        };
        Ok((hop, dist))
    }

    /// A request from `from` to service `to` through the mesh routing in
    /// force, then the caller's own budget.
    fn call(
        &self,
        from: &str,
        budget: Option<&Call>,
        to: &str,
        path: &mut Vec<String>,
    ) -> Result<(Hop, Dist), ExplainError> {
        if path.iter().any(|s| s == to) {
            let mut cycle = path.clone();
            cycle.push(to.to_owned());
            return Err(ExplainError::Cycle(cycle));
        }
        let Some(service) = self.view.services.get(to).copied() else {
            return Err(ExplainError::UnknownEntry(to.to_owned()));
        };
        let between_services = !path.is_empty();
        let mut hop = Hop {
            from: from.to_owned(),
            to: to.to_owned(),
            budget: budget.map(|c| Budget {
                timeout: c.timeout.as_ref().map(|t| t.text.clone()),
                attempts: c.attempts,
            }),
            routing: Routing::NoVirtualService,
            branches: Vec::new(),
            delay: None,
            abort: None,
            timeout: None,
            retries: None,
            mirror: None,
            outcomes: Vec::new(),
        };
        let dist = match self.view.state.get(to).copied() {
            None => {
                let (branches, dist) = self.serve(service, &spread(service), path)?;
                hop.branches = branches;
                dist
            }
            Some(routing) => {
                let (chosen, skipped) = self.select(&routing.rules, between_services);
                match chosen {
                    None => {
                        hop.routing = Routing::NoMatch { skipped };
                        vec![(
                            1.0,
                            Resp {
                                latency: 0,
                                kind: Kind::Status {
                                    code: 404,
                                    at: to.to_owned(),
                                    reason: format!("no rule of the VirtualService {to} matches"),
                                },
                                causes: BTreeSet::new(),
                            },
                        )]
                    }
                    Some((index, why)) => {
                        let rule = &routing.rules[index];
                        hop.routing = Routing::Rule {
                            rule: index + 1,
                            of: routing.rules.len(),
                            why,
                            skipped,
                        };
                        describe_rule(&mut hop, rule);
                        let shares: Vec<(String, f64)> = rule
                            .destinations
                            .iter()
                            .map(|d| {
                                (
                                    d.version.clone(),
                                    f64::from(d.weight.unwrap_or(100)) / 100.0,
                                )
                            })
                            .collect();
                        let (branches, upstream) = self.serve(service, &shares, path)?;
                        hop.branches = branches;
                        let routed = route(rule, to, upstream)?;
                        fault(rule, to, routed)?
                    }
                }
            }
        };
        let dist = self.client(budget, to, dist)?;
        hop.outcomes = outcomes(&dist);
        Ok((hop, dist))
    }

    /// The first rule the request matches (0-based) and why; why each
    /// earlier rule does not.
    fn select(
        &self,
        rules: &[Rule],
        between_services: bool,
    ) -> (Option<(usize, String)>, Vec<String>) {
        let mut skipped = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match self.matches(rule, between_services) {
                Ok(why) => return (Some((i, why)), skipped),
                Err(why_not) => skipped.push(format!("rule {}: {why_not}", i + 1)),
            }
        }
        (None, skipped)
    }

    /// Why the request matches `rule`, or why it does not.
    fn matches(&self, rule: &Rule, between_services: bool) -> Result<String, String> {
        if rule.is_catch_all() {
            return Ok("no condition: every request".to_owned());
        }
        let mut why = Vec::new();
        for (name, m) in &rule.headers {
            let wanted = format!("{name} {} {}", m.kind(), m.value());
            match self.request.headers.iter().find(|(n, _)| n == name) {
                None => return Err(format!("needs {wanted}, no {name} header")),
                Some((_, HeaderValue::Literal(v))) => {
                    if string_matches(m, v)? {
                        why.push(wanted);
                    } else {
                        return Err(format!("needs {wanted}, {name} is {v}"));
                    }
                }
                Some((_, HeaderValue::Satisfying(s))) => {
                    if s == m {
                        why.push(wanted);
                    } else {
                        return Err(format!("needs {wanted}, {name} is only known to match {s}"));
                    }
                }
            }
        }
        if let Some(m) = &rule.uri {
            let wanted = format!("uri {} {}", m.kind(), m.value());
            if between_services {
                return Err(format!(
                    "needs {wanted}, the path of a call between services is unknown"
                ));
            }
            if !uri_matches(m, &self.request.uri)? {
                return Err(format!("needs {wanted}, uri is {}", self.request.uri));
            }
            why.push(wanted);
        }
        if let Some(method) = &rule.method {
            if between_services {
                return Err(format!(
                    "needs method {method}, the method of a call between services is unknown"
                ));
            }
            if *method != self.request.method {
                return Err(format!(
                    "needs method {method}, method is {}",
                    self.request.method
                ));
            }
            why.push(format!("method {method}"));
        }
        Ok(why.join(" and "))
    }

    /// The versions of `service` sharing the hop: each answers with its own
    /// calls; an undeployed subset answers 503.
    fn serve(
        &self,
        service: &Service,
        shares: &[(String, f64)],
        path: &mut Vec<String>,
    ) -> Result<(Vec<Branch>, Dist), ExplainError> {
        if shares.is_empty() {
            let dist = vec![(
                1.0,
                Resp {
                    latency: 0,
                    kind: Kind::Status {
                        code: 503,
                        at: service.name.clone(),
                        reason: format!("no version of {} is deployed", service.name),
                    },
                    causes: BTreeSet::new(),
                },
            )];
            return Ok((Vec::new(), dist));
        }
        let mut branches = Vec::new();
        let mut all = Vec::new();
        for (name, share) in shares {
            let version = service.version(name);
            let deployed = version.is_some_and(|v| v.deploy);
            let (calls, dist) = match version {
                Some(v) if v.deploy => {
                    path.push(service.name.clone());
                    let result = self.version(service, v, path);
                    path.pop();
                    result?
                }
                _ => (
                    Vec::new(),
                    vec![(
                        1.0,
                        Resp {
                            latency: 0,
                            kind: Kind::Status {
                                code: 503,
                                at: service.name.clone(),
                                reason: format!("{} {name} has no pods", service.name),
                            },
                            causes: BTreeSet::new(),
                        },
                    )],
                ),
            };
            all.extend(dist.into_iter().map(|(p, r)| (p * share, r)));
            branches.push(Branch {
                version: name.clone(),
                probability: *share,
                deployed,
                calls,
            });
        }
        Ok((branches, merge(all)?))
    }

    /// What one version answers: its calls in order; a failed call is
    /// handled (the answer is degraded, not an error).
    fn version(
        &self,
        service: &Service,
        version: &Version,
        path: &mut Vec<String>,
    ) -> Result<(Vec<Hop>, Dist), ExplainError> {
        let me = format!("{} {}", service.name, version.name);
        let mut dist: Dist = vec![(
            1.0,
            Resp {
                latency: 0,
                kind: Kind::Ok {
                    served: vec![me.clone()],
                    degraded: Vec::new(),
                },
                causes: BTreeSet::new(),
            },
        )];
        let mut hops = Vec::new();
        for call in &version.calls {
            let (hop, result) = self.call(&me, Some(call), &call.service, path)?;
            hops.push(hop);
            let mut next = Vec::new();
            for (p, before) in &dist {
                for (q, answer) in &result {
                    next.push((p * q, then(before, answer, &service.name, call)));
                }
            }
            dist = merge(next)?;
        }
        Ok((hops, dist))
    }

    /// The caller's own budget around a hop: each attempt waits at most the
    /// client timeout; any failure is tried again while attempts remain.
    fn client(&self, budget: Option<&Call>, callee: &str, hop: Dist) -> Result<Dist, ExplainError> {
        let tries = budget.map_or(1, |c| c.attempts.max(1));
        let timeout = budget.and_then(|c| c.timeout.as_ref()).map(|t| t.nanos);
        let mut out = Vec::new();
        let mut pending: Pending = vec![(1.0, 0, BTreeSet::new())];
        for attempt in 1..=tries {
            let mut again: Pending = Vec::new();
            for (p0, elapsed, causes0) in &pending {
                for (p, r) in &hop {
                    let mut causes = causes0.clone();
                    causes.extend(r.causes.iter().cloned());
                    let failure = match (timeout, &r.kind) {
                        (Some(t), _) if r.latency > t => Some(Resp {
                            latency: elapsed + t,
                            kind: Kind::GaveUp {
                                callee: callee.to_owned(),
                                attempts: tries,
                                timeout: t,
                                answer: r.latency,
                            },
                            causes,
                        }),
                        (_, Kind::Status { .. } | Kind::GaveUp { .. }) => Some(Resp {
                            latency: elapsed + r.latency,
                            kind: r.kind.clone(),
                            causes,
                        }),
                        (_, Kind::Ok { .. }) => {
                            out.push((
                                p0 * p,
                                Resp {
                                    latency: elapsed + r.latency,
                                    kind: r.kind.clone(),
                                    causes,
                                },
                            ));
                            None
                        }
                    };
                    if let Some(f) = failure {
                        if attempt < tries {
                            again.push((p0 * p, f.latency, f.causes));
                        } else {
                            out.push((p0 * p, f));
                        }
                    }
                }
            }
            pending = merge_pending(again)?;
        }
        merge(out)
    }
}

/// Shares of a service's deployed versions when nothing routes by subset:
/// by replicas (each pod gets an equal share), or equal when none has any.
pub(super) fn spread(service: &Service) -> Vec<(String, f64)> {
    let deployed: Vec<&Version> = service.versions.iter().filter(|v| v.deploy).collect();
    let total: u32 = deployed.iter().map(|v| v.replicas).sum();
    deployed
        .iter()
        .map(|v| {
            let share = if total == 0 {
                1.0 / deployed.len() as f64
            } else {
                f64::from(v.replicas) / f64::from(total)
            };
            (v.name.clone(), share)
        })
        .collect()
}

pub(super) fn describe_rule(hop: &mut Hop, rule: &Rule) {
    hop.delay = rule.delay.as_ref().map(|d| Fault {
        value: d.duration.text.clone(),
        percent: d.percent,
    });
    hop.abort = rule.abort.as_ref().map(|a| Fault {
        value: a.status.to_string(),
        percent: a.percent,
    });
    hop.timeout = rule.timeout.as_ref().map(|t| t.text.clone());
    hop.retries = rule.retries.as_ref().map(|r| RetryPolicy {
        attempts: r.attempts,
        per_try_timeout: r.per_try_timeout.as_ref().map(|t| t.text.clone()),
        retry_on: r.retry_on.clone(),
    });
    hop.mirror = rule.mirror.as_ref().map(|m| match m.percent {
        Some(p) => format!("{} ({p}%)", m.version),
        None => m.version.clone(),
    });
}

/// The router of the caller's sidecar: tries (1 + retries), each cut at the
/// per-try timeout; a try that timed out is tried again when `retry_on`
/// covers timeouts (5xx, gateway-error, reset); the route timeout caps the
/// whole. Errors made locally (503 without pods) are not retried.
pub(super) fn route(rule: &Rule, service: &str, upstream: Dist) -> Result<Dist, ExplainError> {
    let (tries, per_try, retry_timeouts) = match &rule.retries {
        Some(r) => (
            r.attempts.saturating_add(1),
            r.per_try_timeout.as_ref().map(|t| t.nanos),
            r.retry_on.as_deref().is_some_and(|on| {
                on.split(',')
                    .any(|c| matches!(c.trim(), "5xx" | "gateway-error" | "reset"))
            }),
        ),
        None => (1, None, false),
    };
    let route_timeout = rule.timeout.as_ref().map(|t| t.nanos);
    let per_try_cause = rule
        .retries
        .as_ref()
        .and_then(|r| r.per_try_timeout.as_ref())
        .map(|t| format!("the {t} per-try timeout on {service}"));
    let mut out = Vec::new();
    let mut pending: Pending = vec![(1.0, 0, BTreeSet::new())];
    for attempt in 1..=tries {
        let mut again = Vec::new();
        for (p0, elapsed, causes0) in &pending {
            for (p, r) in &upstream {
                let mut causes = causes0.clone();
                causes.extend(r.causes.iter().cloned());
                match per_try {
                    Some(t) if r.latency > t => {
                        causes.extend(per_try_cause.iter().cloned());
                        let at = elapsed + t;
                        let within = route_timeout.is_none_or(|limit| at < limit);
                        if retry_timeouts && attempt < tries && within {
                            again.push((p0 * p, at, causes));
                        } else {
                            out.push((
                                p0 * p,
                                Resp {
                                    latency: at,
                                    kind: Kind::Status {
                                        code: 504,
                                        at: service.to_owned(),
                                        reason: format!("per-try timeout {}", latency(t)),
                                    },
                                    causes,
                                },
                            ));
                        }
                    }
                    _ => out.push((
                        p0 * p,
                        Resp {
                            latency: elapsed + r.latency,
                            kind: r.kind.clone(),
                            causes,
                        },
                    )),
                }
            }
        }
        pending = merge_pending(again)?;
    }
    if let (Some(limit), Some(t)) = (route_timeout, &rule.timeout) {
        for (_, r) in &mut out {
            if r.latency > limit {
                r.latency = limit;
                r.kind = Kind::Status {
                    code: 504,
                    at: service.to_owned(),
                    reason: format!("route timeout {t}"),
                };
                r.causes
                    .insert(format!("the {t} route timeout on {service}"));
            }
        }
    }
    merge(out)
}

/// A fault applied to `percent` % of requests: the branch where it is, with
/// its probability, and the branch where it is not.
pub(super) fn applied_or_not<T>(percent: f64, fault: T) -> Vec<(f64, Option<T>)> {
    vec![
        (percent / 100.0, Some(fault)),
        (1.0 - percent / 100.0, None),
    ]
}

/// The rule's fault, applied by the caller's sidecar before its router:
/// a delay (with its percent) comes first, then an abort (with its percent),
/// which answers at once. Neither the route timeout nor the route retries act
/// on them (Istio: "timeouts or retries will not be enabled when faults are
/// enabled on the client side"); the caller's own attempts do.
pub(super) fn fault(rule: &Rule, service: &str, routed: Dist) -> Result<Dist, ExplainError> {
    let delays = match &rule.delay {
        Some(d) => applied_or_not(
            d.percent,
            (
                d.duration.nanos,
                format!(
                    "the {} delay on {service}{}",
                    d.duration,
                    percent_note(d.percent)
                ),
            ),
        ),
        None => vec![(1.0, None)],
    };
    let aborts = match &rule.abort {
        Some(a) => applied_or_not(
            a.percent,
            (
                a.status,
                format!(
                    "the HTTP {} abort on {service}{}",
                    a.status,
                    percent_note(a.percent)
                ),
            ),
        ),
        None => vec![(1.0, None)],
    };
    let mut out = Vec::new();
    for (pd, delay) in &delays {
        let (wait, delay_cause) = match delay {
            Some((nanos, cause)) => (*nanos, Some(cause)),
            None => (0, None),
        };
        for (pa, abort) in &aborts {
            let p = pd * pa;
            match abort {
                Some((status, cause)) => {
                    let mut causes: BTreeSet<String> = delay_cause.into_iter().cloned().collect();
                    causes.insert(cause.clone());
                    out.push((
                        p,
                        Resp {
                            latency: wait,
                            kind: Kind::Status {
                                code: *status,
                                at: service.to_owned(),
                                reason: "abort injected".to_owned(),
                            },
                            causes,
                        },
                    ));
                }
                None => {
                    for (q, r) in &routed {
                        let mut r = r.clone();
                        r.latency += wait;
                        r.causes.extend(delay_cause.into_iter().cloned());
                        out.push((p * q, r));
                    }
                }
            }
        }
    }
    merge(out)
}

/// ` (50%)` for a partial fault, nothing at 100%.
pub(super) fn percent_note(percent: f64) -> String {
    if percent >= 100.0 {
        String::new()
    } else {
        format!(" ({percent}%)")
    }
}
