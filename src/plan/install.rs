//! The plan's text for the mesh installs other than `istioctl`: the
//! in-cluster operator (installing it, waiting for it and for the mesh,
//! removing both) and the Helm charts (the `helm upgrade --install` of each
//! chart in order, the GitOps manifests, the uninstall in reverse).

use std::fmt::Write as _;

use super::markdown::code_span;
use crate::bundle::Build;
use crate::install::{self, ARGOCD_FILE, FLUX_FILE};
use crate::istio::ISTIO_NAMESPACE;
use crate::model::{Install, Scenario};

/// Before the install table: how the operator is installed and waited for.
pub(super) fn operator_steps(out: &mut String, scenario: &Scenario) {
    if scenario.mesh.install != Install::Operator {
        return;
    }
    let operator = install::operator_install(scenario);
    let release = scenario.mesh.release;
    let _ = writeln!(
        out,
        "The mesh is installed by Istio's in-cluster operator, which reconciles the \
         IstioOperator of `01-mesh.yaml` (`mesh.install = \"operator\"`):\n\n\
         1. Install the operator from the Istio {release} release (`curl -L \
         https://istio.io/downloadIstio | ISTIO_VERSION={release} sh -`, then `cd \
         istio-{release}`): {}, or without Helm {}.\n\
         2. Wait for it: {}.\n\
         3. Create the namespace of the IstioOperator, unless it exists: {}.\n\
         4. Apply `01-mesh.yaml` (row 1 below), then wait for the operator to install the \
         mesh: {} (kubectl 1.23 or later).\n",
        code_span(&operator.helm),
        code_span(&operator.istioctl),
        code_span(&operator.wait_operator),
        code_span(&format!("kubectl create namespace {ISTIO_NAMESPACE}")),
        code_span(&operator.wait_mesh),
    );
}

/// The rows of the install table for the Helm charts, numbered from 1;
/// returns how many rows were written.
pub(super) fn helm_rows(out: &mut String, build: &Build) -> usize {
    let Some(helm) = &build.helm else {
        return 0;
    };
    for (i, (chart, _)) in helm.charts.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | Helm chart `{}` {}, release `{}` in {} | `{}` |",
            i + 1,
            chart.values_file,
            chart.chart.name,
            helm.version,
            chart.chart.release,
            chart.chart.namespace,
            chart.install_command(&helm.version)
        );
    }
    helm.charts.len()
}

/// Before the install table with Helm: where the charts come from, and the
/// GitOps manifests that install the same charts.
pub(super) fn helm_intro(out: &mut String, build: &Build) {
    let Some(helm) = &build.helm else {
        return;
    };
    let releases: Vec<&str> = helm.charts.iter().map(|(c, _)| c.chart.release).collect();
    let _ = writeln!(
        out,
        "The mesh is installed with Istio's Helm charts (`mesh.install = \"helm\"`), each with \
         its values file under `{}/`, in the order below: add the repository first, {}. \
         `--wait` lets each chart's workloads start before the next chart (the gateway chart's \
         pods take their image from istiod's injector).\n\n\
         The same charts, with the same values, for a GitOps controller: `{ARGOCD_FILE}`, one \
         Argo CD Application per chart with sync waves in install order, and `{FLUX_FILE}`, a \
         Flux HelmRepository and a HelmRelease per chart, each depending on the one before \
         ({}). See docs/gitops.md.\n",
        install::HELM_DIR,
        code_span(&install::helm_repo_command()),
        releases.join(" → ")
    );
}

/// The teardown's step that removes the mesh, for `scenario`'s install.
pub(super) fn remove_mesh(out: &mut String, scenario: &Scenario, build: &Build) {
    match scenario.mesh.install {
        Install::Istioctl => {
            let _ = writeln!(
                out,
                "2. `istioctl manifest generate -f 01-mesh.yaml | kubectl delete \
                 --ignore-not-found -f -` removes the mesh."
            );
        }
        Install::Operator => {
            let operator = install::operator_install(scenario);
            let _ = writeln!(
                out,
                "2. {} makes the operator remove the mesh; once istiod is gone, {} removes the \
                 operator (or `istioctl operator remove`).",
                code_span(&operator.delete_mesh),
                code_span(&operator.uninstall)
            );
        }
        Install::Helm => {
            let commands: Vec<String> = (build.helm.iter())
                .flat_map(|h| h.charts.iter().rev())
                .map(|(chart, _)| code_span(&chart.uninstall_command()))
                .collect();
            let _ = writeln!(
                out,
                "2. The charts in reverse order remove the mesh: {}; then {} if nothing else \
                 runs there. Under Argo CD or Flux, delete the Applications or HelmReleases \
                 instead, in the same reverse order.",
                commands.join(", then "),
                code_span(&format!("kubectl delete namespace {ISTIO_NAMESPACE}"))
            );
        }
    }
}
