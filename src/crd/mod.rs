//! Validation of rendered documents against CustomResourceDefinitions the user supplies.
//!
//! Owns loading CRD files (`kubectl get crd -o yaml`, Istio's `crd-all.gen.yaml`),
//! converting each served version's OpenAPI v3 structural schema into a JSON Schema,
//! compiling it once, and checking documents (one by one, or every document of a
//! build for `meshgen build --crd-schemas`) against it. It never prints and reads
//! nothing but the files it is given.
//!
//! The check is strict: an object that declares `properties` and does not carry
//! `x-kubernetes-preserve-unknown-fields: true` rejects keys it does not declare, so a
//! typo such as `subsets[0].lables` is reported instead of being silently pruned by the
//! API server. Not checked: CEL rules (`x-kubernetes-validations`: there is no CEL
//! evaluator here), `format` (Kubernetes' format list is not JSON Schema's), list
//! uniqueness (`x-kubernetes-list-type`) and defaulting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::bundle::Build;
use crate::error::CrdError;
use crate::model::Scenario;
use crate::resource::ResourceId;

mod schema;
#[cfg(test)]
mod tests;

/// The compiled schemas of every served version of every loaded CRD.
#[derive(Default)]
pub struct CrdSet {
    /// (group, version, kind) → the file that defined it and its compiled schema.
    entries: BTreeMap<(String, String, String), (PathBuf, Arc<jsonschema::Validator>)>,
}

/// The outcome of checking one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// No loaded CRD serves this apiVersion and kind (core kinds, unknown groups).
    NotCovered,
    /// A CRD covers the document; the list is empty when it is valid.
    Checked(Vec<Violation>),
}

/// One schema violation in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value, e.g. `/spec/subsets/0/lables`.
    pub instance_path: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl CrdSet {
    /// Loads and compiles every CRD in the given files (multi-document YAML or `kind: List`).
    pub fn load(paths: &[PathBuf]) -> Result<CrdSet, CrdError> {
        let mut set = CrdSet::default();
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|error| CrdError::new(path, "cannot be read").caused_by(error))?;
            set.add(path, &text)?;
        }
        Ok(set)
    }

    /// Loads CRDs from text; `name` stands in for the path in errors.
    pub fn load_str(name: &str, text: &str) -> Result<CrdSet, CrdError> {
        let mut set = CrdSet::default();
        set.add(Path::new(name), text)?;
        Ok(set)
    }

    /// Checks one parsed document against the CRD serving its apiVersion and kind.
    pub fn validate(&self, doc: &Value) -> Validation {
        let api_version = doc.get("apiVersion").and_then(Value::as_str);
        let group_version = api_version.and_then(|text| text.split_once('/'));
        let kind = doc.get("kind").and_then(Value::as_str);
        let (Some((group, version)), Some(kind)) = (group_version, kind) else {
            return Validation::NotCovered;
        };
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        let Some((_, validator)) = self.entries.get(&key) else {
            return Validation::NotCovered;
        };
        let mut violations = Vec::new();
        for error in validator.iter_errors(doc) {
            let path = error.instance_path().as_str();
            if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind() {
                // One violation per unknown key, pointing at the key itself.
                violations.extend(unexpected.iter().map(|name| Violation {
                    instance_path: format!("{path}/{}", name.replace('~', "~0").replace('/', "~1")),
                    message: format!("unknown field \"{name}\""),
                }));
            } else {
                let message = error.masked().to_string();
                violations.push(Violation {
                    instance_path: path.to_owned(),
                    message,
                });
            }
        }
        Validation::Checked(violations)
    }

    /// The versions of `group` and `kind` that the loaded CRDs serve, sorted.
    pub fn served_versions(&self, group: &str, kind: &str) -> Vec<&str> {
        self.entries
            .keys()
            .filter(|(g, _, k)| g == group && k == kind)
            .map(|(_, version, _)| version.as_str())
            .collect()
    }

    /// Adds every CRD found in one YAML stream; other kinds of documents are skipped.
    fn add(&mut self, path: &Path, text: &str) -> Result<(), CrdError> {
        // A cluster's `kubectl get crd -o yaml` is one large, deep document: the default
        // budget is sized for configuration files.
        let budget = serde_saphyr::budget! {
            max_depth: 128, max_nodes: 10_000_000, max_events: 40_000_000,
        };
        let options = serde_saphyr::options! { budget: budget };
        let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
            .map_err(|error| CrdError::new(path, "is not valid YAML").caused_by(error))?;
        let mut found = 0;
        for doc in &docs {
            let items = match doc.get("items").and_then(Value::as_array) {
                Some(items) if text_at(doc, "/kind") == Some("List") => items.as_slice(),
                _ => std::slice::from_ref(doc),
            };
            for crd in items {
                if text_at(crd, "/kind") == Some("CustomResourceDefinition") {
                    self.add_crd(path, crd)?;
                    found += 1;
                }
            }
        }
        if found == 0 {
            return Err(CrdError::new(path, "holds no CustomResourceDefinition"));
        }
        Ok(())
    }

    /// Compiles the schema of every served version of one CRD (v1 or v1beta1).
    fn add_crd(&mut self, path: &Path, crd: &Value) -> Result<(), CrdError> {
        let name = text_at(crd, "/metadata/name").unwrap_or("<unnamed>");
        let fault = |message: &str| CrdError::new(path, format!("CRD {name}: {message}"));
        let group = text_at(crd, "/spec/group").ok_or_else(|| fault("no spec.group"))?;
        let kind = text_at(crd, "/spec/names/kind").ok_or_else(|| fault("no spec.names.kind"))?;
        // apiextensions/v1beta1: a schema shared by all versions, `spec.version` if no list.
        let shared = crd.pointer("/spec/validation/openAPIV3Schema");
        let mut versions = Vec::new();
        match crd.pointer("/spec/versions").and_then(Value::as_array) {
            Some(list) => {
                for version in list {
                    let name = text_at(version, "/name").ok_or_else(|| fault("unnamed version"))?;
                    if version.get("served").and_then(Value::as_bool) != Some(false) {
                        versions.push((name, version.pointer("/schema/openAPIV3Schema")));
                    }
                }
            }
            None => {
                let name =
                    text_at(crd, "/spec/version").ok_or_else(|| fault("no spec.versions"))?;
                versions.push((name, None));
            }
        }
        // Versions usually share one schema: compile each distinct one once.
        let mut compiled: Vec<(Value, Arc<jsonschema::Validator>)> = Vec::new();
        for (version, schema) in versions {
            let gvk = format!("{group}/{version} {kind}");
            let schema = schema::root_schema(schema.or(shared));
            let validator = match compiled.iter().find(|(known, _)| *known == schema) {
                Some((_, validator)) => Arc::clone(validator),
                None => {
                    let validator = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(false)
                        .build(&schema)
                        .map_err(|error| {
                            fault(&format!("the schema of {gvk} does not compile: {error}"))
                        })?;
                    let validator = Arc::new(validator);
                    compiled.push((schema, Arc::clone(&validator)));
                    validator
                }
            };
            let key = (group.to_owned(), version.to_owned(), kind.to_owned());
            if let Some((first, _)) = self.entries.get(&key) {
                return Err(fault(&format!(
                    "{gvk} is already defined by {}",
                    first.display()
                )));
            }
            self.entries.insert(key, (path.to_owned(), validator));
        }
        Ok(())
    }
}

/// What checking one build's documents against the loaded CRDs found.
#[derive(Debug, Default)]
pub struct Conformance {
    /// Documents a loaded CRD covers.
    pub checked: usize,
    /// Documents of kinds no loaded CRD defines ("apps/v1 Deployment" → count).
    pub not_covered: BTreeMap<String, usize>,
    /// Every document that does not conform.
    pub findings: Vec<Finding>,
}

/// One document that does not conform to the loaded CRDs.
#[derive(Debug)]
pub struct Finding {
    /// The document's identity.
    pub id: ResourceId,
    /// The template that rendered it.
    pub template: &'static str,
    /// What is wrong.
    pub problem: Problem,
}

/// Why a document does not conform.
#[derive(Debug)]
pub enum Problem {
    /// The CRDs define the kind but do not serve this apiVersion (another Istio release).
    Unserved {
        /// The versions they serve.
        served: Vec<String>,
    },
    /// The document breaks the schema of the version it names.
    Violations(Vec<Violation>),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.id;
        match &self.problem {
            Problem::Unserved { served } => write!(
                f,
                "{id}: {} is not served by the supplied CRDs, which serve {} as {}: \
                 set mesh.version (or mesh.networking_api) to what the cluster runs",
                id.api_version,
                id.kind,
                served.join(", ")
            ),
            Problem::Violations(violations) => {
                write!(
                    f,
                    "{id} (template {}) does not conform to its CRD:",
                    self.template
                )?;
                for v in violations {
                    write!(f, "\n  {}: {}", v.instance_path, v.message)?;
                }
                Ok(())
            }
        }
    }
}

impl Conformance {
    /// Whether a document breaks the schema of a version the CRDs serve.
    pub fn has_violations(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.problem, Problem::Violations(_)))
    }

    /// One line: how many documents were checked and how many failed.
    pub fn summary(&self) -> String {
        let skipped: usize = self.not_covered.values().sum();
        let mut line = format!(
            "{} documents checked against the supplied CRDs, {} do not conform",
            self.checked,
            self.findings.len()
        );
        if skipped > 0 {
            let kinds: Vec<&str> = self.not_covered.keys().map(String::as_str).collect();
            line.push_str(&format!(
                "; {skipped} of kinds they do not define ({})",
                kinds.join(", ")
            ));
        }
        line
    }
}

/// Checks every document a build applies (bundles and steps) against the loaded CRDs.
pub fn check_build(set: &CrdSet, build: &Build, scenario: &Scenario) -> Conformance {
    let mut report = Conformance::default();
    for resource in build.applied() {
        let id = &resource.id;
        match set.validate(&resource.value()) {
            Validation::Checked(violations) => {
                report.checked += 1;
                if !violations.is_empty() {
                    report.findings.push(Finding {
                        id: id.clone(),
                        template: template_of(id, scenario),
                        problem: Problem::Violations(violations),
                    });
                }
            }
            Validation::NotCovered => {
                let group = id.api_version.split_once('/').map_or("", |(g, _)| g);
                let served = set.served_versions(group, &id.kind);
                if served.is_empty() {
                    *report
                        .not_covered
                        .entry(format!("{} {}", id.api_version, id.kind))
                        .or_default() += 1;
                } else {
                    report.checked += 1;
                    report.findings.push(Finding {
                        id: id.clone(),
                        template: template_of(id, scenario),
                        problem: Problem::Unserved {
                            served: served.into_iter().map(str::to_owned).collect(),
                        },
                    });
                }
            }
        }
    }
    report
}

/// The shipped template that renders a resource of this identity.
fn template_of(id: &ResourceId, scenario: &Scenario) -> &'static str {
    match id.kind.as_str() {
        "IstioOperator" => "istiooperator.yaml.j2",
        "Namespace" => "namespace.yaml.j2",
        "ServiceAccount" => "serviceaccount.yaml.j2",
        "Service" => "service.yaml.j2",
        "Deployment" => "deployment.yaml.j2",
        "Gateway" => "gateway.yaml.j2",
        "DestinationRule" => "destinationrule.yaml.j2",
        "VirtualService"
            if scenario
                .gateway
                .as_ref()
                .is_some_and(|g| g.virtual_service == id.name) =>
        {
            "gateway-virtualservice.yaml.j2"
        }
        "VirtualService" => "virtualservice.yaml.j2",
        _ => "(unknown)",
    }
}

/// The string at a JSON pointer, if there is one.
fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}
