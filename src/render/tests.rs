//! Rendering's unit tests.

use std::path::Path;

use super::templates::{FUEL_FLOOR, FUEL_PER_BYTE, closest_template};
use super::yaml::{IMPLICIT_KEY_MAX, yaml_float};
use super::*;
use crate::scenario::valid_model;

/// A scenario of one service `a` (version v1) with `extra` TOML after its
/// version, and `steps` (TOML) at the end.
fn one_service(extra: &str, steps: &str) -> String {
    format!(
        "name = \"p\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n\
         [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
         {extra}[[steps]]\nname = \"s\"\n{steps}[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n"
    )
}

/// Scenarios whose bytes mostly go into one document, in the forms that
/// take the most template instructions per byte.
fn dense_scenarios(n: usize) -> Vec<(&'static str, String)> {
    let list =
        |each: &dyn Fn(usize) -> String, sep: &str| (0..n).map(each).collect::<Vec<_>>().join(sep);
    let route =
        |i: usize| format!("[[steps.routes]]\nservice=\"a\"\nuri={{prefix=\"/{i}\"}}\nto=\"v1\"\n");
    vec![
        (
            "header matches",
            one_service(
                "",
                &format!(
                    "[[steps.routes]]\nservice = \"a\"\nheaders = {{ {} }}\nto = \"v1\"\n",
                    list(&|i| format!("h{i} = \"v\""), ", ")
                ),
            ),
        ),
        ("rules", one_service("", &list(&route, ""))),
        (
            "labels",
            one_service(
                &format!(
                    "[namespace.labels]\n{}",
                    list(&|i| format!("l{i} = \"\"\n"), "")
                ),
                "",
            ),
        ),
        (
            "env",
            one_service(
                &format!(
                    "[services.versions.v1.env]\n{}",
                    list(&|i| format!("E{i} = \"\"\n"), "")
                ),
                "",
            ),
        ),
        (
            "gateway uris",
            one_service(
                &format!(
                    "[gateway]\n[[gateway.routes]]\nservice = \"a\"\nuris = [{}]\n",
                    list(&|i| format!("{{prefix=\"/{i}\"}}"), ",")
                ),
                "",
            ),
        ),
    ]
}

#[test]
fn the_shipped_templates_stay_far_below_the_fuel_budget_per_byte() {
    // The budget's part that grows with the scenario, a twentieth of it,
    // is enough for documents that hold most of the file.
    for (what, text) in dense_scenarios(2_000) {
        let scenario = valid_model(&text);
        let fuel = text.len() as u64 * FUEL_PER_BYTE / 20;
        let renderer = Renderer::new(None)
            .expect("templates")
            .with_fuel(Some(fuel));
        if let Err(e) = crate::bundle::bundle(&renderer, &scenario) {
            panic!("{what}: {} bytes, {fuel} fuel: {e}", text.len());
        }
    }
}

#[test]
fn the_shipped_templates_stay_far_below_the_fuel_budget_of_a_small_scenario() {
    // A thousandth of the floor renders every document of every shipped
    // and valid-corpus scenario (every feature), with sync waves.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in ["scenarios", "tests/valid"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let scenario = valid_model(&std::fs::read_to_string(&path).expect("scenario"));
            let renderer = Renderer::new(None)
                .expect("templates")
                .with_sync_waves(true)
                .with_fuel(Some(FUEL_FLOOR / 1000));
            if let Err(e) = crate::bundle::bundle(&renderer, &scenario) {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} scenarios");
}

#[test]
fn a_template_out_of_fuel_is_reported_with_its_budget() {
    let scenario = valid_model(&one_service("", ""));
    let renderer = Renderer::new(None).expect("templates").with_fuel(Some(5));
    match crate::bundle::bundle(&renderer, &scenario) {
        Err(Error::OutOfFuel {
            budget: 5,
            file: None,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fuel_budget_grows_with_the_scenario() {
    assert_eq!(fuel_budget(0), FUEL_FLOOR);
    assert_eq!(
        fuel_budget(1_000_000),
        FUEL_FLOOR + 1_000_000 * FUEL_PER_BYTE
    );
    assert_eq!(fuel_budget(usize::MAX), u64::MAX);
}

#[test]
fn a_shipped_template_that_renders_a_wrong_document_is_called_a_meshgen_bug() {
    // The shipped templates keep the bug message, with or without a
    // --templates folder that overrides other templates.
    let dir = tempfile::tempdir().expect("folder");
    std::fs::write(dir.path().join("service.yaml.j2"), "x: 1\n").expect("write");
    for folder in [None, Some(dir.path())] {
        let renderer = Renderer::new(folder).expect("templates");
        let context = NamespaceContext {
            name: "ns",
            labels: &Default::default(),
        };
        let wrong = ResourceId::cluster("v1", "Namespace", "other");
        let error = renderer
            .render("namespace.yaml.j2", &context, wrong)
            .expect_err("the identity differs");
        let message = error.to_string();
        assert!(
            message
                .starts_with("the shipped template namespace.yaml.j2 rendered an invalid document")
                && message.ends_with("this is a meshgen bug, please report it"),
            "{message}"
        );
    }
}

#[test]
fn a_misspelt_template_name_finds_the_name_it_misses() {
    let cases = [
        ("virtualservices.yaml.j2", Some("virtualservice.yaml.j2")),
        ("VirtualService.yaml.j2", Some("virtualservice.yaml.j2")),
        ("service.yml.j2", Some("service.yaml.j2")),
        ("service.yaml", Some("service.yaml.j2")),
        ("deployment.j2", Some("deployment.yaml.j2")),
        (
            "gateway-virtualservice.yml",
            Some("gateway-virtualservice.yaml.j2"),
        ),
        ("README.md", None),
        ("kustomization.yaml", None),
        ("", None),
    ];
    for (name, expected) in cases {
        assert_eq!(closest_template(name), expected, "{name:?}");
    }
}

/// Header names at and past YAML's limit on implicit keys, plain and
/// quoted: each document is valid and reads back with the same name.
#[test]
fn header_names_of_any_length_read_back_as_written() {
    // `!` cannot start a plain scalar: those names are written quoted,
    // two bytes longer.
    let names = [
        "a".repeat(IMPLICIT_KEY_MAX),
        "a".repeat(IMPLICIT_KEY_MAX + 1),
        format!("!{}", "a".repeat(IMPLICIT_KEY_MAX - 3)),
        format!("!{}", "a".repeat(IMPLICIT_KEY_MAX - 2)),
        "x".repeat(20_000),
    ];
    let routes: String = names
        .iter()
        .map(|name| {
            format!(
                "[[steps.routes]]\nservice = \"a\"\nheaders = {{ \"{name}\" = \"v\" }}\n\
                 to = \"v1\"\n"
            )
        })
        .collect();
    let scenario = valid_model(&one_service("", &routes));
    let renderer = Renderer::new(None).expect("templates");
    let rendered = render(&renderer, &scenario).expect("render");
    let text = rendered.routing.steps[0][0].text();
    let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let found: Vec<&str> = value["spec"]["http"]
        .as_array()
        .expect("http")
        .iter()
        .filter_map(|rule| rule["match"][0]["headers"].as_object())
        .flat_map(|headers| headers.keys().map(String::as_str))
        .collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(found, wanted);
    // Only the keys too long to be implicit are written explicitly.
    let explicit = text
        .lines()
        .filter(|l| l.trim_start().starts_with("? "))
        .count();
    assert_eq!(explicit, 3, "{text}");
}

#[test]
fn safe_strings_stay_plain() {
    for text in [
        "reviews",
        "docker.io/istio/examples-bookinfo-reviews-v1:1.15.0",
        "/dev/stdout",
        "networking.istio.io/v1alpha3",
        "istio.io/rev",
        "7s",
        "2.5s",
        "1m30s",
        "500ms",
    ] {
        assert_eq!(yaml_string(text), text);
    }
}

#[test]
fn ambiguous_or_structural_strings_are_quoted() {
    let cases = [
        ("yes", "\"yes\""),
        ("On", "\"On\""),
        ("0123", "\"0123\""),
        ("1.5.1", "\"1.5.1\""),
        ("1e5", "\"1e5\""),
        ("0x1F", "\"0x1F\""),
        ("12:30", "\"12:30\""),
        ("*", "\"*\""),
        ("", "\"\""),
        ("a: b", "\"a: b\""),
        ("x:", "\"x:\""),
        ("line\nnext", "\"line\\nnext\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("---", "\"---\""),
        ("{{ x }}", "\"{{ x }}\""),
        ("del\u{7f}", "\"del\\x7F\""),
        ("a\u{fffe}b\u{ffff}", "\"a\\uFFFEb\\uFFFF\""),
        ("née", "\"née\""),
    ];
    for (text, expected) in cases {
        assert_eq!(yaml_string(text), expected, "{text:?}");
    }
}

#[test]
fn characters_yaml_readers_treat_specially_are_escaped_in_double_quotes() {
    // C0 and C1 controls, DEL, NEL, the line and paragraph separators, the
    // byte-order mark and the noncharacters U+FFFE and U+FFFF: never raw,
    // never in a plain scalar.
    let special = (0..0x20)
        .chain(0x7f..=0x9f)
        .chain([0x2028, 0x2029, 0xfeff, 0xfffe, 0xffff])
        .filter_map(char::from_u32);
    for c in special {
        for text in [c.to_string(), format!("a{c}b"), format!("{c}a")] {
            let written = yaml_string(&text);
            assert!(
                written.starts_with('"') && written.ends_with('"') && !written.contains(c),
                "{text:?} written as {written:?}"
            );
            let read: String = serde_saphyr::from_str(&written).expect("a YAML string");
            assert_eq!(read, text);
        }
    }
}

#[test]
fn floats_always_carry_a_decimal_point() {
    assert_eq!(yaml_float(100.0).as_deref().ok(), Some("100.0"));
    assert_eq!(yaml_float(0.0001).as_deref().ok(), Some("0.0001"));
    assert_eq!(yaml_float(33.5).as_deref().ok(), Some("33.5"));
    assert!(yaml_float(f64::NAN).is_err());
}
