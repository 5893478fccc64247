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

/// Loads CRD files from the shared schemas (paths relative to `schemas/`), or
/// `None` (with a note) when one is absent; a failure instead when
/// `MESHGEN_REQUIRE_SHARED` is set (CI). The tests that call it are ignored
/// when the folder was absent at build time (build.rs), so a missing folder
/// shows in the test summary.
fn load_schemas(relative: &[&str]) -> Option<CrdSet> {
    let schemas = shared_dir().join("schemas");
    let paths: Vec<PathBuf> = relative.iter().map(|file| schemas.join(file)).collect();
    if let Some(path) = paths.iter().find(|path| !path.is_file()) {
        assert!(
            std::env::var_os("MESHGEN_REQUIRE_SHARED").is_none(),
            "MESHGEN_REQUIRE_SHARED is set but {} is not there",
            path.display()
        );
        eprintln!("skipping: {} not found", path.display());
        return None;
    }
    match CrdSet::load(&paths) {
        Ok(set) => Some(set),
        Err(error) => panic!("{error}: {:?}", error.source()),
    }
}

/// Loads one CRD file of Istio's from the shared schemas (see `load_schemas`).
fn load_shared(relative: &str) -> Option<CrdSet> {
    load_schemas(&[&format!("istio/{relative}")])
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

const GATEWAY_API_STANDARD: &str = "gateway-api/v1.5.1/standard-crds.yaml";
const GATEWAY_API_EXPERIMENTAL: &str = "gateway-api/v1.5.1/experimental-crds.yaml";

/// A Gateway API Gateway, Bookinfo's.
const GATEWAY_API_GATEWAY: &str = "
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: bookinfo}
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces: {from: Same}
";

/// Bookinfo's reviews split as a Gateway API HTTPRoute bound to the Service (GAMMA).
const HTTP_ROUTE: &str = "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo}
spec:
  parentRefs:
  - group: ''
    kind: Service
    name: reviews
    port: 9080
  rules:
  - matches:
    - path: {type: PathPrefix, value: /reviews}
    backendRefs:
    - name: reviews-v1
      port: 9080
      weight: 90
    - name: reviews-v2
      port: 9080
      weight: 10
";

/// The violations of a document a loaded CRD covers.
fn violations(set: &CrdSet, doc: &Value) -> Vec<Violation> {
    match set.validate(doc) {
        Validation::Checked(violations) => violations,
        Validation::NotCovered => panic!("not covered: {doc:#}"),
    }
}

/// Asserts that the document breaks exactly one rule: at `pointer`, with `message`.
fn assert_breaks(set: &CrdSet, doc: &Value, pointer: &str, message: &str) {
    let found = violations(set, doc);
    let expected = (pointer, message);
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|v| (v.instance_path.as_str(), v.message.as_str()))
        .collect();
    assert_eq!(got, [expected], "{found:#?}");
    assert!(found[0].rule.is_some(), "{found:#?}");
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn every_cel_rule_of_the_istio_and_gateway_api_crds_compiles() {
    // (files, rules evaluated): a schema shared by several versions counts once.
    let cases: [(&[&str], usize); 4] = [
        (&[GATEWAY_API_STANDARD], STANDARD_RULES),
        (&[GATEWAY_API_EXPERIMENTAL], EXPERIMENTAL_RULES),
        (&["istio/1.30.3/crd-all.gen.yaml"], ISTIO_1_30_RULES),
        (&["istio/1.5.1/crd-all.gen.yaml"], 0),
    ];
    for (files, rules) in cases {
        let Some(set) = load_schemas(files) else {
            return;
        };
        assert_eq!(set.unevaluable(), [], "{files:?}");
        assert_eq!(set.cel_rules(), rules, "{files:?}");
    }
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn gateway_api_crds_serve_their_kinds_strictly() {
    for file in [GATEWAY_API_STANDARD, GATEWAY_API_EXPERIMENTAL] {
        let Some(set) = load_schemas(&[file]) else {
            return;
        };
        assert_eq!(
            set.served_versions("gateway.networking.k8s.io", "HTTPRoute"),
            ["v1", "v1beta1"]
        );
        assert_eq!(
            set.served_versions("gateway.networking.k8s.io", "Gateway"),
            ["v1", "v1beta1"]
        );
        assert_valid(&set, &yaml(GATEWAY_API_GATEWAY));
        assert_valid(&set, &yaml(HTTP_ROUTE));
        let mut typo = yaml(HTTP_ROUTE);
        typo["spec"]["rules"][0]["backendRefs"][0]["wieght"] = json!(1);
        let found = violations(&set, &typo);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].instance_path, "/spec/rules/0/backendRefs/0/wieght");
    }
    // HTTPRoute `retry` is a field of the experimental channel only.
    let (Some(standard), Some(experimental)) = (
        load_schemas(&[GATEWAY_API_STANDARD]),
        load_schemas(&[GATEWAY_API_EXPERIMENTAL]),
    ) else {
        return;
    };
    let mut retry = yaml(HTTP_ROUTE);
    retry["spec"]["rules"][0]["retry"] = json!({"attempts": 2});
    assert_valid(&experimental, &retry);
    let found = violations(&standard, &retry);
    assert_eq!(found[0].message, "unknown field \"retry\"", "{found:#?}");
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn gateway_api_documents_that_break_a_cel_rule_name_its_message() {
    let Some(set) = load_schemas(&[GATEWAY_API_STANDARD]) else {
        return;
    };
    let mut relative = yaml(HTTP_ROUTE);
    relative["spec"]["rules"][0]["matches"][0]["path"]["value"] = json!("reviews");
    assert_breaks(
        &set,
        &relative,
        "/spec/rules/0/matches/0/path",
        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
    );
    let mut twice = yaml(HTTP_ROUTE);
    let filter = json!({"type": "RequestHeaderModifier",
        "requestHeaderModifier": {"set": [{"name": "x-canary", "value": "1"}]}});
    twice["spec"]["rules"][0]["filters"] = json!([filter, filter]);
    assert_breaks(
        &set,
        &twice,
        "/spec/rules/0/filters",
        "RequestHeaderModifier filter cannot be repeated",
    );
    let mut duplicate = yaml(GATEWAY_API_GATEWAY);
    let listener = duplicate["spec"]["listeners"][0].clone();
    let mut other_port = listener.clone();
    other_port["port"] = json!(8080);
    duplicate["spec"]["listeners"] = json!([listener, other_port]);
    assert_breaks(
        &set,
        &duplicate,
        "/spec/listeners",
        "Listener name must be unique within the Gateway",
    );
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn istio_documents_that_break_a_cel_rule_name_its_message() {
    let Some(set) = load_shared("1.30.3/crd-all.gen.yaml") else {
        return;
    };
    let mut instant = yaml(RULE);
    instant["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["connectTimeout"] = json!("0s");
    assert_breaks(
        &set,
        &instant,
        "/spec/trafficPolicy/connectionPool/tcp/connectTimeout",
        "must be a valid duration greater than 1ms",
    );
    let ports = yaml(
        "
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews}
spec:
  mtls: {mode: STRICT}
  portLevelMtls:
    '9080': {mode: PERMISSIVE}
",
    );
    assert_breaks(&set, &ports, "/spec", "portLevelMtls requires selector");
    let mut selected = ports.clone();
    selected["spec"]["selector"] = json!({"matchLabels": {"app": "reviews"}});
    assert_valid(&set, &selected);
    selected["spec"]["selector"]["matchLabels"]["app"] = json!("rev*");
    assert_breaks(
        &set,
        &selected,
        "/spec/selector/matchLabels/app",
        "wildcard not allowed in label value match",
    );
}

/// A CRD of our own, to test what the shipped CRDs do not use.
const WIDGET: &str = "
apiVersion: apiextensions.k8s.io/v1
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
            x-kubernetes-validations:
            - rule: self.replicas <= 5
              messageExpression: \"'replicas ' + string(self.replicas) + ' is more than 5'\"
              reason: FieldValueForbidden
              fieldPath: .replicas
            - rule: self.replicas == oldSelf.replicas
              message: replicas cannot change
            properties:
              replicas: {type: integer, default: 1}
              mode: {type: string, default: fast, x-kubernetes-validations: [{rule: self != 'slow'}]}
              ports:
                type: array
                items:
                  type: integer
                  x-kubernetes-validations: [{rule: self > 1024, message: ports below 1024 need root}]
              labels:
                type: object
                additionalProperties:
                  type: string
                  x-kubernetes-validations: [{rule: self.size() <= 3, message: too long}]
              absent:
                type: string
                x-kubernetes-validations: [{rule: 'false', message: never evaluated}]
";

#[test]
fn cel_rules_give_their_message_expression_reason_and_field_path() {
    let set = match CrdSet::load_str("widgets.yaml", WIDGET) {
        Ok(set) => set,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(set.cel_rules(), 6);
    let widget =
        |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": spec});
    // The transition rule (oldSelf) is skipped; `absent` is not there, so not evaluated.
    assert_valid(
        &set,
        &widget(json!({"replicas": 2, "ports": [8080], "labels": {"a": "b"}})),
    );
    // Defaults are applied before the rules run: `mode` defaults to `fast`, valid.
    assert_valid(&set, &widget(json!({})));
    let found = violations(
        &set,
        &widget(
            json!({"replicas": 7, "mode": "slow", "ports": [8080, 80], "labels": {"a.b/c": "long"}}),
        ),
    );
    let got: Vec<(&str, &str, Option<&str>)> = found
        .iter()
        .map(|v| {
            (
                v.instance_path.as_str(),
                v.message.as_str(),
                v.reason.as_deref(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            "/spec/replicas",
            "replicas 7 is more than 5",
            Some("FieldValueForbidden"),
        ),
        ("/spec/mode", "failed rule: self != 'slow'", None),
        ("/spec/ports/1", "ports below 1024 need root", None),
        ("/spec/labels/a.b~1c", "too long", None),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got_sorted, expected, "{found:#?}");
    // A type error keeps the rules from running, as in the API server.
    let found = violations(&set, &widget(json!({"replicas": "seven"})));
    let messages: Vec<&str> = found.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{found:#?}");
    assert_eq!(messages[1], RULES_NOT_CHECKED);
}

#[test]
fn a_failed_cel_rule_is_shown_with_its_message_reason_and_rule() {
    let finding = Finding {
        id: ResourceId::cluster("example.com/v1", "Widget", "w"),
        template: "widget.yaml.j2",
        problem: Problem::Violations(vec![Violation {
            instance_path: "/spec/replicas".into(),
            message: "replicas 7 is more than 5".into(),
            rule: Some("self.replicas\n  <= 5".into()),
            reason: Some("FieldValueForbidden".into()),
        }]),
    };
    let text = finding.to_string();
    assert!(
        text.ends_with(
            "does not conform to its CRD:\n  /spec/replicas: replicas 7 is more than 5 \
             (FieldValueForbidden)\n    CEL rule: self.replicas <= 5"
        ),
        "{text}"
    );
}

/// The CEL rules of Gateway API v1.5.1's standard channel, of its experimental
/// channel, and of Istio 1.30.3's CRDs: every one is evaluated.
const STANDARD_RULES: usize = 160;
const EXPERIMENTAL_RULES: usize = 197;
const ISTIO_1_30_RULES: usize = 147;
