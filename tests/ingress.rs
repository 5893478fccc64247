//! Production ingress and existing workloads (issue 20): the shipped edge
//! canary (`scenarios/shop.toml`: HTTPS, `version_routing`, workloads the
//! application owns) built and played step by step and back; the gateway's
//! VirtualService of every step in full; how a rule's conditions combine
//! with the gateway's URI matches; what the plan says of gateway traffic,
//! the TLS Secret and the application's pods; and the warnings of gateways.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{Sandbox, documents, scenario, text_diff};

/// A cluster as `kubectl` would leave it: objects by (kind, namespace, name).
type Cluster = BTreeMap<(String, String, String), Value>;

fn key(document: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&document["kind"]),
        text(&document["metadata"]["namespace"]),
        text(&document["metadata"]["name"]),
    )
}

fn cluster(stream: &str) -> Cluster {
    documents(stream)
        .into_iter()
        .map(|d| (key(&d), d))
        .collect()
}

/// The document of `kind` called `name` in a YAML stream, as written.
fn document<'a>(stream: &'a str, kind: &str, name: &str) -> Option<&'a str> {
    stream.split("---\n").find(|d| {
        d.lines().any(|l| l == format!("kind: {kind}"))
            && d.lines().any(|l| l == format!("  name: {name}"))
    })
}

#[track_caller]
fn assert_text(actual: &str, expected: &str) {
    assert!(actual == expected, "{}", text_diff(expected, actual));
}

/// The shop scenario built into `out/shop`.
fn built_shop() -> Sandbox {
    let out = Sandbox::new();
    out.run(&["build", &scenario("shop"), "--out", "out"])
        .expect_code(0);
    out
}

fn index(out: &Sandbox, name: &str) -> Value {
    serde_json::from_str(&out.read(&format!("out/{name}/index.json"))).expect("index.json")
}

/// The head of the shop's gateway VirtualService, up to its `http:` key.
const EDGE_HEAD: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop-edge
  namespace: shop
spec:
  hosts:
  - shop.example.com
  gateways:
  - shop-gateway
  http:
";

/// The gateway route to cart, pinned to v1 from the first step on.
const CART_V1: &str = "  - match:
    - uri:
        prefix: /api/cart
    route:
    - destination:
        host: cart
        subset: v1
        port:
          number: 8080
";

/// The match blocks of a rule of front without conditions, at the gateway:
/// the gateway route's URIs.
const FRONT_URIS: &str = "  - match:
    - uri:
        exact: /
    - uri:
        prefix: /products
    route:
";

/// One destination of front at the gateway.
fn front(subset: &str, weight: Option<u32>) -> String {
    let weight = weight.map_or(String::new(), |w| format!("      weight: {w}\n"));
    format!(
        "    - destination:
        host: front
        subset: {subset}
        port:
          number: 8080
{weight}"
    )
}

#[test]
fn the_shipped_edge_canary_re_emits_the_gateway_virtual_service_at_every_step_that_routes() {
    let out = built_shop();
    // The testers' rule: its header ANDed with each of the route's URIs.
    let testers = format!(
        "  - match:
    - headers:
        x-canary:
          exact: always
      uri:
        exact: /
    - headers:
        x-canary:
          exact: always
      uri:
        prefix: /products
    route:
{}",
        front("v2", None)
    );
    let expected: [(&str, String); 5] = [
        (
            "steps/01-all-v1.yaml",
            format!("{EDGE_HEAD}{FRONT_URIS}{}{CART_V1}", front("v1", None)),
        ),
        (
            "steps/02-canary-testers.yaml",
            format!(
                "{EDGE_HEAD}{testers}{FRONT_URIS}{}{CART_V1}",
                front("v1", None)
            ),
        ),
        (
            "steps/03-canary-10.yaml",
            format!(
                "{EDGE_HEAD}{testers}{FRONT_URIS}{}{}    timeout: 5s
    retries:
      attempts: 1
      perTryTimeout: 2500ms
      retryOn: \"reset,connect-failure\"
{CART_V1}",
                front("v1", Some(90)),
                front("v2", Some(10))
            ),
        ),
        (
            "steps/04-canary-50.yaml",
            format!(
                "{EDGE_HEAD}{FRONT_URIS}{}{}    timeout: 5s\n{CART_V1}",
                front("v1", Some(50)),
                front("v2", Some(50))
            ),
        ),
        (
            "steps/05-all-v2.yaml",
            format!("{EDGE_HEAD}{FRONT_URIS}{}{CART_V1}", front("v2", None)),
        ),
    ];
    for (file, vs) in &expected {
        let text = out.read(&format!("out/shop/{file}"));
        // The step's own VirtualServices first, the gateway's last.
        let last = text.rsplit("---\n").next().unwrap_or_default();
        assert_text(last, vs);
    }
    // The step that only retires a version routes nothing: no route file.
    assert!(!out.path().join("out/shop/steps/06-retire-v1.yaml").exists());
    // Before the first step, the gateway routes without subsets.
    let gateway = out.read("out/shop/04-gateway.yaml");
    let before = document(&gateway, "VirtualService", "shop-edge").expect("gateway VS");
    assert_text(
        before,
        &format!(
            "{EDGE_HEAD}{FRONT_URIS}    - destination:
        host: front
        port:
          number: 8080
  - match:
    - uri:
        prefix: /api/cart
    route:
    - destination:
        host: cart
        port:
          number: 8080
"
        ),
    );
}

#[test]
fn the_gateway_serves_https_with_the_credential_and_redirects_plain_http() {
    let out = built_shop();
    let gateway = out.read("out/shop/04-gateway.yaml");
    assert_text(
        document(&gateway, "Gateway", "shop-gateway").expect("Gateway"),
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: shop-gateway
  namespace: shop
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - shop.example.com
    tls:
      mode: SIMPLE
      credentialName: shop-example-com
  - port:
      number: 8080
      name: http
      protocol: HTTP
    hosts:
    - shop.example.com
    tls:
      httpsRedirect: true
",
    );
    // No Secret anywhere: meshgen never emits one.
    let index = index(&out, "shop");
    assert!(!index.to_string().contains("\"Secret\""), "{index}");
}

/// A one-service scenario with a gateway; `gateway` is the `[gateway]` table's body.
fn one_service(gateway: &str, extra: &str) -> String {
    format!(
        "name = \"web\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"web\"\n\
         [[services]]\nname = \"web\"\nport = 8080\n  [services.versions.v1]\n  \
         image = \"example/web:1\"\n  [services.versions.v2]\n  image = \"example/web:2\"\n\
         [gateway]\nvirtual_service = \"web-edge\"\n{gateway}\n\
         [[gateway.routes]]\nservice = \"web\"\n{extra}"
    )
}

#[test]
fn tls_without_redirect_http_serves_https_only() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "web.toml",
        one_service("tls = { credential_name = \"web-cert\" }", ""),
    );
    sandbox
        .run(&["build", "web.toml", "--out", "out"])
        .expect_code(0);
    let gateway = sandbox.read("out/web/04-gateway.yaml");
    let servers = &documents(&gateway)[0]["spec"]["servers"];
    assert_eq!(
        *servers,
        serde_json::json!([{
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": ["*"],
            "tls": {"mode": "SIMPLE", "credentialName": "web-cert"}
        }])
    );
}

#[test]
fn a_rules_conditions_are_anded_with_each_of_the_gateway_routes_uris() {
    let sandbox = Sandbox::new();
    let text = one_service(
        "version_routing = true",
        "uris = [ { prefix = \"/app\" }, { exact = \"/login\" } ]\n\
         [[steps]]\nname = \"beta\"\n\
         [[steps.routes]]\nservice = \"web\"\nheaders = { x-beta = \"on\" }\nmethod = \"GET\"\nto = \"v2\"\n\
         [[steps.routes]]\nservice = \"web\"\nuri = { prefix = \"/app/new\" }\nto = \"v2\"\n\
         [[steps.routes]]\nservice = \"web\"\nto = \"v1\"\n",
    );
    sandbox.write("web.toml", &text);
    let run = sandbox.run(&["build", "web.toml", "--out", "out"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let step = sandbox.read("out/web/steps/01-beta.yaml");
    assert_text(
        document(&step, "VirtualService", "web-edge").expect("gateway VS"),
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web-edge
  namespace: web
spec:
  hosts:
  - \"*\"
  gateways:
  - web-gateway
  http:
  - match:
    - headers:
        x-beta:
          exact: \"on\"
      uri:
        prefix: /app
      method:
        exact: GET
    - headers:
        x-beta:
          exact: \"on\"
      uri:
        exact: /login
      method:
        exact: GET
    route:
    - destination:
        host: web
        subset: v2
        port:
          number: 8080
  - match:
    - uri:
        prefix: /app/new
    route:
    - destination:
        host: web
        subset: v2
        port:
          number: 8080
  - match:
    - uri:
        prefix: /app
    - uri:
        exact: /login
    route:
    - destination:
        host: web
        subset: v1
        port:
          number: 8080
",
    );
}

/// Every subset a VirtualService (the gateway's too) routes or mirrors to is
/// defined by its host's DestinationRule.
fn assert_subsets_defined(cluster: &Cluster, when: &str) {
    for ((kind, ns, name), vs) in cluster {
        if kind != "VirtualService" {
            continue;
        }
        for http in vs["spec"]["http"].as_array().into_iter().flatten() {
            let routes = http["route"].as_array().into_iter().flatten();
            let destinations = routes.map(|r| &r["destination"]).chain(http.get("mirror"));
            for destination in destinations {
                let (Some(host), Some(subset)) =
                    (destination["host"].as_str(), destination["subset"].as_str())
                else {
                    continue;
                };
                let rule = cluster
                    .get(&("DestinationRule".into(), ns.clone(), host.into()))
                    .unwrap_or_else(|| panic!("{when}: {name} routes to {host}, no rule"));
                let defined = (rule["spec"]["subsets"].as_array().into_iter().flatten())
                    .any(|s| s["name"] == subset);
                assert!(
                    defined,
                    "{when}: {name} routes to undefined subset {subset}"
                );
            }
        }
    }
}

/// Applies (or deletes) the documents of one file `index.json` lists, of
/// the output folder `out/<name>`.
fn run_file(cluster: &mut Cluster, entry: &Value, out: &Sandbox, name: &str) {
    let file = entry["file"].as_str().expect("file");
    for document in documents(&out.read(&format!("out/{name}/{file}"))) {
        match entry["action"].as_str() {
            Some("delete") => {
                cluster.remove(&key(&document));
            }
            _ => {
                cluster.insert(key(&document), document);
            }
        }
    }
}

/// The whole state `build --stdout` prints for the scenario at `path`:
/// after `step`, or before the first step.
fn state(out: &Sandbox, path: &str, step: Option<&str>) -> Cluster {
    let mut args = vec!["build", path, "--stdout"];
    args.extend(step.map(|s| ["--step", s]).into_iter().flatten());
    cluster(&out.run(&args).expect_code(0).stdout)
}

const SHOP_STEPS: [&str; 6] = [
    "all-v1",
    "canary-testers",
    "canary-10",
    "canary-50",
    "all-v2",
    "retire-v1",
];

/// Plays every step of the scenario at `path`, built into `out/<name>`,
/// file by file in the order `index.json` lists (launch, route, retire),
/// and each step's rollback from the state after it: after every file,
/// every subset a VirtualService (the gateway's too) names is defined; after
/// each step the state is `build --stdout --step`'s and its routing folder's,
/// and after each rollback the state before the step.
fn assert_plays_make_before_break(out: &Sandbox, path: &str, name: &str, steps: &[&str]) {
    let index = index(out, name);
    let entries = index["steps"].as_array().expect("steps");
    let rollback = index["rollback"].as_array().expect("rollback");
    let mut live = state(out, path, None);
    for (k, step) in steps.iter().enumerate() {
        for entry in entries.iter().filter(|e| e["name"] == *step) {
            run_file(&mut live, entry, out, name);
            assert_subsets_defined(&live, &format!("after {}", entry["file"]));
        }
        let after = state(out, path, Some(step));
        assert_eq!(live, after, "after step {step}");
        // The state folder holds the same state, and so does its gateway file.
        let folder = format!("out/{name}/routing/{:02}-{step}", k + 1);
        let mut folder_state = Cluster::new();
        for file in [
            "namespace",
            "gateway",
            "destination-rules",
            "virtual-services",
        ] {
            folder_state.extend(cluster(&out.read(&format!("{folder}/{file}.yaml"))));
        }
        assert_eq!(folder_state, after, "{folder}");
        // Rolling back gives the state before the step.
        let mut back = after.clone();
        for entry in rollback.iter().filter(|e| e["name"] == *step) {
            run_file(&mut back, entry, out, name);
            assert_subsets_defined(&back, &format!("rolling back {step}: {}", entry["file"]));
        }
        let before = k.checked_sub(1).map(|p| steps[p]);
        assert_eq!(back, state(out, path, before), "rollback of {step}");
    }
}

#[test]
fn playing_the_edge_canary_and_its_rollbacks_keeps_every_subset_defined() {
    let out = built_shop();
    assert_plays_make_before_break(&out, &scenario("shop"), "shop", &SHOP_STEPS);
}

#[test]
fn the_gateway_virtual_service_in_force_is_in_stdout_diffs_and_the_teardown() {
    let out = built_shop();
    let path = scenario("shop");
    let stdout = out.run(&["build", &path, "--stdout", "--step", "canary-10"]);
    let stdout = &stdout.expect_code(0).stdout;
    let step = out.read("out/shop/steps/03-canary-10.yaml");
    assert_eq!(
        document(stdout, "VirtualService", "shop-edge"),
        document(&step, "VirtualService", "shop-edge")
    );
    // Without --step, the gateway routes without subsets.
    let before = out.run(&["build", &path, "--stdout"]);
    let before = &before.expect_code(0).stdout;
    let base = out.read("out/shop/04-gateway.yaml");
    assert_eq!(
        document(before, "VirtualService", "shop-edge"),
        document(&base, "VirtualService", "shop-edge")
    );
    // Between two steps, the gateway's VirtualService changes with front's.
    let diff = out.run(&[
        "diff",
        &path,
        "--from",
        "canary-testers",
        "--to",
        "canary-10",
    ]);
    diff.expect_code(1);
    let headers: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with("# "))
        .collect();
    assert_eq!(
        headers,
        [
            "# changed: VirtualService shop/front",
            "# changed: VirtualService shop/shop-edge"
        ]
    );
    let step_diff = out.read("out/shop/steps/03-canary-10.diff");
    assert!(
        step_diff.contains("# changed: VirtualService shop/shop-edge"),
        "{step_diff}"
    );
    // The teardown deletes it once, with the Gateway.
    let teardown = out.read("out/shop/teardown.yaml");
    let gone: Vec<(String, String, String)> = documents(&teardown).iter().map(key).collect();
    let edge = (
        "VirtualService".to_owned(),
        "shop".to_owned(),
        "shop-edge".to_owned(),
    );
    assert_eq!(gone.iter().filter(|k| **k == edge).count(), 1, "{gone:?}");
}

#[test]
fn existing_workloads_emit_no_service_accounts_services_or_deployments() {
    let out = built_shop();
    let index = index(&out, "shop");
    let files: Vec<&str> = index["bundles"]
        .as_array()
        .expect("bundles")
        .iter()
        .map(|b| b["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        files,
        [
            "01-mesh.yaml",
            "02-namespace.yaml",
            "04-gateway.yaml",
            "05-destination-rules.yaml"
        ]
    );
    for list in ["bundles", "steps", "rollback", "routing"] {
        for entry in index[list].as_array().expect("list") {
            for resource in entry["resources"].as_array().expect("resources") {
                let kind = resource["kind"].as_str().expect("kind");
                assert!(
                    !["ServiceAccount", "Service", "Deployment"].contains(&kind),
                    "{list}: {entry}"
                );
            }
        }
    }
    // The teardown deletes only what meshgen emitted, and not the namespace:
    // it holds the application's own workloads.
    let teardown = documents(&out.read("out/shop/teardown.yaml"));
    let kinds: Vec<&str> = teardown
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "VirtualService",
            "VirtualService",
            "DestinationRule",
            "DestinationRule",
            "VirtualService",
            "Gateway"
        ]
    );
    // Launch and retire move subsets only.
    let launch = documents(&out.read("out/shop/steps/02-canary-testers.launch.yaml"));
    assert_eq!(launch.len(), 1);
    assert_eq!(
        launch[0]["spec"]["subsets"],
        serde_json::json!([
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"track": "canary"}}
        ])
    );
    let retire = documents(&out.read("out/shop/steps/06-retire-v1.retire.yaml"));
    assert_eq!(
        retire[0]["spec"]["subsets"],
        serde_json::json!([{"name": "v2", "labels": {"track": "canary"}}])
    );
    assert!(
        !out.path()
            .join("out/shop/steps/06-retire-v1.retire.delete.yaml")
            .exists()
    );
}

#[test]
fn the_plan_says_where_the_secret_lives_and_which_labels_the_pods_carry() {
    let out = built_shop();
    let plan = out.read("out/shop/PLAN.md");
    let section = plan
        .split("## What meshgen does not emit\n\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the section");
    assert!(
        section.contains(
            "from the Secret `shop-example-com` (`credentialName`), which must be in namespace \
             `istio-system`, where Istio's ingress gateway runs"
        ),
        "{section}"
    );
    assert!(section.contains("meshgen never emits secrets"), "{section}");
    assert!(
        section.contains(
            "| front | 8080 (`http`) | v1 | `version: v1` | up to step `retire-v1` |\n\
             |  |  | v2 | `track: canary` | from step `canary-testers` |\n\
             | cart | 8080 (`http`) | v1 | `version: v1` |  |\n"
        ),
        "{section}"
    );
    // The launch waits for the application's canary pods before routing.
    assert!(
        plan.contains(
            "1. launch: `kubectl apply -f steps/02-canary-testers.launch.yaml`\n\
             2. wait until the application's pods of front v2 (`track: canary`) are ready\n\
             3. route: `kubectl apply -f steps/02-canary-testers.yaml`\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "Requests entering through `shop-gateway` get this routing of front, cart too \
             (`version_routing`)"
        ),
        "{plan}"
    );
}

#[test]
fn version_routing_silences_ist0140_and_without_it_the_plan_says_gateway_traffic_ignores_steps() {
    let steps = "[[steps]]\nname = \"canary\"\n\
                 [[steps.routes]]\nservice = \"web\"\nheaders = { x-canary = \"on\" }\nto = \"v2\"\n\
                 [[steps.routes]]\nservice = \"web\"\nto = \"v1\"\n";
    let sandbox = Sandbox::new();
    sandbox.write("with.toml", one_service("version_routing = true", steps));
    sandbox.write("without.toml", one_service("", steps));
    let with = sandbox.run(&["check", "with.toml"]);
    with.expect_code(0);
    assert_eq!(with.stderr, "");
    let without = sandbox.run(&["check", "without.toml"]);
    without.expect_code(0);
    assert!(
        without.stderr.contains("(Istio IST0140)"),
        "{}",
        without.stderr
    );
    sandbox
        .run(&["build", "without.toml", "--out", "out"])
        .expect_code(0);
    let plan = sandbox.read("out/web/PLAN.md");
    assert!(
        plan.contains(
            "| **web** | x-canary: on |  | v2 |  |  |  |  |\n\
             | **web** | everyone else |  | v1 |  |  |  |  |\n\
             | **web** | through gateway `web-gateway` |  | v1, v2 (no subset: any pod, this \
             routing ignored) |  |  |  |  |\n"
        ),
        "{plan}"
    );
}

#[test]
fn a_gateway_virtual_service_of_a_step_is_routing_under_argocd_waves() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("shop"), "--out", "out", "--argocd-waves"])
        .expect_code(0);
    let wave = |file: &str| {
        let text = out.read(&format!("out/shop/{file}"));
        let docs = documents(&text);
        let edge = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "shop-edge")
            .expect("gateway VS");
        edge["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].clone()
    };
    assert_eq!(wave("04-gateway.yaml"), "4");
    // With subsets, after the DestinationRules (wave 5), like the other VirtualServices.
    assert_eq!(wave("steps/02-canary-testers.yaml"), "6");
    assert_eq!(wave("routing/03-canary-10/gateway.yaml"), "6");
}

#[test]
fn gateways_no_pod_of_the_install_serves_are_warned_about() {
    let sandbox = Sandbox::new();
    let with_mesh = |mesh: &str, selector: &str| {
        format!(
            "name = \"web\"\n[mesh]\nversion = \"1.30.3\"\n{mesh}\n[namespace]\nname = \"web\"\n\
             [[services]]\nname = \"web\"\nport = 8080\n  [services.versions.v1]\n  \
             image = \"example/web:1\"\n[gateway]\nvirtual_service = \"edge\"\n{selector}\n[[gateway.routes]]\nservice = \"web\"\n"
        )
    };
    let warned = "warning: gateway `web-gateway` selects the pods labelled istio: ingressgateway";
    let cases = [
        ("profile = \"minimal\"", "", true),
        ("profile = \"ambient\"", "", true),
        ("[mesh.components]\ningress_gateway = false", "", true),
        (
            "profile = \"minimal\"\n[mesh.components]\ningress_gateway = true",
            "",
            false,
        ),
        ("profile = \"default\"", "", false),
        // A selector of one's own: a gateway installed elsewhere.
        (
            "profile = \"minimal\"",
            "selector = { app = \"edge\" }",
            false,
        ),
    ];
    for (mesh, selector, warns) in cases {
        sandbox.write("web.toml", with_mesh(mesh, selector));
        let run = sandbox.run(&["check", "web.toml"]);
        run.expect_code(0);
        assert_eq!(
            run.stderr.contains(warned),
            warns,
            "{mesh} {selector}:\n{}",
            run.stderr
        );
    }
}

/// `meshgen explain` on the shop at `step` for `GET uri` entering at the
/// gateway, with `headers`: its stdout.
fn explain_shop(step: &str, uri: &str, headers: &[&str]) -> String {
    let path = scenario("shop");
    let mut args = vec!["explain", path.as_str(), "--step", step, "--uri", uri];
    for header in headers {
        args.extend(["--header", header]);
    }
    Sandbox::new().run(&args).expect_code(0).stdout.clone()
}

#[test]
fn explain_entering_at_the_gateway_follows_the_steps_version_routing_as_the_plan_does() {
    // Testers: the first rule, its header ANDed with the route's URI.
    assert_text(
        &explain_shop("canary-testers", "/", &["x-canary=always"]),
        "step canary-testers: GET / with x-canary=always, entering at gateway shop-gateway
gateway shop-gateway -> front: gateway route 1, rule 1/2 (x-canary exact always and uri exact /) -> v2 => ok
`- front v2 -> cart: rule 1/1 (no condition: every request) -> v1 | client 1 attempt x 2s => ok
outcome:
  p=1: 200: front v2, cart v1
",
    );
    // Everyone else: the second rule, with its weights, timeout and retries.
    assert_text(
        &explain_shop("canary-10", "/products/1", &[]),
        "step canary-10: GET /products/1, entering at gateway shop-gateway
gateway shop-gateway -> front: gateway route 1, rule 2/2 (uri prefix /products) [skipped route 1, rule 1/2: needs x-canary exact always, no x-canary header] -> v1 p=0.9, v2 p=0.1 | route timeout 5s | retries 1 x 2500ms on reset,connect-failure => ok
|- [front v1 p=0.9]
|  `- front v1 -> cart: rule 1/1 (no condition: every request) -> v1 | client 1 attempt x 2s => ok
`- [front v2 p=0.1]
   `- front v2 -> cart: rule 1/1 (no condition: every request) -> v1 | client 1 attempt x 2s => ok
outcome:
  p=0.9: 200: front v1, cart v1
  p=0.1: 200: front v2, cart v1
",
    );
    // Another gateway route's URI: front's rules are skipped by their URIs.
    let cart = explain_shop("canary-10", "/api/cart/items", &["x-canary=always"]);
    assert!(
        cart.contains(
            "gateway shop-gateway -> cart: gateway route 2, rule 1/1 (uri prefix /api/cart) \
             [skipped route 1, rule 1/2: uri /api/cart/items is not / or /products*; \
             route 1, rule 2/2: uri /api/cart/items is not / or /products*] -> v1 => ok\n"
        ),
        "{cart}"
    );
    // As JSON: the gateway route and the service's rule it applies.
    let path = scenario("shop");
    let json = Sandbox::new().run(&[
        "explain",
        &path,
        "--step",
        "canary-testers",
        "--header",
        "x-canary=always",
        "--output",
        "json",
    ]);
    let json: Value = serde_json::from_str(&json.expect_code(0).stdout).expect("JSON");
    assert_eq!(
        json["trace"]["routing"],
        serde_json::json!({
            "kind": "gateway-rule",
            "route": 1,
            "rule": 1,
            "of": 2,
            "why": "x-canary exact always and uri exact /",
            "skipped": []
        })
    );
    // The plan's predictions are explain's, and agree with its tables.
    let out = built_shop();
    let plan = out.read("out/shop/PLAN.md");
    let testers = plan
        .split("### 2. `canary-testers`")
        .nth(1)
        .and_then(|s| s.split("### 3.").next())
        .expect("step 2 of the plan");
    assert!(
        testers.contains("| **front** | x-canary: always |  | v2 |  |  |  |  |\n"),
        "{testers}"
    );
    assert!(
        testers.contains(
            "| requests | p | outcome |\n|---|---|---|\n\
             | x-canary=always | 1 | 200: front v2, cart v1 |\n\
             | everyone else | 1 | 200: front v1, cart v1 |\n"
        ),
        "{testers}"
    );
}

/// A scenario whose gateway sends `/app…` to `web` (v1, v2), then every other
/// request to `other`, with `version_routing`; its one step sends only
/// requests with `x-beta: on` to web v2. `other_route`: whether the second
/// gateway route is there.
fn falls_through(other_route: bool) -> String {
    let other = if other_route {
        "[[gateway.routes]]\nservice = \"other\"\n"
    } else {
        ""
    };
    format!(
        "name = \"web\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"web\"\n\
         [[services]]\nname = \"web\"\nport = 8080\n  [services.versions.v1]\n  \
         image = \"example/web:1\"\n  [services.versions.v2]\n  image = \"example/web:2\"\n\
         [[services]]\nname = \"other\"\nport = 8080\n  [services.versions.v1]\n  \
         image = \"example/other:1\"\n\
         [gateway]\nvirtual_service = \"web-edge\"\nversion_routing = true\n\
         [[gateway.routes]]\nservice = \"web\"\nuris = [ {{ prefix = \"/app\" }} ]\n{other}\
         [[steps]]\nname = \"beta\"\n\
         [[steps.routes]]\nservice = \"web\"\nheaders = {{ x-beta = \"on\" }}\nto = \"v2\"\n"
    )
}

#[test]
fn explain_at_the_gateway_sends_requests_no_rule_takes_to_the_later_routes_or_a_404() {
    let sandbox = Sandbox::new();
    let explain = |headers: &[&str]| {
        let mut args = vec!["explain", "web.toml", "--step", "beta", "--uri", "/app/x"];
        args.extend(["--entry", "gateway"]);
        for header in headers {
            args.extend(["--header", header]);
        }
        sandbox.run(&args).expect_code(0).stdout.clone()
    };
    sandbox.write("web.toml", falls_through(true));
    let beta = explain(&["x-beta=on"]);
    assert!(
        beta.contains(
            "gateway web-gateway -> web: gateway route 1, rule 1/1 (x-beta exact on and uri \
             prefix /app) -> v2 => ok\n"
        ),
        "{beta}"
    );
    // Without the header, on to the next gateway route, as Istio reads one
    // VirtualService: `other`, which no step routes, without a subset.
    let others = explain(&[]);
    assert!(
        others.contains(
            "gateway web-gateway -> other: gateway route 2 (no condition: every request) \
             [skipped route 1, rule 1/1: needs x-beta exact on, no x-beta header] -> v1 \
             (no subset: deployed versions by replicas) => ok\n"
        ),
        "{others}"
    );
    // With no later route, the gateway answers 404.
    sandbox.write("web.toml", falls_through(false));
    assert_text(
        &explain(&[]),
        "step beta: GET /app/x, entering at gateway web-gateway
gateway web-gateway -> -: no rule matches [route 1, rule 1/1: needs x-beta exact on, no x-beta header] => fails: HTTP 404 from gateway web-gateway
outcome:
  p=1: HTTP 404 from gateway web-gateway: no route of the gateway's VirtualService web-edge matches
",
    );
}

/// Releases on existing workloads with `version_routing`: `promo` (behind
/// the gateway's `/promo`) is launched whole by the first step and routed at
/// the edge; `web` (every other request) is pinned to v1, then moved to v2
/// while v1 is retired — or, with `route_away = false`, v1 is retired while
/// the routing in force (the gateway's too) still sends it everyone.
fn edge_release(route_away: bool) -> String {
    let last = if route_away {
        "[[steps.routes]]\nservice = \"web\"\nto = \"v2\"\n"
    } else {
        ""
    };
    format!(
        "name = \"edge\"\nworkloads = \"existing\"\n[mesh]\nversion = \"1.30.3\"\n\
         [namespace]\nname = \"edge\"\n\
         [[services]]\nname = \"web\"\nport = 8080\n  [services.versions.v1]\n  \
         [services.versions.v2]\n  labels = {{ track = \"next\" }}\n\
         [[services]]\nname = \"promo\"\nport = 8080\n  [services.versions.v1]\n\
         [gateway]\nvirtual_service = \"edge-routes\"\nversion_routing = true\n\
         [[gateway.routes]]\nservice = \"promo\"\nuris = [ {{ prefix = \"/promo\" }} ]\n\
         [[gateway.routes]]\nservice = \"web\"\n\
         [[steps]]\nname = \"promo-on\"\nlaunch = [ {{ service = \"promo\", version = \"v1\" }} ]\n\
         [[steps.routes]]\nservice = \"promo\"\nto = \"v1\"\n\
         [[steps]]\nname = \"pin\"\n[[steps.routes]]\nservice = \"web\"\nto = \"v1\"\n\
         [[steps]]\nname = \"web-v2\"\nretire = [ {{ service = \"web\", version = \"v1\" }} ]\n\
         {last}"
    )
}

#[test]
fn releases_on_existing_workloads_move_subsets_only_and_the_gateway_routes_in_the_route_phase() {
    let out = Sandbox::new();
    let path = out
        .write("edge.toml", edge_release(true))
        .display()
        .to_string();
    let run = out.run(&["build", &path, "--out", "out"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let index = index(&out, "edge");
    // Launch and retire phases, forward and back, move DestinationRules only:
    // the application's own manifests run (and scale down) the pods.
    let mut phases = Vec::new();
    for entry in (index["steps"].as_array().into_iter().flatten())
        .chain(index["rollback"].as_array().into_iter().flatten())
    {
        let kinds: Vec<&str> = (entry["resources"].as_array().into_iter().flatten())
            .map(|r| r["kind"].as_str().expect("kind"))
            .collect();
        let phase = entry["phase"].as_str().expect("phase");
        if phase != "route" {
            assert!(kinds.iter().all(|k| *k == "DestinationRule"), "{entry}");
        }
        phases.push(format!(
            "{} {phase} {} {}",
            entry["name"].as_str().expect("name"),
            entry["action"].as_str().expect("action"),
            kinds.join(",")
        ));
    }
    assert_eq!(
        phases,
        [
            // promo runs from this step: its DestinationRule comes first, the
            // routes naming its subset (the gateway's last) after.
            "promo-on launch apply DestinationRule",
            "promo-on route apply VirtualService,VirtualService",
            "pin route apply VirtualService,VirtualService",
            // web v1's subset goes only once nothing routes to it.
            "web-v2 route apply VirtualService,VirtualService",
            "web-v2 retire apply DestinationRule",
            // Rollbacks: the previous gateway VirtualService is restored
            // before what the step launched is retired.
            "promo-on route apply VirtualService",
            "promo-on route delete VirtualService",
            "promo-on retire delete DestinationRule",
            "pin route apply VirtualService",
            "pin route delete VirtualService",
            "web-v2 launch apply DestinationRule",
            "web-v2 route apply VirtualService,VirtualService",
        ]
    );
    let route = out.read("out/edge/steps/01-promo-on.yaml");
    let gateway = documents(&route).pop().expect("a document");
    assert_eq!(gateway["metadata"]["name"], "edge-routes");
    assert_eq!(
        gateway["spec"]["http"][0]["route"][0]["destination"]["subset"],
        "v1"
    );
    assert_plays_make_before_break(&out, &path, "edge", &["promo-on", "pin", "web-v2"]);
}

#[test]
fn a_version_the_gateway_still_routes_to_cannot_be_retired() {
    let sandbox = Sandbox::new();
    sandbox.write("edge.toml", edge_release(false));
    let run = sandbox.run(&["check", "edge.toml"]);
    run.expect_code(1);
    // The gateway's VirtualService in force re-states web's routing (v1 for
    // everyone since `pin`): retiring v1 would leave it naming a missing subset.
    assert_eq!(
        run.stderr.lines().next(),
        Some(
            "edge.toml:38:41: error: retire: version `v1` of `web` still receives traffic after \
             this step: the rule on line 33 of step `pin` routes to it; route `web` away from it \
             in this step or an earlier one"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rules_faults_and_mirror_apply_at_the_gateway_with_version_routing() {
    let sandbox = Sandbox::new();
    let text = one_service(
        "version_routing = true",
        "uris = [ { prefix = \"/app\" } ]\n\
         [[steps]]\nname = \"chaos\"\n\
         [[steps.routes]]\nservice = \"web\"\nheaders = { x-chaos = \"on\" }\nto = \"v2\"\n\
         delay = \"2s\"\ndelay_percent = 50\nabort = 503\nabort_percent = 10\n\
         [[steps.routes]]\nservice = \"web\"\nto = \"v1\"\nmirror = \"v2\"\nmirror_percent = 25\n",
    );
    sandbox.write("web.toml", &text);
    let run = sandbox.run(&["build", "web.toml", "--out", "out"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let step = sandbox.read("out/web/steps/01-chaos.yaml");
    let edge = document(&step, "VirtualService", "web-edge").expect("gateway VS");
    let http = edge.split_once("  http:\n").expect("http").1;
    assert_text(
        http,
        "  - match:
    - headers:
        x-chaos:
          exact: \"on\"
      uri:
        prefix: /app
    route:
    - destination:
        host: web
        subset: v2
        port:
          number: 8080
    fault:
      delay:
        percentage:
          value: 50.0
        fixedDelay: 2s
      abort:
        percentage:
          value: 10.0
        httpStatus: 503
  - match:
    - uri:
        prefix: /app
    route:
    - destination:
        host: web
        subset: v1
        port:
          number: 8080
    mirror:
      host: web
      subset: v2
      port:
        number: 8080
    mirrorPercentage:
      value: 25.0
",
    );
    // explain entering at the gateway injects the same faults.
    let explained = sandbox.run(&[
        "explain",
        "web.toml",
        "--step",
        "chaos",
        "--uri",
        "/app",
        "--header",
        "x-chaos=on",
    ]);
    let explained = &explained.expect_code(0).stdout;
    assert!(
        explained.ends_with(
            "outcome:\n  p=0.45: 200: web v2\n  p=0.45: 200 after 2s: web v2\n  \
             p=0.05: HTTP 503 from web: abort injected\n  \
             p=0.05: HTTP 503 after 2s from web: abort injected\n"
        ),
        "{explained}"
    );
}
