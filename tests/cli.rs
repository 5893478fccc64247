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
