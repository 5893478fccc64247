//! Semantic validation: turns the raw scenario into the model, applying every
//! default and rule of SCENARIO.md, or returns every diagnostic found. Also
//! the warnings that a valid scenario may still deserve (Istio's IST0140,
//! routing to undeployed versions, mirrors to the routed subset).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use compact_str::CompactString;
use toml::Spanned;

use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_image_prefix, is_image_tag, is_label_key,
    is_label_value,
};
use super::prune::Pruned;
use super::raw::{RawMesh, RawNamespace, RawScenario, RawTrafficPolicy};
use crate::diagnostic::Diagnostic;
use crate::istio::{self, Lookup, NetworkingApi, Release};
use crate::model::Security;
use crate::model::{
    Dataplane, Duration, Mesh, Namespace, RoutingApi, Scenario, Service, TrafficPolicy,
    WAYPOINT_NAME, WorkloadMode, parse_duration,
};
use crate::source::Source;

mod gateway;
mod gateway_api;
mod install;
mod security;
mod services;
mod steps;

/// The injection label set by `namespace.injection`.
const INJECTION_LABEL: &str = "istio-injection";
/// What an image reference is, for messages.
const IMAGE_REFERENCE: &str = "an image reference: write [registry/]repository[:tag][@digest], \
     the repository in lowercase, e.g. docker.io/istio/examples-bookinfo-reviews-v1:1.15.0";

/// What a registry (`images.registry`, `mesh.hub`) is, for messages.
const IMAGE_PREFIX: &str = "a registry: write a host, maybe with a port and a lowercase path, \
     e.g. registry.example.com:5000/mirror (no scheme, tag or trailing '/')";

/// What an image tag is, for messages.
const IMAGE_TAG: &str = "an image tag: up to 128 letters, digits, '_', '.' or '-', \
     not starting with '.' or '-'";

/// The revision label set by `namespace.injection` with `mesh.revision`.
const REVISION_LABEL: &str = "istio.io/rev";

/// The namespace labels of ambient mode: its workloads are enrolled in
/// ztunnel and their services' traffic goes through the waypoint.
const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
const USE_WAYPOINT_LABEL: &str = "istio.io/use-waypoint";

const TLS_MODES: &[&str] = &["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"];
const LOAD_BALANCERS: &[&str] = &["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"];
const OUTBOUND_POLICIES: &[&str] = &["ALLOW_ANY", "REGISTRY_ONLY"];
/// Envoy's `x-envoy-retry-on` and gRPC retry conditions Istio passes through.
const RETRY_CONDITIONS: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Validates a raw scenario, from which the values in `pruned` were removed.
/// Returns the model when there is no error, and every diagnostic (errors and
/// warnings) found, in no particular order. Takes the raw scenario: each
/// step's raw rules are let go as soon as its model is built, so that the
/// two are never whole in memory at once (a large file has tens of
/// thousands of rules).
pub fn validate(
    raw: RawScenario,
    source: &Source,
    pruned: &Pruned,
) -> (Option<Scenario>, Vec<Diagnostic>) {
    let mut checker = Checker {
        source,
        pruned,
        diagnostics: Vec::new(),
        declared: HashSet::new(),
        workloads: WorkloadMode::Emit,
        routing_api: RoutingApi::Istio,
        ambient: false,
        label_lists: HashSet::new(),
    };
    let scenario = checker.scenario(raw);
    let has_error = checker.diagnostics.iter().any(Diagnostic::is_error);
    (scenario.filter(|_| !has_error), checker.diagnostics)
}

/// Where `prune` records the keys it removed from the top-level table.
const TOP_TABLE: usize = 0;

/// The port of a service whose own port is in error, so that routes to it
/// are still checked; the scenario then has no model, so it is never rendered.
const STAND_IN_PORT: u16 = 0;

struct Checker<'s> {
    source: &'s Source,
    /// What was removed from the file before it was read: a key removed is
    /// not missing, and references it may have made good are not checked.
    pruned: &'s Pruned,
    diagnostics: Vec<Diagnostic>,
    /// Every service name the file declares, valid or not: a reference to a
    /// declared service that failed validation is not reported again.
    declared: HashSet<CompactString>,
    /// Who owns the workloads: read first, since it decides what a version may set.
    workloads: WorkloadMode,
    /// The routing API, read with the mesh: it decides what a rule may set.
    routing_api: RoutingApi,
    /// Whether the mesh runs in ambient mode, read with the mesh.
    ambient: bool,
    /// Every distinct list of a version's labels, shared by the versions
    /// that have it.
    label_lists: HashSet<Arc<[(CompactString, CompactString)]>>,
}

/// What validation learnt of a service before the steps are read.
struct ServiceInfo {
    service: Service,
    /// False when the port or service account is in error (reported): the
    /// service is still a target of routes and calls, with a stand-in port,
    /// but the scenario has no model.
    complete: bool,
}

impl Checker<'_> {
    /// Whether the routing is written in the Gateway API.
    fn gateway_api(&self) -> bool {
        self.routing_api == RoutingApi::GatewayApi
    }

    /// The 1-based line of a span, for messages that point at a second place.
    fn line(&self, span: &Range<usize>) -> usize {
        self.source.line_col(span.start).0
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(span, message));
    }

    fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(span, message));
    }

    /// Reports a reference to a service the file does not declare; a declared
    /// service that failed validation has had its own errors reported.
    fn undeclared(&mut self, service: &Spanned<CompactString>, what: &str) {
        // A service whose name was pruned may be the one meant.
        if !self.declared.contains(service.get_ref()) && self.pruned.names_complete() {
            self.error(
                service.span(),
                format!("{what} undeclared service `{}`", service.get_ref()),
            );
        }
    }

    /// A required key: reports it missing at its table's span, unless it was
    /// pruned (its shape error is reported).
    fn required<'a, T>(
        &mut self,
        value: &'a Option<Spanned<T>>,
        key: &str,
        table: &str,
        table_span: &Range<usize>,
    ) -> Option<&'a Spanned<T>> {
        if value.is_none() && !self.pruned.removed(table_span.start, key) {
            self.error(
                table_span.clone(),
                format!("missing required key `{key}` in {table}"),
            );
        }
        value.as_ref()
    }

    /// A required top-level key: reported missing where the file's content
    /// starts (`Source::start`, not on a comment above it), unless it was pruned.
    fn required_top<'a, T>(
        &mut self,
        value: &'a Option<Spanned<T>>,
        key: &str,
    ) -> Option<&'a Spanned<T>> {
        if value.is_none() && !self.pruned.removed(TOP_TABLE, key) {
            let at = self.source.start();
            self.error(at, format!("missing required key `{key}` in the scenario"));
        }
        value.as_ref()
    }

    /// A name that must be a DNS-1123 label.
    fn label(&mut self, name: &Spanned<CompactString>, what: &str) -> Option<CompactString> {
        if is_dns1123_label(name.get_ref()) {
            Some(name.get_ref().clone())
        } else {
            self.error(
                name.span(),
                format!(
                    "{what} `{}` is not a DNS-1123 label: use 1 to 63 lowercase letters, digits \
                     or '-', starting and ending with a letter or digit",
                    name.get_ref()
                ),
            );
            None
        }
    }

    /// A name that must be a DNS-1123 subdomain (a resource name).
    fn subdomain(&mut self, name: &Spanned<CompactString>, what: &str) -> Option<CompactString> {
        if is_dns1123_subdomain(name.get_ref()) {
            Some(name.get_ref().clone())
        } else {
            self.error(
                name.span(),
                format!(
                    "{what} `{}` is not a valid resource name: use lowercase letters, digits, \
                     '-' and '.', at most 253 characters",
                    name.get_ref()
                ),
            );
            None
        }
    }

    /// A free-form value that must be non-empty and free of white space.
    fn word(&mut self, value: &Spanned<CompactString>, what: &str) -> Option<CompactString> {
        let text = value.get_ref();
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                value.span(),
                format!("{what} must be non-empty and contain no spaces or control characters"),
            );
            None
        } else {
            Some(text.clone())
        }
    }

    /// A `word` that is also what `valid` accepts (a part of an image
    /// reference); otherwise the error "`what` `text` is not `expected`".
    fn image_part(
        &mut self,
        value: &Spanned<CompactString>,
        what: &str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Option<CompactString> {
        let text = self.word(value, what)?;
        if valid(&text) {
            Some(text)
        } else {
            self.error(value.span(), format!("{what} `{text}` is not {expected}"));
            None
        }
    }

    /// One of a fixed set of words.
    fn one_of(
        &mut self,
        value: &Spanned<CompactString>,
        allowed: &[&str],
        what: &str,
    ) -> Option<CompactString> {
        if allowed.contains(&value.get_ref().as_str()) {
            Some(value.get_ref().clone())
        } else {
            self.error(
                value.span(),
                format!(
                    "{what} `{}` is not one of {}",
                    value.get_ref(),
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    /// An integer in `min..=max`.
    fn int_in(&mut self, value: &Spanned<i64>, min: i64, max: i64, what: &str) -> Option<i64> {
        let v = *value.get_ref();
        if (min..=max).contains(&v) {
            Some(v)
        } else {
            self.error(
                value.span(),
                format!("{what} must be between {min} and {max}, not {v}"),
            );
            None
        }
    }

    /// A Go/Istio duration; `at_least_ms` rejects shorter ones (Istio wants >= 1ms).
    fn duration(
        &mut self,
        value: &Spanned<CompactString>,
        what: &str,
        at_least_ms: bool,
    ) -> Option<Duration> {
        let text = value.get_ref();
        match parse_duration(text) {
            // Go's time.Duration is an i64 of nanoseconds: Istio and the
            // Kubernetes API server (CEL `duration()`) cannot read more.
            Some(nanos) if nanos > i64::MAX as u128 => {
                self.error(
                    value.span(),
                    format!(
                        "{what} `{text}` is longer than Go's longest duration, \
                         2562047h47m16.854775807s"
                    ),
                );
                None
            }
            Some(nanos) if at_least_ms && nanos < 1_000_000 => {
                self.error(
                    value.span(),
                    format!("{what} `{text}` must be at least 1ms"),
                );
                None
            }
            Some(nanos) => Some(Duration {
                text: text.clone(),
                nanos,
            }),
            None => {
                self.error(
                    value.span(),
                    format!(
                        "{what} `{text}` is not a duration: write a number and a unit, \
                         e.g. 500ms, 7s, 1m or 1m30s"
                    ),
                );
                None
            }
        }
    }

    /// A percentage as Istio accepts it: 0, or 0.0001..=100.
    fn percent(&mut self, value: &Spanned<f64>, what: &str) -> Option<f64> {
        let v = *value.get_ref();
        if v == 0.0 || (0.0001..=100.0).contains(&v) {
            Some(v)
        } else {
            self.error(
                value.span(),
                format!("{what} must be 0 or between 0.0001 and 100, not {v}"),
            );
            None
        }
    }

    /// Reports case-insensitive duplicates among names.
    fn unique<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a Spanned<CompactString>>,
        what: &str,
    ) {
        let mut seen: HashMap<CompactString, &Spanned<CompactString>> = HashMap::new();
        for name in names {
            let key = name.get_ref().to_lowercase();
            if let Some(first) = seen.get(&key) {
                let message = if first.get_ref() == name.get_ref() {
                    format!("duplicate {what} `{}`", name.get_ref())
                } else {
                    format!(
                        "duplicate {what} `{}`: names differing only in case (`{}`) are duplicates",
                        name.get_ref(),
                        first.get_ref()
                    )
                };
                self.error(name.span(), message);
            } else {
                seen.insert(key, name);
            }
        }
    }

    fn scenario(&mut self, mut raw: RawScenario) -> Option<Scenario> {
        // The schema reports a value that is neither `emit` nor `existing`.
        if raw
            .workloads
            .as_ref()
            .is_some_and(|w| w.get_ref() == "existing")
        {
            self.workloads = WorkloadMode::Existing;
        }
        let name = self
            .required_top(&raw.name, "name")
            .and_then(|n| self.label(n, "scenario name"))
            .map(String::from);
        let description = raw.description.as_ref().map(|d| d.get_ref().to_string());
        let mesh = self
            .required_top(&raw.mesh, "mesh")
            .and_then(|m| self.mesh(m));
        if let Some(mesh) = &mesh {
            self.routing_api = mesh.routing_api;
            self.ambient = mesh.dataplane == Dataplane::Ambient;
        }
        let namespace = self
            .required_top(&raw.namespace, "namespace")
            .and_then(|n| self.namespace(n, mesh.as_ref()));
        let registry = raw
            .images
            .as_ref()
            .and_then(|i| i.get_ref().registry.as_ref())
            .and_then(|r| self.image_part(r, "images.registry", is_image_prefix, IMAGE_PREFIX));
        if let Some(images) = raw.images.as_ref().filter(|_| !self.emits_workloads()) {
            self.error(
                images.span(),
                "[images] rewrites the images of the Deployments meshgen emits, and with \
                 workloads = \"existing\" it emits none: remove [images]",
            );
        }
        if let Some(policy) = raw.traffic_policy.as_ref().filter(|_| self.gateway_api()) {
            self.not_in_gateway_api(
                policy.span(),
                "[traffic_policy] (a DestinationRule's)",
                "remove it",
            );
        }
        let global_policy = raw
            .traffic_policy
            .as_ref()
            .map(|p| self.traffic_policy(p.get_ref()))
            .unwrap_or_default();
        let services = self
            .required_top(&raw.services, "services")
            .map(|s| self.services(s, registry.as_deref(), &global_policy))
            .unwrap_or_default();
        let security = match (&raw.security, &raw.services) {
            (Some(security), Some(raws)) => {
                self.security(security, raws.get_ref(), &services, raw.gateway.as_ref())
            }
            _ => Security::default(),
        };
        // Nothing reads the raw services after this: let them go before the
        // steps' models are built.
        drop(raw.services.take());
        let gateway = match (&raw.gateway, &name, &mesh) {
            // Without a valid mesh (already an error) the gateway is still
            // checked, with a stand-in port default.
            (Some(g), Some(name), mesh) => self.gateway(g, name, mesh.as_ref(), &services),
            _ => None,
        };
        let steps = raw
            .steps
            .map(|s| {
                self.steps(
                    s,
                    &services,
                    gateway.as_ref().map(|(g, c)| (g, c.as_slice())),
                )
            })
            .unwrap_or_default();
        if let Some((gateway, route_spans)) = &gateway {
            self.unreachable_gateway_routes(gateway, route_spans, &steps);
        }
        let gateway = gateway.map(|(g, _)| g);
        if let (Some(raw_mesh), Some(mesh)) = (&raw.mesh, &mesh) {
            self.helm_charts(raw_mesh.get_ref(), mesh, self.ambient, gateway.as_ref());
        }
        let mesh = mesh?;
        if services.iter().any(|s| !s.complete) {
            return None;
        }
        let mut services: Vec<Service> = services.into_iter().map(|s| s.service).collect();
        // LEAST_REQUEST arrived in Istio 1.14; before it, the same Envoy policy is
        // named LEAST_CONN (1.5.1's DestinationRule CRD accepts only that name).
        if (mesh.release.major, mesh.release.minor) < (1, 14) {
            for service in &mut services {
                if let Some(lb) = &mut service.traffic_policy.load_balancer
                    && lb == "LEAST_REQUEST"
                {
                    *lb = CompactString::const_new("LEAST_CONN");
                }
            }
        }
        Some(Scenario {
            name: name?,
            description,
            mesh,
            namespace: namespace?,
            service_positions: Scenario::positions(&services),
            services,
            workloads: self.workloads,
            gateway,
            security,
            steps,
        })
    }

    fn mesh(&mut self, raw: &Spanned<RawMesh>) -> Option<Mesh> {
        let span = raw.span();
        let mesh = raw.get_ref();
        let version = self.required(&mesh.version, "version", "[mesh]", &span)?;
        let Some(release) = Release::parse(version.get_ref()) else {
            self.error(
                version.span(),
                format!(
                    "mesh.version `{}` is not an Istio release: write MAJOR.MINOR or \
                     MAJOR.MINOR.PATCH, e.g. 1.22 or 1.5.1",
                    version.get_ref()
                ),
            );
            return None;
        };
        let facts = match istio::lookup(release) {
            Lookup::Known(facts) => facts,
            Lookup::Newer(facts) => {
                self.warning(
                    version.span(),
                    format!(
                        "Istio {release} is newer than the releases meshgen knows ({} to {}): \
                         {}'s facts are assumed",
                        istio::OLDEST,
                        istio::NEWEST,
                        istio::NEWEST
                    ),
                );
                facts
            }
            Lookup::Unsupported => {
                self.error(
                    version.span(),
                    format!(
                        "Istio {release} is not supported: meshgen knows releases {} to {}",
                        istio::OLDEST,
                        istio::NEWEST
                    ),
                );
                return None;
            }
        };
        let profile = match &mesh.profile {
            Some(p) if facts.profiles.contains(&p.get_ref().as_str()) => p.get_ref().to_string(),
            Some(p) => {
                self.error(
                    p.span(),
                    format!(
                        "profile `{}` is not shipped by Istio {}.{} (it ships {})",
                        p.get_ref(),
                        release.major,
                        release.minor,
                        facts.profiles.join(", ")
                    ),
                );
                p.get_ref().to_string()
            }
            None => "default".to_owned(),
        };
        let networking_api = match &mesh.networking_api {
            None => facts.default_networking_api,
            Some(api) => match NetworkingApi::parse(api.get_ref()) {
                Some(v) if facts.networking_apis.contains(&v) => v,
                Some(v) => {
                    self.error(
                        api.span(),
                        format!(
                            "networking_api `{}` is not served by Istio {}.{} (it serves {})",
                            v.as_str(),
                            release.major,
                            release.minor,
                            facts
                                .networking_apis
                                .iter()
                                .map(|a| a.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    facts.default_networking_api
                }
                None => {
                    self.error(
                        api.span(),
                        format!(
                            "networking_api `{}` is not one of v1alpha3, v1beta1, v1",
                            api.get_ref()
                        ),
                    );
                    facts.default_networking_api
                }
            },
        };
        let revision = match &mesh.revision {
            Some(r) => self.label(r, "mesh.revision").map(String::from),
            None => None,
        };
        let hub = match &mesh.hub {
            Some(h) => self
                .image_part(h, "mesh.hub", is_image_prefix, IMAGE_PREFIX)
                .map(String::from),
            None => None,
        };
        let tag = match &mesh.tag {
            Some(t) => self
                .image_part(t, "mesh.tag", is_image_tag, IMAGE_TAG)
                .map(String::from),
            None => release.patch.map(|_| release.to_string()),
        };
        let (routing_api, dataplane) = self.routing_and_dataplane(mesh, release, &profile);
        let install = self.install(mesh, release, &profile, tag.as_deref());
        let components = mesh.components.as_ref().map(Spanned::get_ref);
        let config = mesh.config.as_ref().map(Spanned::get_ref);
        let outbound_traffic_policy = match config.and_then(|c| c.outbound_traffic_policy.as_ref())
        {
            Some(p) => self
                .one_of(p, OUTBOUND_POLICIES, "outbound_traffic_policy")
                .map(String::from),
            None => None,
        };
        Some(Mesh {
            release,
            facts,
            profile,
            hub,
            tag,
            revision,
            networking_api,
            routing_api,
            dataplane,
            install,
            ingress_gateway: components
                .and_then(|c| c.ingress_gateway.as_ref())
                .map(|b| *b.get_ref()),
            egress_gateway: components
                .and_then(|c| c.egress_gateway.as_ref())
                .map(|b| *b.get_ref()),
            access_log_file: config
                .and_then(|c| c.access_log_file.as_ref())
                .map(|f| f.get_ref().to_string()),
            outbound_traffic_policy,
        })
    }

    fn namespace(&mut self, raw: &Spanned<RawNamespace>, mesh: Option<&Mesh>) -> Option<Namespace> {
        let span = raw.span();
        let ns = raw.get_ref();
        let name = self
            .required(&ns.name, "name", "[namespace]", &span)
            .and_then(|n| self.label(n, "namespace name"));
        let mut labels = BTreeMap::new();
        if let Some(raw_labels) = &ns.labels {
            for (key, value) in &raw_labels.get_ref().0 {
                let (k, v) = (key.get_ref(), value.get_ref());
                let ambient = mesh.is_some_and(|m| m.dataplane == Dataplane::Ambient);
                if ambient && (k == DATAPLANE_MODE_LABEL || k == USE_WAYPOINT_LABEL) {
                    self.error(
                        key.span(),
                        format!("label `{k}` is set by meshgen in ambient mode: remove it"),
                    );
                } else if k == INJECTION_LABEL || k == REVISION_LABEL {
                    self.error(
                        key.span(),
                        format!(
                            "label `{k}` is set by meshgen: use namespace.injection{}",
                            if k == REVISION_LABEL {
                                " and mesh.revision"
                            } else {
                                ""
                            }
                        ),
                    );
                } else if !is_label_key(k) {
                    self.error(
                        key.span(),
                        format!("`{k}` is not a valid Kubernetes label key"),
                    );
                } else if !is_label_value(v) {
                    self.error(
                        value.span(),
                        format!(
                            "`{v}` is not a valid Kubernetes label value: at most 63 letters, \
                             digits, '-', '_' or '.', starting and ending with a letter or digit"
                        ),
                    );
                } else {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
        }
        if mesh.is_some_and(|m| m.dataplane == Dataplane::Ambient) {
            if let Some(injection) = ns.injection.as_ref().filter(|i| *i.get_ref()) {
                self.error(
                    injection.span(),
                    "namespace.injection = true injects sidecars, which ambient mode does \
                     without (mesh.dataplane = \"ambient\"): remove it",
                );
            }
            for (key, value) in [
                (DATAPLANE_MODE_LABEL, "ambient"),
                (USE_WAYPOINT_LABEL, WAYPOINT_NAME),
            ] {
                labels.insert(key.to_owned(), value.to_owned());
            }
        } else if ns.injection.as_ref().is_none_or(|i| *i.get_ref()) {
            match mesh.and_then(|m| m.revision.as_ref()) {
                Some(revision) => labels.insert(REVISION_LABEL.to_owned(), revision.clone()),
                None => labels.insert(INJECTION_LABEL.to_owned(), "enabled".to_owned()),
            };
        }
        Some(Namespace {
            name: name?.into(),
            labels,
        })
    }

    fn traffic_policy(&mut self, raw: &RawTrafficPolicy) -> TrafficPolicy {
        TrafficPolicy {
            tls: raw
                .tls
                .as_ref()
                .and_then(|t| self.one_of(t, TLS_MODES, "tls")),
            load_balancer: raw
                .load_balancer
                .as_ref()
                .and_then(|l| self.one_of(l, LOAD_BALANCERS, "load_balancer")),
            max_connections: raw
                .max_connections
                .as_ref()
                .and_then(|m| self.int_in(m, 1, i64::from(i32::MAX), "max_connections"))
                .and_then(|m| u32::try_from(m).ok()),
            consecutive_errors: raw
                .consecutive_errors
                .as_ref()
                .and_then(|c| self.int_in(c, 1, i64::from(i32::MAX), "consecutive_errors"))
                .and_then(|c| u32::try_from(c).ok()),
            ejection_time: raw
                .ejection_time
                .as_ref()
                .and_then(|e| self.duration(e, "ejection_time", true)),
        }
    }
}
