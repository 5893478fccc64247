//! The scenario file: load (TOML syntax and shape into raw, spanned types) and
//! validate (raw types into the model, or every diagnostic). Owns the only
//! path from scenario text to `model::Scenario`; writes nothing.

mod calls;
mod headers;
mod names;
mod places;
mod portable;
mod prune;
mod raw;
mod releases;
mod schema;
mod sections;
mod validate;

use std::collections::HashSet;

use serde::Deserialize;

use crate::diagnostic::{self, Diagnostic};
use crate::model::Scenario;
use crate::source::Source;
use prune::Pruned;

pub use raw::RawScenario;

/// The outcome of checking one scenario file.
#[derive(Debug)]
pub struct Checked {
    /// The model, when the file has no error.
    pub scenario: Option<Scenario>,
    /// Every error and warning, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// Where each step is in the file.
    steps: Vec<places::StepPlace>,
}

impl Checked {
    /// Only the diagnostics that concern step `step` (`meshgen explain
    /// --step`): every error (the scenario is invalid anyway), the warnings
    /// about no step in particular (the mesh, services, the gateway), and
    /// the warnings inside that step; not the warnings of other steps.
    pub fn for_step(mut self, step: &str) -> Self {
        let steps = &self.steps;
        self.diagnostics.retain(|d| {
            d.is_error()
                || steps
                    .iter()
                    .filter(|place| place.holds(d.span.start))
                    .all(|place| place.name.as_deref() == Some(step))
        });
        self
    }
}

/// Parses and validates a scenario file.
pub fn check(source: &Source) -> Checked {
    let (raw, shape, pruned) = read(source);
    let steps = raw.as_ref().map(places::steps).unwrap_or_default();
    let (scenario, mut diagnostics) = match raw {
        Some(raw) => {
            // The passes that read the raw steps come first: validation takes
            // them over and lets each step's rules go once its model is built.
            let cycles = calls::cycles(&raw);
            let (lifetimes, releases) = releases::check(&raw, source, &pruned);
            let step_names = calls::step_names(&raw);
            let (scenario, mut diagnostics) = validate::validate(raw, source, &pruned);
            diagnostics.extend(cycles);
            diagnostics.extend(releases);
            let scenario = scenario.map(|mut s| {
                lifetimes.apply(&mut s);
                s
            });
            // What is left of a unit that lost a value may read differently.
            diagnostics.retain(|d| !pruned.hides(d.span.start));
            let mut diagnostics = merge(shape, diagnostics);
            // A pruned value always comes with its shape error; the model of a
            // file with a part missing is never used either way.
            let scenario = scenario
                .filter(|_| pruned.is_empty() && !diagnostics.iter().any(Diagnostic::is_error));
            // The build check: steps that make a declared call fail.
            if let Some(valid) = &scenario {
                diagnostics.extend(calls::failing_calls(&step_names, valid));
            }
            (scenario, diagnostics)
        }
        None => (None, shape),
    };
    diagnostic::sort(&mut diagnostics);
    Checked {
        scenario,
        diagnostics,
        steps,
    }
}

/// Parses the TOML text into raw types: every syntax error or, when the syntax
/// is fine, every violation of the scenario's JSON Schema (unknown and missing
/// keys, wrong types, values out of range). `Ok` only for a file of the right
/// shape (warnings aside).
pub fn load(source: &Source) -> Result<RawScenario, Vec<Diagnostic>> {
    match read(source) {
        (Some(raw), shape, _) if !shape.iter().any(Diagnostic::is_error) => Ok(raw),
        (_, shape, _) => Err(shape),
    }
}

/// The syntax and schema passes: the raw scenario whenever the syntax is
/// fine, the violations found (with the warnings about strings Go's YAML
/// tools mishandle, `portable`), and what was pruned. A value out of range or a
/// missing key does not stop deserializing; a value of a wrong type or an
/// unknown key is pruned first (`prune`), so the semantic pass still runs on
/// the rest and every problem is reported in one run. A large file of the
/// right shape is read a section at a time (`sections`), to the same result.
fn read(source: &Source) -> (Option<RawScenario>, Vec<Diagnostic>, Pruned) {
    if source.text().len() >= sections::FROM_BYTES
        && let Some((raw, shape)) = sections::read(source.text())
    {
        return (Some(raw), shape, Pruned::default());
    }
    read_whole(source)
}

/// `read` of the whole file at once: the TOML parser's tree of the whole
/// file, checked against the whole schema, pruned, then deserialized.
fn read_whole(source: &Source) -> (Option<RawScenario>, Vec<Diagnostic>, Pruned) {
    let (mut table, errors) = toml::de::DeTable::parse_recoverable(source.text());
    if !errors.is_empty() {
        // The parser may report one fault twice as it recovers.
        let mut syntax: Vec<Diagnostic> =
            errors.iter().map(|e| toml_diagnostic(e, source)).collect();
        headers::explain(source, &mut syntax);
        diagnostic::sort(&mut syntax);
        syntax.dedup();
        return (None, syntax, Pruned::default());
    }
    let violations = schema::check(&table, source);
    let pruned = prune::prune(&mut table, &violations.prune);
    let mut shape = violations.diagnostics;
    if !portable::plainly_portable(source.text()) {
        shape.extend(portable::warnings(table.get_ref()));
    }
    match RawScenario::deserialize(toml::de::Deserializer::from(table)) {
        Ok(raw) => (Some(raw), shape, pruned),
        // Never in practice: the schema names what the raw types cannot
        // hold. It has said so, better, if it said anything.
        Err(_) if !shape.is_empty() => (None, shape, pruned),
        Err(e) => (None, vec![toml_diagnostic(&e, source)], pruned),
    }
}

/// The schema's violations and the semantic pass's diagnostics, without the
/// semantic errors that repeat a violation (the same spot: a range, an
/// enumeration, a missing key checked by both).
fn merge(shape: Vec<Diagnostic>, semantic: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let taken: HashSet<usize> = shape
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.span.start)
        .collect();
    let mut all = shape;
    all.extend(
        semantic
            .into_iter()
            .filter(|d| !(d.is_error() && taken.contains(&d.span.start))),
    );
    all
}

/// A TOML parser or deserializer error as a diagnostic.
fn toml_diagnostic(error: &toml::de::Error, source: &Source) -> Diagnostic {
    let span = error.span().unwrap_or_else(|| source.start());
    let message = error.message().trim_end().replace('\n', " ");
    Diagnostic::error(span, message)
}

/// Whether `text` is read a section at a time, which then must read it as
/// the whole reading does (it panics with the difference otherwise): the
/// property the `sections` fuzz target checks on any text.
#[cfg(fuzzing)]
pub use sections::assert_agrees as assert_sections_agree;

/// The model of a scenario text that must be valid; panics with its errors.
/// For the tests of the modules that read the model.
#[cfg(test)]
pub fn valid_model(text: &str) -> Scenario {
    let checked = check(&Source::new("t.toml", text));
    let errors: Vec<&str> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    checked
        .scenario
        .unwrap_or_else(|| panic!("invalid test scenario: {errors:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the shape errors, a file whose syntax is fine deserializes
    /// once pruned: the semantic pass always runs on it.
    #[test]
    fn every_invalid_corpus_file_with_good_syntax_reaches_the_semantic_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("tests/invalid") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !toml::de::DeTable::parse_recoverable(&text).1.is_empty() {
                continue;
            }
            let source = Source::new(path.clone(), text);
            let (raw, shape, _) = read(&source);
            assert!(raw.is_some(), "{}: {shape:?}", path.display());
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} files checked");
    }

    #[test]
    fn for_step_keeps_errors_the_warnings_of_no_step_and_those_of_that_step() {
        let text = "name = \"x\"\n[mesh]\nversion = \"1.99.0\"\n[namespace]\nname = \"ns\"\n\
                    [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
                    [[steps]]\nname = \"one\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n\
                    mirror = \"v1\"\n\
                    [[steps]]\nname = \"two\"\nroutes = [ { service = \"a\", to = \"v1\", \
                    mirror = \"v1\" } ]\n";
        let lines = |checked: Checked| -> Vec<(usize, &'static str)> {
            let source = Source::new("s.toml", text);
            checked
                .diagnostics
                .iter()
                .map(|d| {
                    let kind = if d.is_error() { "error" } else { "warning" };
                    (source.line_col(d.span.start).0, kind)
                })
                .collect()
        };
        let all = check(&Source::new("s.toml", text));
        assert_eq!(
            lines(all),
            [(3, "warning"), (16, "warning"), (19, "warning")]
        );
        let one = check(&Source::new("s.toml", text)).for_step("one");
        assert_eq!(lines(one), [(3, "warning"), (16, "warning")]);
        let two = check(&Source::new("s.toml", text)).for_step("two");
        assert_eq!(lines(two), [(3, "warning"), (19, "warning")]);
        let broken = text.replace("to = \"v1\"\nmirror", "to = \"v9\"\nmirror");
        let errors = check(&Source::new("s.toml", broken.as_str())).for_step("two");
        assert!(errors.diagnostics.iter().any(|d| d.is_error()));
    }

    /// A pruned value leaves no model behind, even with no other error.
    #[test]
    fn a_file_with_a_pruned_value_has_no_model() {
        let text = "name = \"x\"\n[mesh]\nversion = \"1.22\"\n[namespace]\nname = \"ns\"\n\
                    [[services]]\nname = \"a\"\nport = 80\nextra = 1\n\
                    [services.versions.v1]\nimage = \"i\"\n";
        let checked = check(&Source::new("s.toml", text));
        assert!(checked.scenario.is_none());
        let messages: Vec<&str> = checked
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(messages, ["unknown key `extra` in [[services]]"]);
        let clean = text.replace("extra = 1\n", "");
        assert!(check(&Source::new("s.toml", clean)).scenario.is_some());
    }

    #[test]
    fn services_a_step_routes_alike_share_one_list_of_rules() {
        let mut text = String::from(
            "name = \"x\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n",
        );
        for service in ["a", "b", "c"] {
            text += &format!(
                "[[services]]\nname = \"{service}\"\nport = 80\n\
                 [services.versions.v1]\nimage = \"i\"\n[services.versions.v2]\nimage = \"i\"\n"
            );
        }
        text += "[[steps]]\nname = \"all\"\nroutes = [ { service = \"*\", to = \"v1\" } ]\n";
        text += "[[steps]]\nname = \"jason\"\n";
        for (service, abort) in [("a", ""), ("b", ""), ("c", "\nabort = 500")] {
            text += &format!(
                "[[steps.routes]]\nservice = \"{service}\"\nheaders = {{ end-user = \"jason\" }}\n\
                 to = \"v2\"{abort}\n[[steps.routes]]\nservice = \"{service}\"\nto = \"v1\"\n"
            );
        }
        text += "[[steps]]\nname = \"again\"\nroutes = [ { service = \"*\", to = \"v1\" } ]\n";
        let checked = check(&Source::new("s.toml", text));
        let errors: Vec<&str> = (checked.diagnostics.iter())
            .filter(|d| d.is_error())
            .map(|d| d.message.as_str())
            .collect();
        let scenario = checked.scenario.unwrap_or_else(|| panic!("{errors:?}"));
        let rules = |step: usize, service: usize| &scenario.steps[step].routes[service].rules;
        let shared = |(s1, r1), (s2, r2)| std::sync::Arc::ptr_eq(rules(s1, r1), rules(s2, r2));
        // `*` routes every service alike; so does a later step that routes the same way.
        assert!(shared((0, 0), (0, 1)) && shared((0, 1), (0, 2)));
        assert!(shared((0, 0), (2, 2)));
        // Rules written for each service, alike but for one abort.
        assert!(shared((1, 0), (1, 1)));
        assert!(!shared((1, 1), (1, 2)));
        assert_eq!(rules(1, 2)[0].abort.as_ref().map(|a| a.status), Some(500));
        assert_eq!(rules(1, 0)[0].abort, None);
    }

    #[test]
    fn versions_with_the_same_labels_share_one_list() {
        let mut text = String::from(
            "name = \"x\"\nworkloads = \"existing\"\n[mesh]\nversion = \"1.22.0\"\n\
             [namespace]\nname = \"ns\"\n",
        );
        for service in ["a", "b"] {
            text += &format!(
                "[[services]]\nname = \"{service}\"\nport = 80\n[services.versions.v1]\n\
                 [services.versions.v2]\n[services.versions.canary]\n\
                 labels = {{ track = \"canary\" }}\n"
            );
        }
        let checked = check(&Source::new("s.toml", text));
        let scenario = (checked.scenario).unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let labels =
            |service: usize, version: usize| &scenario.services[service].versions[version].labels;
        let shared = |(s1, v1), (s2, v2)| std::sync::Arc::ptr_eq(labels(s1, v1), labels(s2, v2));
        // `version: v1` of every service, and labels a scenario sets alike.
        assert!(shared((0, 0), (1, 0)) && shared((0, 2), (1, 2)));
        assert!(!shared((0, 0), (0, 1)));
        assert_eq!(**labels(1, 1), [("version".into(), "v2".into())]);
        assert_eq!(**labels(1, 2), [("track".into(), "canary".into())]);
    }
}
