//! Bundles: the rendered resources ordered for apply (mesh, namespace,
//! workloads, gateway, DestinationRules), the steps folded into routing states,
//! the teardown in reverse order, and the file layout of an output folder
//! (with `index.json`). Owns no rendering of YAML and no writing of files.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::diff;
use crate::error::Error;
use crate::gitops::{self, KUSTOMIZATION_FILE, ROUTING_STATE_FILE};
use crate::model::Scenario;
use crate::output::{Files, Put};
use crate::plan;
use crate::render::{self, Rendered, Renderer};
use crate::resource::{Resource, ResourceId};

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
    pub resources: Vec<Resource>,
}

/// One traffic step, folded.
#[derive(Debug)]
pub struct StepBundle {
    /// The step's name.
    pub name: String,
    /// The step's description.
    pub description: Option<String>,
    /// The step file (`steps/NN-name.yaml`).
    pub file: String,
    /// The diff preview file beside it.
    pub diff_file: String,
    /// The folder of the routing state after the step (`routing/NN-name`):
    /// every VirtualService in force, and a kustomization for it.
    pub routing_dir: String,
    /// The VirtualServices the step names, in service order.
    pub resources: Vec<Resource>,
    /// The routing state after the step: one VirtualService per routed
    /// service, in service order, as (step index, resource index).
    state: Vec<(usize, usize)>,
    /// Unified diff of the routing state from the previous step.
    pub diff: String,
}

/// Everything one build produces, in memory.
#[derive(Debug)]
pub struct Build {
    /// The scenario's name: the output folder's.
    pub name: String,
    /// Ordered bundles.
    pub bundles: Vec<Bundle>,
    /// Steps in order.
    pub steps: Vec<StepBundle>,
    /// Deletion documents, in reverse apply order.
    pub teardown: Vec<Resource>,
    /// The IstioOperator install and uninstall commands of the release.
    pub install_command: String,
}

/// Name of the teardown file.
pub const TEARDOWN_FILE: &str = "teardown.yaml";
/// Name of the plan file.
pub const PLAN_FILE: &str = "PLAN.md";
/// Name of the index file.
pub const INDEX_FILE: &str = "index.json";

/// Renders a scenario and orders it into bundles and folded steps.
pub fn bundle(renderer: &Renderer, scenario: &Scenario) -> Result<Build, Error> {
    let Rendered {
        mesh,
        namespace,
        workloads,
        gateway,
        destination_rules,
        steps,
    } = render::render(renderer, scenario)?;
    let install_command = format!("{} 01-mesh.yaml", scenario.mesh.facts.install_command);
    let mut bundles = vec![
        Bundle {
            name: "mesh",
            file: "01-mesh.yaml".to_owned(),
            apply_with: install_command.clone(),
            resources: vec![mesh],
        },
        Bundle {
            name: "namespace",
            file: "02-namespace.yaml".to_owned(),
            apply_with: "kubectl apply -f 02-namespace.yaml".to_owned(),
            resources: vec![namespace],
        },
        Bundle {
            name: "workloads",
            file: "03-workloads.yaml".to_owned(),
            apply_with: "kubectl apply -f 03-workloads.yaml".to_owned(),
            resources: workloads,
        },
    ];
    if !gateway.is_empty() {
        bundles.push(Bundle {
            name: "gateway",
            file: "04-gateway.yaml".to_owned(),
            apply_with: "kubectl apply -f 04-gateway.yaml".to_owned(),
            resources: gateway,
        });
    }
    bundles.push(Bundle {
        name: "destination-rules",
        file: "05-destination-rules.yaml".to_owned(),
        apply_with: "kubectl apply -f 05-destination-rules.yaml".to_owned(),
        resources: destination_rules,
    });
    let steps = fold(scenario, steps);
    let mut build = Build {
        name: scenario.name.clone(),
        bundles,
        steps,
        teardown: Vec::new(),
        install_command,
    };
    build.teardown = teardown(renderer, &build)?;
    Ok(build)
}

/// Folds the steps: each replaces the VirtualService of the services it names.
fn fold(scenario: &Scenario, rendered: Vec<Vec<Resource>>) -> Vec<StepBundle> {
    let width = scenario.steps.len().to_string().len().max(2);
    let service_index = |name: &str| {
        scenario
            .service_positions
            .get(name)
            .copied()
            .unwrap_or(usize::MAX)
    };
    // Per service (by index), where its VirtualService currently comes from.
    let mut current: Vec<Option<(usize, usize)>> = vec![None; scenario.services.len()];
    let mut folded: Vec<StepBundle> = Vec::with_capacity(scenario.steps.len());
    for (k, (step, resources)) in scenario.steps.iter().zip(rendered).enumerate() {
        let previous = current.clone();
        for (i, routing) in step.routes.iter().enumerate() {
            if let Some(slot) = current.get_mut(service_index(&routing.service)) {
                *slot = Some((k, i));
            }
        }
        let stem = format!("steps/{:0width$}-{}", k + 1, step.name);
        let lookup = |at: Option<(usize, usize)>, this: &[Resource]| {
            at.map(|(s, i)| {
                if s == k {
                    this[i].text.clone()
                } else {
                    folded[s].resources[i].text.clone()
                }
            })
        };
        let changes: Vec<diff::Change> = step
            .routes
            .iter()
            .zip(&resources)
            .map(|(routing, resource)| {
                let before = previous
                    .get(service_index(&routing.service))
                    .copied()
                    .flatten();
                diff::Change {
                    id: resource.id.clone(),
                    before: lookup(before, &resources),
                    after: Some(resource.text.clone()),
                }
            })
            .collect();
        let from = k.checked_sub(1).map_or("(before steps)".to_owned(), |p| {
            scenario.steps[p].name.clone()
        });
        folded.push(StepBundle {
            name: step.name.clone(),
            description: step.description.clone(),
            file: format!("{stem}.yaml"),
            diff_file: format!("{stem}.diff"),
            routing_dir: format!("{}/{:0width$}-{}", gitops::ROUTING_DIR, k + 1, step.name),
            diff: diff::unified(&from, &step.name, &changes, diff::DEFAULT_CONTEXT),
            resources,
            state: current.iter().flatten().copied().collect(),
        });
    }
    folded
}

/// Deletion documents for everything `kubectl` applied, in reverse apply order.
fn teardown(renderer: &Renderer, build: &Build) -> Result<Vec<Resource>, Error> {
    let routing = build
        .steps
        .last()
        .map(|_| build.state(build.steps.len() - 1))
        .unwrap_or_default();
    let applied = build
        .bundles
        .iter()
        .filter(|b| b.name != "mesh")
        .flat_map(|b| &b.resources)
        .chain(routing);
    let ids: Vec<&ResourceId> = applied
        .map(|r| &r.id)
        .filter(|id| !(id.kind == "Namespace" && KEPT_NAMESPACES.contains(&id.name.as_str())))
        .collect();
    let reversed: Vec<&ResourceId> = ids.into_iter().rev().collect();
    render::render_each(&reversed, |id| render::render_delete(renderer, id))
}

impl Build {
    /// The routing state after step `index`: every VirtualService in force.
    pub fn state(&self, index: usize) -> Vec<&Resource> {
        self.steps[index]
            .state
            .iter()
            .map(|&(s, i)| &self.steps[s].resources[i])
            .collect()
    }

    /// Every document the build rendered: the bundles', the steps' (each
    /// once), then the teardown's.
    pub fn documents(&self) -> impl Iterator<Item = &Resource> {
        self.bundles
            .iter()
            .flat_map(|b| &b.resources)
            .chain(self.steps.iter().flat_map(|s| &s.resources))
            .chain(&self.teardown)
    }

    /// The index of the step called `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// The output folder's `kustomization.yaml`: every bundle `kubectl` applies
    /// (not the mesh install, which needs `istioctl`), in apply order.
    fn kustomization(&self) -> String {
        let files: Vec<&str> = self
            .bundles
            .iter()
            .filter(|b| b.name != "mesh")
            .map(|b| b.file.as_str())
            .collect();
        let comment = [
            "Generated by meshgen: everything `kubectl apply -k` can take, in apply order."
                .to_owned(),
            format!(
                "Not the mesh install: {}. The routing of a step: routing/<step>/.",
                self.install_command
            ),
        ];
        gitops::kustomization(&comment, &files)
    }

    /// Everything `kubectl apply -f -` takes (not the mesh install), in apply
    /// order; with a step, the routing state after it.
    pub fn apply_stream(&self, step: Option<usize>) -> String {
        let routing = step.map(|i| self.state(i)).unwrap_or_default();
        let resources = self
            .bundles
            .iter()
            .filter(|b| b.name != "mesh")
            .flat_map(|b| &b.resources)
            .chain(routing);
        join_documents(resources)
    }

    /// Every file of the output folder, by relative path, sorted.
    pub fn files(&self, scenario: &Scenario) -> Files {
        let files = Mutex::new(Files::new());
        // Collecting into memory cannot fail.
        let _ = self.emit_files(scenario, &|name, bytes| {
            let mut files = files.lock().unwrap_or_else(PoisonError::into_inner);
            files.push((name.to_owned(), bytes));
            Ok(())
        });
        let mut files = files.into_inner().unwrap_or_else(PoisonError::into_inner);
        files.sort();
        files
    }

    /// Lays out every file of the output folder and hands each to `put` as
    /// soon as it is made, on all cores (a writer need not hold the whole
    /// folder); `index.json`, which lists the others' digests, comes last.
    /// Returns how many files there were.
    pub fn emit_files(&self, scenario: &Scenario, put: &Put<'_>) -> Result<usize, Error> {
        let layout = self.layout();
        let entries = layout
            .par_iter()
            .map(|file| {
                let bytes = self.contents(&file.contents, scenario);
                let entry = self.index_entry(file, &bytes);
                put(&file.path, bytes)?;
                Ok(entry)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut index = Index {
            scenario: &self.name,
            bundles: Vec::new(),
            kustomization: KUSTOMIZATION_FILE,
            steps: Vec::new(),
            routing: Vec::new(),
            teardown: None,
            plan: PLAN_FILE,
        };
        for (section, entry) in entries.into_iter().flatten() {
            match section {
                Section::Bundles => index.bundles.push(entry),
                Section::Steps => index.steps.push(entry),
                Section::Routing => index.routing.push(entry),
                Section::Teardown => index.teardown = Some(entry),
            }
        }
        let mut json = serde_json::to_string_pretty(&index).unwrap_or_default();
        json.push('\n');
        put(INDEX_FILE, json.into_bytes())?;
        Ok(layout.len() + 1)
    }

    /// The files of the output folder but `index.json`, in the order the
    /// index lists them.
    fn layout(&self) -> Vec<OutputFile> {
        let mut layout: Vec<OutputFile> = self
            .bundles
            .iter()
            .enumerate()
            .map(|(b, bundle)| OutputFile::new(&bundle.file, Contents::Bundle(b)))
            .collect();
        layout.push(OutputFile::new(KUSTOMIZATION_FILE, Contents::Kustomization));
        for (k, step) in self.steps.iter().enumerate() {
            layout.push(OutputFile::new(&step.file, Contents::Step(k)));
            layout.push(OutputFile::new(&step.diff_file, Contents::StepDiff(k)));
        }
        for (k, step) in self.steps.iter().enumerate() {
            let state = format!("{}/{ROUTING_STATE_FILE}", step.routing_dir);
            layout.push(OutputFile::new(state, Contents::RoutingState(k)));
            let kustomization = format!("{}/{KUSTOMIZATION_FILE}", step.routing_dir);
            layout.push(OutputFile::new(
                kustomization,
                Contents::RoutingKustomization(k),
            ));
        }
        layout.push(OutputFile::new(TEARDOWN_FILE, Contents::Teardown));
        layout.push(OutputFile::new(PLAN_FILE, Contents::Plan));
        layout
    }

    /// The bytes of one file of the layout.
    fn contents(&self, contents: &Contents, scenario: &Scenario) -> Vec<u8> {
        let text = match *contents {
            Contents::Bundle(b) => join_documents(&self.bundles[b].resources),
            Contents::Kustomization => self.kustomization(),
            Contents::Step(k) => join_documents(&self.steps[k].resources),
            Contents::StepDiff(k) => self.steps[k].diff.clone(),
            Contents::RoutingState(k) => join_documents(self.state(k)),
            Contents::RoutingKustomization(k) => {
                let step = &self.steps[k];
                let comment = [
                    format!(
                        "Generated by meshgen: the routing state after step `{}`, every \
                         VirtualService in force.",
                        step.name
                    ),
                    format!(
                        "Apply it after the folder's own kustomization: kubectl apply -k {}",
                        step.routing_dir
                    ),
                ];
                gitops::kustomization(&comment, &[ROUTING_STATE_FILE])
            }
            Contents::Teardown => join_documents(&self.teardown),
            Contents::Plan => plan::plan(scenario, self),
        };
        text.into_bytes()
    }

    /// The entry of `index.json` for `file` (with its `bytes`), and the list
    /// it goes in; `None` for files the index does not list one by one.
    fn index_entry<'a>(
        &'a self,
        file: &'a OutputFile,
        bytes: &[u8],
    ) -> Option<(Section, IndexEntry<'a>)> {
        let entry = |name: &'a str, diff: Option<&'a str>, resources: Vec<&'a Resource>| {
            IndexEntry::new(name, &file.path, diff, bytes, resources)
        };
        Some(match file.contents {
            Contents::Bundle(b) => {
                let bundle = &self.bundles[b];
                let resources = bundle.resources.iter().collect();
                (Section::Bundles, entry(bundle.name, None, resources))
            }
            Contents::Step(k) => {
                let step = &self.steps[k];
                let resources = step.resources.iter().collect();
                (
                    Section::Steps,
                    entry(&step.name, Some(&step.diff_file), resources),
                )
            }
            Contents::RoutingState(k) => {
                let mut routing = entry(&self.steps[k].name, None, self.state(k));
                routing.kustomization = Some(format!(
                    "{}/{KUSTOMIZATION_FILE}",
                    self.steps[k].routing_dir
                ));
                (Section::Routing, routing)
            }
            Contents::Teardown => {
                let resources = self.teardown.iter().collect();
                (Section::Teardown, entry("teardown", None, resources))
            }
            Contents::Kustomization
            | Contents::StepDiff(_)
            | Contents::RoutingKustomization(_)
            | Contents::Plan => return None,
        })
    }
}

/// One file of an output folder, before its bytes are laid out.
struct OutputFile {
    /// Relative path, with `/`.
    path: String,
    contents: Contents,
}

impl OutputFile {
    fn new(path: impl Into<String>, contents: Contents) -> Self {
        Self {
            path: path.into(),
            contents,
        }
    }
}

/// What a file of the output folder holds (indices into the build).
enum Contents {
    Bundle(usize),
    Kustomization,
    Step(usize),
    StepDiff(usize),
    RoutingState(usize),
    RoutingKustomization(usize),
    Teardown,
    Plan,
}

/// The lists of `index.json`.
enum Section {
    Bundles,
    Steps,
    Routing,
    Teardown,
}

/// Documents joined into one YAML stream.
pub fn join_documents<'a, I>(resources: I) -> String
where
    I: IntoIterator<Item = &'a Resource>,
    I::IntoIter: Clone,
{
    let resources = resources.into_iter();
    let size = resources.clone().map(|r| r.text.len() + 4).sum();
    let mut out = String::with_capacity(size);
    for (i, resource) in resources.enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&resource.text);
    }
    out
}

/// `index.json`.
#[derive(Serialize)]
struct Index<'a> {
    scenario: &'a str,
    bundles: Vec<IndexEntry<'a>>,
    kustomization: &'a str,
    steps: Vec<IndexEntry<'a>>,
    routing: Vec<IndexEntry<'a>>,
    teardown: Option<IndexEntry<'a>>,
    plan: &'a str,
}

/// One file in `index.json`.
#[derive(Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kustomization: Option<String>,
    sha256: String,
    resources: Vec<&'a ResourceId>,
}

impl<'a> IndexEntry<'a> {
    fn new(
        name: &'a str,
        file: &'a str,
        diff: Option<&'a str>,
        bytes: &[u8],
        resources: impl IntoIterator<Item = &'a Resource>,
    ) -> Self {
        Self {
            name,
            file,
            diff,
            kustomization: None,
            sha256: hex(&Sha256::digest(bytes)),
            resources: resources.into_iter().map(|r| &r.id).collect(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
