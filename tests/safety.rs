//! No scenario string can add structure to the output: adversarial values come
//! back from the emitted YAML as exactly the same strings. Nor can one reach a
//! terminal as a command: what meshgen prints for people shows control
//! characters escaped.

use crate::support::{Sandbox, documents};

/// Strings that would break naive YAML templating.
const ADVERSARIAL: &[&str] = &[
    "line one\nline two",
    "key: value",
    "---",
    "--- \nkind: Secret",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "\"double\" and 'single' quotes",
    "yes",
    "on",
    "NO",
    "0123",
    "0x1F",
    "1e3",
    "12:30",
    "~",
    "null",
    "",
    " leading and trailing ",
    "# not a comment",
    "&anchor *alias",
    "!!binary aGk=",
    "[1, 2]",
    "{a: b}",
    "tab\there",
    "back\\slash",
    "née — ünïcødé ✓ 日本語",
    "bell\u{7}and\u{7f}del",
    "line\u{2028}separator",
    "nonchar\u{fffe}and\u{ffff}",
    "next\u{85}line",
    "c1\u{80}controls\u{9f}",
    "para\u{2029}graph",
    "bom\u{feff}inside",
    "\u{feff}leading bom",
    "esc\u{1b}[31mred",
    "nul\u{0}byte",
    "| block",
    "> folded",
    "@at `tick`",
    "%TAG",
];

/// A TOML basic string for `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scenario_with(value: &str) -> String {
    let v = toml_string(value);
    format!(
        r#"name = "inject"
description = {v}

[mesh]
version = "1.22.0"
[mesh.config]
access_log_file = {v}

[namespace]
name = "inject"

[[services]]
name = "app"
port = 8080
  [services.versions.v1]
  image = "example.com/app:1"
  env = {{ VALUE = {v} }}

[gateway]
[[gateway.routes]]
service = "app"
uris = [ {{ exact = {v} }} ]

[[steps]]
name = "one"
description = {v}
[[steps.routes]]
service = "app"
headers = {{ x-value = {v} }}
uri = {{ prefix = {v} }}
to = "v1"
[[steps.routes]]
service = "app"
headers = {{ x-regex = {{ regex = {v} }} }}
to = "v1"
[[steps.routes]]
service = "app"
to = "v1"
"#
    )
}

#[test]
fn adversarial_strings_come_back_unchanged_and_add_no_structure() {
    for value in ADVERSARIAL {
        let sandbox = Sandbox::new();
        let path = sandbox.write("inject.toml", scenario_with(value));
        let path = path.display().to_string();
        // Strings that are not valid regular expressions may be refused; the
        // rest must build.
        let run = sandbox.run(&["build", &path, "--stdout", "--step", "one"]);
        if run.code == 1 {
            assert!(
                run.stderr.contains("regex"),
                "{value:?} refused for another reason:\n{}",
                run.stderr
            );
            continue;
        }
        run.expect_code(0);
        let docs = documents(&run.stdout);
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Service",
                "Deployment",
                "Gateway",
                "VirtualService",
                "DestinationRule",
                "VirtualService"
            ],
            "{value:?} changed the documents"
        );
        let env = &docs[2]["spec"]["template"]["spec"]["containers"][0]["env"][0];
        assert_eq!(env["value"], *value, "env value");
        assert_eq!(
            docs[4]["spec"]["http"][0]["match"][0]["uri"]["exact"], *value,
            "gateway uri"
        );
        let rules = &docs[6]["spec"]["http"];
        assert_eq!(
            rules[0]["match"][0]["headers"]["x-value"]["exact"], *value,
            "header"
        );
        assert_eq!(rules[0]["match"][0]["uri"]["prefix"], *value, "uri");
        assert_eq!(
            rules[1]["match"][0]["headers"]["x-regex"]["regex"], *value,
            "regex"
        );

        sandbox.run(&["build", &path]).expect_code(0);
        let mesh = documents(&sandbox.read("out/inject/01-mesh.yaml"));
        assert_eq!(mesh.len(), 1);
        assert_eq!(
            mesh[0]["spec"]["meshConfig"]["accessLogFile"], *value,
            "access log"
        );
    }
}

/// Header names longer than YAML allows an implicit key (1024 characters,
/// with the quotes of a quoted name): what `check` accepts, `build` builds,
/// and every document reads back with the same names.
#[test]
fn header_names_longer_than_an_implicit_yaml_key_build_and_read_back() {
    let names = [
        "a".repeat(1025),
        format!("!{}", "b".repeat(1100)),
        "c".repeat(70_000),
    ];
    let sandbox = Sandbox::new();
    let text =
        scenario_with("v").replace("x-value", &format!("\"{}\"", names.join("\" = \"v\", \"")));
    let path = sandbox.write("inject.toml", text);
    let path = path.display().to_string();
    // Only warnings: `kubectl kustomize` cannot read such keys (tests/gitops.rs).
    let check = sandbox.run(&["check", &path]);
    check.expect_code(0);
    assert_eq!(
        check.stderr.matches("warning").count(),
        names.len(),
        "{}",
        check.stderr
    );
    assert!(!check.stderr.contains("error"), "{}", check.stderr);
    let run = sandbox.run(&["build", &path]);
    run.expect_code(0);
    assert!(!run.stderr.contains("bug"), "{}", run.stderr);
    for file in ["steps/01-one.yaml", "routing/01-one/virtual-services.yaml"] {
        let docs = documents(&sandbox.read(&format!("out/inject/{file}")));
        let app = docs
            .iter()
            .find(|d| d["kind"] == "VirtualService" && d["metadata"]["name"] == "app")
            .expect("the VirtualService of app");
        let headers = app["spec"]["http"][0]["match"][0]["headers"]
            .as_object()
            .expect("headers");
        let mut found: Vec<&str> = headers.keys().map(String::as_str).collect();
        let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
        found.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(found, wanted, "{file}");
        for name in &names {
            assert_eq!(headers[name.as_str()]["exact"], "v", "{file}");
        }
    }
}

#[test]
fn names_cannot_escape_the_output_folder() {
    for name in ["../escape", "a/b", "..", "/abs", "a\\b"] {
        let sandbox = Sandbox::new();
        let text = format!(
            "name = {}\n[mesh]\nversion = \"1.22\"\n[namespace]\nname = \"ns\"\n[[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n[[steps]]\nname = {}\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n",
            toml_string(name),
            toml_string(name)
        );
        let path = sandbox.write("s.toml", text);
        let run = sandbox.run(&["build", &path.display().to_string(), "--out", "out"]);
        run.expect_code(1);
        assert!(run.stderr.contains("DNS-1123"), "{}", run.stderr);
        assert!(!sandbox.path().join("out").exists());
        assert!(!sandbox.path().join("escape").exists());
    }
}

/// Escape sequences that set the window title, ring the bell and clear the
/// screen (C0 and C1 forms), a C1 line break and a right-to-left override.
const TERMINAL_HOSTILE: &str = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}2J\u{85}\u{202e}";

/// `TERMINAL_HOSTILE` as explain and the diagnostics show it.
const TERMINAL_HOSTILE_SHOWN: &str = "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{9b}2J\\u{85}\\u{202e}";

/// Whether `text` holds a character a terminal acts on, beyond line breaks.
fn acts_on_terminal(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

/// `front` calls `back`; the step sends requests whose `end-user` header is
/// `TERMINAL_HOSTILE` to back v2 (with a fault that the build check warns
/// about) and the rest to v1.
fn terminal_scenario() -> String {
    let value = toml_string(TERMINAL_HOSTILE);
    format!(
        r#"name = "term"
[mesh]
version = "1.22.0"
[namespace]
name = "term"
[[services]]
name = "front"
port = 80
calls = [ {{ service = "back" }} ]
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
description = {value}
[[steps.routes]]
service = "back"
headers = {{ end-user = {value} }}
to = "v2"
abort = 500
[[steps.routes]]
service = "back"
to = "v1"
"#
    )
}

#[test]
fn explain_and_its_warnings_show_control_characters_of_headers_and_values_escaped() {
    let sandbox = Sandbox::new();
    sandbox.write("term.toml", terminal_scenario());
    let header = format!("end-user={TERMINAL_HOSTILE}");
    let uri = format!("/{TERMINAL_HOSTILE}");
    let run = sandbox.run(&[
        "explain",
        "term.toml",
        "--step",
        "s",
        "--entry",
        "front",
        "--header",
        &header,
        "--uri",
        &uri,
    ]);
    run.expect_code(0);
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!acts_on_terminal(text), "{stream}: {text:?}");
    }
    assert!(
        run.stdout.contains(&format!(
            "rule 1/2 (end-user exact {TERMINAL_HOSTILE_SHOWN}) -> v2"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "end-user={TERMINAL_HOSTILE_SHOWN} will see an error"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn diagnostics_show_control_characters_of_the_file_and_its_name_escaped() {
    // C1 controls and overrides are allowed raw in a TOML string: they are
    // in the line the diagnostic quotes.
    let sandbox = Sandbox::new();
    let name = format!("s{TERMINAL_HOSTILE}.toml");
    sandbox.write(
        &name,
        terminal_scenario().replace("to = \"v1\"", "to = \"v1\u{9b}2J\u{85}\u{202e}\""),
    );
    let run = sandbox.run(&["check", &name]);
    run.expect_code(1);
    assert!(!acts_on_terminal(&run.stderr), "{:?}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "s{TERMINAL_HOSTILE_SHOWN}.toml:29:6: error: to: service `back` has no version \
             `v1\\u{{9b}}2J\\u{{85}}\\u{{202e}}` (it has v1, v2)"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("29 | to = \"v1\\u{9b}2J\\u{85}\\u{202e}\""),
        "{}",
        run.stderr
    );
}

#[test]
fn operational_errors_show_control_characters_escaped() {
    let sandbox = Sandbox::new();
    sandbox.write("term.toml", terminal_scenario());
    let run = sandbox.run(&["explain", "term.toml", "--step", TERMINAL_HOSTILE]);
    run.expect_code(2);
    assert!(!acts_on_terminal(&run.stderr), "{:?}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "meshgen: error: no step `{TERMINAL_HOSTILE_SHOWN}` in the scenario"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_diff_shows_control_characters_escaped_on_a_terminal_and_exact_in_a_pipe() {
    let sandbox = Sandbox::new();
    sandbox.write("term.toml", terminal_scenario());
    sandbox.run(&["build", "term.toml"]).expect_code(0);
    // A plan written by hand (or by anything) into the folder compared with.
    let plan = sandbox.path().join("out/term/PLAN.md");
    let mut text = std::fs::read_to_string(&plan).expect("PLAN.md");
    text.push_str(&format!("{TERMINAL_HOSTILE}\n"));
    std::fs::write(&plan, text).expect("write PLAN.md");
    let args = ["diff", "term.toml", "--against", "out/term"];
    let terminal = sandbox.run(&[&args[..], &["--color", "always"]].concat());
    terminal.expect_code(1);
    // Colours are the only escape sequences left.
    let shown = terminal.stdout.replace("\u{1b}[", "[");
    assert!(!acts_on_terminal(&shown), "{:?}", terminal.stdout);
    assert!(
        terminal
            .stdout
            .contains(&format!("-{TERMINAL_HOSTILE_SHOWN}")),
        "{}",
        terminal.stdout
    );
    let piped = sandbox.run(&args);
    piped.expect_code(1);
    assert!(
        piped.stdout.contains(&format!("\n-{TERMINAL_HOSTILE}\n")),
        "{:?}",
        piped.stdout
    );
}
