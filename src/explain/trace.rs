//! The tracer: one request through the routing state of one step, hop by
//! hop — the rule that matches, the versions that serve, their calls, the
//! route's retries and timeout, the rule's fault and the caller's budget —
//! as a graph of hops and the distribution of what the sender sees.
//!
//! Within one trace a service answers every call the same way (the request,
//! and so its class, and the routing state are fixed), and a version makes
//! the same calls wherever it is reached: each service's answer and each
//! version's calls are worked out once and shared by every path that
//! reaches them, so the work grows with the size of the call graph, not
//! with its number of paths. The graph is walked with an explicit stack,
//! never by recursion: a call chain may be as long as the scenario is.

use std::collections::{BTreeMap, BTreeSet};

use compact_str::CompactString;

use super::api::{Caller, Order, Resource};
use super::outcome::{Ctx, Dist, Kind, Resp, Seq, merge, then};
use super::policy::{client, fault, route};
use super::rbac::Guard;
use super::view::View;
use super::{
    Budget, Entry, ExplainError, Fault, HeaderValue, Request, RetryPolicy, Routing, gateway_route,
    string_matches, uri_matches,
};
use crate::ingress;
use crate::model::{
    Dataplane, Gateway, Moment, Rule, Service, ServiceRouting, StringMatch, Version,
};

/// What a trace says of the rules and gateway routes a request passes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Passed {
    /// Why each one does not match (`meshgen explain`).
    Explained,
    /// Nothing: only the outcome is wanted (the plan's predictions, the
    /// build check), so rules the request cannot match are not even read.
    Unread,
}

/// Everything one trace found. Every hop, every service's answer (`Body`)
/// and every version's calls are here once; a version reached on several
/// paths has its calls listed once, and every path points at them.
#[derive(Debug)]
pub(super) struct Graph {
    /// The lists of versions and failed calls the responses hold.
    pub(super) ctx: Ctx,
    /// Every hop; `root` is the one the request enters by.
    pub(super) hops: Vec<HopNode>,
    /// Every service's answer to a hop.
    pub(super) bodies: Vec<Body>,
    /// Every version that answered, with its calls.
    pub(super) versions: Vec<VersionNode>,
    /// The entering hop.
    pub(super) root: usize,
    /// What the hops show of their enforcement, when the scenario leaves
    /// the default mode (Istio's API with sidecars); `None` in it.
    pub(super) shown: Option<Shown>,
}

/// What a trace outside the default mode shows of where each hop is
/// enforced.
#[derive(Debug)]
pub(super) struct Shown {
    /// Sidecars or ambient.
    pub(super) dataplane: Dataplane,
    /// The name of the gateway's route resource (`virtual_service`).
    pub(super) gateway_routes: Option<String>,
}

impl Graph {
    /// What the sender of the request sees.
    pub(super) fn outcome(&self) -> &Dist {
        &self.hops[self.root].dist
    }

    /// Hops on the longest path from the entry: 1 when the entered service
    /// calls nothing. One pass: a version comes after everything it calls.
    pub(super) fn depth(&self) -> usize {
        let below = |body: usize, depths: &[usize]| -> usize {
            self.bodies[body]
                .branches
                .iter()
                .filter_map(|b| b.node)
                .map(|v| depths[v])
                .max()
                .unwrap_or(0)
        };
        // A refused hop goes no further than the callee's sidecar.
        let from = |hop: &HopNode, depths: &[usize]| -> usize {
            1 + if hop.refused {
                0
            } else {
                below(hop.body, depths)
            }
        };
        let mut depths: Vec<usize> = Vec::with_capacity(self.versions.len());
        for version in &self.versions {
            let depth = version
                .calls
                .iter()
                .map(|&hop| from(&self.hops[hop], &depths))
                .max()
                .unwrap_or(0);
            depths.push(depth);
        }
        from(&self.hops[self.root], &depths)
    }
}

/// A caller's request to a service: who asks, with which budget, and what
/// the caller sees after its budget.
#[derive(Debug)]
pub(super) struct HopNode {
    pub(super) from: String,
    /// Who sends the request: the gateway or the mesh.
    pub(super) caller: Caller,
    pub(super) to: String,
    pub(super) budget: Option<Budget>,
    /// How the service answers (shared by every hop to it).
    pub(super) body: usize,
    /// Whether the called version's sidecar refused the request (it does
    /// not authorize the caller): the version then makes none of its calls.
    pub(super) refused: bool,
    /// What the caller sees.
    pub(super) dist: Dist,
}

/// How a service answers a hop: the routing, the versions sharing it, the
/// matched rule's fault, timeout, retries and mirror, and the response
/// before the caller's own budget.
#[derive(Debug)]
pub(super) struct Body {
    pub(super) routing: Routing,
    /// The resource the routing is read in.
    pub(super) resource: Resource,
    pub(super) branches: Vec<BranchNode>,
    pub(super) delay: Option<Fault>,
    pub(super) abort: Option<Fault>,
    pub(super) timeout: Option<String>,
    pub(super) retries: Option<RetryPolicy>,
    pub(super) mirror: Option<String>,
    pub(super) dist: Dist,
}

/// One version serving a hop.
#[derive(Debug)]
pub(super) struct BranchNode {
    pub(super) version: String,
    pub(super) probability: f64,
    pub(super) deployed: bool,
    /// The version's calls (in `Graph::versions`), when it has pods.
    pub(super) node: Option<usize>,
}

/// A version that answered: its calls in order and what it answers.
#[derive(Debug)]
pub(super) struct VersionNode {
    /// `reviews v2`.
    pub(super) label: String,
    /// Its calls, in `Graph::hops`.
    pub(super) calls: Vec<usize>,
    pub(super) dist: Dist,
}

/// Traces one request through `view` from `entry`.
pub(super) fn trace(
    view: &View<'_>,
    request: &Request,
    entry: &Entry,
    passed: Passed,
) -> Result<Graph, ExplainError> {
    // The request's headers by name; the first of a repeated name counts.
    let mut headers: Vec<(&str, &HeaderValue)> = (request.headers.iter())
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    headers.sort_by_key(|(name, _)| *name);
    let mut tracer = Tracer {
        view,
        request,
        headers,
        passed,
        graph: Graph {
            ctx: Ctx::default(),
            hops: Vec::new(),
            bodies: Vec::new(),
            versions: Vec::new(),
            root: 0,
            shown: shown(view),
        },
        bodies: BTreeMap::new(),
        versions: BTreeMap::new(),
        guard: Guard::new(view),
    };
    let (from, caller, to, plan) = match (entry, &view.scenario.gateway) {
        (Entry::Gateway, None) => return Err(ExplainError::NoGateway),
        (Entry::Gateway, Some(gw)) => {
            let from = format!("gateway {}", gw.name);
            let taken = if gw.version_routing {
                tracer.versioned_gateway_plan(gw)?
            } else {
                tracer.plain_gateway_plan(gw)?
            };
            match taken {
                Ok((target, plan)) => (from, Caller::Gateway, target, plan),
                Err((skipped, reason)) => return Ok(tracer.not_found(from, skipped, reason)),
            }
        }
        (Entry::Service(name), _) => {
            let service = tracer.service(name)?;
            (
                "client".to_owned(),
                Caller::Mesh,
                name.clone(),
                tracer.plan(service, false),
            )
        }
        (Entry::Call { from, to }, _) => {
            let service = tracer.service(to)?;
            (
                from.clone(),
                Caller::Mesh,
                to.clone(),
                tracer.plan(service, false),
            )
        }
    };
    let body = tracer.run(plan)?;
    // A client of unknown identity (`--entry SERVICE`) is not checked.
    let denial = tracer.guard.as_ref().and_then(|guard| {
        let principal = match entry {
            Entry::Gateway => guard.gateway_principal(),
            Entry::Call { from, .. } => guard.service_principal(from),
            Entry::Service(_) => return None,
        };
        guard.denial(principal.as_deref(), &to)
    });
    let answer = denial.as_ref().unwrap_or(&tracer.graph.bodies[body].dist);
    let dist = client(None, &to, answer)?;
    tracer.graph.hops.push(HopNode {
        from,
        caller,
        to,
        budget: None,
        body,
        refused: denial.is_some(),
        dist,
    });
    tracer.graph.root = tracer.graph.hops.len() - 1;
    Ok(tracer.graph)
}

/// What the hops of a trace in `view` show of their enforcement: nothing
/// in the default mode (Istio's API with sidecars), whose output stays
/// what it was before the Gateway API and ambient mode.
fn shown(view: &View<'_>) -> Option<Shown> {
    let scenario = view.scenario;
    (scenario.gateway_api() || scenario.ambient()).then(|| Shown {
        dataplane: scenario.mesh.dataplane,
        gateway_routes: (scenario.gateway.as_ref()).map(|gw| gw.virtual_service.clone()),
    })
}

/// How a service will answer a hop, before the versions it routes to have.
struct Plan<'a> {
    service: &'a Service,
    routing: Routing,
    /// The resource the routing is read in.
    resource: Resource,
    /// The matched rule: its route (retries, timeout) and fault apply.
    rule: Option<&'a Rule>,
    /// The versions sharing the hop.
    shares: Vec<(String, f64)>,
    /// The answer when no version is asked (no rule matches).
    local: Option<Dist>,
}

/// What the gateway does with the entering request: the service it sends
/// it to and how that service answers, or (`Err`) why no route took it and
/// the reason of its 404.
type Taken<'a> = Result<(String, Plan<'a>), (Vec<String>, String)>;

/// A node of the walk waiting for what it depends on.
enum Frame<'a> {
    /// A service's answer, waiting for the versions it routes to (from
    /// `next` on). `between`: asked by another service (remembered for
    /// every later call), not by the entry.
    Body {
        plan: Plan<'a>,
        next: usize,
        between: bool,
    },
    /// A version, waiting for the services it calls (from `next` on).
    Version {
        service: &'a Service,
        version: &'a Version,
        next: usize,
    },
}

struct Tracer<'a> {
    view: &'a View<'a>,
    request: &'a Request,
    /// The request's headers, sorted by name (stably: the first of a
    /// repeated name comes first).
    headers: Vec<(&'a str, &'a HeaderValue)>,
    passed: Passed,
    graph: Graph,
    /// The answer of each service asked by another service, once worked out.
    bodies: BTreeMap<&'a str, usize>,
    /// Each version, once its calls are worked out.
    versions: BTreeMap<(&'a str, &'a str), usize>,
    /// Who may call whom, with `[security] authorization`.
    guard: Option<Guard<'a>>,
}

impl<'a> Tracer<'a> {
    fn service(&self, name: &str) -> Result<&'a Service, ExplainError> {
        self.view
            .scenario
            .service(name)
            .ok_or_else(|| ExplainError::UnknownEntry(name.to_owned()))
    }

    fn add_body(&mut self, body: Body) -> usize {
        self.graph.bodies.push(body);
        self.graph.bodies.len() - 1
    }

    /// The trace of a request the gateway answers itself with 404: no route
    /// of its VirtualService takes it (`skipped` says why each did not).
    fn not_found(mut self, from: String, skipped: Vec<String>, reason: String) -> Graph {
        let dist = vec![(
            1.0,
            Resp {
                latency: 0,
                kind: Kind::Status {
                    code: 404,
                    at: from.clone(),
                    reason,
                },
                causes: BTreeSet::new(),
            },
        )];
        let resource = Resource::of_gateway(self.view.scenario);
        let body = self.add_body(Body::new(
            Routing::NoMatch { skipped },
            resource,
            dist.clone(),
        ));
        self.graph.hops.push(HopNode {
            from,
            caller: Caller::Gateway,
            to: "-".to_owned(),
            budget: None,
            body,
            refused: false,
            dist,
        });
        self.graph.root = self.graph.hops.len() - 1;
        self.graph
    }

    /// How the gateway's VirtualService takes the request without
    /// `version_routing`: its first route whose URIs take it, to the service
    /// without a subset, so the mesh routing of that service does not apply
    /// (IST0140) and every deployed version gets a share. `Err` (why each
    /// route did not match, and the 404's reason) when none does.
    fn plain_gateway_plan(&self, gw: &'a Gateway) -> Result<Taken<'a>, ExplainError> {
        let uri = &self.request.uri;
        let resource = Resource::of_gateway(self.view.scenario);
        let Some((route, why)) = gateway_route(gw, uri, self.view.gateway_order.as_deref()) else {
            let (unit, what) = match resource {
                Resource::VirtualService => ("route", "uri"),
                Resource::HttpRoute => ("rule", "path"),
            };
            let skipped = (gw.routes.iter().enumerate())
                .map(|(i, r)| {
                    let uris: Vec<String> =
                        (r.uris.iter()).map(|m| resource.alternative(m)).collect();
                    format!(
                        "{unit} {}: {what} {uri} is not {}",
                        i + 1,
                        uris.join(" or ")
                    )
                })
                .collect();
            return Ok(Err((skipped, format!("no gateway route matches {uri}"))));
        };
        let target = &gw.routes[route - 1].service;
        let service = self.service(target)?;
        let plan = Plan {
            service,
            routing: Routing::Gateway {
                route,
                why,
                skipped: Vec::new(),
            },
            resource,
            rule: None,
            shares: spread(service, self.view.at),
            local: None,
        };
        Ok(Ok((target.to_string(), plan)))
    }

    /// How the gateway's VirtualService in force takes the request with
    /// `version_routing` (the routes `ingress::http` gives, as rendered):
    /// its first route the request meets — a rule of the service's routing
    /// ANDed with the gateway route's URIs, or a gateway route to a service
    /// no step has routed yet, without a subset. `Err` (why each route did
    /// not match, and the 404's reason) when none does.
    fn versioned_gateway_plan(&self, gw: &'a Gateway) -> Result<Taken<'a>, ExplainError> {
        let routes = &self.view.gateway_routes;
        let order: Vec<usize> = match (self.passed, &self.view.gateway_index) {
            (Passed::Unread, Some(index)) => index.candidates(self.known_values()),
            _ => (0..routes.len()).collect(),
        };
        let mut skipped = Vec::new();
        for http in order.into_iter().map(|i| &routes[i]) {
            let route = http.route + 1;
            let why = match self.gateway_match(http) {
                Ok(why) => why,
                Err(_) if self.passed == Passed::Unread => continue,
                Err(why_not) => {
                    let label = match http.place {
                        Some((i, of)) => format!("route {route}, rule {}/{of}", i + 1),
                        None => format!("route {route}"),
                    };
                    skipped.push(format!("{label}: {why_not}"));
                    continue;
                }
            };
            let service = self.service(http.service)?;
            let plan = match (http.rule, http.place) {
                (Some(rule), Some((i, of))) => Plan {
                    service,
                    routing: Routing::GatewayRule {
                        route,
                        rule: i + 1,
                        of,
                        why,
                        skipped,
                    },
                    resource: Resource::VirtualService,
                    rule: Some(rule),
                    shares: shares(rule),
                    local: None,
                },
                _ => Plan {
                    service,
                    routing: Routing::Gateway {
                        route,
                        why,
                        skipped,
                    },
                    resource: Resource::VirtualService,
                    rule: None,
                    shares: spread(service, self.view.at),
                    local: None,
                },
            };
            return Ok(Ok((http.service.to_owned(), plan)));
        }
        let reason = format!(
            "no route of the gateway's VirtualService {} matches",
            gw.virtual_service
        );
        Ok(Err((skipped, reason)))
    }

    /// Why the entering request meets one route of the gateway's
    /// VirtualService, or why not. Its match blocks are ORed; they share
    /// the rule's headers and method and differ only by URI (each of the
    /// gateway route's, ANDed with the rule's own), so the URI is looked at
    /// first, as the gateway route's own, and a miss is said once.
    fn gateway_match(&self, http: &ingress::HttpRoute<'_>) -> Result<String, String> {
        let Some(first) = http.matches.first() else {
            return Ok("no condition: every request".to_owned());
        };
        let uris: Vec<&StringMatch> = (http.matches.iter())
            .filter_map(|block| block.uri.as_ref())
            .collect();
        let mut uri = None;
        for m in &uris {
            if uri_matches(m, &self.request.uri)? {
                uri = Some(format!("uri {} {}", m.kind(), m.value()));
                break;
            }
        }
        if uri.is_none() && !uris.is_empty() {
            let wanted: Vec<String> = uris.iter().map(ToString::to_string).collect();
            return Err(format!(
                "uri {} is not {}",
                self.request.uri,
                wanted.join(" or ")
            ));
        }
        let mut why = self.headers_match(&first.headers)?;
        why.extend(uri);
        if let Some(method) = &first.method {
            if **method != *self.request.method {
                return Err(format!(
                    "needs method {method}, method is {}",
                    self.request.method
                ));
            }
            why.push(format!("method {method}"));
        }
        Ok(why.join(" and "))
    }

    /// How `service`'s routing in force takes the request: its first
    /// matching rule, or every deployed version when no VirtualService is
    /// in force, or a 404 when no rule matches.
    fn plan(&self, service: &'a Service, between_services: bool) -> Plan<'a> {
        let name = service.name.as_str();
        // With the Gateway API, a routing is an HTTPRoute unless it injects
        // a fault; with Istio's, always a VirtualService.
        let (resource, order) = if self.view.scenario.gateway_api() {
            match self.view.http_routes.get(name) {
                Some(order) => (Resource::HttpRoute, order.as_ref()),
                None if self.view.state.contains_key(name) => (Resource::VirtualService, None),
                None => (Resource::HttpRoute, None),
            }
        } else {
            (Resource::VirtualService, None)
        };
        let Some(routing) = self.view.state.get(name).copied() else {
            return Plan {
                service,
                routing: Routing::NoVirtualService,
                resource,
                rule: None,
                shares: spread(service, self.view.at),
                local: None,
            };
        };
        match self.select(routing, between_services, resource, order) {
            (None, skipped) => Plan {
                service,
                routing: Routing::NoMatch { skipped },
                resource,
                rule: None,
                shares: Vec::new(),
                local: Some(vec![(
                    1.0,
                    Resp {
                        latency: 0,
                        kind: Kind::Status {
                            code: 404,
                            at: name.to_owned(),
                            reason: format!("no rule of the {} {name} matches", resource.as_str()),
                        },
                        causes: BTreeSet::new(),
                    },
                )]),
            },
            (Some((index, why)), skipped) => {
                let rule = &routing.rules[index];
                Plan {
                    service,
                    routing: Routing::Rule {
                        rule: index + 1,
                        of: routing.rules.len(),
                        why,
                        skipped,
                    },
                    resource,
                    rule: Some(rule),
                    shares: shares(rule),
                    local: None,
                }
            }
        }
    }

    /// Works out the answer of `plan` and everything it depends on, depth
    /// first with an explicit stack; returns the answer's index. A call to
    /// a service whose answer is being worked out closes a cycle.
    fn run(&mut self, plan: Plan<'a>) -> Result<usize, ExplainError> {
        // The services whose answer is being worked out: the path.
        let mut on_path: BTreeSet<&str> = BTreeSet::from([plan.service.name.as_str()]);
        let mut stack = vec![Frame::Body {
            plan,
            next: 0,
            between: false,
        }];
        let mut root = 0;
        while let Some(top) = stack.last_mut() {
            match top {
                Frame::Body { plan, next, .. } => {
                    if let Some((name, _)) = plan.shares.get(*next) {
                        *next += 1;
                        let service = plan.service;
                        let at = self.view.at;
                        if let Some(version) = service.version(name).filter(|v| v.has_pods(at))
                            && !self
                                .versions
                                .contains_key(&(service.name.as_str(), version.name.as_str()))
                        {
                            stack.push(Frame::Version {
                                service,
                                version,
                                next: 0,
                            });
                        }
                        continue;
                    }
                }
                Frame::Version { version, next, .. } => {
                    if let Some(call) = version.calls.get(*next) {
                        *next += 1;
                        let callee = call.service.as_str();
                        if self.bodies.contains_key(callee) {
                            continue;
                        }
                        if on_path.contains(callee) {
                            let mut cycle: Vec<String> = stack
                                .iter()
                                .filter_map(|frame| match frame {
                                    Frame::Body { plan, .. } => Some(plan.service.name.to_string()),
                                    Frame::Version { .. } => None,
                                })
                                .collect();
                            cycle.push(callee.to_owned());
                            return Err(ExplainError::Cycle(cycle));
                        }
                        let service = self.service(callee)?;
                        on_path.insert(service.name.as_str());
                        let plan = self.plan(service, true);
                        stack.push(Frame::Body {
                            plan,
                            next: 0,
                            between: true,
                        });
                        continue;
                    }
                }
            }
            // Everything the top frame depends on is worked out.
            match stack.pop() {
                Some(Frame::Body { plan, between, .. }) => {
                    let name = plan.service.name.as_str();
                    on_path.remove(name);
                    let body = self.body(plan)?;
                    if between {
                        self.bodies.insert(name, body);
                    } else {
                        root = body;
                    }
                }
                Some(Frame::Version {
                    service, version, ..
                }) => {
                    let node = self.version(service, version)?;
                    self.versions
                        .insert((service.name.as_str(), version.name.as_str()), node);
                }
                None => {}
            }
        }
        Ok(root)
    }

    /// A service's answer once the versions it routes to have answered:
    /// each version's share of its answer (an undeployed subset answers
    /// 503), then the matched rule's route and fault.
    fn body(&mut self, plan: Plan<'a>) -> Result<usize, ExplainError> {
        let service = plan.service;
        let mut body = Body::new(plan.routing, plan.resource, Vec::new());
        if let Some(rule) = plan.rule {
            describe_rule(&mut body, rule);
        }
        let dist = if let Some(local) = plan.local {
            local
        } else if plan.shares.is_empty() {
            vec![(
                1.0,
                Resp {
                    latency: 0,
                    kind: Kind::Status {
                        code: 503,
                        at: service.name.to_string(),
                        reason: format!("no version of {} is deployed", service.name),
                    },
                    causes: BTreeSet::new(),
                },
            )]
        } else {
            let mut all = Vec::new();
            for (name, share) in &plan.shares {
                let node = service
                    .version(name)
                    .filter(|v| v.has_pods(self.view.at))
                    .and_then(|v| self.versions.get(&(service.name.as_str(), v.name.as_str())))
                    .copied();
                match node {
                    Some(node) => all.extend(
                        self.graph.versions[node]
                            .dist
                            .iter()
                            .map(|(p, r)| (p * share, r.clone())),
                    ),
                    None => all.push((
                        *share,
                        Resp {
                            latency: 0,
                            kind: Kind::Status {
                                code: 503,
                                at: service.name.to_string(),
                                reason: format!("{} {name} has no pods", service.name),
                            },
                            causes: BTreeSet::new(),
                        },
                    )),
                }
                body.branches.push(BranchNode {
                    version: name.clone(),
                    probability: *share,
                    deployed: node.is_some(),
                    node,
                });
            }
            let served = merge(all)?;
            match plan.rule {
                Some(rule) => fault(rule, &service.name, route(rule, &service.name, served)?)?,
                None => served,
            }
        };
        body.dist = dist;
        Ok(self.add_body(body))
    }

    /// What one version answers once the services it calls have: its calls
    /// in order, each after the caller's budget; a failed call is handled
    /// (the answer is degraded, not an error).
    fn version(&mut self, service: &Service, version: &Version) -> Result<usize, ExplainError> {
        let me = format!("{} {}", service.name, version.name);
        let served = self.graph.ctx.served(&me);
        let mut dist: Dist = vec![(
            1.0,
            Resp {
                latency: 0,
                kind: Kind::Ok {
                    served,
                    degraded: Seq::EMPTY,
                },
                causes: BTreeSet::new(),
            },
        )];
        let mut calls = Vec::new();
        for call in &version.calls {
            let Some(&body) = self.bodies.get(call.service.as_str()) else {
                return Err(ExplainError::UnknownEntry(call.service.to_string()));
            };
            let denial = (self.guard.as_ref()).and_then(|guard| {
                let principal = guard.service_principal(&service.name);
                guard.denial(principal.as_deref(), &call.service)
            });
            let answer = denial.as_ref().unwrap_or(&self.graph.bodies[body].dist);
            let result = client(Some(call), &call.service, answer)?;
            let mut next = Vec::new();
            for (p, before) in &dist {
                for (q, answer) in &result {
                    next.push((
                        p * q,
                        then(&mut self.graph.ctx, before, answer, &service.name, call),
                    ));
                }
            }
            dist = merge(next)?;
            self.graph.hops.push(HopNode {
                from: me.clone(),
                caller: Caller::Mesh,
                to: call.service.to_string(),
                budget: Some(Budget {
                    timeout: call.timeout.as_ref().map(|t| t.text.to_string()),
                    attempts: call.attempts,
                }),
                body,
                refused: denial.is_some(),
                dist: result,
            });
            calls.push(self.graph.hops.len() - 1);
        }
        self.graph.versions.push(VersionNode {
            label: me,
            calls,
            dist,
        });
        Ok(self.graph.versions.len() - 1)
    }

    /// The first rule of `routing` the request matches (0-based) and why;
    /// why each earlier rule does not, when the trace says so.
    /// The rules are read as `resource` reads them, in `order` when they
    /// are not tried in the file's (an HTTPRoute's precedence).
    fn select(
        &self,
        routing: &ServiceRouting,
        between_services: bool,
        resource: Resource,
        order: Option<&Order>,
    ) -> (Option<(usize, String)>, Vec<String>) {
        let rules = &routing.rules;
        let mut skipped = Vec::new();
        let matches = |i: usize| self.matches(&rules[i], between_services, resource);
        if self.passed == Passed::Unread {
            let first = match (self.view.indexes.get(routing.service.as_str()), order) {
                (Some(index), None) => (index.candidates(self.known_values()).into_iter())
                    .find_map(|i| Some((i, matches(i).ok()?))),
                (Some(index), Some(order)) => {
                    let mut candidates = index.candidates(self.known_values());
                    candidates.sort_unstable_by_key(|&i| order.place[i]);
                    (candidates.into_iter()).find_map(|i| Some((i, matches(i).ok()?)))
                }
                (None, None) => (0..rules.len()).find_map(|i| Some((i, matches(i).ok()?))),
                (None, Some(order)) => {
                    (order.tried.iter()).find_map(|&i| Some((i, matches(i).ok()?)))
                }
            };
            return (first, skipped);
        }
        let tried: Vec<usize> = match order {
            Some(order) => order.tried.clone(),
            None => (0..rules.len()).collect(),
        };
        for i in tried {
            match matches(i) {
                Ok(why) => return (Some((i, why)), skipped),
                Err(why_not) => skipped.push(format!("rule {}: {why_not}", i + 1)),
            }
        }
        (None, skipped)
    }

    /// The request's headers for `HeaderIndex::candidates`: each with its
    /// value when it has a literal one.
    fn known_values(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + '_ {
        self.headers.iter().map(|(name, value)| match value {
            HeaderValue::Literal(v) => (*name, Some(v.as_str())),
            HeaderValue::Satisfying(_) => (*name, None),
        })
    }

    /// The request's (first) value of header `name`.
    fn header(&self, name: &str) -> Option<&'a HeaderValue> {
        let at = self.headers.partition_point(|(n, _)| *n < name);
        (self.headers.get(at)).and_then(|(n, v)| (*n == name).then_some(*v))
    }

    /// Why the request matches `rule`, or why it does not.
    fn matches(
        &self,
        rule: &Rule,
        between_services: bool,
        resource: Resource,
    ) -> Result<String, String> {
        if rule.is_catch_all() {
            return Ok("no condition: every request".to_owned());
        }
        let mut why = self.headers_match(&rule.headers)?;
        if let Some(m) = &rule.uri {
            let wanted = resource.condition(m);
            if between_services {
                return Err(format!(
                    "needs {wanted}, the path of a call between services is unknown"
                ));
            }
            if !resource.uri_matches(m, &self.request.uri)? {
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
            if **method != *self.request.method {
                return Err(format!(
                    "needs method {method}, method is {}",
                    self.request.method
                ));
            }
            why.push(format!("method {method}"));
        }
        Ok(why.join(" and "))
    }

    /// Why the request's headers meet every one of `headers` (each
    /// condition, in order), or why the first one they do not.
    fn headers_match(
        &self,
        headers: &[(CompactString, StringMatch)],
    ) -> Result<Vec<String>, String> {
        let mut why = Vec::new();
        for (name, m) in headers {
            let wanted = format!("{name} {} {}", m.kind(), m.value());
            match self.header(name) {
                None => return Err(format!("needs {wanted}, no {name} header")),
                Some(HeaderValue::Literal(v)) => {
                    if string_matches(m, v)? {
                        why.push(wanted);
                    } else {
                        return Err(format!("needs {wanted}, {name} is {v}"));
                    }
                }
                Some(HeaderValue::Satisfying(s)) => {
                    if s == m {
                        why.push(wanted);
                    } else {
                        return Err(format!("needs {wanted}, {name} is only known to match {s}"));
                    }
                }
            }
        }
        Ok(why)
    }
}

impl Body {
    fn new(routing: Routing, resource: Resource, dist: Dist) -> Self {
        Self {
            routing,
            resource,
            branches: Vec::new(),
            delay: None,
            abort: None,
            timeout: None,
            retries: None,
            mirror: None,
            dist,
        }
    }
}

/// Each destination of `rule` with its share of the requests: its weight,
/// or all of them.
fn shares(rule: &Rule) -> Vec<(String, f64)> {
    (rule.destinations.iter())
        .map(|d| {
            (
                d.version.to_string(),
                f64::from(d.weight.unwrap_or(100)) / 100.0,
            )
        })
        .collect()
}

/// Shares of a service's versions with pods `at` a moment when nothing
/// routes by subset: by replicas (each pod gets an equal share), or equal
/// when none has any.
fn spread(service: &Service, at: Moment) -> Vec<(String, f64)> {
    let deployed: Vec<&Version> = service.versions.iter().filter(|v| v.has_pods(at)).collect();
    let total: u32 = deployed.iter().map(|v| v.replicas).sum();
    deployed
        .iter()
        .map(|v| {
            let share = if total == 0 {
                1.0 / deployed.len() as f64
            } else {
                f64::from(v.replicas) / f64::from(total)
            };
            (v.name.to_string(), share)
        })
        .collect()
}

/// The matched rule's fault, timeout, retries and mirror, as a hop shows them.
fn describe_rule(body: &mut Body, rule: &Rule) {
    body.delay = rule.delay.as_ref().map(|d| Fault {
        value: d.duration.text.to_string(),
        percent: d.percent,
    });
    body.abort = rule.abort.as_ref().map(|a| Fault {
        value: a.status.to_string(),
        percent: a.percent,
    });
    body.timeout = rule.timeout.as_ref().map(|t| t.text.to_string());
    body.retries = rule.retries.as_ref().map(|r| RetryPolicy {
        attempts: r.attempts,
        per_try_timeout: r.per_try_timeout.as_ref().map(|t| t.text.to_string()),
        retry_on: r.retry_on.as_ref().map(ToString::to_string),
    });
    body.mirror = rule.mirror.as_ref().map(|m| match m.percent {
        Some(p) => format!("{} ({p}%)", m.version),
        None => m.version.to_string(),
    });
}
