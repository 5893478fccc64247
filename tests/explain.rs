//! `meshgen explain` and the build check built on the same outcome model:
//! the Bookinfo walkthrough, JSON output, entries, and the warnings a build
//! prints for steps that make a declared call fail.

use crate::support::{Sandbox, repo, scenario};

/// A scenario with `front` calling `back`, one step, and no gateway.
fn no_gateway(calls_back: &str) -> String {
    format!(
        r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
calls = [ {{ service = "back", timeout = "1s" }} ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "back"
port = 80
calls = [ {calls_back} ]
  [services.versions.v1]
  image = "x/back:1"
[[steps]]
name = "s"
[[steps.routes]]
service = "back"
to = "v1"
delay = "2s"
"#
    )
}

#[test]
fn explain_ratings_delay_for_jason_prints_the_walkthrough_outcome() {
    let run = Sandbox::new().run(&[
        "explain",
        &scenario("bookinfo"),
        "--step",
        "ratings-delay",
        "--header",
        "end-user=jason",
    ]);
    run.expect_code(0);
    let out = &run.stdout;
    for line in [
        "step ratings-delay: GET /productpage with end-user=jason, entering at gateway bookinfo-gateway",
        "productpage v1 -> reviews: rule 1/2 (end-user exact jason) -> v2 | client 2 attempts x 3s => fails after 6s: timed out: 2 attempts x 3s; reviews answers after 7s",
        "reviews v2 -> ratings: rule 1/2 (end-user exact jason) -> v1 | delay 7s (100%) | client 1 attempt x 10s => ok after 7s",
        "  p=1: 200 after 6s: productpage v1, details v1; reviews unavailable to productpage (timed out: 2 attempts x 3s; reviews answers after 7s)",
    ] {
        assert!(
            out.lines().any(|l| l.ends_with(line)),
            "missing {line:?} in\n{out}"
        );
    }
}

#[test]
fn explain_ratings_delay_for_anyone_else_is_unaffected() {
    let run = Sandbox::new().run(&["explain", &scenario("bookinfo"), "--step", "ratings-delay"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .ends_with("outcome:\n  p=1: 200: productpage v1, details v1, reviews v1\n"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("-> ratings"),
        "reviews v1 never calls ratings:\n{}",
        run.stdout
    );
}

#[test]
fn explain_json_is_deterministic_and_carries_the_outcomes() {
    let sandbox = Sandbox::new();
    let args = [
        "explain",
        &scenario("bookinfo"),
        "--step",
        "reviews-50-v3",
        "--output",
        "json",
    ];
    let first = sandbox.run(&args);
    first.expect_code(0);
    assert_eq!(first.stdout, sandbox.run(&args).stdout);
    let json: serde_json::Value = serde_json::from_str(&first.stdout).expect("JSON");
    assert_eq!(json["step"], "reviews-50-v3");
    assert_eq!(json["entry"], "gateway bookinfo-gateway");
    let outcomes = json["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 2);
    for o in outcomes {
        assert_eq!(o["probability"], 0.5);
        assert_eq!(o["result"], "ok");
    }
    assert_eq!(json["trace"]["routing"]["kind"], "gateway");
    // Without `version_routing` no route is skipped, and the key is left out.
    assert_eq!(json["trace"]["routing"].get("skipped"), None);
}

#[test]
fn build_warns_about_the_fault_steps_and_still_succeeds() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--out", "out"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            ":95:8: warning: step ratings-delay: the 7s delay on ratings exceeds productpage's \
             budget for reviews (2 attempts x 3s): end-user=jason will see an error"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("warning: step ratings-abort: the HTTP 500 abort on ratings"),
        "{}",
        run.stderr
    );
    let plan = sandbox.read("out/bookinfo/PLAN.md");
    assert!(
        plan.contains(
            "| end-user=jason | 1 | 200 after 6s: productpage v1, details v1; reviews unavailable \
             to productpage (timed out: 2 attempts x 3s; reviews answers after 7s) |"
        ),
        "{plan}"
    );
}

#[test]
fn deny_warnings_turns_the_predicted_failure_into_a_failed_build() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&[
            "build",
            &scenario("bookinfo"),
            "--out",
            "out",
            "--deny-warnings",
        ])
        .expect_code(1);
    assert!(!sandbox.path().join("out/bookinfo").exists());
}

#[test]
fn a_cycle_in_declared_calls_is_an_error_at_the_call() {
    let sandbox = Sandbox::new();
    let text = no_gateway(r#"{ service = "front" }"#);
    sandbox.write("s.toml", &text);
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(1);
    let line = text
        .lines()
        .position(|l| l.contains(r#"calls = [ { service = "front" } ]"#))
        .expect("the call")
        + 1;
    assert!(
        run.stderr.contains(&format!(
            "s.toml:{line}:23: error: this call closes a cycle of declared calls (front -> back \
             -> front)"
        )),
        "{}",
        run.stderr
    );
    sandbox
        .run(&["explain", "s.toml", "--step", "s", "--entry", "front"])
        .expect_code(1);
}

#[test]
fn without_a_gateway_explain_asks_for_an_entry() {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", no_gateway(""));
    let run = sandbox.run(&["explain", "s.toml", "--step", "s"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("give --entry SERVICE"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(&["explain", "s.toml", "--step", "s", "--entry", "front"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("=> fails after 1s: timed out: 1 attempt x 1s; back answers after 2s"),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_refuses_an_unknown_step_or_a_malformed_header() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["explain", &scenario("bookinfo"), "--step", "nope"]);
    run.expect_code(2);
    assert!(run.stderr.contains("no step `nope`"), "{}", run.stderr);
    sandbox
        .run(&[
            "explain",
            &scenario("bookinfo"),
            "--step",
            "all-v1",
            "--header",
            "jason",
        ])
        .expect_code(2);
}

#[test]
fn a_uri_no_gateway_route_takes_is_a_404_at_the_gateway() {
    let run = Sandbox::new().run(&[
        "explain",
        &scenario("bookinfo"),
        "--step",
        "all-v1",
        "--entry",
        "gateway",
        "--uri",
        "/admin",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "p=1: HTTP 404 from gateway bookinfo-gateway: no gateway route matches /admin"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn an_exact_uri_matches_the_path_without_its_query_string_as_envoy_does() {
    let run = Sandbox::new().run(&[
        "explain",
        &scenario("bookinfo"),
        "--step",
        "all-v1",
        "--uri",
        "/productpage?u=normal",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("uri exact /productpage") && !run.stdout.contains("404"),
        "{}",
        run.stdout
    );
}

#[test]
fn identical_outcomes_are_one_row_of_the_plan_and_one_json_outcome() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "s.toml",
        r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
calls = [ { service = "back" } ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "back"
port = 80
  [services.versions.v1]
  image = "x/back:1"
[[steps]]
name = "s"
[[steps.routes]]
service = "front"
to = "v1"
delay = "500ms"
delay_percent = 10
[[steps.routes]]
service = "back"
to = "v1"
delay = "500ms"
delay_percent = 50
"#,
    );
    sandbox.run(&["build", "s.toml"]).expect_code(0);
    let plan = sandbox.read("out/t/PLAN.md");
    let rows: Vec<&str> = plan
        .lines()
        .filter(|l| l.starts_with("| everyone |"))
        .collect();
    assert_eq!(
        rows,
        [
            "| everyone | 0.5 | 200 after 500ms: front v1, back v1 |",
            "| everyone | 0.45 | 200: front v1, back v1 |",
            "| everyone | 0.05 | 200 after 1s: front v1, back v1 |",
        ],
        "{plan}"
    );
    let run = sandbox.run(&[
        "explain", "s.toml", "--step", "s", "--entry", "front", "--output", "json",
    ]);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let probabilities: Vec<f64> = json["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| o["probability"].as_f64().expect("a probability"))
        .collect();
    assert_eq!(probabilities, [0.5, 0.45, 0.05]);
}

#[test]
fn explain_prints_the_warnings_of_the_asked_step_only() {
    let sandbox = Sandbox::new();
    // Bookinfo warns about ratings-delay and ratings-abort; jason-v2 has none.
    let run = sandbox.run(&["explain", &scenario("bookinfo"), "--step", "jason-v2"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "", "no warning concerns jason-v2");
    let run = sandbox.run(&["explain", &scenario("bookinfo"), "--step", "ratings-delay"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains(":95:8: warning: step ratings-delay: the 7s delay on ratings"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ratings-abort"), "{}", run.stderr);
    // A warning about no step in particular (the mesh) is shown with every
    // step; so is every error, whichever step it is in.
    let text = std::fs::read_to_string(scenario("bookinfo"))
        .expect("bookinfo")
        .replace("version = \"1.5.1\"", "version = \"1.99.0\"");
    sandbox.write("newer.toml", &text);
    let run = sandbox.run(&["explain", "newer.toml", "--step", "jason-v2"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr.matches(": warning: ").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("warning: Istio 1.99.0 is newer"),
        "{}",
        run.stderr
    );
    sandbox.write(
        "broken.toml",
        text.replace("to = \"v3\"\n", "to = \"v9\"\n"),
    );
    let run = sandbox.run(&["explain", "broken.toml", "--step", "jason-v2"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("error: to: service `reviews` has no version `v9`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ratings-delay"), "{}", run.stderr);
}

#[test]
fn a_share_of_requests_to_a_version_without_pods_is_a_warning_in_sentences() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "s.toml",
        r#"
name = "shop"
[mesh]
version = "1.22.0"
[namespace]
name = "shop"
[[services]]
name = "frontend"
port = 80
calls = [ { service = "backend" } ]
  [services.versions.v1]
  image = "x/frontend:1"
[[services]]
name = "backend"
port = 80
  [services.versions.v1]
  image = "x/backend:1"
  [services.versions.v2]
  deploy = false
[[steps]]
name = "canary"
[[steps.routes]]
service = "backend"
to = { v1 = 70, v2 = 30 }
"#,
    );
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("s.toml:"))
        .collect();
    assert_eq!(
        warnings,
        [
            "s.toml:21:8: warning: step canary: backend v2 has no pods, so the call from \
             frontend to backend fails with HTTP 503 (1 attempt): everyone will see an error \
             with probability 0.3",
            "s.toml:24:17: warning: 30% of the requests this rule takes go to `backend` version \
             `v2`, which has deploy = false: no pod can answer them, and they get 503 (no \
             healthy upstream)",
        ],
        "{}",
        run.stderr
    );
    // All of them: nothing can answer, an error at the route's `to`.
    let all = sandbox
        .read("s.toml")
        .replace("to = { v1 = 70, v2 = 30 }", "to = \"v2\"");
    sandbox.write("all.toml", all);
    let run = sandbox.run(&["check", "all.toml"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "all.toml:24:6: error: every request to `backend` goes to version `v2`, which has \
             deploy = false: no pod can answer, and each request gets 503 (no healthy upstream)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn explain_matches_regexes_as_envoys_re2_reads_them() {
    // tests/valid/regexes-re2-takes.toml: patterns the `regex` crate would
    // refuse or read otherwise (`\<` as a word boundary, `&&` as an
    // intersection, `\Q…\E`, `{,3}`, `\101`, `a(?i)*`).
    let file = repo().join("tests/valid/regexes-re2-takes.toml");
    let file = file.to_str().expect("UTF-8 repository path");
    let sandbox = Sandbox::new();
    let hop = |args: &[&str]| {
        let mut all = vec!["explain", file, "--step", "v2-for-some"];
        all.extend_from_slice(args);
        let run = sandbox.run(&all);
        run.expect_code(0);
        run.stdout.lines().nth(1).unwrap_or_default().to_owned()
    };
    for (user, version) in [
        ("<jason>", "v2"),
        ("jason", "v1"),
        ("x{,3}A", "v2"),
        ("xxxA", "v1"),
    ] {
        let header = format!("end-user={user}");
        let line = hop(&[
            "--entry",
            "web",
            "--header",
            &header,
            "--header",
            "agent=aaz",
        ]);
        assert!(
            line.ends_with(&format!("-> {version} => ok")),
            "{user}: {line}"
        );
    }
    // `a(?i)*` is `a*`: the `a` before the flag stays lower case.
    let line = hop(&[
        "--entry",
        "web",
        "--header",
        "end-user=<jason>",
        "--header",
        "agent=AAz",
    ]);
    assert!(line.ends_with("-> v1 => ok"), "{line}");
    for (uri, route) in [
        ("/a.b/q]", "gateway route 1 (uri regex"),
        ("/a.b/q", "gateway route 2"),
        ("/axb/q]", "gateway route 2"),
    ] {
        let line = hop(&["--uri", uri]);
        assert!(line.contains(route), "{uri}: {line}");
    }
}

/// One step's routes of `back`: `/api` to v2, everything else to v1.
const API_TO_V2: &str = "[[steps.routes]]\nservice = \"back\"\nuri = { prefix = \"/api\" }\n\
                         to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\n";

/// `front` (behind a gateway route `/api`) calls `back`, routed by one
/// step's `routes` (`[[steps.routes]]` tables), on the mesh settings
/// `mesh` (lines of `[mesh]`).
fn api_scenario(mesh: &str, routes: &str) -> String {
    format!(
        r#"
name = "t"
[mesh]
version = "1.30.3"
{mesh}
[namespace]
name = "t"
[gateway]
routes = [ {{ service = "front", uris = [ {{ prefix = "/api" }} ] }} ]
[[services]]
name = "front"
port = 80
calls = [ {{ service = "back", timeout = "1s" }} ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "back"
port = 80
  [services.versions.v1]
  image = "x/back:1"
  [services.versions.v2]
  image = "x/back:2"
[[steps]]
name = "s"
{routes}
"#
    )
}

/// `meshgen explain s.toml --step s` with `args`, in a sandbox holding
/// `toml` as s.toml; its stdout, once it exits 0.
fn explain_s(toml: &str, args: &[&str]) -> String {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", toml);
    let mut all = vec!["explain", "s.toml", "--step", "s"];
    all.extend_from_slice(args);
    let run = sandbox.run(&all);
    run.expect_code(0);
    run.stdout.clone()
}

#[test]
fn an_httproute_path_prefix_matches_whole_segments_and_an_istio_prefix_any_string() {
    let gateway_api = api_scenario("routing_api = \"gateway-api\"", API_TO_V2);
    let istio = api_scenario("routing_api = \"istio\"", API_TO_V2);
    let to_back = ["--entry", "back", "--uri", "/apix"];
    let out = explain_s(&gateway_api, &to_back);
    assert!(
        out.contains(
            "client -> back [routed by client's sidecar]: HTTPRoute back rule 2/2 (no condition: \
             every request) [skipped rule 1: needs path PathPrefix /api, uri is /apix] -> v1"
        ),
        "{out}"
    );
    let out = explain_s(&istio, &to_back);
    assert!(
        out.contains("client -> back: rule 1/2 (uri prefix /api) -> v2"),
        "{out}"
    );
    // A whole segment, with a query string, does match.
    let out = explain_s(&gateway_api, &["--entry", "back", "--uri", "/api/v1?x=1"]);
    assert!(
        out.contains("HTTPRoute back rule 1/2 (path PathPrefix /api) -> v2"),
        "{out}"
    );
    // The gateway's HTTPRoute reads its paths alike: /apix is a 404 there.
    let out = explain_s(&gateway_api, &["--entry", "gateway", "--uri", "/apix"]);
    assert!(
        out.contains(
            "gateway t-gateway -> - [routed by gateway t-gateway]: no rule of HTTPRoute t \
             matches [rule 1: path /apix is not PathPrefix /api]"
        ),
        "{out}"
    );
    let out = explain_s(&istio, &["--entry", "gateway", "--uri", "/apix"]);
    assert!(
        out.contains("gateway t-gateway -> front: gateway route 1 (uri prefix /api)"),
        "{out}"
    );
}

#[test]
fn httproute_rules_are_tried_by_precedence_and_virtualservice_rules_in_order() {
    let routes = "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = \"jason\" }\n\
                  to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\n\
                  uri = { prefix = \"/api\" }\nto = \"v1\"\n";
    let request = [
        "--entry",
        "back",
        "--uri",
        "/api/v1",
        "--header",
        "end-user=jason",
    ];
    let gateway_api = api_scenario("routing_api = \"gateway-api\"", routes);
    let out = explain_s(&gateway_api, &request);
    assert!(
        out.contains(
            "client -> back [routed by client's sidecar]: HTTPRoute back rule 2/2 (path \
             PathPrefix /api) -> v1"
        ),
        "the longer path (a rule without one has PathPrefix /) is tried first:\n{out}"
    );
    let out = explain_s(&api_scenario("routing_api = \"istio\"", routes), &request);
    assert!(
        out.contains("client -> back: rule 1/2 (end-user exact jason) -> v2"),
        "{out}"
    );
}

#[test]
fn a_step_that_injects_a_fault_is_read_as_a_virtualservice_with_the_gateway_api() {
    let toml = api_scenario("routing_api = \"gateway-api\"", API_TO_V2).replace(
        "service = \"back\"\nto = \"v1\"\n",
        "service = \"back\"\nto = \"v1\"\nabort = 503\n",
    );
    let out = explain_s(&toml, &["--entry", "back", "--uri", "/apix"]);
    // Istio's string prefix: /apix matches /api.
    assert!(
        out.contains(
            "client -> back [routed by client's sidecar]: VirtualService back rule 1/2 (uri \
             prefix /api) -> v2"
        ),
        "{out}"
    );
}

#[test]
fn ambient_explain_names_the_gateway_waypoint_and_ztunnel_of_each_hop() {
    let toml = api_scenario("profile = \"ambient\"\ndataplane = \"ambient\"", API_TO_V2);
    let out = explain_s(&toml, &["--uri", "/api"]);
    let expected = [
        "step s: GET /api, entering at gateway t-gateway",
        "routing_api = \"gateway-api\", dataplane = \"ambient\"",
        "gateway t-gateway -> front [routed by gateway t-gateway, carried by ztunnel]: HTTPRoute \
         t rule 1 (path PathPrefix /api) -> v1 (the Service itself: deployed versions by \
         replicas) => ok",
        "`- front v1 -> back [routed by waypoint waypoint, carried by ztunnel]: HTTPRoute back \
         rule 2/2 (no condition: every request) [skipped rule 1: needs path PathPrefix /api, the \
         path of a call between services is unknown] -> v1 | client 1 attempt x 1s => ok",
        "outcome:",
        "  p=1: 200: front v1, back v1",
    ];
    assert_eq!(out, expected.join("\n") + "\n");
    let json: serde_json::Value =
        serde_json::from_str(&explain_s(&toml, &["--uri", "/api", "--output", "json"]))
            .expect("JSON");
    assert_eq!(json["routing_api"], "gateway-api");
    assert_eq!(json["dataplane"], "ambient");
    let entry = &json["trace"]["enforcement"];
    assert_eq!(
        *entry,
        serde_json::json!({"resource": "HTTPRoute", "name": "t", "proxy": "gateway",
            "proxy_name": "t-gateway", "tunnel": "ztunnel"})
    );
    let call = &json["trace"]["branches"][0]["calls"][0]["enforcement"];
    assert_eq!(
        *call,
        serde_json::json!({"resource": "HTTPRoute", "name": "back", "proxy": "waypoint",
            "proxy_name": "waypoint", "tunnel": "ztunnel"})
    );
}

#[test]
fn a_sidecar_scenario_on_istios_api_explains_as_it_always_did() {
    let out = explain_s(
        &api_scenario("", API_TO_V2),
        &["--entry", "back", "--uri", "/apix"],
    );
    assert_eq!(
        out,
        "step s: GET /apix, entering at back\n\
         client -> back: rule 1/2 (uri prefix /api) -> v2 => ok\n\
         outcome:\n  p=1: 200: back v2\n"
    );
    let json = explain_s(
        &api_scenario("", API_TO_V2),
        &["--entry", "back", "--output", "json"],
    );
    for key in ["routing_api", "dataplane", "enforcement"] {
        assert!(!json.contains(&format!("\"{key}\"")), "{key} in\n{json}");
    }
}
