//! What a hop's policies do to the answer it carries: the caller's budget
//! (its client timeout and attempts), the route's retries and timeout (the
//! caller's sidecar), and the rule's fault injection. Each takes the
//! distribution of what the hop answers and gives what the sender sees.

use std::collections::BTreeSet;

use super::ExplainError;
use super::outcome::{Dist, Kind, Pending, Resp, merge, merge_pending};
use super::text::latency;
use crate::model::{Call, Rule};

/// The caller's own budget around a hop: each attempt waits at most the
/// client timeout; any failure is tried again while attempts remain.
pub(super) fn client(
    budget: Option<&Call>,
    callee: &str,
    hop: &Dist,
) -> Result<Dist, ExplainError> {
    let tries = budget.map_or(1, |c| c.attempts.max(1));
    let timeout = budget.and_then(|c| c.timeout.as_ref()).map(|t| t.nanos);
    let mut out = Vec::new();
    let mut pending: Pending = vec![(1.0, 0, BTreeSet::new())];
    for attempt in 1..=tries {
        let mut again: Pending = Vec::new();
        for (p0, elapsed, causes0) in &pending {
            for (p, r) in hop {
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
fn percent_note(percent: f64) -> String {
    if percent >= 100.0 {
        String::new()
    } else {
        format!(" ({percent}%)")
    }
}
