//! The plan: a Markdown page a reviewer reads in a pull request — what is
//! installed in which order and with which command, who gets which version at
//! every step, and the step's diff. Deterministic; reads only the model and
//! the build.

use std::fmt::Write as _;

use crate::bundle::{Build, TEARDOWN_FILE};
use crate::model::{Rule, Scenario, ServiceRouting};

/// Renders `PLAN.md`.
pub fn plan(scenario: &Scenario, build: &Build) -> String {
    let mut out = String::new();
    let mesh = &scenario.mesh;
    let _ = writeln!(out, "# Plan: {}\n", cell(&scenario.name));
    if let Some(description) = &scenario.description {
        let _ = writeln!(out, "{}\n", cell(description));
    }
    let _ = writeln!(
        out,
        "Istio {} (profile `{}`), networking.istio.io/{}, namespace `{}`.\n",
        mesh.release,
        cell(&mesh.profile),
        mesh.networking_api.as_str(),
        scenario.namespace.name
    );
    out.push_str("## Install order\n\n| # | file | resources | apply with |\n|---|---|---|---|\n");
    for (i, bundle) in build.bundles.iter().enumerate() {
        let resources: Vec<String> = bundle.resources.iter().map(|r| r.id.to_string()).collect();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | `{}` |",
            i + 1,
            bundle.file,
            cell(&resources.join(", ")),
            bundle.apply_with
        );
    }
    let _ = writeln!(
        out,
        "\nOr everything `kubectl` applies at once, with the routing of a step: \
         `meshgen build <scenario> --stdout --step <step> | kubectl apply -f -`.\n"
    );
    out.push_str("## Steps\n\n");
    if build.steps.is_empty() {
        out.push_str("The scenario has no steps.\n\n");
    }
    for (k, (step, bundle)) in scenario.steps.iter().zip(&build.steps).enumerate() {
        let _ = write!(out, "### {}. `{}`", k + 1, step.name);
        if let Some(description) = &step.description {
            let _ = write!(out, ": {}", cell(description));
        }
        let _ = writeln!(out, "\n\n`kubectl apply -f {}`\n", bundle.file);
        out.push_str(
            "| service | when | to | fault | timeout | retries | mirror |\n|---|---|---|---|---|---|---|\n",
        );
        for routing in &step.routes {
            routing_rows(&mut out, routing);
        }
        if bundle.diff.is_empty() {
            out.push_str("\nThe routing does not change.\n\n");
        } else {
            let fence = fence_for(&bundle.diff);
            let _ = writeln!(
                out,
                "\n<details><summary>Routing diff from the previous step ({})</summary>\n\n\
                 {fence}diff\n{}{fence}\n\n</details>\n",
                bundle.diff_file, bundle.diff
            );
        }
    }
    out.push_str("## Teardown\n\n");
    let _ = writeln!(
        out,
        "1. `kubectl delete --ignore-not-found -f {TEARDOWN_FILE}` deletes every applied \
         resource, in reverse order.\n2. `istioctl manifest generate -f 01-mesh.yaml | kubectl \
         delete --ignore-not-found -f -` removes the mesh."
    );
    out
}

/// One table row per rule of a service's routing.
fn routing_rows(out: &mut String, routing: &ServiceRouting) {
    for rule in &routing.rules {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            routing.service,
            cell(&condition(rule)),
            destinations(rule),
            cell(&fault(rule)),
            rule.timeout
                .as_ref()
                .map_or(String::new(), |t| t.text.clone()),
            rule.retries.as_ref().map_or(String::new(), |r| {
                let mut text = format!("{} attempts", r.attempts);
                if let Some(t) = &r.per_try_timeout {
                    let _ = write!(text, " × {t}");
                }
                text
            }),
            rule.mirror
                .as_ref()
                .map_or(String::new(), |m| match m.percent {
                    Some(p) => format!("{} ({p}%)", m.version),
                    None => m.version.clone(),
                }),
        );
    }
}

/// The rule's match conditions in words, or "everyone else".
pub fn condition(rule: &Rule) -> String {
    let mut parts: Vec<String> = rule
        .headers
        .iter()
        .map(|(name, m)| format!("{name} {} {}", m.kind(), m.value()))
        .collect();
    if let Some(uri) = &rule.uri {
        parts.push(format!("uri {} {}", uri.kind(), uri.value()));
    }
    if let Some(method) = &rule.method {
        parts.push(format!("method {method}"));
    }
    if parts.is_empty() {
        "everyone else".to_owned()
    } else {
        parts.join(" and ")
    }
}

fn destinations(rule: &Rule) -> String {
    rule.destinations
        .iter()
        .map(|d| match d.weight {
            Some(w) => format!("{} {w}%", d.version),
            None => d.version.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fault(rule: &Rule) -> String {
    let mut parts = Vec::new();
    if let Some(delay) = &rule.delay {
        parts.push(format!("delay {} ({}%)", delay.duration, delay.percent));
    }
    if let Some(abort) = &rule.abort {
        parts.push(format!("abort {} ({}%)", abort.status, abort.percent));
    }
    parts.join(", ")
}

/// Text made safe for one Markdown table cell or heading: no line breaks, no
/// `|`, no HTML.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push('\''),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code fence longer than any run of backticks in `text`.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a|b\nc <script>"), "a\\|b c &lt;script&gt;");
    }

    #[test]
    fn fences_outgrow_backtick_runs() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
