//! The outcome algebra: what a hop may answer (`Resp`) with its probability
//! (`Dist`), how equal answers are merged, how a version's answer is
//! followed by the result of its next call, and the public form of a
//! distribution. Knows nothing of routing rules or of the scenario.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::text::{attempts, latency, possessive};
use super::{Degradation, ExplainError, MAX_BRANCHES, Outcome};
use crate::model::Call;

/// One response a hop may give, without its probability.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Resp {
    /// Nanoseconds until the caller has it.
    pub(super) latency: u128,
    pub(super) kind: Kind,
    /// The faults and timeouts that shaped it, in words.
    pub(super) causes: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
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
pub(super) struct Failed {
    pub(super) caller: String,
    pub(super) callee: String,
    pub(super) attempts: u32,
    pub(super) timeout: Option<u128>,
    /// `Status` or `GaveUp`.
    pub(super) kind: Kind,
    pub(super) causes: BTreeSet<String>,
}

impl Failed {
    /// The failure for the build check: the causes, the hop, the numbers.
    pub(super) fn explain(&self) -> String {
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

pub(super) type Dist = Vec<(f64, Resp)>;

/// Sums the probabilities of equal responses; drops impossible ones.
pub(super) fn merge(entries: Dist) -> Result<Dist, ExplainError> {
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

/// The public form of a distribution, most likely first. Responses that
/// differ only in what caused them (a delay here or there, of the same
/// length) read the same to the sender: they are one outcome, with the sum
/// of their probabilities (docs/explain.md: equal results are merged).
pub(super) fn outcomes(dist: &Dist) -> Vec<Outcome> {
    let public = dist.iter().map(|(p, r)| {
        let mut o = Outcome {
            probability: *p,
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
    });
    // Each distinct outcome, where it first appears, with its summed probability.
    let mut out: Vec<Outcome> = Vec::new();
    let mut seen: BTreeMap<OutcomeKey, usize> = BTreeMap::new();
    for o in public {
        match seen.entry(OutcomeKey::of(&o)) {
            Entry::Occupied(at) => out[*at.get()].probability += o.probability,
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(o);
            }
        }
    }
    for o in &mut out {
        o.probability = (o.probability * 1e12).round() / 1e12;
    }
    // Stable: equal probabilities keep the distribution's order.
    out.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    out
}

/// Everything of a public outcome but its probability: equal keys read the same.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct OutcomeKey {
    result: &'static str,
    status: Option<u16>,
    latency: String,
    seconds: u64,
    at: Option<String>,
    reason: Option<String>,
    served: Vec<String>,
    degraded: Vec<(String, String, String)>,
}

impl OutcomeKey {
    fn of(o: &Outcome) -> Self {
        Self {
            result: o.result,
            status: o.status,
            latency: o.latency.clone(),
            seconds: o.seconds.to_bits(),
            at: o.at.clone(),
            reason: o.reason.clone(),
            served: o.served.clone(),
            degraded: o
                .degraded
                .iter()
                .map(|d| (d.caller.clone(), d.callee.clone(), d.failure.clone()))
                .collect(),
        }
    }
}

/// Attempts still to be made: probability, time spent, causes so far.
pub(super) type Pending = Vec<(f64, u128, BTreeSet<String>)>;

/// Sums equal pending retries.
pub(super) fn merge_pending(entries: Pending) -> Result<Pending, ExplainError> {
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
pub(super) fn then(before: &Resp, answer: &Resp, caller: &str, call: &Call) -> Resp {
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
