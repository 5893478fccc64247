//! The scenario file: load (TOML syntax and shape into raw, spanned types) and
//! validate (raw types into the model, or every diagnostic). Owns the only
//! path from scenario text to `model::Scenario`; writes nothing.

mod calls;
mod names;
mod raw;
mod schema;
mod validate;

use serde::Deserialize;

use crate::diagnostic::{self, Diagnostic};
use crate::model::Scenario;
use crate::source::Source;

pub use names::parse_duration;
pub use raw::RawScenario;

/// The outcome of checking one scenario file.
#[derive(Debug)]
pub struct Checked {
    /// The model, when the file has no error.
    pub scenario: Option<Scenario>,
    /// Every error and warning, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and validates a scenario file.
pub fn check(source: &Source) -> Checked {
    let (raw, shape) = read(source);
    let (scenario, mut diagnostics) = match raw {
        Some(raw) => {
            let (scenario, mut diagnostics) = validate::validate(&raw, source);
            diagnostics.extend(calls::cycles(&raw));
            let mut diagnostics = merge(shape, diagnostics);
            let scenario = scenario.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
            // The build check: steps that make a declared call fail.
            if let Some(valid) = &scenario {
                diagnostics.extend(calls::failing_calls(&raw, valid));
            }
            (scenario, diagnostics)
        }
        None => (None, shape),
    };
    diagnostic::sort(&mut diagnostics);
    Checked {
        scenario,
        diagnostics,
    }
}

/// Parses the TOML text into raw types: every syntax error or, when the syntax
/// is fine, every violation of the scenario's JSON Schema (unknown and missing
/// keys, wrong types, values out of range). `Ok` only for a file of the right shape.
pub fn load(source: &Source) -> Result<RawScenario, Vec<Diagnostic>> {
    match read(source) {
        (Some(raw), shape) if shape.is_empty() => Ok(raw),
        (_, shape) => Err(shape),
    }
}

/// The syntax and schema passes: the raw scenario whenever the file
/// deserializes (a value out of range or a missing key does not stop that, so
/// the semantic pass still runs and every problem is reported in one run),
/// and the violations found.
fn read(source: &Source) -> (Option<RawScenario>, Vec<Diagnostic>) {
    let (table, errors) = toml::de::DeTable::parse_recoverable(source.text());
    if !errors.is_empty() {
        // The parser may report one fault twice as it recovers.
        let mut syntax: Vec<Diagnostic> =
            errors.iter().map(|e| toml_diagnostic(e, source)).collect();
        diagnostic::sort(&mut syntax);
        syntax.dedup();
        return (None, syntax);
    }
    let violations = schema::check(&table, source);
    match RawScenario::deserialize(toml::de::Deserializer::from(table)) {
        Ok(raw) => (Some(raw), violations),
        // A wrong type or an unknown key: the schema has said so, better.
        Err(_) if !violations.is_empty() => (None, violations),
        Err(e) => (None, vec![toml_diagnostic(&e, source)]),
    }
}

/// The schema's violations and the semantic pass's diagnostics, without the
/// semantic errors that repeat a violation (the same spot: a range, an
/// enumeration, a missing key checked by both).
fn merge(shape: Vec<Diagnostic>, semantic: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let taken: Vec<usize> = shape
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
