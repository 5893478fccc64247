//! Validation of `mesh.install`: the releases that ship the in-cluster
//! operator or the Helm charts a scenario needs, and what each method must
//! know (an image tag for the operator, a patch release for the charts'
//! versions). Each error is at the key that asks for what cannot be had.

use toml::Spanned;

use crate::install;
use crate::istio::{HELM_FROM, HELM_PROFILE_FROM, OPERATOR_RELEASES, Release};
use crate::model::{Gateway, Install, Mesh};
use crate::scenario::raw::RawMesh;

use super::Checker;

impl Checker<'_> {
    /// `mesh.install`, checked against the release and the rest of `[mesh]`
    /// (`tag`: the mesh's image tag, explicit or the patch release).
    pub(super) fn install(
        &mut self,
        mesh: &RawMesh,
        release: Release,
        profile: &str,
        tag: Option<&str>,
    ) -> Install {
        // The schema reports any other value.
        let Some(key) = &mesh.install else {
            return Install::Istioctl;
        };
        match key.get_ref().as_str() {
            "operator" => {
                if !OPERATOR_RELEASES.contains(&release.minor) {
                    let when = if release.minor < *OPERATOR_RELEASES.start() {
                        "its Helm chart arrived in 1.6"
                    } else {
                        "Istio 1.24 removed the in-cluster operator: use install = \"helm\""
                    };
                    self.error(
                        key.span(),
                        format!(
                            "install = \"operator\" needs Istio 1.{} to 1.{}, whose releases ship \
                             the in-cluster operator's Helm chart and `istioctl operator init` \
                             ({when}); mesh.version is {release}",
                            OPERATOR_RELEASES.start(),
                            OPERATOR_RELEASES.end()
                        ),
                    );
                } else if tag.is_none() {
                    self.error(
                        key.span(),
                        format!(
                            "install = \"operator\" installs the operator's image by tag, and \
                             mesh.version {release} names no patch release: write it as \
                             MAJOR.MINOR.PATCH or set mesh.tag"
                        ),
                    );
                }
                Install::Operator
            }
            "helm" => {
                if release.minor < HELM_FROM {
                    self.error(
                        key.span(),
                        format!(
                            "install = \"helm\" needs Istio 1.{HELM_FROM} or later (its first \
                             release with the base and istiod Helm charts); mesh.version is \
                             {release}"
                        ),
                    );
                } else if release.patch.is_none() {
                    self.error(
                        key.span(),
                        format!(
                            "install = \"helm\" pins every chart to the release, and \
                             mesh.version {release} names no patch release: write it as \
                             MAJOR.MINOR.PATCH"
                        ),
                    );
                }
                if let Some(p) = &mesh.profile
                    && release.minor < HELM_PROFILE_FROM
                    && profile != "default"
                {
                    self.error(
                        p.span(),
                        format!(
                            "profile `{profile}` with install = \"helm\" needs Istio \
                             1.{HELM_PROFILE_FROM} or later, whose charts take a `profile` \
                             value; mesh.version is {release}: remove profile or use install \
                             = \"istioctl\""
                        ),
                    );
                }
                let egress = (mesh.components.as_ref())
                    .and_then(|c| c.get_ref().egress_gateway.as_ref())
                    .filter(|e| *e.get_ref());
                if let Some(egress) = egress {
                    self.error(
                        egress.span(),
                        "install = \"helm\" installs no egress gateway (meshgen releases the \
                         gateway chart as the ingress gateway only): remove egress_gateway, \
                         or install one yourself with the gateway chart",
                    );
                }
                Install::Helm
            }
            _ => Install::Istioctl,
        }
    }

    /// With `install = "helm"`, each chart the scenario needs (`install::charts`)
    /// must be published for its release: an error at `mesh.install` naming
    /// the chart and what asks for it.
    pub(super) fn helm_charts(
        &mut self,
        raw: &RawMesh,
        mesh: &Mesh,
        ambient: bool,
        gateway: Option<&Gateway>,
    ) {
        let Some(key) = raw
            .install
            .as_ref()
            .filter(|_| mesh.install == Install::Helm)
        else {
            return;
        };
        // Before the first chart, the error at the key says it all.
        if mesh.release.minor < HELM_FROM {
            return;
        }
        for chart in install::charts(mesh, ambient, gateway) {
            if mesh.release.minor >= chart.first_minor {
                continue;
            }
            let why = if chart.name == "gateway" {
                "for the ingress gateway"
            } else {
                "for ambient mode"
            };
            self.error(
                Spanned::span(key),
                format!(
                    "install = \"helm\" needs the `{}` chart {why}, which Istio publishes from \
                     1.{}; mesh.version is {}",
                    chart.name, chart.first_minor, mesh.release
                ),
            );
        }
    }
}
