//! Validation, end to end: the corpus of invalid scenarios (tests/invalid/*.toml,
//! each with the expected first line of every diagnostic in a sibling .stderr),
//! the corpus of valid scenarios (tests/valid/*.toml), odd inputs (empty, not
//! UTF-8, 5 MB), mutated scenarios that must never panic, `--format json`,
//! colour, and `build --crd-schemas` against Istio's own CRDs.
//!
//! `MESHGEN_BLESS=1 cargo test` rewrites the .stderr files (refused when `CI` is set).

use std::path::{Path, PathBuf};

use crate::support::{self, Sandbox, meshgen, repo, text_diff};

/// The `.toml` files of a corpus folder under tests/, sorted.
fn corpus(folder: &str) -> Vec<PathBuf> {
    let dir = repo().join("tests").join(folder);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

/// The path of a corpus file relative to the repository, with `/`.
fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .expect("inside the repository")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether expectations are to be rewritten; panics when asked to in CI.
fn blessing() -> bool {
    let bless = std::env::var_os("MESHGEN_BLESS").is_some_and(|v| v == "1");
    assert!(
        !(bless && std::env::var_os("CI").is_some()),
        "MESHGEN_BLESS=1 is refused when CI is set: expectations are reviewed, not regenerated"
    );
    bless
}

/// The first line of every diagnostic of `check`, without the file name:
/// `LINE:COL: error: MESSAGE`.
fn headlines(stderr: &str, file: &str) -> String {
    let prefix = format!("{file}:");
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn every_invalid_scenario_is_rejected_with_the_expected_lines_and_columns() {
    let bless = blessing();
    let cases = corpus("invalid");
    assert!(cases.len() >= 40, "only {} invalid cases", cases.len());
    let mut failures = Vec::new();
    for path in &cases {
        let file = relative(path);
        let run = meshgen(&repo(), &["check", &file]);
        let actual = headlines(&run.stderr, &file);
        let expected_path = path.with_extension("stderr");
        if run.code != 1 || !actual.contains(": error: ") {
            failures.push(format!(
                "{file}: expected exit 1 and an error, got exit {}:\n{}",
                run.code, run.stderr
            ));
            continue;
        }
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            format!(
                "(missing {}: run MESHGEN_BLESS=1 cargo test)\n",
                relative(&expected_path)
            )
        });
        if expected != actual {
            failures.push(format!("{file}:\n{}", text_diff(&expected, &actual)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expectation_file_has_its_scenario() {
    let dir = repo().join("tests/invalid");
    for entry in std::fs::read_dir(&dir).expect("tests/invalid") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no scenario",
                path.display()
            );
        }
    }
}

#[test]
fn every_valid_scenario_checks_and_builds() {
    let cases = corpus("valid");
    assert!(cases.len() >= 5, "only {} valid cases", cases.len());
    let sandbox = Sandbox::new();
    for path in &cases {
        let file = relative(path);
        let run = meshgen(&repo(), &["check", &file]);
        run.expect_code(0);
        assert!(!run.stderr.contains(": error: "), "{file}:\n{}", run.stderr);
        let out = sandbox.path().join("out");
        let out = out.to_str().expect("UTF-8 temporary path");
        meshgen(&repo(), &["build", &file, "--out", out]).expect_code(0);
    }
}

#[test]
fn an_empty_file_is_invalid_with_every_missing_key_on_line_one() {
    let sandbox = Sandbox::new();
    sandbox.write("empty.toml", "");
    let run = sandbox.run(&["check", "empty.toml"]);
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr, "empty.toml"),
        "1:1: error: missing required key `mesh` in the scenario\n\
         1:1: error: missing required key `name` in the scenario\n\
         1:1: error: missing required key `namespace` in the scenario\n\
         1:1: error: missing required key `services` in the scenario\n"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_invalid_at_the_first_bad_byte() {
    let sandbox = Sandbox::new();
    sandbox.write("latin1.toml", b"name = \"caf\xe9\"\n".as_slice());
    let run = sandbox.run(&["check", "latin1.toml"]);
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr, "latin1.toml"),
        "1:12: error: the file is not valid UTF-8 text\n"
    );
    let out = sandbox.run(&["build", "latin1.toml"]);
    out.expect_code(1);
    assert!(
        !sandbox.path().join("out").exists(),
        "an invalid file wrote output"
    );
}

/// A valid scenario of about `bytes` bytes: many services and many steps.
fn big_scenario(bytes: usize) -> String {
    let mut text =
        String::from("name = \"big\"\n[mesh]\nversion = \"1.30.3\"\n[namespace]\nname = \"big\"\n");
    for i in 0..200 {
        text.push_str(&format!(
            "[[services]]\nname = \"svc-{i}\"\nport = 8080\n  [services.versions.v1]\n  \
             image = \"example/svc:1\"\n  [services.versions.v2]\n  image = \"example/svc:2\"\n"
        ));
    }
    let mut step = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "[[steps]]\nname = \"step-{step}\"\ndescription = \"Shift svc-{s} to v2\"\n\
             [[steps.routes]]\nservice = \"svc-{s}\"\nheaders = {{ end-user = \"jason\" }}\n\
             to = \"v2\"\n[[steps.routes]]\nservice = \"svc-{s}\"\nto = {{ v1 = 90, v2 = 10 }}\n",
            s = step % 200
        ));
        step += 1;
    }
    text
}

#[test]
fn a_five_megabyte_scenario_checks_cleanly() {
    let sandbox = Sandbox::new();
    let text = big_scenario(5 * 1024 * 1024);
    assert!(text.len() >= 5 * 1024 * 1024);
    sandbox.write("big.toml", &text);
    let run = sandbox.run(&["check", "big.toml"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    // The same file with one mistake near the end: one error, at its line.
    let broken = format!(
        "{text}[[steps]]\nname = \"last\"\n[[steps.routes]]\nservice = \"nope\"\nto = \"v1\"\n"
    );
    sandbox.write("broken.toml", &broken);
    let run = sandbox.run(&["check", "broken.toml"]);
    run.expect_code(1);
    let line = broken.lines().count() - 1;
    assert_eq!(
        headlines(&run.stderr, "broken.toml"),
        format!("{line}:11: error: route for undeclared service `nope`\n")
    );
}

/// A small deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// Fragments a mutation may insert: TOML syntax, keys and values of the format.
const FRAGMENTS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "\n",
    "#",
    " ",
    "\\",
    "\"\"\"",
    "-",
    "0",
    "1.5",
    "nan",
    "inf",
    "1979-05-27",
    "true",
    "\"*\"",
    "\"v1\"",
    "\"\"",
    "to = { v1 = 50, v2 = 50 }",
    "[[steps]]",
    "[[steps.routes]]",
    "[[services]]",
    "[gateway]",
    "deploy = false",
    "service = \"*\"",
    "headers = { \"\" = \"x\" }",
    "uri = { regex = \"(\" }",
    "version = \"1.5\"",
    "version = \"1.99\"",
    "networking_api = \"v1\"",
    "é",
    "\u{0}",
    "\u{feff}",
];

/// One random edit of `text`: delete, duplicate or move a range, or insert a fragment.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len();
    let at = rng.below(len + 1);
    let span = 1 + rng.below(40);
    let end = (at + span).min(len);
    match rng.below(5) {
        0 => {
            bytes.drain(at..end);
        }
        1 => {
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        2 => {
            let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
            bytes.splice(at..at, fragment.bytes());
        }
        3 => {
            // Swap two lines.
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
            let mut lines = lines;
            if !lines.is_empty() {
                lines.swap(a, b);
            }
            return lines.concat();
        }
        _ => {
            if at < len {
                bytes[at] = u8::try_from(rng.below(128)).unwrap_or(b'x');
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs the whole pipeline on `text` as `meshgen build` does, in process.
fn compile(text: &str, renderer: &meshgen::render::Renderer) -> bool {
    let source = meshgen::source::Source::new("mutant.toml", text);
    let checked = meshgen::scenario::check(&source);
    for d in &checked.diagnostics {
        let _ = d.render(&source, false);
    }
    let Some(scenario) = checked.scenario else {
        return false;
    };
    match meshgen::bundle::bundle(renderer, &scenario) {
        Ok(build) => {
            if let Err(e) = meshgen::layout::files(&build, &scenario, renderer) {
                panic!("a scenario that rendered failed to lay out: {e}\n{text}");
            }
            true
        }
        Err(e) => panic!("a scenario that validated failed to render: {e}\n{text}"),
    }
}

#[test]
fn mutated_scenarios_never_panic_and_valid_ones_always_render() {
    let renderer = meshgen::render::Renderer::new(None).expect("shipped templates");
    let mut seeds: Vec<String> = ["bookinfo", "bookinfo-latest", "kuard"]
        .iter()
        .map(|name| std::fs::read_to_string(support::scenario(name)).expect("shipped scenario"))
        .collect();
    seeds.extend(
        corpus("valid")
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("valid scenario")),
    );
    let mut rng = Rng(0x6d65_7368_6765_6e21);
    let (mut valid, mut total) = (0, 0);
    for seed in &seeds {
        for _ in 0..150 {
            let mut text = seed.clone();
            for _ in 0..=rng.below(4) {
                text = mutate(&text, &mut rng);
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compile(&text, &renderer)
            }));
            match outcome {
                Ok(ok) => valid += usize::from(ok),
                Err(_) => panic!("meshgen panicked on this mutant:\n{text}"),
            }
            total += 1;
        }
    }
    // The mutations must leave some scenarios valid, or rendering is never reached.
    assert!(
        valid > total / 20,
        "only {valid} of {total} mutants were valid"
    );
}

#[test]
fn format_json_prints_one_object_per_diagnostic_on_stderr() {
    let file = "tests/invalid/every-shape-error-at-once.toml";
    let run = meshgen(&repo(), &["check", "--format", "json", file]);
    run.expect_code(1);
    assert_eq!(run.stdout, "", "diagnostics never go to stdout");
    let objects: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let human = meshgen(&repo(), &["check", file]);
    assert_eq!(
        objects.len(),
        headlines(&human.stderr, file).lines().count(),
        "the same diagnostics"
    );
    assert_eq!(
        objects[0],
        serde_json::json!({
            "file": file, "line": 6, "column": 1, "end_line": 6, "end_column": 7,
            "severity": "error", "message": "unknown key `profle` in [mesh]",
            "help": "did you mean `profile`?"
        })
    );
}

#[test]
fn format_json_on_a_clean_scenario_prints_nothing_and_leaves_stdout_to_the_output() {
    let clean = "tests/valid/istio-1-30-older-apis.toml";
    let run = meshgen(&repo(), &["check", "--format", "json", clean]);
    run.expect_code(0);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    let sandbox = Sandbox::new();
    let bookinfo = support::scenario("bookinfo");
    let plain = sandbox.run(&["build", &bookinfo, "--stdout"]);
    let run = sandbox.run(&["build", &bookinfo, "--stdout", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.stdout, plain.stdout, "the YAML stream alone");
    assert!(!support::documents(&run.stdout).is_empty());
    for line in run.stderr.lines() {
        let warning: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(warning["severity"], "warning", "{line}");
    }
    let diff = ["diff", &bookinfo, "--from", "all-v1", "--to", "jason-v2"];
    let plain = sandbox.run(&diff);
    let run = sandbox.run(&[&diff[..], &["--format", "json"]].concat());
    run.expect_code(1);
    assert_eq!(run.stdout, plain.stdout, "the diff alone");
    assert!(run.stdout.contains("\n--- a/all-v1/"), "{}", run.stdout);
}

#[test]
fn colour_is_used_only_when_asked_or_on_a_terminal_without_no_color() {
    let file = "tests/invalid/port-out-of-range.toml";
    let always = meshgen(&repo(), &["--color", "always", "check", file]);
    assert!(always.stderr.contains("\x1b["), "{}", always.stderr);
    let piped = meshgen(&repo(), &["check", file]);
    assert!(!piped.stderr.contains('\x1b'), "{}", piped.stderr);
    // On a terminal (util-linux `script` gives one), colour unless NO_COLOR is set.
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipping the terminal half: /usr/bin/script not found");
        return;
    }
    let command = format!("{} check {file}", env!("CARGO_BIN_EXE_meshgen"));
    let on_terminal = |no_color: bool| {
        let mut run = std::process::Command::new(script);
        run.args(["-qec", &command, "/dev/null"])
            .current_dir(repo());
        if no_color {
            run.env("NO_COLOR", "1");
        } else {
            run.env_remove("NO_COLOR");
        }
        let output = run.output().expect("run script");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        on_terminal(false).contains("\x1b["),
        "no colour on a terminal"
    );
    assert!(
        !on_terminal(true).contains('\x1b'),
        "colour despite NO_COLOR"
    );
}

/// The Istio CRD files of a release in the shared folder, or `None` when absent.
fn istio_crds(release: &str, operator: &str) -> Option<Vec<String>> {
    let istio = support::shared_dir()?.join("schemas/istio");
    let files = [
        istio.join(release).join("crd-all.gen.yaml"),
        istio.join("istiooperator").join(operator),
    ];
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        support::require_shared(missing);
        return None;
    }
    Some(files.iter().map(|f| f.display().to_string()).collect())
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn crd_schemas_accept_every_document_of_the_scenarios_for_their_release() {
    let (Some(old), Some(new)) = (
        istio_crds("1.5.1", "crd-operator.1.5.1.yaml"),
        istio_crds("1.30.3", "crd-operator.1.23.6.yaml"),
    ) else {
        return;
    };
    let mut scenarios: Vec<String> = ["bookinfo", "bookinfo-latest", "kuard"]
        .iter()
        .map(|s| support::scenario(s))
        .collect();
    scenarios.extend(corpus("valid").iter().map(|p| p.display().to_string()));
    let sandbox = Sandbox::new();
    for scenario in &scenarios {
        let text = std::fs::read_to_string(scenario).expect("scenario");
        let crds = if text.contains("version = \"1.5") {
            &old
        } else {
            &new
        };
        let mut args = vec!["build", scenario.as_str()];
        args.extend(crds.iter().flat_map(|f| ["--crd-schemas", f.as_str()]));
        let run = sandbox.run(&args);
        run.expect_code(0);
        assert!(
            run.stderr
                .contains("documents checked against the supplied CRDs, 0 do not conform"),
            "{scenario}:\n{}",
            run.stderr
        );
    }
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn crd_schemas_of_an_older_release_reject_api_versions_it_does_not_serve() {
    let Some(old) = istio_crds("1.5.1", "crd-operator.1.5.1.yaml") else {
        return;
    };
    let sandbox = Sandbox::new();
    let kuard = support::scenario("kuard");
    let mut args = vec!["build", kuard.as_str()];
    args.extend(old.iter().flat_map(|f| ["--crd-schemas", f.as_str()]));
    let run = sandbox.run(&args);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "VirtualService test-ns/kuard: networking.istio.io/v1 is not served by the supplied \
             CRDs, which serve VirtualService as v1alpha3, v1beta1"
        ),
        "{}",
        run.stderr
    );
    assert!(!sandbox.path().join("out").exists(), "nothing is written");
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn crd_schemas_reject_a_document_a_template_gets_wrong_and_blame_the_template() {
    let Some(new) = istio_crds("1.30.3", "crd-operator.1.23.6.yaml") else {
        return;
    };
    let sandbox = Sandbox::new();
    let shipped = repo().join("templates/destinationrule.yaml.j2");
    let template = std::fs::read_to_string(shipped).expect("template");
    assert!(template.contains("subsets:"));
    sandbox.write(
        "templates/destinationrule.yaml.j2",
        template.replace("subsets:", "subsetz:"),
    );
    let kuard = support::scenario("kuard");
    let mut args = vec!["build", kuard.as_str(), "--templates", "templates"];
    args.extend(new.iter().flat_map(|f| ["--crd-schemas", f.as_str()]));
    let run = sandbox.run(&args);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "DestinationRule test-ns/kuard (template destinationrule.yaml.j2) does not conform"
        ) && run.stderr.contains("unknown field \"subsetz\"")
            && run
                .stderr
                .contains("check the templates given with --templates"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.path().join("out").exists(), "nothing is written");
}

#[test]
fn crd_schemas_that_cannot_be_read_are_an_error_naming_the_file() {
    let sandbox = Sandbox::new();
    sandbox.write("crds.yaml", "kind: ConfigMap\n");
    let kuard = support::scenario("kuard");
    let run = sandbox.run(&["build", &kuard, "--crd-schemas", "crds.yaml"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("CRD file crds.yaml: holds no CustomResourceDefinition"),
        "{}",
        run.stderr
    );
}

/// Runs one test of this binary, ignored or not, with the shared folder
/// pointed somewhere that does not exist.
fn without_shared(test: &str, require: bool) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = std::process::Command::new(exe);
    command
        .args([test, "--exact", "--include-ignored", "--test-threads=1"])
        .env("MESHGEN_SHARED_DIR", "/nonexistent/meshgen-shared");
    if require {
        command.env("MESHGEN_REQUIRE_SHARED", "1");
    } else {
        command.env_remove("MESHGEN_REQUIRE_SHARED");
    }
    command.output().expect("run the test binary")
}

#[test]
fn a_missing_shared_folder_fails_the_tests_that_need_it_when_it_is_required() {
    let test = "corpus::crd_schemas_of_an_older_release_reject_api_versions_it_does_not_serve";
    let required = without_shared(test, true);
    let stdout = String::from_utf8_lossy(&required.stdout);
    assert!(!required.status.success(), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(
        stdout.contains("MESHGEN_REQUIRE_SHARED is set but /nonexistent/meshgen-shared"),
        "{stdout}"
    );
    let optional = without_shared(test, false);
    let stdout = String::from_utf8_lossy(&optional.stdout);
    assert!(optional.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
