//! `mesh.routing_api = "gateway-api"` and `mesh.dataplane = "ambient"`: the
//! Bookinfo walkthrough reproduces Istio 1.30.3's own Gateway API samples
//! document for document, fault steps fall back to a VirtualService per
//! service and step, ambient labels the namespace and emits the waypoint,
//! and what the Gateway API cannot express is an error at its line.

use serde_json::Value;

use crate::support::{Sandbox, documents, scenario};

/// Istio 1.30.3's `samples/bookinfo/gateway-api/bookinfo-gateway.yaml`.
const BOOKINFO_GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bookinfo
spec:
  parentRefs:
  - name: bookinfo-gateway
  rules:
  - matches:
    - path:
        type: Exact
        value: /productpage
    - path:
        type: PathPrefix
        value: /static
    - path:
        type: Exact
        value: /login
    - path:
        type: Exact
        value: /logout
    - path:
        type: PathPrefix
        value: /api/v1/products
    backendRefs:
    - name: productpage
      port: 9080
"#;

/// Istio 1.30.3's `samples/bookinfo/platform/kube/bookinfo-versions.yaml`.
const BOOKINFO_VERSIONS: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: reviews-v1
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: reviews-v2
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v2
---
apiVersion: v1
kind: Service
metadata:
  name: reviews-v3
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v3
---
apiVersion: v1
kind: Service
metadata:
  name: productpage-v1
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: productpage
    version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: ratings-v1
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: ratings
    version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: details-v1
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: details
    version: v1
"#;

/// An HTTPRoute of Istio's samples: `service` routed by `rules` (YAML lines
/// under `rules:`), with the Service as parent.
fn mesh_route(service: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {service}\n\
         spec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: {service}\n    \
         port: 9080\n  rules:\n{rules}"
    )
}

/// `samples/bookinfo/gateway-api/route-all-v1.yaml`, one route per service.
fn route_all_v1() -> String {
    ["reviews", "productpage", "ratings", "details"]
        .map(|s| {
            mesh_route(
                s,
                &format!("  - backendRefs:\n    - name: {s}-v1\n      port: 9080\n"),
            )
        })
        .join("---\n")
}

/// The documents of `text` by (kind, name), without `metadata.namespace`
/// (Istio's samples name none: they are applied with `-n`).
fn by_identity(text: &str) -> Vec<((String, String), Value)> {
    let mut docs: Vec<((String, String), Value)> = documents(text)
        .into_iter()
        .map(|mut doc| {
            if let Some(metadata) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.remove("namespace");
            }
            let field = |doc: &Value, pointer: &str| {
                doc.pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            ((field(&doc, "/kind"), field(&doc, "/metadata/name")), doc)
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    docs
}

/// Asserts that a built file holds exactly Istio's documents.
#[track_caller]
fn assert_same_documents(built: &str, istio: &str, what: &str) {
    let (built, istio) = (by_identity(built), by_identity(istio));
    let names = |docs: &[((String, String), Value)]| -> Vec<(String, String)> {
        docs.iter().map(|(id, _)| id.clone()).collect()
    };
    assert_eq!(names(&built), names(&istio), "{what}: documents");
    for ((id, ours), (_, theirs)) in built.iter().zip(&istio) {
        assert_eq!(ours, theirs, "{what}: {id:?}");
    }
}

/// Builds a shipped scenario into a sandbox and returns the sandbox and
/// the output folder's path in it.
fn build(name: &str) -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario(name), "--out", "out"])
        .expect_code(0);
    (sandbox, format!("out/{name}"))
}

#[test]
fn bookinfo_on_the_gateway_api_reproduces_istios_samples_document_for_document() {
    let (sandbox, out) = build("bookinfo-gateway-api");
    let read = |file: &str| sandbox.read(&format!("{out}/{file}"));
    assert_same_documents(&read("04-gateway.yaml"), BOOKINFO_GATEWAY, "ingress");
    assert_same_documents(
        &read("05-version-services.yaml"),
        BOOKINFO_VERSIONS,
        "per-version Services",
    );
    assert_same_documents(&read("steps/01-all-v1.yaml"), &route_all_v1(), "all-v1");
    // The Gateway API tab of Istio's request-routing task.
    let jason = mesh_route(
        "reviews",
        "  - matches:\n    - headers:\n      - name: end-user\n        value: jason\n    \
         backendRefs:\n    - name: reviews-v2\n      port: 9080\n  - backendRefs:\n    \
         - name: reviews-v1\n      port: 9080\n",
    );
    assert_same_documents(&read("steps/02-jason-v2.yaml"), &jason, "jason-v2");
    // route-reviews-50-v3.yaml: weights only on the split.
    let split = mesh_route(
        "reviews",
        "  - backendRefs:\n    - name: reviews-v1\n      port: 9080\n      weight: 50\n    \
         - name: reviews-v3\n      port: 9080\n      weight: 50\n",
    );
    assert_same_documents(&read("steps/06-reviews-50-v3.yaml"), &split, "50/50");
    let v3 = mesh_route(
        "reviews",
        "  - backendRefs:\n    - name: reviews-v3\n      port: 9080\n",
    );
    assert_same_documents(&read("steps/07-reviews-v3.yaml"), &v3, "reviews-v3");
    // No DestinationRule anywhere: subsets are the per-version Services.
    assert!(!read("index.json").contains("DestinationRule"));
}

#[test]
fn a_fault_step_routes_its_service_with_a_virtual_service_to_the_per_version_services() {
    let (sandbox, out) = build("bookinfo-gateway-api");
    let read = |file: &str| sandbox.read(&format!("{out}/{file}"));
    let delay = documents(&read("steps/03-ratings-delay.yaml"));
    let [vs] = delay.as_slice() else {
        panic!("one document: {delay:?}");
    };
    assert_eq!(vs["kind"], "VirtualService");
    assert_eq!(vs["spec"]["hosts"], serde_json::json!(["ratings"]));
    let first = &vs["spec"]["http"][0];
    assert_eq!(first["match"][0]["headers"]["end-user"]["exact"], "jason");
    assert_eq!(
        first["route"],
        serde_json::json!([{"destination": {"host": "ratings-v1"}}])
    );
    assert_eq!(first["fault"]["delay"]["fixedDelay"], "7s");
    // The HTTPRoute it replaces is deleted once it is applied, and back.
    let deleted = documents(&read("steps/03-ratings-delay.route.delete.yaml"));
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        (
            deleted[0]["kind"].as_str(),
            deleted[0]["metadata"]["name"].as_str()
        ),
        (Some("HTTPRoute"), Some("ratings"))
    );
    let abort = documents(&read("steps/04-ratings-abort.yaml"));
    assert_eq!(abort[0]["kind"], "VirtualService");
    assert!(
        !sandbox
            .path()
            .join(&out)
            .join("steps/04-ratings-abort.route.delete.yaml")
            .exists()
    );
    let back = documents(&read("steps/05-reset-v1.route.delete.yaml"));
    assert_eq!(
        (
            back[0]["kind"].as_str(),
            back[0]["metadata"]["name"].as_str()
        ),
        (Some("VirtualService"), Some("ratings"))
    );
    let plan = read("PLAN.md");
    assert!(plan.contains(
        "`kubectl apply -f steps/03-ratings-delay.yaml`, then `kubectl delete \
         --ignore-not-found -f steps/03-ratings-delay.route.delete.yaml`"
    ));
    // The teardown deletes both kinds the service was routed with.
    let teardown = documents(&read("teardown.yaml"));
    for kind in ["HTTPRoute", "VirtualService"] {
        assert!(
            teardown
                .iter()
                .any(|d| d["kind"] == kind && d["metadata"]["name"] == "ratings"),
            "{kind} ratings in the teardown"
        );
    }
}

#[test]
fn the_build_warns_that_a_fault_step_mixes_the_two_apis() {
    let run = Sandbox::new().run(&["check", &scenario("bookinfo-gateway-api")]);
    run.expect_code(0);
    let warnings: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.contains("warning: the Gateway API has no fault injection"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(warnings[0].contains(":102:11: "), "{}", warnings[0]);
}

#[test]
fn the_plan_and_the_mesh_install_name_the_gateway_api_crds_to_install() {
    let (sandbox, out) = build("bookinfo-gateway-api");
    let command = "kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/\
                   releases/download/v1.5.1/standard-install.yaml";
    assert!(sandbox.read(&format!("{out}/PLAN.md")).contains(command));
    let mesh = sandbox.read(&format!("{out}/01-mesh.yaml"));
    assert!(mesh.starts_with("# Needs the CRDs of Gateway API v1.5.1 (standard channel)"));
    assert!(mesh.contains(&format!("# {command}\n")));
}

#[test]
fn ambient_labels_the_namespace_for_ztunnel_and_the_waypoint_it_emits() {
    let (sandbox, out) = build("bookinfo-ambient");
    let namespace = documents(&sandbox.read(&format!("{out}/02-namespace.yaml")));
    let [ns, waypoint] = namespace.as_slice() else {
        panic!("the Namespace and the waypoint: {namespace:?}");
    };
    assert_eq!(
        ns["metadata"]["labels"],
        serde_json::json!({
            "istio.io/dataplane-mode": "ambient",
            "istio.io/use-waypoint": "waypoint",
        })
    );
    assert_eq!(
        waypoint,
        &serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {
                "name": "waypoint",
                "namespace": "bookinfo",
                "labels": {"istio.io/waypoint-for": "service"},
            },
            "spec": {
                "gatewayClassName": "istio-waypoint",
                "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
            },
        })
    );
    // Ambient routes with the Gateway API unless told otherwise.
    let steps = documents(&sandbox.read(&format!("{out}/steps/01-all-v1.yaml")));
    assert!(steps.iter().all(|d| d["kind"] == "HTTPRoute"));
}

/// A Gateway API scenario on Istio `version`, with `mesh` lines added to
/// `[mesh]` and `more` at the end.
fn scenario_text(version: &str, mesh: &str, more: &str) -> String {
    format!(
        r#"name = "demo"

[mesh]
version = "{version}"
{mesh}
[namespace]
name = "demo"

[[services]]
name = "web"
port = 8080
  [services.versions.v1]
  image = "example.com/web:1"
  [services.versions.v2]
  image = "example.com/web:2"
{more}"#
    )
}

/// A Gateway API scenario on Istio 1.30.3 with `more` at the end.
fn gateway_api_scenario(more: &str) -> String {
    scenario_text("1.30.3", "routing_api = \"gateway-api\"\n", more)
}

/// The first line of each diagnostic, from the file name on.
fn headlines(stderr: &str) -> Vec<String> {
    (stderr.lines())
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .map(|l| {
            l.split_once("s.toml:")
                .map_or(l, |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

fn check(text: &str) -> (i32, Vec<String>) {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", text);
    let run = sandbox.run(&["check", "s.toml"]);
    (run.code, headlines(&run.stderr))
}

#[test]
fn the_routing_api_and_the_data_plane_need_their_releases_and_profile() {
    let (code, lines) = check(&scenario_text(
        "1.21.6",
        "routing_api = \"gateway-api\"\n",
        "",
    ));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("5:15: error: routing_api = \"gateway-api\" needs Istio 1.22"));
    let (code, lines) = check(&scenario_text(
        "1.23",
        "profile = \"demo\"\ndataplane = \"ambient\"\n",
        "",
    ));
    assert_eq!(code, 1);
    assert!(lines[0].starts_with("5:11: error: dataplane = \"ambient\" needs a profile"));
    assert!(lines[1].starts_with("6:13: error: dataplane = \"ambient\" needs Istio 1.24"));
    let (code, lines) = check(
        &scenario_text(
            "1.30.3",
            "profile = \"ambient\"\ndataplane = \"ambient\"\nrouting_api = \"istio\"\n",
            "",
        )
        .replace(
            "name = \"demo\"\n\n[[services]]",
            "name = \"demo\"\ninjection = true\n\n[[services]]",
        ),
    );
    assert_eq!(code, 1);
    assert!(lines[0].starts_with("7:15: warning: routing_api = \"istio\" in ambient mode"));
    assert!(lines[1].starts_with("11:13: error: namespace.injection = true injects sidecars"));
}

#[test]
fn what_an_httproute_cannot_hold_is_an_error_at_its_key() {
    let steps = r#"
[traffic_policy]
load_balancer = "RANDOM"

[gateway]
selector = { istio = "mine" }
[[gateway.routes]]
service = "web"
uris = [ { prefix = "static" } ]

[[steps]]
name = "odd"
[[steps.routes]]
service = "web"
uri = { exact = "/a//b" }
method = "PURGE"
timeout = "1.5ms"
retries = 2
retry_on = "5xx"
to = "v1"
[[steps.routes]]
service = "web"
to = "v2"
"#;
    let (code, lines) = check(&gateway_api_scenario(steps));
    assert_eq!(code, 1);
    let at: Vec<&str> = lines
        .iter()
        .map(|l| l.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        at,
        [
            "18:1", "22:12", "25:21", "30:11", "31:17", "32:10", "33:11", "35:12"
        ],
        "{lines:#?}"
    );
    for (line, says) in lines.iter().zip([
        "[traffic_policy] (a DestinationRule's) has no Gateway API form",
        "gateway.selector",
        "uri prefix `static` is not a Gateway API path",
        "warning: step routes `web` by version, but traffic entering through gateway \
         `demo-gateway` goes to the Service `web`, any version",
        "uri exact `/a//b` is not a Gateway API path",
        "method `PURGE` is not one an HTTPRoute matches",
        "timeout `1.5ms` has no Gateway API form",
        "retry_on `5xx`: an HTTPRoute's retry names HTTP statuses only",
    ]) {
        assert!(line.contains(says), "{line} should say {says}");
    }
}

#[test]
fn timeouts_retries_and_mirrors_become_the_httproute_fields_istio_supports() {
    let steps = r#"
[[steps]]
name = "tuned"
[[steps.routes]]
service = "web"
uri = { prefix = "/api" }
headers = { end-user = { prefix = "ja.s" } }
method = "GET"
to = { v1 = 90, v2 = 10 }
timeout = "2.5s"
retries = 3
per_try_timeout = "1s"
retry_on = "502,503"
mirror = "v2"
mirror_percent = 0.5
[[steps.routes]]
service = "web"
to = "v1"
"#;
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", gateway_api_scenario(steps));
    let run = sandbox.run(&["build", "s.toml", "--out", "out"]);
    run.expect_code(0);
    let route = documents(&sandbox.read("out/demo/steps/01-tuned.yaml"));
    assert_eq!(
        route[0]["spec"]["rules"],
        serde_json::json!([
            {
                "matches": [{
                    "path": {"type": "PathPrefix", "value": "/api"},
                    "headers": [
                        {"name": "end-user", "type": "RegularExpression", "value": "^ja\\.s.*"},
                    ],
                    "method": "GET",
                }],
                "backendRefs": [
                    {"name": "web-v1", "port": 8080, "weight": 90},
                    {"name": "web-v2", "port": 8080, "weight": 10},
                ],
                "filters": [{
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {"name": "web-v2", "port": 8080},
                        "fraction": {"numerator": 5000, "denominator": 1000000},
                    },
                }],
                "timeouts": {"request": "2s500ms", "backendRequest": "1s"},
                "retry": {"attempts": 3, "codes": [502, 503]},
            },
            {"backendRefs": [{"name": "web-v1", "port": 8080}]},
        ])
    );
    // `retry` is in the Gateway API's experimental channel.
    let plan = sandbox.read("out/demo/PLAN.md");
    assert!(plan.contains("(experimental channel, the release Istio 1.30 is built against)"));
    assert!(plan.contains("releases/download/v1.5.1/experimental-install.yaml"));
}

#[test]
fn rules_istio_would_try_in_another_order_are_a_warning_and_a_long_per_try_timeout_an_error() {
    let steps = r#"
[[steps]]
name = "odd"
[[steps.routes]]
service = "web"
headers = { end-user = "jason" }
to = "v2"
timeout = "1s"
retries = 2
per_try_timeout = "2s"
[[steps.routes]]
service = "web"
uri = { exact = "/api" }
to = "v1"
[[steps.routes]]
service = "web"
to = "v1"
"#;
    let (code, lines) = check(&gateway_api_scenario(steps));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with(
        "21:11: warning: with the Gateway API, Istio tries the step's rules for `web` by precedence"
    ));
    assert!(
        lines[0].contains("rule 2 is tried before rule 1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1]
            .starts_with("26:19: error: per_try_timeout `2s` is longer than the rule's timeout")
    );
}

#[test]
fn https_on_the_gateway_api_is_a_listener_with_the_secret_and_a_redirecting_route() {
    let gateway = r#"
[gateway]
hosts = ["shop.example.com"]
tls = { credential_name = "shop-cert", redirect_http = true }
[[gateway.routes]]
service = "web"
"#;
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", gateway_api_scenario(gateway));
    sandbox
        .run(&["build", "s.toml", "--out", "out"])
        .expect_code(0);
    let docs = documents(&sandbox.read("out/demo/04-gateway.yaml"));
    let [listener, route, redirect] = docs.as_slice() else {
        panic!("the Gateway and two HTTPRoutes: {docs:?}");
    };
    assert_eq!(
        listener["spec"]["listeners"],
        serde_json::json!([
            {
                "name": "https", "port": 443, "protocol": "HTTPS",
                "tls": {"mode": "Terminate", "certificateRefs": [{"name": "shop-cert"}]},
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            },
            {
                "name": "http", "port": 80, "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            },
        ])
    );
    assert_eq!(
        route["spec"]["parentRefs"],
        serde_json::json!([{"name": "demo-gateway", "sectionName": "https"}])
    );
    assert_eq!(
        route["spec"]["hostnames"],
        serde_json::json!(["shop.example.com"])
    );
    assert_eq!(redirect["metadata"]["name"], "demo-redirect");
    assert_eq!(
        redirect["spec"]["parentRefs"],
        serde_json::json!([{"name": "demo-gateway", "sectionName": "http"}])
    );
    assert_eq!(
        redirect["spec"]["rules"],
        serde_json::json!([{"filters": [{
            "type": "RequestRedirect",
            "requestRedirect": {"scheme": "https", "statusCode": 301},
        }]}])
    );
    // The Secret is the Gateway's namespace's, not istio-system's.
    assert!(
        sandbox.read("out/demo/PLAN.md").contains(
            "`kubectl create secret tls shop-cert -n demo --cert=cert.pem --key=key.pem`"
        )
    );
}

#[test]
fn an_ingress_gateway_named_like_the_waypoint_is_an_error_in_ambient_mode() {
    let gateway = "\n[gateway]\nname = \"waypoint\"\n[[gateway.routes]]\nservice = \"web\"\n";
    let mesh = "profile = \"ambient\"\ndataplane = \"ambient\"\n";
    let (code, lines) = check(&scenario_text("1.30.3", mesh, gateway));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("20:8: error: gateway `waypoint` would be the waypoint's name"));
}

#[test]
fn a_gateway_route_is_unreachable_on_the_gateway_api_only_behind_the_same_paths() {
    // Under Istio's APIs the first route takes `/apix` (a string prefix)
    // and the catch-all everything after it; an HTTPRoute tries longer and
    // exact paths first, and `/api` is a path segment.
    let gateway = r#"
[gateway]
[[gateway.routes]]
service = "web"
uris = [ { prefix = "/api" } ]
[[gateway.routes]]
service = "web"
[[gateway.routes]]
service = "web"
uris = [ { prefix = "/apix" }, { exact = "/login" } ]
[[gateway.routes]]
service = "web"
uris = [ { exact = "/login" }, { prefix = "/api" } ]
[[gateway.routes]]
service = "web"
"#;
    let istio = check(&scenario_text("1.30.3", "", gateway));
    assert_eq!(istio.0, 1);
    assert_eq!(istio.1.len(), 3, "{:#?}", istio.1);
    let (code, lines) = check(&gateway_api_scenario(gateway));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "27:1: error: this gateway route can never match: each of its paths is one of the \
             routes on lines 19, 24, which the HTTPRoute tries first"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("30:1: error: this gateway route can never match"),
        "{}",
        lines[1]
    );
}

#[test]
fn a_release_on_the_gateway_api_launches_and_retires_the_versions_own_services() {
    let release = std::fs::read_to_string(scenario("bookinfo-release")).expect("scenario");
    let sandbox = Sandbox::new();
    sandbox.write(
        "s.toml",
        release.replacen(
            "profile = \"default\"\n",
            "profile = \"default\"\nrouting_api = \"gateway-api\"\n",
            1,
        ),
    );
    sandbox
        .run(&["build", "s.toml", "--out", "out"])
        .expect_code(0);
    let read = |file: &str| documents(&sandbox.read(&format!("out/bookinfo-release/{file}")));
    let ids = |docs: Vec<Value>| -> Vec<String> {
        (docs.iter())
            .map(|d| {
                format!(
                    "{} {}",
                    d["kind"].as_str().unwrap_or(""),
                    d["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    // Make before break: v3's Service comes with its Deployment, before the
    // routing sends anything to it; v1's goes after the routing left it.
    assert_eq!(
        ids(read("steps/02-launch-v3.launch.yaml")),
        ["Deployment reviews-v3", "Service reviews-v3"]
    );
    assert_eq!(
        ids(read("steps/06-retire-v1.retire.delete.yaml")),
        ["Service reviews-v1", "Deployment reviews-v1"]
    );
    assert_eq!(
        ids(read("steps/06-retire-v1.rollback.launch.yaml")),
        ["Deployment reviews-v1", "Service reviews-v1"]
    );
    let after = ids(read("routing/06-retire-v1/version-services.yaml"));
    assert!(
        after.contains(&"Service reviews-v3".to_owned()),
        "{after:?}"
    );
    assert!(
        !after.contains(&"Service reviews-v1".to_owned()),
        "{after:?}"
    );
    assert!(
        !sandbox
            .read("out/bookinfo-release/index.json")
            .contains("DestinationRule")
    );
}
