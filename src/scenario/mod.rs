//! The scenario file: load (TOML syntax and shape into raw, spanned types) and
//! validate (raw types into the model, or every diagnostic). Owns the only
//! path from scenario text to `model::Scenario`; writes nothing.

mod names;
mod raw;
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
    let (scenario, mut diagnostics) = match load(source) {
        Ok(raw) => validate::validate(&raw, source),
        Err(diagnostics) => (None, diagnostics),
    };
    diagnostic::sort(&mut diagnostics);
    Checked {
        scenario,
        diagnostics,
    }
}

/// Parses the TOML text into raw types: every syntax error, or the first error
/// of shape (an unknown key, a value of the wrong type).
pub fn load(source: &Source) -> Result<RawScenario, Vec<Diagnostic>> {
    let (table, errors) = toml::de::DeTable::parse_recoverable(source.text());
    if !errors.is_empty() {
        return Err(errors.iter().map(|e| toml_diagnostic(e, source)).collect());
    }
    RawScenario::deserialize(toml::de::Deserializer::from(table))
        .map_err(|e| vec![toml_diagnostic(&e, source)])
}

/// A TOML parser or deserializer error as a diagnostic.
fn toml_diagnostic(error: &toml::de::Error, source: &Source) -> Diagnostic {
    let span = error.span().unwrap_or_else(|| source.start());
    let message = error.message().trim_end().replace('\n', " ");
    Diagnostic::error(span, message)
}
