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

use compact_str::CompactString;

use crate::bundle::{Action, Build, Bundle, Phase, PhaseFile, StepBundle, TEARDOWN_FILE};
use crate::explain::{ExplainError, Prediction, Predictions};
use crate::flowchart;
use crate::model::{Install, Rule, Scenario, ServiceRouting, VersionRef};
use crate::resource::ResourceId;
use crate::routing::{self, Classes, InForce};

mod authorization;
mod install;
mod markdown;
#[cfg(test)]
mod tests;

use markdown::{code_span, code_span_in_cell, fence_for, inline_text, paragraphs};

/// Above this many services, a step's table and flowchart show only the
/// services the step names (the rest would bury the change).
pub const FULL_DETAIL_SERVICES: usize = 20;

/// The largest step diff `PLAN.md` holds inline, in bytes. GitHub renders a
/// Markdown page only while it is small (generally under 2 MB) and shows at
/// most 500 KB of one file's diff in a pull request; a larger step diff is
/// linked, in its own `steps/NN-step.diff`, instead of copied into the page.
pub const INLINE_DIFF_BYTES: usize = 100_000;

/// About the most text of `PLAN.md` made before it is handed on as a piece
/// (`plan_with_diffs`).
const PIECE_BYTES: usize = 1 << 18;

/// What `PLAN.md` shows of a step's diff: the text while it is short enough
/// to hold inline, else only its length. Made a piece at a time, as the
/// diff file is written.
#[derive(Debug, Default)]
pub struct DiffSummary {
    /// Bytes so far.
    bytes: usize,
    /// Lines so far.
    lines: usize,
    /// The text so far, while it is at most `INLINE_DIFF_BYTES` long.
    inline: String,
}

impl DiffSummary {
    /// The summary of a whole diff.
    pub fn of(diff: &str) -> Self {
        let mut summary = Self::default();
        summary.add(diff);
        summary
    }

    /// Adds the next piece of the diff.
    pub fn add(&mut self, piece: &str) {
        self.bytes += piece.len();
        self.lines += piece.bytes().filter(|&b| b == b'\n').count();
        if self.bytes <= INLINE_DIFF_BYTES {
            self.inline.push_str(piece);
        } else if !self.inline.is_empty() {
            self.inline = String::new();
        }
    }
}

/// Renders `PLAN.md`: one section function per part, in page order. Each
/// step's diff is made here to be summarised; see `plan_with_diffs`.
pub fn plan(scenario: &Scenario, build: &Build) -> String {
    let mut page = String::new();
    plan_with_diffs(
        scenario,
        build,
        |k| DiffSummary::of(&build.steps[k].diff()),
        |piece| page.push_str(&piece),
    );
    page
}

/// Renders `PLAN.md` with step `k`'s diff summarised by `diffs(k)`, asked
/// for once per step, in step order (the layout hands over what it made
/// while writing the diff files). The page is handed to `piece` in pieces,
/// in order: the part before the steps, each step's section (a long table
/// in pieces of about `PIECE_BYTES`), the teardown. A large mesh's page is
/// tens of MB, which the layout holds packed.
pub fn plan_with_diffs(
    scenario: &Scenario,
    build: &Build,
    mut diffs: impl FnMut(usize) -> DiffSummary,
    mut piece: impl FnMut(String),
) {
    let mut out = String::new();
    let mut end_piece = |out: &mut String| piece(std::mem::take(out));
    title(&mut out, scenario);
    install_order(&mut out, scenario, build);
    not_emitted(&mut out, scenario);
    authorization::authorization(&mut out, scenario);
    out.push_str("## Steps\n\n");
    if build.steps.is_empty() {
        out.push_str("The scenario has no steps.\n\n");
    }
    let classes = routing::classes(scenario);
    let mut in_force = routing::InForceFold::new(scenario);
    let mut predictions = Predictions::new(scenario, FULL_DETAIL_SERVICES);
    for k in 0..scenario.steps.len().min(build.steps.len()) {
        end_piece(&mut out);
        in_force.advance();
        // A large mesh shows only the services the step names.
        let shown = if scenario.services.len() <= FULL_DETAIL_SERVICES {
            in_force.all()
        } else {
            in_force.named()
        };
        step_heading(&mut out, scenario, build, k);
        authorization::step_changes(&mut out, scenario, k);
        who_gets_what(&mut out, scenario, &shown, &classes, &mut end_piece);
        step_flowchart(&mut out, scenario, &shown, &classes);
        let entries = predictions.all_entries();
        if let Some(predicted) = predictions.next() {
            predicted_outcome(&mut out, predicted, entries);
        }
        step_diff(&mut out, &build.steps[k], &diffs(k));
    }
    end_piece(&mut out);
    teardown(&mut out, scenario, build);
    end_piece(&mut out);
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
    // The routing API and the data plane are named when not the defaults
    // of before them (Istio's APIs, sidecars).
    let mut modes = String::new();
    if scenario.gateway_api() {
        modes.push_str(", routing with the Kubernetes Gateway API");
    }
    if scenario.ambient() {
        modes.push_str(", ambient data plane (ztunnel and the waypoint `waypoint`)");
    }
    let _ = writeln!(
        out,
        "Istio {} (profile {}), networking.istio.io/{}{modes}, namespace {}.\n",
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
    out.push_str("## Install order\n\n");
    install::operator_steps(out, scenario);
    install::helm_intro(out, build);
    out.push_str("| # | file | resources | apply with |\n|---|---|---|---|\n");
    let charts = install::helm_rows(out, build);
    let by_name = scenario.services.len() <= FULL_DETAIL_SERVICES;
    for (i, bundle) in (charts..).zip(&build.bundles) {
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
    let crds = scenario.gateway_api_crds();
    if tls.is_none() && scenario.emits_workloads() && crds.is_none() {
        return;
    }
    out.push_str("## What meshgen does not emit\n\n");
    let ns = code_span(&scenario.namespace.name);
    if let Some(crds) = crds {
        let needs = match (scenario.gateway_api(), scenario.ambient()) {
            (true, true) => "The Gateway API routing and the ambient waypoint need",
            (true, false) => "The Gateway API routing needs",
            (false, _) => "The ambient waypoint (a Gateway API Gateway) needs",
        };
        let _ = writeln!(
            out,
            "- **The Gateway API CRDs.** {needs} the CRDs of Gateway API {} ({} channel, the \
             release Istio {}.{} is built against), which Istio does not install. Install them \
             before {}: {}.",
            crds.release,
            crds.channel,
            scenario.mesh.release.major,
            scenario.mesh.release.minor,
            if scenario.mesh.install == Install::Helm {
                "the charts"
            } else {
                "`01-mesh.yaml`"
            },
            code_span(&crds.install_command())
        );
    }
    if let Some((gateway, tls)) = tls.filter(|_| scenario.gateway_api()) {
        let _ = writeln!(
            out,
            "- **The TLS Secret.** The HTTPS listener of {} (port 443) reads its certificate and \
             key from the Secret {} (`certificateRefs`), in the Gateway's own namespace {ns}. \
             meshgen never emits secrets: create it, e.g. {}, or with cert-manager.",
            code_span(&gateway.name),
            code_span(&tls.credential_name),
            code_span(&format!(
                "kubectl create secret tls {} -n {} --cert=cert.pem --key=key.pem",
                tls.credential_name, scenario.namespace.name
            ))
        );
    } else if let Some((gateway, tls)) = tls {
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

/// What routes a service in force: `VirtualService`, or `HTTPRoute` with
/// the Gateway API.
fn routing_kind(scenario: &Scenario) -> &'static str {
    if scenario.gateway_api() {
        "HTTPRoute"
    } else {
        "VirtualService"
    }
}

/// How many resources of each kind a bundle holds, kinds in their order:
/// `5000 ServiceAccount`, `15000 Deployment`.
fn kind_counts(bundle: &Bundle) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for resource in &bundle.resources {
        match counts.last_mut() {
            Some((kind, n)) if *kind == resource.id.kind() => *n += 1,
            _ => counts.push((resource.id.kind(), 1)),
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
        // The route file, and with the Gateway API the routings of the
        // other kind it replaces, deleted once it is applied.
        let commands: Vec<String> = (bundle.files.iter())
            .map(|f| format!("`{}`", f.command()))
            .collect();
        let _ = writeln!(
            out,
            "\n\n{} (the whole routing state after it: `{}/`)\n",
            commands.join(", then "),
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
fn labels(labels: &[(CompactString, CompactString)]) -> String {
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
                let namespace = id.namespace().unwrap_or("default");
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

/// Who gets which version after the step: per service, per class of
/// requests that its routing tells apart, the version(s) with weights, and
/// the fault, timeout, retries and mirror of the rule that answers.
/// A large mesh's table has rows for thousands of services: it is handed
/// on (`end_piece`) every `PIECE_BYTES`, between services.
fn who_gets_what(
    out: &mut String,
    scenario: &Scenario,
    shown: &[InForce<'_>],
    classes: &Classes,
    end_piece: &mut impl FnMut(&mut String),
) {
    out.push_str(
        "| service | requests | when | version | fault | timeout | retries | mirror |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for in_force in shown {
        if out.len() >= PIECE_BYTES {
            end_piece(out);
        }
        let service = &in_force.service.name;
        let name = if in_force.named {
            format!("**{service}**")
        } else {
            service.to_string()
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
                "| {name} | everyone |  | {} (no {}: any pod) |  |  |  |  |",
                inline_text(&deployed.join(", ")),
                routing_kind(scenario)
            );
            continue;
        };
        let tried = routing::as_tried(routing, scenario.mesh.routing_api);
        for (audience, outcomes) in routing::audiences(&tried, classes) {
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
                            None => m.version.to_string(),
                        })),
                );
            }
        }
        if let Some(gateway) = &scenario.gateway
            && !gateway.version_routing
            && gateway.exposes(service)
            && ignored_at_the_gateway(in_force, routing)
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
        } else if scenario.gateway_api() {
            let _ = writeln!(
                out,
                "Requests entering through {} reach the Service of {}: any pod of any version \
                 (a service's HTTPRoute routes traffic inside the mesh).",
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
fn step_flowchart(out: &mut String, scenario: &Scenario, shown: &[InForce<'_>], classes: &Classes) {
    let max = flowchart::MERMAID_MAX_TEXT_SIZE;
    match flowchart::flowchart(scenario, shown, classes, max) {
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
/// predicts it (the outcome model of docs/explain.md), from the first of
/// the scenario's `entries` default entry points.
fn predicted_outcome(
    out: &mut String,
    predicted: Result<Vec<Prediction>, ExplainError>,
    entries: usize,
) {
    let predictions = match predicted {
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
fn step_diff(out: &mut String, bundle: &StepBundle, diff: &DiffSummary) {
    if diff.bytes == 0 {
        out.push_str("The routing does not change.\n\n");
    } else if diff.bytes > INLINE_DIFF_BYTES {
        let lines = diff.lines;
        let _ = writeln!(
            out,
            "Routing diff from the previous step: [`{file}`]({file}), {lines} lines. It is \
             longer than the {INLINE_DIFF_BYTES} bytes this page holds inline, so that \
             the page stays small enough for GitHub to render.\n",
            file = bundle.diff_file
        );
    } else {
        let fence = fence_for(&diff.inline);
        let _ = writeln!(
            out,
            "<details><summary>Routing diff from the previous step ({})</summary>\n\n\
             {fence}diff\n{}{fence}\n\n</details>\n",
            bundle.diff_file, diff.inline
        );
    }
}

/// How to remove everything again.
fn teardown(out: &mut String, scenario: &Scenario, build: &Build) {
    out.push_str("## Teardown\n\n");
    let _ = writeln!(
        out,
        "1. `kubectl delete --ignore-not-found -f {TEARDOWN_FILE}` deletes every applied \
         resource, in reverse order."
    );
    install::remove_mesh(out, scenario, build);
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
            None => d.version.to_string(),
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
