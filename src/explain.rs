//! Explain: predicts, offline, what one request goes through at a step of a
//! rollout — at each hop the rule that matches and why, the version(s) that
//! serve it, the injected faults, the route's timeout and retries and the
//! caller's own client budget — and what the caller finally sees. This is the
//! one implementation of the outcome model (docs/explain.md): `meshgen
//! explain`, the build's warnings and the plan's predictions all use it.
//! Pure functions over `model::Scenario`; prints nothing, reads no file.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::model::{Call, Gateway, Rule, Scenario, Service, ServiceRouting, StringMatch, Version};

/// The most distinct outcomes one hop may have before explain gives up.
pub const MAX_BRANCHES: usize = 4096;

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
        }
    }
}

impl std::error::Error for ExplainError {}

/// What explain found for one request.
#[derive(Debug, Clone, Serialize)]
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
    /// The first hop, with every call below it.
    pub trace: Hop,
    /// What the sender of the request sees, most likely first.
    pub outcomes: Vec<Outcome>,
}

/// One hop: a caller's request to a service, as its sidecar routes it.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// `gateway <name>`, `client`, or `<service> <version>`.
    pub from: String,
    /// The called service.
    pub to: String,
    /// The caller's own client timeout and attempts (from `calls`).
    pub budget: Option<Budget>,
    /// How the hop was routed.
    pub routing: Routing,
    /// The versions that serve it, with their probability and their own calls.
    pub branches: Vec<Branch>,
    /// Injected delay of the matched rule.
    pub delay: Option<Fault>,
    /// Injected abort of the matched rule.
    pub abort: Option<Fault>,
    /// Route timeout of the matched rule.
    pub timeout: Option<String>,
    /// Route retries of the matched rule.
    pub retries: Option<RetryPolicy>,
    /// Mirrored subset (never changes the outcome).
    pub mirror: Option<String>,
    /// What the caller sees, after its own budget.
    pub outcomes: Vec<Outcome>,
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

/// One version serving a hop.
#[derive(Debug, Clone, Serialize)]
pub struct Branch {
    /// The version (subset).
    pub version: String,
    /// Share of the hop's requests it gets.
    pub probability: f64,
    /// Whether it has pods; an undeployed subset answers 503.
    pub deployed: bool,
    /// The calls it makes, in order.
    pub calls: Vec<Hop>,
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
    /// The versions whose answers make up the response, in call order.
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

impl Outcome {
    /// One line: `200 after 6s: productpage v1, details v1; reviews unavailable to …`.
    pub fn summary(&self) -> String {
        let after = if self.seconds > 0.0 {
            format!(" after {}", self.latency)
        } else {
            String::new()
        };
        match self.result {
            "ok" => {
                let mut text = format!(
                    "{}{after}: {}",
                    self.status.unwrap_or(200),
                    self.served.join(", ")
                );
                for d in &self.degraded {
                    let _ = write!(
                        text,
                        "; {} unavailable to {} ({})",
                        d.callee, d.caller, d.failure
                    );
                }
                text
            }
            "timeout" => format!(
                "gave up{after}: {}",
                self.reason.as_deref().unwrap_or_default()
            ),
            _ => format!(
                "HTTP {}{after} from {}: {}",
                self.status.unwrap_or_default(),
                self.at.as_deref().unwrap_or_default(),
                self.reason.as_deref().unwrap_or_default()
            ),
        }
    }

    /// A few words for a hop line: `ok after 7s`, `timed out …`, `HTTP 500 …`.
    fn short(&self) -> String {
        let after = if self.seconds > 0.0 {
            format!(" after {}", self.latency)
        } else {
            String::new()
        };
        match self.result {
            "ok" if self.degraded.is_empty() => format!("ok{after}"),
            "ok" => format!("ok{after}, degraded"),
            "timeout" => format!(
                "fails{after}: {}",
                self.reason.as_deref().unwrap_or_default()
            ),
            _ => format!(
                "fails{after}: HTTP {} from {}",
                self.status.unwrap_or_default(),
                self.at.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// A class of requests the scenario's matches tell apart.
#[derive(Debug, Clone)]
pub struct Class {
    /// `end-user=jason`, `everyone else`.
    pub label: String,
    /// The header conditions of the rule it comes from (none: everyone else).
    pub conditions: Vec<(String, StringMatch)>,
    /// The headers a request of the class carries.
    pub headers: Vec<(String, HeaderValue)>,
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
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// The path of a request when none is given: the first exact URI of the
/// first gateway route, else its first prefix, else `/`.
pub fn default_uri(scenario: &Scenario) -> String {
    let Some(route) = scenario.gateway.as_ref().and_then(|g| g.routes.first()) else {
        return "/".to_owned();
    };
    let exact = route.uris.iter().find_map(|m| match m {
        StringMatch::Exact(v) => Some(v.clone()),
        _ => None,
    });
    let prefix = route.uris.iter().find_map(|m| match m {
        StringMatch::Prefix(v) => Some(v.clone()),
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
        Some(Entry::Gateway) if scenario.gateway.is_none() => return Err(ExplainError::NoGateway),
        Some(entry) => entry.clone(),
        None => match &scenario.gateway {
            Some(gw) if gateway_route(gw, &request.uri).is_some() => Entry::Gateway,
            gw => {
                return Err(ExplainError::NoDefaultEntry {
                    uri: request.uri.clone(),
                    gateway: gw.is_some(),
                });
            }
        },
    };
    let (trace, dist) = trace(&View::new(scenario, index), request, &entry)?;
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
        trace,
        outcomes: outcomes(&dist),
    })
}

/// The classes of requests the scenario's matches tell apart (as the plan's
/// table does): each distinct set of header conditions of a rule, in order of
/// first appearance, then everyone else (or everyone, when there is none).
/// A request of a class carries a value satisfying each condition.
pub fn classes(scenario: &Scenario) -> Vec<Class> {
    // In order of first appearance; the set only tells which were seen.
    let mut seen: Vec<&Vec<(String, StringMatch)>> = Vec::new();
    let mut known: HashSet<&Vec<(String, StringMatch)>> = HashSet::new();
    for rule in scenario
        .steps
        .iter()
        .flat_map(|s| &s.routes)
        .flat_map(|r| &r.rules)
        .filter(|r| !r.headers.is_empty())
    {
        if known.insert(&rule.headers) {
            seen.push(&rule.headers);
        }
    }
    let mut out: Vec<Class> = seen
        .into_iter()
        .map(|headers| Class {
            conditions: headers.clone(),
            label: headers
                .iter()
                .map(|(name, m)| format!("{name}={m}"))
                .collect::<Vec<_>>()
                .join(", "),
            headers: headers
                .iter()
                .map(|(name, m)| {
                    let value = match m {
                        StringMatch::Exact(v) | StringMatch::Prefix(v) => {
                            HeaderValue::Literal(v.clone())
                        }
                        StringMatch::Regex(_) => HeaderValue::Satisfying(m.clone()),
                    };
                    (name.clone(), value)
                })
                .collect(),
        })
        .collect();
    let label = if out.is_empty() {
        "everyone"
    } else {
        "everyone else"
    };
    out.push(Class {
        label: label.to_owned(),
        conditions: Vec::new(),
        headers: Vec::new(),
    });
    out
}

/// Most classes traced per entry and step; beyond, only the classes of the
/// rules in force on the entry's path are (a scenario with a class per step
/// would otherwise cost steps x classes traces).
const MAX_CLASSES: usize = 20;

/// Most hops the build check traces in all before it stops.
const CHECK_BUDGET: u64 = 2_000_000;

/// The services a request from `entry` can reach: the entry's, then every
/// declared call of any of their versions, transitively.
fn reach<'a>(scenario: &'a Scenario, entry: &Entry) -> BTreeSet<&'a str> {
    let mut todo: Vec<&str> = match (entry, &scenario.gateway) {
        (Entry::Gateway, Some(gw)) => gw.routes.iter().map(|r| r.service.as_str()).collect(),
        (Entry::Gateway, None) => Vec::new(),
        (Entry::Service(name), _) => scenario
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
fn relevant<'c>(classes: &'c [Class], view: &View<'_>, reach: &BTreeSet<&str>) -> Vec<&'c Class> {
    if classes.len() <= MAX_CLASSES {
        return classes.iter().collect();
    }
    let key = |headers: &[(String, StringMatch)]| -> Vec<(String, &'static str, String)> {
        headers
            .iter()
            .map(|(n, m)| (n.clone(), m.kind(), m.value().to_owned()))
            .collect()
    };
    let in_force: BTreeSet<Vec<(String, &'static str, String)>> = reach
        .iter()
        .filter_map(|name| view.state.get(name))
        .flat_map(|routing| &routing.rules)
        .map(|rule| key(&rule.headers))
        .collect();
    classes
        .iter()
        .filter(|c| c.conditions.is_empty() || in_force.contains(&key(&c.conditions)))
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
        if gateway_route(gw, &default_uri(scenario)).is_some() {
            entries.push(Entry::Gateway);
        }
        reached.extend(gw.routes.iter().map(|r| r.service.as_str()));
    }
    entries.extend(
        scenario
            .services
            .iter()
            .filter(|s| !reached.contains(s.name.as_str()))
            .map(|s| Entry::Service(s.name.clone())),
    );
    entries
}

/// The predicted outcome of every class at step `step` (0-based), from the
/// first `limit` default entries.
pub fn predict(
    scenario: &Scenario,
    step: usize,
    limit: usize,
) -> Result<Vec<Prediction>, ExplainError> {
    let uri = default_uri(scenario);
    let view = View::new(scenario, step);
    let classes = classes(scenario);
    let mut out = Vec::new();
    for entry in default_entries(scenario).into_iter().take(limit) {
        let reach = reach(scenario, &entry);
        for class in relevant(&classes, &view, &reach) {
            let request = Request {
                headers: class.headers.clone(),
                uri: uri.clone(),
                method: "GET".to_owned(),
            };
            let (_, dist) = trace(&view, &request, &entry)?;
            out.push(Prediction {
                class: class.label.clone(),
                entry: entry_label(scenario, &entry),
                request: format!("GET {uri}"),
                outcomes: outcomes(&dist),
            });
        }
    }
    Ok(out)
}

/// Every step that makes a declared call fail for some class of requests,
/// with the hop and the numbers, in step order. From each default entry
/// whose path has declared calls, a step is traced when it names a service
/// on that path (a step that changes nothing there makes nothing fail).
/// Steps explain cannot trace (a cycle, too many branches) are left out:
/// validation reports cycles.
pub fn check(scenario: &Scenario) -> Vec<Finding> {
    let uri = default_uri(scenario);
    let classes = classes(scenario);
    // Entries whose path makes declared calls, with the services on it.
    let entries: Vec<(Entry, BTreeSet<&str>)> = default_entries(scenario)
        .into_iter()
        .map(|entry| {
            let reached = reach(scenario, &entry);
            (entry, reached)
        })
        .filter(|(_, reached)| {
            reached.iter().any(|name| {
                scenario
                    .service(name)
                    .is_some_and(|s| s.versions.iter().any(|v| !v.calls.is_empty()))
            })
        })
        .collect();
    let mut findings = Vec::new();
    if entries.is_empty() {
        return findings;
    }
    let mut hops = 0u64;
    // The routing state, folded one step at a time.
    let mut view = View::new(scenario, 0);
    view.state.clear();
    for step in &scenario.steps {
        for routing in &step.routes {
            view.state.insert(routing.service.as_str(), routing);
        }
        for (entry, reached) in &entries {
            if !step
                .routes
                .iter()
                .any(|r| reached.contains(r.service.as_str()))
            {
                continue;
            }
            for class in relevant(&classes, &view, reached) {
                if hops > CHECK_BUDGET {
                    findings.push(Finding {
                        step: step.name.clone(),
                        message: format!(
                            "step {}: the build check stops here: more than {CHECK_BUDGET} \
                             hops traced; `meshgen explain` still explains any step",
                            step.name
                        ),
                    });
                    return findings;
                }
                let request = Request {
                    headers: class.headers.clone(),
                    uri: uri.clone(),
                    method: "GET".to_owned(),
                };
                let Ok((trace, dist)) = trace(&view, &request, entry) else {
                    continue;
                };
                hops += count_hops(&trace);
                // Per failing call: its probability and its first failure.
                let mut failed: BTreeMap<(&str, &str), (f64, &Failed)> = BTreeMap::new();
                for (p, resp) in &dist {
                    let Kind::Ok { degraded, .. } = &resp.kind else {
                        continue;
                    };
                    let mut once = BTreeSet::new();
                    for f in degraded {
                        let key = (f.caller.as_str(), f.callee.as_str());
                        if once.insert(key) {
                            failed.entry(key).or_insert((0.0, f)).0 += p;
                        }
                    }
                }
                for (p, f) in failed.values() {
                    let message = format!(
                        "step {}: {}: {} will see an error{}",
                        step.name,
                        f.explain(),
                        class.label,
                        if *p >= 1.0 - 1e-9 {
                            String::new()
                        } else {
                            format!(" with probability {}", probability(*p))
                        }
                    );
                    let finding = Finding {
                        step: step.name.clone(),
                        message,
                    };
                    if !findings.contains(&finding) {
                        findings.push(finding);
                    }
                }
            }
        }
    }
    findings
}

/// Hops in a trace, for the build check's budget.
fn count_hops(hop: &Hop) -> u64 {
    1 + hop
        .branches
        .iter()
        .flat_map(|b| &b.calls)
        .map(count_hops)
        .sum::<u64>()
}

/// The explanation as a short tree, one line per hop, then the outcomes.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    let mut request = format!("{} {}", e.method, e.uri);
    if !e.headers.is_empty() {
        let headers: Vec<String> = e.headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let _ = write!(request, " with {}", headers.join(", "));
    }
    let _ = writeln!(out, "step {}: {request}, entering at {}", e.step, e.entry);
    hop_lines(&mut out, &e.trace, "", "");
    out.push_str("outcome:\n");
    for o in &e.outcomes {
        let _ = writeln!(out, "  p={}: {}", probability(o.probability), o.summary());
    }
    out
}

fn hop_lines(out: &mut String, hop: &Hop, first: &str, rest: &str) {
    let mut line = format!("{first}{} -> {}: ", hop.from, hop.to);
    match &hop.routing {
        Routing::Gateway { route, why } => {
            let _ = write!(line, "gateway route {route} ({why})");
        }
        Routing::Rule {
            rule,
            of,
            why,
            skipped,
        } => {
            let _ = write!(line, "rule {rule}/{of} ({why})");
            if !skipped.is_empty() {
                let _ = write!(line, " [skipped {}]", skipped.join("; "));
            }
        }
        Routing::NoVirtualService => line.push_str("no VirtualService"),
        Routing::NoMatch { skipped } => {
            let _ = write!(line, "no rule matches [{}]", skipped.join("; "));
        }
    }
    if !hop.branches.is_empty() {
        let versions: Vec<String> = hop
            .branches
            .iter()
            .map(|b| {
                let mut v = b.version.clone();
                if hop.branches.len() > 1 {
                    let _ = write!(v, " p={}", probability(b.probability));
                }
                if !b.deployed {
                    v.push_str(" (no pods)");
                }
                v
            })
            .collect();
        let _ = write!(line, " -> {}", versions.join(", "));
        if matches!(
            hop.routing,
            Routing::NoVirtualService | Routing::Gateway { .. }
        ) {
            line.push_str(" (no subset: deployed versions by replicas)");
        }
    }
    if let Some(d) = &hop.delay {
        let _ = write!(line, " | delay {} ({}%)", d.value, d.percent);
    }
    if let Some(a) = &hop.abort {
        let _ = write!(line, " | abort {} ({}%)", a.value, a.percent);
    }
    if let Some(t) = &hop.timeout {
        let _ = write!(line, " | route timeout {t}");
    }
    if let Some(r) = &hop.retries {
        let _ = write!(line, " | retries {}", r.attempts);
        if let Some(t) = &r.per_try_timeout {
            let _ = write!(line, " x {t}");
        }
        if let Some(on) = &r.retry_on {
            let _ = write!(line, " on {on}");
        }
    }
    if let Some(m) = &hop.mirror {
        let _ = write!(line, " | mirror {m} (ignored for the outcome)");
    }
    if let Some(b) = &hop.budget {
        let _ = write!(
            line,
            " | client {} x {}",
            attempts(b.attempts),
            b.timeout.as_deref().unwrap_or("no timeout")
        );
    }
    // Outcomes that read the same on a hop line are summed.
    let mut shorts: Vec<(String, f64)> = Vec::new();
    for o in &hop.outcomes {
        let short = o.short();
        match shorts.iter_mut().find(|(s, _)| *s == short) {
            Some((_, p)) => *p += o.probability,
            None => shorts.push((short, o.probability)),
        }
    }
    let results: Vec<String> = shorts
        .iter()
        .map(|(short, p)| {
            if shorts.len() > 1 {
                format!("{short} (p={})", probability(*p))
            } else {
                short.clone()
            }
        })
        .collect();
    let _ = writeln!(line, " => {}", results.join(", "));
    out.push_str(&line);
    // Children: the calls of a lone version, or one node per version.
    let split = hop.branches.len() > 1;
    let children: Vec<(Option<&Branch>, Option<&Hop>)> = if split {
        hop.branches.iter().map(|b| (Some(b), None)).collect()
    } else {
        hop.branches
            .iter()
            .flat_map(|b| &b.calls)
            .map(|c| (None, Some(c)))
            .collect()
    };
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (head, tail) = if last { ("`- ", "   ") } else { ("|- ", "|  ") };
        match child {
            (Some(branch), _) => {
                let _ = writeln!(
                    out,
                    "{rest}{head}[{} {} p={}]{}",
                    hop.to,
                    branch.version,
                    probability(branch.probability),
                    if branch.calls.is_empty() {
                        " no calls"
                    } else {
                        ""
                    }
                );
                let inner = format!("{rest}{tail}");
                for (j, call) in branch.calls.iter().enumerate() {
                    let (h, t) = if j + 1 == branch.calls.len() {
                        ("`- ", "   ")
                    } else {
                        ("|- ", "|  ")
                    };
                    hop_lines(out, call, &format!("{inner}{h}"), &format!("{inner}{t}"));
                }
            }
            (None, Some(call)) => {
                hop_lines(
                    out,
                    call,
                    &format!("{rest}{head}"),
                    &format!("{rest}{tail}"),
                );
            }
            _ => {}
        }
    }
}

/// `1 attempt`, `2 attempts`.
fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

/// A probability with at most four decimals: `1`, `0.5`, `0.875`.
pub fn probability(p: f64) -> String {
    let text = format!("{:.4}", p.clamp(0.0, 1.0));
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A latency in nanoseconds as a duration: `0s`, `500ms`, `6s`, `2.5s`.
fn latency(nanos: u128) -> String {
    if nanos.is_multiple_of(SECOND) {
        format!("{}s", nanos / SECOND)
    } else if nanos < SECOND && nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else {
        let text = format!("{:.3}", nanos as f64 / 1e9);
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// `service's`, `reviews'`.
fn possessive(name: &str) -> String {
    if name.ends_with('s') {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

fn entry_label(scenario: &Scenario, entry: &Entry) -> String {
    match (entry, &scenario.gateway) {
        (Entry::Gateway, Some(gw)) => format!("gateway {}", gw.name),
        (Entry::Gateway, None) => "gateway".to_owned(),
        (Entry::Service(name), _) => name.clone(),
    }
}

/// The first gateway route taking `uri` (1-based), and why.
fn gateway_route(gateway: &Gateway, uri: &str) -> Option<(usize, String)> {
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
/// Envoy's RE2 matchers do). `Err` for a regex that does not compile.
fn string_matches(m: &StringMatch, value: &str) -> Result<bool, String> {
    match m {
        StringMatch::Exact(v) => Ok(value == v),
        StringMatch::Prefix(v) => Ok(value.starts_with(v.as_str())),
        StringMatch::Regex(r) => regex::RegexBuilder::new(&format!("^(?:{r})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|re| re.is_match(value))
            .map_err(|_| format!("regex {r} does not compile")),
    }
}

/// One response a hop may give, without its probability.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Resp {
    /// Nanoseconds until the caller has it.
    latency: u128,
    kind: Kind,
    /// The faults and timeouts that shaped it, in words.
    causes: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// An answer; calls that failed inside are listed as degraded.
    Ok {
        served: Vec<String>,
        degraded: Vec<Failed>,
    },
    /// An HTTP error status made at hop `at`.
    Status {
        code: u16,
        at: String,
        reason: String,
    },
    /// The caller's client gave up: every attempt outlasted its timeout.
    GaveUp {
        callee: String,
        attempts: u32,
        timeout: u128,
        /// When the callee would have answered.
        answer: u128,
    },
}

/// A call that failed and that its caller handled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Failed {
    caller: String,
    callee: String,
    attempts: u32,
    timeout: Option<u128>,
    /// `Status` or `GaveUp`.
    kind: Kind,
    causes: BTreeSet<String>,
}

impl Failed {
    /// The failure for the build check: the causes, the hop, the numbers.
    fn explain(&self) -> String {
        let causes: Vec<&str> = self
            .causes
            .iter()
            .filter(|c| !c.contains("timeout"))
            .map(String::as_str)
            .collect();
        let timeouts: Vec<&str> = self
            .causes
            .iter()
            .filter(|c| c.contains("timeout"))
            .map(String::as_str)
            .collect();
        match &self.kind {
            Kind::GaveUp {
                attempts: n,
                timeout,
                answer,
                ..
            } => {
                let what = if causes.is_empty() {
                    format!("{} answering after {}", self.callee, latency(*answer))
                } else {
                    causes.join(" and ")
                };
                format!(
                    "{what} {} {} budget for {} ({} x {})",
                    if causes.len() > 1 {
                        "exceed"
                    } else {
                        "exceeds"
                    },
                    possessive(&self.caller),
                    self.callee,
                    attempts(*n),
                    latency(*timeout)
                )
            }
            Kind::Status { code, at, reason } => {
                let mut all = causes;
                all.extend(timeouts);
                let because = if all.is_empty() {
                    format!("{reason} at {at}")
                } else {
                    all.join(" and ")
                };
                format!(
                    "{because} {} the call from {} to {} fail with HTTP {code} ({})",
                    if all.len() > 1 { "make" } else { "makes" },
                    self.caller,
                    self.callee,
                    match self.timeout {
                        Some(t) => format!("{} x {}", attempts(self.attempts), latency(t)),
                        None => attempts(self.attempts),
                    }
                )
            }
            Kind::Ok { .. } => format!("the call from {} to {}", self.caller, self.callee),
        }
    }

    /// A few words for the plan and the outcome lines.
    fn failure(&self) -> String {
        match &self.kind {
            Kind::GaveUp {
                attempts: n,
                timeout,
                answer,
                ..
            } => format!(
                "timed out: {} x {}; {} answers after {}",
                attempts(*n),
                latency(*timeout),
                self.callee,
                latency(*answer)
            ),
            Kind::Status { code, at, reason } => {
                format!(
                    "HTTP {code} from {at}: {reason}; {}",
                    attempts(self.attempts)
                )
            }
            Kind::Ok { .. } => String::new(),
        }
    }
}

type Dist = Vec<(f64, Resp)>;

/// Sums the probabilities of equal responses; drops impossible ones.
fn merge(entries: Dist) -> Result<Dist, ExplainError> {
    let mut merged: BTreeMap<Resp, f64> = BTreeMap::new();
    for (p, r) in entries {
        if p > 0.0 {
            *merged.entry(r).or_insert(0.0) += p;
        }
    }
    if merged.len() > MAX_BRANCHES {
        return Err(ExplainError::TooManyBranches);
    }
    Ok(merged.into_iter().map(|(r, p)| (p, r)).collect())
}

/// The public form of a distribution, most likely first.
fn outcomes(dist: &Dist) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = dist
        .iter()
        .map(|(p, r)| {
            let mut o = Outcome {
                probability: (p * 1e12).round() / 1e12,
                result: "ok",
                status: None,
                latency: latency(r.latency),
                seconds: r.latency as f64 / 1e9,
                at: None,
                reason: None,
                served: Vec::new(),
                degraded: Vec::new(),
            };
            match &r.kind {
                Kind::Ok { served, degraded } => {
                    o.status = Some(200);
                    o.served = served.clone();
                    o.degraded = degraded
                        .iter()
                        .map(|f| Degradation {
                            caller: f.caller.clone(),
                            callee: f.callee.clone(),
                            failure: f.failure(),
                        })
                        .collect();
                }
                Kind::Status { code, at, reason } => {
                    o.result = "error";
                    o.status = Some(*code);
                    o.at = Some(at.clone());
                    o.reason = Some(reason.clone());
                }
                Kind::GaveUp {
                    callee,
                    attempts: n,
                    timeout,
                    answer,
                } => {
                    o.result = "timeout";
                    o.at = Some(callee.clone());
                    o.reason = Some(format!(
                        "timed out: {} x {}; {callee} answers after {}",
                        attempts(*n),
                        latency(*timeout),
                        latency(*answer)
                    ));
                }
            }
            o
        })
        .collect();
    // Stable: equal probabilities keep the distribution's order.
    out.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    out
}

/// A scenario at one step: its services by name and the routing in force.
struct View<'a> {
    scenario: &'a Scenario,
    services: BTreeMap<&'a str, &'a Service>,
    state: BTreeMap<&'a str, &'a ServiceRouting>,
}

impl<'a> View<'a> {
    fn new(scenario: &'a Scenario, step: usize) -> Self {
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
fn trace(view: &View<'_>, request: &Request, entry: &Entry) -> Result<(Hop, Dist), ExplainError> {
    let tracer = Tracer { view, request };
    let mut path = Vec::new();
    match (entry, &view.scenario.gateway) {
        (Entry::Gateway, Some(gw)) => tracer.gateway(gw, &mut path),
        (Entry::Gateway, None) => Err(ExplainError::NoGateway),
        (Entry::Service(name), _) => tracer.call("client", None, name, &mut path),
    }
}

struct Tracer<'a> {
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

/// Attempts still to be made: probability, time spent, causes so far.
type Pending = Vec<(f64, u128, BTreeSet<String>)>;

/// Sums equal pending retries.
fn merge_pending(entries: Pending) -> Result<Pending, ExplainError> {
    let mut merged: BTreeMap<(u128, BTreeSet<String>), f64> = BTreeMap::new();
    for (p, latency, causes) in entries {
        *merged.entry((latency, causes)).or_insert(0.0) += p;
    }
    if merged.len() > MAX_BRANCHES {
        return Err(ExplainError::TooManyBranches);
    }
    Ok(merged.into_iter().map(|((l, c), p)| (p, l, c)).collect())
}

/// `before` (an answer so far) followed by the result of `call`.
fn then(before: &Resp, answer: &Resp, caller: &str, call: &Call) -> Resp {
    let mut causes = before.causes.clone();
    causes.extend(answer.causes.iter().cloned());
    let kind = match (&before.kind, &answer.kind) {
        (
            Kind::Ok { served, degraded },
            Kind::Ok {
                served: more,
                degraded: worse,
            },
        ) => Kind::Ok {
            served: served.iter().chain(more).cloned().collect(),
            degraded: degraded.iter().chain(worse).cloned().collect(),
        },
        (Kind::Ok { served, degraded }, failure) => {
            let mut degraded = degraded.clone();
            degraded.push(Failed {
                caller: caller.to_owned(),
                callee: call.service.clone(),
                attempts: call.attempts,
                timeout: call.timeout.as_ref().map(|t| t.nanos),
                kind: failure.clone(),
                causes: answer.causes.clone(),
            });
            Kind::Ok {
                served: served.clone(),
                degraded,
            }
        }
        (other, _) => other.clone(),
    };
    Resp {
        latency: before.latency + answer.latency,
        kind,
        causes,
    }
}

/// Shares of a service's deployed versions when nothing routes by subset:
/// by replicas (each pod gets an equal share), or equal when none has any.
fn spread(service: &Service) -> Vec<(String, f64)> {
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

fn describe_rule(hop: &mut Hop, rule: &Rule) {
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
fn route(rule: &Rule, service: &str, upstream: Dist) -> Result<Dist, ExplainError> {
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
fn applied_or_not<T>(percent: f64, fault: T) -> Vec<(f64, Option<T>)> {
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
fn fault(rule: &Rule, service: &str, routed: Dist) -> Result<Dist, ExplainError> {
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
fn percent_note(percent: f64) -> String {
    if percent >= 100.0 {
        String::new()
    } else {
        format!(" ({percent}%)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::valid_model as model;

    const BOOKINFO: &str = include_str!("../scenarios/bookinfo.toml");

    /// `front` (v1) calls `back` with `budget`; `back` has v1 and v2; one
    /// step with `routes` (TOML of `[[steps.routes]]` tables).
    fn two_services(budget: &str, routes: &str) -> Scenario {
        model(&format!(
            r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
calls = [ {{ service = "back"{budget} }} ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "back"
port = 80
  [services.versions.v1]
  image = "x/back:1"
  [services.versions.v2]
  image = "x/back:2"
[[steps]]
name = "s"
{routes}
"#
        ))
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), HeaderValue::Literal((*v).to_owned())))
                .collect(),
            uri: "/productpage".to_owned(),
            method: "GET".to_owned(),
        }
    }

    fn run(
        scenario: &Scenario,
        step: &str,
        headers: &[(&str, &str)],
        entry: Option<&Entry>,
    ) -> Explanation {
        explain(scenario, step, &request(headers), entry).expect("explains")
    }

    fn front(scenario: &Scenario) -> Explanation {
        run(
            scenario,
            "s",
            &[],
            Some(&Entry::Service("front".to_owned())),
        )
    }

    /// (probability, result, latency) of every outcome.
    fn summary(e: &Explanation) -> Vec<(String, &'static str, String)> {
        e.outcomes
            .iter()
            .map(|o| (probability(o.probability), o.result, o.latency.clone()))
            .collect()
    }

    #[test]
    fn the_fold_takes_each_services_routing_from_the_last_step_naming_it() {
        let bookinfo = model(BOOKINFO);
        let ratings = |k| {
            bookinfo
                .routing_state(k)
                .get("ratings")
                .map(|r| r.rules.len())
        };
        // all-v1 (1 rule), jason-v2 leaves ratings alone, ratings-delay (2 rules).
        assert_eq!(
            [ratings(0), ratings(1), ratings(2)],
            [Some(1), Some(1), Some(2)]
        );
        let state = bookinfo.routing_state(2);
        let reviews = state.get("reviews").expect("in force");
        assert_eq!(
            reviews.rules.len(),
            2,
            "jason-v2's reviews routing is still in force"
        );
    }

    #[test]
    fn bookinfo_jason_v2_sends_jason_to_reviews_v2_and_everyone_else_to_v1() {
        let bookinfo = model(BOOKINFO);
        let jason = run(&bookinfo, "jason-v2", &[("end-user", "jason")], None);
        assert_eq!(jason.entry, "gateway bookinfo-gateway");
        assert_eq!(jason.outcomes.len(), 1);
        assert_eq!(
            jason.outcomes[0].served,
            ["productpage v1", "details v1", "reviews v2", "ratings v1"]
        );
        let anyone = run(&bookinfo, "jason-v2", &[], None);
        assert_eq!(
            anyone.outcomes[0].served,
            ["productpage v1", "details v1", "reviews v1"]
        );
    }

    #[test]
    fn bookinfo_ratings_delay_makes_productpage_give_up_on_reviews_after_two_3s_attempts() {
        let bookinfo = model(BOOKINFO);
        let jason = run(&bookinfo, "ratings-delay", &[("end-user", "jason")], None);
        assert_eq!(summary(&jason), [("1".to_owned(), "ok", "6s".to_owned())]);
        let page = &jason.outcomes[0];
        assert_eq!(page.served, ["productpage v1", "details v1"]);
        assert_eq!(
            page.degraded,
            [Degradation {
                caller: "productpage".to_owned(),
                callee: "reviews".to_owned(),
                failure: "timed out: 2 attempts x 3s; reviews answers after 7s".to_owned(),
            }]
        );
        // reviews v2 itself waits the 7 s for ratings: its 10 s budget holds.
        let reviews = &jason.trace.branches[0].calls[1];
        let ratings = &reviews.branches[0].calls[0];
        assert_eq!(ratings.outcomes[0].latency, "7s");
        assert_eq!(ratings.outcomes[0].result, "ok");
        let anyone = run(&bookinfo, "ratings-delay", &[], None);
        assert_eq!(summary(&anyone), [("1".to_owned(), "ok", "0s".to_owned())]);
        assert!(anyone.outcomes[0].degraded.is_empty());
    }

    #[test]
    fn bookinfo_ratings_abort_leaves_reviews_without_ratings_for_jason_only() {
        let bookinfo = model(BOOKINFO);
        let jason = run(&bookinfo, "ratings-abort", &[("end-user", "jason")], None);
        let page = &jason.outcomes[0];
        assert_eq!((page.result, page.status), ("ok", Some(200)));
        assert_eq!(page.served, ["productpage v1", "details v1", "reviews v2"]);
        assert_eq!(page.degraded.len(), 1);
        assert_eq!(
            (
                page.degraded[0].caller.as_str(),
                page.degraded[0].callee.as_str()
            ),
            ("reviews", "ratings")
        );
        assert!(
            page.degraded[0]
                .failure
                .starts_with("HTTP 500 from ratings")
        );
        let anyone = run(&bookinfo, "ratings-abort", &[], None);
        assert!(anyone.outcomes[0].degraded.is_empty());
    }

    #[test]
    fn bookinfo_reviews_50_v3_serves_v1_or_v3_with_even_odds() {
        let bookinfo = model(BOOKINFO);
        let e = run(&bookinfo, "reviews-50-v3", &[], None);
        let served: Vec<(String, Vec<String>)> = e
            .outcomes
            .iter()
            .map(|o| (probability(o.probability), o.served.clone()))
            .collect();
        assert_eq!(served.len(), 2);
        assert!(served.contains(&(
            "0.5".to_owned(),
            vec![
                "productpage v1".into(),
                "details v1".into(),
                "reviews v1".into()
            ]
        )));
        assert!(served.contains(&(
            "0.5".to_owned(),
            vec![
                "productpage v1".into(),
                "details v1".into(),
                "reviews v3".into(),
                "ratings v1".into()
            ]
        )));
    }

    #[test]
    fn the_build_check_warns_about_the_two_bookinfo_fault_steps_for_jason_only() {
        let messages: Vec<String> = check(&model(BOOKINFO))
            .into_iter()
            .map(|f| f.message)
            .collect();
        assert_eq!(
            messages,
            [
                "step ratings-delay: the 7s delay on ratings exceeds productpage's budget for \
                 reviews (2 attempts x 3s): end-user=jason will see an error",
                "step ratings-abort: the HTTP 500 abort on ratings makes the call from reviews to \
                 ratings fail with HTTP 500 (1 attempt x 10s): end-user=jason will see an error",
            ]
        );
    }

    #[test]
    fn a_weighted_split_gives_each_version_its_weight() {
        let s = two_services(
            "",
            "[[steps.routes]]\nservice = \"back\"\nto = { v1 = 20, v2 = 80 }",
        );
        let e = front(&s);
        let got: Vec<(String, Vec<String>)> = e
            .outcomes
            .iter()
            .map(|o| (probability(o.probability), o.served.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "0.8".to_owned(),
                    vec!["front v1".to_owned(), "back v2".to_owned()]
                ),
                (
                    "0.2".to_owned(),
                    vec!["front v1".to_owned(), "back v1".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn a_mirror_never_changes_the_outcome() {
        let plain = two_services(
            ", timeout = \"1s\"",
            "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"2s\"\ndelay_percent = 50",
        );
        let mirrored = two_services(
            ", timeout = \"1s\"",
            "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"2s\"\ndelay_percent = 50\n\
             mirror = \"v2\"\nmirror_percent = 100",
        );
        let (a, b) = (front(&plain), front(&mirrored));
        assert_eq!(a.outcomes, b.outcomes);
        assert_eq!(
            b.trace.branches[0].calls[0].mirror.as_deref(),
            Some("v2 (100%)")
        );
    }

    #[test]
    fn client_attempts_rescue_a_partial_abort() {
        // 50% abort, 3 attempts of the caller: 1 - 0.5^3 succeed.
        let s = two_services(
            ", attempts = 3",
            "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\nabort = 503\nabort_percent = 50",
        );
        let e = front(&s);
        let ok: f64 = e
            .outcomes
            .iter()
            .filter(|o| o.degraded.is_empty())
            .map(|o| o.probability)
            .sum();
        assert!((ok - (1.0 - 0.5f64.powi(3))).abs() < 1e-12, "{ok}");
        assert_eq!(probability(ok), "0.875");
    }

    #[test]
    fn route_retries_do_not_retry_an_injected_abort() {
        // Istio: faults are applied before the router; its retries never see them.
        let s = two_services(
            "",
            "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\nabort = 503\nabort_percent = 50\n\
             retries = 2\nretry_on = \"5xx\"",
        );
        let e = front(&s);
        let ok: f64 = e
            .outcomes
            .iter()
            .filter(|o| o.degraded.is_empty())
            .map(|o| o.probability)
            .sum();
        assert_eq!(probability(ok), "0.5");
    }

    #[test]
    fn route_retries_with_a_per_try_timeout_rescue_a_partial_delay_downstream() {
        // front -> back (retries 2 x 1s on 5xx) -> v2 of back is slow half the
        // time because its own callee is delayed.
        let s = model(
            r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "back"
port = 80
calls = [ { service = "deep" } ]
  [services.versions.v1]
  image = "x/back:1"
[[services]]
name = "deep"
port = 80
  [services.versions.v1]
  image = "x/deep:1"
[[steps]]
name = "s"
[[steps.routes]]
service = "back"
to = "v1"
retries = 2
per_try_timeout = "1s"
retry_on = "5xx"
[[steps.routes]]
service = "deep"
to = "v1"
delay = "5s"
delay_percent = 50
"#,
        );
        let e = run(&s, "s", &[], Some(&Entry::Service("back".to_owned())));
        let got = summary(&e);
        // Success on the first try (0s), or after one or two timed-out tries.
        let ok: f64 = e
            .outcomes
            .iter()
            .filter(|o| o.result == "ok")
            .map(|o| o.probability)
            .sum();
        assert_eq!(probability(ok), "0.875", "{got:?}");
        let failed: Vec<&Outcome> = e.outcomes.iter().filter(|o| o.result == "error").collect();
        assert_eq!(failed.len(), 1, "{got:?}");
        assert_eq!(
            (failed[0].status, failed[0].latency.as_str()),
            (Some(504), "3s")
        );
        assert_eq!(probability(failed[0].probability), "0.125");
    }

    #[test]
    fn a_route_timeout_shorter_than_a_downstream_delay_answers_504_at_the_timeout() {
        // Istio's request-timeouts task: ratings delayed 2s, reviews' route
        // timeout 0.5s; productpage tries twice and shows reviews unavailable.
        let text = format!(
            "{BOOKINFO}\n[[steps]]\nname = \"timeouts\"\n[[steps.routes]]\nservice = \"reviews\"\n\
             to = \"v2\"\ntimeout = \"0.5s\"\n[[steps.routes]]\nservice = \"ratings\"\nto = \"v1\"\n\
             delay = \"2s\"\n"
        );
        let e = run(&model(&text), "timeouts", &[], None);
        assert_eq!(summary(&e), [("1".to_owned(), "ok", "1s".to_owned())]);
        let d = &e.outcomes[0].degraded[0];
        assert_eq!(
            (d.caller.as_str(), d.callee.as_str()),
            ("productpage", "reviews")
        );
        assert!(
            d.failure
                .starts_with("HTTP 504 from reviews: route timeout 0.5s"),
            "{}",
            d.failure
        );
    }

    #[test]
    fn a_route_timeout_does_not_cut_the_same_rules_injected_delay() {
        // The fault filter runs before the router: the delay is not counted.
        let s = two_services(
            "",
            "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"3s\"\ntimeout = \"1s\"",
        );
        assert_eq!(
            summary(&front(&s)),
            [("1".to_owned(), "ok", "3s".to_owned())]
        );
    }

    #[test]
    fn a_request_no_rule_matches_gets_404_at_that_hop() {
        let s = two_services(
            "",
            "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = \"jason\" }\nto = \"v2\"",
        );
        let e = front(&s);
        let hop = &e.trace.branches[0].calls[0];
        assert!(matches!(hop.routing, Routing::NoMatch { .. }));
        assert_eq!(hop.outcomes[0].status, Some(404));
        assert_eq!(hop.outcomes[0].at.as_deref(), Some("back"));
        assert!(
            e.outcomes[0].degraded[0]
                .failure
                .starts_with("HTTP 404 from back")
        );
        // jason matches.
        let jason = run(
            &s,
            "s",
            &[("end-user", "jason")],
            Some(&Entry::Service("front".into())),
        );
        assert_eq!(jason.outcomes[0].served, ["front v1", "back v2"]);
    }

    #[test]
    fn header_regexes_match_the_whole_value() {
        let s = two_services(
            "",
            "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = { regex = \"ja.*\" } }\n\
             to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\nto = \"v1\"",
        );
        let served = |user| {
            let e = run(
                &s,
                "s",
                &[("end-user", user)],
                Some(&Entry::Service("front".into())),
            );
            e.outcomes[0].served[1].clone()
        };
        assert_eq!(served("jason"), "back v2");
        assert_eq!(
            served("benjamin"),
            "back v1",
            "regex is anchored at both ends"
        );
    }

    #[test]
    fn a_cycle_in_calls_is_an_error_not_a_loop() {
        let mut s = two_services("", "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"");
        // Validation refuses the cycle; build it in the model directly.
        let back = s
            .services
            .iter_mut()
            .find(|x| x.name == "back")
            .expect("back");
        back.versions[0].calls.push(Call {
            service: "front".to_owned(),
            timeout: None,
            attempts: 1,
        });
        let err = explain(
            &s,
            "s",
            &request(&[]),
            Some(&Entry::Service("front".into())),
        )
        .expect_err("a cycle");
        assert_eq!(
            err,
            ExplainError::Cycle(vec!["front".into(), "back".into(), "front".into()])
        );
        assert!(
            check(&s).is_empty(),
            "the build check skips what it cannot trace"
        );
    }

    #[test]
    fn probabilities_and_latencies_read_plainly() {
        assert_eq!(probability(1.0), "1");
        assert_eq!(probability(0.875), "0.875");
        assert_eq!(probability(1.0 / 3.0), "0.3333");
        assert_eq!(latency(0), "0s");
        assert_eq!(latency(6 * SECOND), "6s");
        assert_eq!(latency(SECOND / 2), "500ms");
        assert_eq!(latency(2 * SECOND + SECOND / 2), "2.5s");
    }

    #[test]
    fn headers_parse_as_lower_case_name_and_value() {
        assert_eq!(
            parse_header("End-User=jason=x"),
            Ok(("end-user".to_owned(), "jason=x".to_owned()))
        );
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=x").is_err());
    }
}
