//! The documents of a Helm install (`mesh.install = "helm"`): each chart's
//! values file, and the GitOps manifests that install the same charts with
//! the same values: Argo CD Applications (sync waves in install order) and a
//! Flux HelmRepository with HelmReleases (`dependsOn` in install order).
//! Which charts and which values is `install`'s; this only renders them.

use serde::Serialize;

use super::templates::Renderer;
use crate::error::Error;
use crate::install::{self, ARGOCD_NAMESPACE, FLUX_NAMESPACE, HelmChart, ValueLine};
use crate::istio::{self, BASE_CHART, Chart, ISTIOD_CHART};
use crate::model::Scenario;
use crate::resource::{Resource, ResourceId};

/// Everything a Helm install writes under `install/`.
#[derive(Debug)]
pub struct HelmInstall {
    /// The release of every chart (`1.30.3`).
    pub version: String,
    /// The charts in install order, each with its rendered values file.
    pub charts: Vec<(HelmChart, String)>,
    /// One Argo CD Application per chart, in install order.
    pub argocd: Vec<Resource>,
    /// The Flux HelmRepository, then one HelmRelease per chart in install order.
    pub flux: Vec<Resource>,
}

/// What the values, Application and HelmRelease templates render.
#[derive(Serialize)]
struct ChartContext<'a> {
    scenario: &'a str,
    chart: &'a Chart,
    version: &'a str,
    values: &'a [ValueLine],
    namespace: &'static str,
    repository: &'static str,
    repository_name: &'static str,
    /// The Argo CD sync wave: the chart's place in install order.
    wave: String,
    /// The HelmRelease installed before this one.
    depends_on: Option<&'static str>,
    /// Whether the chart holds validating webhooks whose `failurePolicy`
    /// istiod rewrites at run time (`base` and `istiod`).
    ignore_webhook_failure_policy: bool,
}

/// What the HelmRepository template renders.
#[derive(Serialize)]
struct RepositoryContext {
    name: &'static str,
    namespace: &'static str,
    repository: &'static str,
}

/// Renders the Helm install of `scenario` (`mesh.install = "helm"`).
pub fn render(renderer: &Renderer, scenario: &Scenario) -> Result<HelmInstall, Error> {
    let version = scenario.mesh.release.to_string();
    let charts = install::helm_charts(scenario);
    let values_template = renderer.template("helm-values.yaml.j2")?;
    let application = renderer.template("argocd-application.yaml.j2")?;
    let release = renderer.template("flux-helmrelease.yaml.j2")?;
    let mut rendered = Vec::with_capacity(charts.len());
    let mut argocd = Vec::with_capacity(charts.len());
    let mut flux = vec![renderer.render(
        "flux-helmrepository.yaml.j2",
        &RepositoryContext {
            name: istio::HELM_REPOSITORY_NAME,
            namespace: FLUX_NAMESPACE,
            repository: istio::HELM_REPOSITORY,
        },
        ResourceId::namespaced(
            "source.toolkit.fluxcd.io/v1",
            "HelmRepository",
            FLUX_NAMESPACE,
            istio::HELM_REPOSITORY_NAME,
        ),
    )?];
    let mut previous: Option<&'static str> = None;
    for (i, chart) in charts.into_iter().enumerate() {
        let mut context = ChartContext {
            scenario: &scenario.name,
            chart: chart.chart,
            version: &version,
            values: &chart.values,
            namespace: ARGOCD_NAMESPACE,
            repository: istio::HELM_REPOSITORY,
            repository_name: istio::HELM_REPOSITORY_NAME,
            wave: (i + 1).to_string(),
            depends_on: previous,
            ignore_webhook_failure_policy: [BASE_CHART.name, ISTIOD_CHART.name]
                .contains(&chart.chart.name),
        };
        let text = values_template.render_mapping(&context)?;
        argocd.push(application.render(
            &context,
            ResourceId::namespaced(
                "argoproj.io/v1alpha1",
                "Application",
                ARGOCD_NAMESPACE,
                chart.chart.release,
            ),
        )?);
        context.namespace = FLUX_NAMESPACE;
        flux.push(release.render(
            &context,
            ResourceId::namespaced(
                "helm.toolkit.fluxcd.io/v2",
                "HelmRelease",
                FLUX_NAMESPACE,
                chart.chart.release,
            ),
        )?);
        previous = Some(chart.chart.release);
        rendered.push((chart, text));
    }
    Ok(HelmInstall {
        version,
        charts: rendered,
        argocd,
        flux,
    })
}
