//! The build check: every step that makes a declared call fail for some
//! class of requests, traced from every default entry whose path makes
//! declared calls, in words with the hop and the numbers. Prints nothing;
//! `scenario` turns the findings into warnings.

use std::collections::{BTreeMap, BTreeSet};

use super::outcome::{Failed, Kind, in_order};
use super::text::probability;
use super::trace::{Passed, trace};
use super::view::View;
use super::{Entry, Finding, Request, classes, default_entries, default_uri, reach, relevant};
use crate::model::Scenario;

/// Most hops the build check traces in all before it stops.
const CHECK_BUDGET: u64 = 2_000_000;

/// Every step that makes a declared call fail for some class of requests,
/// with the hop and the numbers, in step order. From each default entry
/// whose path has declared calls, a step is traced when it routes, launches
/// or retires a service on that path (a step that changes nothing there
/// makes nothing fail).
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
    let mut view = View::before_steps(scenario);
    for (k, step) in scenario.steps.iter().enumerate() {
        view.advance(k);
        // Only what the step changes can change an outcome: its routes and
        // the versions it launches or retires.
        let changed = |reached: &BTreeSet<&str>| {
            let routed = step.routes.iter().map(|r| r.service.as_str());
            let released = (step.launch.iter().chain(&step.retire)).map(|v| v.service.as_str());
            routed.chain(released).any(|s| reached.contains(s))
        };
        for (entry, reached) in &entries {
            if !changed(reached) {
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
                    headers: class.headers(),
                    uri: uri.clone(),
                    method: "GET".to_owned(),
                };
                let Ok(graph) = trace(&view, &request, entry, Passed::Unread) else {
                    continue;
                };
                hops += graph.hops.len() as u64;
                // Per failing call: its probability and its first failure.
                let mut failed: BTreeMap<(&str, &str), (f64, &Failed)> = BTreeMap::new();
                for (p, resp) in in_order(&graph.ctx, graph.outcome()) {
                    let Kind::Ok { degraded, .. } = &resp.kind else {
                        continue;
                    };
                    let mut once = BTreeSet::new();
                    for f in graph.ctx.failed(*degraded) {
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
                        class.label(),
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
