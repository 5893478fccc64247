//! The validated scenario: every default applied, every reference resolved,
//! no spans. Everything after validation (render, bundle, plan, explain) reads
//! only this. Owns no parsing and no output. A large mesh's model holds
//! millions of names: they are `CompactString`s (inline up to 24 bytes), and
//! the services a step routes alike share one list of rules.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Serialize, Serializer};

use crate::istio::{self, Facts, GatewayApiCrds, NetworkingApi, Release};

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// DNS-1123 label; names the output folder.
    pub name: String,
    /// Free text for the plan.
    pub description: Option<String>,
    /// The Istio install.
    pub mesh: Mesh,
    /// The application's namespace.
    pub namespace: Namespace,
    /// Services in file order.
    pub services: Vec<Service>,
    /// Who owns the ServiceAccounts, Services and Deployments.
    pub workloads: WorkloadMode,
    /// The ingress gateway, when the scenario declares one.
    pub gateway: Option<Gateway>,
    /// Mutual TLS and authorization (`[security]`).
    pub security: Security,
    /// Traffic steps in file order.
    pub steps: Vec<Step>,
    /// Position of each service in `services`, by name.
    pub service_positions: HashMap<CompactString, usize>,
}

impl Scenario {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.service_positions
            .get(name)
            .and_then(|&i| self.services.get(i))
    }

    /// The position of each service in `services`, by name.
    pub fn positions(services: &[Service]) -> HashMap<CompactString, usize> {
        services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect()
    }

    /// Whether some step launches or retires a version: the output then has
    /// the phases, rollbacks and whole-state folders of a release.
    pub fn has_releases(&self) -> bool {
        self.steps
            .iter()
            .any(|s| !s.launch.is_empty() || !s.retire.is_empty())
    }

    /// Whether meshgen emits the workloads (ServiceAccounts, Services,
    /// Deployments); not with `workloads = "existing"`.
    pub fn emits_workloads(&self) -> bool {
        self.workloads == WorkloadMode::Emit
    }

    /// Whether the routing is written in the Kubernetes Gateway API.
    pub fn gateway_api(&self) -> bool {
        self.mesh.routing_api == RoutingApi::GatewayApi
    }

    /// Whether the mesh runs in ambient mode (ztunnel and a waypoint).
    pub fn ambient(&self) -> bool {
        self.mesh.dataplane == Dataplane::Ambient
    }

    /// The Gateway API CRDs the scenario needs, with the Gateway API or in
    /// ambient mode (the waypoint is a Gateway): the experimental channel
    /// when an HTTPRoute retries (`retry` is experimental), else standard.
    pub fn gateway_api_crds(&self) -> Option<GatewayApiCrds> {
        if !(self.gateway_api() || self.ambient()) {
            return None;
        }
        let retries = self.gateway_api()
            && (self.steps.iter())
                .flat_map(|s| &s.routes)
                .filter(|r| !r.injects_fault())
                .flat_map(|r| r.rules.iter())
                .any(|r| r.retries.is_some());
        Some(GatewayApiCrds {
            release: istio::gateway_api_release(self.mesh.release)?,
            channel: if retries { "experimental" } else { "standard" },
        })
    }

    /// Whether a step may change the gateway's VirtualService
    /// (`[gateway] version_routing = true`).
    pub fn gateway_routes_versions(&self) -> bool {
        self.gateway.as_ref().is_some_and(|g| g.version_routing)
    }

    /// Every moment of the timeline, in order: before the steps, then during
    /// and after each step.
    pub fn moments(&self) -> impl Iterator<Item = Moment> {
        std::iter::once(Moment::BeforeSteps)
            .chain((0..self.steps.len()).flat_map(|k| [Moment::During(k), Moment::After(k)]))
    }

    /// The routing state after step `step` (0-based): the fold of steps
    /// `0..=step`, each service's routing taken from the last of them that
    /// names it. A service no step names yet has no entry (no VirtualService).
    pub fn routing_state(&self, step: usize) -> BTreeMap<&str, &ServiceRouting> {
        let mut state = BTreeMap::new();
        for s in self.steps.iter().take(step.saturating_add(1)) {
            for routing in &s.routes {
                state.insert(routing.service.as_str(), routing);
            }
        }
        state
    }
}

/// Who owns the application's workloads (top-level `workloads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkloadMode {
    /// `emit` (the default): meshgen emits ServiceAccounts, Services and Deployments.
    #[default]
    Emit,
    /// `existing`: the application's own manifests own them; meshgen emits
    /// only the namespace, the gateway, DestinationRules and routing.
    Existing,
}

/// The Istio install (`IstioOperator`).
#[derive(Debug, Clone)]
pub struct Mesh {
    /// The targeted release.
    pub release: Release,
    /// What meshgen knows of that release.
    pub facts: &'static Facts,
    /// Installation profile.
    pub profile: String,
    /// Registry of Istio's own images, when set.
    pub hub: Option<String>,
    /// Istio image tag: the scenario's, or the release when it has a patch number.
    pub tag: Option<String>,
    /// Control-plane revision.
    pub revision: Option<String>,
    /// networking.istio.io version emitted.
    pub networking_api: NetworkingApi,
    /// The API the routing is written in.
    pub routing_api: RoutingApi,
    /// Sidecars or ambient.
    pub dataplane: Dataplane,
    /// How the mesh is installed.
    pub install: Install,
    /// Override of the profile's ingress gateway switch.
    pub ingress_gateway: Option<bool>,
    /// Override of the profile's egress gateway switch.
    pub egress_gateway: Option<bool>,
    /// MeshConfig `accessLogFile`.
    pub access_log_file: Option<String>,
    /// MeshConfig `outboundTrafficPolicy.mode`.
    pub outbound_traffic_policy: Option<String>,
}

/// The API a scenario's routing is written in (`mesh.routing_api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RoutingApi {
    /// `istio`: Gateway, VirtualService, DestinationRule subsets.
    #[serde(rename = "istio")]
    Istio,
    /// `gateway-api`: the Kubernetes Gateway API (Gateway, HTTPRoute) and
    /// a Service per version.
    #[serde(rename = "gateway-api")]
    GatewayApi,
}

impl RoutingApi {
    /// The value as a scenario writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Istio => "istio",
            Self::GatewayApi => "gateway-api",
        }
    }
}

/// How the mesh is installed (`mesh.install`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Install {
    /// `istioctl`: the IstioOperator, installed by `istioctl install -f`.
    #[serde(rename = "istioctl")]
    Istioctl,
    /// `operator`: the IstioOperator, applied with `kubectl apply -f` for
    /// the in-cluster operator to reconcile.
    #[serde(rename = "operator")]
    Operator,
    /// `helm`: Istio's Helm charts, with values files and GitOps manifests.
    #[serde(rename = "helm")]
    Helm,
}

/// Where the mesh runs its proxies (`mesh.dataplane`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dataplane {
    /// `sidecar`: an Envoy injected into every pod.
    #[serde(rename = "sidecar")]
    Sidecar,
    /// `ambient`: ztunnel on every node, L4; a waypoint for L7.
    #[serde(rename = "ambient")]
    Ambient,
}

/// `[security]`: what the scenario asks of the mesh's security.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Security {
    /// The namespace's PeerAuthentication mode, when set.
    pub mtls: Option<Mtls>,
    /// Whether `authorization = "calls"`: AuthorizationPolicies allow
    /// exactly the declared calls.
    pub authorization: bool,
}

impl Security {
    /// Whether the scenario emits any security resource.
    pub fn is_set(self) -> bool {
        self.mtls.is_some() || self.authorization
    }
}

/// `[security] mtls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mtls {
    /// Only mutual TLS is accepted.
    Strict,
    /// Mutual TLS and plain text are accepted.
    Permissive,
}

impl Mtls {
    /// The PeerAuthentication's `mtls.mode`.
    pub fn mode(self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::Permissive => "PERMISSIVE",
        }
    }
}

/// The name of the HTTPRoute that redirects to HTTPS the plain listener of
/// a Gateway API gateway whose HTTPRoute is `virtual_service`.
pub fn redirect_route(virtual_service: &str) -> String {
    format!("{virtual_service}-redirect")
}

/// The name of the Service the Gateway API routes `version` of `service`
/// through (`reviews-v1`).
pub fn version_service(service: &str, version: &str) -> String {
    format!("{service}-{version}")
}

/// The name of the waypoint meshgen emits in ambient mode, and the value of
/// the namespace's `istio.io/use-waypoint` label.
pub const WAYPOINT_NAME: &str = "waypoint";

/// The application's namespace.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// DNS-1123 label.
    pub name: String,
    /// Every label of the Namespace, the injection label included.
    pub labels: BTreeMap<String, String>,
}

/// Protocol of a service's port; names the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2.
    Http2,
    /// gRPC.
    Grpc,
    /// Opaque TCP.
    Tcp,
}

impl Protocol {
    /// Every protocol, as a scenario names it.
    pub const ALL: [(&'static str, Self); 4] = [
        ("http", Self::Http),
        ("http2", Self::Http2),
        ("grpc", Self::Grpc),
        ("tcp", Self::Tcp),
    ];

    /// The port name (`http`, `http2`, `grpc`, `tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Http2 => "http2",
            Self::Grpc => "grpc",
            Self::Tcp => "tcp",
        }
    }
}

/// One Kubernetes Service and its versions.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// RFC 1035 label: the Service name and routing host.
    pub name: CompactString,
    /// The Service and container port.
    pub port: u16,
    /// The port's protocol.
    pub protocol: Protocol,
    /// ServiceAccount created for the pods, when set.
    pub service_account: Option<CompactString>,
    /// Versions in file order.
    pub versions: Vec<Version>,
    /// The DestinationRule's traffic policy (global merged with the service's).
    pub traffic_policy: TrafficPolicy,
    /// Positions in `versions`, in the order of the versions' names
    /// (`Service::by_name`): a version is found by a binary search.
    #[serde(skip)]
    pub version_order: Vec<usize>,
}

impl Service {
    /// The version called `name`.
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions.get(self.position(name)?)
    }

    /// The position in `versions` of the version called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        // A few versions, the usual case, are read faster in order.
        if self.versions.len() <= 8 {
            return self.versions.iter().position(|v| v.name == name);
        }
        let at = (self.version_order)
            .binary_search_by(|&i| {
                (self.versions.get(i)).map_or(Ordering::Greater, |v| v.name.as_str().cmp(name))
            })
            .ok()?;
        self.version_order.get(at).copied()
    }

    /// The positions of `versions` in the order of their names (the first
    /// of two of the same name only).
    pub fn by_name(versions: &[Version]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..versions.len()).collect();
        order.sort_by(|&a, &b| versions[a].name.cmp(&versions[b].name).then(a.cmp(&b)));
        order.dedup_by(|b, a| versions[*a].name == versions[*b].name);
        order
    }

    /// The versions running `at` that moment, in file order: the subsets of
    /// its DestinationRule.
    pub fn running(&self, at: Moment) -> impl Iterator<Item = &Version> + Clone {
        self.versions.iter().filter(move |v| v.lifetime.runs(at))
    }

    /// Whether any version runs `at` that moment: only then does the service
    /// have its Service, ServiceAccount and DestinationRule.
    pub fn exists(&self, at: Moment) -> bool {
        self.running(at).next().is_some()
    }
}

/// One version of a service: a DestinationRule subset and usually a Deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// DNS-1123 label; the subset name and `version` label.
    pub name: CompactString,
    /// Container image, after `images.registry`; `None` only when not deployed.
    pub image: Option<CompactString>,
    /// Deployment replicas.
    pub replicas: u32,
    /// Container environment, sorted by name.
    pub env: Vec<(CompactString, CompactString)>,
    /// What this version calls (its own list, or the service's).
    pub calls: Vec<Call>,
    /// Whether the version has pods: a Deployment meshgen emits or, with
    /// `workloads = "existing"`, the application's own (always).
    pub deploy: bool,
    /// The pod labels its DestinationRule subset selects, sorted by key:
    /// `version: <name>` unless the scenario sets `labels`. Shared by the
    /// versions with the same labels (a large mesh's have a few names).
    pub labels: Arc<[(CompactString, CompactString)]>,
    /// The steps that launch and retire it.
    #[serde(skip)]
    pub lifetime: Lifetime,
}

impl Version {
    /// A version of workloads the application owns (`workloads =
    /// "existing"`), whose pods carry `labels`: its pods run, meshgen
    /// deploys nothing.
    pub fn existing(name: CompactString, labels: Arc<[(CompactString, CompactString)]>) -> Self {
        Self {
            labels,
            name,
            image: None,
            replicas: 1,
            env: Vec::new(),
            calls: Vec::new(),
            deploy: true,
            lifetime: Lifetime::default(),
        }
    }

    /// Whether pods of this version run `at` that moment: it is deployed
    /// and running.
    pub fn has_pods(&self, at: Moment) -> bool {
        self.deploy && self.lifetime.runs(at)
    }
}

/// When a version runs: from before the first step or from the step that
/// launches it, up to the routing of the step that retires it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The step (0-based) that launches it; `None`: it runs before the first step.
    pub launch: Option<usize>,
    /// The step (0-based) that retires it; `None`: it is never retired.
    pub retire: Option<usize>,
}

impl Lifetime {
    /// Whether the version runs `at` that moment.
    pub fn runs(self, at: Moment) -> bool {
        match at {
            Moment::BeforeSteps => self.launch.is_none(),
            Moment::During(k) => {
                self.launch.is_none_or(|l| l <= k) && self.retire.is_none_or(|r| r >= k)
            }
            Moment::After(k) => {
                self.launch.is_none_or(|l| l <= k) && self.retire.is_none_or(|r| r > k)
            }
        }
    }
}

/// A moment of a scenario's timeline, for what runs then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Before the first step: the state of the ordered bundles.
    BeforeSteps,
    /// While step k (0-based) routes: what it launches runs already, what it
    /// retires still runs.
    During(usize),
    /// After step k (0-based): what it retires is gone.
    After(usize),
}

impl Moment {
    /// The moment before step k: after the previous step, or before the first.
    pub fn before(k: usize) -> Self {
        k.checked_sub(1).map_or(Self::BeforeSteps, Self::After)
    }
}

/// A call a version makes to another service, as its own code does it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// The called service.
    pub service: CompactString,
    /// The client-side timeout per attempt, when the code sets one.
    pub timeout: Option<Duration>,
    /// How many times the client tries (1 = no retry).
    pub attempts: u32,
}

/// DestinationRule `trafficPolicy` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrafficPolicy {
    /// `tls.mode`.
    pub tls: Option<CompactString>,
    /// `loadBalancer.simple`.
    pub load_balancer: Option<CompactString>,
    /// `connectionPool.tcp.maxConnections`.
    pub max_connections: Option<u32>,
    /// `outlierDetection.consecutive5xxErrors`.
    pub consecutive_errors: Option<u32>,
    /// `outlierDetection.baseEjectionTime`.
    pub ejection_time: Option<Duration>,
}

impl TrafficPolicy {
    /// Whether no field is set (no `trafficPolicy` is emitted).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `self`, with every field `self` leaves unset taken from `fallback`.
    pub fn or(self, fallback: &Self) -> Self {
        Self {
            tls: self.tls.or_else(|| fallback.tls.clone()),
            load_balancer: self
                .load_balancer
                .or_else(|| fallback.load_balancer.clone()),
            max_connections: self.max_connections.or(fallback.max_connections),
            consecutive_errors: self.consecutive_errors.or(fallback.consecutive_errors),
            ejection_time: self
                .ejection_time
                .or_else(|| fallback.ejection_time.clone()),
        }
    }
}

/// The ingress Gateway and its VirtualService.
#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    /// Gateway name.
    pub name: String,
    /// Name of the gateway's VirtualService.
    pub virtual_service: String,
    /// Gateway `selector`, sorted by key.
    pub selector: Vec<(String, String)>,
    /// The server port.
    pub port: u16,
    /// Server hosts, also the VirtualService's hosts.
    pub hosts: Vec<String>,
    /// Routes to services, in file order.
    pub routes: Vec<GatewayRoute>,
    /// Whether the scenario gave a `selector` (its own gateway): otherwise
    /// the default selector picks Istio's ingress gateway in `istio-system`.
    pub custom_selector: bool,
    /// Whether each step's routing of the services it exposes applies to
    /// the traffic entering through it (`version_routing`).
    pub version_routing: bool,
    /// The HTTPS server, when set.
    pub tls: Option<GatewayTls>,
}

impl Gateway {
    /// Whether a route of the gateway sends requests to `service`.
    pub fn exposes(&self, service: &str) -> bool {
        self.routes.iter().any(|r| r.service == service)
    }

    /// With the Gateway API, TLS and `redirect_http`: the name of the
    /// HTTPRoute that redirects the plain HTTP listener to HTTPS.
    pub fn redirect_route(&self) -> String {
        redirect_route(&self.virtual_service)
    }

    /// Whether the gateway has a plain HTTP server: without TLS, or with
    /// TLS and `redirect_http` (the server then only redirects).
    pub fn serves_http(&self) -> bool {
        self.tls.as_ref().is_none_or(|t| t.redirect_http)
    }
}

/// `[gateway] tls`: an HTTPS server on port 443.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayTls {
    /// The Kubernetes Secret holding the certificate (`credentialName`).
    pub credential_name: String,
    /// Whether the plain HTTP port answers with a redirect to HTTPS.
    pub redirect_http: bool,
}

/// The port of the gateway's HTTPS server.
pub const HTTPS_PORT: u16 = 443;

/// One gateway route: URIs sent to a service's port, without a subset.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayRoute {
    /// Destination service.
    pub service: CompactString,
    /// That service's port.
    pub port: u16,
    /// URI matches (ORed); empty means every request.
    pub uris: Vec<StringMatch>,
}

/// An Istio `StringMatch`; serialized as `{kind, value}` for the templates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StringMatch {
    /// Exact value.
    Exact(CompactString),
    /// Prefix.
    Prefix(CompactString),
    /// RE2 regular expression.
    Regex(CompactString),
}

impl StringMatch {
    /// `exact`, `prefix` or `regex`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Exact(_) => "exact",
            Self::Prefix(_) => "prefix",
            Self::Regex(_) => "regex",
        }
    }

    /// The value matched against.
    pub fn value(&self) -> &str {
        match self {
            Self::Exact(v) | Self::Prefix(v) | Self::Regex(v) => v,
        }
    }
}

impl Serialize for StringMatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("StringMatch", 2)?;
        out.serialize_field("kind", self.kind())?;
        out.serialize_field("value", self.value())?;
        out.end()
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(v) => write!(f, "{v}"),
            Self::Prefix(v) => write!(f, "{v}*"),
            Self::Regex(v) => write!(f, "~/{v}/"),
        }
    }
}

/// A Go/Istio duration as written (`500ms`, `7s`, `1m30s`), with its length.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    /// The text from the scenario, emitted as is.
    pub text: CompactString,
    /// Length in nanoseconds.
    pub nanos: u128,
}

impl Duration {
    /// The duration in the Gateway API's format (`1h30m`, `2500ms`: up to
    /// four parts of at most five digits, units h, m, s, ms), or `None`
    /// when it has no such form (finer than a millisecond, or too long).
    pub fn gateway_api(&self) -> Option<String> {
        const MS: u128 = 1_000_000;
        if !self.nanos.is_multiple_of(MS) {
            return None;
        }
        let ms = self.nanos / MS;
        let parts = [
            (ms / 3_600_000, "h"),
            (ms / 60_000 % 60, "m"),
            (ms / 1_000 % 60, "s"),
            (ms % 1_000, "ms"),
        ];
        if parts[0].0 > 99_999 {
            return None;
        }
        let text: String = (parts.iter())
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| format!("{n}{unit}"))
            .collect();
        Some(if text.is_empty() {
            "0s".to_owned()
        } else {
            text
        })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a Go duration (`500ms`, `7s`, `1m30s`, `2.5s`) into nanoseconds.
/// No sign, at least one number-unit pair; units ns, us, µs, ms, s, m, h.
pub fn parse_duration(text: &str) -> Option<u128> {
    const UNITS: [(&str, u128); 7] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(tail) => {
                let len = tail.bytes().take_while(u8::is_ascii_digit).count();
                tail.split_at(len)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        // Longest unit first, so "ms" is not read as "m" followed by "s".
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| after.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(*scale)?;
        let mut place = *scale;
        for digit in frac_part.bytes().take(18) {
            place /= 10;
            value = value.checked_add(u128::from(digit - b'0') * place)?;
        }
        total = total.checked_add(value)?;
        rest = &after[unit.len()..];
    }
    Some(total)
}

/// One traffic step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// DNS-1123 label; names the step's files.
    pub name: String,
    /// Free text for the plan.
    pub description: Option<String>,
    /// The new routing of each service the step names, in service order.
    pub routes: Vec<ServiceRouting>,
    /// The versions the step launches, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub launch: Vec<VersionRef>,
    /// The versions the step retires, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retire: Vec<VersionRef>,
}

/// A version of a service, as `launch` and `retire` name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRef {
    /// The service.
    pub service: CompactString,
    /// Its version.
    pub version: CompactString,
}

/// The whole routing of one service: its VirtualService's ordered rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRouting {
    /// The routed service.
    pub service: CompactString,
    /// Whether the service speaks TCP: its rules become `tcp` routes, which
    /// carry only destinations.
    pub tcp: bool,
    /// Rules in order; the first that matches wins. Shared by every
    /// routing with the same rules (services a step routes alike).
    pub rules: Arc<[Rule]>,
}

/// One HTTP route rule. Its lists are boxed slices, and the parts most
/// rules do without are boxed: a large scenario holds tens of thousands of
/// rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Header conditions, sorted by header name.
    pub headers: Box<[(CompactString, StringMatch)]>,
    /// URI condition.
    pub uri: Option<Box<StringMatch>>,
    /// Exact HTTP method.
    pub method: Option<Box<str>>,
    /// Destinations; weights only for splits.
    pub destinations: Box<[Destination]>,
    /// Injected delay.
    pub delay: Option<Box<Delay>>,
    /// Injected abort.
    pub abort: Option<Box<Abort>>,
    /// Route timeout.
    pub timeout: Option<Box<Duration>>,
    /// Route retries.
    pub retries: Option<Box<Retries>>,
    /// Mirrored subset.
    pub mirror: Option<Box<Mirror>>,
}

impl ServiceRouting {
    /// Whether a rule injects a fault (a delay or an abort), which the
    /// Gateway API cannot express: with it, the routing is a VirtualService.
    pub fn injects_fault(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.delay.is_some() || r.abort.is_some())
    }
}

impl Rule {
    /// Whether the rule has no match condition and so catches every request.
    pub fn is_catch_all(&self) -> bool {
        self.headers.is_empty() && self.uri.is_none() && self.method.is_none()
    }
}

/// A route destination: a subset, and its weight in a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The subset (version).
    pub version: CompactString,
    /// Weight in percent, only when the rule splits traffic.
    pub weight: Option<u32>,
}

/// `fault.delay`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delay {
    /// `fixedDelay`.
    pub duration: Duration,
    /// `percentage.value`.
    pub percent: f64,
}

/// `fault.abort`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abort {
    /// `httpStatus`.
    pub status: u16,
    /// `percentage.value`.
    pub percent: f64,
}

/// `retries`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retries {
    /// `attempts`.
    pub attempts: u32,
    /// `perTryTimeout`.
    pub per_try_timeout: Option<Duration>,
    /// `retryOn`.
    pub retry_on: Option<CompactString>,
}

/// `mirror` and `mirrorPercentage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mirror {
    /// Mirrored subset.
    pub version: CompactString,
    /// `mirrorPercentage.value`, when set.
    pub percent: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service with versions named `names`, in that order.
    fn service_with(names: &[&str]) -> Service {
        let versions: Vec<Version> = (names.iter())
            .map(|n| Version::existing((*n).into(), Arc::new([("version".into(), (*n).into())])))
            .collect();
        Service {
            name: "s".into(),
            port: 80,
            protocol: Protocol::Http,
            service_account: None,
            version_order: Service::by_name(&versions),
            versions,
            traffic_policy: TrafficPolicy::default(),
        }
    }

    #[test]
    fn a_version_is_found_at_its_first_position_among_few_or_many() {
        let few = ["v2", "v1", "v2"];
        let many: Vec<String> = (0..40).rev().map(|i| format!("v{i}")).collect();
        let mut many: Vec<&str> = many.iter().map(String::as_str).collect();
        many.push("v7");
        for names in [&few[..], &many[..]] {
            let service = service_with(names);
            for (i, name) in names.iter().enumerate() {
                let first = names.iter().position(|n| n == name);
                assert_eq!(
                    service.position(name),
                    first,
                    "{name} at {i} of {}",
                    names.len()
                );
            }
            assert_eq!(service.position("v99"), None);
        }
    }

    #[test]
    fn durations_in_the_gateway_api_format() {
        let cases = [
            ("7s", Some("7s")),
            ("2.5s", Some("2s500ms")),
            ("1m30s", Some("1m30s")),
            ("90s", Some("1m30s")),
            ("0s", Some("0s")),
            ("36h", Some("36h")),
            ("500ms", Some("500ms")),
            ("1.5ms", None),
            ("10us", None),
            ("100000h", None),
        ];
        for (text, expected) in cases {
            let duration = Duration {
                text: text.into(),
                nanos: parse_duration(text).expect("a Go duration"),
            };
            assert_eq!(duration.gateway_api().as_deref(), expected, "{text}");
        }
    }

    #[test]
    fn go_durations() {
        let cases = [
            ("7s", Some(7_000_000_000)),
            ("500ms", Some(500_000_000)),
            ("2.5s", Some(2_500_000_000)),
            ("1m30s", Some(90_000_000_000)),
            ("1h", Some(3_600_000_000_000)),
            ("10us", Some(10_000)),
            ("10µs", Some(10_000)),
            (".5s", Some(500_000_000)),
            ("0s", Some(0)),
            ("7", None),
            ("-1s", None),
            ("7 s", None),
            ("s", None),
            ("1d", None),
            ("", None),
            ("1.s", Some(1_000_000_000)),
            ("99999999999999999999999999999999999999999h", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), expected, "{text}");
        }
    }
}
