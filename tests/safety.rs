//! No scenario string can add structure to the output: adversarial values come
//! back from the emitted YAML as exactly the same strings.

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
