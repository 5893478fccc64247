//! Unit tests of the CRD check: loading, the strict schema conversion, and the
//! Istio CRDs of the shared folder.

use std::error::Error as _;

use serde_json::json;

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
              x-kubernetes-validations: [{rule: \"self.created != 'yesterday'\"}]
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
    // The type errors keep the CEL rules from running (reported at the root).
    assert_eq!(paths, ["", "/spec/port", "/spec/sise", "/spec/size"]);
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
    let doc = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"x": 1}, "y": 2});
    assert_valid(&set, &doc);
}
