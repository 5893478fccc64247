//! The YAML formatter through which every value reaches a document: a
//! scalar is written plain when YAML reads it back as the same string, and
//! double-quoted, escaped, otherwise.

use std::borrow::Cow;

use minijinja::value::ValueKind;
use minijinja::{ErrorKind, Output, State, Value};

use crate::resource::plain_scalar_is_string;

/// Writes a value the way a YAML document needs it: strings as plain scalars
/// when that is unambiguous, double-quoted with escapes otherwise; numbers and
/// booleans as YAML reads them. No value can add structure to a document.
pub(super) fn format_yaml_value(
    out: &mut Output,
    _state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let text = match value.kind() {
        ValueKind::String => yaml_string(value.as_str().unwrap_or_default()),
        ValueKind::Bool => Cow::Borrowed(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match value.as_i64().filter(|_| value.is_integer()) {
            Some(int) => Cow::Owned(int.to_string()),
            None => {
                let float = f64::try_from(value.clone()).map_err(|_| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, "not a number")
                })?;
                Cow::Owned(yaml_float(float)?)
            }
        },
        kind => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot write a {kind} into YAML: loop over it in the template"),
            ));
        }
    };
    out.write_str(&text)
        .map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))
}

/// The longest implicit key (`key: value`) YAML allows: 1024 characters,
/// counted here in bytes of the written scalar (never fewer than its
/// characters), so that every reader, whichever it counts, takes the key.
pub const IMPLICIT_KEY_MAX: usize = 1024;

/// The template test `implicit_key`: whether `value`, written as the
/// formatter writes it, may be an implicit key (`key: value`). A longer key
/// must be written explicitly, `? key` on one line and `: value` on the
/// next, or YAML readers refuse the document. Only strings can be long.
pub(super) fn is_implicit_key(value: &Value) -> bool {
    value
        .as_str()
        .is_none_or(|text| yaml_string(text).len() <= IMPLICIT_KEY_MAX)
}

/// A finite float with a decimal point (YAML 1.1 reads `1e5` as a string).
pub(super) fn yaml_float(value: f64) -> Result<String, minijinja::Error> {
    if !value.is_finite() {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "cannot write a non-finite number into YAML",
        ));
    }
    let text = value.to_string();
    Ok(if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    })
}

/// A string as a YAML scalar: plain when that reads back as the same string
/// (`resource::plain_scalar_is_string`); otherwise double-quoted, with every
/// character that could end the scalar or that YAML forbids escaped.
pub fn yaml_string(text: &str) -> Cow<'_, str> {
    if plain_scalar_is_string(text) {
        return Cow::Borrowed(text);
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                quoted.push_str(&format!("\\x{:02X}", c as u32));
            }
            // Line and paragraph separators, the byte-order mark and the two
            // noncharacters YAML does not allow unescaped.
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                quoted.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Cow::Owned(quoted)
}
