//! Explain: predicts, offline, what one request goes through at a step of a
//! rollout — at each hop the rule that matches and why, the version(s) that
//! serve it, the injected faults, the route's timeout and retries and the
//! caller's own client budget — and what the caller finally sees. This is the
//! one implementation of the outcome model (docs/explain.md): `meshgen
//! explain`, the build's warnings and the plan's predictions all use it.
//! Pure functions over `model::Scenario`; prints nothing, reads no file.
//!
//! This file holds the public types, the request's entry and classes, and
//! header and URI matching; `api` is which resource routes a hop (a
//! VirtualService or an HTTPRoute), how it reads paths and orders its
//! rules, and which proxy applies it; `view` is a scenario at one step, `trace` walks
//! one request through its routing, `policy` is what a hop's retries,
//! timeouts, fault and client budget do to its answer, `outcome` is the
//! algebra of what a hop answers, `check` is the build check, `text` puts an
//! explanation into words.

mod api;
mod check;
mod json;
mod outcome;
mod policy;
mod rbac;
#[cfg(test)]
mod tests;
mod text;
mod trace;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use compact_str::CompactString;
use serde::Serialize;

use crate::model::{Dataplane, Gateway, RoutingApi, Scenario, StringMatch};
use outcome::outcomes;
use trace::{Graph, Passed, trace};
use view::View;

pub use api::{Enforcement, Proxy, Resource, segment_prefix_matches};
pub use check::check;
pub use json::render_json;
pub use text::{probability, render_text};

/// The most distinct outcomes one hop may have before explain gives up.
pub const MAX_BRANCHES: usize = 4096;

/// The deepest trace `--output json` writes, in hops from the entry. Each
/// hop nests four levels deeper (hop, branches, branch, calls) and its
/// outcomes three more: 31 hops keep the document within the 128 levels
/// readers such as serde_json accept by default.
pub const MAX_JSON_DEPTH: usize = 31;

/// Largest compiled size of a header or URI regex (a guard against huge patterns).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Nanoseconds in a second.
const SECOND: u128 = 1_000_000_000;

/// A header value of the explained request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A concrete value (`--header end-user=jason`).
    Literal(String),
    /// Some value that satisfies this match (a header class made from a regex
    /// condition): it matches that very condition and no other.
    Satisfying(StringMatch),
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(v) => f.write_str(v),
            Self::Satisfying(m) => write!(f, "{m}"),
        }
    }
}

/// The request explain traces. Headers propagate along every call; the URI
/// and method are known only for the request that enters.
#[derive(Debug, Clone)]
pub struct Request {
    /// Header names (lower case) and values.
    pub headers: Vec<(String, HeaderValue)>,
    /// The entering request's path.
    pub uri: String,
    /// The entering request's method.
    pub method: String,
}

/// Where a request enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Through the scenario's ingress gateway.
    Gateway,
    /// Straight to a service, from a client inside the mesh.
    Service(String),
    /// A call from one service of the scenario to another, declared or
    /// not (`--from` and `--to`): with authorization, the caller's
    /// principal is checked.
    Call {
        /// The calling service.
        from: String,
        /// The called service.
        to: String,
    },
}

/// Why a request cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainError {
    /// `--step` names no step.
    UnknownStep {
        /// The name asked for.
        step: String,
        /// The scenario's steps.
        steps: Vec<String>,
    },
    /// `--entry` names no service.
    UnknownEntry(String),
    /// `--from` or `--to` names no service.
    UnknownService(String),
    /// `--entry gateway` on a scenario without a gateway.
    NoGateway,
    /// No entry was given and the gateway cannot take the request.
    NoDefaultEntry {
        /// The request's path.
        uri: String,
        /// Whether the scenario has a gateway at all.
        gateway: bool,
    },
    /// The declared calls loop (validation reports this as an error first).
    Cycle(Vec<String>),
    /// More than `MAX_BRANCHES` outcomes at one hop.
    TooManyBranches,
    /// A trace nested deeper than `MAX_JSON_DEPTH` hops, asked for as JSON.
    TooDeepForJson(usize),
    /// serde_json could not write a part of the explanation.
    Json(String),
}

impl fmt::Display for ExplainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownStep { step, steps } => write!(
                f,
                "no step `{step}` in the scenario (its steps: {})",
                steps.join(", ")
            ),
            Self::UnknownEntry(name) => write!(
                f,
                "--entry `{name}` is neither `gateway` nor a service of the scenario"
            ),
            Self::UnknownService(name) => {
                write!(f, "--from/--to `{name}` is not a service of the scenario")
            }
            Self::NoGateway => f.write_str("--entry gateway: the scenario has no gateway"),
            Self::NoDefaultEntry { uri, gateway: true } => write!(
                f,
                "no gateway route matches `{uri}`: give --entry SERVICE (or --entry gateway to \
                 see the 404)"
            ),
            Self::NoDefaultEntry { gateway: false, .. } => {
                f.write_str("the scenario has no gateway: give --entry SERVICE")
            }
            Self::Cycle(path) => write!(
                f,
                "the declared calls form a cycle ({}): a request would never end",
                path.join(" -> ")
            ),
            Self::TooManyBranches => write!(
                f,
                "more than {MAX_BRANCHES} distinct outcomes at one hop: too many to enumerate"
            ),
            Self::TooDeepForJson(depth) => write!(
                f,
                "the request goes {depth} calls deep: --output json nests the hops and lists \
                 the versions below each of them, which grows with the square of the depth, \
                 so it stops at {MAX_JSON_DEPTH}; --output text shows every hop once"
            ),
            Self::Json(e) => write!(f, "cannot write the explanation as JSON: {e}"),
        }
    }
}

impl std::error::Error for ExplainError {}

/// What explain found for one request. `render_text` and `render_json`
/// put it into words; `trace` walks its hops.
#[derive(Debug)]
pub struct Explanation {
    /// The scenario's name.
    pub scenario: String,
    /// The step whose routing state is used.
    pub step: String,
    /// `gateway <name>` or the entry service.
    pub entry: String,
    /// The entering request's method.
    pub method: String,
    /// The entering request's path.
    pub uri: String,
    /// The request's headers.
    pub headers: BTreeMap<String, String>,
    /// The API the scenario's routing is written in.
    pub routing_api: RoutingApi,
    /// Sidecars or ambient.
    pub dataplane: Dataplane,
    /// What the sender of the request sees, most likely first.
    pub outcomes: Vec<Outcome>,
    /// Every hop, each service's answer and each version's calls, once.
    graph: Graph,
}

impl Explanation {
    /// Whether the output shows the routing API, the data plane and each
    /// hop's enforcement: outside the default mode (Istio's API with
    /// sidecars), whose output stays as it always was.
    pub fn shows_enforcement(&self) -> bool {
        self.graph.shown.is_some()
    }

    /// The first hop (the request's entry), from which every call hangs.
    pub fn trace(&self) -> Hop<'_> {
        Hop {
            graph: &self.graph,
            id: self.graph.root,
        }
    }
}

/// One hop: a caller's request to a service, as its sidecar routes it. A
/// view into an explanation; a service reached on several paths answers
/// each with the same body (routing, versions, their calls).
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    graph: &'a Graph,
    id: usize,
}

impl<'a> Hop<'a> {
    fn node(&self) -> &'a trace::HopNode {
        &self.graph.hops[self.id]
    }

    fn body(&self) -> &'a trace::Body {
        &self.graph.bodies[self.node().body]
    }

    /// `gateway <name>`, `client`, or `<service> <version>`.
    pub fn from(&self) -> &'a str {
        &self.node().from
    }

    /// The called service.
    pub fn to(&self) -> &'a str {
        &self.node().to
    }

    /// The caller's own client timeout and attempts (from `calls`).
    pub fn budget(&self) -> Option<&'a Budget> {
        self.node().budget.as_ref()
    }

    /// How the hop was routed.
    pub fn routing(&self) -> &'a Routing {
        &self.body().routing
    }

    /// The resource whose rules the hop is read in (whether or not one is
    /// in force: see `enforcement`).
    pub fn resource(&self) -> Resource {
        self.body().resource
    }

    /// Which resource routes the hop and which proxy applies it; `None`
    /// in the default mode (Istio's API with sidecars), whose output does
    /// not show it.
    pub fn enforcement(&self) -> Option<Enforcement> {
        let shown = self.graph.shown.as_ref()?;
        let body = self.body();
        let (resource, name) = match (&body.routing, self.node().caller) {
            (Routing::NoVirtualService, _) => (None, self.to().to_owned()),
            (_, api::Caller::Gateway) => (
                Some(body.resource),
                shown.gateway_routes.clone().unwrap_or_default(),
            ),
            _ => (Some(body.resource), self.to().to_owned()),
        };
        let mut at = Enforcement::at(
            self.node().caller,
            self.from(),
            shown.dataplane,
            resource,
            name,
        );
        if matches!(body.routing, Routing::NoMatch { .. })
            && self.node().caller == api::Caller::Gateway
        {
            // The gateway answers 404 itself: nothing is carried on.
            at.tunnel = None;
        }
        Some(at)
    }

    /// The versions that serve it, with their probability and their own
    /// calls (none when the hop is refused: the request goes no further
    /// than the version's sidecar).
    pub fn branches(&self) -> Vec<Branch<'a>> {
        (0..self.body().branches.len())
            .map(|index| Branch {
                graph: self.graph,
                node: &self.body().branches[index],
                refused: self.node().refused,
            })
            .collect()
    }

    /// Injected delay of the matched rule.
    pub fn delay(&self) -> Option<&'a Fault> {
        self.body().delay.as_ref()
    }

    /// Injected abort of the matched rule.
    pub fn abort(&self) -> Option<&'a Fault> {
        self.body().abort.as_ref()
    }

    /// Route timeout of the matched rule.
    pub fn timeout(&self) -> Option<&'a str> {
        self.body().timeout.as_deref()
    }

    /// Route retries of the matched rule.
    pub fn retries(&self) -> Option<&'a RetryPolicy> {
        self.body().retries.as_ref()
    }

    /// Mirrored subset (never changes the outcome).
    pub fn mirror(&self) -> Option<&'a str> {
        self.body().mirror.as_deref()
    }

    /// What the caller sees, after its own budget, most likely first.
    pub fn outcomes(&self) -> Vec<Outcome> {
        outcomes(&self.graph.ctx, &self.node().dist)
    }
}

/// One version serving a hop.
#[derive(Debug, Clone, Copy)]
pub struct Branch<'a> {
    graph: &'a Graph,
    node: &'a trace::BranchNode,
    /// Whether the hop to it was refused: it then makes no call.
    refused: bool,
}

impl<'a> Branch<'a> {
    /// The version (subset).
    pub fn version(&self) -> &'a str {
        &self.node.version
    }

    /// Share of the hop's requests it gets.
    pub fn probability(&self) -> f64 {
        self.node.probability
    }

    /// Whether it has pods; an undeployed subset answers 503.
    pub fn deployed(&self) -> bool {
        self.node.deployed
    }

    /// `<service> <version>`, which names the version wherever it is reached.
    fn label(&self) -> Option<&'a str> {
        self.node
            .node
            .map(|v| self.graph.versions[v].label.as_str())
    }

    /// The calls it makes, in order: none for a refused hop.
    pub fn calls(&self) -> Vec<Hop<'a>> {
        (self.node.node)
            .filter(|_| !self.refused)
            .map(|v| {
                self.graph.versions[v]
                    .calls
                    .iter()
                    .map(|&id| Hop {
                        graph: self.graph,
                        id,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A caller's own client budget for one call.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// Client timeout per attempt.
    pub timeout: Option<String>,
    /// Attempts (1 = no retry).
    pub attempts: u32,
}

/// How a hop was routed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Routing {
    /// A route of the gateway's VirtualService: no subset.
    Gateway {
        /// 1-based route number.
        route: usize,
        /// Why it matched.
        why: String,
        /// With `version_routing`, why each earlier route of the gateway's
        /// VirtualService did not (left out when none was skipped).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<String>,
    },
    /// With `version_routing`: a route of the gateway's VirtualService that
    /// applies a rule of its service's routing in force, within the URIs of
    /// a gateway route.
    GatewayRule {
        /// 1-based number of the gateway route.
        route: usize,
        /// 1-based number of the service's rule.
        rule: usize,
        /// How many rules the service's routing has.
        of: usize,
        /// Why it matched.
        why: String,
        /// Why each earlier route of the gateway's VirtualService did not.
        skipped: Vec<String>,
    },
    /// A rule of the service's VirtualService in force.
    Rule {
        /// 1-based rule number.
        rule: usize,
        /// How many rules the VirtualService has.
        of: usize,
        /// Why it matched.
        why: String,
        /// Why each earlier rule did not.
        skipped: Vec<String>,
    },
    /// No VirtualService for the service is in force.
    NoVirtualService,
    /// Nothing matched: HTTP 404 at this hop.
    NoMatch {
        /// Why each rule or route did not match.
        skipped: Vec<String>,
    },
}

/// An injected fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// The delay (`7s`) or the HTTP status (`500`).
    pub value: String,
    /// Percent of requests.
    pub percent: f64,
}

/// A route's retry policy.
#[derive(Debug, Clone, Serialize)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub attempts: u32,
    /// Timeout of each try.
    pub per_try_timeout: Option<String>,
    /// Retry conditions.
    pub retry_on: Option<String>,
}

/// The result a caller sees, with its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Probability of this outcome.
    pub probability: f64,
    /// `ok` (possibly degraded), `error` (an HTTP error status) or `timeout`
    /// (the caller gave up within its budget).
    pub result: &'static str,
    /// The HTTP status, when there is a response.
    pub status: Option<u16>,
    /// Expected latency (injected delays and timeouts; services take no time).
    pub latency: String,
    /// Latency in seconds.
    pub seconds: f64,
    /// The hop that failed.
    pub at: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The versions whose answers make up the response, in call order, each
    /// once (where it first served).
    pub served: Vec<String>,
    /// Calls that failed and that their caller handled.
    pub degraded: Vec<Degradation>,
}

/// A failed call its caller handled (it still answers, without that part).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degradation {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// What went wrong.
    pub failure: String,
}

/// A class of requests the scenario's matches tell apart: the header
/// conditions of the rules it comes from, borrowed from them (a large mesh
/// may have as many classes as services). Its label and its request's
/// headers are made when it is traced.
#[derive(Debug, Clone, Copy)]
pub struct Class<'a> {
    /// The header conditions (none: everyone else).
    pub conditions: &'a [(CompactString, StringMatch)],
    /// The label of the class without conditions: `everyone`, or
    /// `everyone else` beside other classes.
    rest: &'static str,
}

impl Class<'_> {
    /// `end-user=jason`, `everyone else`.
    pub fn label(&self) -> String {
        if self.conditions.is_empty() {
            return self.rest.to_owned();
        }
        (self.conditions.iter())
            .map(|(name, m)| format!("{name}={m}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The headers a request of the class carries.
    pub fn headers(&self) -> Vec<(String, HeaderValue)> {
        (self.conditions.iter())
            .map(|(name, m)| {
                let value = match m {
                    StringMatch::Exact(v) | StringMatch::Prefix(v) => {
                        HeaderValue::Literal(v.to_string())
                    }
                    StringMatch::Regex(_) => HeaderValue::Satisfying(m.clone()),
                };
                (name.to_string(), value)
            })
            .collect()
    }
}

/// The predicted outcome of one class of requests at one step.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The class's label.
    pub class: String,
    /// Where the request enters (`gateway <name>` or a service).
    pub entry: String,
    /// The entering request (`GET /productpage`).
    pub request: String,
    /// What the sender sees.
    pub outcomes: Vec<Outcome>,
}

/// A step that makes a declared call fail, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The step's name.
    pub step: String,
    /// `step ratings-delay: the 7s delay on ratings exceeds …`.
    pub message: String,
}

/// Parses `NAME=VALUE` (a `--header`); the name is lower-cased, as HTTP/2 sends it.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_ascii_lowercase(), value.to_owned()))
        }
        _ => Err(format!(
            "`{}` is not NAME=VALUE",
            crate::printable::escape(text)
        )),
    }
}

/// The path of a request when none is given: the first exact URI of the
/// first gateway route, else its first prefix, else `/`.
pub fn default_uri(scenario: &Scenario) -> String {
    let Some(route) = scenario.gateway.as_ref().and_then(|g| g.routes.first()) else {
        return "/".to_owned();
    };
    let exact = route.uris.iter().find_map(|m| match m {
        StringMatch::Exact(v) => Some(v.to_string()),
        _ => None,
    });
    let prefix = route.uris.iter().find_map(|m| match m {
        StringMatch::Prefix(v) => Some(v.to_string()),
        _ => None,
    });
    exact.or(prefix).unwrap_or_else(|| "/".to_owned())
}

/// Traces `request` through the routing state after `step`. Without an
/// entry: the gateway, when there is one and a route of it takes the URI.
pub fn explain(
    scenario: &Scenario,
    step: &str,
    request: &Request,
    entry: Option<&Entry>,
) -> Result<Explanation, ExplainError> {
    let index = scenario
        .steps
        .iter()
        .position(|s| s.name == step)
        .ok_or_else(|| ExplainError::UnknownStep {
            step: step.to_owned(),
            steps: scenario.steps.iter().map(|s| s.name.clone()).collect(),
        })?;
    let entry = match entry {
        Some(Entry::Service(name)) if scenario.service(name).is_none() => {
            return Err(ExplainError::UnknownEntry(name.clone()));
        }
        Some(Entry::Call { from, to }) => {
            if let Some(name) = [from, to]
                .into_iter()
                .find(|n| scenario.service(n).is_none())
            {
                return Err(ExplainError::UnknownService(name.clone()));
            }
            Entry::Call {
                from: from.clone(),
                to: to.clone(),
            }
        }
        Some(Entry::Gateway) if scenario.gateway.is_none() => return Err(ExplainError::NoGateway),
        Some(entry) => entry.clone(),
        None => match &scenario.gateway {
            Some(gw) if gateway_route(gw, &request.uri, order(scenario).as_deref()).is_some() => {
                Entry::Gateway
            }
            gw => {
                return Err(ExplainError::NoDefaultEntry {
                    uri: request.uri.clone(),
                    gateway: gw.is_some(),
                });
            }
        },
    };
    let graph = trace(
        &View::new(scenario, index),
        request,
        &entry,
        Passed::Explained,
    )?;
    Ok(Explanation {
        scenario: scenario.name.clone(),
        step: step.to_owned(),
        entry: entry_label(scenario, &entry),
        method: request.method.clone(),
        uri: request.uri.clone(),
        headers: request
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.to_string()))
            .collect(),
        routing_api: scenario.mesh.routing_api,
        dataplane: scenario.mesh.dataplane,
        outcomes: outcomes(&graph.ctx, graph.outcome()),
        graph,
    })
}

/// The classes of requests the scenario's matches tell apart (as the plan's
/// table does): each distinct set of header conditions of a rule, in order of
/// first appearance, then everyone else (or everyone, when there is none).
/// A request of a class carries a value satisfying each condition.
pub fn classes(scenario: &Scenario) -> Vec<Class<'_>> {
    let seen = crate::routing::header_conditions(scenario);
    let rest = if seen.is_empty() {
        "everyone"
    } else {
        "everyone else"
    };
    let mut out: Vec<Class> = (seen.into_iter())
        .map(|conditions| Class { conditions, rest })
        .collect();
    out.push(Class {
        conditions: &[],
        rest,
    });
    out
}

/// Most classes traced per entry and step; beyond, only the classes of the
/// rules in force on the entry's path are (a scenario with a class per step
/// would otherwise cost steps x classes traces).
const MAX_CLASSES: usize = 20;

/// The services a request from `entry` can reach: the entry's, then every
/// declared call of any of their versions, transitively.
fn reach<'a>(scenario: &'a Scenario, entry: &Entry) -> BTreeSet<&'a str> {
    let mut todo: Vec<&str> = match (entry, &scenario.gateway) {
        (Entry::Gateway, Some(gw)) => gw.routes.iter().map(|r| r.service.as_str()).collect(),
        (Entry::Gateway, None) => Vec::new(),
        (Entry::Service(name) | Entry::Call { to: name, .. }, _) => scenario
            .service(name)
            .map(|s| s.name.as_str())
            .into_iter()
            .collect(),
    };
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(service) = scenario.service(name) {
            todo.extend(
                service
                    .versions
                    .iter()
                    .flat_map(|v| &v.calls)
                    .map(|c| c.service.as_str()),
            );
        }
    }
    seen
}

/// The classes worth tracing from an entry reaching `reach` at `view`'s
/// step: all of them when they are few, else those whose conditions a rule
/// in force on the path has, and everyone else.
fn relevant<'c, 's>(
    classes: &'c [Class<'s>],
    view: &View<'_>,
    reach: &BTreeSet<&str>,
) -> Vec<&'c Class<'s>> {
    if classes.len() <= MAX_CLASSES {
        return classes.iter().collect();
    }
    let key = |headers: &[(CompactString, StringMatch)]| -> Vec<(String, &'static str, String)> {
        headers
            .iter()
            .map(|(n, m)| (n.to_string(), m.kind(), m.value().to_owned()))
            .collect()
    };
    let in_force: BTreeSet<Vec<(String, &'static str, String)>> = reach
        .iter()
        .filter_map(|name| view.state.get(name))
        .flat_map(|routing| routing.rules.iter())
        .map(|rule| key(&rule.headers))
        .collect();
    classes
        .iter()
        .filter(|c| c.conditions.is_empty() || in_force.contains(&key(c.conditions)))
        .collect()
}

/// Where the plan and the build check send requests: the gateway (with the
/// default URI), when a route of it takes that URI, then every service that
/// neither the gateway nor a declared call reaches.
pub fn default_entries(scenario: &Scenario) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut reached: BTreeSet<&str> = scenario
        .services
        .iter()
        .flat_map(|s| &s.versions)
        .flat_map(|v| &v.calls)
        .map(|c| c.service.as_str())
        .collect();
    if let Some(gw) = &scenario.gateway {
        if gateway_route(gw, &default_uri(scenario), order(scenario).as_deref()).is_some() {
            entries.push(Entry::Gateway);
        }
        reached.extend(gw.routes.iter().map(|r| r.service.as_str()));
    }
    entries.extend(
        scenario
            .services
            .iter()
            .filter(|s| !reached.contains(s.name.as_str()))
            .map(|s| Entry::Service(s.name.to_string())),
    );
    entries
}

/// The predicted outcome of every class, from the first `limit` default
/// entries, after each step in turn (the plan's tables): one item per step.
/// The classes and entries are worked out once, and the routing in force is
/// folded one step at a time.
pub struct Predictions<'a> {
    scenario: &'a Scenario,
    view: View<'a>,
    classes: Vec<Class<'a>>,
    /// The entries, each with the services a request from it can reach.
    entries: Vec<(Entry, BTreeSet<&'a str>)>,
    /// How many default entries there are, beyond `limit` too.
    all_entries: usize,
    /// The entering request's path.
    uri: String,
    /// The step the next item is after.
    next: usize,
}

impl<'a> Predictions<'a> {
    /// The predictions of `scenario`'s steps, from its first `limit`
    /// default entries.
    pub fn new(scenario: &'a Scenario, limit: usize) -> Self {
        let all = default_entries(scenario);
        let all_entries = all.len();
        let entries = (all.into_iter().take(limit))
            .map(|entry| {
                let reach = reach(scenario, &entry);
                (entry, reach)
            })
            .collect();
        Self {
            scenario,
            view: View::before_steps(scenario),
            classes: classes(scenario),
            entries,
            all_entries,
            uri: default_uri(scenario),
            next: 0,
        }
    }

    /// How many default entries the scenario has, the ones past the limit
    /// too.
    pub fn all_entries(&self) -> usize {
        self.all_entries
    }
}

impl Iterator for Predictions<'_> {
    type Item = Result<Vec<Prediction>, ExplainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.scenario.steps.len() {
            return None;
        }
        self.view.advance(self.next);
        self.next += 1;
        let mut out = Vec::new();
        for (entry, reach) in &self.entries {
            for class in relevant(&self.classes, &self.view, reach) {
                let request = Request {
                    headers: class.headers(),
                    uri: self.uri.clone(),
                    method: "GET".to_owned(),
                };
                let graph = match trace(&self.view, &request, entry, Passed::Unread) {
                    Ok(graph) => graph,
                    Err(e) => return Some(Err(e)),
                };
                out.push(Prediction {
                    class: class.label(),
                    entry: entry_label(self.scenario, entry),
                    request: format!("GET {}", self.uri),
                    outcomes: outcomes(&graph.ctx, graph.outcome()),
                });
            }
        }
        Some(Ok(out))
    }
}

fn entry_label(scenario: &Scenario, entry: &Entry) -> String {
    match (entry, &scenario.gateway) {
        (Entry::Gateway, Some(gw)) => format!("gateway {}", gw.name),
        (Entry::Gateway, None) => "gateway".to_owned(),
        (Entry::Service(name), _) => name.clone(),
        (Entry::Call { from, to }, _) => format!("{from} -> {to}"),
    }
}

/// With the Gateway API, the gateway HTTPRoute's matches in the order
/// Istio tries them (`api::gateway_order`).
fn order(scenario: &Scenario) -> Option<Vec<(usize, Option<usize>)>> {
    (scenario.gateway.as_ref())
        .filter(|_| scenario.gateway_api())
        .map(api::gateway_order)
}

/// The first gateway route taking `uri` (1-based), and why: the first of
/// the gateway's VirtualService in order, or with `order` (the Gateway
/// API's) the first of its HTTPRoute's matches in that order.
fn gateway_route(
    gateway: &Gateway,
    uri: &str,
    order: Option<&[(usize, Option<usize>)]>,
) -> Option<(usize, String)> {
    if let Some(order) = order {
        let path = Resource::HttpRoute;
        return order.iter().find_map(|&(r, u)| {
            let Some(m) = u.and_then(|u| gateway.routes.get(r)?.uris.get(u)) else {
                return Some((r + 1, "no path condition: PathPrefix /".to_owned()));
            };
            path.uri_matches(m, uri)
                .unwrap_or(false)
                .then(|| (r + 1, path.condition(m)))
        });
    }
    gateway.routes.iter().enumerate().find_map(|(i, route)| {
        if route.uris.is_empty() {
            return Some((i + 1, "no uri condition".to_owned()));
        }
        route
            .uris
            .iter()
            .find(|m| uri_matches(m, uri).unwrap_or(false))
            .map(|m| (i + 1, format!("uri {} {}", m.kind(), m.value())))
    })
}

/// Whether the request's `uri` (its `:path`) satisfies the uri match `m` as
/// Envoy routes: an exact or regex match is against the path without its
/// query string, a prefix against the start of the whole `:path`.
fn uri_matches(m: &StringMatch, uri: &str) -> Result<bool, String> {
    match m {
        StringMatch::Prefix(_) => string_matches(m, uri),
        StringMatch::Exact(_) | StringMatch::Regex(_) => {
            string_matches(m, uri.split_once('?').map_or(uri, |(path, _)| path))
        }
    }
}

/// Whether `value` satisfies `m`; a regex must match the whole value (as
/// Envoy's RE2 matchers do), read by RE2's rules. `Err` for a regex that
/// cannot be matched here.
fn string_matches(m: &StringMatch, value: &str) -> Result<bool, String> {
    match m {
        StringMatch::Exact(v) => Ok(value == v),
        StringMatch::Prefix(v) => Ok(value.starts_with(v.as_str())),
        StringMatch::Regex(r) => whole_match(r).map(|re| re.is_match(value)),
    }
}

/// The `regex` crate's matcher of the whole values the RE2 pattern
/// `pattern` matches (Envoy's `FullMatch`). `Err` for a pattern RE2 or Istio
/// refuses (validation reports it first), or one past the crate's limits.
fn whole_match(pattern: &str) -> Result<regex::Regex, String> {
    let whole = crate::re2::whole_value(pattern)
        .map_err(|refusal| format!("regex {pattern} is {refusal}"))?;
    regex::RegexBuilder::new(&whole)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| format!("regex {pattern} is too large or too deep for explain to match"))
}
