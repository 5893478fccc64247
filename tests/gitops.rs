//! Diff previews and the GitOps hand-off: `meshgen diff --from/--to` and
//! `--against` (text, JSON, exit codes, colour), the kustomizations and
//! routing folders of an output folder, Argo CD sync waves, and conformance
//! with the real `kubectl kustomize`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{self, Sandbox, documents, scenario};

const BOOKINFO_STEPS: [&str; 7] = [
    "all-v1",
    "jason-v2",
    "ratings-delay",
    "ratings-abort",
    "reset-v1",
    "reviews-50-v3",
    "reviews-v3",
];

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

/// `# changed: VirtualService bookinfo/reviews` header lines of a text diff.
fn headers(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("# ")).collect()
}

#[test]
fn each_pair_of_consecutive_bookinfo_steps_names_exactly_the_virtual_services_that_change() {
    let expected: [&[&str]; 6] = [
        &["reviews"],
        &["ratings"],
        &["ratings"],
        // Documents come in identity order (kind, namespace, name).
        &["ratings", "reviews"],
        &["reviews"],
        &["reviews"],
    ];
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo");
    for (pair, names) in BOOKINFO_STEPS.windows(2).zip(expected) {
        let args = ["diff", &bookinfo, "--from", pair[0], "--to", pair[1]];
        let text = sandbox.run(&args);
        text.expect_code(1);
        let wanted: Vec<String> = names
            .iter()
            .map(|n| format!("# changed: VirtualService bookinfo/{n}"))
            .collect();
        assert_eq!(headers(&text.stdout), wanted, "{pair:?}\n{}", text.stdout);
        let report = sandbox.run(&[&args[..], &["--output", "json"]].concat());
        report.expect_code(1);
        let report = json(&report.stdout);
        let found: Vec<(&str, &str, &str)> = report["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| {
                (
                    r["status"].as_str().unwrap_or(""),
                    r["kind"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let wanted: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|n| ("changed", "VirtualService", *n))
            .collect();
        // JSON lists resources in identity order; compare as sets.
        let (mut found, mut wanted) = (found, wanted);
        found.sort();
        wanted.sort();
        assert_eq!(found, wanted, "{pair:?}");
    }
}

#[test]
fn a_step_diffed_with_itself_is_empty_and_exits_0() {
    let run = Sandbox::new().run(&[
        "diff",
        &scenario("bookinfo"),
        "--from",
        "jason-v2",
        "--to",
        "jason-v2",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
}

#[test]
fn the_json_summary_names_the_changed_field_paths() {
    let run = Sandbox::new().run(&[
        "diff",
        &scenario("bookinfo"),
        "--from",
        "reviews-50-v3",
        "--to",
        "reviews-v3",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let report = json(&run.stdout);
    let keys: Vec<&String> = report.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["differences", "files", "resources"]);
    assert_eq!(report["differences"], true);
    let resource = &report["resources"][0];
    let keys: BTreeSet<&str> = resource
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["status", "apiVersion", "kind", "namespace", "name", "paths"])
    );
    // 50/50 over v1 and v3 becomes v3 alone: the first subset changes, the
    // weight and the second destination go.
    assert_eq!(
        resource["paths"],
        serde_json::json!([
            "/spec/http/0/route/0/destination/subset",
            "/spec/http/0/route/0/weight",
            "/spec/http/0/route/1"
        ])
    );
}

#[test]
fn diff_colours_only_when_asked_or_on_a_terminal() {
    let sandbox = Sandbox::new();
    let args = [
        "diff",
        &scenario("bookinfo"),
        "--from",
        "all-v1",
        "--to",
        "jason-v2",
    ];
    // support runs with NO_COLOR set and stdout is a pipe: no colour.
    let plain = sandbox.run(&args);
    assert!(!plain.stdout.contains('\u{1b}'), "{}", plain.stdout);
    let never = sandbox.run(&[&args[..], &["--color", "never"]].concat());
    assert_eq!(never.stdout, plain.stdout);
    let always = sandbox.run(&[&args[..], &["--color", "always"]].concat());
    always.expect_code(1);
    assert!(always.stdout.contains("\u{1b}["), "{}", always.stdout);
    let stripped = strip_ansi(&always.stdout);
    assert_eq!(stripped, plain.stdout, "colour adds escapes only");
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn diff_against_a_fresh_build_reports_nothing_and_exits_0() {
    let sandbox = Sandbox::new();
    for name in ["bookinfo", "kuard"] {
        sandbox
            .run(&["build", &scenario(name), "--out", "out"])
            .expect_code(0);
        let folder = format!("out/{name}");
        let run = sandbox.run(&["diff", &scenario(name), "--against", &folder]);
        run.expect_code(0);
        assert_eq!(run.stdout, "");
        let run = sandbox.run(&[
            "diff",
            &scenario(name),
            "--against",
            &folder,
            "--output",
            "json",
        ]);
        run.expect_code(0);
        assert_eq!(
            json(&run.stdout),
            serde_json::json!({"differences": false, "files": [], "resources": []})
        );
    }
}

/// `(file, kind, name, status)` of every resource of a JSON report.
fn resources(report: &Value) -> Vec<(String, String, String, String)> {
    report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (field("file"), field("kind"), field("name"), field("status"))
        })
        .collect()
}

#[test]
fn diff_against_names_the_resources_an_edit_of_the_scenario_changes() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo"), "--out", "out"])
        .expect_code(0);
    let original = std::fs::read_to_string(scenario("bookinfo")).expect("scenario");
    let edited = original.replacen("to = \"v2\"", "to = \"v3\"", 1);
    assert_ne!(edited, original);
    sandbox.write("bookinfo.toml", &edited);
    let run = sandbox.run(&[
        "diff",
        "bookinfo.toml",
        "--against",
        "out/bookinfo",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let report = json(&run.stdout);
    // jason's reviews route is in the step file and in the routing state of
    // every step until reset-v1 replaces it.
    let reviews = |file: &str| {
        (
            file.to_owned(),
            "VirtualService".to_owned(),
            "reviews".to_owned(),
            "changed".to_owned(),
        )
    };
    assert_eq!(
        resources(&report),
        [
            reviews("steps/02-jason-v2.yaml"),
            reviews("routing/02-jason-v2/virtual-services.yaml"),
            reviews("routing/03-ratings-delay/virtual-services.yaml"),
            reviews("routing/04-ratings-abort/virtual-services.yaml"),
        ]
    );
    for resource in report["resources"].as_array().expect("resources") {
        assert_eq!(
            resource["paths"],
            serde_json::json!(["/spec/http/0/route/0/destination/subset"])
        );
    }
    let files: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["file"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        files,
        // Resources in apply order, then the derived files.
        [
            "steps/02-jason-v2.yaml",
            "routing/02-jason-v2/virtual-services.yaml",
            "routing/03-ratings-delay/virtual-services.yaml",
            "routing/04-ratings-abort/virtual-services.yaml",
            "steps/02-jason-v2.diff",
            "steps/05-reset-v1.diff",
            "PLAN.md",
            "index.json",
        ]
    );
    let text = sandbox.run(&["diff", "bookinfo.toml", "--against", "out/bookinfo"]);
    text.expect_code(1);
    let headers = headers(&text.stdout);
    assert!(
        headers.contains(&"# changed: VirtualService bookinfo/reviews in steps/02-jason-v2.yaml"),
        "{headers:#?}"
    );
    assert!(headers.contains(&"# changed: PLAN.md"), "{headers:#?}");
    assert!(
        text.stdout
            .contains("-        subset: v2\n+        subset: v3\n"),
        "{}",
        text.stdout
    );
}

#[test]
fn diff_against_reports_the_files_and_resources_of_a_removed_step() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo"), "--out", "out"])
        .expect_code(0);
    let original = std::fs::read_to_string(scenario("bookinfo")).expect("scenario");
    let last = original.rfind("[[steps]]").expect("a step");
    sandbox.write("bookinfo.toml", &original[..last]);
    let run = sandbox.run(&[
        "diff",
        "bookinfo.toml",
        "--against",
        "out/bookinfo",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let found = resources(&json(&run.stdout));
    let removed = |file: &str, kind: &str, name: &str| {
        (
            file.to_owned(),
            kind.to_owned(),
            name.to_owned(),
            "removed".to_owned(),
        )
    };
    // The kustomization of the removed routing folder has no identity to
    // name: it is a file-level (text) difference.
    assert_eq!(
        found,
        [
            removed(
                "routing/07-reviews-v3/virtual-services.yaml",
                "VirtualService",
                "productpage"
            ),
            removed(
                "routing/07-reviews-v3/virtual-services.yaml",
                "VirtualService",
                "details"
            ),
            removed(
                "routing/07-reviews-v3/virtual-services.yaml",
                "VirtualService",
                "reviews"
            ),
            removed(
                "routing/07-reviews-v3/virtual-services.yaml",
                "VirtualService",
                "ratings"
            ),
            removed("steps/07-reviews-v3.yaml", "VirtualService", "reviews"),
        ]
    );
}

#[test]
fn diff_exit_codes_tell_none_differences_and_errors_apart() {
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo");
    sandbox
        .run(&["build", &bookinfo, "--out", "out"])
        .expect_code(0);
    sandbox
        .run(&["diff", &bookinfo, "--against", "out/bookinfo"])
        .expect_code(0);
    // A stale file is a difference.
    sandbox.write("out/bookinfo/PLAN.md", "stale\n");
    let run = sandbox.run(&["diff", &bookinfo, "--against", "out/bookinfo"]);
    run.expect_code(1);
    assert!(
        run.stdout.starts_with("# changed: PLAN.md\n"),
        "{}",
        run.stdout
    );
    // Errors: no such folder, no such step, an invalid scenario, no mode.
    let run = sandbox.run(&["diff", &bookinfo, "--against", "missing"]);
    run.expect_code(2);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    let run = sandbox.run(&["diff", &bookinfo, "--from", "all-v1", "--to", "nope"]);
    run.expect_code(2);
    assert!(run.stderr.contains("no step `nope`"), "{}", run.stderr);
    sandbox.write("bad.toml", "name = \"Bad Name\"\n");
    sandbox
        .run(&["diff", "bad.toml", "--against", "out/bookinfo"])
        .expect_code(2);
    sandbox.run(&["diff", &bookinfo]).expect_code(2);
}

#[test]
fn yaml_that_cannot_be_matched_by_document_is_diffed_as_text() {
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo");
    sandbox
        .run(&["build", &bookinfo, "--out", "out"])
        .expect_code(0);
    sandbox.write("out/bookinfo/02-namespace.yaml", "not: [valid\n");
    let run = sandbox.run(&["diff", &bookinfo, "--against", "out/bookinfo"]);
    run.expect_code(1);
    assert_eq!(headers(&run.stdout), ["# changed: 02-namespace.yaml"]);
}

/// Scenario `wide`: 1,000 services with versions v1 and v2; step `all-v1`
/// routes every one to v1, then step `one-v2` moves `svc-0007` to v2.
fn wide_scenario() -> String {
    let mut text = String::from(
        "name = \"wide\"\n[mesh]\nversion = \"1.30.3\"\n[namespace]\nname = \"wide\"\n",
    );
    for i in 0..1000 {
        text.push_str(&format!(
            "[[services]]\nname = \"svc-{i:04}\"\nport = 8080\n  [services.versions.v1]\n  \
             image = \"example/svc:1\"\n  [services.versions.v2]\n  image = \"example/svc:2\"\n"
        ));
    }
    text.push_str(
        "[[steps]]\nname = \"all-v1\"\n[[steps.routes]]\nservice = \"*\"\nto = \"v1\"\n\
         [[steps]]\nname = \"one-v2\"\n[[steps.routes]]\nservice = \"svc-0007\"\nto = \"v2\"\n",
    );
    text
}

/// A sandbox holding the build of `wide_scenario` in `out/wide/`.
fn built_wide() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("wide.toml", wide_scenario());
    sandbox
        .run(&["build", "wide.toml", "--out", "out"])
        .expect_code(0);
    sandbox
}

#[test]
fn plan_inlines_small_step_diffs_and_links_large_ones() {
    let sandbox = built_wide();
    let plan = sandbox.read("out/wide/PLAN.md");
    let all_v1 = sandbox.read("out/wide/steps/01-all-v1.diff");
    let one_v2 = sandbox.read("out/wide/steps/02-one-v2.diff");
    assert!(
        all_v1.len() > 100_000,
        "step all-v1 adds 1,000 VirtualServices"
    );
    assert!(one_v2.len() < 100_000);
    // The large diff is linked with its size, not copied; the small one is inline.
    assert!(
        !plan.contains(&all_v1),
        "the 1,000-document diff is not copied in"
    );
    let lines = all_v1.lines().count();
    assert!(
        plan.contains(&format!(
            "Routing diff from the previous step: [`steps/01-all-v1.diff`](steps/01-all-v1.diff), {lines} lines."
        )),
        "the large diff is linked"
    );
    assert!(
        plan.contains(&format!("```diff\n{one_v2}```")),
        "the small diff is inline"
    );
    assert!(plan.len() < 2_000_000, "PLAN.md of {} bytes", plan.len());
}

#[test]
fn plan_install_order_counts_resources_by_kind_in_large_meshes() {
    let plan = built_wide().read("out/wide/PLAN.md");
    assert!(
        plan.contains("| 3 | `03-workloads.yaml` | 1000 Service, 2000 Deployment |"),
        "workloads counted by kind"
    );
    assert!(plan.contains("| `05-destination-rules.yaml` | 1000 DestinationRule |"));
    assert!(
        !plan.contains("Service wide/svc-0001"),
        "no resource listed by name"
    );
}

#[test]
fn plan_flowcharts_stay_within_mermaids_default_text_size() {
    let plan = built_wide().read("out/wide/PLAN.md");
    let charts: Vec<&str> = plan.split("```mermaid\n").skip(1).collect();
    // The step that routes 1,000 services has no chart, said in its place;
    // the one-service step keeps its chart.
    assert_eq!(charts.len(), 1, "one chart expected");
    assert!(charts[0].contains("svc-0007"));
    assert!(
        plan.contains("No flowchart: it would be longer than Mermaid's default limit of 50000"),
        "the left-out chart is explained"
    );
    for chart in charts {
        let end = chart.find("```").expect("closed fence");
        assert!(end <= 50_000, "a chart of {end} characters");
    }
}

#[test]
fn every_output_folder_has_a_kustomization_of_its_apply_files_and_one_per_step() {
    let sandbox = Sandbox::new();
    for name in ["bookinfo", "kuard"] {
        sandbox
            .run(&["build", &scenario(name), "--out", "out"])
            .expect_code(0);
        let root = format!("out/{name}");
        let kustomization = documents(&sandbox.read(&format!("{root}/kustomization.yaml")));
        let index = json(&sandbox.read(&format!("{root}/index.json")));
        let applied: Vec<&str> = index["bundles"]
            .as_array()
            .expect("bundles")
            .iter()
            .filter(|b| b["name"] != "mesh")
            .map(|b| b["file"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kustomization[0]["kind"], "Kustomization");
        assert_eq!(kustomization[0]["resources"], serde_json::json!(applied));
        assert_eq!(index["kustomization"], "kustomization.yaml");
        let steps = index["steps"].as_array().expect("steps");
        let routing = index["routing"].as_array().expect("routing");
        assert_eq!(routing.len(), steps.len());
        for (step, state) in steps.iter().zip(routing) {
            assert_eq!(state["name"], step["name"]);
            let file = state["file"].as_str().expect("file");
            let folder = Path::new(file).parent().expect("folder");
            let overlay = documents(&sandbox.read(&format!(
                "{root}/{}",
                state["kustomization"].as_str().expect("kustomization")
            )));
            assert_eq!(
                overlay[0]["resources"],
                serde_json::json!(["virtual-services.yaml"])
            );
            assert_eq!(
                folder.join("kustomization.yaml"),
                Path::new(state["kustomization"].as_str().unwrap_or(""))
            );
            // The state file holds the routing `--stdout --step` adds.
            let stream = sandbox.run(&[
                "build",
                &scenario(name),
                "--stdout",
                "--step",
                step["name"].as_str().unwrap_or(""),
            ]);
            let all = documents(&stream.stdout);
            let base = documents(&sandbox.run(&["build", &scenario(name), "--stdout"]).stdout);
            assert_eq!(
                documents(&sandbox.read(&format!("{root}/{file}"))),
                all[base.len()..].to_vec()
            );
        }
    }
}

#[test]
fn argocd_waves_annotate_every_applied_document_in_bundle_order_and_only_on_request() {
    let sandbox = Sandbox::new();
    let bookinfo = scenario("bookinfo");
    let args = ["build", &bookinfo, "--stdout", "--step", "jason-v2"];
    let plain = sandbox.run(&args);
    plain.expect_code(0);
    assert!(
        !plain.stdout.contains("sync-wave"),
        "default output unchanged"
    );
    let waved = sandbox.run(&[&args[..], &["--argocd-waves"]].concat());
    waved.expect_code(0);
    let waves: Vec<i64> = documents(&waved.stdout)
        .iter()
        .map(|d| {
            let wave = &d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"];
            wave.as_str()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("no wave string on {d}"))
        })
        .collect();
    assert!(waves.windows(2).all(|w| w[0] <= w[1]), "{waves:?}");
    assert_eq!(waves.first(), Some(&2), "the namespace goes first");
    assert_eq!(waves.last(), Some(&6), "the routing goes last");
    // Without the annotations the documents are the default ones.
    let mut stripped = documents(&waved.stdout);
    for d in &mut stripped {
        let metadata = d["metadata"].as_object_mut().expect("metadata");
        metadata.remove("annotations");
    }
    assert_eq!(stripped, documents(&plain.stdout));
    // A folder built with waves is stale to a plain diff, not to a waved one.
    sandbox
        .run(&["build", &bookinfo, "--out", "out", "--argocd-waves"])
        .expect_code(0);
    let mesh = sandbox.read("out/bookinfo/01-mesh.yaml");
    assert!(
        mesh.contains("argocd.argoproj.io/sync-wave: \"1\""),
        "{mesh}"
    );
    let teardown = sandbox.read("out/bookinfo/teardown.yaml");
    assert!(!teardown.contains("sync-wave"), "{teardown}");
    sandbox
        .run(&["diff", &bookinfo, "--against", "out/bookinfo"])
        .expect_code(1);
    sandbox
        .run(&[
            "diff",
            &bookinfo,
            "--against",
            "out/bookinfo",
            "--argocd-waves",
        ])
        .expect_code(0);
}

#[test]
fn a_template_override_that_drops_the_annotations_is_refused_under_argocd_waves() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "templates/namespace.yaml.j2",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ name }}\n",
    );
    let args = [
        "build",
        &scenario("kuard"),
        "--stdout",
        "--templates",
        "templates",
    ];
    sandbox.run(&args).expect_code(0);
    let run = sandbox.run(&[&args[..], &["--argocd-waves"]].concat());
    run.expect_code(2);
    assert!(
        run.stderr.contains("namespace.yaml.j2") && run.stderr.contains("sync-wave"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_argo_cd_plugin_runs_meshgen_build_stdout_with_its_parameters() {
    let text = std::fs::read_to_string(support::repo().join("deploy/argocd/plugin.yaml"))
        .expect("deploy/argocd/plugin.yaml");
    let plugin = &documents(&text)[0];
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let parameters: Vec<&str> = plugin["spec"]["parameters"]["static"]
        .as_array()
        .expect("static parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(parameters, ["scenario", "step", "argocd-waves"]);
    let generate = &plugin["spec"]["generate"];
    assert_eq!(generate["command"], serde_json::json!(["sh", "-c"]));
    let script = generate["args"][0].as_str().expect("script");
    // Run it as Argo CD's repo-server would: in the source folder, with the
    // parameters as PARAM_* variables and meshgen on the PATH.
    let bin = Path::new(env!("CARGO_BIN_EXE_meshgen"))
        .parent()
        .expect("bin folder");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |params: &[(&str, &str)]| {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .current_dir(support::repo())
            .env("PATH", &path)
            .env_remove("PARAM_STEP")
            .env_remove("PARAM_ARGOCD_WAVES");
        for (name, value) in params {
            command.env(name, value);
        }
        command.output().expect("run sh")
    };
    let output = run(&[
        ("PARAM_SCENARIO", "scenarios/bookinfo.toml"),
        ("PARAM_STEP", "jason-v2"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let expected = Sandbox::new().run(&[
        "build",
        &scenario("bookinfo"),
        "--stdout",
        "--step",
        "jason-v2",
        "--argocd-waves",
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected.stdout);
    let output = run(&[
        ("PARAM_SCENARIO", "scenarios/kuard.toml"),
        ("PARAM_ARGOCD_WAVES", "false"),
    ]);
    let expected = Sandbox::new().run(&["build", &scenario("kuard"), "--stdout"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected.stdout);
    for outside in ["/etc/passwd", "../x.toml", "a/../../x.toml", ""] {
        let output = run(&[("PARAM_SCENARIO", outside)]);
        assert!(!output.status.success(), "{outside:?} was accepted");
        assert!(output.stdout.is_empty());
    }
}

/// The kubectl to run: `MESHGEN_KUBECTL`, or `kubectl` on PATH; `None` (and
/// a note on stderr) when there is none, unless `MESHGEN_REQUIRE_KUBECTL` is
/// set (CI), which makes a missing kubectl a failure.
fn kubectl() -> Option<String> {
    let program = std::env::var("MESHGEN_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    let works = Command::new(&program)
        .args(["kustomize", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        Some(program)
    } else if std::env::var_os("MESHGEN_REQUIRE_KUBECTL").is_some() {
        panic!("MESHGEN_REQUIRE_KUBECTL is set but `{program} kustomize` does not run");
    } else {
        eprintln!(
            "skipping: no `{program}` with `kustomize` (run scripts/install-kubectl.sh, \
             or set MESHGEN_KUBECTL)"
        );
        None
    }
}

/// `kubectl kustomize DIR`, parsed.
fn kustomize(kubectl: &str, dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    documents(&String::from_utf8_lossy(&output.stdout))
}

/// Documents as a sorted list with every number as a float: kustomize sorts
/// documents by kind and writes `100.0` as `100`.
fn normalized(documents: Vec<Value>) -> Vec<String> {
    fn floats(value: Value) -> Value {
        match value {
            Value::Number(n) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect())
            }
            other => other,
        }
    }
    let mut out: Vec<String> = documents
        .into_iter()
        .map(|d| floats(d).to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn kubectl_kustomize_renders_the_same_documents_as_meshgen_build_stdout() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let sandbox = Sandbox::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(support::repo().join("scenarios")).expect("scenarios") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let file = path.display().to_string();
        for waves in [false, true] {
            let mut build = vec!["build", file.as_str(), "--out", "out"];
            let mut stdout = vec!["build", file.as_str(), "--stdout"];
            if waves {
                build.push("--argocd-waves");
                stdout.push("--argocd-waves");
            }
            sandbox.run(&build).expect_code(0);
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let index = json(&sandbox.read(&format!("out/{name}/index.json")));
            let root = sandbox
                .path()
                .join("out")
                .join(index["scenario"].as_str().expect("name"));
            let base = kustomize(&kubectl, &root);
            let expected = documents(&sandbox.run(&stdout).expect_code(0).stdout);
            assert_eq!(normalized(base.clone()), normalized(expected), "{file}");
            // With releases or version_routing, a step's folder holds the
            // whole state after it (the namespace too); otherwise the
            // routing, applied after the base.
            let releases = (index["routing"].as_array().into_iter().flatten()).any(|r| {
                r["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("/namespace.yaml"))
            });
            let mut folders: Vec<(&str, &str)> = Vec::new();
            for state in index["routing"].as_array().expect("routing") {
                let step = state["name"].as_str().expect("step");
                let kustomization = state["kustomization"].as_str().expect("kustomization");
                if !folders.contains(&(step, kustomization)) {
                    folders.push((step, kustomization));
                }
            }
            for (step, kustomization) in folders {
                let folder = root.join(Path::new(kustomization).parent().expect("folder"));
                let mut both = if releases { Vec::new() } else { base.clone() };
                both.extend(kustomize(&kubectl, &folder));
                let with_step = [&stdout[..], &["--step", step]].concat();
                let expected = documents(&sandbox.run(&with_step).expect_code(0).stdout);
                assert_eq!(normalized(both), normalized(expected), "{file} step {step}");
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no scenario with steps was checked");
}

/// The files of the kustomize overlay docs/gitops.md shows: each fenced
/// block whose first line is `# overlays/…`, by that path.
fn documented_overlay() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(support::repo().join("docs/gitops.md")).expect("gitops.md");
    page.split("```yaml\n")
        .skip(1)
        .filter_map(|block| {
            let block = block.split("```").next()?;
            let path = block.lines().next()?.strip_prefix("# ")?;
            path.starts_with("overlays/")
                .then(|| (path.to_owned(), block.to_owned()))
        })
        .collect()
}

#[test]
fn the_documented_kustomize_overlay_patches_the_emitted_deployments_and_nothing_else() {
    let overlay = documented_overlay();
    let paths: Vec<&str> = overlay.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "overlays/bookinfo/kustomization.yaml",
            "overlays/bookinfo/reviews-v1.yaml"
        ]
    );
    let Some(kubectl) = kubectl() else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("bookinfo"), "--out", "out"])
        .expect_code(0);
    for (path, text) in &overlay {
        sandbox.write(path, text);
    }
    let base = kustomize(&kubectl, &sandbox.path().join("out/bookinfo"));
    let patched = kustomize(&kubectl, &sandbox.path().join("overlays/bookinfo"));
    assert_eq!(patched.len(), base.len());
    let key = |d: &Value| {
        (
            d["kind"].as_str().unwrap_or_default().to_owned(),
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let mut deployments = 0;
    for document in &patched {
        let original = base
            .iter()
            .find(|b| key(b) == key(document))
            .unwrap_or_else(|| panic!("{:?} is not in the base", key(document)));
        if document["kind"] != "Deployment" {
            assert_eq!(document, original, "{:?} changed", key(document));
            continue;
        }
        deployments += 1;
        let pod = &document["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"],
            serde_json::json!({"runAsNonRoot": true, "runAsUser": 1000}),
            "{:?}",
            key(document)
        );
        let container = &pod["containers"][0];
        assert_eq!(
            container["image"],
            original["spec"]["template"]["spec"]["containers"][0]["image"]
        );
        if document["metadata"]["name"] == "reviews-v1" {
            assert_eq!(
                container["resources"],
                serde_json::json!({
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "512Mi"}
                })
            );
            assert_eq!(
                container["readinessProbe"]["httpGet"],
                serde_json::json!({"path": "/health", "port": 9080})
            );
            // The rest of the container is the emitted one.
            assert_eq!(
                container["env"],
                original["spec"]["template"]["spec"]["containers"][0]["env"]
            );
        } else {
            assert!(container.get("resources").is_none(), "{:?}", key(document));
        }
    }
    assert_eq!(deployments, 6);
}

/// GitHub's own Markdown renderer: `MESHGEN_CMARK_GFM`, or `cmark-gfm` on
/// PATH (Debian's `cmark-gfm` package); `None` (and a note on stderr) when
/// there is none, unless `MESHGEN_REQUIRE_CMARK_GFM` is set.
fn cmark_gfm() -> Option<String> {
    let program = std::env::var("MESHGEN_CMARK_GFM").unwrap_or_else(|_| "cmark-gfm".to_owned());
    let works = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        Some(program)
    } else if std::env::var_os("MESHGEN_REQUIRE_CMARK_GFM").is_some() {
        panic!("MESHGEN_REQUIRE_CMARK_GFM is set but `{program}` does not run");
    } else {
        eprintln!("skipping: no `{program}` (apt-get install cmark-gfm, or set MESHGEN_CMARK_GFM)");
        None
    }
}

#[test]
fn scenario_text_in_plan_md_makes_no_link_under_githubs_own_markdown() {
    let Some(cmark) = cmark_gfm() else {
        return;
    };
    // Every autolink form of GFM, in the description, a step's description,
    // a header value and a URI (the tables of who gets what).
    let forms = "ops@example.com, mailto:ops@example.com, xmpp:ops@example.com/home, \
                 a+b.c-d_e@f-g.example, http://x.example, https://y.example/p, www.z.example";
    let text = format!(
        "name = \"links\"\ndescription = {forms:?}\n[mesh]\nversion = \"1.22.0\"\n\
         [namespace]\nname = \"links\"\n[[services]]\nname = \"a\"\nport = 80\n\
         [services.versions.v1]\nimage = \"i\"\n[services.versions.v2]\nimage = \"i\"\n\
         [[steps]]\nname = \"s\"\ndescription = {forms:?}\n\
         [[steps.routes]]\nservice = \"a\"\nheaders = {{ x-mail = {forms:?} }}\nto = \"v2\"\n\
         [[steps.routes]]\nservice = \"a\"\nuri = {{ prefix = \"/ops@example.com\" }}\nto = \"v2\"\n\
         [[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n"
    );
    let sandbox = Sandbox::new();
    let path = sandbox.write("links.toml", text).display().to_string();
    sandbox.run(&["build", &path]).expect_code(0);
    let plan = sandbox.path().join("out/links/PLAN.md");
    let output = Command::new(&cmark)
        .args([
            "-e",
            "autolink",
            "-e",
            "table",
            "-e",
            "strikethrough",
            "--unsafe",
        ])
        .arg(&plan)
        .output()
        .expect("run cmark-gfm");
    assert!(output.status.success(), "{output:?}");
    let html = String::from_utf8_lossy(&output.stdout);
    assert!(!html.contains("<a "), "a link in PLAN.md:\n{html}");
    // The text is all there, as text.
    let shown = html.replace("<!-- -->", "");
    assert!(
        shown.matches(forms).count() >= 2,
        "the description does not read back:\n{html}"
    );
}

/// Characters Go's YAML libraries treat specially (C0 and C1 controls, DEL,
/// line and paragraph separators, the byte-order mark, noncharacters) and
/// others a YAML tool might: each goes into a value of every kind the
/// output carries.
const SPECIAL_CHARACTERS: &[char] = &[
    '\u{1}',
    '\t',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{80}',
    '\u{85}',
    '\u{9f}',
    '\u{a0}',
    '\u{ad}',
    '\u{200b}',
    '\u{202e}',
    '\u{2028}',
    '\u{2029}',
    '\u{fdd0}',
    '\u{e000}',
    '\u{feff}',
    '\u{fffd}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{1f600}',
    '\u{1fffe}',
    '\u{10ffff}',
];

/// The ones `kubectl kustomize` does not carry through, whatever the escape:
/// it fails on DEL, the C1 controls, U+FFFE and U+FFFF, turns U+0085 into a
/// space, and writes U+2028 and U+2029 back as raw line breaks.
const KUSTOMIZE_MISHANDLES: &[char] = &[
    '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{2028}', '\u{2029}', '\u{fffe}', '\u{ffff}',
];

/// `text` as a TOML basic string, every character outside printable ASCII escaped.
fn toml_escaped(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// The value each character is carried in: `a`, the character, `b`.
fn carrier(c: char) -> String {
    format!("a{c}b")
}

/// A scenario whose values carry each of `chars`, one value per line: an env
/// entry of service `a`, and per character a rule of step `s` matching a
/// header and a URI prefix, and a gateway URI.
fn scenario_carrying(chars: &[char]) -> String {
    let mut text = String::from(
        "name = \"chars\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"chars\"\n\
         [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
         [services.versions.v1.env]\n",
    );
    for (i, c) in chars.iter().enumerate() {
        text.push_str(&format!("E{i} = {}\n", toml_escaped(&carrier(*c))));
    }
    text.push_str("[gateway]\n[[gateway.routes]]\nservice = \"a\"\nuris = [\n");
    for c in chars {
        text.push_str(&format!(
            "  {{ exact = {} }},\n",
            toml_escaped(&carrier(*c))
        ));
    }
    text.push_str("]\n[[steps]]\nname = \"s\"\n");
    for c in chars {
        let value = toml_escaped(&carrier(*c));
        text.push_str(&format!(
            "[[steps.routes]]\nservice = \"a\"\nheaders = {{ x-value = {value} }}\n\
             uri = {{ prefix = {value} }}\nto = \"v1\"\n"
        ));
    }
    text.push_str("[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n");
    text
}

#[test]
fn values_kubectl_kustomize_would_change_are_warned_about_and_every_other_value_survives_it() {
    let sandbox = Sandbox::new();
    // check warns at every value holding a character kustomize mishandles,
    // and only there.
    let path = sandbox.write("all.toml", scenario_carrying(SPECIAL_CHARACTERS));
    let path = path.display().to_string();
    let run = sandbox.run(&["check", &path, "--format", "json"]);
    run.expect_code(0);
    let text = sandbox.read("all.toml");
    let lines: Vec<&str> = text.lines().collect();
    let mut warned: Vec<char> = Vec::new();
    // JSON diagnostics are written to stderr, one per line.
    for line in run.stderr.lines() {
        let d = json(line);
        assert_eq!(d["severity"], "warning", "{line}");
        assert!(
            d["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("`kubectl kustomize`")),
            "{line}"
        );
        let at = lines[d["line"].as_u64().expect("line") as usize - 1];
        let c = SPECIAL_CHARACTERS
            .iter()
            .find(|c| at.contains(&toml_escaped(&carrier(**c))))
            .unwrap_or_else(|| panic!("a warning at {at:?}"));
        warned.push(*c);
    }
    // Each character in four values: env, gateway URI, header, URI prefix.
    let expected: Vec<char> = KUSTOMIZE_MISHANDLES.iter().flat_map(|c| [*c; 4]).collect();
    warned.sort_unstable();
    assert_eq!(warned, expected, "{}", run.stderr);

    // Every other value comes back from `kubectl kustomize` as written.
    let Some(kubectl) = kubectl() else {
        return;
    };
    let carried: Vec<char> = SPECIAL_CHARACTERS
        .iter()
        .copied()
        .filter(|c| !KUSTOMIZE_MISHANDLES.contains(c))
        .collect();
    let path = sandbox.write("carried.toml", scenario_carrying(&carried));
    let path = path.display().to_string();
    let run = sandbox.run(&["build", &path, "--out", "out"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let root = sandbox.path().join("out/chars");
    let base = kustomize(&kubectl, &root);
    let of_kind = |docs: &[Value], kind: &str| -> Value {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let deployment = of_kind(&base, "Deployment");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env");
    let gateway_routes = of_kind(&base, "VirtualService");
    let step = kustomize(&kubectl, &root.join("routing/01-s"));
    let rules = of_kind(&step, "VirtualService")["spec"]["http"].clone();
    for (i, c) in carried.iter().enumerate() {
        let want = carrier(*c);
        let named = format!("E{i}");
        let value = env.iter().find(|e| e["name"] == named.as_str());
        assert_eq!(
            value.map(|e| &e["value"]),
            Some(&Value::from(want.clone())),
            "env {c:?}"
        );
        assert_eq!(
            gateway_routes["spec"]["http"][0]["match"][i]["uri"]["exact"], want,
            "gateway URI {c:?}"
        );
        let rule = &rules[i]["match"][0];
        assert_eq!(rule["headers"]["x-value"]["exact"], want, "header {c:?}");
        assert_eq!(rule["uri"]["prefix"], want, "URI prefix {c:?}");
    }

    // And the warning is due: kustomize fails on each of the others, or
    // what it writes does not read back (YAML 1.2) as the value.
    for c in KUSTOMIZE_MISHANDLES {
        let path = sandbox.write("one.toml", scenario_carrying(&[*c]));
        let path = path.display().to_string();
        sandbox
            .run(&["build", &path, "--out", "out"])
            .expect_code(0);
        let output = Command::new(&kubectl)
            .arg("kustomize")
            .arg(&root)
            .output()
            .expect("run kubectl");
        if !output.status.success() {
            continue;
        }
        let docs = documents(&String::from_utf8_lossy(&output.stdout));
        let deployment = of_kind(&docs, "Deployment");
        let value = &deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"];
        assert_ne!(
            value,
            &Value::from(carrier(*c)),
            "kustomize carries {c:?} now"
        );
    }
}

/// A scenario of service `a` whose step `s` has a rule matching a header
/// with each of `names` (value `v`), then a catch-all.
fn scenario_with_header_names(names: &[String]) -> String {
    let matches: Vec<String> = names.iter().map(|n| format!("\"{n}\" = \"v\"")).collect();
    format!(
        "name = \"keys\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"keys\"\n\
         [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
         [[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"a\"\nheaders = {{ {} }}\n\
         to = \"v1\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n",
        matches.join(", ")
    )
}

/// The header names of the first rule of the VirtualService in `docs`.
fn header_names(docs: &[Value]) -> Vec<String> {
    let headers = docs
        .iter()
        .find(|d| d["kind"] == "VirtualService")
        .and_then(|d| d["spec"]["http"][0]["match"][0]["headers"].as_object())
        .expect("the header matches");
    let mut names: Vec<String> = headers.keys().cloned().collect();
    names.sort_unstable();
    names
}

/// Header names longer than YAML allows an implicit key are written as
/// explicit keys (`? name`), which kubectl's reader of `apply -f` reads
/// back as written. `kubectl kustomize` reads no key over 1024 characters
/// as JSON (it reads its own JSON back as YAML): `check` warns at exactly
/// those names.
#[test]
fn kubectl_reads_long_header_names_and_check_warns_at_those_kustomize_cannot() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let sandbox = Sandbox::new();
    // The longest name kustomize takes, one longer, and explicit keys.
    let fits = "a".repeat(1022);
    let names = vec![
        fits.clone(),
        "b".repeat(1023),
        "c".repeat(1025),
        format!("!{}", "d".repeat(5000)),
    ];
    let path = sandbox.write("keys.toml", scenario_with_header_names(&names));
    let path = path.display().to_string();
    let run = sandbox.run(&["check", &path, "--format", "json"]);
    run.expect_code(0);
    let warned: Vec<u64> = run
        .stderr
        .lines()
        .map(|line| {
            let d = json(line);
            assert_eq!(d["severity"], "warning", "{line}");
            d["column"].as_u64().expect("column")
        })
        .collect();
    // At the second, third and fourth names of line 15.
    let column = |k: usize| 13 + names[..k].iter().map(|n| n.len() + 10).sum::<usize>() as u64;
    assert_eq!(warned, [column(1), column(2), column(3)], "{}", run.stderr);
    sandbox.run(&["build", &path]).expect_code(0);
    let file = sandbox.path().join("out/keys/steps/01-s.yaml");
    let output = Command::new(&kubectl)
        .args(["label", "--local", "-o", "json", "meshgen=read", "-f"])
        .arg(&file)
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl label --local -f {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut wanted = names.clone();
    wanted.sort_unstable();
    assert_eq!(
        header_names(&[json(&String::from_utf8_lossy(&output.stdout))]),
        wanted
    );
    // kustomize: the name that fits comes back; one character more, and it fails.
    let fitting = sandbox.write(
        "fits.toml",
        scenario_with_header_names(std::slice::from_ref(&fits)),
    );
    sandbox
        .run(&["build", &fitting.display().to_string()])
        .expect_code(0);
    let folder = sandbox.path().join("out/keys/routing/01-s");
    assert_eq!(header_names(&kustomize(&kubectl, &folder)), [fits]);
    sandbox.run(&["build", &path]).expect_code(0);
    let refused = Command::new(&kubectl)
        .arg("kustomize")
        .arg(&folder)
        .output()
        .expect("run kubectl");
    assert!(
        !refused.status.success(),
        "kubectl kustomize now reads keys over 1024 characters: drop the warning"
    );
}
