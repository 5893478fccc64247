//! `--templates DIR`: the folder must exist, a file in it that is named after
//! no template is a warning, a user's template that renders a bad document is
//! blamed by its file (not called a meshgen bug), and a user's template that
//! loops for ever is stopped by a fuel budget.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, Run, Sandbox, files, scenario};

/// The shipped template `name`.
fn shipped(name: &str) -> String {
    std::fs::read_to_string(support::repo().join("templates").join(name)).expect("template")
}

#[test]
fn a_missing_templates_folder_is_an_error_in_every_command_that_renders_and_nothing_is_written() {
    let sandbox = Sandbox::new();
    sandbox.write("a-file", "not a folder\n");
    let kuard = scenario("kuard");
    for (dir, problem) in [
        ("nonexistent", "no such folder"),
        ("a-file", "not a folder"),
    ] {
        for command in [
            vec!["build", kuard.as_str()],
            vec!["build", kuard.as_str(), "--stdout"],
            vec!["diff", kuard.as_str(), "--against", "out/kuard"],
        ] {
            let run = sandbox.run(&[&command[..], &["--templates", dir]].concat());
            run.expect_code(2);
            assert!(
                run.stderr
                    .contains(&format!("meshgen: error: --templates {dir}: {problem}")),
                "{command:?} {dir}: {}",
                run.stderr
            );
            assert_eq!(run.stdout, "", "{command:?}");
            assert!(!sandbox.path().join("out").exists(), "{command:?}");
        }
    }
}

#[test]
fn a_template_name_that_is_a_folder_is_an_error() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path().join("templates/service.yaml.j2")).expect("folder");
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "templates"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--templates templates: service.yaml.j2 is not a file"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_misspelt_template_file_is_a_warning_naming_it_and_the_template_names() {
    let sandbox = Sandbox::new();
    let kuard = scenario("kuard");
    sandbox
        .run(&["build", &kuard, "--out", "shipped"])
        .expect_code(0);
    // A changed copy under a misspelt name: it is not used, and the user is told.
    let changed = shipped("virtualservice.yaml.j2").replace("kind:", "kind: ");
    sandbox.write("templates/virtualservices.yaml.j2", &changed);
    sandbox.write("templates/README.md", "my templates\n");
    // Hidden entries (a .gitkeep, an editor's state) are not listed.
    sandbox.write("templates/.gitkeep", "");
    let run = sandbox.run(&["build", &kuard, "--templates", "templates"]);
    run.expect_code(0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("meshgen: warning:"))
        .collect();
    let names = "(the templates: argocd-application.yaml.j2, authorizationpolicy.yaml.j2, \
                 delete.yaml.j2, deployment.yaml.j2, destinationrule.yaml.j2, flux-helmrelease.yaml.j2, \
                 flux-helmrepository.yaml.j2, gateway-virtualservice.yaml.j2, gateway.yaml.j2, \
                 helm-values.yaml.j2, httproute.yaml.j2, \
                 ingress-gateway.yaml.j2, ingress-httproute.yaml.j2, ingress-redirect.yaml.j2, \
                 istiooperator.yaml.j2, \
                 namespace.yaml.j2, peerauthentication.yaml.j2, service.yaml.j2, \
                 serviceaccount.yaml.j2, \
                 version-service.yaml.j2, virtualservice.yaml.j2, waypoint.yaml.j2)";
    assert_eq!(
        warnings,
        [
            format!(
                "meshgen: warning: --templates: templates/README.md is not named after a \
                 template, so it is not used {names}"
            ),
            format!(
                "meshgen: warning: --templates: templates/virtualservices.yaml.j2 is not named \
                 after a template, so it is not used; did you mean virtualservice.yaml.j2? {names}"
            ),
        ],
        "{}",
        run.stderr
    );
    assert_eq!(
        files(&sandbox.path().join("out")),
        files(&sandbox.path().join("shipped")),
        "the misspelt file changed the output"
    );
    // diff warns too.
    let run = sandbox.run(&[
        "diff",
        &kuard,
        "--against",
        "out/kuard",
        "--templates",
        "templates",
    ]);
    run.expect_code(0);
    assert_eq!(
        run.stderr.matches("meshgen: warning: --templates:").count(),
        2
    );
}

#[test]
fn deny_warnings_makes_a_misspelt_template_file_fail_the_run_before_anything_is_written() {
    let sandbox = Sandbox::new();
    sandbox.write("templates/Namespace.yaml.j2", shipped("namespace.yaml.j2"));
    let kuard = scenario("kuard");
    for command in [
        vec!["build", kuard.as_str()],
        vec!["build", kuard.as_str(), "--stdout"],
    ] {
        let args = [
            &command[..],
            &["--templates", "templates", "--deny-warnings"],
        ]
        .concat();
        let run = sandbox.run(&args);
        run.expect_code(2);
        assert!(
            run.stderr.contains(
                "meshgen: warning: --templates: templates/Namespace.yaml.j2 is not named after \
                 a template, so it is not used; did you mean namespace.yaml.j2?"
            ) && run.stderr.contains(
                "meshgen: error: --deny-warnings: 1 of the --templates folder's entries are not \
                 named after a template"
            ),
            "{command:?}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{command:?}");
        assert!(!sandbox.path().join("out").exists(), "{command:?}");
    }
}

#[test]
fn a_user_template_that_renders_two_documents_is_blamed_by_its_file_not_called_a_meshgen_bug() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "evil/namespace.yaml.j2",
        format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n",
            shipped("namespace.yaml.j2")
        ),
    );
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "evil"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "meshgen: error: template evil/namespace.yaml.j2 (your namespace.yaml.j2 from \
             --templates) rendered an invalid document (more than one YAML document)"
        ) && run.stderr.contains("fix the template"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("meshgen bug"), "{}", run.stderr);
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_user_template_that_fails_to_render_is_named_by_its_file() {
    let sandbox = Sandbox::new();
    sandbox.write("mine/service.yaml.j2", "{{ no_such_variable }}\n");
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "mine"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "meshgen: error: template mine/service.yaml.j2 (your service.yaml.j2 from \
             --templates): undefined value"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_user_deletion_template_that_fails_as_the_teardown_is_written_is_named_and_replaces_nothing() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", &scenario("kuard"), "--out", "out"])
        .expect_code(0);
    let before = files(&sandbox.path().join("out"));
    // The teardown's deletion documents are rendered as its file is written.
    sandbox.write(
        "mine/delete.yaml.j2",
        "apiVersion: {{ id.apiVersion }}\nkind: {{ id.kind }}\nmetadata:\n  name: other\n",
    );
    let run = sandbox.run(&[
        "build",
        &scenario("kuard"),
        "--out",
        "out",
        "--templates",
        "mine",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "meshgen: error: template mine/delete.yaml.j2 (your delete.yaml.j2 from --templates)"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("meshgen bug"), "{}", run.stderr);
    assert_eq!(
        files(&sandbox.path().join("out")),
        before,
        "the output is as it was"
    );
}

/// Runs meshgen in `dir`, killed after `limit`: `None` when it had to be.
fn run_within(dir: &std::path::Path, args: &[&str], limit: Duration) -> Option<Run> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run meshgen");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    Some(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[test]
fn a_user_template_that_loops_for_ever_runs_out_of_fuel_and_is_named() {
    let sandbox = Sandbox::new();
    // 10^10 iterations: hours without a limit.
    sandbox.write(
        "loop/namespace.yaml.j2",
        format!(
            "{{% for a in range(100000) %}}{{% for b in range(100000) %}}{{% endfor %}}\
             {{% endfor %}}{}",
            shipped("namespace.yaml.j2")
        ),
    );
    // A generous limit: the budget of a small scenario stops it within a
    // second or two even in a debug build.
    let run = run_within(
        sandbox.path(),
        &["build", &scenario("kuard"), "--templates", "loop"],
        Duration::from_secs(120),
    )
    .expect("the runaway template was not stopped within 120 s");
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "meshgen: error: template loop/namespace.yaml.j2 (your namespace.yaml.j2 from \
             --templates) ran out of fuel: it took more than"
        ),
        "{}",
        run.stderr
    );
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn a_runaway_template_stops_the_run_at_its_first_document_not_after_each_of_them() {
    // 300 Deployments, rendered on every core: each would spend the whole
    // budget (seconds in a debug build) if the others kept rendering.
    let mut text =
        String::from("name = \"many\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n");
    for i in 0..100 {
        text.push_str(&format!("[[services]]\nname = \"s{i}\"\nport = 80\n"));
        for v in ["v1", "v2", "v3"] {
            text.push_str(&format!("[services.versions.{v}]\nimage = \"i\"\n"));
        }
    }
    text.push_str("[[steps]]\nname = \"one\"\n[[steps.routes]]\nservice = \"*\"\nto = \"v1\"\n");
    let sandbox = Sandbox::new();
    let path = sandbox.write("many.toml", text).display().to_string();
    sandbox.write(
        "loop/deployment.yaml.j2",
        format!(
            "{{% for a in range(100000) %}}{{% for b in range(100000) %}}{{% endfor %}}\
             {{% endfor %}}{}",
            shipped("deployment.yaml.j2")
        ),
    );
    let run = run_within(
        sandbox.path(),
        &["build", &path, "--templates", "loop"],
        Duration::from_secs(120),
    )
    .expect("the runaway template was not stopped within 120 s");
    run.expect_code(2);
    assert_eq!(
        run.stderr.matches("ran out of fuel").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_copy_of_the_shipped_templates_builds_exactly_what_the_shipped_ones_build() {
    // With every template overridden, every document is rendered under the
    // fuel budget: the shipped templates must stay far below it.
    let sandbox = Sandbox::new();
    for entry in std::fs::read_dir(support::repo().join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        sandbox.write(&format!("copy/{name}"), std::fs::read(&path).expect("read"));
    }
    for name in ["bookinfo", "kuard"] {
        let shipped = sandbox.run(&["build", &scenario(name), "--stdout"]);
        shipped.expect_code(0);
        let copied = sandbox.run(&["build", &scenario(name), "--stdout", "--templates", "copy"]);
        copied.expect_code(0);
        assert_eq!(copied.stdout, shipped.stdout, "{name}");
        assert_eq!(copied.stderr, shipped.stderr, "{name}");
    }
}
