//! Bundles: the rendered resources ordered for apply (mesh, namespace,
//! workloads, gateway, DestinationRules), the steps folded into routing states,
//! the teardown in reverse order, and the file layout of an output folder
//! (with `index.json`). Owns no rendering of YAML and no writing of files.

use std::io::{BufWriter, Write};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::diff;
use crate::error::Error;
use crate::gitops::{self, KUSTOMIZATION_FILE, ROUTING_STATE_FILE};
use crate::model::Scenario;
use crate::output::{self, Files, Put};
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
        let lookup = |at: Option<(usize, usize)>| {
            at.map(|(s, i)| {
                if s == k {
                    resources[i].text.as_str()
                } else {
                    folded[s].resources[i].text.as_str()
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
                    id: &resource.id,
                    before: lookup(before),
                    after: Some(&resource.text),
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
    render::render_deletes(renderer, &reversed)
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

    /// Every file of the output folder, by relative path, in a fixed order.
    pub fn files(&self, scenario: &Scenario) -> Files {
        let mut files = Files::new();
        // Collecting into memory cannot fail.
        let _ = self.emit_files(scenario, &mut |name, fill| {
            files.push((name.to_owned(), output::collect(fill)));
            Ok(())
        });
        files
    }

    /// Hands every file of the output folder to `put`, one at a time and in
    /// the order of `files`, so a writer need not hold the whole folder.
    /// `PLAN.md` is laid out on a thread of its own meanwhile: it reads the
    /// build but no other file, and is the longest to lay out.
    pub fn emit_files(&self, scenario: &Scenario, put: &mut Put<'_>) -> Result<(), Error> {
        std::thread::scope(|threads| {
            let plan = threads.spawn(|| plan::plan(scenario, self));
            // Per step: its routing state file and that folder's kustomization.
            let routing_files: Vec<(String, String)> = self
                .steps
                .iter()
                .map(|s| {
                    (
                        format!("{}/{ROUTING_STATE_FILE}", s.routing_dir),
                        format!("{}/{KUSTOMIZATION_FILE}", s.routing_dir),
                    )
                })
                .collect();
            let index = self.emit_all_but_plan(put, &routing_files)?;
            let plan = plan
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            put_text(put, PLAN_FILE, &plan)?;
            put(INDEX_FILE, &mut |out| {
                // serde_json writes token by token: a concrete buffer in
                // front of the file's keeps those writes inlined.
                let mut out = BufWriter::new(out);
                index.serialize(&mut serde_json::Serializer::with_formatter(
                    &mut out,
                    IndexLayout::default(),
                ))?;
                out.write_all(b"\n")?;
                out.flush()
            })
        })
    }

    /// Hands every file but `PLAN.md` and `index.json` to `put`, in the order
    /// of `files`, and returns the index of those files. `routing_files`
    /// holds each step's routing state file and its kustomization.
    fn emit_all_but_plan<'a>(
        &'a self,
        put: &mut Put<'_>,
        routing_files: &'a [(String, String)],
    ) -> Result<Index<'a>, Error> {
        let mut index = Index {
            scenario: &self.name,
            bundles: Vec::new(),
            kustomization: KUSTOMIZATION_FILE,
            steps: Vec::new(),
            routing: Vec::new(),
            teardown: None,
            plan: PLAN_FILE,
        };
        for bundle in &self.bundles {
            let sha256 = put_documents(put, &bundle.file, &bundle.resources)?;
            index.bundles.push(IndexEntry::new(
                bundle.name,
                &bundle.file,
                None,
                sha256,
                &bundle.resources,
            ));
        }
        put_text(put, KUSTOMIZATION_FILE, &self.kustomization())?;
        for step in &self.steps {
            let sha256 = put_documents(put, &step.file, &step.resources)?;
            index.steps.push(IndexEntry::new(
                &step.name,
                &step.file,
                Some(&step.diff_file),
                sha256,
                &step.resources,
            ));
            put_text(put, &step.diff_file, &step.diff)?;
        }
        for (k, (step, (state_file, kustomization_file))) in
            self.steps.iter().zip(routing_files).enumerate()
        {
            let state = self.state(k);
            let sha256 = put_documents(put, state_file, state.iter().copied())?;
            let mut entry = IndexEntry::new(&step.name, state_file, None, sha256, state);
            entry.kustomization = Some(kustomization_file);
            index.routing.push(entry);
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
            put_text(
                put,
                kustomization_file,
                &gitops::kustomization(&comment, &[ROUTING_STATE_FILE]),
            )?;
        }
        let sha256 = put_documents(put, TEARDOWN_FILE, &self.teardown)?;
        index.teardown = Some(IndexEntry::new(
            "teardown",
            TEARDOWN_FILE,
            None,
            sha256,
            &self.teardown,
        ));
        Ok(index)
    }
}

/// The pieces of one YAML stream of `resources`: each document, with a `---`
/// line between two.
fn stream<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> impl Iterator<Item = &'a str> {
    resources.into_iter().enumerate().flat_map(|(i, resource)| {
        [(i > 0).then_some("---\n"), Some(resource.text.as_str())]
            .into_iter()
            .flatten()
    })
}

/// Documents joined into one YAML stream.
pub fn join_documents<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> String {
    stream(resources).collect()
}

/// Hands `put` the file `name` holding the YAML stream of `resources`, and
/// returns the SHA-256 of its bytes (hex), taken as they are written.
fn put_documents<'a>(
    put: &mut Put<'_>,
    name: &str,
    resources: impl IntoIterator<Item = &'a Resource> + Clone,
) -> Result<String, Error> {
    let mut digest = Sha256::new();
    put(name, &mut |out| {
        digest = Sha256::new();
        stream(resources.clone()).try_for_each(|piece| {
            digest.update(piece);
            out.write_all(piece.as_bytes())
        })
    })?;
    Ok(hex(&digest.finalize()))
}

/// Hands `put` the file `name` holding `text`.
fn put_text(put: &mut Put<'_>, name: &str, text: &str) -> Result<(), Error> {
    put(name, &mut |out| out.write_all(text.as_bytes()))
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

/// How `index.json` is laid out: indented by two spaces like
/// `serde_json::to_writer_pretty`, except that each resource (an object
/// [`RESOURCE_DEPTH`] containers deep) takes one line: a `grep` shows a
/// resource's whole identity, and the file is a fifth shorter at scale.
#[derive(Default)]
struct IndexLayout {
    /// How many objects and arrays are open.
    depth: usize,
    /// Whether the innermost open container has a value yet.
    has_value: bool,
}

/// Depth of the resource objects in `index.json`: the top level, a list of
/// files, a file, its `resources`, a resource.
const RESOURCE_DEPTH: usize = 5;

impl IndexLayout {
    fn inline(&self) -> bool {
        self.depth >= RESOURCE_DEPTH
    }

    fn open<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        let inline = self.inline();
        self.depth -= 1;
        if self.has_value && !inline {
            self.new_line(out)?;
        }
        out.write_all(bracket)
    }

    /// Before an array value or an object key.
    fn item<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            out.write_all(b",")?;
        }
        if !self.inline() {
            self.new_line(out)
        } else if !first {
            out.write_all(b" ")
        } else {
            Ok(())
        }
    }

    fn new_line<W: ?Sized + Write>(&self, out: &mut W) -> std::io::Result<()> {
        out.write_all(b"\n")?;
        (0..self.depth).try_for_each(|_| out.write_all(b"  "))
    }
}

impl serde_json::ser::Formatter for IndexLayout {
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.open(out, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.close(out, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.open(out, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.close(out, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(out, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        out.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// One file in `index.json`.
#[derive(Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kustomization: Option<&'a str>,
    sha256: String,
    resources: Vec<&'a ResourceId>,
}

impl<'a> IndexEntry<'a> {
    fn new(
        name: &'a str,
        file: &'a str,
        diff: Option<&'a str>,
        sha256: String,
        resources: impl IntoIterator<Item = &'a Resource>,
    ) -> Self {
        Self {
            name,
            file,
            diff,
            kustomization: None,
            sha256,
            resources: resources.into_iter().map(|r| &r.id).collect(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laid_out(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        value
            .serialize(&mut serde_json::Serializer::with_formatter(
                &mut out,
                IndexLayout::default(),
            ))
            .expect("serialize");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn index_layout_puts_each_resource_on_one_line_and_indents_the_rest() {
        // Keys in sorted order: the same text whether or not serde_json keeps
        // insertion order.
        let index = serde_json::json!({
            "bundles": [
                {
                    "file": "a.yaml",
                    "resources": [
                        {"apiVersion": "v1", "kind": "Service", "name": "x"},
                        {"apiVersion": "v1", "kind": "Namespace", "name": "n"}
                    ]
                },
                {"file": "b.yaml", "resources": []}
            ],
            "scenario": "s",
            "teardown": null
        });
        let text = laid_out(&index);
        assert_eq!(
            text,
            r#"{
  "bundles": [
    {
      "file": "a.yaml",
      "resources": [
        {"apiVersion": "v1", "kind": "Service", "name": "x"},
        {"apiVersion": "v1", "kind": "Namespace", "name": "n"}
      ]
    },
    {
      "file": "b.yaml",
      "resources": []
    }
  ],
  "scenario": "s",
  "teardown": null
}"#
        );
        let read: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(read, index);
    }
}
