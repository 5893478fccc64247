//! `[security]`: the PeerAuthentication and AuthorizationPolicies built from
//! the declared calls, the identity warnings, the policies' place in a
//! release's phases and in ambient mode, `explain`'s 403 for a call the
//! policies deny, and their conformance to Istio's CRDs.

use crate::support::{self, Sandbox, scenario};

/// `06-authorization.yaml` of Bookinfo with both keys (scenarios/bookinfo-zero-trust.toml).
const BOOKINFO_POLICIES: &str = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: bookinfo
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: details
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/bookinfo/sa/bookinfo-productpage
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: reviews
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/bookinfo/sa/bookinfo-productpage
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: ratings
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/bookinfo/sa/bookinfo-reviews
";

/// The lines of `stderr` about `file`, without the file name.
fn headlines(stderr: &str, file: &str) -> String {
    let prefix = format!("{file}:");
    (stderr.lines())
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The shipped scenario `name` with `[security]` set to `keys`, written
/// into the sandbox as `name.toml`.
fn with_security(sandbox: &Sandbox, name: &str, keys: &str) -> String {
    let text = std::fs::read_to_string(scenario(name)).expect("shipped scenario");
    let first = "[[services]]";
    let at = text.find(first).expect("a service");
    let text = format!("{}[security]\n{keys}\n\n{}", &text[..at], &text[at..]);
    sandbox.write(&format!("{name}.toml"), text);
    format!("{name}.toml")
}

#[test]
fn bookinfo_with_both_keys_allows_exactly_the_declared_calls_and_the_ingress_gateway() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo-zero-trust"), "--out", "out"])
        .expect_code(0);
    let policies = sandbox.read("out/bookinfo-zero-trust/06-authorization.yaml");
    assert_eq!(policies, BOOKINFO_POLICIES);
    // After the workloads, in the kustomization's apply order.
    let kustomization = sandbox.read("out/bookinfo-zero-trust/kustomization.yaml");
    assert!(
        kustomization.contains("- 05-destination-rules.yaml\n- 06-authorization.yaml\n"),
        "{kustomization}"
    );
    // Teardown deletes them.
    let teardown = sandbox.read("out/bookinfo-zero-trust/teardown.yaml");
    for name in ["default", "productpage", "details", "reviews", "ratings"] {
        assert!(teardown.contains(&format!("  name: {name}\n")), "{name}");
    }
    assert_eq!(teardown.matches("kind: AuthorizationPolicy").count(), 4);
    assert_eq!(teardown.matches("kind: PeerAuthentication").count(), 1);
}

#[test]
fn the_plan_shows_the_allow_list_as_a_table() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo-zero-trust"), "--out", "out"])
        .expect_code(0);
    let plan = sandbox.read("out/bookinfo-zero-trust/PLAN.md");
    let table = "| service | allowed principals | because of |\n|---|---|---|\n\
                 | `productpage` | `cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account` | ingress gateway |\n\
                 | `details` | `cluster.local/ns/bookinfo/sa/bookinfo-productpage` | `productpage` |\n\
                 | `reviews` | `cluster.local/ns/bookinfo/sa/bookinfo-productpage` | `productpage` |\n\
                 | `ratings` | `cluster.local/ns/bookinfo/sa/bookinfo-reviews` | `reviews` |\n";
    assert!(plan.contains(table), "{plan}");
    assert!(
        plan.contains(
            "PeerAuthentication `default` sets mutual TLS to STRICT in namespace `bookinfo`."
        ),
        "{plan}"
    );
    // The step's chart names the account each call is made as.
    assert!(
        plan.contains("  s0v0 -.->|\"as bookinfo-productpage\"| s1\n"),
        "{plan}"
    );
    let plain = Sandbox::new();
    plain
        .run(&["build", &scenario("bookinfo-latest"), "--out", "out"])
        .expect_code(0);
    assert!(
        !plain
            .read("out/bookinfo-latest/PLAN.md")
            .contains("## Authorization")
    );
}

#[test]
fn a_scenario_without_security_has_no_authorization_bundle() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo-latest"), "--out", "out"])
        .expect_code(0);
    assert!(
        !sandbox
            .path()
            .join("out/bookinfo-latest/06-authorization.yaml")
            .exists()
    );
    let teardown = sandbox.read("out/bookinfo-latest/teardown.yaml");
    assert!(!teardown.contains("security.istio.io"), "{teardown}");
}

#[test]
fn explain_predicts_403_for_an_undeclared_call_which_goes_no_further_and_success_for_a_declared_one()
 {
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo-zero-trust");
    let explain_as = |from: &str, to: &str, output: &str| {
        let run = sandbox.run(&[
            "explain",
            &bookinfo,
            "--step",
            "reviews-v3",
            "--from",
            from,
            "--to",
            to,
            "--output",
            output,
        ]);
        run.expect_code(0);
        run.stdout
    };
    let explain = |from: &str, to: &str| explain_as(from, to, "text");
    // What details sees when it calls `callee`, whose policy refuses it.
    let refused = |callee: &str, version: &str| {
        format!(
            "step reviews-v3: GET /productpage, entering at details -> {callee}\n\
             details -> {callee}: rule 1/1 (no condition: every request) -> {version} => fails: \
             HTTP 403 from {callee}\n\
             outcome:\n  \
             p=1: HTTP 403 from {callee}: RBAC: access denied (AuthorizationPolicy `{callee}`: \
             `cluster.local/ns/bookinfo/sa/bookinfo-details` is not among its principals)\n"
        )
    };
    assert_eq!(explain("details", "ratings"), refused("ratings", "v1"));
    // A refused call goes no further than the callee's sidecar: reviews v3
    // never makes its own call to ratings.
    assert_eq!(explain("details", "reviews"), refused("reviews", "v3"));
    let json = explain_as("details", "reviews", "json");
    let trace: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        trace["trace"]["branches"][0]["calls"],
        serde_json::json!([]),
        "{json}"
    );
    assert_eq!(
        explain("reviews", "ratings"),
        "step reviews-v3: GET /productpage, entering at reviews -> ratings\n\
         reviews -> ratings: rule 1/1 (no condition: every request) -> v1 => ok\n\
         outcome:\n  \
         p=1: 200: ratings v1\n"
    );
    // Through the gateway, every declared call succeeds.
    let run = sandbox.run(&["explain", &bookinfo, "--step", "reviews-v3"]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "outcome:\n  p=1: 200: productpage v1, details v1, reviews v3, ratings v1\n"
        ),
        "{}",
        run.stdout
    );
    // Without [security], the same undeclared call succeeds.
    let run = sandbox.run(&[
        "explain",
        &scenario("bookinfo-latest"),
        "--step",
        "reviews-v3",
        "--from",
        "details",
        "--to",
        "ratings",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("p=1: 200: ratings v1\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_from_and_to_must_name_services_and_go_together() {
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo-zero-trust");
    let run = sandbox.run(&[
        "explain",
        &bookinfo,
        "--step",
        "reviews-v3",
        "--from",
        "nobody",
        "--to",
        "ratings",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--from/--to `nobody` is not a service of the scenario"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(&[
        "explain",
        &bookinfo,
        "--step",
        "reviews-v3",
        "--from",
        "details",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("--to"), "{}", run.stderr);
}

/// Callers without accounts, a call to an undeclared service, and a gateway
/// of its own pods.
const IDENTITIES: &str = r#"name = "shop"
[mesh]
version = "1.30.3"
[namespace]
name = "shop"
[security]
authorization = "calls"
[[services]]
name = "front"
port = 8080
calls = [ { service = "cart" }, { service = "stock" } ]
  [services.versions.v1]
  image = "example/front:1"
[[services]]
name = "cart"
port = 8080
  [services.versions.v1]
  image = "example/cart:1"
[[services]]
name = "stock"
port = 8080
service_account = "stock"
calls = [ { service = "warehouse" } ]
  [services.versions.v1]
  image = "example/stock:1"
[gateway]
name = "shop-gateway"
selector = { app = "my-gateway" }
[[gateway.routes]]
service = "front"
"#;

#[test]
fn identity_warnings_name_who_shares_default_and_an_undeclared_call_is_an_error_at_the_call() {
    let sandbox = Sandbox::new();
    sandbox.write("shop.toml", IDENTITIES);
    let run = sandbox.run(&["check", "shop.toml"]);
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr, "shop.toml"),
        "9:8: warning: service `front` has no service_account: it calls `cart`, `stock` as \
         `default`, so `cart` (without service_account too), and any other workload of the \
         namespace without an account, may call them too; set its service_account\n\
         23:23: error: call to undeclared service `warehouse`\n\
         28:12: warning: the gateway selects its own pods, whose service account meshgen does \
         not know: the AuthorizationPolicies of authorization = \"calls\" do not allow it, so \
         requests through it are denied (403); add an AuthorizationPolicy allowing its \
         principal, or use Istio's ingress gateway (no selector)\n"
    );
    // Without authorization, accounts allow nothing: no warning.
    sandbox.write(
        "plain.toml",
        IDENTITIES
            .replace("authorization = \"calls\"", "mtls = \"strict\"")
            .replace("calls = [ { service = \"warehouse\" } ]\n", ""),
    );
    let run = sandbox.run(&["check", "plain.toml"]);
    run.expect_code(0);
    assert_eq!(headlines(&run.stderr, "plain.toml"), "");
}

#[test]
fn a_launched_caller_is_allowed_before_its_deployment_and_the_rollback_removes_it() {
    let sandbox = Sandbox::new();
    let file = with_security(&sandbox, "bookinfo-release", "authorization = \"calls\"");
    sandbox
        .run(&["build", &file, "--out", "out"])
        .expect_code(0);
    let out = "out/bookinfo-release";
    // Before the launch no running version calls ratings: it allows nothing.
    let ratings_nobody = "  name: ratings\n  namespace: bookinfo\nspec:\n  selector:\n    \
                          matchLabels:\n      app: ratings\n  action: ALLOW\n";
    let ratings_reviews =
        "        principals:\n        - cluster.local/ns/bookinfo/sa/bookinfo-reviews\n";
    let bundle = sandbox.read(&format!("{out}/06-authorization.yaml"));
    let ratings = &bundle[bundle.find("  name: ratings").expect("ratings policy")..];
    assert!(ratings.starts_with(ratings_nobody), "{bundle}");
    assert!(!ratings.contains("principals"), "{bundle}");
    // The launch allows reviews v3 before its Deployment starts.
    let launch = sandbox.read(&format!("{out}/steps/02-launch-v3.launch.yaml"));
    let policy = launch
        .find("kind: AuthorizationPolicy")
        .expect("policy in launch");
    let deployment = launch
        .find("kind: Deployment")
        .expect("deployment in launch");
    assert!(policy < deployment, "{launch}");
    assert!(launch.contains(ratings_reviews), "{launch}");
    // The whole state after the step holds it.
    let state = sandbox.read(&format!("{out}/routing/02-launch-v3/authorization.yaml"));
    assert!(state.contains(ratings_reviews), "{state}");
    // Rolling the launch back removes the allowance once routing is back.
    let rollback = sandbox.read(&format!("{out}/steps/02-launch-v3.rollback.retire.yaml"));
    let at = rollback
        .find("  name: ratings")
        .expect("ratings in rollback");
    assert!(rollback[at..].starts_with(ratings_nobody), "{rollback}");
    // The plan shows the allow-lists after the launch, and only there.
    let plan = sandbox.read(&format!("{out}/PLAN.md"));
    assert_eq!(
        plan.matches("Who may call whom changes").count(),
        1,
        "{plan}"
    );
    assert!(
        plan.contains(
            "| `ratings` | `cluster.local/ns/bookinfo/sa/bookinfo-reviews` | `reviews` |\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("| `ratings` | nobody | no caller runs, no gateway route |\n"),
        "{plan}"
    );
    // explain follows the timeline: reviews may call ratings once v3 runs.
    let last_line = |step: &str| {
        let run = sandbox.run(&[
            "explain", &file, "--step", step, "--from", "reviews", "--to", "ratings",
        ]);
        run.expect_code(0);
        run.stdout.lines().last().unwrap_or_default().to_owned()
    };
    assert!(
        last_line("pin-v1").starts_with("  p=1: HTTP 403 from ratings: RBAC: access denied"),
        "{}",
        last_line("pin-v1")
    );
    assert_eq!(last_line("launch-v3"), "  p=1: 200: ratings v1");
    // Retiring reviews v1, which calls nobody, changes no allowance.
    let retire = sandbox.read(&format!("{out}/steps/06-retire-v1.retire.yaml"));
    assert!(!retire.contains("AuthorizationPolicy"), "{retire}");
}

#[test]
fn in_ambient_mode_the_waypoint_checks_callers_and_ztunnel_admits_the_waypoint_and_gateway() {
    let sandbox = Sandbox::new();
    let file = with_security(&sandbox, "bookinfo-ambient", "authorization = \"calls\"");
    sandbox
        .run(&["build", &file, "--out", "out"])
        .expect_code(0);
    let policies = sandbox.read("out/bookinfo-ambient/06-authorization.yaml");
    let expected = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage-ztunnel
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/bookinfo/sa/bookinfo-gateway-istio
        - cluster.local/ns/bookinfo/sa/waypoint
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage
  namespace: bookinfo
spec:
  targetRefs:
  - kind: Service
    group: \"\"
    name: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/bookinfo/sa/bookinfo-gateway-istio
---
";
    assert!(policies.starts_with(expected), "{policies}");
    assert!(policies.contains("  name: details-ztunnel\n"), "{policies}");
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn policies_conform_to_istio_1_5_1_and_ambient_ones_to_1_30_3() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let schemas = shared.join("schemas");
    let crd = |file: &str| {
        let path = schemas.join(file);
        if !path.is_file() {
            support::require_shared(&path);
        }
        path.display().to_string()
    };
    let sandbox = Sandbox::new();
    let old = support::repo().join("tests/valid/istio-1-5-zero-trust.toml");
    let run = sandbox.run(&[
        "build",
        &old.display().to_string(),
        "--out",
        "old",
        "--crd-schemas",
        &crd("istio/1.5.1/crd-all.gen.yaml"),
    ]);
    run.expect_code(0);
    assert!(run.stderr.contains(", 0 do not conform;"), "{}", run.stderr);
    let policies = sandbox.read("old/zero-trust-1-5/06-authorization.yaml");
    assert_eq!(
        policies
            .matches("apiVersion: security.istio.io/v1beta1\n")
            .count(),
        5
    );
    let ambient = with_security(
        &sandbox,
        "bookinfo-ambient",
        "mtls = \"strict\"\nauthorization = \"calls\"",
    );
    let run = sandbox.run(&[
        "build",
        &ambient,
        "--out",
        "new",
        "--crd-schemas",
        &crd("istio/1.30.3/crd-all.gen.yaml"),
    ]);
    run.expect_code(0);
    assert!(run.stderr.contains(", 0 do not conform;"), "{}", run.stderr);
}

#[test]
fn in_ambient_mode_a_service_named_after_another_ones_ztunnel_policy_is_an_error() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "z.toml",
        r#"name = "z"
[mesh]
version = "1.30.3"
profile = "ambient"
dataplane = "ambient"
[namespace]
name = "z"
[security]
authorization = "calls"
[[services]]
name = "api"
port = 8080
service_account = "api"
  [services.versions.v1]
  image = "example/api:1"
[[services]]
name = "api-ztunnel"
port = 8080
service_account = "api-ztunnel"
  [services.versions.v1]
  image = "example/x:1"
"#,
    );
    let run = sandbox.run(&["check", "z.toml"]);
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr, "z.toml"),
        "17:8: error: service `api-ztunnel`: its AuthorizationPolicy would have the name of \
         the ztunnel policy of service `api` (ambient mode, authorization = \"calls\"); rename \
         one of them\n"
    );
}

#[test]
fn the_plan_chart_marks_the_requests_the_policies_deny() {
    let sandbox = Sandbox::new();
    // A step, and no call to an undeclared service.
    let text = IDENTITIES.replace("calls = [ { service = \"warehouse\" } ]\n", "")
        + "[[steps]]\nname = \"all-v1\"\n[[steps.routes]]\nservice = \"*\"\nto = \"v1\"\n";
    sandbox.write("shop.toml", text);
    sandbox
        .run(&["build", "shop.toml", "--out", "out"])
        .expect_code(0);
    let plan = sandbox.read("out/shop/PLAN.md");
    // The gateway of its own pods has no known identity: front denies it.
    assert!(
        plan.contains("  gw -->|\"every request, denied: 403 RBAC\"| s0\n"),
        "{plan}"
    );
    assert!(plan.contains("  s0v0 -.->|\"as default\"| s1\n"), "{plan}");
}
