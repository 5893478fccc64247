//! Semantic validation: turns the raw scenario into the model, applying every
//! default and rule of SCENARIO.md, or returns every diagnostic found. Also
//! the warnings that a valid scenario may still deserve (Istio's IST0140,
//! routing to undeployed versions, mirrors to the routed subset).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_env_name, is_header_name, is_image_prefix,
    is_image_reference, is_image_tag, is_label_key, is_label_value, is_rfc1035_label,
    is_wildcard_host,
};
use super::prune::Pruned;
use super::raw::{
    RawCall, RawGateway, RawGatewayTls, RawHeaderMatch, RawMap, RawMatch, RawMesh, RawNamespace,
    RawRule, RawScenario, RawService, RawStep, RawTarget, RawTrafficPolicy, RawVersion,
    RawVersionRef,
};
use crate::diagnostic::Diagnostic;
use crate::istio::{self, Lookup, NetworkingApi, Release};
use crate::model::{
    Abort, Call, Delay, Destination, Duration, Gateway, GatewayRoute, GatewayTls, HTTPS_PORT,
    Lifetime, Mesh, Mirror, Namespace, Protocol, Retries, Rule, Scenario, Service, ServiceRouting,
    Step, StringMatch, TrafficPolicy, Version, VersionRef, WorkloadMode, parse_duration,
};
use crate::source::Source;

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
/// warnings) found, in no particular order.
pub fn validate(
    raw: &RawScenario,
    source: &Source,
    pruned: &Pruned,
) -> (Option<Scenario>, Vec<Diagnostic>) {
    let mut checker = Checker {
        source,
        pruned,
        diagnostics: Vec::new(),
        declared: HashSet::new(),
        workloads: WorkloadMode::Emit,
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
    declared: HashSet<String>,
    /// Who owns the workloads: read first, since it decides what a version may set.
    workloads: WorkloadMode,
}

/// What validation learnt of a service before the steps are read.
struct ServiceInfo<'a> {
    raw: &'a RawService,
    service: Service,
    /// False when the port or service account is in error (reported): the
    /// service is still a target of routes and calls, with a stand-in port,
    /// but the scenario has no model.
    complete: bool,
}

/// What the reachability check of gateway routes needs of one
/// `[[gateway.routes]]` entry.
struct RouteCheck {
    /// The entry.
    span: Range<usize>,
    /// No `uris` key: the route takes every request.
    catch_all: bool,
    /// Its URI matches that are valid.
    uris: Vec<StringMatch>,
    /// Whether every URI match is valid (an invalid one may match more).
    complete: bool,
    /// Its position among the model's routes; `None` when its service is in error.
    model: Option<usize>,
}

/// What the gateway routes checked so far take for sure, by value: the
/// first route (its index among the checks) to take each exact path,
/// prefix and regex.
struct Taken<'a> {
    exact: HashMap<&'a str, usize>,
    prefixes: HashMap<&'a str, usize>,
    regexes: HashMap<&'a str, usize>,
    /// Every regex of a route that takes its requests, compiled as one set
    /// of full matches, with the route of each.
    regex_set: Option<(&'a regex::RegexSet, &'a [(&'a str, usize)])>,
}

impl Taken<'_> {
    /// The first route before `before` that surely takes every request
    /// `uri` matches (what `ingress::uri_covers` says, found by value: the
    /// prefixes of a path looked up one by one, an exact path matched
    /// against every regex at once).
    fn by(&self, uri: &StringMatch, before: usize) -> Option<usize> {
        let by_prefix = |value: &str| {
            (0..=value.len())
                .filter(|&i| value.is_char_boundary(i))
                .filter_map(|i| self.prefixes.get(&value[..i]).copied())
                .min()
        };
        let found = match uri {
            StringMatch::Exact(v) => {
                let by_regex = self.regex_set.and_then(|(set, routes)| {
                    (set.matches(v).iter())
                        .map(|i| routes[i].1)
                        .filter(|&r| r < before)
                        .min()
                });
                [self.exact.get(v.as_str()).copied(), by_prefix(v), by_regex]
            }
            StringMatch::Prefix(v) => {
                // `e?…` takes only requests for the path `e`.
                let by_exact = (v.split_once('?')).and_then(|(e, _)| self.exact.get(e).copied());
                [by_prefix(v), by_exact, None]
            }
            StringMatch::Regex(v) => [self.regexes.get(v.as_str()).copied(), None, None],
        };
        found.into_iter().flatten().min()
    }
}

impl Checker<'_> {
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
    fn undeclared(&mut self, service: &Spanned<String>, what: &str) {
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
    fn label(&mut self, name: &Spanned<String>, what: &str) -> Option<String> {
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
    fn subdomain(&mut self, name: &Spanned<String>, what: &str) -> Option<String> {
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
    fn word(&mut self, value: &Spanned<String>, what: &str) -> Option<String> {
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
        value: &Spanned<String>,
        what: &str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Option<String> {
        let text = self.word(value, what)?;
        if valid(&text) {
            Some(text)
        } else {
            self.error(value.span(), format!("{what} `{text}` is not {expected}"));
            None
        }
    }

    /// One of a fixed set of words.
    fn one_of(&mut self, value: &Spanned<String>, allowed: &[&str], what: &str) -> Option<String> {
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
        value: &Spanned<String>,
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
    fn unique<'a>(&mut self, names: impl IntoIterator<Item = &'a Spanned<String>>, what: &str) {
        let mut seen: HashMap<String, &Spanned<String>> = HashMap::new();
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

    fn scenario(&mut self, raw: &RawScenario) -> Option<Scenario> {
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
            .and_then(|n| self.label(n, "scenario name"));
        let description = raw.description.as_ref().map(|d| d.get_ref().clone());
        let mesh = self
            .required_top(&raw.mesh, "mesh")
            .and_then(|m| self.mesh(m));
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
        let global_policy = raw
            .traffic_policy
            .as_ref()
            .map(|p| self.traffic_policy(p.get_ref()))
            .unwrap_or_default();
        let services = self
            .required_top(&raw.services, "services")
            .map(|s| self.services(s, registry.as_deref(), &global_policy))
            .unwrap_or_default();
        let gateway = match (&raw.gateway, &name, &mesh) {
            // Without a valid mesh (already an error) the gateway is still
            // checked, with a stand-in port default.
            (Some(g), Some(name), mesh) => self.gateway(g, name, mesh.as_ref(), &services),
            _ => None,
        };
        let steps = raw
            .steps
            .as_ref()
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
                    "LEAST_CONN".clone_into(lb);
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
            Some(p) if facts.profiles.contains(&p.get_ref().as_str()) => p.get_ref().clone(),
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
                p.get_ref().clone()
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
            Some(r) => self.label(r, "mesh.revision"),
            None => None,
        };
        let hub = match &mesh.hub {
            Some(h) => self.image_part(h, "mesh.hub", is_image_prefix, IMAGE_PREFIX),
            None => None,
        };
        let tag = match &mesh.tag {
            Some(t) => self.image_part(t, "mesh.tag", is_image_tag, IMAGE_TAG),
            None => release.patch.map(|_| release.to_string()),
        };
        let components = mesh.components.as_ref().map(Spanned::get_ref);
        let config = mesh.config.as_ref().map(Spanned::get_ref);
        let outbound_traffic_policy = match config.and_then(|c| c.outbound_traffic_policy.as_ref())
        {
            Some(p) => self.one_of(p, OUTBOUND_POLICIES, "outbound_traffic_policy"),
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
            ingress_gateway: components
                .and_then(|c| c.ingress_gateway.as_ref())
                .map(|b| *b.get_ref()),
            egress_gateway: components
                .and_then(|c| c.egress_gateway.as_ref())
                .map(|b| *b.get_ref()),
            access_log_file: config
                .and_then(|c| c.access_log_file.as_ref())
                .map(|f| f.get_ref().clone()),
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
                if k == INJECTION_LABEL || k == REVISION_LABEL {
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
                    labels.insert(k.clone(), v.clone());
                }
            }
        }
        if ns.injection.as_ref().is_none_or(|i| *i.get_ref()) {
            match mesh.and_then(|m| m.revision.as_ref()) {
                Some(revision) => labels.insert(REVISION_LABEL.to_owned(), revision.clone()),
                None => labels.insert(INJECTION_LABEL.to_owned(), "enabled".to_owned()),
            };
        }
        Some(Namespace {
            name: name?,
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

    fn services<'a>(
        &mut self,
        raw: &'a Spanned<Vec<Spanned<RawService>>>,
        registry: Option<&str>,
        global_policy: &TrafficPolicy,
    ) -> Vec<ServiceInfo<'a>> {
        if raw.get_ref().is_empty() {
            self.error(raw.span(), "a scenario needs at least one service");
        }
        self.unique(
            raw.get_ref()
                .iter()
                .filter_map(|s| s.get_ref().name.as_ref()),
            "service",
        );
        self.declared = raw
            .get_ref()
            .iter()
            .filter_map(|s| s.get_ref().name.as_ref())
            .map(|n| n.get_ref().clone())
            .collect();
        let mut infos = Vec::new();
        // A service named again is reported once (above) and its own keys are
        // checked, but routes, calls and the gateway refer to the first one.
        let mut named: HashSet<&str> = HashSet::new();
        let mut repeated = Vec::new();
        for spanned in raw.get_ref() {
            let first = (spanned.get_ref().name.as_ref()).is_none_or(|n| named.insert(n.get_ref()));
            let checked = self.service(spanned, registry, global_policy);
            if !first {
                repeated.push(spanned.get_ref());
            } else if let Some((service, complete)) = checked {
                infos.push(ServiceInfo {
                    raw: spanned.get_ref(),
                    service,
                    complete,
                });
            }
        }
        self.shared_names(&infos);
        // Calls can name any service, so they are resolved once all are known.
        let known: HashSet<String> = infos.iter().map(|i| i.service.name.clone()).collect();
        for service in repeated {
            let versions = service.versions.iter().flat_map(|v| &v.get_ref().0);
            let lists = (service.calls.iter())
                .chain(versions.filter_map(|(_, v)| v.get_ref().calls.as_ref()));
            for calls in lists {
                self.calls(calls.get_ref(), &known);
            }
        }
        for info in &mut infos {
            let service_calls = info
                .raw
                .calls
                .as_ref()
                .map(|c| self.calls(c.get_ref(), &known))
                .unwrap_or_default();
            // Each version's calls go to it by name; those of a version whose
            // name is in error are still checked.
            for (key, raw_version) in info.raw.versions.iter().flat_map(|v| &v.get_ref().0) {
                let calls = match &raw_version.get_ref().calls {
                    Some(own) => self.calls(own.get_ref(), &known),
                    None => service_calls.clone(),
                };
                let position = info.service.position(key.get_ref());
                if let Some(version) = position.and_then(|i| info.service.versions.get_mut(i)) {
                    version.calls = calls;
                }
            }
        }
        infos
    }

    /// Names two services would both create: a Deployment `<service>-<version>`
    /// (service `a-b`, version `c` and service `a`, version `b-c`), or a
    /// ServiceAccount, which meshgen creates per service (`account: <service>`).
    /// A service declared twice is reported as such, not here.
    fn shared_names(&mut self, infos: &[ServiceInfo<'_>]) {
        // With workloads = "existing", meshgen creates neither.
        if !self.emits_workloads() {
            return;
        }
        // Where each name was first made; its line is found only on a clash.
        let mut deployments: HashMap<String, (&str, &str, Range<usize>)> = HashMap::new();
        let mut accounts: HashMap<&str, (&str, Range<usize>)> = HashMap::new();
        for info in infos {
            let service = &info.service;
            // The first key of each version name.
            let mut keys: HashMap<&str, &Spanned<String>> = HashMap::new();
            for (key, _) in info.raw.versions.iter().flat_map(|v| &v.get_ref().0) {
                keys.entry(key.get_ref().as_str()).or_insert(key);
            }
            for version in service.versions.iter().filter(|v| v.deploy) {
                let Some(key) = keys.get(version.name.as_str()) else {
                    continue;
                };
                let deployment = format!("{}-{}", service.name, version.name);
                match deployments.get(&deployment) {
                    Some((other, _, _)) if *other == service.name => {}
                    Some((other, other_version, first)) => {
                        let message = format!(
                            "Deployment `{deployment}` of service `{}`, version `{}`, is also \
                             the Deployment of service `{other}`, version `{other_version}` \
                             (line {}): rename one of the versions",
                            service.name,
                            version.name,
                            self.line(first)
                        );
                        self.error(key.span(), message);
                    }
                    None => {
                        deployments.insert(deployment, (&service.name, &version.name, key.span()));
                    }
                }
            }
            let (Some(account), Some(raw)) = (&service.service_account, &info.raw.service_account)
            else {
                continue;
            };
            match accounts.get(account.as_str()) {
                Some((other, _)) if *other == service.name => {}
                Some((other, first)) => {
                    let message = format!(
                        "service account `{account}` is also service `{other}`'s (line {}): \
                         meshgen creates a ServiceAccount per service, labelled \
                         `account: <service>`; give each service its own",
                        self.line(first)
                    );
                    self.error(raw.span(), message);
                }
                None => {
                    accounts.insert(account, (&service.name, raw.span()));
                }
            }
        }
    }

    /// The service, and whether it is complete (see `ServiceInfo`); `None`
    /// when it cannot even be a target (no valid name, protocol or versions).
    fn service(
        &mut self,
        raw: &Spanned<RawService>,
        registry: Option<&str>,
        global_policy: &TrafficPolicy,
    ) -> Option<(Service, bool)> {
        let span = raw.span();
        let svc = raw.get_ref();
        let name = self.required(&svc.name, "name", "[[services]]", &span);
        let name = name.and_then(|n| {
            if is_rfc1035_label(n.get_ref()) {
                Some(n.get_ref().clone())
            } else {
                self.error(
                    n.span(),
                    format!(
                        "service name `{}` is not an RFC 1035 label: use 1 to 63 lowercase \
                         letters, digits or '-', starting with a letter and ending with a \
                         letter or digit",
                        n.get_ref()
                    ),
                );
                None
            }
        });
        let port = self
            .required(&svc.port, "port", "[[services]]", &span)
            .and_then(|p| self.int_in(p, 1, 65535, "port"))
            .and_then(|p| u16::try_from(p).ok());
        let protocol = match &svc.protocol {
            None => Some(Protocol::Http),
            Some(p) => {
                let found = Protocol::ALL.iter().find(|(n, _)| n == p.get_ref());
                if found.is_none() {
                    self.error(
                        p.span(),
                        format!(
                            "protocol `{}` is not one of http, http2, grpc, tcp",
                            p.get_ref()
                        ),
                    );
                }
                found.map(|(_, protocol)| *protocol)
            }
        };
        let service_account = match &svc.service_account {
            Some(sa) => self.label(sa, "service_account").map(Some),
            None => Some(None),
        };
        let versions = self
            .required(&svc.versions, "versions", "[[services]]", &span)
            .map(|v| self.versions(v, name.as_deref(), registry));
        let traffic_policy = svc
            .traffic_policy
            .as_ref()
            .map(|p| self.traffic_policy(p.get_ref()))
            .unwrap_or_default()
            .or(global_policy);
        let complete = port.is_some() && service_account.is_some();
        let versions = versions?;
        let service = Service {
            name: name?,
            // A stand-in, never rendered: the port's error is reported.
            port: port.unwrap_or(STAND_IN_PORT),
            protocol: protocol?,
            service_account: service_account.flatten(),
            version_order: Service::by_name(&versions),
            versions,
            traffic_policy,
        };
        Some((service, complete))
    }

    fn versions(
        &mut self,
        raw: &Spanned<RawMap<Spanned<RawVersion>>>,
        service: Option<&str>,
        registry: Option<&str>,
    ) -> Vec<Version> {
        let entries = &raw.get_ref().0;
        if entries.is_empty() {
            self.error(raw.span(), "a service needs at least one version");
        }
        self.unique(entries.iter().map(|(k, _)| k), "version");
        let mut versions = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.label(key, "version name") else {
                continue;
            };
            if let Some(service) = service.filter(|_| self.emits_workloads()) {
                let deployment = format!("{service}-{name}");
                if deployment.len() > 63 {
                    self.error(
                        key.span(),
                        format!(
                            "Deployment name `{deployment}` is longer than 63 characters: \
                             shorten the service or version name"
                        ),
                    );
                }
            }
            let v = value.get_ref();
            let labels = self.version_labels(v, &name);
            if !self.emits_workloads() {
                self.ignored_version_keys(v);
                versions.push(Version {
                    labels,
                    ..Version::existing(name)
                });
                continue;
            }
            let deploy = v.deploy.as_ref().is_none_or(|d| *d.get_ref());
            let image = match &v.image {
                Some(image) => self
                    .image_part(image, "image", is_image_reference, IMAGE_REFERENCE)
                    .map(|i| registry.map_or(i.clone(), |r| rewrite_image(&i, r))),
                None if deploy => {
                    self.error(
                        value.span(),
                        format!(
                            "missing required key `image` in version `{name}` (or set deploy = false)"
                        ),
                    );
                    None
                }
                None => None,
            };
            let replicas = v
                .replicas
                .as_ref()
                .map_or(Some(1), |r| {
                    self.int_in(r, 0, i64::from(i32::MAX), "replicas")
                })
                .and_then(|r| u32::try_from(r).ok());
            let mut env = Vec::new();
            if let Some(raw_env) = &v.env {
                for (key, value) in &raw_env.get_ref().0 {
                    if is_env_name(key.get_ref()) {
                        env.push((key.get_ref().clone(), value.get_ref().clone()));
                    } else {
                        self.error(
                            key.span(),
                            format!(
                                "`{}` is not a valid environment variable name: use letters, \
                                 digits, '_', '-' or '.', not starting with a digit",
                                key.get_ref()
                            ),
                        );
                    }
                }
            }
            env.sort();
            // A version whose image or replicas are wrong is still declared
            // (steps that name it are not wrong too); the error already
            // recorded keeps the scenario from being built.
            versions.push(Version {
                name,
                image,
                replicas: replicas.unwrap_or(1),
                env,
                calls: Vec::new(),
                deploy,
                labels,
                lifetime: Lifetime::default(),
            });
        }
        if !self.emits_workloads() {
            self.same_pods(entries, &versions, service);
        }
        versions
    }

    /// Whether meshgen emits the workloads (not with `workloads = "existing"`).
    fn emits_workloads(&self) -> bool {
        self.workloads == WorkloadMode::Emit
    }

    /// The labels a version's subset selects: its `labels` (only with
    /// `workloads = "existing"`), or `version: <name>`.
    fn version_labels(&mut self, v: &RawVersion, name: &str) -> Vec<(String, String)> {
        let default = vec![("version".to_owned(), name.to_owned())];
        let Some(raw_labels) = &v.labels else {
            return default;
        };
        if self.emits_workloads() {
            self.error(
                raw_labels.span(),
                format!(
                    "`labels` picks the pods of workloads meshgen does not emit (workloads = \
                     \"existing\"): the Deployments meshgen emits carry `version: {name}`, which \
                     the subset selects; remove `labels`"
                ),
            );
            return default;
        }
        let mut labels = Vec::new();
        let mut ok = true;
        for (key, value) in &raw_labels.get_ref().0 {
            if !is_label_key(key.get_ref()) {
                ok = false;
                self.error(
                    key.span(),
                    format!("`{}` is not a valid Kubernetes label key", key.get_ref()),
                );
            } else if !is_label_value(value.get_ref()) {
                ok = false;
                self.error(
                    value.span(),
                    format!(
                        "`{}` is not a valid Kubernetes label value: at most 63 letters, digits, \
                         '-', '_' or '.', starting and ending with a letter or digit",
                        value.get_ref()
                    ),
                );
            } else {
                labels.push((key.get_ref().clone(), value.get_ref().clone()));
            }
        }
        // Labels in error (reported) are not compared with other versions'.
        if !ok {
            return default;
        }
        labels.sort();
        labels
    }

    /// Warns when two versions of a service select the same pods: their
    /// subsets are then one, and routing between them does nothing.
    fn same_pods(
        &mut self,
        entries: &[(Spanned<String>, Spanned<RawVersion>)],
        versions: &[Version],
        service: Option<&str>,
    ) {
        let mut seen: HashMap<&[(String, String)], &str> = HashMap::new();
        for version in versions {
            let Some(first) = seen.get(version.labels.as_slice()).copied() else {
                seen.insert(&version.labels, &version.name);
                continue;
            };
            let Some((key, _)) = entries.iter().find(|(k, _)| *k.get_ref() == version.name) else {
                continue;
            };
            let labels: Vec<String> = version
                .labels
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            self.warning(
                key.span(),
                format!(
                    "versions `{first}` and `{}` of `{}` select the same pods ({}): \
                     routing between their subsets changes nothing; give each its own `labels`",
                    version.name,
                    service.unwrap_or("the service"),
                    labels.join(", ")
                ),
            );
        }
    }

    /// With `workloads = "existing"`, the keys of a version that set its
    /// Deployment: meshgen emits none, so each is an error at its key.
    fn ignored_version_keys(&mut self, v: &RawVersion) {
        let keys = [
            ("image", "sets", v.image.as_ref().map(Spanned::span)),
            ("replicas", "sets", v.replicas.as_ref().map(Spanned::span)),
            ("env", "sets", v.env.as_ref().map(Spanned::span)),
            (
                "deploy",
                "says whether meshgen emits",
                v.deploy.as_ref().map(Spanned::span),
            ),
        ];
        for (key, does, span) in keys {
            if let Some(span) = span {
                self.error(
                    span,
                    format!(
                        "`{key}` {does} the version's Deployment, and with workloads = \
                         \"existing\" meshgen emits none (the application's own manifests \
                         do): remove `{key}`"
                    ),
                );
            }
        }
    }

    fn calls(&mut self, raw: &[Spanned<RawCall>], known: &HashSet<String>) -> Vec<Call> {
        let mut calls = Vec::new();
        for spanned in raw {
            let call = spanned.get_ref();
            let Some(service) =
                self.required(&call.service, "service", "the call", &spanned.span())
            else {
                continue;
            };
            if !known.contains(service.get_ref()) {
                self.undeclared(service, "call to");
                continue;
            }
            let timeout = call
                .timeout
                .as_ref()
                .and_then(|t| self.duration(t, "timeout", true));
            let attempts = call
                .attempts
                .as_ref()
                .map_or(Some(1), |a| self.int_in(a, 1, 100, "attempts"))
                .and_then(|a| u32::try_from(a).ok());
            if let Some(attempts) = attempts {
                calls.push(Call {
                    service: service.get_ref().clone(),
                    timeout,
                    attempts,
                });
            }
        }
        calls
    }

    /// The gateway, and what the check of its routes' reachability needs of
    /// each `[[gateway.routes]]` entry (done once the steps are known).
    fn gateway(
        &mut self,
        raw: &Spanned<RawGateway>,
        scenario: &str,
        mesh: Option<&Mesh>,
        services: &[ServiceInfo<'_>],
    ) -> Option<(Gateway, Vec<RouteCheck>)> {
        let span = raw.span();
        let gw = raw.get_ref();
        let name = match &gw.name {
            Some(n) => self.subdomain(n, "gateway name"),
            None => Some(format!("{scenario}-gateway")),
        };
        let virtual_service = match &gw.virtual_service {
            Some(v) => self.subdomain(v, "gateway.virtual_service"),
            None => Some(scenario.to_owned()),
        };
        if let Some(vs) = &virtual_service
            && services.iter().any(|s| &s.service.name == vs)
        {
            let at = gw
                .virtual_service
                .as_ref()
                .map_or(span.clone(), Spanned::span);
            self.error(
                at,
                format!(
                    "the gateway's VirtualService would be named `{vs}`, like the \
                     VirtualService of service `{vs}`: set gateway.virtual_service to another name"
                ),
            );
        }
        let mut selector = Vec::new();
        match &gw.selector {
            Some(raw_selector) => {
                for (key, value) in &raw_selector.get_ref().0 {
                    if !is_label_key(key.get_ref()) {
                        self.error(
                            key.span(),
                            format!("`{}` is not a valid Kubernetes label key", key.get_ref()),
                        );
                    } else if !is_label_value(value.get_ref()) {
                        self.error(
                            value.span(),
                            format!(
                                "`{}` is not a valid Kubernetes label value",
                                value.get_ref()
                            ),
                        );
                    } else {
                        selector.push((key.get_ref().clone(), value.get_ref().clone()));
                    }
                }
                selector.sort();
            }
            None => {
                selector.push(("istio".to_owned(), "ingressgateway".to_owned()));
                if let (Some(name), Some(mesh)) = (&name, mesh) {
                    self.gateway_without_pods(&span, name, mesh);
                }
            }
        }
        // Without a valid mesh (already an error) the gateway is still
        // checked, with a stand-in port default.
        let port = match &gw.port {
            Some(p) => self
                .int_in(p, 1, 65535, "gateway port")
                .and_then(|p| u16::try_from(p).ok()),
            None => Some(mesh.map_or(80, |m| m.facts.gateway_port)),
        };
        let hosts = match &gw.hosts {
            Some(raw_hosts) => {
                if raw_hosts.get_ref().is_empty() {
                    self.error(
                        raw_hosts.span(),
                        "gateway.hosts must name at least one host",
                    );
                }
                raw_hosts
                    .get_ref()
                    .iter()
                    .filter_map(|h| self.gateway_host(h))
                    .collect()
            }
            None => vec!["*".to_owned()],
        };
        let tls = match &gw.tls {
            Some(t) => self.gateway_tls(t, gw.port.as_ref(), port),
            None => Some(None),
        };
        let (routes, checks) = self.gateway_routes(gw, &span, services);
        // A value in error (reported) is replaced by a stand-in, so that the
        // steps are still checked against the gateway; the scenario then has
        // no model, so the stand-in is never rendered.
        let gateway = Gateway {
            name: name.unwrap_or_else(|| format!("{scenario}-gateway")),
            virtual_service: virtual_service.unwrap_or_else(|| scenario.to_owned()),
            selector,
            port: port.unwrap_or(STAND_IN_PORT),
            hosts,
            routes,
            custom_selector: gw.selector.is_some(),
            version_routing: gw.version_routing.as_ref().is_some_and(|v| *v.get_ref()),
            tls: tls.flatten(),
        };
        Some((gateway, checks))
    }

    /// Warns when the gateway's default selector (Istio's ingress gateway)
    /// selects no pod of the install meshgen emits: the profile installs no
    /// ingress gateway, or `mesh.components.ingress_gateway = false`. A
    /// custom selector is the user's own gateway, installed elsewhere.
    fn gateway_without_pods(&mut self, span: &Range<usize>, name: &str, mesh: &Mesh) {
        let why = match mesh.ingress_gateway {
            Some(true) => return,
            Some(false) => "mesh.components.ingress_gateway = false leaves Istio's ingress \
                            gateway out of the install"
                .to_owned(),
            None if mesh.facts.without_ingress_gateway(&mesh.profile) => format!(
                "the `{}` profile of Istio {}.{} installs no ingress gateway",
                mesh.profile, mesh.release.major, mesh.release.minor
            ),
            None => return,
        };
        self.warning(
            span.clone(),
            format!(
                "gateway `{name}` selects the pods labelled istio: ingressgateway (the default \
                 selector), and {why}: no pod serves the gateway. Set \
                 mesh.components.ingress_gateway = true, or give the `selector` of a gateway \
                 you install yourself"
            ),
        );
    }

    /// `[gateway] tls`: the HTTPS server's Secret, and the plain port it
    /// leaves: with `redirect_http` the HTTP server must not take 443 too;
    /// without it the gateway has no HTTP server, and a `port` goes unused.
    /// `None` on error, `Some(None)` never (the caller has a `tls` table).
    fn gateway_tls(
        &mut self,
        raw: &Spanned<RawGatewayTls>,
        raw_port: Option<&Spanned<i64>>,
        port: Option<u16>,
    ) -> Option<Option<GatewayTls>> {
        let tls = raw.get_ref();
        let redirect_http = tls.redirect_http.as_ref().is_some_and(|r| *r.get_ref());
        // A missing credential_name is the schema's to report.
        let credential_name = tls
            .credential_name
            .as_ref()
            .and_then(|c| self.subdomain(c, "tls.credential_name (a Secret's name)"));
        match raw_port {
            Some(p) if redirect_http && port == Some(HTTPS_PORT) => {
                self.error(
                    p.span(),
                    format!(
                        "gateway port {HTTPS_PORT} is the HTTPS server's: the plain HTTP server \
                         that redirects (redirect_http) needs another port"
                    ),
                );
                return None;
            }
            Some(p) if !redirect_http => self.warning(
                p.span(),
                "`port` is the plain HTTP server's, and with tls and no redirect_http the \
                 gateway serves HTTPS on 443 only: the port is unused (set redirect_http = true \
                 to redirect it to HTTPS, or remove it)",
            ),
            _ => {}
        }
        Some(Some(GatewayTls {
            credential_name: credential_name?,
            redirect_http,
        }))
    }

    /// A gateway host, also a host of the gateway's VirtualService: `*`, a DNS
    /// name, or a wildcard `*.example.com` (no `namespace/` prefix: a
    /// VirtualService host cannot carry one).
    fn gateway_host(&mut self, host: &Spanned<String>) -> Option<String> {
        if is_wildcard_host(host.get_ref()) {
            Some(host.get_ref().clone())
        } else {
            self.error(
                host.span(),
                format!(
                    "gateway host `{}` is not a host name: use `*`, a DNS name such as \
                     bookinfo.example.com, or a wildcard such as *.example.com",
                    host.get_ref()
                ),
            );
            None
        }
    }

    /// The gateway's routes, and for every entry with a `service` what the
    /// reachability check needs.
    fn gateway_routes(
        &mut self,
        gw: &RawGateway,
        span: &Range<usize>,
        services: &[ServiceInfo<'_>],
    ) -> (Vec<GatewayRoute>, Vec<RouteCheck>) {
        let Some(raw_routes) = &gw.routes else {
            self.error(
                span.clone(),
                "the gateway needs at least one [[gateway.routes]] entry",
            );
            return (Vec::new(), Vec::new());
        };
        let positions: HashMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.service.name.as_str(), i))
            .collect();
        let mut routes = Vec::new();
        let mut checks = Vec::new();
        for spanned in raw_routes.get_ref() {
            let route = spanned.get_ref();
            let Some(service) = self.required(
                &route.service,
                "service",
                "[[gateway.routes]]",
                &spanned.span(),
            ) else {
                continue;
            };
            let raw_uris = route.uris.as_ref().map_or(&[][..], |u| u.get_ref());
            let uris: Vec<StringMatch> = raw_uris
                .iter()
                .filter_map(|m| self.string_match(m.get_ref(), m.span(), "uri"))
                .collect();
            let mut check = RouteCheck {
                span: spanned.span(),
                // Empty `uris` are a shape error, not a catch-all.
                catch_all: route.uris.is_none(),
                complete: uris.len() == raw_uris.len(),
                uris: uris.clone(),
                model: None,
            };
            let Some(info) = positions
                .get(service.get_ref().as_str())
                .and_then(|&i| services.get(i))
            else {
                self.undeclared(service, "gateway route to");
                checks.push(check);
                continue;
            };
            if info.service.protocol == Protocol::Tcp {
                self.error(
                    service.span(),
                    format!(
                        "gateway route to `{}`, whose protocol is tcp: the gateway routes HTTP",
                        service.get_ref()
                    ),
                );
            }
            if info.service.versions.iter().all(|v| !v.deploy) {
                self.warning(
                    service.span(),
                    format!(
                        "the gateway sends traffic to `{}`, which has no deployed version: \
                         unless its workloads run elsewhere, requests get 503 no healthy upstream",
                        service.get_ref()
                    ),
                );
            }
            check.model = Some(routes.len());
            checks.push(check);
            routes.push(GatewayRoute {
                service: info.service.name.clone(),
                port: info.service.port,
                uris,
            });
        }
        (routes, checks)
    }

    /// An error at every gateway route that can never match: an earlier
    /// route takes every request of each of its URIs (or of every URI, for
    /// one without `uris`). Only what is certain is reported (see
    /// `ingress::uri_covers`). An earlier route takes all its URIs' requests
    /// unless, with `version_routing`, some step's rules for its service do
    /// not end with a catch-all: the requests none matches go on to later
    /// routes then.
    fn unreachable_gateway_routes(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        steps: &[Step],
    ) {
        let mut falls_through: HashSet<&str> = HashSet::new();
        if gateway.version_routing {
            for routing in steps.iter().flat_map(|s| &s.routes) {
                if !routing.rules.last().is_some_and(Rule::is_catch_all) {
                    falls_through.insert(routing.service.as_str());
                }
            }
        }
        let takes_all = |check: &RouteCheck| {
            check
                .model
                .and_then(|i| gateway.routes.get(i))
                .is_some_and(|r| !falls_through.contains(r.service.as_str()))
        };
        // Every regex of a route that takes all its URIs' requests, once in
        // one set: an exact path is matched against all of them at once.
        // Each is read as RE2 reads it; one RE2 refuses is reported at its
        // value and takes nothing here.
        let regexes: Vec<(&str, usize, String)> = (checks.iter().enumerate())
            .filter(|(_, c)| takes_all(c))
            .flat_map(|(i, c)| c.uris.iter().map(move |u| (u, i)))
            .filter_map(|(u, i)| match u {
                StringMatch::Regex(r) => {
                    let translated = crate::re2::translate(r).ok()?;
                    Some((r.as_str(), i, translated))
                }
                _ => None,
            })
            .collect();
        let regex_set =
            regex::RegexSet::new(regexes.iter().map(|(_, _, t)| format!(r"\A(?:{t})\z")))
                .ok()
                .filter(|_| !regexes.is_empty());
        let regexes: Vec<(&str, usize)> = regexes.iter().map(|&(r, i, _)| (r, i)).collect();
        let mut taken = Taken {
            exact: HashMap::new(),
            prefixes: HashMap::new(),
            regexes: HashMap::new(),
            regex_set: regex_set.as_ref().map(|set| (set, regexes.as_slice())),
        };
        let mut catch_all: Option<&Range<usize>> = None;
        for (index, check) in checks.iter().enumerate() {
            if let Some(earlier) = catch_all {
                self.error(
                    check.span.clone(),
                    format!(
                        "this gateway route can never match: the route on line {} has no uris \
                         and catches every request",
                        self.line(earlier)
                    ),
                );
                continue;
            }
            if check.complete && !check.catch_all && !check.uris.is_empty() {
                let takers: Option<Vec<usize>> = (check.uris.iter())
                    .map(|uri| taken.by(uri, index))
                    .collect();
                if let Some(mut takers) = takers {
                    takers.sort_unstable();
                    takers.dedup();
                    let lines: Vec<String> = (takers.iter())
                        .map(|&i| self.line(&checks[i].span).to_string())
                        .collect();
                    let by = match lines.as_slice() {
                        [one] => format!("the route on line {one}"),
                        more => format!("the routes on lines {}", more.join(", ")),
                    };
                    self.error(
                        check.span.clone(),
                        format!(
                            "this gateway route can never match: every request its uris match \
                             is taken first by {by}"
                        ),
                    );
                    continue;
                }
            }
            if !takes_all(check) {
                continue;
            }
            if check.catch_all {
                catch_all = Some(&check.span);
                continue;
            }
            for uri in &check.uris {
                let map = match uri {
                    StringMatch::Exact(_) => &mut taken.exact,
                    StringMatch::Prefix(_) => &mut taken.prefixes,
                    StringMatch::Regex(_) => &mut taken.regexes,
                };
                map.entry(uri.value()).or_insert(index);
            }
        }
    }

    /// `{ exact | prefix | regex = "..." }` with exactly one key.
    fn string_match(
        &mut self,
        m: &RawMatch,
        span: Range<usize>,
        what: &str,
    ) -> Option<StringMatch> {
        let given: Vec<StringMatch> = [
            m.exact
                .as_ref()
                .map(|v| StringMatch::Exact(v.get_ref().clone())),
            m.prefix
                .as_ref()
                .map(|v| StringMatch::Prefix(v.get_ref().clone())),
            m.regex
                .as_ref()
                .map(|v| StringMatch::Regex(v.get_ref().clone())),
        ]
        .into_iter()
        .flatten()
        .collect();
        match <[StringMatch; 1]>::try_from(given) {
            Ok([StringMatch::Regex(pattern)]) => {
                let at = m.regex.as_ref().map_or(span, Spanned::span);
                self.regex(&pattern, at, what)?;
                Some(StringMatch::Regex(pattern))
            }
            Ok([one]) => Some(one),
            Err(_) => {
                self.error(
                    span,
                    format!("a {what} match needs exactly one of exact, prefix or regex"),
                );
                None
            }
        }
    }

    /// A `regex` match: Envoy compiles it with RE2 (a `safe_regex`) and
    /// Istio's own check with Go's `regexp`; Istio refuses an empty one.
    /// Read by RE2's rules (crate::re2), not the `regex` crate's.
    fn regex(&mut self, pattern: &str, span: Range<usize>, what: &str) -> Option<()> {
        if pattern.is_empty() {
            self.error(span, format!("the {what} regex must not be empty"));
            return None;
        }
        match crate::re2::translate(pattern) {
            Ok(_) => Some(()),
            Err(refusal) => {
                self.error(span, format!("the {what} regex `{pattern}` is {refusal}"));
                None
            }
        }
    }

    fn steps(
        &mut self,
        raw: &Spanned<Vec<Spanned<RawStep>>>,
        services: &[ServiceInfo<'_>],
        gateway: Option<(&Gateway, &[RouteCheck])>,
    ) -> Vec<Step> {
        self.unique(
            raw.get_ref()
                .iter()
                .filter_map(|s| s.get_ref().name.as_ref()),
            "step",
        );
        let positions: HashMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.service.name.as_str(), i))
            .collect();
        // The services the gateway sends traffic to.
        let exposed: HashSet<&str> = gateway
            .iter()
            .flat_map(|(gw, _)| &gw.routes)
            .map(|r| r.service.as_str())
            .collect();
        raw.get_ref()
            .iter()
            .filter_map(|s| self.step(s, services, &positions, gateway, &exposed))
            .collect()
    }

    fn step(
        &mut self,
        raw: &Spanned<RawStep>,
        services: &[ServiceInfo<'_>],
        positions: &HashMap<&str, usize>,
        gateway: Option<(&Gateway, &[RouteCheck])>,
        exposed: &HashSet<&str>,
    ) -> Option<Step> {
        let checks = gateway.map_or(&[][..], |(_, c)| c);
        let gateway = gateway.map(|(g, _)| g);
        let span = raw.span();
        let step = raw.get_ref();
        let name = self
            .required(&step.name, "name", "[[steps]]", &span)
            .and_then(|n| self.label(n, "step name"));
        // A step that launches or retires versions may route nothing.
        let rules: &[Spanned<RawRule>] = match &step.routes {
            None if step.launch.is_some() || step.retire.is_some() => &[],
            routes => {
                let rules = self.required(routes, "routes", "[[steps]]", &span)?;
                if rules.get_ref().is_empty() {
                    self.error(rules.span(), "a step needs at least one route");
                }
                rules.get_ref()
            }
        };
        // Rules per service, in file order; the span of the first catch-all.
        let mut per_service: BTreeMap<usize, (Vec<Rule>, Option<Range<usize>>)> = BTreeMap::new();
        // The `service` of the first rule for each service the gateway routes
        // by version: where a fall-through is reported.
        let mut first_at: HashMap<usize, Range<usize>> = HashMap::new();
        // Per service, each rule's `to` and its destinations with their spans.
        let mut sent: BTreeMap<usize, Vec<Sent>> = BTreeMap::new();
        for spanned in rules {
            let rule = spanned.get_ref();
            let Some(service) = self.required(
                &rule.service,
                "service",
                "[[steps.routes]]",
                &spanned.span(),
            ) else {
                continue;
            };
            let targets: Vec<usize> = if service.get_ref() == "*" {
                (0..services.len()).collect()
            } else if let Some(&i) = positions.get(service.get_ref().as_str()) {
                vec![i]
            } else {
                self.undeclared(service, "route for");
                continue;
            };
            let to = self.required(&rule.to, "to", "[[steps.routes]]", &spanned.span());
            for index in targets {
                let target = &services[index].service;
                let built = self.rule(rule, to, target);
                let (list, catch_all) = per_service.entry(index).or_default();
                if let Some(earlier) = catch_all {
                    self.error(
                        spanned.span(),
                        format!(
                            "this rule for `{}` can never match: an earlier rule of the step \
                             (line {}) has no match condition and catches every request",
                            target.name,
                            self.line(earlier)
                        ),
                    );
                }
                // Empty `headers` are a shape error, not a catch-all.
                let matches_everything =
                    rule.headers.is_none() && rule.uri.is_none() && rule.method.is_none();
                if matches_everything {
                    catch_all.get_or_insert(spanned.span());
                }
                let Some(built) = built else {
                    continue;
                };
                if let Some(gw) = gateway.filter(|g| g.version_routing)
                    && exposed.contains(target.name.as_str())
                {
                    first_at.entry(index).or_insert_with(|| service.span());
                    if let (Some(uri), Some(raw_uri)) = (&built.uri, &rule.uri) {
                        self.gateway_uri_combines(gw, checks, &target.name, uri, raw_uri.span());
                    }
                }
                if let Some(to) = to {
                    sent.entry(index).or_default().push(Sent::of(to, &built));
                }
                // Ingress traffic reaches every deployed version of a service
                // the gateway exposes; with one deployed version, no matter.
                if let Some(gw) = gateway
                    && !gw.version_routing
                    && list.is_empty()
                    && exposed.contains(target.name.as_str())
                    && target.versions.iter().filter(|v| v.deploy).count() > 1
                {
                    self.warning(
                        service.span(),
                        format!(
                            "step routes `{}` by version, but traffic entering through gateway \
                             `{}` goes to `{}` without a subset and ignores this routing \
                             (Istio IST0140)",
                            target.name, gw.name, target.name
                        ),
                    );
                }
                list.push(built);
            }
        }
        if let Some(gw) = gateway {
            for (index, (rules, _)) in &per_service {
                if let Some(at) = first_at.get(index)
                    && !rules.last().is_some_and(Rule::is_catch_all)
                {
                    self.gateway_fall_through(gw, checks, &services[*index].service.name, at);
                }
            }
        }
        for (index, rules) in &sent {
            self.without_pods(&services[*index].service, rules);
        }
        let routes = per_service
            .into_iter()
            .map(|(index, (mut rules, _))| {
                // A Vec grows to four rules at its first push; most services
                // have one or two, and a big mesh keeps steps × services lists.
                rules.shrink_to_fit();
                ServiceRouting {
                    service: services[index].service.name.clone(),
                    tcp: services[index].service.protocol == Protocol::Tcp,
                    rules,
                }
            })
            .collect();
        Some(Step {
            name: name?,
            description: step.description.as_ref().map(|d| d.get_ref().clone()),
            routes,
            launch: version_refs(&step.launch),
            retire: version_refs(&step.retire),
        })
    }

    /// With `version_routing`, a rule's `uri` is ANDed with each URI of the
    /// gateway's routes to its service into one match: an error where Istio
    /// has none for both (see `ingress::uri_and`).
    fn gateway_uri_combines(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        service: &str,
        uri: &StringMatch,
        at: Range<usize>,
    ) {
        let routes = (gateway.routes.iter().enumerate()).filter(|(_, r)| r.service == service);
        for (i, route) in routes {
            let clash = (route.uris.iter())
                .find(|u| crate::ingress::uri_and(u, uri) == crate::ingress::UriAnd::Inexpressible);
            if let Some(other) = clash {
                let route = (checks.iter().find(|c| c.model == Some(i)))
                    .map_or("a gateway route".to_owned(), |c| {
                        format!("the gateway route on line {}", self.line(&c.span))
                    });
                self.error(
                    at,
                    format!(
                        "with gateway.version_routing, this rule's uri ({} {}) is ANDed with \
                         each uri of the gateway's routes to `{service}`, and Istio has no one \
                         uri match for it and {} {} ({route}): make one of them an exact path, \
                         or a prefix of the other",
                        uri.kind(),
                        uri.value(),
                        other.kind(),
                        other.value()
                    ),
                );
                return;
            }
        }
    }

    /// With `version_routing`, requests through the gateway that no rule of
    /// a step for `service` matches go on to the gateway's later routes (one
    /// VirtualService, first match wins), while inside the mesh they get 404:
    /// a warning, when a later route to another service may take them.
    fn gateway_fall_through(
        &mut self,
        gateway: &Gateway,
        checks: &[RouteCheck],
        service: &str,
        at: &Range<usize>,
    ) {
        let Some(first) = gateway.routes.iter().position(|r| r.service == service) else {
            return;
        };
        let Some(later) = (gateway.routes.iter().enumerate())
            .skip(first + 1)
            .find(|(_, r)| r.service != service)
        else {
            return;
        };
        let line = (checks.iter().find(|c| c.model == Some(later.0)))
            .map_or(String::new(), |c| format!(" (line {})", self.line(&c.span)));
        self.warning(
            at.clone(),
            format!(
                "with gateway.version_routing, requests entering through gateway `{}` that no \
                 rule of this step for `{service}` matches go on to the gateway's next routes, \
                 e.g. to `{}`{line}, where inside the mesh they get 404: end the step's rules \
                 for `{service}` with one without a match condition",
                gateway.name, later.1.service
            ),
        );
    }

    /// Builds one rule for one target service (a `*` rule is built once per service).
    fn rule(
        &mut self,
        raw: &RawRule,
        to: Option<&Spanned<RawTarget>>,
        service: &Service,
    ) -> Option<Rule> {
        let mut ok = true;
        if service.protocol == Protocol::Tcp {
            ok &= self.tcp_rule(raw, service);
        }
        let mut headers = Vec::new();
        if let Some(raw_headers) = &raw.headers {
            for (name, value) in &raw_headers.get_ref().0 {
                if !is_header_name(name.get_ref()) {
                    ok = false;
                    self.error(
                        name.span(),
                        format!(
                            "header name `{}` must be non-empty, lowercase and contain no \
                             spaces (Istio matches lowercase header names)",
                            name.get_ref()
                        ),
                    );
                    continue;
                }
                let matched = match value.get_ref() {
                    RawHeaderMatch::Exact(v) => Some(StringMatch::Exact(v.clone())),
                    RawHeaderMatch::Table(table) => {
                        self.string_match(table, value.span(), "header")
                    }
                };
                match matched {
                    Some(m) => headers.push((name.get_ref().clone(), m)),
                    None => ok = false,
                }
            }
            headers.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let uri = match &raw.uri {
            Some(u) => {
                let m = self.string_match(u.get_ref(), u.span(), "uri");
                ok &= m.is_some();
                m
            }
            None => None,
        };
        let method = match &raw.method {
            Some(m) if is_method(m.get_ref()) => Some(m.get_ref().clone()),
            Some(m) => {
                ok = false;
                self.error(
                    m.span(),
                    format!(
                        "method `{}` is not an HTTP method: write it in capitals, e.g. GET or POST",
                        m.get_ref()
                    ),
                );
                None
            }
            None => None,
        };
        let destinations = match to {
            Some(to) => self.destinations(to, service),
            None => None,
        };
        let delay = self.fault_part(&raw.delay, &raw.delay_percent, "delay", |c, d| {
            c.duration(d, "delay", true)
        });
        let abort = self.fault_part(&raw.abort, &raw.abort_percent, "abort", |c, a| {
            c.int_in(a, 200, 599, "abort (an HTTP status)")
                .and_then(|s| u16::try_from(s).ok())
        });
        let timeout = raw
            .timeout
            .as_ref()
            .map(|t| self.duration(t, "timeout", true));
        let retries = self.retries(raw);
        let mirror = self.mirror(raw, service, destinations.as_deref());
        let delay = delay?;
        let abort = abort?;
        let (Some(destinations), true) = (destinations, ok) else {
            return None;
        };
        Some(Rule {
            headers,
            uri,
            method,
            destinations,
            delay: delay.map(|(duration, percent)| Delay { duration, percent }),
            abort: abort.map(|(status, percent)| Abort { status, percent }),
            timeout: match timeout {
                Some(t) => Some(t?),
                None => None,
            },
            retries: retries?,
            mirror: mirror?,
        })
    }

    /// A rule for a TCP service may only choose destinations: Istio's TCP
    /// routes have no HTTP matches, faults, timeouts, retries or mirrors.
    fn tcp_rule(&mut self, raw: &RawRule, service: &Service) -> bool {
        let http_only = [
            ("headers", raw.headers.as_ref().map(Spanned::span)),
            ("uri", raw.uri.as_ref().map(Spanned::span)),
            ("method", raw.method.as_ref().map(Spanned::span)),
            ("delay", raw.delay.as_ref().map(Spanned::span)),
            ("abort", raw.abort.as_ref().map(Spanned::span)),
            ("timeout", raw.timeout.as_ref().map(Spanned::span)),
            ("retries", raw.retries.as_ref().map(Spanned::span)),
            ("mirror", raw.mirror.as_ref().map(Spanned::span)),
        ];
        let mut ok = true;
        for (key, span) in http_only {
            if let Some(span) = span {
                ok = false;
                self.error(
                    span,
                    format!(
                        "`{key}` needs HTTP, but service `{}` speaks tcp: a TCP route only \
                         chooses versions (`to`)",
                        service.name
                    ),
                );
            }
        }
        ok
    }

    /// `to`: the versions must exist; weights are 0..=100 and sum to 100.
    fn destinations(
        &mut self,
        to: &Spanned<RawTarget>,
        service: &Service,
    ) -> Option<Vec<Destination>> {
        match to.get_ref() {
            RawTarget::Version(version) => {
                self.known_version(version, &to.span(), service, "to")?;
                self.undeployed(version, &to.span(), service);
                Some(vec![Destination {
                    version: version.clone(),
                    weight: None,
                }])
            }
            RawTarget::Weights(weights) => {
                if weights.0.is_empty() {
                    self.error(to.span(), "`to` needs at least one version");
                    return None;
                }
                let mut destinations = Vec::new();
                let mut sum = 0;
                let mut ok = true;
                for (version, weight) in &weights.0 {
                    let known =
                        self.known_version(version.get_ref(), &version.span(), service, "to");
                    let w = self.int_in(weight, 0, 100, "a weight");
                    match (known, w) {
                        (Some(()), Some(w)) => {
                            sum += w;
                            if w > 0 {
                                self.undeployed(version.get_ref(), &version.span(), service);
                            }
                            destinations.push(Destination {
                                version: version.get_ref().clone(),
                                weight: u32::try_from(w).ok(),
                            });
                        }
                        _ => ok = false,
                    }
                }
                if ok && sum != 100 {
                    self.error(to.span(), format!("weights must sum to 100, not {sum}"));
                    return None;
                }
                if destinations.len() == 1 {
                    destinations[0].weight = None;
                }
                ok.then_some(destinations)
            }
        }
    }

    fn known_version(
        &mut self,
        version: &str,
        span: &Range<usize>,
        service: &Service,
        what: &str,
    ) -> Option<()> {
        if service.version(version).is_some() {
            Some(())
        } else if !self.pruned.versions_complete(&service.name) {
            // The version may be the one pruned: its shape error is reported.
            None
        } else {
            self.error(
                span.clone(),
                format!(
                    "{what}: service `{}` has no version `{version}` (it has {})",
                    service.name,
                    service
                        .versions
                        .iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            None
        }
    }

    /// A step's rules for a service that has pods, sending requests to
    /// versions without (`deploy = false`): when every request the rules
    /// take goes there, nothing can answer them, an error at the first
    /// rule's `to`; otherwise a warning at each such version, with the
    /// share of the rule's requests it gets. (A service with no deployed
    /// version at all may run elsewhere: `undeployed` warns about that.)
    fn without_pods(&mut self, service: &Service, rules: &[Sent]) {
        if !service.versions.iter().any(|v| v.deploy) {
            return;
        }
        let podless = |version: &str| service.version(version).is_some_and(|v| !v.deploy);
        let sending = |rule: &Sent| -> Vec<(String, u32, Range<usize>)> {
            rule.destinations
                .iter()
                .filter(|(_, weight, _)| *weight > 0)
                .cloned()
                .collect()
        };
        let everything_podless = rules
            .iter()
            .flat_map(sending)
            .all(|(version, _, _)| podless(&version));
        if everything_podless {
            let mut versions: Vec<String> = Vec::new();
            for (version, _, _) in rules.iter().flat_map(sending) {
                let quoted = format!("`{version}`");
                if !versions.contains(&quoted) {
                    versions.push(quoted);
                }
            }
            let deployed: Vec<&str> = service
                .versions
                .iter()
                .filter(|v| v.deploy)
                .map(|v| v.name.as_str())
                .collect();
            let (these, have) = if versions.len() == 1 {
                ("version", "has")
            } else {
                ("versions", "have")
            };
            if let Some(first) = rules.first() {
                self.diagnostics.push(
                    Diagnostic::error(
                        first.to.clone(),
                        format!(
                            "every request to `{}` goes to {these} {}, which {have} deploy = \
                             false: no pod can answer, and each request gets 503 (no healthy \
                             upstream)",
                            service.name,
                            versions.join(", ")
                        ),
                    )
                    .with_help(format!(
                        "route to a version with pods ({}), or give {} pods (remove \
                         deploy = false)",
                        deployed.join(", "),
                        versions.join(", ")
                    )),
                );
            }
            return;
        }
        for rule in rules {
            for (version, weight, span) in sending(rule) {
                if !podless(&version) {
                    continue;
                }
                let share = if weight >= 100 {
                    "the requests this rule takes go".to_owned()
                } else {
                    format!("{weight}% of the requests this rule takes go")
                };
                self.warning(
                    span,
                    format!(
                        "{share} to `{}` version `{version}`, which has deploy = false: no pod \
                         can answer them, and they get 503 (no healthy upstream)",
                        service.name
                    ),
                );
            }
        }
    }

    /// Warns when traffic goes to an undeployed version of a service with no deployed one.
    fn undeployed(&mut self, version: &str, span: &Range<usize>, service: &Service) {
        let target_undeployed = service.version(version).is_some_and(|v| !v.deploy);
        if target_undeployed && service.versions.iter().all(|v| !v.deploy) {
            self.warning(
                span.clone(),
                format!(
                    "traffic is sent to `{}` version `{version}`, which has deploy = false, and \
                     the service has no deployed version: unless its workloads run elsewhere \
                     (e.g. on VMs), requests get 503 no healthy upstream",
                    service.name
                ),
            );
        }
    }

    /// A fault part (delay or abort) and its percent. `None` on error;
    /// `Some(None)` when not set.
    fn fault_part<T, V>(
        &mut self,
        value: &Option<Spanned<V>>,
        percent: &Option<Spanned<f64>>,
        what: &str,
        check: impl FnOnce(&mut Self, &Spanned<V>) -> Option<T>,
    ) -> Option<Option<(T, f64)>> {
        match (value, percent) {
            (None, None) => Some(None),
            (None, Some(p)) => {
                self.error(p.span(), format!("{what}_percent is set without {what}"));
                None
            }
            (Some(v), p) => {
                let checked = check(self, v);
                let percent = match p {
                    Some(p) => self.percent(p, &format!("{what}_percent")),
                    None => Some(100.0),
                };
                Some(Some((checked?, percent?)))
            }
        }
    }

    fn retries(&mut self, raw: &RawRule) -> Option<Option<Retries>> {
        let Some(attempts) = &raw.retries else {
            for (set, key) in [
                (
                    raw.per_try_timeout.as_ref().map(Spanned::span),
                    "per_try_timeout",
                ),
                (raw.retry_on.as_ref().map(Spanned::span), "retry_on"),
            ] {
                if let Some(span) = set {
                    self.error(span, format!("{key} is set without retries"));
                    return None;
                }
            }
            return Some(None);
        };
        let attempts = self
            .int_in(attempts, 0, 100, "retries")
            .and_then(|a| u32::try_from(a).ok());
        let per_try_timeout = match &raw.per_try_timeout {
            Some(t) => Some(self.duration(t, "per_try_timeout", true)?),
            None => None,
        };
        let retry_on = match &raw.retry_on {
            Some(r) => {
                let bad: Vec<&str> = r
                    .get_ref()
                    .split(',')
                    .filter(|c| {
                        !(RETRY_CONDITIONS.contains(c)
                            || c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect();
                if !bad.is_empty() {
                    self.error(
                        r.span(),
                        format!(
                            "retry_on: `{}` is not a retry condition: use a comma-separated list \
                             of {} or HTTP status codes",
                            bad.join(","),
                            RETRY_CONDITIONS.join(", ")
                        ),
                    );
                    return None;
                }
                Some(r.get_ref().clone())
            }
            None => None,
        };
        Some(Some(Retries {
            attempts: attempts?,
            per_try_timeout,
            retry_on,
        }))
    }

    fn mirror(
        &mut self,
        raw: &RawRule,
        service: &Service,
        destinations: Option<&[Destination]>,
    ) -> Option<Option<Mirror>> {
        let Some(version) = &raw.mirror else {
            if let Some(p) = &raw.mirror_percent {
                self.error(p.span(), "mirror_percent is set without mirror");
                return None;
            }
            return Some(None);
        };
        self.known_version(version.get_ref(), &version.span(), service, "mirror")?;
        if let Some([only]) = destinations
            && &only.version == version.get_ref()
        {
            self.warning(
                version.span(),
                format!(
                    "the rule mirrors `{}` to `{}`, the subset it already routes to: every \
                     mirrored request hits the same pods twice",
                    service.name,
                    version.get_ref()
                ),
            );
        }
        let percent = match &raw.mirror_percent {
            Some(p) => Some(self.percent(p, "mirror_percent")?),
            None => None,
        };
        Some(Some(Mirror {
            version: version.get_ref().clone(),
            percent,
        }))
    }
}

/// An HTTP method as Istio matches it exactly: an upper-case token.
/// The versions a step's `launch` or `retire` names, as written; the
/// releases pass (`releases.rs`) checks them.
fn version_refs(raw: &Option<Spanned<Vec<Spanned<RawVersionRef>>>>) -> Vec<VersionRef> {
    let entries = raw.as_ref().map_or(&[][..], |l| l.get_ref().as_slice());
    entries
        .iter()
        .filter_map(|entry| {
            let entry = entry.get_ref();
            Some(VersionRef {
                service: entry.service.as_ref()?.get_ref().clone(),
                version: entry.version.as_ref()?.get_ref().clone(),
            })
        })
        .collect()
}

fn is_method(method: &str) -> bool {
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase())
}

/// Replaces the registry part of an image (everything before the last `/`);
/// an image without `/` gets the registry prefixed.
pub fn rewrite_image(image: &str, registry: &str) -> String {
    match image.rfind('/') {
        Some(i) => format!("{registry}{}", &image[i..]),
        None => format!("{registry}/{image}"),
    }
}

/// A rule's `to` as written, with each destination's weight (100 for a
/// lone version) and the span of its version, for `without_pods`.
struct Sent {
    to: Range<usize>,
    destinations: Vec<(String, u32, Range<usize>)>,
}

impl Sent {
    fn of(to: &Spanned<RawTarget>, built: &Rule) -> Self {
        let spans: Vec<Range<usize>> = match to.get_ref() {
            RawTarget::Version(_) => vec![to.span()],
            RawTarget::Weights(weights) => weights.0.iter().map(|(v, _)| v.span()).collect(),
        };
        Self {
            to: to.span(),
            destinations: built
                .destinations
                .iter()
                .zip(spans)
                .map(|(d, span)| (d.version.clone(), d.weight.unwrap_or(100), span))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_image;

    #[test]
    fn registry_replaces_everything_before_the_last_slash() {
        let cases = [
            (
                "docker.io/istio/examples-bookinfo-reviews-v1:1.15.0",
                "registry.istio.io/release",
                "registry.istio.io/release/examples-bookinfo-reviews-v1:1.15.0",
            ),
            ("nginx:1.25", "mirror.local", "mirror.local/nginx:1.25"),
            (
                "localhost:5000/team/app@sha256:abc",
                "r.io/x",
                "r.io/x/app@sha256:abc",
            ),
        ];
        for (image, registry, expected) in cases {
            assert_eq!(rewrite_image(image, registry), expected);
        }
    }
}
