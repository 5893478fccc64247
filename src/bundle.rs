//! Bundles: the rendered resources ordered for apply (mesh, namespace,
//! workloads, gateway, DestinationRules), the steps folded into routing states,
//! the teardown in reverse order. Owns no rendering of YAML, no file layout
//! (`layout`) and no writing of files.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use crate::diff;
use crate::error::Error;
use crate::gitops::{self};
use crate::install;
use crate::model::{Install, Moment, Scenario};
use crate::render::{self, HelmInstall, Rendered, Renderer};
use crate::resource::{Resource, ResourceId};

mod authorization;
mod fleet;

use fleet::{Fleet, Targets, Transition, fleet_changes};

/// Namespaces that exist in every cluster and that teardown never deletes.
const KEPT_NAMESPACES: &[&str] = &[
    "default",
    "istio-system",
    "kube-node-lease",
    "kube-public",
    "kube-system",
];

/// One ordered bundle file.
#[derive(Debug)]
pub struct Bundle {
    /// Short name: mesh, namespace, workloads, gateway, destination-rules.
    pub name: &'static str,
    /// File name in the output folder.
    pub file: String,
    /// What a person does with it.
    pub apply_with: String,
    /// Resources in apply order.
    pub resources: Vec<Arc<Resource>>,
}

/// The phases of a step, in the order they run: make before break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Launched versions' workloads, and DestinationRules that gain a subset.
    Launch,
    /// The step's routing.
    Route,
    /// DestinationRules that lose a subset, then the retired workloads.
    Retire,
}

/// What is done with the documents of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `kubectl apply -f`.
    Apply,
    /// `kubectl delete --ignore-not-found -f`.
    Delete,
}

/// One file of a step or of its rollback: one phase's documents, applied
/// or deleted.
#[derive(Debug)]
pub struct PhaseFile {
    /// The phase.
    pub phase: Phase,
    /// Apply or delete.
    pub action: Action,
    /// The file, relative to the output folder.
    pub file: String,
    /// The documents, in the order they are applied or deleted.
    pub resources: Vec<Arc<Resource>>,
}

impl PhaseFile {
    /// The command that runs the file from the output folder.
    pub fn command(&self) -> String {
        match self.action {
            Action::Apply => format!("kubectl apply -f {}", self.file),
            Action::Delete => format!("kubectl delete --ignore-not-found -f {}", self.file),
        }
    }
}

/// One traffic step, folded.
#[derive(Debug)]
pub struct StepBundle {
    /// The step's name.
    pub name: String,
    /// The step's description.
    pub description: Option<String>,
    /// The step's files, in the order they are run: launch, route, retire
    /// (each only when it has documents). Without releases, only the route
    /// file `steps/NN-name.yaml`.
    pub files: Vec<PhaseFile>,
    /// The files that take a cluster from the state after the step back to
    /// the state before it, in order; only when the scenario has releases.
    pub rollback: Vec<PhaseFile>,
    /// The diff preview file beside the step's files.
    pub diff_file: String,
    /// What the diff's old side is called: the previous step's name, or
    /// `(before steps)`.
    pub diff_from: String,
    /// The folder of the state after the step (`routing/NN-name`): the
    /// VirtualServices in force (with releases: the whole state), and a
    /// kustomization for it.
    pub routing_dir: String,
    /// What the step changes, in diff order. The diff text is made from it
    /// as its file is written (`diff_changes`), not kept.
    pub changes: Vec<StepChange>,
    /// The VirtualServices in force after the step, in service order.
    pub routing: Vec<Arc<Resource>>,
    /// The Gateway and the gateway's VirtualService in force after the step
    /// (the gateway bundle's, unless `version_routing` changed it); empty
    /// without a gateway.
    pub gateway: Vec<Arc<Resource>>,
    /// The ServiceAccounts, Services and Deployments after the step (the
    /// previous step's list itself, when the step launches and retires
    /// nothing).
    pub workloads: Arc<[Arc<Resource>]>,
    /// What the routing sends each version to, after the step: the
    /// DestinationRules, or with the Gateway API the per-version Services.
    pub targets: Arc<[Arc<Resource>]>,
    /// `[security]`'s PeerAuthentication and AuthorizationPolicies after the step.
    pub policies: Arc<[Arc<Resource>]>,
}

/// One document a step changes: what it was before the step and what it is
/// after; `None` on the side where it does not exist.
#[derive(Debug)]
pub struct StepChange {
    /// The document before the step.
    pub before: Option<Arc<Resource>>,
    /// The document after the step.
    pub after: Option<Arc<Resource>>,
}

impl StepChange {
    /// The change as the diff reads it; `None` for a pair with neither side.
    fn as_diff(&self) -> Option<diff::Change<'_>> {
        Some(diff::Change {
            id: &self.before.as_ref().or(self.after.as_ref())?.id,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
        })
    }
}

impl StepBundle {
    /// What the step changes, as the diff reads it.
    pub fn diff_changes(&self) -> Vec<diff::Change<'_>> {
        self.changes
            .iter()
            .filter_map(StepChange::as_diff)
            .collect()
    }

    /// The unified diff of what the step changes (its diff file's text).
    pub fn diff(&self) -> String {
        let changes = self.diff_changes();
        diff::unified(&self.diff_from, &self.name, &changes, diff::DEFAULT_CONTEXT)
    }

    /// The Deployments the step's launch phase starts: the route phase waits
    /// for them to be available.
    pub fn launched(&self) -> impl Iterator<Item = &ResourceId> {
        launched_deployments(&self.files)
    }

    /// The Deployments the rollback's launch phase starts again.
    pub fn relaunched(&self) -> impl Iterator<Item = &ResourceId> {
        launched_deployments(&self.rollback)
    }
}

/// The Deployments the launch files among `files` apply.
fn launched_deployments(files: &[PhaseFile]) -> impl Iterator<Item = &ResourceId> {
    files
        .iter()
        .filter(|f| f.phase == Phase::Launch && f.action == Action::Apply)
        .flat_map(|f| &f.resources)
        .map(|r| &r.id)
        .filter(|id| id.kind() == "Deployment")
}

/// Everything one build produces, in memory.
#[derive(Debug)]
pub struct Build {
    /// The scenario's name: the output folder's.
    pub name: String,
    /// Ordered bundles: the state before the first step.
    pub bundles: Vec<Bundle>,
    /// Steps in order.
    pub steps: Vec<StepBundle>,
    /// The documents the teardown deletes, in reverse apply order. Its
    /// deletion documents are rendered as its file is written
    /// (`teardown_documents`): for a large mesh they are one of the build's
    /// largest files, read by nothing else.
    pub teardown: Vec<Arc<Resource>>,
    /// The command that installs the mesh: the IstioOperator's (`istioctl`
    /// or `kubectl apply` for the operator), or with Helm where the charts are.
    pub install_command: String,
    /// With `mesh.install = "helm"`, the charts' values files and the GitOps
    /// manifests that install them.
    pub helm: Option<HelmInstall>,
    /// Whether the scenario launches or retires versions: its steps then
    /// have phases and rollbacks, and its routing folders whole states.
    pub releases: bool,
    /// Whether each routing folder holds the whole state after its step:
    /// with releases, or when steps change the gateway's VirtualService
    /// (`version_routing`), which is then no longer the output folder's own.
    pub whole_states: bool,
    /// Whether the routing is written in the Gateway API.
    pub gateway_api: bool,
}

/// Name of the bundle of `[security]`'s PeerAuthentication and AuthorizationPolicies.
pub const AUTHORIZATION_FILE: &str = "06-authorization.yaml";

/// Name of the teardown file.
pub const TEARDOWN_FILE: &str = "teardown.yaml";

/// Renders a scenario and orders it into bundles and folded steps.
pub fn bundle(renderer: &Renderer, scenario: &Scenario) -> Result<Build, Error> {
    let Rendered {
        mesh,
        helm,
        namespace,
        waypoint,
        workloads,
        routing,
        policies,
    } = render::render(renderer, scenario)?;
    let render::Routing {
        gateway,
        gateway_steps,
        destination_rules,
        version_services,
        steps,
    } = routing;
    let targets = Targets {
        destination_rules,
        version_services,
    };
    let fleet = Fleet::new(scenario, workloads, targets, policies);
    let install_command = match scenario.mesh.install {
        Install::Istioctl => format!("{} 01-mesh.yaml", scenario.mesh.facts.install_command),
        Install::Operator => "kubectl apply -f 01-mesh.yaml".to_owned(),
        Install::Helm => format!(
            "helm upgrade --install of each chart in {}/, in the order PLAN.md gives",
            install::HELM_DIR
        ),
    };
    // With Helm, the charts under install/ are the mesh: no IstioOperator.
    let mut bundles: Vec<Bundle> = mesh
        .map(|mesh| Bundle {
            name: "mesh",
            file: "01-mesh.yaml".to_owned(),
            apply_with: install_command.clone(),
            resources: vec![Arc::new(mesh)],
        })
        .into_iter()
        .collect();
    bundles.extend([Bundle {
        name: "namespace",
        file: "02-namespace.yaml".to_owned(),
        apply_with: "kubectl apply -f 02-namespace.yaml".to_owned(),
        // The ambient waypoint goes with the namespace it serves.
        resources: std::iter::once(namespace)
            .chain(waypoint)
            .map(Arc::new)
            .collect(),
    }]);
    // With workloads = "existing" the application's own manifests hold them.
    if scenario.emits_workloads() {
        bundles.push(Bundle {
            name: "workloads",
            file: "03-workloads.yaml".to_owned(),
            apply_with: "kubectl apply -f 03-workloads.yaml".to_owned(),
            resources: fleet.workloads(Moment::BeforeSteps),
        });
    }
    if !gateway.is_empty() {
        bundles.push(Bundle {
            name: "gateway",
            file: "04-gateway.yaml".to_owned(),
            apply_with: "kubectl apply -f 04-gateway.yaml".to_owned(),
            resources: gateway.into_iter().map(Arc::new).collect(),
        });
    }
    let (name, file) = if scenario.gateway_api() {
        ("version-services", "05-version-services.yaml")
    } else {
        ("destination-rules", "05-destination-rules.yaml")
    };
    bundles.push(Bundle {
        name,
        file: file.to_owned(),
        apply_with: format!("kubectl apply -f {file}"),
        resources: fleet.targets(Moment::BeforeSteps),
    });
    // After the workloads: before its policies apply, every call is
    // allowed, and once they do, every declared call is (PLAN.md).
    let policies = fleet.guards.at(Moment::BeforeSteps);
    if !policies.is_empty() {
        bundles.push(Bundle {
            name: "authorization",
            file: AUTHORIZATION_FILE.to_owned(),
            apply_with: format!("kubectl apply -f {AUTHORIZATION_FILE}"),
            resources: policies,
        });
    }
    let base_gateway: Vec<Arc<Resource>> = bundles
        .iter()
        .filter(|b| b.name == "gateway")
        .flat_map(|b| b.resources.iter().cloned())
        .collect();
    let steps = fold(
        renderer,
        scenario,
        &fleet,
        steps,
        (base_gateway, gateway_steps),
    )?;
    let mut build = Build {
        name: scenario.name.clone(),
        bundles,
        steps,
        teardown: Vec::new(),
        install_command,
        helm,
        releases: scenario.has_releases(),
        whole_states: scenario.has_releases() || scenario.gateway_routes_versions(),
        gateway_api: scenario.gateway_api(),
    };
    build.teardown = teardown(&build, &fleet);
    Ok(build)
}

/// Folds the steps: each replaces the VirtualService of the services it
/// names (and the gateway's, when it re-emits it), and launches and retires
/// versions in phases. `gateway` is the gateway bundle's resources and, per
/// step, the gateway VirtualService it re-emits.
fn fold(
    renderer: &Renderer,
    scenario: &Scenario,
    fleet: &Fleet<'_>,
    rendered: Vec<Vec<Resource>>,
    gateway: (Vec<Arc<Resource>>, Vec<Option<Resource>>),
) -> Result<Vec<StepBundle>, Error> {
    let (mut gateway_now, gateway_steps) = gateway;
    let mut gateway_steps = gateway_steps.into_iter();
    let releases = scenario.has_releases();
    let width = scenario.steps.len().to_string().len().max(2);
    let service_index = |name: &str| {
        scenario
            .service_positions
            .get(name)
            .copied()
            .unwrap_or(usize::MAX)
    };
    // Per service (by index), its VirtualService in force.
    let mut current: Vec<Option<Arc<Resource>>> = vec![None; scenario.services.len()];
    let mut folded: Vec<StepBundle> = Vec::with_capacity(scenario.steps.len());
    // The fleet before the first step; after it, each step's is the last one's.
    let initial: (Arc<[_]>, Arc<[_]>, Arc<[_]>) = (
        fleet.workloads(Moment::BeforeSteps).into(),
        fleet.targets(Moment::BeforeSteps).into(),
        fleet.guards.at(Moment::BeforeSteps).into(),
    );
    for (k, (step, resources)) in scenario.steps.iter().zip(rendered).enumerate() {
        let mut resources = shared(resources);
        let previous = current.clone();
        // The gateway's VirtualService the step re-emits, and the one it replaces.
        let gateway_change = match gateway_steps.next().flatten() {
            Some(new) => {
                let new = Arc::new(new);
                let slot = gateway_now.iter_mut().find(|r| r.id == new.id);
                slot.map(|old| (std::mem::replace(old, Arc::clone(&new)), new))
            }
            None => None,
        };
        for (routing, resource) in step.routes.iter().zip(&resources) {
            if let Some(slot) = current.get_mut(service_index(&routing.service)) {
                *slot = Some(Arc::clone(resource));
            }
        }
        let stem = format!("steps/{:0width$}-{}", k + 1, step.name);
        let (before, after) = (Moment::before(k), Moment::After(k));
        let (workloads_before, targets_before, policies_before) = folded
            .last()
            .map_or((&initial.0, &initial.1, &initial.2), |last| {
                (&last.workloads, &last.targets, &last.policies)
            });
        // Only a step that launches or retires versions changes the fleet;
        // any other leaves its workloads and DestinationRules as they were.
        let releases_here = !step.launch.is_empty() || !step.retire.is_empty();
        let (forward, workloads, targets, policies) = if releases_here {
            let forward = fleet.transition(before, Moment::During(k), after);
            (
                forward,
                fleet.workloads(after).into(),
                fleet.targets(after).into(),
                fleet.guards.at(after).into(),
            )
        } else {
            // The same lists, shared: a step of a large mesh that leaves the
            // fleet alone does not copy it.
            (
                Transition::default(),
                Arc::clone(workloads_before),
                Arc::clone(targets_before),
                Arc::clone(policies_before),
            )
        };
        // What the step changes: workloads and DestinationRules, then the
        // VirtualService of every service it names.
        let mut changes = if releases_here {
            let was: Vec<&Arc<Resource>> = (workloads_before.iter())
                .chain(targets_before.iter())
                .chain(policies_before.iter())
                .collect();
            let is: Vec<&Arc<Resource>> = (workloads.iter())
                .chain(targets.iter())
                .chain(policies.iter())
                .collect();
            fleet_changes(&was, &is)
        } else {
            Vec::new()
        };
        // With the Gateway API a service's routing may change kind (an
        // HTTPRoute, a fault step's VirtualService): the other kind's
        // document is then deleted once the new one is applied.
        let mut replaced: Vec<ResourceId> = Vec::new();
        for (routing, resource) in step.routes.iter().zip(&resources) {
            let before = previous
                .get(service_index(&routing.service))
                .and_then(Option::as_ref);
            match before {
                Some(old) if old.id != resource.id => {
                    replaced.push(old.id.clone());
                    changes.push(StepChange {
                        before: Some(Arc::clone(old)),
                        after: None,
                    });
                    changes.push(StepChange {
                        before: None,
                        after: Some(Arc::clone(resource)),
                    });
                }
                _ => changes.push(StepChange {
                    before: before.cloned(),
                    after: Some(Arc::clone(resource)),
                }),
            }
        }
        if let Some((old, new)) = &gateway_change {
            changes.push(StepChange {
                before: Some(Arc::clone(old)),
                after: Some(Arc::clone(new)),
            });
        }
        let diff_from = k.checked_sub(1).map_or("(before steps)".to_owned(), |p| {
            scenario.steps[p].name.clone()
        });
        let mut files = Vec::new();
        let mut phase = |phase, action, file: String, resources: Vec<Arc<Resource>>| {
            if !resources.is_empty() {
                files.push(PhaseFile {
                    phase,
                    action,
                    file,
                    resources,
                });
            }
        };
        phase(
            Phase::Launch,
            Action::Apply,
            format!("{stem}.launch.yaml"),
            forward.launch,
        );
        let named: Vec<usize> = step
            .routes
            .iter()
            .map(|r| service_index(&r.service))
            .collect();
        // The gateway's VirtualService goes with the step's routing, last.
        let gateway_before = gateway_change.map(|(old, new)| {
            resources.push(new);
            old
        });
        phase(
            Phase::Route,
            Action::Apply,
            format!("{stem}.yaml"),
            resources,
        );
        phase(
            Phase::Route,
            Action::Delete,
            format!("{stem}.route.delete.yaml"),
            deletes(renderer, &replaced)?,
        );
        phase(
            Phase::Retire,
            Action::Apply,
            format!("{stem}.retire.yaml"),
            forward.retire,
        );
        phase(
            Phase::Retire,
            Action::Delete,
            format!("{stem}.retire.delete.yaml"),
            deletes(renderer, &forward.removed)?,
        );
        let rollback = if releases {
            let routing = Routing {
                named: &named,
                previous: &previous,
                current: &current,
                gateway_before,
            };
            rollback(renderer, fleet, k, &stem, routing)?
        } else {
            Vec::new()
        };
        folded.push(StepBundle {
            name: step.name.clone(),
            description: step.description.clone(),
            files,
            rollback,
            diff_file: format!("{stem}.diff"),
            diff_from,
            routing_dir: format!("{}/{:0width$}-{}", gitops::ROUTING_DIR, k + 1, step.name),
            changes,
            routing: current.iter().flatten().cloned().collect(),
            gateway: gateway_now.clone(),
            workloads,
            targets,
            policies,
        });
    }
    Ok(folded)
}

/// What a step did to the routing, for its rollback.
struct Routing<'a> {
    /// The services it names (their indices).
    named: &'a [usize],
    /// Per service, its VirtualService before the step.
    previous: &'a [Option<Arc<Resource>>],
    /// Per service, its VirtualService after the step.
    current: &'a [Option<Arc<Resource>>],
    /// The gateway's VirtualService before the step, when the step re-emitted it.
    gateway_before: Option<Arc<Resource>>,
}

/// The files that undo step `k`: relaunch what it retired, restore the
/// routing of the services it `named` (`previous`, or none: the
/// VirtualService is deleted) and the gateway's VirtualService it replaced,
/// then retire what it launched.
fn rollback(
    renderer: &Renderer,
    fleet: &Fleet<'_>,
    k: usize,
    stem: &str,
    routing: Routing<'_>,
) -> Result<Vec<PhaseFile>, Error> {
    let Routing {
        named,
        previous,
        current,
        gateway_before,
    } = routing;
    let back = fleet.transition(Moment::After(k), Moment::During(k), Moment::before(k));
    let restored: Vec<Arc<Resource>> = named
        .iter()
        .filter_map(|&i| previous.get(i).cloned().flatten())
        .chain(gateway_before)
        .collect();
    // A routing the step created, or one of another kind than the one it
    // replaced (Gateway API: an HTTPRoute and a VirtualService), is deleted.
    let dropped: Vec<ResourceId> = named
        .iter()
        .filter_map(|&i| {
            let now = current.get(i).cloned().flatten()?;
            let before = previous.get(i).cloned().flatten();
            before
                .is_none_or(|b| b.id != now.id)
                .then(|| now.id.clone())
        })
        .collect();
    let stem = format!("{stem}.rollback");
    let candidates = [
        (Phase::Launch, Action::Apply, "launch.yaml", back.launch),
        (Phase::Route, Action::Apply, "route.yaml", restored),
        (
            Phase::Route,
            Action::Delete,
            "route.delete.yaml",
            deletes(renderer, &dropped)?,
        ),
        (Phase::Retire, Action::Apply, "retire.yaml", back.retire),
        (
            Phase::Retire,
            Action::Delete,
            "retire.delete.yaml",
            deletes(renderer, &back.removed)?,
        ),
    ];
    Ok(candidates
        .into_iter()
        .filter(|(_, _, _, resources)| !resources.is_empty())
        .map(|(phase, action, name, resources)| PhaseFile {
            phase,
            action,
            file: format!("{stem}.{name}"),
            resources,
        })
        .collect())
}

/// Deletion documents for `ids`, given in apply order: they are deleted in
/// reverse.
fn deletes(renderer: &Renderer, ids: &[ResourceId]) -> Result<Vec<Arc<Resource>>, Error> {
    let reversed: Vec<&ResourceId> = ids.iter().rev().collect();
    Ok(render::render_deletes(renderer, &reversed)?
        .into_iter()
        .map(Arc::new)
        .collect())
}

/// Everything `kubectl` ever applied (whatever any step created), in
/// reverse apply order.
fn teardown(build: &Build, fleet: &Fleet<'_>) -> Vec<Arc<Resource>> {
    let scenario = fleet.scenario;
    let ever = |service: &crate::model::Service| scenario.moments().any(|at| service.exists(at));
    let bundle = |name: &'static str| {
        build
            .bundles
            .iter()
            .filter(move |b| b.name == name)
            .flat_map(|b| &b.resources)
    };
    let services = scenario.services.iter();
    let accounts = (services.clone().zip(&fleet.service_accounts))
        .filter(|(s, _)| ever(s))
        .filter_map(|(_, a)| a.as_ref());
    let objects = (services.clone().zip(&fleet.services)).filter(|(s, _)| ever(s));
    let deployments = services.clone().zip(&fleet.deployments).flat_map(|(s, d)| {
        (s.versions.iter().zip(d))
            .filter(|(v, _)| scenario.moments().any(|at| v.lifetime.runs(at)))
            .filter_map(|(_, d)| d.as_ref())
    });
    let rules = fleet
        .destination_rules
        .iter()
        .filter_map(|variants| variants.first().map(|(_, rule)| rule));
    // Every routing any step set, in service order: the last state has
    // them all, since no step deletes one, but with the Gateway API a
    // service's routing may have been another kind before (an HTTPRoute
    // and a fault step's VirtualService): those come before it.
    let last = (build.steps.last())
        .map(|s| s.routing.as_slice())
        .unwrap_or_default();
    let mut routing: Vec<&Arc<Resource>> = Vec::new();
    if scenario.gateway_api() {
        let mut seen: HashSet<&ResourceId> = last.iter().map(|r| &r.id).collect();
        for step in &build.steps {
            routing.extend(step.routing.iter().filter(|r| seen.insert(&r.id)));
        }
    }
    routing.extend(last);
    let applied = bundle("namespace")
        .chain(accounts)
        .chain(objects.map(|(_, o)| o))
        .chain(deployments)
        .chain(bundle("gateway"))
        .chain(rules)
        .chain(fleet.guards.ever())
        .chain(routing);
    // With workloads = "existing", the namespace holds the application's
    // own workloads: deleting it would delete them too.
    let mut deleted: Vec<Arc<Resource>> = applied
        .filter(|r| {
            let id = &r.id;
            !(id.kind() == "Namespace"
                && (KEPT_NAMESPACES.contains(&id.name.as_str()) || !scenario.emits_workloads()))
        })
        .cloned()
        .collect();
    deleted.reverse();
    deleted
}

/// How many deletion documents of the teardown are rendered at a time: enough
/// to keep every core busy, few enough that a large mesh's never all are in
/// memory.
const TEARDOWN_CHUNK: usize = 4096;

impl Build {
    /// The teardown's deletion documents, in order, rendered a chunk at a
    /// time as they are asked for.
    pub fn teardown_documents<'b>(
        &'b self,
        renderer: &'b Renderer,
    ) -> impl Iterator<Item = Result<Vec<Resource>, Error>> + 'b {
        self.teardown.chunks(TEARDOWN_CHUNK).map(|deleted| {
            let ids: Vec<&ResourceId> = deleted.iter().map(|r| &r.id).collect();
            render::render_deletes(renderer, &ids)
        })
    }

    /// The bundle called `name`, when the build has it.
    pub fn bundle(&self, name: &str) -> Option<&Bundle> {
        self.bundles.iter().find(|b| b.name == name)
    }

    /// The VirtualServices in force after step `index`.
    pub fn routing(&self, index: usize) -> Vec<&Resource> {
        self.steps[index].routing.iter().map(|r| &**r).collect()
    }

    /// The whole state after step `index`, in apply order: the namespace,
    /// the workloads, the gateway, the DestinationRules and the
    /// VirtualServices (not the mesh install).
    pub fn state(&self, index: usize) -> Vec<&Resource> {
        let step = &self.steps[index];
        let bundle = |name| {
            self.bundle(name)
                .map(|b| b.resources.as_slice())
                .unwrap_or_default()
        };
        bundle("namespace")
            .iter()
            .chain(step.workloads.iter())
            .chain(&step.gateway)
            .chain(step.targets.iter())
            .chain(step.policies.iter())
            .chain(&step.routing)
            .map(|r| &**r)
            .collect()
    }

    /// Every document the build rendered but the teardown's: the bundles',
    /// then the steps' and rollbacks' files'.
    pub fn documents(&self) -> impl Iterator<Item = &Resource> {
        self.applied().chain(
            (self.steps.iter())
                .flat_map(|s| s.files.iter().chain(&s.rollback))
                .filter(|f| f.action == Action::Delete)
                .flat_map(|f| &f.resources)
                .map(|r| &**r),
        )
    }

    /// Every document `kubectl apply` takes from the build's files: the
    /// bundles', then the steps' and rollbacks' (a document shared by two
    /// files comes twice).
    pub fn applied(&self) -> impl Iterator<Item = &Resource> {
        let steps = self
            .steps
            .iter()
            .flat_map(|s| s.files.iter().chain(&s.rollback))
            .filter(|f| f.action == Action::Apply)
            .flat_map(|f| &f.resources);
        self.bundles
            .iter()
            .flat_map(|b| &b.resources)
            .chain(steps)
            .map(|r| &**r)
    }

    /// The index of the step called `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// Everything `kubectl apply -f -` takes (not the mesh install), in apply
    /// order: the state before the first step, or with a step the whole
    /// state after it.
    pub fn apply_stream(&self, step: Option<usize>) -> String {
        match step {
            Some(k) => join_documents(self.state(k)),
            None => join_documents(
                (self.bundles.iter())
                    .filter(|b| b.name != "mesh")
                    .flat_map(|b| &b.resources)
                    .map(|r| &**r),
            ),
        }
    }
}

/// `resources`, each made shareable. Collected anew: collecting in place
/// would keep the buffer of the documents (120 bytes each) for their
/// pointers (8 bytes each) as long as the build lives.
fn shared(resources: Vec<Resource>) -> Vec<Arc<Resource>> {
    let mut shared = Vec::with_capacity(resources.len());
    shared.extend(resources.into_iter().map(Arc::new));
    shared
}

/// The pieces of one YAML stream of `resources`: each document, with a `---`
/// line between two.
pub fn stream<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
) -> impl Iterator<Item = Cow<'a, str>> {
    joined(resources.into_iter().map(Resource::text))
}

/// The pieces of one YAML stream of documents' `texts`: each text, with a
/// `---` line between two.
pub fn joined<'a>(
    texts: impl IntoIterator<Item = Cow<'a, str>>,
) -> impl Iterator<Item = Cow<'a, str>> {
    texts.into_iter().enumerate().flat_map(|(i, text)| {
        [(i > 0).then_some(Cow::Borrowed("---\n")), Some(text)]
            .into_iter()
            .flatten()
    })
}

/// Documents joined into one YAML stream.
pub fn join_documents<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> String {
    stream(resources).collect()
}
