//! The Kubernetes Gateway API backend: the model's routing decisions as
//! Istio's own Bookinfo samples for the Gateway API write them (a Service
//! per version, the ingress as a Gateway of class `istio` and its HTTPRoute,
//! one HTTPRoute per routed service with the Service as parent), the
//! VirtualService of a step that injects a fault, and the ambient waypoint.
//! Owns the translation of each rule into an HTTPRoute rule; the templates
//! own the YAML.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Serialize;

use super::{
    DocumentTemplate, Routing, ServiceValues, Targets, VirtualServiceContext, per_step, render_each,
};
use crate::error::Error;
use crate::model::{
    Gateway, Mirror, Rule, Scenario, Service, ServiceRouting, StringMatch, Version, WAYPOINT_NAME,
    version_service,
};
use crate::render::Renderer;
use crate::resource::{Packer, Resource, ResourceId};

/// The apiVersion of every Gateway API document meshgen emits.
const GATEWAY_API_VERSION: &str = "gateway.networking.k8s.io/v1";

/// Renders the routing of `scenario` with the Gateway API: the same groups
/// as Istio's APIs, with a Service per version instead of DestinationRules,
/// the ingress as a Gateway and its HTTPRoute, and each step's routing as
/// HTTPRoutes (VirtualServices for its faults), around the per-version
/// Services rendered before (`targets`).
pub(super) fn render(
    renderer: &Renderer,
    scenario: &Scenario,
    targets: Targets,
) -> Result<Routing, Error> {
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let gateway = match &scenario.gateway {
        Some(gw) => ingress(renderer, ns, gw)?,
        None => Vec::new(),
    };
    let http_route = renderer.template("httproute.yaml.j2")?;
    let virtual_service = renderer.template("virtualservice.yaml.j2")?;
    let steps = per_step(scenario, |routing| {
        if !routing.injects_fault() {
            return service_routing(&http_route, scenario, routing);
        }
        let id = ResourceId::namespaced(networking, "VirtualService", ns, &routing.service);
        let hosts = scenario.service(&routing.service).map(version_hosts);
        let context = VirtualServiceContext {
            api_version: networking,
            namespace: ns,
            routing,
            version_hosts: hosts.as_ref(),
        };
        virtual_service.render(&context, id)
    })?;
    Ok(Routing {
        gateway,
        gateway_steps: scenario.steps.iter().map(|_| None).collect(),
        destination_rules: scenario.services.iter().map(|_| Vec::new()).collect(),
        version_services: targets.version_services,
        steps,
    })
}

/// The ingress Gateway and its HTTPRoute.
fn ingress(
    renderer: &Renderer,
    namespace: &str,
    gateway: &Gateway,
) -> Result<Vec<Resource>, Error> {
    #[derive(Serialize)]
    struct GatewayContext<'a> {
        namespace: &'a str,
        gateway: &'a Gateway,
    }
    #[derive(Serialize)]
    struct RouteContext<'a> {
        namespace: &'a str,
        gateway: &'a Gateway,
        /// The HTTPRoute's hostnames: none when the gateway takes any host.
        hostnames: Vec<&'a str>,
        routes: Vec<IngressRoute<'a>>,
    }
    let id = ResourceId::namespaced(GATEWAY_API_VERSION, "Gateway", namespace, &gateway.name);
    let context = GatewayContext { namespace, gateway };
    let listener = renderer.render("ingress-gateway.yaml.j2", &context, id)?;
    let hostnames = if gateway.hosts.iter().any(|h| h == "*") {
        Vec::new()
    } else {
        gateway.hosts.iter().map(String::as_str).collect()
    };
    let routes = (gateway.routes.iter())
        .map(|r| IngressRoute {
            service: &r.service,
            port: r.port,
            paths: r.uris.iter().map(PathMatch::of).collect(),
        })
        .collect();
    let context = RouteContext {
        namespace,
        gateway,
        hostnames,
        routes,
    };
    let id = ResourceId::namespaced(
        GATEWAY_API_VERSION,
        "HTTPRoute",
        namespace,
        &gateway.virtual_service,
    );
    let route = renderer.render("ingress-httproute.yaml.j2", &context, id)?;
    let mut documents = vec![listener, route];
    // With TLS and `redirect_http`, the plain listener only redirects.
    if gateway.tls.as_ref().is_some_and(|t| t.redirect_http) {
        #[derive(Serialize)]
        struct RedirectContext<'a> {
            namespace: &'a str,
            name: &'a str,
            gateway: &'a Gateway,
            hostnames: &'a [&'a str],
        }
        let name = gateway.redirect_route();
        let id = ResourceId::namespaced(GATEWAY_API_VERSION, "HTTPRoute", namespace, &name);
        let context = RedirectContext {
            namespace,
            name: &name,
            gateway,
            hostnames: &context.hostnames,
        };
        documents.push(renderer.render("ingress-redirect.yaml.j2", &context, id)?);
    }
    Ok(documents)
}

/// One route of the ingress HTTPRoute: paths sent to a service's port.
#[derive(Serialize)]
struct IngressRoute<'a> {
    service: &'a str,
    port: u16,
    paths: Vec<PathMatch<'a>>,
}

/// Per service of the chunk `values` holds, per version: the Service
/// `<service>-<version>` of each version with pods, in service and version
/// order, packed with `packer`.
pub(super) fn version_services(
    renderer: &Renderer,
    scenario: &Scenario,
    values: &ServiceValues,
    packer: &mut Packer,
) -> Result<Vec<Vec<Option<Resource>>>, Error> {
    #[derive(Serialize)]
    struct VersionServiceContext<'a> {
        namespace: &'a str,
        name: &'a str,
        service: &'a Value,
        version: &'a Version,
    }
    let namespace = scenario.namespace.name.as_str();
    let services = &scenario.services;
    let chunk = values.indices();
    let deployed: Vec<(usize, usize, String)> = (chunk.clone().zip(&services[chunk.clone()]))
        .flat_map(|(i, s)| {
            (s.versions.iter().enumerate())
                .filter(|(_, v)| v.deploy)
                .map(move |(j, v)| (i, j, version_service(&s.name, &v.name)))
        })
        .collect();
    let rendered = render_each(
        renderer,
        "version-service.yaml.j2",
        &deployed,
        |template, (i, j, name)| {
            let id = ResourceId::namespaced("v1", "Service", namespace, name);
            let context = VersionServiceContext {
                namespace,
                name,
                service: values.get(*i),
                version: &services[*i].versions[*j],
            };
            template.render(&context, id)
        },
    )?;
    let mut per_service: Vec<Vec<Option<Resource>>> = (services[chunk.clone()].iter())
        .map(|s| s.versions.iter().map(|_| None).collect())
        .collect();
    for ((i, j, _), resource) in deployed.into_iter().zip(packer.pack(rendered)) {
        per_service[i - chunk.start][j] = Some(resource);
    }
    Ok(per_service)
}

/// The routing of one service at one step: an HTTPRoute, or, when its
/// rules inject a fault, a VirtualService routing to the per-version
/// Services (`virtual_service` renders it).
fn service_routing(
    template: &DocumentTemplate<'_>,
    scenario: &Scenario,
    routing: &ServiceRouting,
) -> Result<Resource, Error> {
    #[derive(Serialize)]
    struct HttpRouteContext<'a> {
        namespace: &'a str,
        routing: &'a ServiceRouting,
        port: u16,
        rules: Vec<HttpRouteRule<'a>>,
    }
    let namespace = scenario.namespace.name.as_str();
    let port = scenario.service(&routing.service).map_or(0, |s| s.port);
    let id = ResourceId::namespaced(
        GATEWAY_API_VERSION,
        "HTTPRoute",
        namespace,
        &routing.service,
    );
    let context = HttpRouteContext {
        namespace,
        routing,
        port,
        rules: (routing.rules.iter())
            .map(|rule| HttpRouteRule::of(&routing.service, rule))
            .collect(),
    };
    template.render(&context, id)
}

/// The hosts a fault step's VirtualService routes each version to: its
/// per-version Service, by version name.
fn version_hosts(service: &Service) -> BTreeMap<&str, String> {
    (service.versions.iter())
        .map(|v| (v.name.as_str(), version_service(&service.name, &v.name)))
        .collect()
}

/// The ambient waypoint of the namespace.
pub(super) fn waypoint(renderer: &Renderer, namespace: &str) -> Result<Resource, Error> {
    #[derive(Serialize)]
    struct WaypointContext<'a> {
        namespace: &'a str,
        name: &'a str,
    }
    let id = ResourceId::namespaced(GATEWAY_API_VERSION, "Gateway", namespace, WAYPOINT_NAME);
    let context = WaypointContext {
        namespace,
        name: WAYPOINT_NAME,
    };
    renderer.render("waypoint.yaml.j2", &context, id)
}

/// An HTTPRoute path match.
#[derive(Serialize)]
struct PathMatch<'a> {
    /// `Exact`, `PathPrefix` or `RegularExpression`.
    r#type: &'static str,
    value: &'a str,
}

impl<'a> PathMatch<'a> {
    /// Istio's `prefix` becomes `PathPrefix`, which matches whole path
    /// segments (docs/gateway-api.md says so; `explain` follows it).
    fn of(uri: &'a StringMatch) -> Self {
        let r#type = match uri {
            StringMatch::Exact(_) => "Exact",
            StringMatch::Prefix(_) => "PathPrefix",
            StringMatch::Regex(_) => "RegularExpression",
        };
        Self {
            r#type,
            value: uri.value(),
        }
    }
}

/// An HTTPRoute header match; `type` is left out for `Exact`, its default,
/// as Istio's samples write it.
#[derive(Serialize)]
struct HeaderMatch<'a> {
    name: &'a str,
    r#type: Option<&'static str>,
    value: String,
}

impl<'a> HeaderMatch<'a> {
    /// The Gateway API has no prefix match for headers: a prefix becomes a
    /// regular expression that matches the same values (Envoy matches the
    /// whole value, RE2).
    fn of(name: &'a str, m: &StringMatch) -> Self {
        let (r#type, value) = match m {
            StringMatch::Exact(v) => (None, v.to_string()),
            StringMatch::Prefix(p) => (Some("RegularExpression"), format!("^{}.*", re2_quote(p))),
            StringMatch::Regex(r) => (Some("RegularExpression"), r.to_string()),
        };
        Self {
            name,
            r#type,
            value,
        }
    }
}

/// `text` as an RE2 pattern that matches it literally.
fn re2_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted
}

/// A backend of an HTTPRoute rule: a per-version Service, weighted in a split.
#[derive(Serialize)]
struct Backend {
    name: String,
    weight: Option<u32>,
}

/// A RequestMirror filter: the mirrored version's Service and how much of
/// the traffic, as a whole `percent` or, for a fractional one, a `fraction`.
#[derive(Serialize)]
struct MirrorFilter {
    name: String,
    percent: Option<u32>,
    fraction: Option<Fraction>,
}

/// `numerator / denominator` of the requests.
#[derive(Serialize)]
struct Fraction {
    numerator: u64,
    denominator: u64,
}

/// The denominator of a fractional mirror percentage: the fraction is
/// written in millionths of the requests (a precision of 0.0001 %).
const MIRROR_DENOMINATOR: u64 = 1_000_000;

impl MirrorFilter {
    fn of(service: &str, mirror: &Mirror) -> Self {
        let name = version_service(service, &mirror.version);
        match mirror.percent {
            None => Self {
                name,
                percent: None,
                fraction: None,
            },
            Some(p) if p.fract() == 0.0 => Self {
                name,
                // A whole number from 0 to 100 (validated).
                percent: Some(p as u32),
                fraction: None,
            },
            Some(p) => Self {
                name,
                percent: None,
                fraction: Some(Fraction {
                    numerator: (p * (MIRROR_DENOMINATOR as f64) / 100.0).round() as u64,
                    denominator: MIRROR_DENOMINATOR,
                }),
            },
        }
    }
}

/// An HTTPRoute's `retry` (experimental channel): attempts, and the HTTP
/// statuses of `retry_on` (validation refuses any other condition).
#[derive(Serialize)]
struct Retry {
    attempts: u32,
    codes: Vec<u16>,
}

/// One HTTPRoute rule, translated from a model rule.
#[derive(Serialize)]
struct HttpRouteRule<'a> {
    path: Option<PathMatch<'a>>,
    headers: Vec<HeaderMatch<'a>>,
    method: Option<&'a str>,
    backends: Vec<Backend>,
    mirror: Option<MirrorFilter>,
    /// `timeouts.request`.
    timeout: Option<String>,
    /// `timeouts.backendRequest`: the per-try timeout of retries.
    backend_timeout: Option<String>,
    retry: Option<Retry>,
}

impl<'a> HttpRouteRule<'a> {
    fn of(service: &str, rule: &'a Rule) -> Self {
        // Validation refuses durations without a Gateway API form.
        let duration = |d: &crate::model::Duration| d.gateway_api().unwrap_or_default();
        Self {
            path: rule.uri.as_deref().map(PathMatch::of),
            headers: (rule.headers.iter())
                .map(|(name, m)| HeaderMatch::of(name, m))
                .collect(),
            method: rule.method.as_deref(),
            backends: (rule.destinations.iter())
                .map(|d| Backend {
                    name: version_service(service, &d.version),
                    weight: d.weight,
                })
                .collect(),
            mirror: rule.mirror.as_deref().map(|m| MirrorFilter::of(service, m)),
            timeout: rule.timeout.as_deref().map(duration),
            backend_timeout: (rule.retries.as_deref())
                .and_then(|r| r.per_try_timeout.as_ref())
                .map(duration),
            retry: rule.retries.as_deref().map(|r| Retry {
                attempts: r.attempts,
                codes: (r.retry_on.iter())
                    .flat_map(|on| on.split(','))
                    .filter_map(|code| code.parse().ok())
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_prefix_becomes_a_literal_anchored_regex() {
        let m = HeaderMatch::of("end-user", &StringMatch::Prefix("ja.s(on)".into()));
        assert_eq!(m.r#type, Some("RegularExpression"));
        assert_eq!(m.value, r"^ja\.s\(on\).*");
        let exact = HeaderMatch::of("end-user", &StringMatch::Exact("jason".into()));
        assert_eq!((exact.r#type, exact.value.as_str()), (None, "jason"));
    }

    #[test]
    fn a_fractional_mirror_percentage_becomes_a_fraction() {
        let mirror = |percent| Mirror {
            version: "v2".into(),
            percent,
        };
        let whole = MirrorFilter::of("reviews", &mirror(Some(10.0)));
        assert_eq!(
            (whole.name.as_str(), whole.percent),
            ("reviews-v2", Some(10))
        );
        let part = MirrorFilter::of("reviews", &mirror(Some(0.5))).fraction;
        let part = part.expect("a fraction");
        assert_eq!((part.numerator, part.denominator), (5_000, 1_000_000));
        assert!(MirrorFilter::of("reviews", &mirror(None)).percent.is_none());
    }
}
