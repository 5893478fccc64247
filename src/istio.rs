//! What meshgen knows of each Istio release, in one table: the profiles it
//! ships, the networking.istio.io versions it serves, the Bookinfo gateway
//! port, whether the demo addons live in the IstioOperator, and the install
//! command. Facts come from `shared/ISTIO-FACTS.md` (read from Istio's source
//! per release). Owns no scenario types.

use std::fmt;

use serde::Serialize;

/// An Istio release as a scenario names it: `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// Major version; meshgen knows only 1.
    pub major: u32,
    /// Minor version: the one the facts depend on.
    pub minor: u32,
    /// Patch number, when the scenario gives one.
    pub patch: Option<u32>,
}

impl Release {
    /// Parses `1.22` or `1.22.3`; `None` when the text is neither.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            let plain = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if plain { part.parse().ok() } else { None }
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            None => None,
            some => Some(number(some)?),
        };
        parts.next().is_none().then_some(Self {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// A version of the `networking.istio.io` API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum NetworkingApi {
    /// `v1alpha3`: served by every release.
    #[serde(rename = "v1alpha3")]
    V1alpha3,
    /// `v1beta1`: served from 1.5.
    #[serde(rename = "v1beta1")]
    V1beta1,
    /// `v1`: served from 1.22.
    #[serde(rename = "v1")]
    V1,
}

impl NetworkingApi {
    /// Every version, in the order a scenario may name them.
    pub const ALL: [Self; 3] = [Self::V1alpha3, Self::V1beta1, Self::V1];

    /// The version as written in an apiVersion (`v1alpha3`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1alpha3 => "v1alpha3",
            Self::V1beta1 => "v1beta1",
            Self::V1 => "v1",
        }
    }

    /// The full apiVersion, e.g. `networking.istio.io/v1alpha3`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1alpha3 => "networking.istio.io/v1alpha3",
            Self::V1beta1 => "networking.istio.io/v1beta1",
            Self::V1 => "networking.istio.io/v1",
        }
    }

    /// Parses a version name as a scenario writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|api| api.as_str() == text)
    }
}

/// What holds for a range of minor releases of Istio 1.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// First minor release of the range.
    pub first_minor: u32,
    /// Last minor release of the range.
    pub last_minor: u32,
    /// Installation profiles the release ships.
    pub profiles: &'static [&'static str],
    /// networking.istio.io versions its CRDs serve.
    pub networking_apis: &'static [NetworkingApi],
    /// The networking version meshgen emits when the scenario does not ask.
    pub default_networking_api: NetworkingApi,
    /// The port the ingress gateway pods listen on for HTTP (Bookinfo's Gateway port).
    pub gateway_port: u16,
    /// The profiles known to install no ingress gateway (`istio-ingressgateway`
    /// disabled); a profile left out may or may not install one.
    pub without_ingress_gateway: &'static [&'static str],
    /// Whether the demo profile's addons are IstioOperator `addonComponents`.
    pub demo_addons: bool,
    /// The command that installs an IstioOperator file.
    pub install_command: &'static str,
}

use NetworkingApi::{V1, V1alpha3, V1beta1};

const BEFORE_V1: &[NetworkingApi] = &[V1alpha3, V1beta1];
const WITH_V1: &[NetworkingApi] = &[V1alpha3, V1beta1, V1];
const MANIFEST_APPLY: &str = "istioctl manifest apply -f";
const INSTALL: &str = "istioctl install -f";

/// The Demo addons (`addonComponents`) the 1.5 and 1.6 demo profile enables.
pub const DEMO_ADDONS: &[&str] = &["grafana", "kiali", "prometheus", "tracing"];

/// The table: one row per range of minor releases, in order, without gaps.
const RELEASES: &[Facts] = &[
    Facts {
        first_minor: 5,
        last_minor: 5,
        profiles: &["default", "demo", "empty", "minimal", "remote", "separate"],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: true,
        install_command: MANIFEST_APPLY,
    },
    Facts {
        first_minor: 6,
        last_minor: 6,
        profiles: &["default", "demo", "empty", "minimal", "preview", "remote"],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: true,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 7,
        last_minor: 7,
        profiles: &["default", "demo", "empty", "minimal", "preview", "remote"],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 8,
        last_minor: 9,
        profiles: &[
            "default",
            "demo",
            "empty",
            "minimal",
            "openshift",
            "preview",
            "remote",
        ],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 10,
        last_minor: 14,
        profiles: &[
            "default",
            "demo",
            "empty",
            "external",
            "minimal",
            "openshift",
            "preview",
            "remote",
        ],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 15,
        last_minor: 15,
        profiles: &[
            "default",
            "demo",
            "empty",
            "external",
            "minimal",
            "openshift",
            "preview",
        ],
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 16,
        last_minor: 18,
        profiles: AMBIENT_ERA,
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 80,
        without_ingress_gateway: WITHOUT_INGRESS_FROM_1_16,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 19,
        last_minor: 21,
        profiles: AMBIENT_ERA,
        networking_apis: BEFORE_V1,
        default_networking_api: V1alpha3,
        gateway_port: 8080,
        without_ingress_gateway: WITHOUT_INGRESS_FROM_1_16,
        demo_addons: false,
        install_command: INSTALL,
    },
    Facts {
        first_minor: 22,
        last_minor: 30,
        profiles: &[
            "ambient",
            "default",
            "demo",
            "empty",
            "minimal",
            "openshift",
            "openshift-ambient",
            "preview",
            "remote",
            "stable",
        ],
        networking_apis: WITH_V1,
        default_networking_api: V1,
        gateway_port: 8080,
        without_ingress_gateway: WITHOUT_INGRESS_FROM_1_22,
        demo_addons: false,
        install_command: INSTALL,
    },
];

/// Profiles with no ingress gateway (ISTIO-FACTS §1): `empty` and
/// `minimal` in 1.5.1 and 1.30.3 alike.
const WITHOUT_INGRESS: &[&str] = &["empty", "minimal"];
/// From 1.16, `ambient` too: its profile disables `istio-ingressgateway`
/// from the first (the ambient install uses a Gateway API gateway instead).
const WITHOUT_INGRESS_FROM_1_16: &[&str] = &["ambient", "empty", "minimal"];
/// From 1.22, `openshift-ambient` too (ambient on OpenShift). `remote` lost
/// its gateway somewhere between 1.5 (it has one) and 1.30 (it has none):
/// not claimed, since where is not known.
const WITHOUT_INGRESS_FROM_1_22: &[&str] = &["ambient", "empty", "minimal", "openshift-ambient"];

const AMBIENT_ERA: &[&str] = &[
    "ambient",
    "default",
    "demo",
    "empty",
    "external",
    "minimal",
    "openshift",
    "preview",
    "remote",
];

impl Facts {
    /// Whether `profile` is known to install no ingress gateway.
    pub fn without_ingress_gateway(&self, profile: &str) -> bool {
        self.without_ingress_gateway.contains(&profile)
    }
}

/// The oldest release meshgen knows.
pub const OLDEST: Release = Release {
    major: 1,
    minor: 5,
    patch: None,
};

/// The newest release meshgen knows.
pub const NEWEST: Release = Release {
    major: 1,
    minor: 30,
    patch: None,
};

/// Where a release stands against the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The release is in the table.
    Known(&'static Facts),
    /// The release is newer than the table: the newest row is assumed.
    Newer(&'static Facts),
    /// The release is older than 1.5 or not a 1.x release.
    Unsupported,
}

/// Looks a release up in the table.
pub fn lookup(release: Release) -> Lookup {
    if release.major != 1 || release.minor < OLDEST.minor {
        return Lookup::Unsupported;
    }
    match RELEASES
        .iter()
        .find(|f| (f.first_minor..=f.last_minor).contains(&release.minor))
    {
        Some(facts) => Lookup::Known(facts),
        None => Lookup::Newer(&RELEASES[RELEASES.len() - 1]),
    }
}

/// The first minor release whose in-mesh Gateway API routing (HTTPRoute
/// with a Service parent) is stable: `routing_api = "gateway-api"` needs it.
pub const GATEWAY_API_FROM: u32 = 22;

/// The first minor release with ambient mode GA: `dataplane = "ambient"` needs it.
pub const AMBIENT_FROM: u32 = 24;

/// The profiles that install ztunnel, which ambient mode needs (ISTIO-FACTS §7).
pub const AMBIENT_PROFILES: &[&str] = &["ambient", "openshift-ambient"];

/// The Gateway API CRDs a scenario needs installed: a release and its
/// channel (`standard`, or `experimental` for fields such as HTTPRoute's
/// `retry`). Istio does not install them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GatewayApiCrds {
    /// The Gateway API release, e.g. `v1.5.1`.
    pub release: &'static str,
    /// `standard` or `experimental`.
    pub channel: &'static str,
}

impl GatewayApiCrds {
    /// The command that installs them (server-side: the CRDs are too large
    /// for the annotation of a client-side apply).
    pub fn install_command(&self) -> String {
        format!(
            "kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/\
             releases/download/{}/{}-install.yaml",
            self.release, self.channel
        )
    }
}

/// The Gateway API release a minor release of Istio is built against
/// (`sigs.k8s.io/gateway-api` in its go.mod, ISTIO-FACTS §7), whose CRDs a
/// cluster needs: Istio does not install them. 1.26 is built against a
/// pre-release of v1.3.0, whose nearest release is named. `None` before
/// 1.22. A release newer than the table gets the newest's.
pub fn gateway_api_release(release: Release) -> Option<&'static str> {
    match release.minor {
        ..GATEWAY_API_FROM => None,
        22 | 23 => Some("v1.1.0"),
        24 => Some("v1.2.0"),
        25 => Some("v1.2.1"),
        26 | 27 => Some("v1.3.0"),
        28 | 29 => Some("v1.4.0"),
        _ => Some("v1.5.1"),
    }
}

/// The minor releases whose in-cluster operator meshgen installs
/// (`mesh.install = "operator"`), ISTIO-FACTS §7: the operator's Helm chart
/// (`manifests/charts/istio-operator`) ships from 1.6 to 1.23, and
/// `istioctl operator init` from 1.5 to 1.23; 1.24 removed both.
pub const OPERATOR_RELEASES: std::ops::RangeInclusive<u32> = 6..=23;

/// The namespace the operator runs in (its chart's `operatorNamespace` default).
pub const OPERATOR_NAMESPACE: &str = "istio-operator";

/// The operator's chart inside a release's archive.
pub const OPERATOR_CHART: &str = "manifests/charts/istio-operator";

/// The hub of Istio's released images; the operator chart's own default is
/// a testing registry, so the plan always names one.
pub const RELEASE_HUB: &str = "docker.io/istio";

/// The namespace of the control plane (and the IstioOperator).
pub const ISTIO_NAMESPACE: &str = "istio-system";

/// The Helm repository of Istio's released charts.
pub const HELM_REPOSITORY: &str = "https://istio-release.storage.googleapis.com/charts";

/// The name the plan's `helm repo add` gives that repository.
pub const HELM_REPOSITORY_NAME: &str = "istio";

/// The first minor release whose charts take the top-level `profile` value
/// (`templates/zzz_profile.yaml`).
pub const HELM_PROFILE_FROM: u32 = 21;

/// One of Istio's Helm charts as meshgen installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Chart {
    /// The chart's name in the Helm repository (`istiod`).
    pub name: &'static str,
    /// The Helm release meshgen installs it as (`istio-base`).
    pub release: &'static str,
    /// The namespace of the release.
    pub namespace: &'static str,
    /// The first minor release that publishes the chart.
    pub first_minor: u32,
}

/// `base`: the CRDs and cluster roles (from 1.8).
pub const BASE_CHART: Chart = Chart {
    name: "base",
    release: "istio-base",
    namespace: ISTIO_NAMESPACE,
    first_minor: 8,
};

/// `istiod` (`manifests/charts/istio-control/istio-discovery`): the control plane (from 1.8).
pub const ISTIOD_CHART: Chart = Chart {
    name: "istiod",
    release: "istiod",
    namespace: ISTIO_NAMESPACE,
    first_minor: 8,
};

/// `cni`: the node agent ambient mode redirects traffic with (published with the others).
pub const CNI_CHART: Chart = Chart {
    name: "cni",
    release: "istio-cni",
    namespace: ISTIO_NAMESPACE,
    first_minor: 8,
};

/// `ztunnel`: ambient mode's node proxy (from 1.18).
pub const ZTUNNEL_CHART: Chart = Chart {
    name: "ztunnel",
    release: "ztunnel",
    namespace: ISTIO_NAMESPACE,
    first_minor: 18,
};

/// `gateway`: a gateway Deployment and Service (from 1.12). Released as
/// `istio-ingressgateway`, its pods are labelled `istio: ingressgateway`
/// (the chart labels them `istio: <release without "istio-">`), which the
/// Istio Gateway's default selector names; in `istio-system`, where an
/// Istio Gateway's `credentialName` Secret is then looked up, as with the
/// IstioOperator's ingress gateway.
pub const GATEWAY_CHART: Chart = Chart {
    name: "gateway",
    release: "istio-ingressgateway",
    namespace: ISTIO_NAMESPACE,
    first_minor: 12,
};

/// The first minor release with Helm charts (`base` and `istiod`).
pub const HELM_FROM: u32 = BASE_CHART.first_minor;

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> &'static Facts {
        match lookup(Release::parse(text).expect("valid release")) {
            Lookup::Known(facts) => facts,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn table_rows_are_contiguous_and_ordered() {
        assert_eq!(RELEASES[0].first_minor, OLDEST.minor);
        assert_eq!(RELEASES[RELEASES.len() - 1].last_minor, NEWEST.minor);
        for pair in RELEASES.windows(2) {
            assert_eq!(pair[0].last_minor + 1, pair[1].first_minor);
        }
        for row in RELEASES {
            assert!(row.networking_apis.contains(&row.default_networking_api));
            assert!(row.profiles.windows(2).all(|p| p[0] < p[1]), "sorted");
        }
    }

    #[test]
    fn release_parsing_accepts_minor_and_patch_forms_only() {
        assert_eq!(
            Release::parse("1.5.1"),
            Some(Release {
                major: 1,
                minor: 5,
                patch: Some(1)
            })
        );
        assert_eq!(Release::parse("1.30").map(|r| r.patch), Some(None));
        for bad in [
            "1", "1.", "1.5.", "1.5.1.2", "v1.5", "1.05", "1.x", "", "1.5.-1",
        ] {
            assert_eq!(Release::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Release::parse("1.22.0").map(|r| r.to_string()).as_deref(),
            Some("1.22.0")
        );
    }

    #[test]
    fn networking_api_default_switches_to_v1_at_1_22() {
        assert_eq!(facts("1.21.6").default_networking_api, V1alpha3);
        assert_eq!(facts("1.22").default_networking_api, V1);
        assert!(!facts("1.21").networking_apis.contains(&V1));
        assert!(facts("1.5.1").networking_apis.contains(&V1beta1));
        assert!(facts("1.30.3").networking_apis.contains(&V1));
    }

    #[test]
    fn gateway_port_is_8080_from_1_19() {
        assert_eq!(facts("1.18").gateway_port, 80);
        assert_eq!(facts("1.19.0").gateway_port, 8080);
        assert_eq!(facts("1.30.3").gateway_port, 8080);
    }

    #[test]
    fn profiles_follow_the_releases_that_ship_them() {
        assert!(!facts("1.5").profiles.contains(&"preview"));
        assert!(facts("1.5").profiles.contains(&"separate"));
        assert!(facts("1.6").profiles.contains(&"preview"));
        assert!(!facts("1.15").profiles.contains(&"ambient"));
        assert!(!facts("1.15").profiles.contains(&"remote"));
        assert!(facts("1.16").profiles.contains(&"ambient"));
        assert!(facts("1.22").profiles.contains(&"stable"));
        assert!(!facts("1.22").profiles.contains(&"external"));
    }

    #[test]
    fn profiles_without_an_ingress_gateway_follow_the_facts() {
        for release in ["1.5.1", "1.12", "1.30.3"] {
            assert!(
                facts(release).without_ingress_gateway("minimal"),
                "{release}"
            );
            assert!(facts(release).without_ingress_gateway("empty"), "{release}");
            assert!(
                !facts(release).without_ingress_gateway("default"),
                "{release}"
            );
            assert!(!facts(release).without_ingress_gateway("demo"), "{release}");
        }
        // remote has a gateway in 1.5.1 and none in 1.30.3: never claimed.
        assert!(!facts("1.5.1").without_ingress_gateway("remote"));
        assert!(!facts("1.30.3").without_ingress_gateway("remote"));
        assert!(facts("1.30.3").without_ingress_gateway("ambient"));
        assert!(facts("1.30.3").without_ingress_gateway("openshift-ambient"));
        for row in RELEASES {
            for profile in row.without_ingress_gateway {
                assert!(row.profiles.contains(profile), "{profile} is shipped");
            }
        }
    }

    #[test]
    fn install_command_and_addons_change_with_the_release() {
        assert_eq!(facts("1.5.1").install_command, "istioctl manifest apply -f");
        assert_eq!(facts("1.6").install_command, "istioctl install -f");
        assert!(facts("1.6").demo_addons);
        assert!(!facts("1.7").demo_addons);
    }

    #[test]
    fn releases_outside_the_table_are_classified() {
        let at = |t| lookup(Release::parse(t).expect("valid"));
        assert_eq!(at("1.4.6"), Lookup::Unsupported);
        assert_eq!(at("2.0"), Lookup::Unsupported);
        assert!(matches!(at("1.31"), Lookup::Newer(f) if f.last_minor == 30));
    }

    #[test]
    fn gateway_api_release_follows_istios_go_mod() {
        let at = |t| gateway_api_release(Release::parse(t).expect("valid"));
        assert_eq!(at("1.21.6"), None);
        assert_eq!(at("1.22"), Some("v1.1.0"));
        assert_eq!(at("1.24.1"), Some("v1.2.0"));
        assert_eq!(at("1.27"), Some("v1.3.0"));
        assert_eq!(at("1.30.3"), Some("v1.5.1"));
        assert_eq!(at("1.31"), Some("v1.5.1"));
        assert!(
            AMBIENT_PROFILES
                .iter()
                .all(|p| facts("1.24").profiles.contains(p))
        );
    }
}
