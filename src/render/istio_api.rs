//! The backend of Istio's own routing APIs: the ingress Gateway and its
//! VirtualService (re-emitted by the steps with `version_routing`), a
//! DestinationRule per service for each set of running versions (a subset
//! per version), and a VirtualService per service each step routes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use super::{
    Routing, ServiceValues, Subsets, Targets, VirtualServiceContext, per_step, render_each,
};
use crate::error::Error;
use crate::ingress;
use crate::model::{Gateway, Scenario, Service, ServiceRouting, TrafficPolicy};
use crate::render::Renderer;
use crate::resource::{Packer, Resource, ResourceId};

/// Renders the routing of `scenario` with Istio's APIs around its
/// DestinationRules, rendered before (`targets`).
pub(super) fn render(
    renderer: &Renderer,
    scenario: &Scenario,
    targets: Targets,
) -> Result<Routing, Error> {
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let services = &scenario.services;
    let mut gateway = Vec::new();
    let mut gateway_steps = Vec::new();
    if let Some(gw) = &scenario.gateway {
        let context = GatewayContext {
            api_version: networking,
            namespace: ns,
            gateway: gw,
        };
        let id = ResourceId::namespaced(networking, "Gateway", ns, &gw.name);
        gateway.push(renderer.render("gateway.yaml.j2", &context, id)?);
        let id = ResourceId::namespaced(networking, "VirtualService", ns, &gw.virtual_service);
        let context = GatewayVirtualServiceContext {
            api_version: networking,
            namespace: ns,
            gateway: gw,
            http: ingress::http(gw, |_| None),
        };
        gateway.push(renderer.render("gateway-virtualservice.yaml.j2", &context, id)?);
        gateway_steps = render_gateway_steps(renderer, scenario, gw)?;
    }
    let template = renderer.template("virtualservice.yaml.j2")?;
    let steps = per_step(scenario, |routing| {
        let id = ResourceId::namespaced(networking, "VirtualService", ns, &routing.service);
        let context = VirtualServiceContext {
            api_version: networking,
            namespace: ns,
            routing,
            version_hosts: None,
        };
        template.render(&context, id)
    })?;
    Ok(Routing {
        gateway,
        gateway_steps,
        destination_rules: targets.destination_rules,
        version_services: services.iter().map(|_| Vec::new()).collect(),
        steps,
    })
}

/// Per service of the chunk `values` holds, its DestinationRule for each
/// set of running versions, packed with `packer`.
pub(super) fn destination_rules(
    renderer: &Renderer,
    scenario: &Scenario,
    values: &ServiceValues,
    packer: &mut Packer,
) -> Result<Vec<Vec<Subsets>>, Error> {
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let chunk = values.indices();
    // Per service, every set of versions that runs at some moment.
    let subsets: Vec<(usize, Cow<'_, Service>, Vec<usize>)> = (chunk.clone())
        .zip(&scenario.services[chunk.clone()])
        .flat_map(|(i, service)| {
            running_sets(scenario, service)
                .into_iter()
                .map(move |versions| (i, subset_service(service, &versions), versions))
        })
        .collect();
    let destination_rules = render_each(
        renderer,
        "destinationrule.yaml.j2",
        &subsets,
        |template, (i, service, _)| {
            let id = ResourceId::namespaced(networking, "DestinationRule", ns, &service.name);
            let value = match service {
                Cow::Borrowed(_) => values.get(*i).clone(),
                Cow::Owned(subset) => Value::from(Serde(subset)),
            };
            let context = DestinationRuleContext {
                api_version: networking,
                namespace: ns,
                service: &value,
                policy: (!service.traffic_policy.is_empty()).then_some(&service.traffic_policy),
            };
            template.render(&context, id)
        },
    )?;
    let mut per_service: Vec<Vec<Subsets>> = chunk.clone().map(|_| Vec::new()).collect();
    for ((i, _, versions), resource) in subsets.into_iter().zip(packer.pack(destination_rules)) {
        per_service[i - chunk.start].push(Subsets { versions, resource });
    }
    Ok(per_service)
}

/// Per step, the gateway's VirtualService it re-emits (`version_routing`):
/// when the step routes a service the gateway exposes, every gateway route
/// with the routing in force after the step. The routing state is kept as
/// the steps go, so each step costs only its own routes.
fn render_gateway_steps(
    renderer: &Renderer,
    scenario: &Scenario,
    gw: &Gateway,
) -> Result<Vec<Option<Resource>>, Error> {
    if !gw.version_routing {
        return Ok(scenario.steps.iter().map(|_| None).collect());
    }
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let mut in_force: BTreeMap<&str, &ServiceRouting> = BTreeMap::new();
    let mut contexts: Vec<(usize, GatewayVirtualServiceContext<'_>)> = Vec::new();
    for (k, step) in scenario.steps.iter().enumerate() {
        let mut exposed = false;
        for routing in &step.routes {
            if gw.exposes(&routing.service) {
                in_force.insert(&routing.service, routing);
                exposed = true;
            }
        }
        if exposed {
            let context = GatewayVirtualServiceContext {
                api_version: networking,
                namespace: ns,
                gateway: gw,
                http: ingress::http(gw, |service| in_force.get(service).copied()),
            };
            contexts.push((k, context));
        }
    }
    // Under --argocd-waves, a step's gateway VirtualService is routing: it
    // goes with the VirtualServices, after the DestinationRules' subsets.
    let routing_wave = renderer.annotations("virtualservice.yaml.j2");
    let rendered = render_each(
        renderer,
        "gateway-virtualservice.yaml.j2",
        &contexts,
        |template, (_, context)| {
            let id = ResourceId::namespaced(networking, "VirtualService", ns, &gw.virtual_service);
            template.render_annotated(context, id, &routing_wave)
        },
    )?;
    let mut steps: Vec<Option<Resource>> = scenario.steps.iter().map(|_| None).collect();
    for ((k, _), resource) in contexts.iter().zip(rendered) {
        steps[*k] = Some(resource);
    }
    Ok(steps)
}

/// Every set of versions of `service` that runs at some moment of the
/// scenario (indices, in version order), each once, in timeline order.
/// Without releases: every version, always.
fn running_sets(scenario: &Scenario, service: &Service) -> Vec<Vec<usize>> {
    if !scenario.has_releases() {
        return vec![(0..service.versions.len()).collect()];
    }
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for at in scenario.moments() {
        let running: Vec<usize> = (service.versions.iter().enumerate())
            .filter(|(_, v)| v.lifetime.runs(at))
            .map(|(j, _)| j)
            .collect();
        if !running.is_empty() && !sets.contains(&running) {
            sets.push(running);
        }
    }
    sets
}

/// `service` with only the versions at `indices`: what its DestinationRule
/// template sees.
fn subset_service<'s>(service: &'s Service, indices: &[usize]) -> Cow<'s, Service> {
    if indices.len() == service.versions.len() {
        return Cow::Borrowed(service);
    }
    Cow::Owned(Service {
        versions: indices
            .iter()
            .map(|&j| service.versions[j].clone())
            .collect(),
        ..service.clone()
    })
}

#[derive(Serialize)]
struct GatewayContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    gateway: &'a Gateway,
}

#[derive(Serialize)]
struct GatewayVirtualServiceContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    gateway: &'a Gateway,
    /// The VirtualService's HTTP routes, in order.
    http: Vec<ingress::HttpRoute<'a>>,
}

/// `service` is a `Service`, with only the versions that have a subset, as a
/// template value (`Value::from(Serde(..))`).
#[derive(Serialize)]
struct DestinationRuleContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    service: &'a Value,
    policy: Option<&'a TrafficPolicy>,
}
