//! The plan: a Markdown page a reviewer reads in a pull request — what is
//! installed in which order and with which command, and per step: who gets
//! which version (per header class), a Mermaid flowchart of the routing, and
//! the step's diff. One small function per section, called in page order by
//! `plan`. Deterministic; reads only the model and the build.
//!
//! Scenario text is literal on the page: every string from the scenario goes
//! through the escaping function of its context (`inline_text` for a cell, a
//! heading or a sentence, `paragraphs` for a description, `code_span` and
//! `code_span_in_cell` for code, `fence_for` for a fenced block). Only file
//! names built from DNS labels (`steps/01-all-v1.yaml`) are written as they are.

use std::fmt::Write as _;

use crate::bundle::{Action, Build, Bundle, Phase, PhaseFile, StepBundle, TEARDOWN_FILE};
use crate::flowchart;
use crate::model::{Rule, Scenario, ServiceRouting, VersionRef};
use crate::resource::ResourceId;
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
    not_emitted(&mut out, scenario);
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
    let _ = writeln!(out, "# Plan: {}\n", inline_text(&scenario.name));
    if let Some(description) = &scenario.description {
        let description = paragraphs(description);
        if !description.is_empty() {
            let _ = writeln!(out, "{description}");
        }
    }
    let _ = writeln!(
        out,
        "Istio {} (profile {}), networking.istio.io/{}, namespace {}.\n",
        mesh.release,
        code_span(&mesh.profile),
        mesh.networking_api.as_str(),
        code_span(&scenario.namespace.name)
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
            inline_text(&resources.join(", ")),
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

/// What the scenario needs and meshgen does not emit: the gateway's TLS
/// Secret, and with `workloads = "existing"` the application's Services
/// and the labels its pods must carry. Nothing when it needs neither.
fn not_emitted(out: &mut String, scenario: &Scenario) {
    let tls = scenario
        .gateway
        .as_ref()
        .and_then(|g| g.tls.as_ref().map(|t| (g, t)));
    if tls.is_none() && scenario.emits_workloads() {
        return;
    }
    out.push_str("## What meshgen does not emit\n\n");
    let ns = code_span(&scenario.namespace.name);
    if let Some((gateway, tls)) = tls {
        let secret = code_span(&tls.credential_name);
        let (namespace, where_) = if gateway.custom_selector {
            let selector = (gateway.selector.iter())
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                "<gateway namespace>".to_owned(),
                format!(
                    "the namespace where the pods of the gateway (selector {}) run",
                    code_span(&selector)
                ),
            )
        } else {
            (
                "istio-system".to_owned(),
                "namespace `istio-system`, where Istio's ingress gateway runs".to_owned(),
            )
        };
        let _ = writeln!(
            out,
            "- **The TLS Secret.** The HTTPS server of {} (port 443) reads its certificate and \
             key from the Secret {secret} (`credentialName`), which must be in {where_}: Istio \
             looks a Gateway's `credentialName` up in the namespace of the gateway's pods, not \
             in the Gateway's own namespace ({ns}). meshgen never emits secrets: create it, e.g. \
             {}, or with cert-manager.",
            code_span(&gateway.name),
            code_span(&format!(
                "kubectl create secret tls {} -n {namespace} --cert=cert.pem --key=key.pem",
                tls.credential_name
            ))
        );
    }
    if !scenario.emits_workloads() {
        let _ = writeln!(
            out,
            "- **The application's workloads** (`workloads = \"existing\"`): its own manifests \
             run them in namespace {ns}, a Service per service (named after it, its port named \
             after the protocol, which Istio reads) and pods carrying the labels each version's \
             subset selects. The teardown deletes only what meshgen emitted, and leaves the \
             namespace.\n\n\
             | service | Service port | version | pod labels | runs |\n|---|---|---|---|---|"
        );
        let step = |k: usize| {
            scenario
                .steps
                .get(k)
                .map_or(String::new(), |s| code_span(&s.name))
        };
        for service in &scenario.services {
            let port = format!(
                "{} ({})",
                service.port,
                code_span(service.protocol.as_str())
            );
            for (j, version) in service.versions.iter().enumerate() {
                let runs = match (version.lifetime.launch, version.lifetime.retire) {
                    (None, None) => String::new(),
                    (Some(l), None) => format!("from step {}", step(l)),
                    (None, Some(r)) => format!("up to step {}", step(r)),
                    (Some(l), Some(r)) => format!("from step {} up to step {}", step(l), step(r)),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {runs} |",
                    if j == 0 {
                        inline_text(&service.name)
                    } else {
                        String::new()
                    },
                    if j == 0 { port.as_str() } else { "" },
                    inline_text(&version.name),
                    code_span_in_cell(&labels(&version.labels)),
                );
            }
        }
        out.push('\n');
        if scenario.namespace.labels.contains_key("istio-injection")
            || scenario.namespace.labels.contains_key("istio.io/rev")
        {
            let _ = writeln!(
                out,
                "Pods that ran before `02-namespace.yaml` labelled the namespace for sidecar \
                 injection get their sidecar when they restart: {}.",
                code_span(&format!(
                    "kubectl rollout restart deployment -n {}",
                    scenario.namespace.name
                ))
            );
        }
    }
    out.push('\n');
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
    let _ = write!(out, "### {}. {}", k + 1, code_span(&step.name));
    if let Some(description) = step.description.as_deref().map(inline_text)
        && !description.is_empty()
    {
        let _ = write!(out, ": {description}");
    }
    if !build.releases {
        let file = bundle
            .files
            .iter()
            .map(|f| f.file.as_str())
            .next()
            .unwrap_or("");
        let _ = writeln!(
            out,
            "\n\n`kubectl apply -f {file}` (the whole routing state after it: `{}/`)\n",
            bundle.routing_dir
        );
        return;
    }
    out.push_str("\n\n");
    for (what, refs) in [("Launches", &step.launch), ("Retires", &step.retire)] {
        if !refs.is_empty() {
            let versions: Vec<String> = refs
                .iter()
                .map(|r| format!("{} {}", r.service, r.version))
                .collect();
            let _ = writeln!(out, "{what} {}.", inline_text(&versions.join(", ")));
        }
    }
    let _ = writeln!(
        out,
        "\nRun in this order, make before break (the whole state after it: `{}/`):\n",
        bundle.routing_dir
    );
    commands(
        out,
        &bundle.files,
        bundle.launched(),
        &existing_pods(scenario, &step.launch),
    );
    if bundle.rollback.is_empty() {
        out.push_str("Rollback: nothing to undo.\n\n");
    } else {
        out.push_str("Rollback, from the state after the step to the state before it:\n\n");
        commands(
            out,
            &bundle.rollback,
            bundle.relaunched(),
            &existing_pods(scenario, &step.retire),
        );
    }
}

/// With `workloads = "existing"`, what to wait for before routing to the
/// versions `refs` (launched, or relaunched by a rollback): the
/// application's pods of each, by the labels its subset selects.
fn existing_pods(scenario: &Scenario, refs: &[VersionRef]) -> Vec<String> {
    if scenario.emits_workloads() {
        return Vec::new();
    }
    refs.iter()
        .filter_map(|r| {
            let version = scenario.service(&r.service)?.version(&r.version)?;
            Some(format!(
                "the application's pods of {} {} ({}) are ready",
                inline_text(&r.service),
                inline_text(&r.version),
                code_span(&labels(&version.labels))
            ))
        })
        .collect()
}

/// `track: canary, tier: web`.
fn labels(labels: &[(String, String)]) -> String {
    (labels.iter())
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The numbered commands that run `files` in order, with a wait for the
/// `launched` Deployments to be available after the launch phase, and for
/// the application's own pods (`existing`, already worded) to be ready.
fn commands<'a>(
    out: &mut String,
    files: &[PhaseFile],
    launched: impl Iterator<Item = &'a ResourceId>,
    existing: &[String],
) {
    let mut n = 0;
    let mut line = |out: &mut String, text: String| {
        n += 1;
        let _ = writeln!(out, "{n}. {text}");
    };
    let launched: Vec<&ResourceId> = launched.collect();
    for file in files {
        line(
            out,
            format!("{}: `{}`", phase_name(file.phase), file.command()),
        );
        if file.phase == Phase::Launch && file.action == Action::Apply {
            for id in &launched {
                let namespace = id.namespace.as_deref().unwrap_or("default");
                let wait = format!(
                    "kubectl rollout status deployment/{} -n {namespace}",
                    id.name
                );
                line(out, format!("wait until available: `{wait}`"));
            }
            for pods in existing {
                line(out, format!("wait until {pods}"));
            }
        }
    }
    out.push('\n');
}

/// How the plan names a phase.
fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Launch => "launch",
        Phase::Route => "route",
        Phase::Retire => "retire",
    }
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
                .filter(|v| v.has_pods(in_force.at))
                .map(|v| v.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "| {name} | everyone |  | {} (no VirtualService: any pod) |  |  |  |  |",
                inline_text(&deployed.join(", "))
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
                        inline_text(&audience),
                        inline_text(&when)
                    );
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                    inline_text(&audience),
                    inline_text(&when),
                    inline_text(&destinations(rule)),
                    inline_text(&fault(rule)),
                    rule.timeout
                        .as_ref()
                        .map_or(String::new(), |t| inline_text(&t.text)),
                    inline_text(&retries(rule)),
                    rule.mirror
                        .as_ref()
                        .map_or(String::new(), |m| inline_text(&match m.percent {
                            Some(p) => format!("{} ({p}%)", m.version),
                            None => m.version.clone(),
                        })),
                );
            }
        }
        if let Some(gateway) = &scenario.gateway
            && !gateway.version_routing
            && gateway.exposes(service)
            && ignored_at_the_gateway(&in_force, routing)
        {
            // Gateway traffic reaches any pod: say so where the rows above
            // would otherwise speak for it too.
            let pods: Vec<&str> = (in_force.service.versions.iter())
                .filter(|v| v.has_pods(in_force.at))
                .map(|v| v.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "| {name} | through gateway {} |  | {} (no subset: any pod, this routing ignored) |  |  |  |  |",
                code_span_in_cell(&gateway.name),
                inline_text(&pods.join(", "))
            );
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
        if gateway.version_routing {
            let _ = writeln!(
                out,
                "Requests entering through {} get this routing of {} too (`version_routing`), \
                 within the URIs of the gateway's routes.",
                code_span(&gateway.name),
                inline_text(&services.join(", "))
            );
        } else {
            let _ = writeln!(
                out,
                "Requests entering through {} reach {} without a subset: any pod of any version.",
                code_span(&gateway.name),
                inline_text(&services.join(", "))
            );
        }
    }
    out.push('\n');
}

/// Whether traffic entering through a gateway that routes to the service
/// without a subset gets something else than the service's `routing` says:
/// unless one version has pods and every rule sends everyone there, with no
/// fault, timeout, retries or mirror, and the last rule catches every request.
fn ignored_at_the_gateway(in_force: &InForce<'_>, routing: &ServiceRouting) -> bool {
    let mut pods = (in_force.service.versions.iter()).filter(|v| v.has_pods(in_force.at));
    let (Some(only), None) = (pods.next(), pods.next()) else {
        return true;
    };
    let plain = |rule: &Rule| {
        rule.destinations.iter().all(|d| d.version == only.name)
            && rule.delay.is_none()
            && rule.abort.is_none()
            && rule.timeout.is_none()
            && rule.retries.is_none()
            && rule.mirror.is_none()
    };
    !(routing.rules.iter().all(plain) && routing.rules.last().is_some_and(Rule::is_catch_all))
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
            let _ = writeln!(
                out,
                "Predicted outcome: none ({}).\n",
                inline_text(&e.to_string())
            );
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
            "Predicted outcome of {} entering at {} (`meshgen explain` shows every hop):\n\n\
             | requests | p | outcome |\n|---|---|---|",
            code_span(&first.request),
            inline_text(&first.entry)
        );
    } else {
        out.push_str(
            "Predicted outcome (`meshgen explain` shows every hop):\n\n\
             | requests | p | outcome |\n|---|---|---|\n",
        );
    }
    for prediction in &predictions {
        let who = if single {
            inline_text(&prediction.class)
        } else {
            format!(
                "{}, {} at {}",
                inline_text(&prediction.class),
                code_span_in_cell(&prediction.request),
                inline_text(&prediction.entry)
            )
        };
        for outcome in &prediction.outcomes {
            let _ = writeln!(
                out,
                "| {who} | {} | {} |",
                crate::explain::probability(outcome.probability),
                inline_text(&outcome.summary())
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

/// ASCII punctuation that can open inline Markdown (CommonMark and GFM):
/// code spans, emphasis and strikethrough, links and images, raw HTML and
/// autolinks, entities, table cells, ATX heading closers, GitHub's `$` math,
/// and the backslash itself. Other punctuation (`.`, `-`, `(`, `:` …) is
/// inert inside a line and left alone, so ordinary prose stays readable.
const INLINE_SPECIAL: &[char] = &[
    '\\', '`', '*', '_', '~', '[', ']', '<', '>', '!', '&', '|', '#', '$',
];

/// What `inline_text` writes before an `@` that could end an e-mail
/// address's local part: an empty HTML comment, which GitHub and GitLab
/// show as nothing. GFM finds e-mail addresses (and with them `mailto:` and
/// `xmpp:` links) after parsing, in the text of each node with its escapes
/// and entities already decoded, so a backslash cannot stop them; a node
/// that is not text between the local part and the `@` does.
const AUTOLINK_BREAK: &str = "<!-- -->";

/// Scenario text as literal inline Markdown on one line — a table cell, a
/// heading, a sentence: every `INLINE_SPECIAL` character is
/// backslash-escaped, and so are the `:` of `://` (`http://`, `https://`),
/// `mailto:` and `xmpp:`, and the `.` of `www.`, which GFM's extended
/// autolinks look for while parsing; an `@` right after a character an
/// e-mail address can hold gets `AUTOLINK_BREAK` before it. Each line break,
/// with the blanks around it, and every other control character becomes one
/// space.
fn inline_text(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let ends_with = |i: usize, word: &str| {
        i >= word.len()
            && text
                .get(i - word.len()..i)
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    let mut previous = None;
    for (i, c) in text.char_indices() {
        if c == '@'
            && previous.is_some_and(|p: char| p.is_ascii_alphanumeric() || "._+-".contains(p))
        {
            out.push_str(AUTOLINK_BREAK);
        }
        previous = Some(c);
        let autolink = (c == ':'
            && (text[i + 1..].starts_with("//") || ends_with(i, "mailto") || ends_with(i, "xmpp")))
            || (c == '.' && ends_with(i, "www"));
        if autolink || INLINE_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Scenario text as literal Markdown paragraphs (a multi-line description):
/// each line is `inline_text`, without its leading and trailing blanks (a
/// paragraph drops them anyway: no indented code, no hard line break), and a
/// line that would otherwise start a block — a list item (`-`, `+`, `1.`,
/// `1)`), a setext underline or thematic break (`===`, `---`), a table's
/// delimiter row (`:--`) — has that first character escaped; `#`, `>`, fences
/// and HTML are escaped by `inline_text` already. Blank lines separate
/// paragraphs (runs of them count once). Ends with a line break, or is empty.
fn paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut blank = false;
    for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
        let line = inline_text(line);
        let line = line.trim_matches(' ');
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        let marker = line[digits..].chars().next();
        let after = line[digits..].chars().nth(1);
        if digits == 0 && matches!(marker, Some('-' | '+' | '=' | ':')) {
            out.push('\\');
            out.push_str(line);
        } else if (1..=9).contains(&digits)
            && matches!(marker, Some('.' | ')'))
            && after.is_none_or(|c| c == ' ' || c == '\t')
        {
            out.push_str(&line[..digits]);
            out.push('\\');
            out.push_str(&line[digits..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Scenario text as a code span in a sentence (not in a table: see
/// `code_span_in_cell`): delimited by a backtick run longer than any inside,
/// padded with a space on each side when the text starts or ends with a
/// backtick or with spaces a code span would strip; line breaks and other
/// control characters become spaces (inside a span a line break would let
/// the next line start a block).
fn code_span(text: &str) -> String {
    let text: String = one_line(text);
    let ticks = "`".repeat(longest_run(&text, b'`') + 1);
    if text.is_empty() {
        return "` `".to_owned();
    }
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim_matches(' ').is_empty());
    if pad {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}

/// Scenario text as a code span inside a GFM table cell: `code_span`, with
/// every `|` escaped (GFM splits cells at a `|` even inside a code span, and
/// drops the backslash of `\|` before reading the span).
fn code_span_in_cell(text: &str) -> String {
    code_span(text).replace('|', "\\|")
}

/// The text on one line: each line break, with the blanks around it, and
/// every other control character becomes one space.
fn one_line(text: &str) -> String {
    let joined;
    let text = if text.contains(['\n', '\r']) {
        joined = text
            .split(['\n', '\r'])
            .map(|line| line.trim_matches([' ', '\t']))
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        &joined
    } else {
        text
    };
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest run of `byte` in `text`.
fn longest_run(text: &str, byte: u8) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for b in text.bytes() {
        run = if b == byte { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// A code fence longer than any run of backticks in `text` (at least three),
/// so no line of the text can close it.
fn fence_for(text: &str) -> String {
    "`".repeat(longest_run(text, b'`').max(2) + 1)
}

#[cfg(test)]
mod tests {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

    use super::*;
    use crate::scenario::valid_model as model;

    /// Markdown that tries to be every block and inline construct at once.
    const HOSTILE: &str = "~~~\n# heading\n- item\n+ plus\n* star\n1. one\n2) two\n> quote\n\
        ===\n---\n___\n    indented code\n\t<div>html block</div>\n| a | b |\n|---|---|\n\
        :--|--:\n[ref]: http://host/ref\n[^note]: footnote\n\n\n\
        ![img](http://host/x.png) [t](http://host/u) <http://host/auto> <b>tag</b> \
        https://host.example/x www.example.com **strong** _em_ ~~strike~~ `code` \
        a|b &amp; $x$ \\* trailing \\\n```\nclosing #\n";

    /// The plan of a scenario whose every free-text field is `HOSTILE` or
    /// another attempt at markup: descriptions, header names and values
    /// (exact, prefix, regex), URIs of a rule and of the gateway, and a
    /// gateway name that looks like a web address. `lone` is a second entry
    /// point, so the predicted outcome's table names the request per row.
    fn hostile_plan() -> String {
        hostile_plan_with(LONE)
    }

    /// A second service no one calls: a second entry point.
    const LONE: &str =
        "[[services]]\nname = \"lone\"\nport = 80\n[services.versions.v1]\nimage = \"lone:1\"\n";

    /// `hostile_plan`, with `extra` (TOML) after its first service.
    fn hostile_plan_with(extra: &str) -> String {
        let text = format!(
            r#"
name = "t"
description = {hostile}
[mesh]
version = "1.24.2"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
  [services.versions.v1]
  image = "front:1"
  [services.versions.v2]
  image = "front:2"
{extra}
[gateway]
name = "www.gw.example.com"
[[gateway.routes]]
service = "front"
uris = [ {{ exact = "/p`x``|<b>*y*" }} ]
[[steps]]
name = "s"
description = {hostile}
[[steps.routes]]
service = "front"
headers = {{ "~~x~~" = "![i](http://host/x.png)", "*h*" = {{ prefix = "[t](http://host/u)" }} }}
to = "v2"
[[steps.routes]]
service = "front"
headers = {{ "x_y_" = {{ regex = "![x](http://h/y)|<b>" }} }}
uri = {{ exact = "/a`b`|<c>&amp;" }}
to = "v2"
[[steps.routes]]
service = "front"
to = "v1"
"#,
            hostile = toml_string(HOSTILE)
        );
        let scenario = model(&text);
        let renderer = crate::render::Renderer::new(None).expect("the shipped templates load");
        let build = crate::bundle::bundle(&renderer, &scenario).expect("the scenario builds");
        plan(&scenario, &build)
    }

    /// `text` as a TOML basic string.
    fn toml_string(text: &str) -> String {
        serde_json::to_string(text).expect("a string serializes")
    }

    /// GitHub's Markdown, as far as pulldown-cmark reads it: CommonMark with
    /// GFM tables, strikethrough, footnotes and `$` math.
    fn events(markdown: &str) -> Vec<Event<'_>> {
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_MATH
            | Options::ENABLE_GFM;
        Parser::new_ext(markdown, options).collect()
    }

    /// The text of each paragraph (soft breaks as spaces).
    fn paragraph_texts(markdown: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        for event in events(markdown) {
            match event {
                Event::Start(Tag::Paragraph) => current = Some(String::new()),
                Event::End(TagEnd::Paragraph) => out.extend(current.take()),
                Event::Text(t) | Event::Code(t) => {
                    if let Some(c) = &mut current {
                        c.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some(c) = &mut current {
                        c.push(' ');
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The text of every table cell, row by row.
    fn table_cells(markdown: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row: Vec<String> = Vec::new();
        let mut cell: Option<String> = None;
        for event in events(markdown) {
            match event {
                Event::Start(Tag::TableCell) => cell = Some(String::new()),
                Event::End(TagEnd::TableCell) => row.extend(cell.take()),
                Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                    rows.push(std::mem::take(&mut row))
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some(c) = &mut cell {
                        c.push_str(&t);
                    }
                }
                _ => {}
            }
        }
        rows
    }

    /// Every structure of the page that scenario text could have made: each
    /// heading, list, block quote, code block, HTML, link, image, emphasis,
    /// strikethrough, math, footnote and table, in order.
    fn structure(markdown: &str) -> Vec<String> {
        events(markdown)
            .into_iter()
            .filter_map(|event| match event {
                Event::Start(Tag::Heading { level, .. }) => Some(format!("{level}")),
                Event::Start(Tag::List(start)) => Some(format!("list {start:?}")),
                Event::Start(Tag::BlockQuote(_)) => Some("quote".to_owned()),
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                    Some(format!("fence {info}"))
                }
                Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)) => {
                    Some("indented code".to_owned())
                }
                Event::Start(Tag::HtmlBlock) => Some("html block".to_owned()),
                // Only `inline_text`'s own break of e-mail autolinks.
                Event::InlineHtml(html) if html.as_ref() == AUTOLINK_BREAK => None,
                Event::InlineHtml(html) => Some(format!("inline html {html}")),
                Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
                Event::Start(Tag::Image { dest_url, .. }) => Some(format!("image {dest_url}")),
                Event::Start(Tag::Emphasis) => Some("emphasis".to_owned()),
                Event::Start(Tag::Strikethrough) => Some("strikethrough".to_owned()),
                Event::InlineMath(m) | Event::DisplayMath(m) => Some(format!("math {m}")),
                Event::FootnoteReference(f) => Some(format!("footnote {f}")),
                Event::Start(Tag::FootnoteDefinition(f)) => Some(format!("footnote {f}")),
                Event::Start(Tag::Table(_)) => Some("table".to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The structure `hostile_plan` must have: only the page's own.
    fn expected_structure() -> Vec<String> {
        [
            "h1",
            "h2",
            "table",
            "h2",
            "h3",
            "table",
            "fence mermaid",
            "table",
            "html block",
            "fence diff",
            "html block",
            "h2",
            "list Some(1)",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn the_reference_description_comes_out_unchanged() {
        let text = "Istio Bookinfo traffic management walkthrough (Istio 1.5.1)";
        assert_eq!(inline_text(text), text);
        assert_eq!(paragraphs(text), format!("{text}\n"));
        let prose = "traffic-management for v1.15: 50% to v3, see the wiki (or not)";
        assert_eq!(inline_text(prose), prose);
    }

    #[test]
    fn a_description_cannot_open_a_code_fence() {
        assert_eq!(paragraphs("~~~"), "\\~\\~\\~\n");
        assert_eq!(paragraphs("```"), "\\`\\`\\`\n");
        let plan = hostile_plan();
        let third = plan.lines().nth(2).expect("a description line");
        assert_eq!(third, "\\~\\~\\~");
        assert!(plan.contains("\n## Install order\n"), "{plan}");
    }

    #[test]
    fn no_scenario_text_adds_structure_to_the_plan() {
        for plan in [hostile_plan(), hostile_plan_with("")] {
            assert_eq!(structure(&plan), expected_structure(), "{plan}");
        }
    }

    #[test]
    fn a_multi_line_description_reads_back_as_its_own_text() {
        let plan = hostile_plan();
        let expected: Vec<String> = HOSTILE
            .split("\n\n")
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .collect();
        let texts = paragraph_texts(&plan);
        let got: Vec<String> = texts[..expected.len()]
            .iter()
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(got, expected, "{plan}");
    }

    #[test]
    fn block_starts_at_line_beginnings_are_neutralised() {
        let cases = [
            ("# heading", "\\# heading\n"),
            ("- item", "\\- item\n"),
            ("+ item", "\\+ item\n"),
            ("* item", "\\* item\n"),
            ("1. one", "1\\. one\n"),
            ("12) twelve", "12\\) twelve\n"),
            ("1.5.1 ships", "1.5.1 ships\n"),
            ("> quote", "\\> quote\n"),
            ("a\n===", "a\n\\===\n"),
            ("a\n---", "a\n\\---\n"),
            ("    indented", "indented\n"),
            ("<div>", "\\<div\\>\n"),
            (":--|--:", "\\:--\\|--:\n"),
            ("one\n\n\n\ntwo\n", "one\n\ntwo\n"),
            ("trailing  \nbreak\\", "trailing\nbreak\\\\\n"),
            ("", ""),
            (" \n\t\n", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(paragraphs(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_step_description_stays_one_heading_line() {
        let plan = hostile_plan();
        let heading = plan
            .lines()
            .find(|l| l.starts_with("### 1. "))
            .expect("the step heading");
        assert!(
            heading.starts_with("### 1. `s`: \\~\\~\\~ \\# heading - item"),
            "{heading}"
        );
        assert!(heading.ends_with("closing \\#"), "{heading}");
        assert_eq!(inline_text("a\n   b\r\nc\td"), "a b c d");
    }

    #[test]
    fn link_and_image_syntax_in_a_header_value_renders_as_text() {
        let plan = hostile_plan();
        let cells: Vec<String> = table_cells(&plan).concat();
        for expected in [
            "~~x~~: ![i](http://host/x.png)",
            "*h*: [t](http://host/u)*",
            "x_y_: ~/![x](http://h/y)|<b>/",
        ] {
            assert!(
                cells.iter().any(|c| c.contains(expected)),
                "{expected} not in {cells:#?}"
            );
        }
        assert!(
            plan.contains("\\~\\~x\\~\\~: \\!\\[i\\](http\\://host/x.png)"),
            "{plan}"
        );
    }

    #[test]
    fn a_uri_match_renders_as_text_in_its_cell() {
        let cells: Vec<String> = table_cells(&hostile_plan()).concat();
        assert!(
            cells.iter().any(|c| c == "uri /a`b`|<c>&amp;"),
            "{cells:#?}"
        );
    }

    #[test]
    fn the_gateway_request_is_one_code_span() {
        let plan = hostile_plan_with("");
        let code: Vec<String> = events(&plan)
            .into_iter()
            .filter_map(|e| match e {
                Event::Code(c) => Some(c.into_string()),
                _ => None,
            })
            .collect();
        assert!(code.contains(&"GET /p`x``|<b>*y*".to_owned()), "{code:#?}");
        assert!(code.contains(&"www.gw.example.com".to_owned()), "{code:#?}");
        assert!(
            plan.contains("entering at gateway www\\.gw.example.com"),
            "{plan}"
        );
    }

    #[test]
    fn the_request_in_a_predicted_outcome_cell_is_one_code_span() {
        let cells: Vec<String> = table_cells(&hostile_plan()).concat();
        assert!(
            cells
                .iter()
                .any(|c| c == "everyone else, GET /p`x``|<b>*y* at lone"),
            "{cells:#?}"
        );
    }

    #[test]
    fn autolink_starts_are_broken() {
        assert_eq!(
            inline_text("see https://x.example"),
            "see https\\://x.example"
        );
        assert_eq!(inline_text("WWW.example.com"), "WWW\\.example.com");
        assert_eq!(inline_text("<http://x>"), "\\<http\\://x\\>");
        assert_eq!(inline_text("véwww.x"), "véwww\\.x");
        assert_eq!(
            inline_text("e-mail ops@example.com"),
            "e-mail ops<!-- -->@example.com"
        );
        assert_eq!(
            inline_text("mailto:ops@example.com, MailTo:x_@y.z"),
            "mailto\\:ops<!-- -->@example.com, MailTo\\:x\\_<!-- -->@y.z"
        );
        assert_eq!(
            inline_text("xmpp:ops@example.com/res XMPP:a@b.c"),
            "xmpp\\:ops<!-- -->@example.com/res XMPP\\:a<!-- -->@b.c"
        );
        // No address can end before these: nothing to break.
        assert_eq!(
            inline_text("@ alone, (@x), é@x.y, x:y"),
            "@ alone, (@x), é@x.y, x:y"
        );
    }

    /// The plan's source with every code span, code block and HTML block
    /// blanked out: what GitHub's Markdown reads as text.
    fn text_outside_code(markdown: &str) -> String {
        let mut text = markdown.as_bytes().to_vec();
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_MATH
            | Options::ENABLE_GFM;
        let mut blank = |range: std::ops::Range<usize>| {
            for b in &mut text[range] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        };
        for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
            match event {
                Event::Code(_) | Event::Html(_) => blank(range),
                Event::Start(Tag::CodeBlock(_) | Tag::HtmlBlock) => blank(range),
                _ => {}
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    #[test]
    fn no_autolink_form_is_left_unescaped_in_scenario_text() {
        // pulldown-cmark does not implement GFM's extended autolinks (bare
        // e-mail addresses, mailto:, xmpp:, http://, www.), so this reads the
        // Markdown itself: outside code, no autolink form is left whole.
        let forms = "mail ops@example.com, mailto:ops@example.com, XMPP:ops@example.com/home, \
                     http://x.example, HTTPS://y.example/p, www.z.example, a+b.c-d_e@f-g.example";
        let description = serde_json::to_string(forms).expect("a string");
        let plan = hostile_plan_with(&format!(
            "{LONE}[[steps]]\nname = \"mail\"\ndescription = {description}\n\
             [[steps.routes]]\nservice = \"front\"\n\
             headers = {{ \"x-mail\" = {description} }}\nto = \"v1\"\n"
        ));
        let text = text_outside_code(&plan);
        let bytes = text.as_bytes();
        let escaped = |i: usize| i > 0 && bytes[i - 1] == b'\\';
        let lower = text.to_ascii_lowercase();
        let mut checked = 0;
        for (i, c) in text.char_indices() {
            // GFM matches an e-mail address after decoding escapes: only a
            // node that is not text (the break) between it and the `@` stops it.
            if c == '@' {
                let before = text[..i].trim_end_matches(AUTOLINK_BREAK);
                let last = before.chars().next_back().unwrap_or(' ');
                let broken = text[..i].ends_with(AUTOLINK_BREAK);
                let line = text[..i].matches('\n').count() + 1;
                assert!(
                    broken || !(last.is_ascii_alphanumeric() || "._+-\\".contains(last)),
                    "an e-mail address can end before the @ at line {line}:\n{plan}"
                );
                checked += 1;
                continue;
            }
            let form = match c {
                ':' if lower[i + 1..].starts_with("//") => Some("://"),
                ':' if lower[..i].ends_with("mailto") => Some("mailto:"),
                ':' if lower[..i].ends_with("xmpp") => Some("xmpp:"),
                '.' if lower[..i].ends_with("www") => Some("www."),
                _ => None,
            };
            if let Some(form) = form {
                let line = text[..i].matches('\n').count() + 1;
                assert!(escaped(i), "an unescaped {form} at line {line}:\n{plan}");
                checked += 1;
            }
        }
        // Seven forms in the step's description, the header value's row of
        // the step's table and the hostile description's addresses.
        assert!(
            checked >= 20,
            "only {checked} autolink forms found:\n{plan}"
        );
    }

    #[test]
    fn inline_markup_is_escaped() {
        let cases = [
            ("a|b", "a\\|b"),
            ("<script>", "\\<script\\>"),
            ("![](http://h/x.png)", "\\!\\[\\](http\\://h/x.png)"),
            ("**b** _e_ ~~s~~", "\\*\\*b\\*\\* \\_e\\_ \\~\\~s\\~\\~"),
            ("`c` &amp; $x$ \\", "\\`c\\` \\&amp; \\$x\\$ \\\\"),
            ("closing #", "closing \\#"),
        ];
        for (text, expected) in cases {
            assert_eq!(inline_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn code_spans_outgrow_backtick_runs() {
        let cases = [
            ("plain", "`plain`"),
            ("a`b", "``a`b``"),
            ("`a", "`` `a ``"),
            ("a``", "``` a`` ```"),
            (" a ", "`  a  `"),
            ("a\nb", "`a b`"),
            ("", "` `"),
        ];
        for (text, expected) in cases {
            assert_eq!(code_span(text), expected, "{text:?}");
            let code: Vec<String> = events(expected)
                .into_iter()
                .filter_map(|e| match e {
                    Event::Code(c) => Some(c.into_string()),
                    _ => None,
                })
                .collect();
            let want = if text.is_empty() {
                " "
            } else {
                &one_line(text)
            };
            assert_eq!(code, [want], "{expected:?}");
        }
    }

    #[test]
    fn a_code_span_in_a_table_cell_keeps_its_pipes() {
        for text in ["GET /a|b", "GET /a\\|b", "GET `|`"] {
            let table = format!(
                "| x | y |\n|---|---|\n| {} | z |\n",
                code_span_in_cell(text)
            );
            assert_eq!(
                table_cells(&table),
                [vec!["x", "y"], vec![text, "z"]],
                "{table}"
            );
        }
    }

    #[test]
    fn cells_cannot_break_the_table() {
        let table = format!(
            "| x | y |\n|---|---|\n| {} | z |\n",
            inline_text("a|b\nc \\| d")
        );
        assert_eq!(
            table_cells(&table),
            [vec!["x", "y"], vec!["a|b c \\| d", "z"]]
        );
    }

    #[test]
    fn fences_outgrow_backtick_runs() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(fence_for("``` then ````` at the end `````"), "``````");
    }
}
