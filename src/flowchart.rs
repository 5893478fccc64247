//! Flowcharts: the routing in force after a step as a Mermaid flowchart
//! (GitHub renders it in `PLAN.md`): ingress gateway → services → versions,
//! edges labelled with who takes them (header class, extra conditions,
//! weight, fault, timeout, retries), dotted edges for the calls each version
//! makes. Node ids are generated; every label is quoted and escaped, so no
//! name or value can add Mermaid or Markdown syntax. Deterministic.

use std::collections::HashSet;

use std::fmt::Write as _;

use crate::model::{Rule, Scenario};
use crate::routing::{self, Classes, InForce};
use crate::security::{self, AllowList};

/// Mermaid's default `maxTextSize`: renderers that keep the default (GitHub
/// among them) show an error instead of a longer diagram.
pub const MERMAID_MAX_TEXT_SIZE: usize = 50_000;

/// The Mermaid source (without the code fence) of the routing `services`
/// (a selection of `routing::in_force`) of `scenario`; `None` once it grows
/// past `max_len` bytes.
pub fn flowchart(
    scenario: &Scenario,
    services: &[InForce<'_>],
    classes: &Classes,
    max_len: usize,
) -> Option<String> {
    let mut out = String::from("flowchart LR\n");
    let index = |name: &str| scenario.service_positions.get(name).copied();
    let shown_names: HashSet<&str> = services.iter().map(|f| f.service.name.as_str()).collect();
    let shown = |name: &str| shown_names.contains(name);
    // With authorization, who may call each service then (every service
    // of the selection is at the same moment).
    let allowed: Option<Vec<AllowList>> = (scenario.security.authorization)
        .then(|| {
            services
                .first()
                .map(|f| security::allow_lists(scenario, f.at))
        })
        .flatten();
    let allows = |principal: Option<&str>, callee: usize| {
        let list = allowed.as_ref().and_then(|lists| lists.get(callee));
        list.is_none_or(|list| principal.is_some_and(|p| list.contains_key(p)))
    };
    let gateway_principal = security::gateway_principal(scenario);
    if let Some(gateway) = &scenario.gateway {
        let _ = writeln!(
            out,
            "  gw([{}])",
            label(&format!("{} (ingress)", gateway.name))
        );
        for route in &gateway.routes {
            let (Some(i), true) = (index(&route.service), shown(&route.service)) else {
                continue;
            };
            let uris = if route.uris.is_empty() {
                "every request".to_owned()
            } else {
                route
                    .uris
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let uris = if allows(gateway_principal.as_deref(), i) {
                uris
            } else {
                format!("{uris}, denied: 403 RBAC")
            };
            let _ = writeln!(out, "  gw -->|{}| s{i}", label(&uris));
        }
    }
    for in_force in services {
        if out.len() > max_len {
            return None;
        }
        let Some(i) = index(&in_force.service.name) else {
            continue;
        };
        let service = in_force.service;
        let _ = writeln!(out, "  s{i}[{}]", label(&service.name));
        let mut versions: Vec<usize> = Vec::new();
        let mut edges: Vec<String> = Vec::new();
        match in_force.routing {
            None => {
                for (j, _) in service
                    .versions
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.has_pods(in_force.at))
                {
                    versions.push(j);
                    edges.push(format!(
                        "  s{i} -->|{}| s{i}v{j}",
                        label(if scenario.gateway_api() {
                            "no HTTPRoute"
                        } else {
                            "no VirtualService"
                        })
                    ));
                }
            }
            Some(routing) => {
                let tried = routing::as_tried(routing, scenario.mesh.routing_api);
                for (audience, outcomes) in routing::audiences(&tried, classes) {
                    for outcome in outcomes {
                        let mut who: Vec<String> = Vec::new();
                        if audience != "everyone" {
                            who.push(audience.clone());
                        }
                        if !outcome.when.is_empty() {
                            who.push(outcome.when.join(" and "));
                        }
                        let Some(rule) = outcome.rule else {
                            edges.push(format!("  s{i} -->|{}| s{i}none", label(&who.join(", "))));
                            let _ = writeln!(out, "  s{i}none[{}]", label("no route: 404"));
                            continue;
                        };
                        for d in &rule.destinations {
                            let Some(j) = service.versions.iter().position(|v| v.name == d.version)
                            else {
                                continue;
                            };
                            versions.push(j);
                            let mut parts = who.clone();
                            if let Some(w) = d.weight {
                                parts.push(format!("{w}%"));
                            }
                            parts.extend(effects(rule));
                            edges.push(edge(i, j, &parts.join(", "), false));
                        }
                        if let Some(mirror) = &rule.mirror
                            && let Some(j) = service
                                .versions
                                .iter()
                                .position(|v| v.name == mirror.version)
                        {
                            versions.push(j);
                            let text = match mirror.percent {
                                Some(p) => format!("mirror {p}%"),
                                None => "mirror".to_owned(),
                            };
                            edges.push(edge(i, j, &text, true));
                        }
                    }
                }
            }
        }
        versions.sort_unstable();
        versions.dedup();
        for &j in &versions {
            let version = &service.versions[j];
            let mut text = format!("{} {}", service.name, version.name);
            if !version.deploy {
                text.push_str(" (not deployed)");
            }
            let _ = writeln!(out, "  s{i}v{j}[{}]", label(&text));
        }
        for e in edges {
            out.push_str(&e);
            out.push('\n');
        }
        // The calls each version's own code makes.
        for &j in &versions {
            let mut called: Vec<usize> = service.versions[j]
                .calls
                .iter()
                .filter(|c| shown(&c.service))
                .filter_map(|c| index(&c.service))
                .collect();
            called.dedup();
            let account = security::account(service);
            let principal = security::principal(&scenario.namespace.name, account);
            for c in called {
                if allowed.is_none() {
                    let _ = writeln!(out, "  s{i}v{j} -.-> s{c}");
                } else if allows(Some(&principal), c) {
                    let _ = writeln!(
                        out,
                        "  s{i}v{j} -.->|{}| s{c}",
                        label(&format!("as {account}"))
                    );
                } else {
                    let text = format!("as {account}, denied: 403 RBAC");
                    let _ = writeln!(out, "  s{i}v{j} -.->|{}| s{c}", label(&text));
                }
            }
        }
    }
    (out.len() <= max_len).then_some(out)
}

/// `s1 -->|"label"| s1v0`, dotted for mirrors, without `|…|` when empty.
fn edge(i: usize, j: usize, text: &str, dotted: bool) -> String {
    let arrow = if dotted { "-.->" } else { "-->" };
    if text.is_empty() {
        format!("  s{i} {arrow} s{i}v{j}")
    } else {
        format!("  s{i} {arrow}|{}| s{i}v{j}", label(text))
    }
}

/// What a rule does besides choosing a subset: fault, timeout, retries.
fn effects(rule: &Rule) -> Vec<String> {
    let percent = |p: f64| {
        if p >= 100.0 {
            String::new()
        } else {
            format!(" {p}%")
        }
    };
    let mut parts = Vec::new();
    if let Some(d) = &rule.delay {
        parts.push(format!("delay {}{}", d.duration, percent(d.percent)));
    }
    if let Some(a) = &rule.abort {
        parts.push(format!("abort {}{}", a.status, percent(a.percent)));
    }
    if let Some(t) = &rule.timeout {
        parts.push(format!("timeout {t}"));
    }
    if let Some(r) = &rule.retries {
        parts.push(format!("{} attempts", r.attempts));
    }
    parts
}

/// A quoted Mermaid label: letters, digits, spaces and a few punctuation
/// marks as they are, every other character as a Mermaid entity code
/// (`#35;`), so nothing in it can close the quote, the label or the fence.
pub fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || " ,.:/*%=_-()+@".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", c as u32);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(label("end-user: jason"), "\"end-user: jason\"");
        assert_eq!(
            label("a\"b|c`d<e>#f\n"),
            "\"a#34;b#124;c#96;d#60;e#62;#35;f#10;\""
        );
        assert_eq!(label("~/j.*/"), "\"#126;/j.*/\"");
    }
}
