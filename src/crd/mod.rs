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
//! API server. The CEL rules (`x-kubernetes-validations`) are evaluated too, as the API
//! server would on create (`cel.rs`; transition rules, which read `oldSelf`, are not);
//! a rule the evaluator cannot run is reported by `CrdSet::unevaluable`, never silently
//! passed. Not checked: `format` (Kubernetes' format list is not JSON Schema's), list
//! uniqueness (`x-kubernetes-list-type`) and defaulting (the defaults are applied only
//! for the CEL rules, which the API server runs on the defaulted object).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::bundle::Build;
use crate::error::CrdError;
use crate::model::{Scenario, WAYPOINT_NAME};
use crate::resource::ResourceId;

mod cel;
mod schema;

pub use cel::Unevaluable;
#[cfg(test)]
mod tests;

/// The compiled schemas and CEL rules of every served version of every loaded CRD.
pub struct CrdSet {
    /// (group, version, kind) → the file that defined it, its schema and its rules.
    entries: BTreeMap<(String, String, String), Entry>,
    /// Evaluates the CEL rules (holds the Kubernetes CEL libraries).
    evaluator: kube_cel::Validator,
    /// Compiles the CEL rules; keeps the count of rules and those set aside.
    compiler: cel::Compiler,
}

/// What checks the documents of one served version.
struct Entry {
    /// The CRD file that defined it.
    path: PathBuf,
    /// Its structural schema, as a JSON Schema.
    schema: Arc<jsonschema::Validator>,
    /// Its CEL rules.
    rules: Arc<cel::Rules>,
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
    /// What is wrong, in one line (for a CEL rule, its message).
    pub message: String,
    /// The CEL rule that failed, if a rule found it.
    pub rule: Option<String>,
    /// The failed CEL rule's `reason` (e.g. `FieldValueInvalid`), if it gives one.
    pub reason: Option<String>,
}

/// The message the API server gives when type errors keep it from running CEL rules.
const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object \
                                 was invalid; correct the existing errors to complete validation";

impl CrdSet {
    /// Loads and compiles every CRD in the given files (multi-document YAML or `kind: List`).
    pub fn load(paths: &[PathBuf]) -> Result<CrdSet, CrdError> {
        let mut set = CrdSet::new();
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|error| CrdError::new(path, "cannot be read").caused_by(error))?;
            set.add(path, &text)?;
        }
        Ok(set)
    }

    /// Loads CRDs from text; `name` stands in for the path in errors.
    pub fn load_str(name: &str, text: &str) -> Result<CrdSet, CrdError> {
        let mut set = CrdSet::new();
        set.add(Path::new(name), text)?;
        Ok(set)
    }

    /// An empty set.
    fn new() -> CrdSet {
        CrdSet {
            entries: BTreeMap::new(),
            evaluator: kube_cel::Validator::new(),
            compiler: cel::Compiler::new(),
        }
    }

    /// How many CEL rules the loaded CRDs hold that are evaluated (a schema shared by
    /// several versions counts once).
    pub fn cel_rules(&self) -> usize {
        self.compiler.evaluable
    }

    /// The CEL rules of the loaded CRDs that cannot be evaluated here, and so are not
    /// checked; empty for Istio's and Gateway API's CRDs.
    pub fn unevaluable(&self) -> &[Unevaluable] {
        &self.compiler.unevaluable
    }

    /// Checks one parsed document against the CRD serving its apiVersion and kind:
    /// its schema, then its CEL rules unless a type error keeps the API server from
    /// running them.
    pub fn validate(&self, doc: &Value) -> Validation {
        let api_version = doc.get("apiVersion").and_then(Value::as_str);
        let group_version = api_version.and_then(|text| text.split_once('/'));
        let kind = doc.get("kind").and_then(Value::as_str);
        let (Some((group, version)), Some(kind)) = (group_version, kind) else {
            return Validation::NotCovered;
        };
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        let Some(entry) = self.entries.get(&key) else {
            return Validation::NotCovered;
        };
        let mut violations = Vec::new();
        let mut blocking = false;
        for error in entry.schema.iter_errors(doc) {
            let path = error.instance_path().as_str();
            let violation = |instance_path: String, message: String| Violation {
                instance_path,
                message,
                rule: None,
                reason: None,
            };
            match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    // One violation per unknown key, pointing at the key itself.
                    violations.extend(unexpected.iter().map(|name| {
                        let key = name.replace('~', "~0").replace('/', "~1");
                        violation(format!("{path}/{key}"), format!("unknown field \"{name}\""))
                    }));
                }
                kind => {
                    // The API server's "Invalid type" and "Unsupported value".
                    blocking |= matches!(
                        kind,
                        ValidationErrorKind::Type { .. } | ValidationErrorKind::Enum { .. }
                    );
                    violations.push(violation(path.to_owned(), error.masked().to_string()));
                }
            }
        }
        if blocking {
            violations.push(Violation {
                instance_path: String::new(),
                message: RULES_NOT_CHECKED.to_owned(),
                rule: None,
                reason: None,
            });
        } else {
            violations.extend(cel::evaluate(&self.evaluator, &entry.rules, doc));
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
        type Compiled = (Arc<jsonschema::Validator>, Arc<cel::Rules>);
        let mut compiled: Vec<(Option<&Value>, Compiled)> = Vec::new();
        for (version, source) in versions {
            let gvk = format!("{group}/{version} {kind}");
            let source = source.or(shared);
            let (validator, rules) = match compiled.iter().find(|(known, _)| *known == source) {
                Some((_, (validator, rules))) => (Arc::clone(validator), Arc::clone(rules)),
                None => {
                    let validator = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(false)
                        .build(&schema::root_schema(source))
                        .map_err(|error| {
                            fault(&format!("the schema of {gvk} does not compile: {error}"))
                        })?;
                    let api_version = format!("{group}/{version}");
                    let rules = self.compiler.compile(source, &api_version, kind);
                    let pair = (Arc::new(validator), Arc::new(rules));
                    compiled.push((source, (Arc::clone(&pair.0), Arc::clone(&pair.1))));
                    pair
                }
            };
            let key = (group.to_owned(), version.to_owned(), kind.to_owned());
            if let Some(first) = self.entries.get(&key) {
                return Err(fault(&format!(
                    "{gvk} is already defined by {}",
                    first.path.display()
                )));
            }
            let entry = Entry {
                path: path.to_owned(),
                schema: validator,
                rules,
            };
            self.entries.insert(key, entry);
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
                id.api_version(),
                id.kind(),
                served.join(", ")
            ),
            Problem::Violations(violations) => {
                write!(
                    f,
                    "{id} (template {}) does not conform to its CRD:",
                    self.template
                )?;
                for v in violations {
                    let path = if v.instance_path.is_empty() {
                        "/"
                    } else {
                        &v.instance_path
                    };
                    write!(f, "\n  {path}: {}", v.message)?;
                    if let Some(reason) = &v.reason {
                        write!(f, " ({reason})")?;
                    }
                    if let Some(rule) = &v.rule {
                        // Rules span lines in the CRDs: one line here.
                        let rule: Vec<&str> = rule.split_whitespace().collect();
                        write!(f, "\n    CEL rule: {}", rule.join(" "))?;
                    }
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
                let group = id.api_version().split_once('/').map_or("", |(g, _)| g);
                let served = set.served_versions(group, id.kind());
                if served.is_empty() {
                    *report
                        .not_covered
                        .entry(format!("{} {}", id.api_version(), id.kind()))
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
    let gateway = scenario.gateway.as_ref();
    let gateway_routes = |name: &str| gateway.is_some_and(|g| g.virtual_service == name);
    let gateway_api = id.api_version().starts_with("gateway.networking.k8s.io/");
    match id.kind() {
        "IstioOperator" => "istiooperator.yaml.j2",
        "Namespace" => "namespace.yaml.j2",
        "ServiceAccount" => "serviceaccount.yaml.j2",
        "Service" if scenario.service(&id.name).is_some() => "service.yaml.j2",
        "Service" => "version-service.yaml.j2",
        "Deployment" => "deployment.yaml.j2",
        "Gateway" if gateway_api && id.name == WAYPOINT_NAME => "waypoint.yaml.j2",
        "Gateway" if gateway_api => "ingress-gateway.yaml.j2",
        "Gateway" => "gateway.yaml.j2",
        "HTTPRoute" if gateway_routes(&id.name) => "ingress-httproute.yaml.j2",
        "HTTPRoute" if gateway.is_some_and(|g| g.redirect_route() == id.name) => {
            "ingress-redirect.yaml.j2"
        }
        "HTTPRoute" => "httproute.yaml.j2",
        "DestinationRule" => "destinationrule.yaml.j2",
        "VirtualService" if gateway_routes(&id.name) => "gateway-virtualservice.yaml.j2",
        "VirtualService" => "virtualservice.yaml.j2",
        "PeerAuthentication" => "peerauthentication.yaml.j2",
        "AuthorizationPolicy" => "authorizationpolicy.yaml.j2",
        _ => "(unknown)",
    }
}

/// The string at a JSON pointer, if there is one.
fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}
