//! The explanation in words: the tree of hops `meshgen explain` prints, the
//! one-line summaries of an outcome, and the numbers as people read them
//! (probabilities, latencies, attempts). Formats only; decides nothing.

use std::fmt::Write as _;

use super::{Branch, Explanation, Hop, Outcome, Routing, SECOND};

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

pub(super) fn hop_lines(out: &mut String, hop: &Hop, first: &str, rest: &str) {
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
