//! Rendering: the minijinja environment (one template per resource kind,
//! embedded in the binary, overridable with `--templates DIR`) and the YAML
//! formatter through which every value reaches a document. Owns no ordering
//! and no files; the parse-back check of each document is `resource`'s.
//!
//! This file renders a scenario's documents; `templates` compiles the
//! templates (shipped or overridden) and renders one document;
//! `yaml` is the formatter of values.

use std::borrow::Cow;
use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use crate::error::Error;
use crate::ingress;
use crate::istio;
use crate::model::{Gateway, Scenario, Service, ServiceRouting, TrafficPolicy, Version};
use crate::resource::{Resource, ResourceId};

mod gateway_api;
mod templates;
#[cfg(test)]
mod tests;
mod yaml;

use templates::DocumentTemplate;
pub use templates::{Renderer, SYNC_WAVE_ANNOTATION, TEMPLATES, UnknownTemplateFile, fuel_budget};
pub use yaml::yaml_string;

/// Argo CD's sync options, and the one that prunes a resource after every
/// other resource of the sync is applied and healthy: under `--argocd-waves`,
/// the Deployment of a version some step retires carries it, so that Argo CD
/// deletes it only once the routing has moved away from it.
const PRUNE_LAST: (&str, &str) = ("argocd.argoproj.io/sync-options", "PruneLast=true");

/// Every resource of a scenario, rendered, grouped as the bundles need them.
#[derive(Debug)]
pub struct Rendered {
    /// The IstioOperator.
    pub mesh: Resource,
    /// The application's Namespace.
    pub namespace: Resource,
    /// In ambient mode, the namespace's waypoint (a Gateway API Gateway).
    pub waypoint: Option<Resource>,
    /// ServiceAccounts, Services and Deployments, by service and version.
    pub workloads: Workloads,
    /// The Gateway and its VirtualService before the first step (empty
    /// without a gateway).
    pub gateway: Vec<Resource>,
    /// Per step, the gateway's VirtualService it re-emits: with
    /// `version_routing`, when it routes a service the gateway exposes.
    pub gateway_steps: Vec<Option<Resource>>,
    /// Per service, in service order: its DestinationRule for each set of
    /// running versions the scenario's timeline has (one, without releases).
    pub destination_rules: Vec<Vec<Subsets>>,
    /// With the Gateway API, per service, per version: the Service
    /// `<service>-<version>` of each version with pods (no DestinationRules).
    pub version_services: Vec<Vec<Option<Resource>>>,
    /// Per step, the routing of each service it names, in service order: a
    /// VirtualService, or with the Gateway API an HTTPRoute (a VirtualService
    /// when the step injects a fault into the service).
    pub steps: Vec<Vec<Resource>>,
}

/// The workloads of every service and version, whenever they run.
#[derive(Debug)]
pub struct Workloads {
    /// (service index, its ServiceAccount), for the services that set one, in service order.
    pub service_accounts: Vec<(usize, Resource)>,
    /// Every service's Service, in service order; none with `workloads = "existing"`.
    pub services: Vec<Resource>,
    /// (service index, version index, its Deployment), for every deployed
    /// version, in service and version order.
    pub deployments: Vec<(usize, usize, Resource)>,
}

/// A service's DestinationRule with a subset for each of `versions`.
#[derive(Debug)]
pub struct Subsets {
    /// Indices of the versions with a subset, in version order.
    pub versions: Vec<usize>,
    /// The DestinationRule.
    pub resource: Resource,
}

/// Renders every resource of a scenario. Documents are independent, so each
/// group is rendered on all cores; the order of the output never changes.
pub fn render(renderer: &Renderer, scenario: &Scenario) -> Result<Rendered, Error> {
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let services = &scenario.services;
    // With workloads = "existing", the application's own manifests hold them.
    let emitted: &[Service] = if scenario.emits_workloads() {
        services
    } else {
        &[]
    };
    // Each service as its templates see it, converted once: its
    // ServiceAccount, Service, Deployments and DestinationRule share the value
    // (a conversion, and freeing it, cost about as much as rendering).
    let values: Vec<Value> = crate::parallel::map(services, |s| Value::from(Serde(s)));
    let accounts: Vec<(usize, &Service, &String)> = emitted
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.service_account.as_ref().map(|a| (i, s, a)))
        .collect();
    let service_accounts = render_each(
        renderer,
        "serviceaccount.yaml.j2",
        &accounts,
        |template, &(i, _, account)| {
            let id = ResourceId::namespaced("v1", "ServiceAccount", ns, account);
            let context = ServiceContext {
                namespace: ns,
                service: &values[i],
            };
            template.render(&context, id)
        },
    )?;
    let indexed: Vec<(usize, &Service)> = emitted.iter().enumerate().collect();
    let service_objects = render_each(
        renderer,
        "service.yaml.j2",
        &indexed,
        |template, &(i, service)| {
            let id = ResourceId::namespaced("v1", "Service", ns, &service.name);
            let context = ServiceContext {
                namespace: ns,
                service: &values[i],
            };
            template.render(&context, id)
        },
    )?;
    let deployed: Vec<(usize, usize, &Service, &Version)> = emitted
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            (s.versions.iter().enumerate())
                .filter(|(_, v)| v.deploy)
                .map(move |(j, v)| (i, j, s, v))
        })
        .collect();
    let deployments = render_each(
        renderer,
        "deployment.yaml.j2",
        &deployed,
        |template, &(i, _, service, version)| {
            let name = format!("{}-{}", service.name, version.name);
            let id = ResourceId::namespaced("apps/v1", "Deployment", ns, &name);
            let context = DeploymentContext {
                namespace: ns,
                service: &values[i],
                version,
            };
            if renderer.sync_waves && version.lifetime.retire.is_some() {
                let annotations = [template.annotations.as_slice(), &[PRUNE_LAST]].concat();
                template.render_annotated(&context, id, &annotations)
            } else {
                template.render(&context, id)
            }
        },
    )?;
    let workloads = Workloads {
        service_accounts: accounts.iter().map(|a| a.0).zip(service_accounts).collect(),
        services: service_objects,
        deployments: (deployed.iter().map(|d| (d.0, d.1)))
            .zip(deployments)
            .map(|((i, j), d)| (i, j, d))
            .collect(),
    };
    if scenario.gateway_api() {
        return render_gateway_api(renderer, scenario, workloads, &values);
    }
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
    // Per service, every set of versions that runs at some moment.
    let subsets: Vec<(usize, Cow<'_, Service>, Vec<usize>)> = services
        .iter()
        .enumerate()
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
                Cow::Borrowed(_) => values[*i].clone(),
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
    let mut per_service: Vec<Vec<Subsets>> = services.iter().map(|_| Vec::new()).collect();
    for ((i, _, versions), resource) in subsets.into_iter().zip(destination_rules) {
        per_service[i].push(Subsets { versions, resource });
    }
    let routings: Vec<&ServiceRouting> = scenario.steps.iter().flat_map(|s| &s.routes).collect();
    let virtual_services = render_each(
        renderer,
        "virtualservice.yaml.j2",
        &routings,
        |template, routing| {
            let id = ResourceId::namespaced(networking, "VirtualService", ns, &routing.service);
            let context = VirtualServiceContext {
                api_version: networking,
                namespace: ns,
                routing,
                version_hosts: None,
            };
            template.render(&context, id)
        },
    )?;
    Ok(Rendered {
        mesh: render_mesh(renderer, scenario)?,
        namespace: render_namespace(renderer, scenario)?,
        waypoint: render_waypoint(renderer, scenario)?,
        workloads,
        gateway,
        gateway_steps,
        destination_rules: per_service,
        version_services: services.iter().map(|_| Vec::new()).collect(),
        steps: per_step(scenario, virtual_services),
    })
}

/// The documents of the Gateway API backend (`gateway_api`): the same
/// groups, with a Service per version instead of DestinationRules, the
/// ingress as a Gateway and its HTTPRoute, and each step's routing as
/// HTTPRoutes (VirtualServices for its faults).
fn render_gateway_api(
    renderer: &Renderer,
    scenario: &Scenario,
    workloads: Workloads,
    values: &[Value],
) -> Result<Rendered, Error> {
    let ns = scenario.namespace.name.as_str();
    let networking = scenario.mesh.networking_api.api_version();
    let gateway = match &scenario.gateway {
        Some(gw) => gateway_api::ingress(renderer, ns, gw)?,
        None => Vec::new(),
    };
    let routings: Vec<&ServiceRouting> = scenario.steps.iter().flat_map(|s| &s.routes).collect();
    let http_route = renderer.template("httproute.yaml.j2")?;
    let virtual_service = renderer.template("virtualservice.yaml.j2")?;
    let routing = crate::parallel::try_map(&routings, |routing| {
        if !routing.injects_fault() {
            return gateway_api::routing(&http_route, scenario, routing);
        }
        let id = ResourceId::namespaced(networking, "VirtualService", ns, &routing.service);
        let hosts = scenario
            .service(&routing.service)
            .map(gateway_api::version_hosts);
        let context = VirtualServiceContext {
            api_version: networking,
            namespace: ns,
            routing,
            version_hosts: hosts.as_ref(),
        };
        virtual_service.render(&context, id)
    })?;
    Ok(Rendered {
        mesh: render_mesh(renderer, scenario)?,
        namespace: render_namespace(renderer, scenario)?,
        waypoint: render_waypoint(renderer, scenario)?,
        workloads,
        gateway,
        gateway_steps: scenario.steps.iter().map(|_| None).collect(),
        destination_rules: scenario.services.iter().map(|_| Vec::new()).collect(),
        version_services: gateway_api::version_services(renderer, ns, &scenario.services, values)?,
        steps: per_step(scenario, routing),
    })
}

/// The documents of every step's routings, in order, grouped by step.
fn per_step(scenario: &Scenario, routings: Vec<Resource>) -> Vec<Vec<Resource>> {
    let mut routings = routings.into_iter();
    (scenario.steps.iter())
        .map(|step| routings.by_ref().take(step.routes.len()).collect())
        .collect()
}

/// The application's Namespace.
fn render_namespace(renderer: &Renderer, scenario: &Scenario) -> Result<Resource, Error> {
    let ns = scenario.namespace.name.as_str();
    renderer.render(
        "namespace.yaml.j2",
        &NamespaceContext {
            name: ns,
            labels: &scenario.namespace.labels,
        },
        ResourceId::cluster("v1", "Namespace", ns),
    )
}

/// The namespace's waypoint, in ambient mode.
fn render_waypoint(renderer: &Renderer, scenario: &Scenario) -> Result<Option<Resource>, Error> {
    if !scenario.ambient() {
        return Ok(None);
    }
    gateway_api::waypoint(renderer, &scenario.namespace.name).map(Some)
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

/// Renders one document per item (on every core, for many) with template `name`, looked
/// up once and handed to `each` with the item, in the items' order; the first
/// error (in that order) wins, and no item after a failed one is rendered.
fn render_each<T: Sync>(
    renderer: &Renderer,
    name: &'static str,
    items: &[T],
    each: impl Fn(&DocumentTemplate<'_>, &T) -> Result<Resource, Error> + Sync + Send,
) -> Result<Vec<Resource>, Error> {
    let template = renderer.template(name)?;
    crate::parallel::try_map(items, |item| each(&template, item))
}

/// Renders the IstioOperator; MeshConfig goes to `values.global` before 1.6.
fn render_mesh(renderer: &Renderer, scenario: &Scenario) -> Result<Resource, Error> {
    let mesh = &scenario.mesh;
    let config = MeshConfigContext {
        access_log_file: mesh.access_log_file.as_deref(),
        outbound_traffic_policy: mesh.outbound_traffic_policy.as_deref(),
    };
    let has_config = config.access_log_file.is_some() || config.outbound_traffic_policy.is_some();
    let in_values = mesh.release.minor < 6;
    let context = MeshContext {
        name: &scenario.name,
        mesh: MeshFields {
            profile: &mesh.profile,
            hub: mesh.hub.as_deref(),
            tag: mesh.tag.as_deref(),
            revision: mesh.revision.as_deref(),
            ingress_gateway: mesh.ingress_gateway,
            egress_gateway: mesh.egress_gateway,
        },
        mesh_config: (has_config && !in_values).then_some(&config),
        global_values: (has_config && in_values).then_some(&config),
        gateway_api_crds: scenario.gateway_api_crds(),
        addons: if mesh.profile == "demo" && mesh.facts.demo_addons {
            istio::DEMO_ADDONS
        } else {
            &[]
        },
    };
    let id = ResourceId::namespaced(
        "install.istio.io/v1alpha1",
        "IstioOperator",
        "istio-system",
        &scenario.name,
    );
    renderer.render("istiooperator.yaml.j2", &context, id)
}

#[derive(Serialize)]
struct NamespaceContext<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
}

/// `service` is a `Service` as a template value (`Value::from(Serde(..))`).
#[derive(Serialize)]
struct ServiceContext<'a> {
    namespace: &'a str,
    service: &'a Value,
}

/// `service` is a `Service` as a template value (`Value::from(Serde(..))`).
#[derive(Serialize)]
struct DeploymentContext<'a> {
    namespace: &'a str,
    service: &'a Value,
    version: &'a Version,
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

#[derive(Serialize)]
struct VirtualServiceContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    routing: &'a ServiceRouting,
    /// With the Gateway API, the per-version Service of each version, which
    /// a fault step's VirtualService routes to instead of subsets.
    version_hosts: Option<&'a BTreeMap<&'a str, String>>,
}

#[derive(Serialize)]
struct MeshContext<'a> {
    name: &'a str,
    mesh: MeshFields<'a>,
    mesh_config: Option<&'a MeshConfigContext<'a>>,
    global_values: Option<&'a MeshConfigContext<'a>>,
    /// The Gateway API CRDs the scenario needs, named in a comment.
    gateway_api_crds: Option<istio::GatewayApiCrds>,
    addons: &'static [&'static str],
}

#[derive(Serialize)]
struct MeshFields<'a> {
    profile: &'a str,
    hub: Option<&'a str>,
    tag: Option<&'a str>,
    revision: Option<&'a str>,
    ingress_gateway: Option<bool>,
    egress_gateway: Option<bool>,
}

#[derive(Serialize)]
struct MeshConfigContext<'a> {
    access_log_file: Option<&'a str>,
    outbound_traffic_policy: Option<&'a str>,
}

/// Renders, on every core, the documents that `kubectl delete -f` needs to
/// delete `ids`, in their order.
pub fn render_deletes(renderer: &Renderer, ids: &[&ResourceId]) -> Result<Vec<Resource>, Error> {
    #[derive(Serialize)]
    struct DeleteContext<'a> {
        id: &'a ResourceId,
    }
    render_each(renderer, "delete.yaml.j2", ids, |template, &id| {
        template.render(&DeleteContext { id }, id.clone())
    })
}
