//! Rendering: the minijinja environment (one template per resource kind,
//! embedded in the binary, overridable with `--templates DIR`) and the YAML
//! formatter through which every value reaches a document. Owns no ordering
//! and no files; the parse-back check of each document is `resource`'s.
//!
//! This file renders what every scenario has (the mesh install, the
//! namespace, the workloads) and hands the routing to the backend of its
//! routing API: `istio_api` (Gateway, VirtualService, DestinationRule) or
//! `gateway_api` (Gateway API Gateway, HTTPRoute, a Service per version),
//! which turn the same model into documents. The documents of each service
//! (its workloads and what the routing sends its versions to) are rendered
//! 1,024 services at a time, and every group the build keeps is held packed
//! (`resource::Packer`). `templates` compiles the
//! templates (shipped or overridden) and renders one document; `yaml` is
//! the formatter of values.

use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use crate::error::Error;
use crate::istio;
use crate::model::{Install, RoutingApi, Scenario, Service, ServiceRouting, Version};
use crate::resource::{Packer, Resource, ResourceId};

mod gateway_api;
mod install;
mod istio_api;
mod security;
mod templates;
#[cfg(test)]
mod tests;
mod yaml;

pub use install::HelmInstall;
pub use security::{AllowPolicy, Policies};
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
    /// The IstioOperator; `None` with `mesh.install = "helm"`.
    pub mesh: Option<Resource>,
    /// With `mesh.install = "helm"`, the charts' values and GitOps manifests.
    pub helm: Option<HelmInstall>,
    /// The application's Namespace.
    pub namespace: Resource,
    /// In ambient mode, the namespace's waypoint (a Gateway API Gateway).
    pub waypoint: Option<Resource>,
    /// ServiceAccounts, Services and Deployments, by service and version.
    pub workloads: Workloads,
    /// What the routing backend of the scenario's routing API rendered.
    pub routing: Routing,
    /// `[security]`'s PeerAuthentication and AuthorizationPolicies.
    pub policies: Policies,
}

/// The documents a routing backend (`istio_api`, `gateway_api`) makes of
/// the model's routing decisions, which are the same for both.
#[derive(Debug)]
pub struct Routing {
    /// The ingress gateway's documents before the first step (empty
    /// without a gateway): the Gateway and its VirtualService, or the
    /// Gateway API Gateway and its HTTPRoute.
    pub gateway: Vec<Resource>,
    /// Per step, the gateway's VirtualService it re-emits: with
    /// `version_routing`, when it routes a service the gateway exposes.
    pub gateway_steps: Vec<Option<Resource>>,
    /// Istio's APIs, per service, in service order: its DestinationRule for
    /// each set of running versions the scenario's timeline has (one,
    /// without releases). Empty with the Gateway API.
    pub destination_rules: Vec<Vec<Subsets>>,
    /// The Gateway API, per service, per version: the Service
    /// `<service>-<version>` of each version with pods. Empty with Istio's APIs.
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

/// How many services' documents (workloads, DestinationRules or per-version
/// Services) are rendered at a time: their template values, heavier than
/// the scenario's text, exist only while their chunk is rendered.
const SERVICES_CHUNK: usize = 1024;

/// Renders every resource of a scenario. Documents are independent, so each
/// group is rendered on all cores; the order of the output never changes.
/// The first error wins, in the order the groups are rendered: the
/// services' documents a chunk at a time, the routing, then the mesh
/// install, the namespace and the policies.
pub fn render(renderer: &Renderer, scenario: &Scenario) -> Result<Rendered, Error> {
    let services = &scenario.services;
    // Each list sized once: grown a chunk at a time, it would hold up to
    // twice its documents, and three times while it moves.
    let emitted = if scenario.emits_workloads() {
        services.as_slice()
    } else {
        &[]
    };
    let mut workloads = Workloads {
        service_accounts: Vec::with_capacity(
            (emitted.iter())
                .filter(|s| s.service_account.is_some())
                .count(),
        ),
        services: Vec::with_capacity(emitted.len()),
        deployments: Vec::with_capacity(
            (emitted.iter())
                .map(|s| s.versions.iter().filter(|v| v.deploy).count())
                .sum(),
        ),
    };
    let mut targets = match scenario.mesh.routing_api {
        RoutingApi::Istio => Targets {
            destination_rules: Vec::with_capacity(services.len()),
            version_services: Vec::new(),
        },
        RoutingApi::GatewayApi => Targets {
            destination_rules: Vec::new(),
            version_services: Vec::with_capacity(services.len()),
        },
    };
    let mut packers = Packers::default();
    for start in (0..services.len()).step_by(SERVICES_CHUNK) {
        let chunk = start..services.len().min(start + SERVICES_CHUNK);
        // Each service as its templates see it, converted once: its
        // ServiceAccount, Service, Deployments and DestinationRule share the
        // value (a conversion, and freeing it, cost about as much as rendering).
        let values = ServiceValues {
            start,
            values: crate::parallel::map(&services[chunk.clone()], |s| Value::from(Serde(s))),
        };
        // With workloads = "existing", the application's own manifests hold them.
        if scenario.emits_workloads() {
            render_workloads(renderer, scenario, &values, &mut packers, &mut workloads)?;
        }
        match scenario.mesh.routing_api {
            RoutingApi::Istio => targets
                .destination_rules
                .extend(istio_api::destination_rules(
                    renderer,
                    scenario,
                    &values,
                    &mut packers.targets,
                )?),
            RoutingApi::GatewayApi => {
                targets
                    .version_services
                    .extend(gateway_api::version_services(
                        renderer,
                        scenario,
                        &values,
                        &mut packers.targets,
                    )?);
            }
        }
    }
    // The routing backend turns the model's routing decisions into documents.
    let routing = match scenario.mesh.routing_api {
        RoutingApi::Istio => istio_api::render(renderer, scenario, targets)?,
        RoutingApi::GatewayApi => gateway_api::render(renderer, scenario, targets)?,
    };
    let (mesh, helm) = if scenario.mesh.install == Install::Helm {
        (None, Some(install::render(renderer, scenario)?))
    } else {
        (Some(render_mesh(renderer, scenario)?), None)
    };
    Ok(Rendered {
        mesh,
        helm,
        namespace: render_namespace(renderer, scenario)?,
        waypoint: render_waypoint(renderer, scenario)?,
        workloads,
        routing,
        policies: security::render(renderer, scenario)?,
    })
}

/// The template values of a chunk of consecutive services.
struct ServiceValues {
    /// The index of the chunk's first service.
    start: usize,
    /// Each service of the chunk as a template value (`Value::from(Serde(..))`).
    values: Vec<Value>,
}

impl ServiceValues {
    /// The indices of the chunk's services.
    fn indices(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.values.len()
    }

    /// Service `i`'s value; `i` is one of `indices`.
    fn get(&self, i: usize) -> &Value {
        &self.values[i - self.start]
    }
}

/// What the routing sends each version to, rendered per service before the
/// backend renders the rest: Istio's DestinationRules, or the Gateway API's
/// per-version Services (the other one stays empty).
struct Targets {
    /// Per service, its DestinationRule for each set of running versions.
    destination_rules: Vec<Vec<Subsets>>,
    /// Per service, per version, its Service `<service>-<version>`.
    version_services: Vec<Vec<Option<Resource>>>,
}

/// The packers of the per-service groups of documents, across chunks.
#[derive(Default)]
struct Packers {
    service_accounts: Packer,
    services: Packer,
    deployments: Packer,
    /// DestinationRules or per-version Services.
    targets: Packer,
}

/// Renders the ServiceAccounts, Services and Deployments of the chunk of
/// services `values` holds, appending them to `workloads`.
fn render_workloads(
    renderer: &Renderer,
    scenario: &Scenario,
    values: &ServiceValues,
    packers: &mut Packers,
    workloads: &mut Workloads,
) -> Result<(), Error> {
    let ns = scenario.namespace.name.as_str();
    let chunk = values.indices();
    let services = &scenario.services[chunk.clone()];
    let indexed: Vec<(usize, &Service)> = chunk.zip(services).collect();
    let accounts: Vec<(usize, &str)> = (indexed.iter())
        .filter_map(|&(i, s)| s.service_account.as_deref().map(|a| (i, a)))
        .collect();
    let service_accounts = render_each(
        renderer,
        "serviceaccount.yaml.j2",
        &accounts,
        |template, &(i, account)| {
            let id = ResourceId::namespaced("v1", "ServiceAccount", ns, account);
            let context = ServiceContext {
                namespace: ns,
                service: values.get(i),
            };
            template.render(&context, id)
        },
    )?;
    let service_objects = render_each(
        renderer,
        "service.yaml.j2",
        &indexed,
        |template, &(i, service)| {
            let id = ResourceId::namespaced("v1", "Service", ns, &service.name);
            let context = ServiceContext {
                namespace: ns,
                service: values.get(i),
            };
            template.render(&context, id)
        },
    )?;
    let deployed: Vec<(usize, usize, &Service, &Version)> = (indexed.iter())
        .flat_map(|&(i, s)| {
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
                service: values.get(i),
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
    let service_accounts = packers.service_accounts.pack(service_accounts);
    (workloads.service_accounts).extend(accounts.iter().map(|a| a.0).zip(service_accounts));
    (workloads.services).extend(packers.services.pack(service_objects));
    let deployments = packers.deployments.pack(deployments);
    (workloads.deployments).extend(
        (deployed.iter().map(|d| (d.0, d.1)))
            .zip(deployments)
            .map(|((i, j), d)| (i, j, d)),
    );
    Ok(())
}

/// `render` of every step's routings, grouped by step: a step at a time
/// (each on every core, for many), so that no list of every step's
/// documents is made and then copied into groups; each step's held packed
/// (`Resource::pack`), since the build keeps them until their files are
/// written. The first error in step order wins.
fn per_step(
    scenario: &Scenario,
    render: impl Fn(&ServiceRouting) -> Result<Resource, Error> + Sync + Send,
) -> Result<Vec<Vec<Resource>>, Error> {
    (scenario.steps.iter())
        .map(|step| crate::parallel::try_map(&step.routes, &render).map(Resource::pack))
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

/// What `virtualservice.yaml.j2` renders: one service's routing.
#[derive(Serialize)]
pub(super) struct VirtualServiceContext<'a> {
    pub(super) api_version: &'a str,
    pub(super) namespace: &'a str,
    pub(super) routing: &'a ServiceRouting,
    /// With the Gateway API, the per-version Service of each version, which
    /// a fault step's VirtualService routes to instead of subsets.
    pub(super) version_hosts: Option<&'a BTreeMap<&'a str, String>>,
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
