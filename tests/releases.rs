//! Releases: versions launched and retired by steps. The shipped release
//! scenario is built, and its files are played against a simulated cluster:
//! every step and every rollback, file by file, must keep each route's subset
//! defined and backed by a Deployment (make before break), and must end in
//! the state `build --stdout --step` prints.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{Sandbox, documents, scenario};

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

/// Runs one file of a build against `cluster`, as `kubectl apply -f` or
/// `kubectl delete --ignore-not-found -f` would.
fn run_file(cluster: &mut Cluster, entry: &Value, out: &Sandbox, folder: &str) {
    let file = entry["file"].as_str().expect("file");
    let text = out.read(&format!("{folder}/{file}"));
    for document in documents(&text) {
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

/// Every subset a VirtualService routes or mirrors to is defined by its
/// host's DestinationRule and has a Deployment: nothing answers 503.
fn assert_make_before_break(cluster: &Cluster, when: &str) {
    for ((kind, ns, name), vs) in cluster {
        if kind != "VirtualService" || vs["spec"].get("gateways").is_some() {
            continue;
        }
        for http in vs["spec"]["http"].as_array().into_iter().flatten() {
            let routes = http["route"].as_array().into_iter().flatten();
            let destinations = routes.map(|r| &r["destination"]).chain(http.get("mirror"));
            for destination in destinations {
                let host = destination["host"].as_str().expect("host");
                let subset = destination["subset"].as_str().expect("subset");
                let rule = cluster
                    .get(&("DestinationRule".into(), ns.clone(), host.into()))
                    .unwrap_or_else(|| panic!("{when}: {name} routes to {host}, no rule"));
                let defined = rule["spec"]["subsets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["name"] == subset);
                assert!(
                    defined,
                    "{when}: {name} routes to undefined subset {subset}"
                );
                let deployment = ("Deployment".into(), ns.clone(), format!("{host}-{subset}"));
                assert!(
                    cluster.contains_key(&deployment),
                    "{when}: {name} routes to {host} {subset}, which has no Deployment"
                );
            }
        }
    }
}

/// The state `--stdout` prints: before the first step, or after `step`.
fn state(out: &Sandbox, step: Option<&str>) -> Cluster {
    let path = scenario("bookinfo-release");
    let mut args = vec!["build", path.as_str(), "--stdout"];
    if let Some(step) = step {
        args.extend(["--step", step]);
    }
    cluster(&out.run(&args).expect_code(0).stdout)
}

fn names(cluster: &Cluster, kind: &str) -> Vec<String> {
    cluster
        .keys()
        .filter(|(k, _, _)| k == kind)
        .map(|(_, _, n)| n.clone())
        .collect()
}

#[test]
fn the_bundles_hold_the_state_before_the_first_step() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let workloads = cluster(&out.read("out/bookinfo-release/03-workloads.yaml"));
    let deployments = names(&workloads, "Deployment");
    assert_eq!(
        deployments,
        ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1"]
    );
    let rules = cluster(&out.read("out/bookinfo-release/05-destination-rules.yaml"));
    let reviews = &rules[&(
        "DestinationRule".into(),
        "bookinfo".into(),
        "reviews".into(),
    )];
    assert_eq!(reviews["spec"]["subsets"].as_array().map(Vec::len), Some(1));
    assert_eq!(state(&out, None), {
        let mut all = cluster(&out.read("out/bookinfo-release/02-namespace.yaml"));
        for file in [
            "03-workloads.yaml",
            "04-gateway.yaml",
            "05-destination-rules.yaml",
        ] {
            all.extend(cluster(&out.read(&format!("out/bookinfo-release/{file}"))));
        }
        all
    });
}

#[test]
fn each_step_runs_its_phases_in_order_and_ends_in_the_state_after_it() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let index: Value =
        serde_json::from_str(&out.read("out/bookinfo-release/index.json")).expect("index");
    let entries = index["steps"].as_array().expect("steps");
    let phases: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().expect(k).to_owned();
            (text("name"), text("phase"), text("action"), text("file"))
        })
        .collect();
    let expected = [
        ("pin-v1", "route", "apply", "steps/01-pin-v1.yaml"),
        (
            "launch-v3",
            "launch",
            "apply",
            "steps/02-launch-v3.launch.yaml",
        ),
        ("launch-v3", "route", "apply", "steps/02-launch-v3.yaml"),
        ("v3-10", "route", "apply", "steps/03-v3-10.yaml"),
        ("v3-50", "route", "apply", "steps/04-v3-50.yaml"),
        ("v3-100", "route", "apply", "steps/05-v3-100.yaml"),
        (
            "retire-v1",
            "retire",
            "apply",
            "steps/06-retire-v1.retire.yaml",
        ),
        (
            "retire-v1",
            "retire",
            "delete",
            "steps/06-retire-v1.retire.delete.yaml",
        ),
    ];
    let expected: Vec<(String, String, String, String)> = expected
        .iter()
        .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
        .collect();
    assert_eq!(phases, expected);
    // Play every step, file by file, from the state before the first.
    let mut live = state(&out, None);
    let steps: Vec<&str> = [
        "pin-v1",
        "launch-v3",
        "v3-10",
        "v3-50",
        "v3-100",
        "retire-v1",
    ]
    .into();
    for step in steps {
        for entry in entries.iter().filter(|e| e["name"] == step) {
            run_file(&mut live, entry, &out, "out/bookinfo-release");
            assert_make_before_break(&live, &format!("after {}", entry["file"]));
        }
        assert_eq!(live, state(&out, Some(step)), "after step {step}");
    }
    assert!(!names(&live, "Deployment").contains(&"reviews-v1".into()));
    assert!(names(&live, "Deployment").contains(&"reviews-v3".into()));
}

#[test]
fn the_rollback_of_every_step_gives_back_the_state_before_it() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let index: Value =
        serde_json::from_str(&out.read("out/bookinfo-release/index.json")).expect("index");
    let rollback = index["rollback"].as_array().expect("rollback");
    let steps = [
        "pin-v1",
        "launch-v3",
        "v3-10",
        "v3-50",
        "v3-100",
        "retire-v1",
    ];
    for (k, step) in steps.iter().enumerate() {
        let mut live = state(&out, Some(step));
        let files: Vec<&Value> = rollback.iter().filter(|e| e["name"] == *step).collect();
        assert!(!files.is_empty(), "step {step} has no rollback");
        for entry in files {
            let file = entry["file"].as_str().expect("file");
            assert!(file.contains(&format!("{step}.rollback")), "{file}");
            run_file(&mut live, entry, &out, "out/bookinfo-release");
            assert_make_before_break(&live, &format!("rolling back {step}: after {file}"));
        }
        let before = k.checked_sub(1).map(|p| steps[p]);
        assert_eq!(live, state(&out, before), "rollback of {step}");
    }
}

#[test]
fn stdout_states_follow_launches_and_retires() {
    let out = Sandbox::new();
    let deployments = |step| names(&state(&out, step), "Deployment");
    assert!(!deployments(None).contains(&"reviews-v3".to_owned()));
    assert!(!deployments(Some("pin-v1")).contains(&"reviews-v3".to_owned()));
    assert!(deployments(Some("launch-v3")).contains(&"reviews-v3".to_owned()));
    assert!(deployments(Some("v3-100")).contains(&"reviews-v1".to_owned()));
    assert!(!deployments(Some("retire-v1")).contains(&"reviews-v1".to_owned()));
}

#[test]
fn step_diffs_and_step_to_step_diffs_cover_workloads_and_destination_rules() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let launch = out.read("out/bookinfo-release/steps/02-launch-v3.diff");
    assert!(
        launch.contains("# added: Deployment bookinfo/reviews-v3"),
        "{launch}"
    );
    assert!(
        launch.contains("# changed: DestinationRule bookinfo/reviews"),
        "{launch}"
    );
    assert!(
        launch.contains("# changed: VirtualService bookinfo/reviews"),
        "{launch}"
    );
    let retire = out.read("out/bookinfo-release/steps/06-retire-v1.diff");
    assert!(
        retire.contains("# removed: Deployment bookinfo/reviews-v1"),
        "{retire}"
    );
    let path = scenario("bookinfo-release");
    let across = out.run(&[
        "diff",
        &path,
        "--from",
        "pin-v1",
        "--to",
        "retire-v1",
        "--output",
        "json",
    ]);
    across.expect_code(1);
    let report: Value = serde_json::from_str(&across.stdout).expect("json");
    let changes: Vec<(String, String, String)> = report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().expect(k).to_owned();
            (text("status"), text("kind"), text("name"))
        })
        .collect();
    for expected in [
        ("added", "Deployment", "reviews-v3"),
        ("removed", "Deployment", "reviews-v1"),
        ("changed", "DestinationRule", "reviews"),
        ("changed", "VirtualService", "reviews"),
    ] {
        let expected = (expected.0.into(), expected.1.into(), expected.2.into());
        assert!(changes.contains(&expected), "{expected:?} in {changes:?}");
    }
}

#[test]
fn the_teardown_deletes_everything_any_step_created() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let teardown = cluster(&out.read("out/bookinfo-release/teardown.yaml"));
    let deployments = names(&teardown, "Deployment");
    for name in ["reviews-v1", "reviews-v3", "productpage-v1"] {
        assert!(
            deployments.contains(&name.to_owned()),
            "{name}: {deployments:?}"
        );
    }
}

#[test]
fn the_plan_gives_every_phase_and_the_wait_for_launched_deployments() {
    let out = Sandbox::new();
    out.run(&["build", &scenario("bookinfo-release"), "--out", "out"])
        .expect_code(0);
    let plan = out.read("out/bookinfo-release/PLAN.md");
    let launch = "1. launch: `kubectl apply -f steps/02-launch-v3.launch.yaml`\n\
                  2. wait until available: `kubectl rollout status deployment/reviews-v3 -n bookinfo`\n\
                  3. route: `kubectl apply -f steps/02-launch-v3.yaml`\n";
    assert!(plan.contains(launch), "{plan}");
    let rollback = "1. launch: `kubectl apply -f steps/06-retire-v1.rollback.launch.yaml`\n\
                    2. wait until available: `kubectl rollout status deployment/reviews-v1 -n bookinfo`\n";
    assert!(plan.contains(rollback), "{plan}");
}

#[test]
fn under_argocd_waves_a_retired_deployment_is_pruned_last() {
    let out = Sandbox::new();
    let path = scenario("bookinfo-release");
    let stream = out.run(&["build", &path, "--stdout", "--argocd-waves"]);
    let live = cluster(&stream.expect_code(0).stdout);
    let options = |name: &str| {
        live[&("Deployment".into(), "bookinfo".into(), name.into())]["metadata"]["annotations"]
            ["argocd.argoproj.io/sync-options"]
            .clone()
    };
    assert_eq!(options("reviews-v1"), "PruneLast=true");
    assert_eq!(options("productpage-v1"), Value::Null);
    let plain = out.run(&["build", &path, "--stdout"]);
    assert!(!plain.expect_code(0).stdout.contains("PruneLast"));
}

/// front calls back; back v2 is launched and back v1 retired by steps that
/// route nothing (no VirtualService for back: the Kubernetes Service
/// spreads requests over the pods that run).
const FRONT_CALLS_BACK: &str = r#"
name = "shop"
[mesh]
version = "1.30.3"
[namespace]
name = "shop"
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
  [services.versions.v2]
  image = "x/back:2"
[[steps]]
name = "launch-v2"
launch = [ { service = "back", version = "v2" } ]
[[steps]]
name = "retire-v1"
retire = [ { service = "back", version = "v1" } ]
"#;

#[test]
fn explain_answers_with_the_versions_running_after_the_step() {
    let sandbox = Sandbox::new();
    // No VirtualService for back: the Kubernetes Service spreads requests
    // over the pods that run, so a launch takes a share at once.
    sandbox.write("s.toml", FRONT_CALLS_BACK);
    let outcome = |step: &str| {
        let run = sandbox.run(&["explain", "s.toml", "--step", step, "--entry", "front"]);
        run.expect_code(0);
        let at = run.stdout.find("outcome:\n").expect("an outcome");
        run.stdout[at..].to_owned()
    };
    assert_eq!(
        outcome("launch-v2"),
        "outcome:\n  p=0.5: 200: front v1, back v1\n  p=0.5: 200: front v1, back v2\n"
    );
    assert_eq!(
        outcome("retire-v1"),
        "outcome:\n  p=1: 200: front v1, back v2\n"
    );
}

#[test]
fn the_build_check_warns_at_the_step_that_retires_every_version_a_caller_needs() {
    let sandbox = Sandbox::new();
    let retire_both = FRONT_CALLS_BACK
        .replace("name = \"retire-v1\"", "name = \"retire-back\"")
        .replace(
            "retire = [ { service = \"back\", version = \"v1\" } ]",
            "retire = [ { service = \"back\", version = \"v1\" }, { service = \"back\", version = \"v2\" } ]",
        );
    sandbox.write("s.toml", &retire_both);
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "s.toml:24:8: warning: step retire-back: no version of back is deployed, so the \
             call from front to back fails with HTTP 503 (1 attempt): everyone will see an error"
        ),
        "{}",
        run.stderr
    );
    // The launch step before it leaves back with pods: no warning there.
    assert!(!run.stderr.contains("step launch-v2"), "{}", run.stderr);
}
