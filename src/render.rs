//! Rendering: the minijinja environment (one template per resource kind,
//! embedded in the binary, overridable with `--templates DIR`) and the YAML
//! formatter through which every value reaches a document. Owns no ordering
//! and no files; the parse-back check of each document is `resource`'s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::value::{Serde, ValueKind};
use minijinja::{Environment, ErrorKind, Output, State, UndefinedBehavior, Value};
use serde::Serialize;

use crate::error::Error;
use crate::ingress;
use crate::istio;
use crate::model::{Gateway, Scenario, Service, ServiceRouting, TrafficPolicy, Version};
use crate::resource::{Resource, ResourceId, plain_scalar_is_string};

/// The templates meshgen ships, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "istiooperator.yaml.j2",
        include_str!("../templates/istiooperator.yaml.j2"),
    ),
    (
        "namespace.yaml.j2",
        include_str!("../templates/namespace.yaml.j2"),
    ),
    (
        "serviceaccount.yaml.j2",
        include_str!("../templates/serviceaccount.yaml.j2"),
    ),
    (
        "service.yaml.j2",
        include_str!("../templates/service.yaml.j2"),
    ),
    (
        "deployment.yaml.j2",
        include_str!("../templates/deployment.yaml.j2"),
    ),
    (
        "gateway.yaml.j2",
        include_str!("../templates/gateway.yaml.j2"),
    ),
    (
        "gateway-virtualservice.yaml.j2",
        include_str!("../templates/gateway-virtualservice.yaml.j2"),
    ),
    (
        "destinationrule.yaml.j2",
        include_str!("../templates/destinationrule.yaml.j2"),
    ),
    (
        "virtualservice.yaml.j2",
        include_str!("../templates/virtualservice.yaml.j2"),
    ),
    (
        "delete.yaml.j2",
        include_str!("../templates/delete.yaml.j2"),
    ),
];

/// The annotation Argo CD orders a sync by.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";

/// Argo CD's sync options, and the one that prunes a resource after every
/// other resource of the sync is applied and healthy: under `--argocd-waves`,
/// the Deployment of a version some step retires carries it, so that Argo CD
/// deletes it only once the routing has moved away from it.
const PRUNE_LAST: (&str, &str) = ("argocd.argoproj.io/sync-options", "PruneLast=true");

/// Argo CD sync wave of each template's documents under `--argocd-waves`: the
/// number of the bundle file they go into (bundle.rs), so waves follow apply
/// order — mesh 1, namespace 2, workloads 3, gateway 4, DestinationRules 5,
/// the steps' VirtualServices 6. Deletion documents get none.
const SYNC_WAVES: &[(&str, &str)] = &[
    ("istiooperator.yaml.j2", "1"),
    ("namespace.yaml.j2", "2"),
    ("serviceaccount.yaml.j2", "3"),
    ("service.yaml.j2", "3"),
    ("deployment.yaml.j2", "3"),
    ("gateway.yaml.j2", "4"),
    ("gateway-virtualservice.yaml.j2", "4"),
    ("destinationrule.yaml.j2", "5"),
    ("virtualservice.yaml.j2", "6"),
];

/// A compiled set of templates.
pub struct Renderer {
    env: Environment<'static>,
    /// Whether documents carry Argo CD sync-wave annotations.
    sync_waves: bool,
    /// The file each template `--templates` replaced came from, by template name.
    overrides: BTreeMap<&'static str, PathBuf>,
    /// Entries of the `--templates` folder that are no template's name.
    unknown: Vec<UnknownTemplateFile>,
    /// The most template instructions one document may take (`with_fuel`).
    fuel: Option<u64>,
}

impl Renderer {
    /// The shipped templates, each replaced by the file of the same name in
    /// the folder `overrides` (`--templates`) when it has one. The folder
    /// must exist and be readable, and a template's name in it must be a
    /// file (`Error::Usage` otherwise); its other entries are not read but
    /// listed by `unknown_files` (entries whose name starts with `.` are
    /// left out, as `ls` does).
    pub fn new(overrides: Option<&Path>) -> Result<Self, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .map_err(|e| Error::template("(syntax)", e))?,
        );
        env.set_formatter(format_yaml_value);
        env.add_test("implicit_key", is_implicit_key);
        let (files, unknown) = match overrides {
            Some(dir) => read_template_folder(dir)?,
            None => (BTreeMap::new(), Vec::new()),
        };
        let mut texts: BTreeMap<&'static str, String> = BTreeMap::new();
        for (name, path) in &files {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            texts.insert(name, text);
        }
        for (name, shipped) in TEMPLATES {
            let loaded = match texts.remove(name) {
                Some(text) => env.add_template_owned(*name, text),
                None => env.add_template(name, shipped),
            };
            loaded.map_err(|source| Error::Template {
                template: (*name).to_owned(),
                file: files.get(name).cloned(),
                source,
            })?;
        }
        Ok(Self {
            env,
            sync_waves: false,
            overrides: files,
            unknown,
            fuel: None,
        })
    }

    /// Entries of the `--templates` folder whose name is no template's, in
    /// name order: meshgen does not read them (a misspelt name leaves the
    /// shipped template in use), so the caller warns about each.
    pub fn unknown_files(&self) -> &[UnknownTemplateFile] {
        &self.unknown
    }

    /// Whether any template comes from the `--templates` folder.
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
    }

    /// The same templates, each document's rendering stopped with
    /// `Error::OutOfFuel` after `budget` template instructions (`None`: no
    /// limit, the default). minijinja counts fuel per render, so the budget
    /// is per document. See `fuel_budget`.
    pub fn with_fuel(mut self, budget: Option<u64>) -> Self {
        self.env.set_fuel(budget);
        self.fuel = budget;
        self
    }

    /// The same templates, annotating every applied document with its Argo CD
    /// sync wave when `on` (`--argocd-waves`).
    pub fn with_sync_waves(mut self, on: bool) -> Self {
        self.sync_waves = on;
        self
    }

    /// The annotations template `name` must write under `metadata.annotations`.
    fn annotations(&self, name: &str) -> Vec<(&'static str, &'static str)> {
        SYNC_WAVES
            .iter()
            .filter(|_| self.sync_waves)
            .find(|(template, _)| *template == name)
            .map(|&(_, wave)| vec![(SYNC_WAVE_ANNOTATION, wave)])
            .unwrap_or_default()
    }

    /// Template `name`, looked up once for every document it renders.
    fn template(&self, name: &'static str) -> Result<DocumentTemplate<'_>, Error> {
        let file = self.overrides.get(name).map(PathBuf::as_path);
        let template = self
            .env
            .get_template(name)
            .map_err(|source| Error::Template {
                template: name.to_owned(),
                file: file.map(Path::to_owned),
                source,
            })?;
        let annotations = self.annotations(name);
        Ok(DocumentTemplate {
            name,
            file,
            fuel: self.fuel,
            template,
            annotations,
        })
    }

    /// Renders template `name` with `context` into one document that must be
    /// the resource `id`.
    pub fn render(
        &self,
        name: &'static str,
        context: &impl Serialize,
        id: ResourceId,
    ) -> Result<Resource, Error> {
        self.template(name)?.render(context, id)
    }
}

/// The fuel budget of one document under `--templates`, for scenarios of
/// at most `scenario_bytes` bytes: `FUEL_FLOOR` plus `FUEL_PER_BYTE` per
/// byte. The shipped templates take a few instructions per value they write
/// and write each value of the scenario once in a document, so what one of
/// their documents takes grows at most linearly with the scenario: at most
/// 195 instructions for the largest document of the 5,000-service bench
/// scenario, and under 2 per byte of scenario for one document that holds
/// most of the file (20,000 rules, header matches, labels or env entries).
/// The budget is far above both (docs/templates.md; tests hold the margins),
/// and stops a runaway loop within a second for a small scenario (a release
/// build runs some 20 million instructions a second).
pub fn fuel_budget(scenario_bytes: usize) -> u64 {
    let bytes = u64::try_from(scenario_bytes).unwrap_or(u64::MAX);
    FUEL_FLOOR.saturating_add(bytes.saturating_mul(FUEL_PER_BYTE))
}

/// The fuel budget of a document, whatever the scenario's size.
const FUEL_FLOOR: u64 = 10_000_000;

/// The fuel budget added per byte of the scenario.
const FUEL_PER_BYTE: u64 = 50;

/// An entry of the `--templates` folder that is no template's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTemplateFile {
    /// The entry's path (the folder joined with its name).
    pub path: PathBuf,
    /// The template name it is closest to, when one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownTemplateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--templates: {} is not named after a template, so it is not used",
            self.path.display()
        )?;
        if let Some(name) = self.suggestion {
            write!(f, "; did you mean {name}?")?;
        }
        let names: Vec<&str> = template_names().collect();
        write!(f, " (the templates: {})", names.join(", "))
    }
}

/// Every template's name, sorted.
fn template_names() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.into_iter()
}

/// The files of a `--templates` folder that replace a shipped template, by
/// template name, and its other entries, in name order. A missing,
/// unreadable or not-a-folder `dir`, and a template's name that is not a
/// file, are errors.
fn read_template_folder(
    dir: &Path,
) -> Result<(BTreeMap<&'static str, PathBuf>, Vec<UnknownTemplateFile>), Error> {
    let refuse =
        |problem: String| Error::Usage(format!("--templates {}: {problem}", dir.display()));
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse("no such folder".to_owned()));
        }
        Err(e) => return Err(refuse(format!("cannot read it: {e}"))),
        Ok(meta) if !meta.is_dir() => return Err(refuse("not a folder".to_owned())),
        Ok(_) => {}
    }
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| refuse(format!("cannot read it: {e}")))?;
        names.push(entry.file_name());
    }
    names.sort();
    let mut files = BTreeMap::new();
    let mut unknown = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let known = name
            .to_str()
            .and_then(|n| TEMPLATES.iter().find(|(t, _)| *t == n));
        match known {
            Some((template, _)) => {
                if !path.is_file() {
                    return Err(refuse(format!(
                        "{template} is not a file (a template must be one)"
                    )));
                }
                files.insert(*template, path);
            }
            None if name.as_encoded_bytes().starts_with(b".") => {}
            None => {
                let suggestion = closest_template(&name.to_string_lossy());
                unknown.push(UnknownTemplateFile { path, suggestion });
            }
        }
    }
    Ok((files, unknown))
}

/// The template name `name` is most likely a misspelling of: the nearest by
/// edit distance (case aside) within three edits, or one with the same part
/// before the first `.` (`service.yml`, `Service.yaml.jinja`).
fn closest_template(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase();
    let stem = |n: &str| n.split('.').next().unwrap_or_default().to_owned();
    template_names()
        .map(|template| (strsim::levenshtein(&name, template), template))
        .filter(|(distance, template)| *distance <= 3 || stem(&name) == stem(template))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, template)| template)
}

/// One compiled template and the annotations its documents carry.
struct DocumentTemplate<'r> {
    name: &'static str,
    /// The user's file the template came from (`--templates`); `None` for a shipped one.
    file: Option<&'r Path>,
    /// The fuel budget of one document, when there is one.
    fuel: Option<u64>,
    template: minijinja::Template<'r, 'r>,
    /// The (key, value) pairs every document writes under `metadata.annotations`.
    annotations: Vec<(&'static str, &'static str)>,
}

impl DocumentTemplate<'_> {
    /// Renders one document with `context` (plus `annotations`), which must
    /// be the resource `id`.
    fn render(&self, context: &impl Serialize, id: ResourceId) -> Result<Resource, Error> {
        self.render_annotated(context, id, &self.annotations)
    }

    /// Like `render`, with `annotations` in place of the template's own.
    fn render_annotated(
        &self,
        context: &impl Serialize,
        id: ResourceId,
        annotations: &[(&'static str, &'static str)],
    ) -> Result<Resource, Error> {
        let context = Annotated {
            context,
            annotations,
        };
        let mut text = self
            .template
            .render(Value::from(Serde(&context)))
            .map_err(|e| self.error(e))?;
        // Documents are joined with `---` lines: one without its last newline
        // (an override's last line) would glue the separator to its last value.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // minijinja starts from a buffer twice the template's size; a build
        // keeps every document until it is written, so give the excess back.
        text.shrink_to_fit();
        Resource::parse(id, text, annotations).map_err(|problem| Error::BadDocument {
            template: self.name.to_owned(),
            file: self.file.map(Path::to_owned),
            problem,
        })
    }

    /// A failure of this template's rendering, naming the user's file for an override.
    fn error(&self, source: minijinja::Error) -> Error {
        match self.fuel {
            Some(budget) if source.kind() == ErrorKind::OutOfFuel => Error::OutOfFuel {
                template: self.name.to_owned(),
                file: self.file.map(Path::to_owned),
                budget,
            },
            _ => Error::Template {
                template: self.name.to_owned(),
                file: self.file.map(Path::to_owned),
                source,
            },
        }
    }
}

/// A template's context plus `annotations`: the (key, value) pairs every
/// template writes under `metadata.annotations` (empty by default).
#[derive(Serialize)]
struct Annotated<'a, C: Serialize> {
    #[serde(flatten)]
    context: &'a C,
    annotations: &'a [(&'static str, &'static str)],
}

/// Every resource of a scenario, rendered, grouped as the bundles need them.
#[derive(Debug)]
pub struct Rendered {
    /// The IstioOperator.
    pub mesh: Resource,
    /// The application's Namespace.
    pub namespace: Resource,
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
    /// Per step, the VirtualService of each service it names, in service order.
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
    let mut virtual_services = render_each(
        renderer,
        "virtualservice.yaml.j2",
        &routings,
        |template, routing| {
            let id = ResourceId::namespaced(networking, "VirtualService", ns, &routing.service);
            let context = VirtualServiceContext {
                api_version: networking,
                namespace: ns,
                routing,
            };
            template.render(&context, id)
        },
    )?
    .into_iter();
    let steps = scenario
        .steps
        .iter()
        .map(|step| virtual_services.by_ref().take(step.routes.len()).collect())
        .collect();
    Ok(Rendered {
        mesh: render_mesh(renderer, scenario)?,
        namespace: renderer.render(
            "namespace.yaml.j2",
            &NamespaceContext {
                name: ns,
                labels: &scenario.namespace.labels,
            },
            ResourceId::cluster("v1", "Namespace", ns),
        )?,
        workloads,
        gateway,
        gateway_steps,
        destination_rules: per_service,
        steps,
    })
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
}

#[derive(Serialize)]
struct MeshContext<'a> {
    name: &'a str,
    mesh: MeshFields<'a>,
    mesh_config: Option<&'a MeshConfigContext<'a>>,
    global_values: Option<&'a MeshConfigContext<'a>>,
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

/// Writes a value the way a YAML document needs it: strings as plain scalars
/// when that is unambiguous, double-quoted with escapes otherwise; numbers and
/// booleans as YAML reads them. No value can add structure to a document.
fn format_yaml_value(
    out: &mut Output,
    _state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let text = match value.kind() {
        ValueKind::String => yaml_string(value.as_str().unwrap_or_default()),
        ValueKind::Bool => Cow::Borrowed(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match value.as_i64().filter(|_| value.is_integer()) {
            Some(int) => Cow::Owned(int.to_string()),
            None => {
                let float = f64::try_from(value.clone()).map_err(|_| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, "not a number")
                })?;
                Cow::Owned(yaml_float(float)?)
            }
        },
        kind => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot write a {kind} into YAML: loop over it in the template"),
            ));
        }
    };
    out.write_str(&text)
        .map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))
}

/// The longest implicit key (`key: value`) YAML allows: 1024 characters,
/// counted here in bytes of the written scalar (never fewer than its
/// characters), so that every reader, whichever it counts, takes the key.
pub const IMPLICIT_KEY_MAX: usize = 1024;

/// The template test `implicit_key`: whether `value`, written as the
/// formatter writes it, may be an implicit key (`key: value`). A longer key
/// must be written explicitly, `? key` on one line and `: value` on the
/// next, or YAML readers refuse the document. Only strings can be long.
fn is_implicit_key(value: &Value) -> bool {
    value
        .as_str()
        .is_none_or(|text| yaml_string(text).len() <= IMPLICIT_KEY_MAX)
}

/// A finite float with a decimal point (YAML 1.1 reads `1e5` as a string).
fn yaml_float(value: f64) -> Result<String, minijinja::Error> {
    if !value.is_finite() {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "cannot write a non-finite number into YAML",
        ));
    }
    let text = value.to_string();
    Ok(if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    })
}

/// A string as a YAML scalar: plain when that reads back as the same string
/// (`resource::plain_scalar_is_string`); otherwise double-quoted, with every
/// character that could end the scalar or that YAML forbids escaped.
pub fn yaml_string(text: &str) -> Cow<'_, str> {
    if plain_scalar_is_string(text) {
        return Cow::Borrowed(text);
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                quoted.push_str(&format!("\\x{:02X}", c as u32));
            }
            // Line and paragraph separators, the byte-order mark and the two
            // noncharacters YAML does not allow unescaped.
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                quoted.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Cow::Owned(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::valid_model;

    /// A scenario of one service `a` (version v1) with `extra` TOML after its
    /// version, and `steps` (TOML) at the end.
    fn one_service(extra: &str, steps: &str) -> String {
        format!(
            "name = \"p\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n\
             [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
             {extra}[[steps]]\nname = \"s\"\n{steps}[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n"
        )
    }

    /// Scenarios whose bytes mostly go into one document, in the forms that
    /// take the most template instructions per byte.
    fn dense_scenarios(n: usize) -> Vec<(&'static str, String)> {
        let list = |each: &dyn Fn(usize) -> String, sep: &str| {
            (0..n).map(each).collect::<Vec<_>>().join(sep)
        };
        let route = |i: usize| {
            format!("[[steps.routes]]\nservice=\"a\"\nuri={{prefix=\"/{i}\"}}\nto=\"v1\"\n")
        };
        vec![
            (
                "header matches",
                one_service(
                    "",
                    &format!(
                        "[[steps.routes]]\nservice = \"a\"\nheaders = {{ {} }}\nto = \"v1\"\n",
                        list(&|i| format!("h{i} = \"v\""), ", ")
                    ),
                ),
            ),
            ("rules", one_service("", &list(&route, ""))),
            (
                "labels",
                one_service(
                    &format!(
                        "[namespace.labels]\n{}",
                        list(&|i| format!("l{i} = \"\"\n"), "")
                    ),
                    "",
                ),
            ),
            (
                "env",
                one_service(
                    &format!(
                        "[services.versions.v1.env]\n{}",
                        list(&|i| format!("E{i} = \"\"\n"), "")
                    ),
                    "",
                ),
            ),
            (
                "gateway uris",
                one_service(
                    &format!(
                        "[gateway]\n[[gateway.routes]]\nservice = \"a\"\nuris = [{}]\n",
                        list(&|i| format!("{{prefix=\"/{i}\"}}"), ",")
                    ),
                    "",
                ),
            ),
        ]
    }

    #[test]
    fn the_shipped_templates_stay_far_below_the_fuel_budget_per_byte() {
        // The budget's part that grows with the scenario, a twentieth of it,
        // is enough for documents that hold most of the file.
        for (what, text) in dense_scenarios(2_000) {
            let scenario = valid_model(&text);
            let fuel = text.len() as u64 * FUEL_PER_BYTE / 20;
            let renderer = Renderer::new(None)
                .expect("templates")
                .with_fuel(Some(fuel));
            if let Err(e) = crate::bundle::bundle(&renderer, &scenario) {
                panic!("{what}: {} bytes, {fuel} fuel: {e}", text.len());
            }
        }
    }

    #[test]
    fn the_shipped_templates_stay_far_below_the_fuel_budget_of_a_small_scenario() {
        // A thousandth of the floor renders every document of every shipped
        // and valid-corpus scenario (every feature), with sync waves.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["scenarios", "tests/valid"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_none_or(|e| e != "toml") {
                    continue;
                }
                let scenario = valid_model(&std::fs::read_to_string(&path).expect("scenario"));
                let renderer = Renderer::new(None)
                    .expect("templates")
                    .with_sync_waves(true)
                    .with_fuel(Some(FUEL_FLOOR / 1000));
                if let Err(e) = crate::bundle::bundle(&renderer, &scenario) {
                    panic!("{}: {e}", path.display());
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} scenarios");
    }

    #[test]
    fn a_template_out_of_fuel_is_reported_with_its_budget() {
        let scenario = valid_model(&one_service("", ""));
        let renderer = Renderer::new(None).expect("templates").with_fuel(Some(5));
        match crate::bundle::bundle(&renderer, &scenario) {
            Err(Error::OutOfFuel {
                budget: 5,
                file: None,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_fuel_budget_grows_with_the_scenario() {
        assert_eq!(fuel_budget(0), FUEL_FLOOR);
        assert_eq!(
            fuel_budget(1_000_000),
            FUEL_FLOOR + 1_000_000 * FUEL_PER_BYTE
        );
        assert_eq!(fuel_budget(usize::MAX), u64::MAX);
    }

    #[test]
    fn a_shipped_template_that_renders_a_wrong_document_is_called_a_meshgen_bug() {
        // The shipped templates keep the bug message, with or without a
        // --templates folder that overrides other templates.
        let dir = tempfile::tempdir().expect("folder");
        std::fs::write(dir.path().join("service.yaml.j2"), "x: 1\n").expect("write");
        for folder in [None, Some(dir.path())] {
            let renderer = Renderer::new(folder).expect("templates");
            let context = NamespaceContext {
                name: "ns",
                labels: &Default::default(),
            };
            let wrong = ResourceId::cluster("v1", "Namespace", "other");
            let error = renderer
                .render("namespace.yaml.j2", &context, wrong)
                .expect_err("the identity differs");
            let message = error.to_string();
            assert!(
                message.starts_with(
                    "the shipped template namespace.yaml.j2 rendered an invalid document"
                ) && message.ends_with("this is a meshgen bug, please report it"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_misspelt_template_name_finds_the_name_it_misses() {
        let cases = [
            ("virtualservices.yaml.j2", Some("virtualservice.yaml.j2")),
            ("VirtualService.yaml.j2", Some("virtualservice.yaml.j2")),
            ("service.yml.j2", Some("service.yaml.j2")),
            ("service.yaml", Some("service.yaml.j2")),
            ("deployment.j2", Some("deployment.yaml.j2")),
            (
                "gateway-virtualservice.yml",
                Some("gateway-virtualservice.yaml.j2"),
            ),
            ("README.md", None),
            ("kustomization.yaml", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(closest_template(name), expected, "{name:?}");
        }
    }

    /// Header names at and past YAML's limit on implicit keys, plain and
    /// quoted: each document is valid and reads back with the same name.
    #[test]
    fn header_names_of_any_length_read_back_as_written() {
        // `!` cannot start a plain scalar: those names are written quoted,
        // two bytes longer.
        let names = [
            "a".repeat(IMPLICIT_KEY_MAX),
            "a".repeat(IMPLICIT_KEY_MAX + 1),
            format!("!{}", "a".repeat(IMPLICIT_KEY_MAX - 3)),
            format!("!{}", "a".repeat(IMPLICIT_KEY_MAX - 2)),
            "x".repeat(20_000),
        ];
        let routes: String = names
            .iter()
            .map(|name| {
                format!(
                    "[[steps.routes]]\nservice = \"a\"\nheaders = {{ \"{name}\" = \"v\" }}\n\
                     to = \"v1\"\n"
                )
            })
            .collect();
        let scenario = valid_model(&one_service("", &routes));
        let renderer = Renderer::new(None).expect("templates");
        let rendered = render(&renderer, &scenario).expect("render");
        let text = &rendered.steps[0][0].text;
        let value: serde_json::Value = serde_saphyr::from_str(text).expect("YAML");
        let found: Vec<&str> = value["spec"]["http"]
            .as_array()
            .expect("http")
            .iter()
            .filter_map(|rule| rule["match"][0]["headers"].as_object())
            .flat_map(|headers| headers.keys().map(String::as_str))
            .collect();
        let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(found, wanted);
        // Only the keys too long to be implicit are written explicitly.
        let explicit = text
            .lines()
            .filter(|l| l.trim_start().starts_with("? "))
            .count();
        assert_eq!(explicit, 3, "{text}");
    }

    #[test]
    fn safe_strings_stay_plain() {
        for text in [
            "reviews",
            "docker.io/istio/examples-bookinfo-reviews-v1:1.15.0",
            "/dev/stdout",
            "networking.istio.io/v1alpha3",
            "istio.io/rev",
            "7s",
            "2.5s",
            "1m30s",
            "500ms",
        ] {
            assert_eq!(yaml_string(text), text);
        }
    }

    #[test]
    fn ambiguous_or_structural_strings_are_quoted() {
        let cases = [
            ("yes", "\"yes\""),
            ("On", "\"On\""),
            ("0123", "\"0123\""),
            ("1.5.1", "\"1.5.1\""),
            ("1e5", "\"1e5\""),
            ("0x1F", "\"0x1F\""),
            ("12:30", "\"12:30\""),
            ("*", "\"*\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("x:", "\"x:\""),
            ("line\nnext", "\"line\\nnext\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("---", "\"---\""),
            ("{{ x }}", "\"{{ x }}\""),
            ("del\u{7f}", "\"del\\x7F\""),
            ("a\u{fffe}b\u{ffff}", "\"a\\uFFFEb\\uFFFF\""),
            ("née", "\"née\""),
        ];
        for (text, expected) in cases {
            assert_eq!(yaml_string(text), expected, "{text:?}");
        }
    }

    #[test]
    fn characters_yaml_readers_treat_specially_are_escaped_in_double_quotes() {
        // C0 and C1 controls, DEL, NEL, the line and paragraph separators, the
        // byte-order mark and the noncharacters U+FFFE and U+FFFF: never raw,
        // never in a plain scalar.
        let special = (0..0x20)
            .chain(0x7f..=0x9f)
            .chain([0x2028, 0x2029, 0xfeff, 0xfffe, 0xffff])
            .filter_map(char::from_u32);
        for c in special {
            for text in [c.to_string(), format!("a{c}b"), format!("{c}a")] {
                let written = yaml_string(&text);
                assert!(
                    written.starts_with('"') && written.ends_with('"') && !written.contains(c),
                    "{text:?} written as {written:?}"
                );
                let read: String = serde_saphyr::from_str(&written).expect("a YAML string");
                assert_eq!(read, text);
            }
        }
    }

    #[test]
    fn floats_always_carry_a_decimal_point() {
        assert_eq!(yaml_float(100.0).as_deref().ok(), Some("100.0"));
        assert_eq!(yaml_float(0.0001).as_deref().ok(), Some("0.0001"));
        assert_eq!(yaml_float(33.5).as_deref().ok(), Some("33.5"));
        assert!(yaml_float(f64::NAN).is_err());
    }
}
