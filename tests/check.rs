//! `meshgen check`: diagnostics point at file, line and column, every error is
//! reported in one run, warnings pass unless denied, and exit codes follow
//! SCENARIO.md.

use crate::support::{Sandbox, scenario};

const VALID: &str = r#"name = "demo"

[mesh]
version = "1.22.0"

[namespace]
name = "demo"

[[services]]
name = "web"
port = 8080
  [services.versions.v1]
  image = "example.com/web:1"
  [services.versions.v2]
  image = "example.com/web:2"

[[steps]]
name = "all-v1"
[[steps.routes]]
service = "web"
to = "v1"
"#;

/// The first line of each diagnostic on stderr.
fn headlines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .collect()
}

fn check(text: &str) -> (crate::support::Run, String) {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", text);
    (sandbox.run(&["check", "s.toml"]), String::new())
}

#[test]
fn the_shipped_scenarios_are_valid() {
    for name in ["bookinfo", "bookinfo-latest", "kuard"] {
        Sandbox::new()
            .run(&["check", &scenario(name)])
            .expect_code(0);
    }
}

#[test]
fn a_valid_scenario_prints_nothing_and_exits_zero() {
    let (run, _) = check(VALID);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
}

#[test]
fn every_error_is_reported_in_one_run_sorted_by_position() {
    let text = VALID
        .replace("name = \"demo\"\n\n[mesh]", "name = \"Demo\"\n\n[mesh]")
        .replace("port = 8080", "port = 70000")
        .replace("service = \"web\"\nto", "service = \"wbe\"\nto");
    let (run, _) = check(&text);
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr),
        [
            "s.toml:1:8: error: scenario name `Demo` is not a DNS-1123 label: use 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
            "s.toml:11:8: error: `port` must be between 1 and 65535, not 70000",
            "s.toml:20:11: error: route for undeclared service `wbe`",
        ]
    );
}

#[test]
fn diagnostics_show_the_line_with_a_caret_under_the_culprit() {
    let (run, _) = check(&VALID.replace("port = 8080", "port = 0"));
    let expected = "s.toml:11:8: error: `port` must be between 1 and 65535, not 0\n   |\n11 | port = 0\n   |        ^\n";
    assert!(run.stderr.starts_with(expected), "{}", run.stderr);
}

#[test]
fn a_missing_key_is_reported_at_its_table_header() {
    let (run, _) = check(&VALID.replace("port = 8080\n", ""));
    run.expect_code(1);
    assert_eq!(
        headlines(&run.stderr),
        ["s.toml:9:1: error: missing required key `port` in [[services]]"]
    );
    let (run, _) = check(&VALID.replace("name = \"demo\"\n\n[mesh]", "[mesh]"));
    assert_eq!(
        headlines(&run.stderr),
        ["s.toml:1:1: error: missing required key `name` in the scenario"]
    );
}

#[test]
fn an_unknown_key_is_an_error_at_the_key() {
    let (run, _) = check(&VALID.replace("port = 8080", "port = 8080\nprotocl = \"http\""));
    run.expect_code(1);
    let lines = headlines(&run.stderr);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("s.toml:12:1: error: "), "{}", lines[0]);
    assert!(lines[0].contains("protocl"), "{}", lines[0]);
}

#[test]
fn a_toml_syntax_error_points_at_the_bad_spot() {
    let (run, _) = check("name = \"x\"\n[mesh\nversion = 1\n");
    run.expect_code(1);
    assert!(
        headlines(&run.stderr)[0].starts_with("s.toml:2:"),
        "{}",
        run.stderr
    );
}

#[test]
fn warnings_exit_zero_unless_denied() {
    let text = VALID.replace(
        "[[steps]]",
        "[gateway]\n[[gateway.routes]]\nservice = \"web\"\n\n[[steps]]",
    );
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", &text);
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(0);
    let lines = headlines(&run.stderr);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains(": warning: ") && lines[0].contains("IST0140"),
        "{}",
        lines[0]
    );
    sandbox
        .run(&["check", "s.toml", "--deny-warnings"])
        .expect_code(1);
    let build = sandbox.run(&["build", "s.toml", "--deny-warnings"]);
    build.expect_code(1);
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_file_that_is_not_utf8_is_an_invalid_scenario() {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", b"name = \"\xff\"\n");
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("s.toml:1:9: error: the file is not valid UTF-8 text"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_file_reports_the_missing_top_level_keys() {
    let (run, _) = check("");
    run.expect_code(1);
    let lines = headlines(&run.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("s.toml:1:1: error: missing required key")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
}

#[test]
fn a_file_that_cannot_be_read_is_reported_and_the_files_after_it_still_checked() {
    let sandbox = Sandbox::new();
    sandbox.write("bad.toml", "name = \"BAD\"\n");
    let run = sandbox.run(&["check", "missing.toml", "bad.toml"]);
    run.expect_code(2);
    assert!(run.stderr.contains("missing.toml: "), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bad.toml:1:8: error: scenario name `BAD`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1 of 2 scenario files could not be read"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_two() {
    let sandbox = Sandbox::new();
    sandbox.run(&["check"]).expect_code(2);
    sandbox.run(&["frobnicate"]).expect_code(2);
    sandbox.run(&["build", "--step", "x"]).expect_code(2);
}

#[test]
fn profile_and_networking_api_follow_the_release() {
    let ambient_too_early = VALID.replace(
        "version = \"1.22.0\"",
        "version = \"1.15.3\"\nprofile = \"ambient\"",
    );
    let (run, _) = check(&ambient_too_early);
    run.expect_code(1);
    assert!(
        headlines(&run.stderr)[0].contains("profile `ambient` is not shipped by Istio 1.15"),
        "{}",
        run.stderr
    );
    let v1_too_early = VALID.replace(
        "version = \"1.22.0\"",
        "version = \"1.21\"\nnetworking_api = \"v1\"",
    );
    let (run, _) = check(&v1_too_early);
    run.expect_code(1);
    assert!(
        headlines(&run.stderr)[0].contains("networking_api `v1` is not served by Istio 1.21"),
        "{}",
        run.stderr
    );
}
