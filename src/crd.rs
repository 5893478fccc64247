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
use serde_json::{Map, Value, json};

use crate::bundle::Build;
use crate::error::CrdError;
use crate::model::Scenario;
use crate::resource::ResourceId;

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
            let schema = root_schema(schema.or(shared));
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

/// Converts a CRD's root schema (or its absence) and allows `apiVersion`, `kind`, `metadata`.
fn root_schema(schema: Option<&Value>) -> Value {
    // No schema at all (allowed by v1beta1): the API server keeps anything.
    let default = json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true });
    let mut root = convert(schema.unwrap_or(&default), true);
    add_object_meta(&mut root);
    root
}

/// Declares `apiVersion`, `kind` and `metadata` (any object) on a resource-shaped schema.
fn add_object_meta(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert("apiVersion".into(), json!({ "type": "string" }));
        properties.insert("kind".into(), json!({ "type": "string" }));
        properties.insert("metadata".into(), json!({ "type": "object" }));
    }
}

/// Turns an OpenAPI v3 (Kubernetes structural) schema into a draft-4 JSON Schema.
///
/// OpenAPI 3.0 schema objects are draft-4 style (e.g. boolean `exclusiveMinimum`), so
/// only Kubernetes' extensions need work. `structural` is false inside `allOf`, `anyOf`,
/// `oneOf` and `not`, whose branches only add constraints and so must not close objects.
/// Dropped: `format`, `description`, `x-kubernetes-validations` (CEL, not evaluated).
fn convert(schema: &Value, structural: bool) -> Value {
    let Value::Object(source) = schema else {
        return schema.clone();
    };
    let each = |value: &Value, structural: bool| match value {
        Value::Array(list) => list.iter().map(|item| convert(item, structural)).collect(),
        other => convert(other, structural),
    };
    let mut out = Map::new();
    for (key, value) in source {
        let converted = match (key.as_str(), value) {
            ("format" | "description" | "nullable" | "x-kubernetes-validations", _) => continue,
            // Draft 4 wants `required` non-empty; an empty list requires nothing anyway.
            ("required", Value::Array(names)) if names.is_empty() => continue,
            ("properties" | "patternProperties", Value::Object(children)) => Value::Object(
                children
                    .iter()
                    .map(|(name, child)| (name.clone(), convert(child, structural)))
                    .collect(),
            ),
            ("items" | "additionalProperties", _) => each(value, structural),
            ("allOf" | "anyOf" | "oneOf" | "not", _) => each(value, false),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    let flag = |name: &str| source.get(name).and_then(Value::as_bool) == Some(true);
    if flag("x-kubernetes-int-or-string") {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if flag("nullable") {
        if let Some(Value::String(single)) = out.get("type") {
            let types = json!([single, "null"]);
            out.insert("type".into(), types);
        } else if let Some(Value::Array(types)) = out.get_mut("type") {
            types.push(json!("null"));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    let closes = structural
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && !flag("x-kubernetes-preserve-unknown-fields");
    if closes {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    let mut out = Value::Object(out);
    if flag("x-kubernetes-embedded-resource") {
        add_object_meta(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// The shared folder: `MESHGEN_SHARED_DIR`, else `<manifest dir>/../shared`.
    fn shared_dir() -> PathBuf {
        match std::env::var_os("MESHGEN_SHARED_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        }
    }

    /// Loads a CRD file from the shared schemas, or `None` (with a note) when
    /// absent; a failure instead when `MESHGEN_REQUIRE_SHARED` is set (CI).
    /// The tests that call it are ignored when the folder was absent at build
    /// time (build.rs), so a missing folder shows in the test summary.
    fn load_shared(relative: &str) -> Option<CrdSet> {
        let path = shared_dir().join("schemas/istio").join(relative);
        if !path.is_file() {
            assert!(
                std::env::var_os("MESHGEN_REQUIRE_SHARED").is_none(),
                "MESHGEN_REQUIRE_SHARED is set but {} is not there",
                path.display()
            );
            eprintln!("skipping: {} not found", path.display());
            return None;
        }
        match CrdSet::load(&[path]) {
            Ok(set) => Some(set),
            Err(error) => panic!("{error}: {:?}", error.source()),
        }
    }

    fn yaml(text: &str) -> Value {
        match serde_saphyr::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("bad test YAML: {error}"),
        }
    }

    /// The document with its `apiVersion` replaced.
    fn with_version(doc: &Value, api_version: &str) -> Value {
        let mut doc = doc.clone();
        doc["apiVersion"] = json!(api_version);
        doc
    }

    const REVIEWS: &str = "
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo, labels: {app: reviews}}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
";
    const FAULT: &str = "
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percentage: {value: 100.0}
        fixedDelay: 7s
      abort:
        percentage: {value: 100.0}
        httpStatus: 500
    route:
    - destination: {host: ratings, subset: v1}
";
    const SPLIT: &str = "
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [bookinfo-gateway, mesh]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 50
    - destination: {host: reviews, subset: v3}
      weight: 50
";
    const RULE: &str = "
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool:
      tcp: {maxConnections: 100}
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: LEAST_CONN}
";
    const GATEWAY: &str = "
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
";
    const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec: {replicas: 1}
";

    fn valid_docs() -> Vec<Value> {
        [REVIEWS, FAULT, SPLIT, RULE, GATEWAY]
            .into_iter()
            .map(yaml)
            .collect()
    }

    fn assert_valid(set: &CrdSet, doc: &Value) {
        assert_eq!(
            set.validate(doc),
            Validation::Checked(Vec::new()),
            "{doc:#}"
        );
    }

    #[test]
    #[cfg_attr(
        meshgen_no_shared,
        ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
    )]
    fn bookinfo_documents_are_valid_under_1_5_1() {
        let Some(set) = load_shared("1.5.1/crd-all.gen.yaml") else {
            return;
        };
        for doc in valid_docs() {
            assert_valid(&set, &doc);
            assert_valid(&set, &with_version(&doc, "networking.istio.io/v1beta1"));
            let v1 = with_version(&doc, "networking.istio.io/v1");
            assert_eq!(set.validate(&v1), Validation::NotCovered);
        }
    }

    #[test]
    #[cfg_attr(
        meshgen_no_shared,
        ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
    )]
    fn bookinfo_documents_are_valid_under_1_30_3() {
        let Some(set) = load_shared("1.30.3/crd-all.gen.yaml") else {
            return;
        };
        for doc in valid_docs() {
            for version in ["v1alpha3", "v1beta1", "v1"] {
                assert_valid(
                    &set,
                    &with_version(&doc, &format!("networking.istio.io/{version}")),
                );
            }
        }
    }

    #[test]
    #[cfg_attr(
        meshgen_no_shared,
        ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
    )]
    fn typos_and_wrong_types_are_reported_with_pointers() {
        let mut typo = yaml(RULE);
        typo["spec"]["subsets"][0] = json!({"name": "v1", "lables": {"version": "v1"}});
        let mut wrong_type = yaml(SPLIT);
        wrong_type["spec"]["http"][0]["route"][0]["weight"] = json!("fifty");
        let cases = [
            (&typo, "/spec/subsets/0/lables", "unknown field"),
            (&wrong_type, "/spec/http/0/route/0/weight", "integer"),
        ];
        for release in ["1.5.1", "1.30.3"] {
            let Some(set) = load_shared(&format!("{release}/crd-all.gen.yaml")) else {
                return;
            };
            for (doc, pointer, words) in cases {
                let Validation::Checked(violations) = set.validate(doc) else {
                    panic!("{release}: not covered");
                };
                assert!(
                    violations
                        .iter()
                        .any(|v| v.instance_path == pointer && v.message.contains(words)),
                    "{release}: expected {pointer} ({words}), got {violations:#?}"
                );
            }
        }
    }

    #[test]
    #[cfg_attr(
        meshgen_no_shared,
        ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
    )]
    fn core_kinds_are_not_covered() {
        let Some(set) = load_shared("1.30.3/crd-all.gen.yaml") else {
            return;
        };
        assert_eq!(set.validate(&yaml(DEPLOYMENT)), Validation::NotCovered);
        assert_eq!(
            set.validate(&json!({"kind": "Gateway"})),
            Validation::NotCovered
        );
    }

    #[test]
    #[cfg_attr(
        meshgen_no_shared,
        ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
    )]
    fn istio_operator_crds_accept_any_spec() {
        let doc = yaml(
            "
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: control-plane, namespace: istio-system}
spec:
  profile: demo
  meshConfig: {accessLogFile: /dev/stdout}
  values: {global: {proxy: {autoInject: enabled}}}
",
        );
        for file in ["crd-operator.1.5.1.yaml", "crd-operator.1.23.6.yaml"] {
            let Some(set) = load_shared(&format!("istiooperator/{file}")) else {
                return;
            };
            assert_valid(&set, &doc);
        }
    }

    #[test]
    fn openapi_extensions_are_converted() {
        let crd = "
apiVersion: v1
kind: List
items:
- apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata: {name: widgets.example.com}
  spec:
    group: example.com
    names: {kind: Widget}
    versions:
    - name: v1
      served: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-validations: [{rule: 'self.size > 0'}]
              properties:
                size: {type: integer, format: int32, nullable: true, minimum: 1}
                port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
                created: {type: string, format: not-a-real-format}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
    - name: v0
      served: false
";
        let set = match CrdSet::load_str("widgets.yaml", crd) {
            Ok(set) => set,
            Err(error) => panic!("{error}"),
        };
        let good = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": null, "port": "http", "created": "today", "extra": {"any": [1]}}});
        assert_valid(&set, &good);
        let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "spec": {"size": 0, "port": 1.5, "sise": 1}});
        let Validation::Checked(violations) = set.validate(&bad) else {
            panic!("not covered")
        };
        let mut paths: Vec<&str> = violations
            .iter()
            .map(|v| v.instance_path.as_str())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths, ["/spec/port", "/spec/sise", "/spec/size"]);
        let v0 = json!({"apiVersion": "example.com/v0", "kind": "Widget"});
        assert_eq!(set.validate(&v0), Validation::NotCovered);
    }

    #[test]
    fn bad_files_are_errors_with_the_path() {
        let widget = "
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, version: v1, names: {kind: Widget}}
";
        let cases = [
            ("a: [".to_owned(), "is not valid YAML", true),
            (
                "kind: ConfigMap".to_owned(),
                "holds no CustomResourceDefinition",
                false,
            ),
            (
                "kind: CustomResourceDefinition".to_owned(),
                "no spec.group",
                false,
            ),
            (
                format!("{widget}---{widget}"),
                "example.com/v1 Widget is already defined by bad.yaml",
                false,
            ),
        ];
        for (text, words, has_source) in cases {
            match CrdSet::load_str("bad.yaml", &text) {
                Ok(_) => panic!("{text:?} loaded"),
                Err(error) => {
                    assert_eq!(error.path(), Path::new("bad.yaml"));
                    assert!(error.to_string().contains(words), "{error}");
                    assert_eq!(error.source().is_some(), has_source, "{error}");
                }
            }
        }
        match CrdSet::load(&[PathBuf::from("/nonexistent/crds.yaml")]) {
            Ok(_) => panic!("a missing file loaded"),
            Err(error) => assert!(error.source().is_some(), "{error}"),
        }
    }

    #[test]
    fn v1beta1_without_schema_accepts_anything() {
        let crd = "
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, version: v1, names: {kind: Widget}}
";
        let set = match CrdSet::load_str("widget.yaml", crd) {
            Ok(set) => set,
            Err(error) => panic!("{error}"),
        };
        let doc =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"x": 1}, "y": 2});
        assert_valid(&set, &doc);
    }
}
