//! The plan: a Markdown page a reviewer reads in a pull request — what is
//! installed in which order and with which command, and per step: who gets
//! which version (per header class), a Mermaid flowchart of the routing, and
//! the step's diff. One small function per section, called in page order by
//! `plan`. Deterministic; reads only the model and the build.

use std::fmt::Write as _;

use crate::bundle::{Build, Bundle, StepBundle, TEARDOWN_FILE};
use crate::flowchart;
use crate::model::{Rule, Scenario};
use crate::routing::{self, Class, InForce};

/// Above this many services, a step's table and flowchart show only the
/// services the step names (the rest would bury the change).
pub const FULL_DETAIL_SERVICES: usize = 20;

/// The largest step diff `PLAN.md` holds inline, in bytes. GitHub renders a
/// Markdown page only while it is small (generally under 2 MB) and shows at
/// most 500 KB of one file's diff in a pull request; a larger step diff is
/// linked, in its own `steps/NN-step.diff`, instead of copied into the page.
pub const INLINE_DIFF_BYTES: usize = 100_000;

/// Renders `PLAN.md`: one section function per part, in page order.
pub fn plan(scenario: &Scenario, build: &Build) -> String {
    let mut out = String::new();
    title(&mut out, scenario);
    install_order(&mut out, scenario, build);
    out.push_str("## Steps\n\n");
    if build.steps.is_empty() {
        out.push_str("The scenario has no steps.\n\n");
    }
    let classes = routing::classes(scenario);
    for k in 0..scenario.steps.len().min(build.steps.len()) {
        step_heading(&mut out, scenario, build, k);
        who_gets_what(&mut out, scenario, k, &classes);
        step_flowchart(&mut out, scenario, k, &classes);
        predicted_outcome(&mut out, scenario, k);
        step_diff(&mut out, &build.steps[k]);
    }
    teardown(&mut out);
    out
}

/// The page title, the description and the mesh in one line.
fn title(out: &mut String, scenario: &Scenario) {
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
}

/// The bundles in apply order, each with the command that applies it and its
/// resources: by name, or counted by kind in a scenario of more than
/// `FULL_DETAIL_SERVICES` services (`index.json` lists every one).
fn install_order(out: &mut String, scenario: &Scenario, build: &Build) {
    out.push_str("## Install order\n\n| # | file | resources | apply with |\n|---|---|---|---|\n");
    let by_name = scenario.services.len() <= FULL_DETAIL_SERVICES;
    for (i, bundle) in build.bundles.iter().enumerate() {
        let resources: Vec<String> = if by_name {
            bundle.resources.iter().map(|r| r.id.to_string()).collect()
        } else {
            kind_counts(bundle)
        };
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
        "\nOr everything `kubectl` applies at once: `kubectl apply -k .` (the folder's \
         `kustomization.yaml`), then a step's routing with `kubectl apply -k routing/<step>`; \
         or `meshgen build <scenario> --stdout --step <step> | kubectl apply -f -`.\n"
    );
}

/// How many resources of each kind a bundle holds, kinds in their order:
/// `5000 ServiceAccount`, `15000 Deployment`.
fn kind_counts(bundle: &Bundle) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for resource in &bundle.resources {
        match counts.last_mut() {
            Some((kind, n)) if *kind == resource.id.kind => *n += 1,
            _ => counts.push((&resource.id.kind, 1)),
        }
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect()
}

/// `### k. name: description` and the command that applies the step.
fn step_heading(out: &mut String, scenario: &Scenario, build: &Build, k: usize) {
    let (step, bundle) = (&scenario.steps[k], &build.steps[k]);
    let _ = write!(out, "### {}. `{}`", k + 1, step.name);
    if let Some(description) = &step.description {
        let _ = write!(out, ": {}", cell(description));
    }
    let _ = writeln!(
        out,
        "\n\n`kubectl apply -f {}` (the whole routing state after it: `{}/`)\n",
        bundle.file, bundle.routing_dir
    );
}

/// The services a step's table and flowchart show: all of them, or only
/// those the step names when the scenario is large.
fn shown(scenario: &Scenario, k: usize) -> Vec<InForce<'_>> {
    let all = routing::in_force(scenario, k);
    if scenario.services.len() <= FULL_DETAIL_SERVICES {
        all
    } else {
        all.into_iter().filter(|f| f.named).collect()
    }
}

/// Who gets which version after the step: per service, per class of
/// requests that its routing tells apart, the version(s) with weights, and
/// the fault, timeout, retries and mirror of the rule that answers.
fn who_gets_what(out: &mut String, scenario: &Scenario, k: usize, classes: &[Class]) {
    out.push_str(
        "| service | requests | when | version | fault | timeout | retries | mirror |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for in_force in shown(scenario, k) {
        let service = &in_force.service.name;
        let name = if in_force.named {
            format!("**{service}**")
        } else {
            service.clone()
        };
        let Some(routing) = in_force.routing else {
            let deployed: Vec<&str> = in_force
                .service
                .versions
                .iter()
                .filter(|v| v.deploy)
                .map(|v| v.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "| {name} | everyone |  | {} (no VirtualService: any pod) |  |  |  |  |",
                cell(&deployed.join(", "))
            );
            continue;
        };
        for (audience, outcomes) in routing::audiences(routing, classes) {
            let several = outcomes.len() > 1;
            for outcome in &outcomes {
                let when = if !outcome.when.is_empty() {
                    outcome.when.join(" and ")
                } else if several {
                    "otherwise".to_owned()
                } else {
                    String::new()
                };
                let Some(rule) = outcome.rule else {
                    let _ = writeln!(
                        out,
                        "| {name} | {} | {} | no route (HTTP 404) |  |  |  |  |",
                        cell(&audience),
                        cell(&when)
                    );
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                    cell(&audience),
                    cell(&when),
                    destinations(rule),
                    cell(&fault(rule)),
                    rule.timeout
                        .as_ref()
                        .map_or(String::new(), |t| t.text.clone()),
                    cell(&retries(rule)),
                    rule.mirror
                        .as_ref()
                        .map_or(String::new(), |m| match m.percent {
                            Some(p) => format!("{} ({p}%)", m.version),
                            None => m.version.clone(),
                        }),
                );
            }
        }
    }
    if scenario.services.len() > FULL_DETAIL_SERVICES {
        let _ = writeln!(
            out,
            "\nOnly the services this step names are shown ({} services in all).",
            scenario.services.len()
        );
    } else {
        out.push_str("\nServices in **bold** are the ones this step names.\n");
    }
    if let Some(gateway) = &scenario.gateway {
        let mut services: Vec<&str> = gateway.routes.iter().map(|r| r.service.as_str()).collect();
        services.dedup();
        let _ = writeln!(
            out,
            "Requests entering through `{}` reach {} without a subset: any pod of any version.",
            gateway.name,
            cell(&services.join(", "))
        );
    }
    out.push('\n');
}

/// The routing after the step as a Mermaid flowchart.
/// A chart Mermaid would refuse to draw is left out, with a line saying why.
fn step_flowchart(out: &mut String, scenario: &Scenario, k: usize, classes: &[Class]) {
    let max = flowchart::MERMAID_MAX_TEXT_SIZE;
    match flowchart::flowchart(scenario, &shown(scenario, k), classes, max) {
        Some(chart) => {
            let fence = fence_for(&chart);
            let _ = writeln!(out, "{fence}mermaid\n{chart}{fence}\n");
        }
        None => {
            let _ = writeln!(
                out,
                "No flowchart: it would be longer than Mermaid's default limit of {max} \
                 characters (`maxTextSize`), and renderers would show an error instead. \
                 The table above holds the same routing.\n"
            );
        }
    }
}

/// What each class of requests sees after the step, as `meshgen explain`
/// predicts it (the outcome model of docs/explain.md).
fn predicted_outcome(out: &mut String, scenario: &Scenario, k: usize) {
    let predictions = match crate::explain::predict(scenario, k, FULL_DETAIL_SERVICES) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => return,
        Err(e) => {
            let _ = writeln!(out, "Predicted outcome: none ({}).\n", cell(&e.to_string()));
            return;
        }
    };
    // One entry (the usual case): said once, above the table.
    let first = &predictions[0];
    let single = predictions
        .iter()
        .all(|p| p.entry == first.entry && p.request == first.request);
    if single {
        let _ = writeln!(
            out,
            "Predicted outcome of `{}` entering at {} (`meshgen explain` shows every hop):\n\n\
             | requests | p | outcome |\n|---|---|---|",
            cell(&first.request),
            cell(&first.entry)
        );
    } else {
        out.push_str(
            "Predicted outcome (`meshgen explain` shows every hop):\n\n\
             | requests | p | outcome |\n|---|---|---|\n",
        );
    }
    for prediction in &predictions {
        let who = if single {
            cell(&prediction.class)
        } else {
            format!(
                "{}, `{}` at {}",
                cell(&prediction.class),
                cell(&prediction.request),
                cell(&prediction.entry)
            )
        };
        for outcome in &prediction.outcomes {
            let _ = writeln!(
                out,
                "| {who} | {} | {} |",
                crate::explain::probability(outcome.probability),
                cell(&outcome.summary())
            );
        }
    }
    let entries = crate::explain::default_entries(scenario).len();
    if entries > FULL_DETAIL_SERVICES {
        let _ = writeln!(
            out,
            "\nThe first {FULL_DETAIL_SERVICES} of {entries} entry points; `meshgen explain \
             <scenario> --step <step> --entry SERVICE` for the others."
        );
    }
    out.push('\n');
}

/// The step's unified diff from the previous step's routing, folded.
fn step_diff(out: &mut String, bundle: &StepBundle) {
    if bundle.diff.is_empty() {
        out.push_str("The routing does not change.\n\n");
    } else if bundle.diff.len() > INLINE_DIFF_BYTES {
        let lines = bundle.diff.bytes().filter(|&b| b == b'\n').count();
        let _ = writeln!(
            out,
            "Routing diff from the previous step: [`{file}`]({file}), {lines} lines. It is \
             longer than the {INLINE_DIFF_BYTES} bytes this page holds inline, so that \
             the page stays small enough for GitHub to render.\n",
            file = bundle.diff_file
        );
    } else {
        let fence = fence_for(&bundle.diff);
        let _ = writeln!(
            out,
            "<details><summary>Routing diff from the previous step ({})</summary>\n\n\
             {fence}diff\n{}{fence}\n\n</details>\n",
            bundle.diff_file, bundle.diff
        );
    }
}

/// How to remove everything again.
fn teardown(out: &mut String) {
    out.push_str("## Teardown\n\n");
    let _ = writeln!(
        out,
        "1. `kubectl delete --ignore-not-found -f {TEARDOWN_FILE}` deletes every applied \
         resource, in reverse order.\n2. `istioctl manifest generate -f 01-mesh.yaml | kubectl \
         delete --ignore-not-found -f -` removes the mesh."
    );
}

/// `2 attempts × 2s on 5xx`.
fn retries(rule: &Rule) -> String {
    rule.retries.as_ref().map_or(String::new(), |r| {
        let mut text = format!("{} attempts", r.attempts);
        if let Some(t) = &r.per_try_timeout {
            let _ = write!(text, " × {t}");
        }
        if let Some(on) = &r.retry_on {
            let _ = write!(text, " on {on}");
        }
        text
    })
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
    let mut longest = 0;
    let mut run = 0;
    for byte in text.bytes() {
        run = if byte == b'`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
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
        assert_eq!(fence_for("``` then ````` at the end `````"), "``````");
    }
}
