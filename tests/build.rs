//! `meshgen build`: the files it writes, their determinism, atomicity and
//! safety, `--stdout` streams, `--timings` and exit codes.

use crate::support::{self, Sandbox, documents, files, scenario};

/// The committed out/ folder is what the shipped scenarios build today.
#[test]
fn committed_output_matches_a_fresh_build_of_the_shipped_scenarios() {
    let sandbox = Sandbox::new();
    let out = sandbox.path().join("out");
    let mut args = vec![
        "build".to_owned(),
        "--out".to_owned(),
        out.display().to_string(),
    ];
    for entry in std::fs::read_dir(support::repo().join("scenarios")).expect("scenarios") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            args.push(path.display().to_string());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sandbox.run(&args).expect_code(0);
    let fresh = files(&out);
    let committed = files(&support::repo().join("out"));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "out/ is stale: run `meshgen build`"
    );
    for ((name, expected), (_, actual)) in committed.iter().zip(&fresh) {
        assert!(
            expected == actual,
            "out/{name} is stale: run `meshgen build`\n{}",
            support::text_diff(
                &String::from_utf8_lossy(expected),
                &String::from_utf8_lossy(actual)
            )
        );
    }
}

#[test]
fn build_writes_bundles_steps_diffs_teardown_index_and_plan() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo")])
        .expect_code(0);
    let names: Vec<String> = files(&sandbox.path().join("out/bookinfo"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for expected in [
        "01-mesh.yaml",
        "02-namespace.yaml",
        "03-workloads.yaml",
        "04-gateway.yaml",
        "05-destination-rules.yaml",
        "steps/01-all-v1.yaml",
        "steps/01-all-v1.diff",
        "steps/07-reviews-v3.yaml",
        "steps/07-reviews-v3.diff",
        "teardown.yaml",
        "index.json",
        "PLAN.md",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn index_lists_every_bundle_and_step_in_order_with_hashes() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo")])
        .expect_code(0);
    let index: serde_json::Value =
        serde_json::from_str(&sandbox.read("out/bookinfo/index.json")).expect("json");
    let bundle_files: Vec<&str> = index["bundles"]
        .as_array()
        .expect("bundles")
        .iter()
        .map(|b| b["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        bundle_files,
        [
            "01-mesh.yaml",
            "02-namespace.yaml",
            "03-workloads.yaml",
            "04-gateway.yaml",
            "05-destination-rules.yaml"
        ]
    );
    let steps: Vec<&str> = index["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        steps,
        [
            "all-v1",
            "jason-v2",
            "ratings-delay",
            "ratings-abort",
            "reset-v1",
            "reviews-50-v3",
            "reviews-v3"
        ]
    );
    // Each hash is the SHA-256 of the file it names.
    for entry in index["bundles"].as_array().expect("bundles") {
        let file = entry["file"].as_str().expect("file");
        let bytes = std::fs::read(sandbox.path().join("out/bookinfo").join(file)).expect("read");
        let digest = sha256_hex(&bytes);
        assert_eq!(entry["sha256"], digest, "{file}");
    }
    let workloads = &index["bundles"][2]["resources"];
    assert_eq!(workloads[0]["kind"], "ServiceAccount");
    assert_eq!(workloads[0]["namespace"], "bookinfo");
    assert_eq!(workloads[0]["apiVersion"], "v1");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn two_builds_give_identical_bytes() {
    let (a, b) = (Sandbox::new(), Sandbox::new());
    for sandbox in [&a, &b] {
        sandbox
            .run(&["build", &scenario("bookinfo"), &scenario("kuard")])
            .expect_code(0);
    }
    assert_eq!(files(&a.path().join("out")), files(&b.path().join("out")));
}

#[test]
fn out_flag_chooses_the_parent_folder() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("kuard"), "--out", "elsewhere/deep"])
        .expect_code(0);
    assert!(
        sandbox
            .path()
            .join("elsewhere/deep/kuard/index.json")
            .is_file()
    );
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_rebuild_replaces_the_folder_whole() {
    let sandbox = Sandbox::new();
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    sandbox.write("out/kuard/stale-file.yaml", "kind: Stale\n");
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    assert!(!sandbox.path().join("out/kuard/stale-file.yaml").exists());
    let leftovers: Vec<String> = std::fs::read_dir(sandbox.path().join("out"))
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["kuard"], "no temporary folders are left behind");
}

#[test]
fn a_build_that_fails_while_rendering_leaves_the_previous_output_intact() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo")])
        .expect_code(0);
    let before = files(&sandbox.path().join("out"));
    // A template override that breaks only when the last step is rendered.
    let shipped = std::fs::read_to_string(support::repo().join("templates/virtualservice.yaml.j2"))
        .expect("template");
    sandbox.write(
        "broken/virtualservice.yaml.j2",
        format!(
            "{{% if routing.rules[0].destinations[0].version == \"v3\" %}}{{{{ undefined_variable }}}}{{% endif %}}\n{shipped}"
        ),
    );
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--templates", "broken"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("virtualservice.yaml.j2"),
        "{}",
        run.stderr
    );
    assert_eq!(files(&sandbox.path().join("out")), before);
}

#[test]
fn a_template_that_renders_a_second_document_is_refused() {
    let sandbox = Sandbox::new();
    let shipped = std::fs::read_to_string(support::repo().join("templates/namespace.yaml.j2"))
        .expect("template");
    sandbox.write(
        "evil/namespace.yaml.j2",
        format!("{shipped}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n"),
    );
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "evil"]);
    run.expect_code(2);
    assert!(run.stderr.contains("namespace.yaml.j2"), "{}", run.stderr);
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_template_without_a_last_newline_still_gives_one_document_per_resource() {
    let sandbox = Sandbox::new();
    let shipped = std::fs::read_to_string(support::repo().join("templates/service.yaml.j2"))
        .expect("template");
    sandbox.write("bare/service.yaml.j2", shipped.trim_end());
    let run = sandbox.run(&[
        "build",
        &scenario("bookinfo"),
        "--templates",
        "bare",
        "--stdout",
    ]);
    run.expect_code(0);
    let separators = run.stdout.lines().filter(|line| *line == "---").count();
    let kinds = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("kind: "))
        .count();
    assert_eq!(separators + 1, kinds, "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.ends_with("---") && l != "---"),
        "a separator glued to a value: {}",
        run.stdout
    );
}

#[test]
fn a_file_where_an_output_folder_goes_is_refused_before_any_scenario_is_written() {
    let sandbox = Sandbox::new();
    sandbox.write("out/bookinfo", "precious\n");
    let run = sandbox.run(&["build", &scenario("kuard"), &scenario("bookinfo")]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("not an output folder"),
        "{}",
        run.stderr
    );
    assert_eq!(
        files(&sandbox.path().join("out")),
        [("bookinfo".to_owned(), b"precious\n".to_vec())],
        "the file is left as it was, and kuard is not written"
    );
}

#[test]
fn a_revision_on_istio_1_5_goes_into_the_operator_and_the_namespace_label() {
    // SCENARIO.md's own example: version 1.5.1 with revision 1-5-1.
    let sandbox = Sandbox::new();
    let path = support::repo().join("tests/valid/istio-1-5-revision.toml");
    sandbox
        .run(&["build", &path.display().to_string()])
        .expect_code(0);
    let mesh = sandbox.read("out/canary-1-5/01-mesh.yaml");
    assert!(mesh.contains("\n  revision: \"1-5-1\"\n"), "{mesh}");
    let namespace = sandbox.read("out/canary-1-5/02-namespace.yaml");
    assert!(
        namespace.contains("\n    istio.io/rev: \"1-5-1\"\n")
            && !namespace.contains("istio-injection"),
        "{namespace}"
    );
}

#[test]
fn an_invalid_scenario_among_several_writes_nothing() {
    let sandbox = Sandbox::new();
    let bad = sandbox.write("bad.toml", "name = \"bad\"\n");
    let run = sandbox.run(&["build", &scenario("kuard"), &bad.display().to_string()]);
    run.expect_code(1);
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn without_arguments_build_compiles_every_scenario_in_the_scenarios_folder() {
    let sandbox = Sandbox::new();
    for name in ["kuard", "bookinfo"] {
        let text = std::fs::read_to_string(scenario(name)).expect("scenario");
        sandbox.write(&format!("scenarios/{name}.toml"), text);
    }
    sandbox.write("scenarios/notes.txt", "not a scenario");
    sandbox.run(&["build"]).expect_code(0);
    assert!(sandbox.path().join("out/kuard/index.json").is_file());
    assert!(sandbox.path().join("out/bookinfo/index.json").is_file());
}

#[test]
fn stdout_without_step_holds_everything_kubectl_applies_but_no_step_routing() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--stdout"]);
    run.expect_code(0);
    let docs = documents(&run.stdout);
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds[0], "Namespace");
    assert!(!kinds.contains(&"IstioOperator"));
    let virtual_services: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "VirtualService")
        .map(|d| d["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        virtual_services,
        ["bookinfo"],
        "only the gateway's VirtualService"
    );
    assert_eq!(kinds.last(), Some(&"DestinationRule"));
}

#[test]
fn stdout_with_step_adds_the_routing_state_after_that_step() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "build",
        &scenario("bookinfo"),
        "--stdout",
        "--step",
        "jason-v2",
    ]);
    run.expect_code(0);
    let docs = documents(&run.stdout);
    let routing: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| d["kind"] == "VirtualService" && d["metadata"]["name"] != "bookinfo")
        .collect();
    let names: Vec<&str> = routing
        .iter()
        .map(|d| d["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["productpage", "details", "reviews", "ratings"]);
    let reviews = routing[2];
    assert_eq!(
        reviews["spec"]["http"][0]["route"][0]["destination"]["subset"],
        "v2"
    );
    assert_eq!(
        reviews["spec"]["http"][1]["route"][0]["destination"]["subset"],
        "v1"
    );
    // ratings keeps the routing of the first step.
    assert_eq!(
        routing[3]["spec"]["http"][0]["route"][0]["destination"]["subset"],
        "v1"
    );
}

#[test]
fn stdout_with_an_unknown_step_is_a_usage_error() {
    let run = Sandbox::new().run(&["build", &scenario("bookinfo"), "--stdout", "--step", "nope"]);
    run.expect_code(2);
    assert!(run.stderr.contains("no step `nope`"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn step_without_stdout_is_a_usage_error_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--step", "all-v1"]);
    run.expect_code(2);
    assert!(run.stderr.contains("give --stdout too"), "{}", run.stderr);
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_missing_scenario_file_is_an_io_error() {
    let run = Sandbox::new().run(&["build", "does-not-exist.toml"]);
    run.expect_code(2);
    assert!(run.stderr.contains("does-not-exist.toml"), "{}", run.stderr);
}

#[test]
fn step_files_hold_the_virtual_services_the_step_names_and_diffs_the_change() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo")])
        .expect_code(0);
    let step = documents(&sandbox.read("out/bookinfo/steps/02-jason-v2.yaml"));
    assert_eq!(step.len(), 1);
    assert_eq!(step[0]["metadata"]["name"], "reviews");
    let diff = sandbox.read("out/bookinfo/steps/02-jason-v2.diff");
    assert!(
        diff.starts_with("# changed: VirtualService bookinfo/reviews\n"),
        "{diff}"
    );
    assert!(diff.contains("+          exact: jason\n"), "{diff}");
    // Resetting to v1 changes reviews and ratings, not productpage or details.
    let reset = sandbox.read("out/bookinfo/steps/05-reset-v1.diff");
    let changed: Vec<&str> = reset.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        changed,
        [
            "# changed: VirtualService bookinfo/reviews",
            "# changed: VirtualService bookinfo/ratings"
        ]
    );
    assert_eq!(
        documents(&sandbox.read("out/bookinfo/steps/05-reset-v1.yaml")).len(),
        4
    );
}

#[test]
fn teardown_deletes_everything_applied_in_reverse_order() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo")])
        .expect_code(0);
    let docs = documents(&sandbox.read("out/bookinfo/teardown.yaml"));
    let ids: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        ids.first().map(String::as_str),
        Some("VirtualService/ratings")
    );
    assert_eq!(ids.last().map(String::as_str), Some("Namespace/bookinfo"));
    let position = |id: &str| {
        ids.iter()
            .position(|i| i == id)
            .unwrap_or_else(|| panic!("{id} in {ids:?}"))
    };
    assert!(position("DestinationRule/productpage") < position("Deployment/productpage-v1"));
    assert!(position("DestinationRule/productpage") < position("VirtualService/bookinfo"));
    assert!(position("VirtualService/bookinfo") < position("Gateway/bookinfo-gateway"));
    assert!(!ids.iter().any(|i| i.starts_with("IstioOperator")));
    // 4 routing VSs, gateway VS, Gateway, 4 DRs, 6 Deployments, 4 Services, 4 SAs, Namespace.
    assert_eq!(docs.len(), 25);
    for doc in &docs {
        assert!(
            doc.get("spec").is_none(),
            "deletion documents carry only identity"
        );
    }
}

/// The stages and the total of a `--timings` report on stderr, in milliseconds.
fn timings(stderr: &str) -> Vec<(String, f64)> {
    let report = stderr
        .split_once("meshgen: timings\n")
        .expect("a timings report on stderr")
        .1;
    report
        .lines()
        .map(|line| {
            let (name, ms) = (line.strip_suffix(" ms"))
                .and_then(|rest| rest.trim_end().rsplit_once(' '))
                .unwrap_or_else(|| panic!("not a `name  N.N ms` line: {line:?}"));
            (name.trim().to_owned(), ms.parse().expect("milliseconds"))
        })
        .collect()
}

#[test]
fn timings_name_every_stage_on_stderr_and_a_total_that_covers_them() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--timings"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "", "the report is not on stdout");
    let report = timings(&run.stderr);
    let names: Vec<&str> = report.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "parse + validate",
            "render + bundle",
            "lay out and write files",
            "total"
        ]
    );
    let stages: f64 = report[..3].iter().map(|(_, ms)| ms).sum();
    // Each figure is rounded to 0.1 ms.
    assert!(report[3].1 + 0.2 >= stages, "{report:?}");

    // With --stdout the apply stream stays clean YAML: the report is on stderr.
    let run = sandbox.run(&["build", &scenario("bookinfo"), "--stdout", "--timings"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("timings"));
    let names: Vec<String> = timings(&run.stderr).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["parse + validate", "render + bundle", "print", "total"]
    );
}
