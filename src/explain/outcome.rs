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
    /// An answer; calls that failed inside are listed as degraded. Both
    /// lists live in the trace's `Ctx`, shared by every response they are in.
    Ok { served: Seq, degraded: Seq },
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

/// A list (of versions that served, or of calls that failed) kept in a
/// `Ctx`: `Seq::EMPTY`, one item, or two lists one after the other. A list
/// is stored once however many responses hold it, so a response that
/// passed through a service reached on many paths (a diamond of calls)
/// costs no more than one that did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Seq(usize);

impl Seq {
    /// The empty list.
    pub(super) const EMPTY: Self = Self(0);
}

/// One stored list: an item, or two lists one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    /// A version that served (`reviews v2`), by its index in `labels`.
    Served(usize),
    /// A failed call, by its index in `failures`.
    Failure(usize),
    /// The first list, then the second.
    Concat(Seq, Seq),
}

/// What the responses of one trace share: the lists of versions that
/// served them and of calls that failed, each stored once (hash-consed), so
/// that joining two lists costs the same whatever their length and equal
/// lists are the same `Seq`. Read back with duplicates left out: a version
/// that served on two paths is listed once, where it first served.
#[derive(Debug, Default)]
pub(super) struct Ctx {
    /// `nodes[i]` is `Seq(i + 1)`.
    nodes: Vec<Node>,
    index: BTreeMap<Node, Seq>,
    labels: Vec<String>,
    label_index: BTreeMap<String, usize>,
    failures: Vec<Failed>,
    failure_index: BTreeMap<Failed, usize>,
}

impl Ctx {
    fn node(&mut self, node: Node) -> Seq {
        if let Some(seq) = self.index.get(&node) {
            return *seq;
        }
        self.nodes.push(node);
        let seq = Seq(self.nodes.len());
        self.index.insert(node, seq);
        seq
    }

    /// The list of one version that served, `reviews v2`.
    pub(super) fn served(&mut self, label: &str) -> Seq {
        let at = match self.label_index.get(label) {
            Some(at) => *at,
            None => {
                self.labels.push(label.to_owned());
                self.label_index
                    .insert(label.to_owned(), self.labels.len() - 1);
                self.labels.len() - 1
            }
        };
        self.node(Node::Served(at))
    }

    /// The list of one failed call.
    fn failure(&mut self, failed: Failed) -> Seq {
        let at = match self.failure_index.get(&failed) {
            Some(at) => *at,
            None => {
                self.failures.push(failed.clone());
                self.failure_index.insert(failed, self.failures.len() - 1);
                self.failures.len() - 1
            }
        };
        self.node(Node::Failure(at))
    }

    /// `first`, then `second`.
    fn concat(&mut self, first: Seq, second: Seq) -> Seq {
        match (first, second) {
            (Seq::EMPTY, other) | (other, Seq::EMPTY) => other,
            _ => self.node(Node::Concat(first, second)),
        }
    }

    /// The items of `seq` in order, each once (where it first appears). A
    /// stored list met again is skipped whole: its items are out already.
    /// Without recursion: a list may be as deep as the longest call chain.
    fn items(&self, seq: Seq) -> Vec<Node> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![seq];
        while let Some(seq) = todo.pop() {
            if seq == Seq::EMPTY || !seen.insert(seq) {
                continue;
            }
            match self.nodes[seq.0 - 1] {
                Node::Concat(first, second) => {
                    todo.push(second);
                    todo.push(first);
                }
                item => out.push(item),
            }
        }
        out
    }

    /// The versions that served, in call order, each once.
    pub(super) fn served_labels(&self, seq: Seq) -> Vec<&str> {
        self.items(seq)
            .into_iter()
            .filter_map(|n| match n {
                Node::Served(at) => Some(self.labels[at].as_str()),
                _ => None,
            })
            .collect()
    }

    /// The calls that failed, in call order, each once.
    pub(super) fn failed(&self, seq: Seq) -> Vec<&Failed> {
        self.items(seq)
            .into_iter()
            .filter_map(|n| match n {
                Node::Failure(at) => Some(&self.failures[at]),
                _ => None,
            })
            .collect()
    }
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
            Kind::Status { code, reason, .. } => {
                let mut all = causes;
                all.extend(timeouts);
                let budget = match self.timeout {
                    Some(t) => format!("{} x {}", attempts(self.attempts), latency(t)),
                    None => attempts(self.attempts),
                };
                if all.is_empty() {
                    // A status made where it is (no pods, no matching rule):
                    // the reason is a sentence of its own.
                    format!(
                        "{reason}, so the call from {} to {} fails with HTTP {code} ({budget})",
                        self.caller, self.callee
                    )
                } else {
                    format!(
                        "{} {} the call from {} to {} fail with HTTP {code} ({budget})",
                        all.join(" and "),
                        if all.len() > 1 { "make" } else { "makes" },
                        self.caller,
                        self.callee
                    )
                }
            }
            Kind::Ok { .. } => format!("the call from {} to {}", self.caller, self.callee),
        }
    }

    /// A few words for the plan and the outcome lines.
    pub(super) fn failure(&self) -> String {
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

/// A response as people compare them: by latency, then kind (answers,
/// error statuses, give-ups), then the versions that served, the failed
/// calls and the causes, in words. The order of a distribution's outcomes
/// of equal probability, and of the build check's reading of it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Natural<'a> {
    latency: u128,
    kind: NaturalKind<'a>,
    causes: &'a BTreeSet<String>,
}

/// `Kind`, with its lists read back.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum NaturalKind<'a> {
    Ok {
        served: Vec<&'a str>,
        degraded: Vec<&'a Failed>,
    },
    Other(&'a Kind),
}

impl<'a> Natural<'a> {
    fn of(ctx: &'a Ctx, r: &'a Resp) -> Self {
        Self {
            latency: r.latency,
            kind: match &r.kind {
                Kind::Ok { served, degraded } => NaturalKind::Ok {
                    served: ctx.served_labels(*served),
                    degraded: ctx.failed(*degraded),
                },
                other => NaturalKind::Other(other),
            },
            causes: &r.causes,
        }
    }
}

/// The entries of a distribution in their natural order (see `Natural`).
pub(super) fn in_order<'d>(ctx: &Ctx, dist: &'d Dist) -> Vec<&'d (f64, Resp)> {
    let mut keyed: Vec<(Natural<'_>, &'d (f64, Resp))> =
        dist.iter().map(|e| (Natural::of(ctx, &e.1), e)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// The public form of a distribution, most likely first. Responses that
/// differ only in what caused them (a delay here or there, of the same
/// length) read the same to the sender: they are one outcome, with the sum
/// of their probabilities (docs/explain.md: equal results are merged).
pub(super) fn outcomes(ctx: &Ctx, dist: &Dist) -> Vec<Outcome> {
    let public = in_order(ctx, dist).into_iter().map(|(p, r)| {
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
                o.served = ctx
                    .served_labels(*served)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                o.degraded = ctx
                    .failed(*degraded)
                    .into_iter()
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
    // Stable: equal probabilities keep the natural order.
    out.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    out
}

/// A hop line's few words per outcome (`ok after 7s`, `ok, degraded`,
/// `fails after 6s: timed out …`, `fails: HTTP 500 from ratings`), each
/// with the sum of the probabilities of the outcomes that read so: most
/// likely first, then the fastest, then answers before errors. Reads no
/// list of versions, so that the hop lines of a long call chain cost no
/// more than the chain.
pub(super) fn briefs(dist: &Dist) -> Vec<(String, f64)> {
    let mut sums: BTreeMap<(u128, u8, String), f64> = BTreeMap::new();
    for (p, r) in dist {
        let after = if r.latency > 0 {
            format!(" after {}", latency(r.latency))
        } else {
            String::new()
        };
        let (rank, brief) = match &r.kind {
            Kind::Ok { degraded, .. } if *degraded == Seq::EMPTY => (0, format!("ok{after}")),
            Kind::Ok { .. } => (0, format!("ok{after}, degraded")),
            Kind::GaveUp {
                callee,
                attempts: n,
                timeout,
                answer,
            } => (
                2,
                format!(
                    "fails{after}: timed out: {} x {}; {callee} answers after {}",
                    attempts(*n),
                    latency(*timeout),
                    latency(*answer)
                ),
            ),
            Kind::Status { code, at, .. } => (1, format!("fails{after}: HTTP {code} from {at}")),
        };
        *sums.entry((r.latency, rank, brief)).or_insert(0.0) += p;
    }
    // A brief names its latency: one brief, one key.
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for ((_, _, brief), p) in sums {
        match at.entry(brief) {
            Entry::Occupied(i) => out[*i.get()].1 += p,
            Entry::Vacant(slot) => {
                out.push((slot.key().clone(), p));
                slot.insert(out.len() - 1);
            }
        }
    }
    for (_, p) in &mut out {
        *p = (*p * 1e12).round() / 1e12;
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
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
pub(super) fn then(ctx: &mut Ctx, before: &Resp, answer: &Resp, caller: &str, call: &Call) -> Resp {
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
            served: ctx.concat(*served, *more),
            degraded: ctx.concat(*degraded, *worse),
        },
        (Kind::Ok { served, degraded }, failure) => {
            let failed = ctx.failure(Failed {
                caller: caller.to_owned(),
                callee: call.service.to_string(),
                attempts: call.attempts,
                timeout: call.timeout.as_ref().map(|t| t.nanos),
                kind: failure.clone(),
                causes: answer.causes.clone(),
            });
            Kind::Ok {
                served: *served,
                degraded: ctx.concat(*degraded, failed),
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
