//! Table headers in the wrong order. A header such as `[[steps.routes]]`
//! written before any `[[steps]]` makes `steps` a plain table, so the TOML
//! parser reports each later `[[steps]]` as a bare "duplicate key". This
//! module reads the file's table headers (with toml_parser's event parser,
//! the one the toml crate uses) and turns that cascade into one error at the
//! header that came too early, saying how to fix it. It runs only on a file
//! with syntax errors and owns no other syntax rule.

use std::collections::HashMap;
use std::ops::Range;

use toml_parser::decoder::Encoding;
use toml_parser::parser::EventReceiver;
use toml_parser::{ErrorSink, Raw, Span};

use crate::diagnostic::Diagnostic;
use crate::source::Source;

/// One `[a.b]` or `[[a.b]]` header.
#[derive(Debug)]
struct Header {
    /// `[[…]]`: an element of an array of tables.
    array: bool,
    /// The dotted key, decoded.
    path: Vec<String>,
    /// From the first `[` to the last `]`.
    span: Range<usize>,
}

impl Header {
    /// The header as written in the messages: `[[steps.routes]]`.
    fn display(&self, len: usize) -> String {
        let key = self.path[..len].join(".");
        if self.array && len == self.path.len() {
            format!("[[{key}]]")
        } else {
            format!("[{key}]")
        }
    }
}

/// Collects the table headers of a document from the parser's events.
#[derive(Default)]
struct Headers<'i> {
    text: &'i str,
    headers: Vec<Header>,
    /// The header being read, between its opening and closing brackets.
    open: Option<Header>,
}

impl Headers<'_> {
    fn open(&mut self, span: Span, array: bool) {
        self.open = Some(Header {
            array,
            path: Vec::new(),
            span: span.start()..span.end(),
        });
    }

    fn close(&mut self, span: Span) {
        if let Some(mut header) = self.open.take() {
            header.span.end = span.end();
            self.headers.push(header);
        }
    }
}

impl EventReceiver for Headers<'_> {
    fn std_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.open(span, false);
    }

    fn std_table_close(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.close(span);
    }

    fn array_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.open(span, true);
    }

    fn array_table_close(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.close(span);
    }

    fn simple_key(&mut self, span: Span, encoding: Option<Encoding>, _error: &mut dyn ErrorSink) {
        let Some(header) = &mut self.open else {
            return;
        };
        let Some(raw) = self.text.get(span.start()..span.end()) else {
            return;
        };
        let mut key = String::new();
        Raw::new_unchecked(raw, encoding, span).decode_key(&mut key, &mut ());
        header.path.push(key);
    }
}

/// How a table path came to exist, as far as headers tell.
#[derive(Debug, Clone, Copy)]
enum Made {
    /// Implicitly, as a parent in the header with this index.
    Implicitly(usize),
    /// By a `[path]` header, or implicitly and then by one.
    Table,
    /// By a `[[path]]` header.
    Array,
}

/// A header that came too early: the index of the header that made `path`
/// a table, the path's length, and the `[[path]]` headers it then broke.
struct Misorder {
    early: usize,
    len: usize,
    broken: Vec<usize>,
}

/// Replaces the "duplicate key" errors that a header written before its
/// parent array causes with one error at that header. `errors` are the
/// parser's diagnostics of `source`; the others are kept as they are.
pub fn explain(source: &Source, errors: &mut Vec<Diagnostic>) {
    if !errors.iter().any(|e| e.message == "duplicate key") {
        return;
    }
    let headers = read(source.text());
    let misorders = misorders(&headers);
    if misorders.is_empty() {
        return;
    }
    // Every duplicate key inside a `[[path]]` header this explains is its follow-on.
    let mut broken: Vec<&Range<usize>> = misorders
        .iter()
        .flat_map(|m| m.broken.iter().map(|&i| &headers[i].span))
        .collect();
    broken.sort_by_key(|span| span.start);
    errors.retain(|e| {
        let at = broken.partition_point(|span| span.start <= e.span.start);
        let inside = at > 0 && e.span.start < broken[at - 1].end;
        !(inside && e.message == "duplicate key")
    });
    for misorder in misorders {
        let early = &headers[misorder.early];
        let first = &headers[misorder.broken[0]];
        let parent = first.display(misorder.len);
        let written = early.display(early.path.len());
        let line = source.line_col(first.span.start).0;
        let more = match misorder.broken.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more after it)"),
        };
        let message = format!(
            "`{written}` comes before any `{parent}`, which makes `{}` a table: the \
             `{parent}` on line {line}{more} cannot then start an array of tables (duplicate key)",
            first.path.join("."),
        );
        let help = format!(
            "move `{written}` below a `{parent}` header: it belongs to the `{parent}` above it"
        );
        errors.push(Diagnostic::error(early.span.clone(), message).with_help(help));
    }
}

/// The table headers of a TOML text, in order.
fn read(text: &str) -> Vec<Header> {
    let source = toml_parser::Source::new(text);
    let tokens = source.lex().into_vec();
    let mut headers = Headers {
        text,
        ..Headers::default()
    };
    toml_parser::parser::parse_document(&tokens, &mut headers, &mut ());
    headers.headers
}

/// Each header that made a path a table before a `[[path]]` header wanted it
/// to be an array of tables, with the headers it broke, in file order.
fn misorders(headers: &[Header]) -> Vec<Misorder> {
    // The paths as a tree (node 0 is the document): each header walks its
    // path once, and a new element of an array of tables drops the previous
    // element's children, so the work is linear in the headers' length.
    let mut nodes: Vec<Node> = vec![Node::default()];
    let mut found: Vec<Misorder> = Vec::new();
    let mut by_early: HashMap<(usize, usize), usize> = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        let Some((last, parents)) = header.path.split_last() else {
            continue;
        };
        let mut at = 0;
        for key in parents {
            at = child(&mut nodes, at, key, Made::Implicitly(index));
        }
        let made = if header.array {
            Made::Array
        } else {
            Made::Table
        };
        let node = child(&mut nodes, at, last, made);
        match (nodes[node].made, header.array) {
            (Made::Implicitly(early), true) => {
                let key = (early, header.path.len());
                match by_early.get(&key) {
                    Some(&i) => found[i].broken.push(index),
                    None => {
                        by_early.insert(key, found.len());
                        found.push(Misorder {
                            early,
                            len: header.path.len(),
                            broken: vec![index],
                        });
                    }
                }
            }
            (_, true) => nodes[node].children.clear(),
            (Made::Implicitly(_), false) => nodes[node].made = Made::Table,
            (Made::Table | Made::Array, false) => {}
        }
    }
    found
}

/// A table path, as far as the headers read so far tell.
#[derive(Debug)]
struct Node {
    made: Made,
    children: HashMap<String, usize>,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            made: Made::Table,
            children: HashMap::new(),
        }
    }
}

/// The child `key` of node `at`, made `made` when it is new.
fn child(nodes: &mut Vec<Node>, at: usize, key: &str, made: Made) -> usize {
    if let Some(&node) = nodes[at].children.get(key) {
        return node;
    }
    let node = nodes.len();
    nodes.push(Node {
        made,
        children: HashMap::new(),
    });
    nodes[at].children.insert(key.to_owned(), node);
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headlines of `check` on `text`: `LINE:COL: MESSAGE`.
    fn check(text: &str) -> Vec<String> {
        let source = Source::new("s.toml", text);
        let checked = crate::scenario::check(&source);
        checked
            .diagnostics
            .iter()
            .map(|d| {
                let (line, col) = source.line_col(d.span.start);
                format!("{line}:{col}: {}", d.message)
            })
            .collect()
    }

    #[test]
    fn routes_before_the_first_step_are_one_error_at_the_routes_header() {
        let text = "name = \"s\"\n\
                    [[steps.routes]]\nservice = \"a\"\n\
                    [[steps]]\nname = \"one\"\n\
                    [[steps.routes]]\nservice = \"a\"\n\
                    [[steps]]\nname = \"two\"\n";
        assert_eq!(
            check(text),
            [
                "2:1: `[[steps.routes]]` comes before any `[[steps]]`, which makes `steps` a table: \
              the `[[steps]]` on line 4 (and 1 more after it) cannot then start an array of \
              tables (duplicate key)"
            ]
        );
    }

    #[test]
    fn a_version_table_before_its_service_is_one_error_at_that_table() {
        let text = "[services.versions.v1]\nimage = \"i\"\n\
                    [[services]]\nname = \"web\"\n";
        assert_eq!(
            check(text),
            [
                "1:1: `[services.versions.v1]` comes before any `[[services]]`, which makes \
              `services` a table: the `[[services]]` on line 3 cannot then start an array of \
              tables (duplicate key)"
            ]
        );
    }

    #[test]
    fn quoted_and_spaced_keys_are_read_as_keys() {
        let headers = read("[[ \"steps\" . 'routes' ]]\n[[steps]]\n");
        let paths: Vec<&[String]> = headers.iter().map(|h| h.path.as_slice()).collect();
        assert_eq!(paths, [&["steps", "routes"][..], &["steps"][..]]);
        assert_eq!(misorders(&headers).len(), 1);
    }

    #[test]
    fn headers_in_a_legal_order_are_no_misorder() {
        for text in [
            // An implicit table declared afterwards is legal TOML.
            "[[gateway.routes]]\n[gateway]\n",
            // Each element of an array of tables has its own children.
            "[[steps]]\n[steps.x.y]\n[[steps]]\n[[steps.x]]\n",
            "[[steps]]\n[[steps.routes]]\n[[steps]]\n[[steps.routes]]\n",
        ] {
            assert!(misorders(&read(text)).is_empty(), "{text}");
        }
    }

    #[test]
    fn other_duplicate_keys_are_left_alone() {
        let text = "name = \"a\"\nname = \"b\"\n";
        let messages = check(text);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("2:1: duplicate key"),
            "{messages:?}"
        );
    }
}
