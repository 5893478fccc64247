//! The fast lane of the parse-back: a reader for the small subset of YAML that
//! meshgen's formatter and shipped templates write — block mappings and block
//! sequences, one `key: value`, `key:` or `- item` per line, plain keys, plain
//! values of a few ASCII characters, single-line double-quoted values. It
//! answers only for documents entirely inside that subset, and `None` at the
//! first line outside it; the caller then reads the document with the full
//! YAML parser, which stays the authority on everything else, errors included.
//!
//! Debug builds (the tests, the fuzz targets) read every document this lane
//! accepts with the full parser too and compare (`Resource::parse`).

use std::borrow::Cow;

use super::{Found, OpenKeys, PLAIN_BYTES, Place, plain_scalar_is_string};

/// An open collection: the column its keys or `- ` entries start at.
enum Frame<'a> {
    Mapping {
        indent: usize,
        place: Place,
        /// Where this mapping's keys start in the key list.
        keys_from: usize,
        /// A key written `key:` whose value is the block on the next lines.
        pending: Option<&'a str>,
    },
    Sequence {
        indent: usize,
    },
}

impl Frame<'_> {
    fn indent(&self) -> usize {
        match self {
            Frame::Mapping { indent, .. } | Frame::Sequence { indent } => *indent,
        }
    }
}

/// What a line holds after its indentation (or a `- ` item after its dash).
enum Line<'a> {
    /// `key: value`, or `key:` (value `None`) with the value on the next lines.
    Entry(&'a str, Option<&'a str>),
    /// `- ` and the rest of the line, which starts two columns further in.
    Item(&'a str),
    /// A value alone: only ever the rest of an item.
    Scalar(&'a str),
}

/// The identity fields of `text` when every line of it is inside the subset
/// and it is one mapping without repeated keys; `None` otherwise (which says
/// nothing about whether the document is valid).
pub(super) fn read_identity(text: &str) -> Option<Found<'_>> {
    let body = text.strip_suffix('\n')?;
    let mut found = Found::default();
    let mut open: Vec<Frame<'_>> = Vec::new();
    let mut keys: OpenKeys<&str> = OpenKeys::new();
    // Whole-line comments before the document (the mesh install's note of
    // the Gateway API CRDs it needs) are read past.
    let mut lines = lines(body).peekable();
    while lines.next_if(|line| line.starts_with('#')).is_some() {}
    for line in lines {
        let column = line.bytes().take_while(|&b| b == b' ').count();
        let content = &line[column..];
        let line = split(content)?;
        // The value of a `key:` on the line before: a block further in, or a
        // sequence at the key's own column.
        let block_of = match open.last_mut() {
            Some(Frame::Mapping {
                indent,
                place,
                pending: pending @ Some(_),
                ..
            }) => {
                let key = pending.take().unwrap_or_default();
                Some((*indent, place.child(key)))
            }
            _ => None,
        };
        match (block_of, &line) {
            (None, Line::Entry(..)) if open.is_empty() && column == 0 => {
                open.push(Frame::Mapping {
                    indent: 0,
                    place: Place::Root,
                    keys_from: 0,
                    pending: None,
                });
            }
            (Some((indent, place)), Line::Entry(..)) if column > indent => {
                open.push(Frame::Mapping {
                    indent: column,
                    place,
                    keys_from: keys.len(),
                    pending: None,
                });
            }
            (Some((indent, _)), Line::Item(_)) if column >= indent => {
                open.push(Frame::Sequence { indent: column });
            }
            // The line after `key:` is neither: an empty (null) value or a
            // scalar on its own line.
            (Some(_), _) => return None,
            (None, _) => {
                // Back out to the collection this line continues: deeper
                // ones end, and so does a sequence when a key comes.
                while open.last().is_some_and(|frame| {
                    frame.indent() > column
                        || matches!((frame, &line), (Frame::Sequence { .. }, Line::Entry(..)))
                }) {
                    // A closed mapping's keys leave the list with it.
                    if let Some(Frame::Mapping { keys_from, .. }) = open.pop() {
                        keys.close(keys_from);
                    }
                }
                let continues = match (open.last(), &line) {
                    (Some(frame @ Frame::Mapping { .. }), Line::Entry(..))
                    | (Some(frame @ Frame::Sequence { .. }), Line::Item(_)) => {
                        frame.indent() == column
                    }
                    _ => false,
                };
                if !continues {
                    return None;
                }
            }
        }
        match line {
            Line::Entry(key, value) => entry(&mut open, &mut keys, &mut found, key, value)?,
            Line::Item(rest) => match split(rest)? {
                Line::Entry(key, value) => {
                    // `- key: value` opens a mapping at the key's column.
                    open.push(Frame::Mapping {
                        indent: column + 2,
                        place: Place::Elsewhere,
                        keys_from: keys.len(),
                        pending: None,
                    });
                    entry(&mut open, &mut keys, &mut found, key, value)?;
                }
                Line::Scalar(value) => {
                    scalar(value)?;
                }
                Line::Item(_) => return None,
            },
            Line::Scalar(_) => return None,
        }
    }
    // A `key:` on the last line has an empty (null) value (only the innermost
    // mapping can still be waiting for one).
    let pending = matches!(
        open.last(),
        Some(Frame::Mapping {
            pending: Some(_),
            ..
        })
    );
    (!pending).then_some(found)
}

/// The lines of `text`, split at each `\n` (searched byte by byte: the lines
/// are short, and a `char` search costs more to set up than to run).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.bytes().position(|b| b == b'\n') {
            Some(end) => {
                rest = Some(&text[end + 1..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// Reads what a line holds: an item when it starts with `- `, an entry when
/// a colon is followed by a space or ends it (the key before that colon must
/// be a plain string of the subset, else `None`), a scalar otherwise.
fn split(content: &str) -> Option<Line<'_>> {
    if let Some(rest) = content.strip_prefix("- ") {
        return Some(Line::Item(rest));
    }
    let bytes = content.as_bytes();
    let colon =
        (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| *b == b' '));
    let Some(colon) = colon else {
        return Some(Line::Scalar(content));
    };
    let key = &content[..colon];
    // YAML caps an implicit key at 1024 characters; these stay far below.
    if key.len() > 256 || key.as_bytes().contains(&b':') || !plain_scalar_is_string(key) {
        return None;
    }
    let value = match &content[colon + 1..] {
        "" => None,
        rest => Some(&rest[1..]),
    };
    Some(Line::Entry(key, value))
}

/// Records `key` (and its `value`, when on the same line) in the mapping on
/// top of `open`.
fn entry<'a>(
    open: &mut [Frame<'a>],
    keys: &mut OpenKeys<&'a str>,
    found: &mut Found<'a>,
    key: &'a str,
    value: Option<&'a str>,
) -> Option<()> {
    let Some(Frame::Mapping {
        place,
        keys_from,
        pending,
        ..
    }) = open.last_mut()
    else {
        return None;
    };
    keys.insert(*keys_from, key).ok()?;
    let Some(value) = value else {
        *pending = Some(key);
        return Some(());
    };
    let (value, quoted) = scalar(value)?;
    found.record(*place, key, value, quoted);
    Some(())
}

/// A value that is the rest of its line: a plain scalar of letters, digits
/// and `._/@:+=-` starting with a letter, digit or `/` (never the start of
/// structure, and no `: ` or ` #` inside), or a double-quoted scalar closed
/// on the same line with only the escapes meshgen writes. Returns the string
/// and whether it was quoted.
fn scalar(value: &str) -> Option<(Cow<'_, str>, bool)> {
    if let Some(quoted) = value.strip_prefix('"') {
        return double_quoted(quoted).map(|text| (text, true));
    }
    let bytes = value.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'/');
    let rest_ok = bytes.iter().all(|&b| PLAIN_BYTES[usize::from(b)]);
    (first_ok && rest_ok && !value.ends_with(':')).then_some((Cow::Borrowed(value), false))
}

/// The text of a double-quoted scalar whose opening quote came just before
/// `body`; the closing quote must end the line.
fn double_quoted(body: &str) -> Option<Cow<'_, str>> {
    let inner = body.strip_suffix('"')?;
    if !inner.as_bytes().contains(&b'\\') {
        return (!inner.as_bytes().contains(&b'"') && inner.chars().all(printable))
            .then_some(Cow::Borrowed(inner));
    }
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return None,
            '\\' => text.push(match chars.next()? {
                '"' => '"',
                '\\' => '\\',
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'x' => hex(&mut chars, 2)?,
                'u' => hex(&mut chars, 4)?,
                _ => return None,
            }),
            c if printable(c) => text.push(c),
            _ => return None,
        }
    }
    Some(Cow::Owned(text))
}

/// The character of the next `digits` hex digits.
fn hex(chars: &mut std::str::Chars<'_>, digits: usize) -> Option<char> {
    let mut code = 0;
    for _ in 0..digits {
        code = code * 16 + chars.next()?.to_digit(16)?;
    }
    char::from_u32(code)
}

/// A character YAML allows unescaped inside a double-quoted scalar, leaving
/// out the line and byte-order marks some readers treat specially.
fn printable(c: char) -> bool {
    !(c < ' '
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::bundle;
    use crate::render::Renderer;
    use crate::source::Source;

    /// The full parser's answer, for comparison.
    fn full(text: &str) -> Result<Found<'_>, String> {
        super::super::read_identity(text)
    }

    #[test]
    fn every_document_meshgen_writes_takes_the_fast_lane_and_reads_the_same() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["scenarios", "tests/valid"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
                files.push(entry.expect("entry").path());
            }
        }
        files.sort();
        let mut documents = 0;
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "toml"))
        {
            let text = std::fs::read_to_string(file).expect("scenario");
            let checked = crate::scenario::check(&Source::new(file, text));
            let scenario = checked.scenario.expect("a valid scenario");
            for waves in [false, true] {
                let renderer = Renderer::new(None)
                    .expect("templates")
                    .with_sync_waves(waves);
                let build = bundle::bundle(&renderer, &scenario).expect("renders");
                let teardown: Vec<_> = (build.teardown_documents(&renderer))
                    .flat_map(|chunk| chunk.expect("renders"))
                    .collect();
                for resource in build.documents().chain(&teardown) {
                    let text = resource.text();
                    assert_eq!(
                        read_identity(&text).ok_or(()),
                        full(&text).map_err(|_| ()),
                        "{}: {text}",
                        file.display()
                    );
                    documents += 1;
                }
            }
        }
        assert!(documents > 500, "only {documents} documents");
    }

    #[test]
    fn quoted_values_are_decoded_as_yaml_reads_them() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"a\\tb\\x41\\u00e9\\\\\\\"\"\n  \
                    namespace: \"on\"\n  annotations:\n    wave: \"1\"\n    plain: 2\n";
        let found = read_identity(text).expect("inside the subset");
        assert_eq!(found.name.as_deref(), Some("a\tbAé\\\""));
        assert_eq!(found.namespace.as_deref(), Some("on"));
        assert_eq!(
            found.annotations,
            [(Cow::Borrowed("wave"), Cow::Borrowed("1"))]
        );
        assert_eq!(Ok(found), full(text));
    }

    #[test]
    fn sequences_at_the_keys_column_or_further_in_and_compact_mappings_nest() {
        let text = "apiVersion: v1\nkind: ConfigMap\nspec:\n  hosts:\n  - a\n  http:\n  - match:\n    \
                    - headers:\n        end-user:\n          exact: jason\n    route:\n      - \
                    destination:\n          host: r\n        weight: 50\nmetadata:\n  name: a\n";
        let found = read_identity(text).expect("inside the subset");
        assert_eq!(found.name.as_deref(), Some("a"));
        assert_eq!(Ok(found), full(text));
    }

    #[test]
    fn anything_outside_the_subset_is_left_to_the_full_parser() {
        let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        for (body, why) in [
            (
                "data: x\n  more\n",
                "a plain scalar continued on the next line",
            ),
            ("data:\n  x\n", "a scalar on the line after its key"),
            ("data:\nnext: 1\n", "an empty (null) value"),
            ("data:\n", "an empty (null) value on the last line"),
            ("data:\n- a\n  b: 1\n", "a key at an item's column"),
            ("data: 1\n  more: 2\n", "a key too far in"),
            ("data:\n  - - a\n", "a sequence in a sequence"),
            ("data: [a]\n", "a flow sequence"),
            ("data: {a: 1}\n", "a flow mapping"),
            ("data: 'a'\n", "a single-quoted scalar"),
            ("data: \"a\n  b\"\n", "a quoted scalar over two lines"),
            ("data: \"a\" # c\n", "a comment"),
            ("data: a # c\n", "a comment after a plain scalar"),
            ("data: &x a\n", "an anchor"),
            ("data: !!str a\n", "a tag"),
            ("data: |\n  a\n", "a block scalar"),
            ("data: -1\n", "a value starting with an indicator"),
            ("data: a \n", "a trailing space"),
            ("data:  a\n", "two spaces before a value"),
            ("data:\ta\n", "a tab"),
            ("\"data\": a\n", "a quoted key"),
            ("on: a\n", "a key YAML 1.1 reads as a boolean"),
            ("a:b: c\n", "a colon inside a key"),
            ("data: \"\\/\"\n", "an escape meshgen does not write"),
            ("data: \"\u{85}\"\n", "a next-line character"),
            ("data: a\n\n", "an empty line"),
            ("data: a\n---\nb: 1\n", "a second document"),
            ("data: a", "no final newline"),
        ] {
            assert_eq!(read_identity(&format!("{head}{body}")), None, "{why}");
        }
        assert_eq!(read_identity("- a\n"), None, "a sequence at the root");
        assert_eq!(read_identity("  a: 1\n"), None, "an indented root");
        assert_eq!(read_identity(""), None, "nothing");
    }

    #[test]
    fn repeated_keys_are_left_to_the_full_parser_to_refuse() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
        assert_eq!(read_identity(text), None);
        let nested = "apiVersion: v1\nspec:\n- k: 1\n  k: 2\n";
        assert_eq!(read_identity(nested), None);
        let siblings = "apiVersion: v1\nspec:\n- k: 1\n- k: 2\n";
        assert!(read_identity(siblings).is_some(), "one key per mapping");
        let outer = "apiVersion: v1\nmetadata:\n  name: a\nname: b\n";
        assert!(
            read_identity(outer).is_some(),
            "a nested mapping's keys are its own"
        );
    }
}
