//! The explanation in words: the tree of hops `meshgen explain` prints, the
//! one-line summaries of an outcome, and the numbers as people read them
//! (probabilities, latencies, attempts). Formats only; decides nothing.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use super::outcome::briefs;
use super::{Enforcement, Explanation, Hop, Outcome, Resource, Routing, SECOND};
use crate::model::Dataplane;
use crate::printable;

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
}

/// Nesting levels the tree indents (three columns each) before a
/// version's calls are continued in a section of their own below: the
/// text of a long call chain grows with its length, not its square.
const MAX_NESTING: usize = 24;

/// A piece of the tree still to print, on the explicit stack of `render_text`.
enum Work<'a> {
    /// A hop's line (after `first`), then the calls under it (after `rest`).
    Hop {
        hop: Hop<'a>,
        first: String,
        rest: String,
        depth: usize,
    },
    /// A line as it is.
    Line(String),
}

/// Where a version's calls are printed: the first time the version is met,
/// under it; later meetings refer to them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// Under an earlier meeting.
    Above,
    /// In a section further down (the tree was nested too deep there).
    Below,
}

/// The explanation as a short tree, one line per hop, then the outcomes,
/// with control characters escaped (`printable`). The calls of a version reached on several paths are listed once, at
/// its first meeting; later meetings say `calls as above`. A version whose
/// calls would be nested deeper than `MAX_NESTING` levels has them
/// continued in a section of their own after the tree.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    let mut request = format!("{} {}", e.method, e.uri);
    if !e.headers.is_empty() {
        let headers: Vec<String> = e.headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let _ = write!(request, " with {}", headers.join(", "));
    }
    line(
        &mut out,
        &format!("step {}: {request}, entering at {}", e.step, e.entry),
    );
    if e.shows_enforcement() {
        let dataplane = match e.dataplane {
            Dataplane::Sidecar => "sidecar",
            Dataplane::Ambient => "ambient",
        };
        line(
            &mut out,
            &format!(
                "routing_api = \"{}\", dataplane = \"{dataplane}\"",
                e.routing_api.as_str()
            ),
        );
    }
    let mut listed: BTreeMap<&str, Listed> = BTreeMap::new();
    let mut sections: VecDeque<(&str, Vec<Hop<'_>>)> = VecDeque::new();
    let mut todo = vec![Work::Hop {
        hop: e.trace(),
        first: String::new(),
        rest: String::new(),
        depth: 0,
    }];
    loop {
        while let Some(work) = todo.pop() {
            let (hop, first, rest, depth) = match work {
                Work::Line(text) => {
                    line(&mut out, &text);
                    continue;
                }
                Work::Hop {
                    hop,
                    first,
                    rest,
                    depth,
                } => (hop, first, rest, depth),
            };
            line(&mut out, &format!("{first}{}", hop_line(&hop)));
            // Children: the calls of a lone version, or one node per version.
            let branches = hop.branches();
            let mut children: Vec<Work<'_>> = Vec::new();
            if branches.len() > 1 {
                for (i, branch) in branches.iter().enumerate() {
                    let (head, tail) = fork(i, branches.len());
                    let calls = branch.calls();
                    let label = format!(
                        "[{} {} p={}]",
                        hop.to(),
                        branch.version(),
                        probability(branch.probability())
                    );
                    let note = match branch.label() {
                        _ if calls.is_empty() => " no calls".to_owned(),
                        Some(version) => {
                            note(&mut listed, &mut sections, version, &calls, depth + 2)
                                .map_or(String::new(), |n| format!(" {n}"))
                        }
                        None => String::new(),
                    };
                    children.push(Work::Line(format!("{rest}{head}{label}{note}")));
                    if note.is_empty() {
                        let inner = format!("{rest}{tail}");
                        push_calls(&mut children, &calls, &inner, depth + 2);
                    }
                }
            } else if let Some(branch) = branches.first() {
                let calls = branch.calls();
                if let (Some(version), false) = (branch.label(), calls.is_empty()) {
                    match note(&mut listed, &mut sections, version, &calls, depth + 1) {
                        Some(n) => children.push(Work::Line(format!("{rest}`- {version}: {n}"))),
                        None => push_calls(&mut children, &calls, &rest, depth + 1),
                    }
                }
            }
            todo.extend(children.into_iter().rev());
        }
        let Some((version, calls)) = sections.pop_front() else {
            break;
        };
        line(&mut out, &format!("{version} calls:"));
        push_calls(&mut todo, &calls, "", 0);
        todo.reverse();
    }
    line(&mut out, "outcome:");
    for o in &e.outcomes {
        line(
            &mut out,
            &format!("  p={}: {}", probability(o.probability), o.summary()),
        );
    }
    out
}

/// Appends one line for people: control characters that header values, the
/// URI or scenario text bring are escaped (`printable`), so a line is one
/// line and sends the terminal nothing.
fn line(out: &mut String, text: &str) {
    out.push_str(&printable::escape(text));
    out.push('\n');
}

/// `|- ` and `|  ` for a child that has siblings after it, `` `- `` and
/// three blanks for the last.
fn fork(index: usize, count: usize) -> (&'static str, &'static str) {
    if index + 1 == count {
        ("`- ", "   ")
    } else {
        ("|- ", "|  ")
    }
}

/// The hops of `calls`, to print in order under `rest` at `depth`.
fn push_calls<'a>(todo: &mut Vec<Work<'a>>, calls: &[Hop<'a>], rest: &str, depth: usize) {
    for (j, call) in calls.iter().enumerate() {
        let (head, tail) = fork(j, calls.len());
        todo.push(Work::Hop {
            hop: *call,
            first: format!("{rest}{head}"),
            rest: format!("{rest}{tail}"),
            depth,
        });
    }
}

/// What to print instead of `version`'s calls, if anything: `calls as
/// above` when they are listed already, `calls continued below` when they
/// would be nested too deep (they get a section). `None`: list them here.
fn note<'a>(
    listed: &mut BTreeMap<&'a str, Listed>,
    sections: &mut VecDeque<(&'a str, Vec<Hop<'a>>)>,
    version: &'a str,
    calls: &[Hop<'a>],
    depth: usize,
) -> Option<&'static str> {
    let words = |l: Listed| match l {
        Listed::Above => "calls as above",
        Listed::Below => "calls continued below",
    };
    if let Some(l) = listed.get(version) {
        return Some(words(*l));
    }
    if depth > MAX_NESTING {
        listed.insert(version, Listed::Below);
        sections.push_back((version, calls.to_vec()));
        return Some(words(Listed::Below));
    }
    listed.insert(version, Listed::Above);
    None
}

/// One hop in a line: caller -> service, the rule and why, the versions,
/// the rule's fault, timeout, retries and mirror, the caller's budget, and
/// after `=>` what the caller sees.
fn hop_line(hop: &Hop<'_>) -> String {
    let branches = hop.branches();
    let enforcement = hop.enforcement();
    let mut line = match &enforcement {
        Some(at) => format!("{} -> {} [{}]: ", hop.from(), hop.to(), at.words()),
        None => format!("{} -> {}: ", hop.from(), hop.to()),
    };
    match (hop.routing(), &enforcement) {
        (routing, Some(at)) => routed(&mut line, routing, at, hop.resource()),
        (routing, None) => routed_by_default(&mut line, routing),
    }
    if !branches.is_empty() {
        let versions: Vec<String> = branches
            .iter()
            .map(|b| {
                let mut v = b.version().to_owned();
                if branches.len() > 1 {
                    let _ = write!(v, " p={}", probability(b.probability()));
                }
                if !b.deployed() {
                    v.push_str(" (no pods)");
                }
                v
            })
            .collect();
        let _ = write!(line, " -> {}", versions.join(", "));
        if matches!(
            hop.routing(),
            Routing::NoVirtualService | Routing::Gateway { .. }
        ) {
            line.push_str(match hop.resource() {
                Resource::VirtualService => " (no subset: deployed versions by replicas)",
                Resource::HttpRoute => " (the Service itself: deployed versions by replicas)",
            });
        }
    }
    describe(&mut line, hop);
    line
}

/// How a hop was routed, outside the default mode: the resource by kind
/// and name (`HTTPRoute reviews rule 1/2 (…)`, `VirtualService bookinfo
/// route 1 (…)`, `no HTTPRoute`).
fn routed(line: &mut String, routing: &Routing, at: &Enforcement, resource: Resource) {
    let kind = at.resource.map_or("", Resource::as_str);
    let name = &at.name;
    let unit = match at.resource {
        Some(Resource::HttpRoute) => "rule",
        _ => "route",
    };
    let _ = match routing {
        Routing::Gateway {
            route,
            why,
            skipped,
        } => write!(
            line,
            "{kind} {name} {unit} {route} ({why}){}",
            skips(skipped)
        ),
        Routing::GatewayRule {
            route,
            rule,
            of,
            why,
            skipped,
        } => write!(
            line,
            "{kind} {name} route {route}, rule {rule}/{of} ({why}){}",
            skips(skipped)
        ),
        Routing::Rule {
            rule,
            of,
            why,
            skipped,
        } => write!(
            line,
            "{kind} {name} rule {rule}/{of} ({why}){}",
            skips(skipped)
        ),
        Routing::NoVirtualService => write!(line, "no {}", resource.as_str()),
        Routing::NoMatch { skipped } => write!(
            line,
            "no rule of {kind} {name} matches [{}]",
            skipped.join("; ")
        ),
    };
}

/// ` [skipped …]`, or nothing when no rule was skipped.
fn skips(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" [skipped {}]", skipped.join("; "))
    }
}

/// How a hop was routed, in the default mode (Istio's API with sidecars),
/// as explain has always said it.
fn routed_by_default(line: &mut String, routing: &Routing) {
    match routing {
        Routing::Gateway {
            route,
            why,
            skipped,
        } => {
            let _ = write!(line, "gateway route {route} ({why})");
            if !skipped.is_empty() {
                let _ = write!(line, " [skipped {}]", skipped.join("; "));
            }
        }
        Routing::GatewayRule {
            route,
            rule,
            of,
            why,
            skipped,
        } => {
            let _ = write!(line, "gateway route {route}, rule {rule}/{of} ({why})");
            if !skipped.is_empty() {
                let _ = write!(line, " [skipped {}]", skipped.join("; "));
            }
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
}

/// The rest of a hop's line: the matched rule's fault, timeout, retries
/// and mirror, the caller's budget, and after `=>` what the caller sees.
fn describe(line: &mut String, hop: &Hop<'_>) {
    if let Some(d) = hop.delay() {
        let _ = write!(line, " | delay {} ({}%)", d.value, d.percent);
    }
    if let Some(a) = hop.abort() {
        let _ = write!(line, " | abort {} ({}%)", a.value, a.percent);
    }
    if let Some(t) = hop.timeout() {
        let _ = write!(line, " | route timeout {t}");
    }
    if let Some(r) = hop.retries() {
        let _ = write!(line, " | retries {}", r.attempts);
        if let Some(t) = &r.per_try_timeout {
            let _ = write!(line, " x {t}");
        }
        if let Some(on) = &r.retry_on {
            let _ = write!(line, " on {on}");
        }
    }
    if let Some(m) = hop.mirror() {
        let _ = write!(line, " | mirror {m} (ignored for the outcome)");
    }
    if let Some(b) = hop.budget() {
        let _ = write!(
            line,
            " | client {} x {}",
            attempts(b.attempts),
            b.timeout.as_deref().unwrap_or("no timeout")
        );
    }
    // Outcomes that read the same on a hop line are summed.
    let shorts = briefs(&hop.node().dist);
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
    let _ = write!(line, " => {}", results.join(", "));
}

/// `1 attempt`, `2 attempts`.
pub(super) fn attempts(n: u32) -> String {
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
pub(super) fn latency(nanos: u128) -> String {
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
pub(super) fn possessive(name: &str) -> String {
    if name.ends_with('s') {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}
