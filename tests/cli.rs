//! The command line as a new user meets it: where diagnostics go, what each
//! subcommand's flags do, usage errors, operational errors, completions and
//! the man page.

use crate::support::{Sandbox, scenario};

#[test]
fn an_io_error_prints_its_cause_once() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "meshgen: error: scenarios: No such file or directory (os error 2)\n"
    );
    let run = sandbox.run(&["check", "missing.toml"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "meshgen: error: missing.toml: No such file or directory (os error 2)\n\
         meshgen: error: 1 of 1 scenario files could not be read\n"
    );
}

#[test]
fn a_template_error_prints_its_detail_once() {
    let sandbox = Sandbox::new();
    let templates = crate::support::repo().join("templates");
    for entry in std::fs::read_dir(&templates).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("template");
        let text = if name == "namespace.yaml.j2" {
            text + "{{ x( }}\n"
        } else {
            text
        };
        sandbox.write(&format!("t/{name}"), text);
    }
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "t"]);
    run.expect_code(2);
    assert_eq!(run.stderr.matches("unexpected `}`").count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("caused by"), "{}", run.stderr);
}

#[test]
fn explain_json_output_with_json_diagnostics_is_one_json_document_on_stdout() {
    // bookinfo's fault steps warn at check time: the warnings are JSON lines on
    // stderr, the explanation is the whole of stdout.
    let run = Sandbox::new().run(&[
        "explain",
        &scenario("bookinfo"),
        "--step",
        "ratings-delay",
        "--header",
        "end-user=jason",
        "--format",
        "json",
        "--output",
        "json",
    ]);
    run.expect_code(0);
    let explanation: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", run.stdout));
    assert_eq!(explanation["step"], "ratings-delay");
    assert!(!run.stderr.is_empty(), "bookinfo's fault steps warn");
    for line in run.stderr.lines() {
        let diagnostic: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(diagnostic["severity"], "warning", "{line}");
    }
}

#[test]
fn check_format_json_writes_diagnostic_lines_to_stderr_only() {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", "name = \"BAD\"\n");
    let run = sandbox.run(&["check", "s.toml", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|d| d["line"] == 1 && d["column"] == 8 && d["severity"] == "error"),
        "{lines:?}"
    );
}
