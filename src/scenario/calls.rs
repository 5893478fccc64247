//! The scenario's declared calls as a graph: a cycle in them is an error
//! pointing at the call that closes it, and the build check — every step
//! that makes a declared call fail, as `explain` predicts it — becomes
//! warnings pointing at the step's name. Owns no outcome model (that is
//! `explain`'s) and builds no part of the model.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use super::raw::{RawCall, RawScenario};
use crate::diagnostic::Diagnostic;
use crate::explain;
use crate::model::Scenario;
use toml::Spanned;

/// An error for each declared call that closes a cycle of calls between
/// services (a version's own `calls`, or its service's).
pub fn cycles(raw: &RawScenario) -> Vec<Diagnostic> {
    let Some(services) = &raw.services else {
        return Vec::new();
    };
    let services = services.get_ref();
    let names: Vec<Option<&str>> = services
        .iter()
        .map(|s| s.get_ref().name.as_ref().map(|n| n.get_ref().as_str()))
        .collect();
    // The first service of each name (a duplicate is reported elsewhere).
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(name) = name {
            index.entry(name).or_insert(i);
        }
    }
    // Edges per service, in file order, first span of each (caller, callee).
    let mut edges: Vec<Vec<(usize, Range<usize>)>> = vec![Vec::new(); services.len()];
    let mut seen: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (i, service) in services.iter().enumerate() {
        let service = service.get_ref();
        let own = service.calls.as_ref().map(Spanned::get_ref);
        let mut lists: Vec<&Vec<Spanned<RawCall>>> = Vec::new();
        let versions = service.versions.as_ref().map(|v| &v.get_ref().0);
        match versions {
            Some(versions) if !versions.is_empty() => {
                for (_, version) in versions {
                    match (&version.get_ref().calls, own) {
                        (Some(calls), _) => lists.push(calls.get_ref()),
                        (None, Some(calls)) => lists.push(calls),
                        (None, None) => {}
                    }
                }
            }
            _ => lists.extend(own),
        }
        for call in lists.into_iter().flatten() {
            let Some(callee) = &call.get_ref().service else {
                continue;
            };
            let Some(&j) = index.get(callee.get_ref().as_str()) else {
                continue;
            };
            if seen.insert((i, j)) {
                edges[i].push((j, callee.span()));
            }
        }
    }
    // Depth-first, without recursion: 0 unseen, 1 on the path, 2 done.
    let mut state = vec![0u8; services.len()];
    // The depth on the path of each service on it.
    let mut depth = vec![0usize; services.len()];
    let mut diagnostics = Vec::new();
    for start in 0..services.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        depth[start] = 0;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some((callee, span)) = edges[node].get(*next).cloned() else {
                state[node] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            match state[callee] {
                0 => {
                    state[callee] = 1;
                    depth[callee] = stack.len();
                    stack.push((callee, 0));
                }
                1 => {
                    let from = depth[callee].min(stack.len());
                    let path: Vec<&str> = stack[from..]
                        .iter()
                        .map(|(n, _)| names[*n].unwrap_or("?"))
                        .chain([names[callee].unwrap_or("?")])
                        .collect();
                    diagnostics.push(
                        Diagnostic::error(
                            span,
                            format!(
                                "this call closes a cycle of declared calls ({}): a request \
                                 would loop, and explain cannot trace it",
                                path.join(" -> ")
                            ),
                        )
                        .with_help("remove one of the calls of the cycle"),
                    );
                }
                _ => {}
            }
        }
    }
    diagnostics
}

/// Where each step's name is (the first of a name: names are unique in a
/// valid scenario), for `failing_calls`.
pub fn step_names(raw: &RawScenario) -> HashMap<String, Range<usize>> {
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let steps = raw.steps.as_ref().map(|s| s.get_ref().as_slice());
    for name in steps
        .into_iter()
        .flatten()
        .filter_map(|s| s.get_ref().name.as_ref())
    {
        names
            .entry(name.get_ref().to_string())
            .or_insert_with(|| name.span());
    }
    names
}

/// A warning for each step that makes a declared call fail for some class of
/// requests, at the step's name (`names`: `step_names`).
pub fn failing_calls(
    names: &HashMap<String, Range<usize>>,
    scenario: &Scenario,
) -> Vec<Diagnostic> {
    explain::check(scenario)
        .into_iter()
        .map(|finding| {
            let span = names.get(finding.step.as_str()).cloned().unwrap_or(0..0);
            Diagnostic::warning(span, finding.message).with_help(format!(
                "`meshgen explain <scenario> --step {}` shows every hop",
                finding.step
            ))
        })
        .collect()
}
