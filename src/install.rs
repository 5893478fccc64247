//! The mesh install of `mesh.install = "operator"` and `"helm"`, decided
//! from the model: which of Istio's Helm charts a scenario installs, in which
//! order, with which values, and the commands that install, wait for and
//! uninstall them. Owns no rendering (the templates write every value) and
//! no files.

use serde::Serialize;

use crate::istio::{
    self, BASE_CHART, CNI_CHART, Chart, GATEWAY_CHART, HELM_PROFILE_FROM, ISTIO_NAMESPACE,
    ISTIOD_CHART, OPERATOR_CHART, OPERATOR_NAMESPACE, ZTUNNEL_CHART,
};
use crate::model::{Gateway, Mesh, RoutingApi, Scenario};

/// The folder of the Helm values files.
pub const HELM_DIR: &str = "install/helm";
/// The file of the Argo CD Applications.
pub const ARGOCD_FILE: &str = "install/argocd/applications.yaml";
/// The file of the Flux HelmRepository and HelmReleases.
pub const FLUX_FILE: &str = "install/flux/helm-releases.yaml";
/// The namespace Argo CD watches for Applications.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// The namespace of Flux's sources and HelmReleases.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// One line of a values tree, as the templates write it: a key at an
/// indentation, with a value, or none when lines under it follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueLine {
    /// Spaces before the key.
    pub indent: usize,
    /// The key.
    pub key: &'static str,
    /// The value; `None` for a mapping whose keys follow.
    pub value: Option<String>,
}

/// A chart a scenario installs, with its values.
#[derive(Debug, Clone)]
pub struct HelmChart {
    /// The chart.
    pub chart: &'static Chart,
    /// Its values, line by line; empty when the chart's defaults do.
    pub values: Vec<ValueLine>,
    /// The values file, relative to the output folder.
    pub values_file: String,
}

impl HelmChart {
    /// `helm upgrade --install` of the chart at `version`, with its values
    /// file; `--wait`, so that the next chart finds it running (the gateway
    /// chart's `image: auto` needs istiod's injector).
    pub fn install_command(&self, version: &str) -> String {
        format!(
            "helm upgrade --install {} {}/{} -n {} --create-namespace --version {version} \
             -f {} --wait",
            self.chart.release,
            istio::HELM_REPOSITORY_NAME,
            self.chart.name,
            self.chart.namespace,
            self.values_file
        )
    }

    /// `helm uninstall` of the chart's release.
    pub fn uninstall_command(&self) -> String {
        format!(
            "helm uninstall {} -n {}",
            self.chart.release, self.chart.namespace
        )
    }
}

/// `helm repo add` of Istio's repository.
pub fn helm_repo_command() -> String {
    format!(
        "helm repo add {} {} && helm repo update {}",
        istio::HELM_REPOSITORY_NAME,
        istio::HELM_REPOSITORY,
        istio::HELM_REPOSITORY_NAME
    )
}

/// Whether the Helm install needs the `gateway` chart: with Istio's routing
/// API, when the scenario's gateway selects Istio's ingress gateway (the
/// default selector) or `mesh.components.ingress_gateway = true`, unless
/// that switch is false. A custom selector names pods the user installs.
pub fn needs_gateway_chart(mesh: &Mesh, gateway: Option<&Gateway>) -> bool {
    mesh.routing_api == RoutingApi::Istio
        && match mesh.ingress_gateway {
            Some(on) => on,
            None => gateway.is_some_and(|g| !g.custom_selector),
        }
}

/// The charts a Helm install takes, in install order: `base`, `istiod`,
/// then in ambient mode `cni` and `ztunnel`, then `gateway` when
/// `needs_gateway_chart`.
pub fn charts(mesh: &Mesh, ambient: bool, gateway: Option<&Gateway>) -> Vec<&'static Chart> {
    let mut charts = vec![&BASE_CHART, &ISTIOD_CHART];
    if ambient {
        charts.extend([&CNI_CHART, &ZTUNNEL_CHART]);
    }
    if needs_gateway_chart(mesh, gateway) {
        charts.push(&GATEWAY_CHART);
    }
    charts
}

/// The charts of a scenario with `mesh.install = "helm"`, in install order,
/// each with the values that carry what the scenario sets: the profile
/// (from 1.21, when not `default`), the revision, the hub and tag of the
/// images (istiod's and cni's `global.hub`/`global.tag`, ztunnel's own
/// `hub`/`tag`; the gateway's image is injected by istiod), and istiod's
/// `meshConfig`. Every key is one the chart's `values.yaml` has.
pub fn helm_charts(scenario: &Scenario) -> Vec<HelmChart> {
    let mesh = &scenario.mesh;
    charts(mesh, scenario.ambient(), scenario.gateway.as_ref())
        .into_iter()
        .enumerate()
        .map(|(i, chart)| HelmChart {
            chart,
            values: values(mesh, chart),
            values_file: format!("{HELM_DIR}/{:02}-{}.values.yaml", i + 1, chart.release),
        })
        .collect()
}

/// The values of `chart` for `mesh`.
fn values(mesh: &Mesh, chart: &Chart) -> Vec<ValueLine> {
    let mut lines = Vec::new();
    let mut put = |indent: usize, key: &'static str, value: Option<&str>| {
        lines.push(ValueLine {
            indent,
            key,
            value: value.map(str::to_owned),
        });
    };
    if mesh.release.minor >= HELM_PROFILE_FROM && mesh.profile != "default" {
        put(0, "profile", Some(&mesh.profile));
    }
    if chart.name != BASE_CHART.name
        && let Some(revision) = &mesh.revision
    {
        put(0, "revision", Some(revision));
    }
    let images = (mesh.hub.as_deref(), mesh.tag.as_deref());
    if chart.name == ISTIOD_CHART.name || chart.name == CNI_CHART.name {
        if images != (None, None) {
            put(0, "global", None);
            put(2, "hub", images.0);
            put(2, "tag", images.1);
        }
    } else if chart.name == ZTUNNEL_CHART.name {
        put(0, "hub", images.0);
        put(0, "tag", images.1);
    }
    if chart.name == ISTIOD_CHART.name
        && (mesh.access_log_file.is_some() || mesh.outbound_traffic_policy.is_some())
    {
        put(0, "meshConfig", None);
        put(2, "accessLogFile", mesh.access_log_file.as_deref());
        if let Some(mode) = &mesh.outbound_traffic_policy {
            put(2, "outboundTrafficPolicy", None);
            put(4, "mode", Some(mode));
        }
    }
    // A key without a value and without keys under it is one the scenario
    // does not set (`put` of a `None` leaf): leave it out.
    let next_indent: Vec<Option<usize>> = (1..=lines.len())
        .map(|i| lines.get(i).map(|l| l.indent))
        .collect();
    lines
        .into_iter()
        .zip(next_indent)
        .filter(|(line, next)| line.value.is_some() || next.is_some_and(|n| n > line.indent))
        .map(|(line, _)| line)
        .collect()
}

/// How the plan installs the in-cluster operator of `mesh.install =
/// "operator"`, waits for it and for the mesh, and removes both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInstall {
    /// The Helm release of the operator, named like the chart names its
    /// Deployment (`istio-operator`, or `istio-operator-<revision>`).
    pub release: String,
    /// `helm install` of the release's operator chart, run from the
    /// release's unpacked archive.
    pub helm: String,
    /// The alternative: `istioctl operator init` with the same settings.
    pub istioctl: String,
    /// Waits for the operator's Deployment.
    pub wait_operator: String,
    /// Waits for the IstioOperator to be reconciled.
    pub wait_mesh: String,
    /// Deletes the IstioOperator (the operator then removes the mesh).
    pub delete_mesh: String,
    /// Uninstalls the operator.
    pub uninstall: String,
}

/// The operator's install for `scenario` (whose mesh has a tag: validation
/// requires one for the operator).
pub fn operator_install(scenario: &Scenario) -> OperatorInstall {
    let mesh = &scenario.mesh;
    let hub = mesh.hub.as_deref().unwrap_or(istio::RELEASE_HUB);
    let tag = mesh.tag.clone().unwrap_or_else(|| mesh.release.to_string());
    let revision = mesh.revision.as_deref();
    let release = match revision {
        Some(r) => format!("istio-operator-{r}"),
        None => "istio-operator".to_owned(),
    };
    let mut helm = format!(
        "helm install {release} {OPERATOR_CHART} --set hub={hub} --set tag={tag} \
         --set operatorNamespace={OPERATOR_NAMESPACE} --set watchedNamespaces={ISTIO_NAMESPACE}"
    );
    let mut istioctl = format!(
        "istioctl operator init --hub {hub} --tag {tag} --operatorNamespace \
         {OPERATOR_NAMESPACE} --watchedNamespaces {ISTIO_NAMESPACE}"
    );
    if let Some(r) = revision {
        helm.push_str(&format!(" --set revision={r}"));
        istioctl.push_str(&format!(" --revision {r}"));
    }
    OperatorInstall {
        helm,
        istioctl,
        wait_operator: format!(
            "kubectl rollout status deployment/{release} -n {OPERATOR_NAMESPACE} --timeout=5m"
        ),
        wait_mesh: format!(
            "kubectl wait --for=jsonpath='{{.status.status}}'=HEALTHY istiooperator/{} -n \
             {ISTIO_NAMESPACE} --timeout=10m",
            scenario.name
        ),
        delete_mesh: format!(
            "kubectl delete istiooperator {} -n {ISTIO_NAMESPACE}",
            scenario.name
        ),
        uninstall: format!("helm uninstall {release}"),
        release,
    }
}
