//! Portability of values to Go's YAML tools: a warning at every string of
//! the scenario (key or value) holding a character that `kubectl kustomize`
//! — and so `kubectl apply -k`, Argo CD and Flux, which use the same Go YAML
//! libraries — does not carry through. meshgen's own YAML is right (each
//! such character is escaped in a double-quoted scalar, and `kubectl apply
//! -f` reads it back as written); kustomize decodes the value, writes it
//! again raw, and reads that back wrong or not at all, whatever the escape.
//! So no escape can fix it: the user is told, at the value. Likewise at a
//! header name too long for kustomize to read back as a key (`long_key`).
//! Owns no other rule.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;

/// What kustomize does to a value holding a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    /// It stops with "control characters are not allowed".
    Refused,
    /// The character comes back as a space.
    Space,
    /// It is written back as a raw line separator, which a YAML 1.2 reader
    /// of kustomize's output reads with the next line's indentation added.
    LineBreak,
}

/// What kustomize (kyaml and go-yaml, as `kubectl` 1.32 / kustomize 5.5
/// ship them) does to `c`, when it does not carry it through. Measured
/// over every code point of the Basic Multilingual Plane and the
/// noncharacters of the other planes; tests/gitops.rs runs kustomize on
/// each of these and on a sample of the others.
fn fate(c: char) -> Option<Fate> {
    match c {
        '\u{85}' => Some(Fate::Space),
        '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => Some(Fate::Refused),
        '\u{2028}' | '\u{2029}' => Some(Fate::LineBreak),
        _ => None,
    }
}

/// A warning at each string of `table` (keys and values, at any depth)
/// that kustomize does not carry through, except under `description` keys
/// (descriptions go to PLAN.md and index.json, never into YAML). A table
/// parsed from a text that is `plainly_portable` has none.
pub fn warnings(table: &DeTable<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    entries(table, &mut pending, &mut out);
    while let Some(value) = pending.pop() {
        match value.get_ref() {
            DeValue::String(text) => check(text, value.span(), &mut out),
            DeValue::Array(items) => pending.extend(items.iter()),
            DeValue::Table(table) => entries(table, &mut pending, &mut out),
            _ => {}
        }
    }
    out
}

/// Whether no string of the TOML `text` can hold a character `fate` names:
/// the text is ASCII without DEL, and has no escape that makes another
/// character (`\u`, `\U`, and TOML 1.1's `\x`). Most files are: they need
/// no walk of their table.
pub fn plainly_portable(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.is_ascii()
        && !bytes.contains(&0x7f)
        && !(text.match_indices('\\'))
            .any(|(at, _)| matches!(bytes.get(at + 1), Some(b'u' | b'U' | b'x')))
}

/// Checks the keys of `table` and adds its values, but descriptions, to `pending`.
fn entries<'t, 'i>(
    table: &'t DeTable<'i>,
    pending: &mut Vec<&'t Spanned<DeValue<'i>>>,
    out: &mut Vec<Diagnostic>,
) {
    for (key, value) in table {
        check(key.get_ref(), key.span(), out);
        if key.get_ref() != "description" {
            pending.push(value);
        }
    }
}

/// Pushes a warning about `text` at `span` when kustomize mishandles it.
fn check(text: &str, span: Range<usize>, out: &mut Vec<Diagnostic>) {
    // Every character concerned is outside ASCII but DEL.
    if text.is_ascii() && !text.contains('\u{7f}') {
        return;
    }
    let found: BTreeSet<(Fate, char)> = text
        .chars()
        .filter_map(|c| fate(c).map(|f| (f, c)))
        .collect();
    if found.is_empty() {
        return;
    }
    let named = |fate: Fate| {
        let chars: Vec<String> = found
            .iter()
            .filter(|(f, _)| *f == fate)
            .map(|(_, c)| format!("U+{:04X}", u32::from(*c)))
            .collect();
        (!chars.is_empty()).then(|| chars.join(", "))
    };
    let mut effects = Vec::new();
    if let Some(chars) = named(Fate::Refused) {
        effects.push(format!("fails on {chars}"));
    }
    if let Some(chars) = named(Fate::Space) {
        effects.push(format!("turns {chars} into a space"));
    }
    if let Some(chars) = named(Fate::LineBreak) {
        effects.push(format!(
            "writes {chars} back as a raw line break, which YAML 1.2 readers read with spaces added"
        ));
    }
    out.push(
        Diagnostic::warning(
            span,
            format!(
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) {} in this string",
                effects.join(", and ")
            ),
        )
        .with_help(
            "meshgen writes it escaped and `kubectl apply -f` (or `meshgen build --stdout`) \
             reads it as written; the kustomizations of the output folder do not: remove the \
             character, or apply the bundle files",
        ),
    );
}

/// The longest key `kubectl kustomize` reads back, as Go's JSON encoder
/// writes it, quotes included: kustomize turns each resource into JSON and
/// reads that again as YAML, where an implicit key is at most 1024
/// characters. (meshgen's own YAML writes a longer key explicitly, as
/// `? key`, which `kubectl apply -f` reads.)
const KUSTOMIZE_KEY_MAX: usize = 1024;

/// A warning at `key` when kustomize cannot read it back as a key. For
/// header names: the only keys of the scenario that reach the YAML as keys
/// with no shorter limit of their own (label keys are at most 317
/// characters).
pub fn long_key(key: &str, span: Range<usize>) -> Option<Diagnostic> {
    let written = 2 + key.chars().map(go_json_len).sum::<usize>();
    (written > KUSTOMIZE_KEY_MAX).then(|| {
        Diagnostic::warning(
            span,
            format!(
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) cannot read \
                 this header name back: it is {written} characters long in JSON, over YAML's \
                 {KUSTOMIZE_KEY_MAX} for a key"
            ),
        )
        .with_help(
            "meshgen writes it as an explicit YAML key (`? name`) and `kubectl apply -f` (or \
             `meshgen build --stdout`) reads it as written; the kustomizations of the output \
             folder do not: shorten the name, or apply the bundle files",
        )
    })
}

/// The characters `c` takes in a string of Go's `encoding/json` (which
/// escapes `<`, `>` and `&` for HTML).
fn go_json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
        c if u32::from(c) < 0x20 => 6,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(toml: &str) -> Vec<(String, String)> {
        let (table, errors) = DeTable::parse_recoverable(toml);
        assert!(errors.is_empty(), "{errors:?}");
        warnings(table.get_ref())
            .into_iter()
            .map(|d| (toml[d.span.clone()].to_owned(), d.message))
            .collect()
    }

    #[test]
    fn each_character_kustomize_mishandles_is_named_at_its_string() {
        let found = messages(
            "a = \"x\\u0085y\"\nb = [\"ok\", { c = \"\\u007F\\u2028\\uFFFF\" }]\n\
             [t.\"k\\u0085\"]\nd = \"\\u009f\\u0080\"\ndescription = \"\\u0085\"\n\
             [[u]]\ndescription = \"\\u007f\"\ne = \"\\u2029\"\n",
        );
        let expected = [
            (
                "\"x\\u0085y\"",
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) turns U+0085 \
                 into a space in this string",
            ),
            (
                "\"\\u007F\\u2028\\uFFFF\"",
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) fails on \
                 U+007F, U+FFFF, and writes U+2028 back as a raw line break, which YAML 1.2 \
                 readers read with spaces added in this string",
            ),
            (
                "\"k\\u0085\"",
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) turns U+0085 \
                 into a space in this string",
            ),
            (
                "\"\\u009f\\u0080\"",
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) fails on \
                 U+0080, U+009F in this string",
            ),
            (
                "\"\\u2029\"",
                "`kubectl kustomize` (and so `kubectl apply -k`, Argo CD and Flux) writes U+2029 \
                 back as a raw line break, which YAML 1.2 readers read with spaces added in this \
                 string",
            ),
        ];
        let mut found = found;
        found.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    /// kustomize reads back a key of at most 1024 characters as JSON
    /// (measured with `kubectl kustomize` 1.32: a header name of 1022
    /// letters passes, 1023 fail, and each `&` counts six).
    #[test]
    fn a_key_kustomize_cannot_read_back_is_warned_about_at_its_length_in_json() {
        let warned = |key: &str| long_key(key, 0..1).map(|d| d.message);
        assert_eq!(warned(&"b".repeat(1022)), None);
        assert!(
            warned(&"b".repeat(1023)).is_some_and(|m| m.contains("1025 characters long in JSON"))
        );
        assert_eq!(warned(&format!("&&&{}", "b".repeat(1000))), None);
        assert!(warned(&format!("&&&&{}", "b".repeat(1000))).is_some());
    }

    /// A file with none of them written raw, nor any escape that could make
    /// one, is not walked; one with either is.
    #[test]
    fn raw_characters_and_escapes_are_found_without_a_walk_only_when_absent() {
        assert!(plainly_portable("a = \"plain ascii \\t\\\\ \"\n"));
        for text in [
            "a = \"\u{85}\"",
            "a = \"\u{7f}\"",
            "a = \"\\u0085\"",
            "a = \"\\U00000085\"",
            "a = \"\\x7f\"",
        ] {
            assert!(!plainly_portable(text), "{text:?}");
        }
        let raw = messages("a = \"raw\u{85}\"\nb = 'lit\u{2028}'\n");
        assert_eq!(raw.len(), 2, "{raw:?}");
    }

    #[test]
    fn characters_kustomize_carries_are_not_warned_about() {
        let found = messages(
            "a = \"tab\\tcr\\rlf\\nesc\\u001B\\u0001 nbsp\\u00A0 bom\\uFEFF \\uFDD0 \\uE000 \
             \\U0001FFFE \\U0010FFFF \\U0001F600 \\u200B \\u202E \\uFFFD née 日本\"\n",
        );
        assert_eq!(found, []);
    }
}
