//! Raw scenario types: the TOML file as written, with the span of every value a
//! rule may blame. Required keys are `Option`s here so that validation can
//! report every missing key at once; nothing is checked or defaulted here.
//! Strings are `CompactString`s: a large file holds hundreds of thousands of
//! names and references, nearly all short enough to be held inline.

use std::fmt;
use std::marker::PhantomData;

use compact_str::CompactString;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// A table with user-chosen keys (labels, env, versions, weights), in file order.
#[derive(Debug, Clone)]
pub struct RawMap<V>(pub Vec<(Spanned<CompactString>, V)>);

impl<V> Default for RawMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for RawMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = RawMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                // A Vec grows to four entries at its first push; most maps
                // have one or two, and a big file has tens of thousands.
                entries.shrink_to_fit();
                Ok(RawMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// The whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<Spanned<CompactString>>,
    pub description: Option<Spanned<CompactString>>,
    pub workloads: Option<Spanned<CompactString>>,
    pub mesh: Option<Spanned<RawMesh>>,
    pub namespace: Option<Spanned<RawNamespace>>,
    pub images: Option<Spanned<RawImages>>,
    pub services: Option<Spanned<Vec<Spanned<RawService>>>>,
    pub gateway: Option<Spanned<RawGateway>>,
    pub traffic_policy: Option<Spanned<RawTrafficPolicy>>,
    pub security: Option<Spanned<RawSecurity>>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

/// `[security]`: mutual TLS and authorization from the call graph.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    pub mtls: Option<Spanned<CompactString>>,
    pub authorization: Option<Spanned<CompactString>>,
}

/// `[mesh]`: the Istio install.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMesh {
    pub version: Option<Spanned<CompactString>>,
    pub profile: Option<Spanned<CompactString>>,
    pub hub: Option<Spanned<CompactString>>,
    pub tag: Option<Spanned<CompactString>>,
    pub revision: Option<Spanned<CompactString>>,
    pub networking_api: Option<Spanned<CompactString>>,
    pub routing_api: Option<Spanned<CompactString>>,
    pub dataplane: Option<Spanned<CompactString>>,
    pub install: Option<Spanned<CompactString>>,
    pub components: Option<Spanned<RawComponents>>,
    pub config: Option<Spanned<RawMeshConfig>>,
}

/// `[mesh.components]`: overrides of the profile's switches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponents {
    pub ingress_gateway: Option<Spanned<bool>>,
    pub egress_gateway: Option<Spanned<bool>>,
}

/// `[mesh.config]`: a subset of MeshConfig.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeshConfig {
    pub access_log_file: Option<Spanned<CompactString>>,
    pub outbound_traffic_policy: Option<Spanned<CompactString>>,
}

/// `[namespace]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespace {
    pub name: Option<Spanned<CompactString>>,
    pub injection: Option<Spanned<bool>>,
    pub labels: Option<Spanned<RawMap<Spanned<CompactString>>>>,
}

/// `[images]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImages {
    pub registry: Option<Spanned<CompactString>>,
}

/// One `[[services]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Option<Spanned<CompactString>>,
    pub port: Option<Spanned<i64>>,
    pub protocol: Option<Spanned<CompactString>>,
    pub service_account: Option<Spanned<CompactString>>,
    pub calls: Option<Spanned<Vec<Spanned<RawCall>>>>,
    pub versions: Option<Spanned<RawMap<Spanned<RawVersion>>>>,
    /// Boxed: few services have one, and it is the largest field.
    pub traffic_policy: Option<Box<Spanned<RawTrafficPolicy>>>,
}

/// A call a service (or one version) makes, with its own client timeout and attempts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub service: Option<Spanned<CompactString>>,
    pub timeout: Option<Spanned<CompactString>>,
    pub attempts: Option<Spanned<i64>>,
}

/// One `[services.versions.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersion {
    pub image: Option<Spanned<CompactString>>,
    pub replicas: Option<Spanned<i64>>,
    pub env: Option<Spanned<RawMap<Spanned<CompactString>>>>,
    pub calls: Option<Spanned<Vec<Spanned<RawCall>>>>,
    pub deploy: Option<Spanned<bool>>,
    pub labels: Option<Spanned<RawMap<Spanned<CompactString>>>>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub name: Option<Spanned<CompactString>>,
    pub virtual_service: Option<Spanned<CompactString>>,
    pub selector: Option<Spanned<RawMap<Spanned<CompactString>>>>,
    pub port: Option<Spanned<i64>>,
    pub hosts: Option<Spanned<Vec<Spanned<CompactString>>>>,
    pub version_routing: Option<Spanned<bool>>,
    pub tls: Option<Spanned<RawGatewayTls>>,
    pub routes: Option<Spanned<Vec<Spanned<RawGatewayRoute>>>>,
}

/// `[gateway] tls`: the HTTPS server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayTls {
    pub credential_name: Option<Spanned<CompactString>>,
    pub redirect_http: Option<Spanned<bool>>,
}

/// One `[[gateway.routes]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayRoute {
    pub service: Option<Spanned<CompactString>>,
    pub uris: Option<Spanned<Vec<Spanned<RawMatch>>>>,
}

/// `[traffic_policy]` or `[services.traffic_policy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrafficPolicy {
    pub tls: Option<Spanned<CompactString>>,
    pub load_balancer: Option<Spanned<CompactString>>,
    pub max_connections: Option<Spanned<i64>>,
    pub consecutive_errors: Option<Spanned<i64>>,
    pub ejection_time: Option<Spanned<CompactString>>,
}

/// One `[[steps]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Option<Spanned<CompactString>>,
    pub description: Option<Spanned<CompactString>>,
    pub launch: Option<Spanned<Vec<Spanned<RawVersionRef>>>>,
    pub retire: Option<Spanned<Vec<Spanned<RawVersionRef>>>>,
    pub routes: Option<Spanned<Vec<Spanned<RawRule>>>>,
}

/// One entry of a step's `launch` or `retire`: a version of a service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersionRef {
    pub service: Option<Spanned<CompactString>>,
    pub version: Option<Spanned<CompactString>>,
}

/// One `[[steps.routes]]` rule: the keys every rule has, and the others
/// boxed (`more`), since most rules have none of them and a large file has
/// tens of thousands of rules.
#[derive(Debug)]
pub struct RawRule {
    pub service: Option<Spanned<CompactString>>,
    pub headers: Option<Spanned<RawMap<Spanned<RawHeaderMatch>>>>,
    pub to: Option<Spanned<RawTarget>>,
    /// The other keys; `None` when the rule has none of them.
    pub more: Option<Box<RawRuleMore>>,
}

/// The keys of a `[[steps.routes]]` rule but `service`, `headers` and `to`.
#[derive(Debug, Default)]
pub struct RawRuleMore {
    pub uri: Option<Spanned<RawMatch>>,
    pub method: Option<Spanned<CompactString>>,
    pub delay: Option<Spanned<CompactString>>,
    pub delay_percent: Option<Spanned<f64>>,
    pub abort: Option<Spanned<i64>>,
    pub abort_percent: Option<Spanned<f64>>,
    pub timeout: Option<Spanned<CompactString>>,
    pub retries: Option<Spanned<i64>>,
    pub per_try_timeout: Option<Spanned<CompactString>>,
    pub retry_on: Option<Spanned<CompactString>>,
    pub mirror: Option<Spanned<CompactString>>,
    pub mirror_percent: Option<Spanned<f64>>,
}

/// What `RawRule::more` reads for a rule with none of those keys.
static NO_MORE: RawRuleMore = RawRuleMore {
    uri: None,
    method: None,
    delay: None,
    delay_percent: None,
    abort: None,
    abort_percent: None,
    timeout: None,
    retries: None,
    per_try_timeout: None,
    retry_on: None,
    mirror: None,
    mirror_percent: None,
};

impl RawRule {
    /// The keys but `service`, `headers` and `to` (all `None` when absent).
    pub fn more(&self) -> &RawRuleMore {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }
}

/// A `[[steps.routes]]` rule as the file has it, every key in its place.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleKeys {
    service: Option<Spanned<CompactString>>,
    headers: Option<Spanned<RawMap<Spanned<RawHeaderMatch>>>>,
    uri: Option<Spanned<RawMatch>>,
    method: Option<Spanned<CompactString>>,
    to: Option<Spanned<RawTarget>>,
    delay: Option<Spanned<CompactString>>,
    delay_percent: Option<Spanned<f64>>,
    abort: Option<Spanned<i64>>,
    abort_percent: Option<Spanned<f64>>,
    timeout: Option<Spanned<CompactString>>,
    retries: Option<Spanned<i64>>,
    per_try_timeout: Option<Spanned<CompactString>>,
    retry_on: Option<Spanned<CompactString>>,
    mirror: Option<Spanned<CompactString>>,
    mirror_percent: Option<Spanned<f64>>,
}

impl<'de> Deserialize<'de> for RawRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = RawRuleKeys::deserialize(deserializer)?;
        let more = RawRuleMore {
            uri: keys.uri,
            method: keys.method,
            delay: keys.delay,
            delay_percent: keys.delay_percent,
            abort: keys.abort,
            abort_percent: keys.abort_percent,
            timeout: keys.timeout,
            retries: keys.retries,
            per_try_timeout: keys.per_try_timeout,
            retry_on: keys.retry_on,
            mirror: keys.mirror,
            mirror_percent: keys.mirror_percent,
        };
        let any = more.uri.is_some()
            || more.method.is_some()
            || more.delay.is_some()
            || more.delay_percent.is_some()
            || more.abort.is_some()
            || more.abort_percent.is_some()
            || more.timeout.is_some()
            || more.retries.is_some()
            || more.per_try_timeout.is_some()
            || more.retry_on.is_some()
            || more.mirror.is_some()
            || more.mirror_percent.is_some();
        Ok(RawRule {
            service: keys.service,
            headers: keys.headers,
            to: keys.to,
            more: any.then(|| Box::new(more)),
        })
    }
}

/// `{ exact | prefix | regex = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub exact: Option<Spanned<CompactString>>,
    pub prefix: Option<Spanned<CompactString>>,
    pub regex: Option<Spanned<CompactString>>,
}

/// A header condition: a plain string (exact) or a `RawMatch` table.
#[derive(Debug)]
pub enum RawHeaderMatch {
    /// `end-user = "jason"`.
    Exact(CompactString),
    /// `end-user = { prefix = "ja" }` (boxed: most matches are exact).
    Table(Box<RawMatch>),
}

impl<'de> Deserialize<'de> for RawHeaderMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeaderMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table with one of exact, prefix, regex")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(RawHeaderMatch::Exact(CompactString::from(value)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMatch::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| RawHeaderMatch::Table(Box::new(m)))
            }
        }
        deserializer.deserialize_any(HeaderVisitor)
    }
}

/// `to`: one version, or a table of version = weight.
#[derive(Debug)]
pub enum RawTarget {
    /// `to = "v1"`.
    Version(CompactString),
    /// `to = { v1 = 50, v3 = 50 }`.
    Weights(RawMap<Spanned<i64>>),
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = RawTarget;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version name or a table of version = weight")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(RawTarget::Version(CompactString::from(value)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawTarget::Weights)
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}
