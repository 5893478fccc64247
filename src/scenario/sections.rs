//! Reading a large scenario file one section at a time: a section is a
//! table header with the key/values under it, or the key/values before the
//! first header. The TOML parser lists every token and event of what it
//! parses before it builds its tree (some 20 times the text's size); parsed
//! a section at a time, those lists never hold more than one section. Each
//! `[[services]]`, `[[steps]]` and `[[steps.routes]]` table is checked
//! against its part of the schema and turned into its raw type as soon as
//! the next header closes it, so the parsed tree of the whole file (another
//! dozen times its size) is never built either.
//!
//! Only for a file of the scenario's shape, laid out as scenario files are.
//! A syntax error, a schema violation, or a layout this reader does not
//! follow — a header that reopens a table an earlier header closed (a
//! `[services.x]` after another table), a table defined after one of its
//! sub-tables, a header over a key of the table above it — gives `None`,
//! and the caller reads the file whole (`scenario::read`), which finds and
//! words every problem. Whatever this reader accepts reads as the whole
//! reading reads it, spans included (a test holds it to that over every
//! scenario of the repository). Owns no rule of its own.

use std::collections::HashMap;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeString, DeTable, DeValue};
use toml_parser::lexer::{Lexer, TokenKind};

use super::portable;
use super::raw::{RawRule, RawScenario, RawService, RawStep};
use super::schema::{self, Part, Parts};
use crate::diagnostic::Diagnostic;

/// The smallest file read section by section. A smaller one is read whole:
/// its parse lists are small, and it needs no part of the schema compiled.
pub const FROM_BYTES: usize = 1 << 20;

/// The most keys in a header this reader follows (`[a.b.c]` has three);
/// deeper ones are left to the whole reading, so nothing here recurses
/// deeply.
const MAX_HEADER_KEYS: usize = 16;

/// The raw scenario of `text` and the warnings of its shape pass (strings
/// kustomize mishandles), as `scenario::read` finds them for a file of the
/// right shape; `None` for any other file (see the module's notes).
pub fn read(text: &str) -> Option<(RawScenario, Vec<Diagnostic>)> {
    let mut reader = Reader::new(schema::parts()?, portable::plainly_portable(text));
    let mut lexer = toml_parser::Source::new(text).lex();
    // Brackets and braces of values still open: a `[` starts a header only
    // outside them, first on its line.
    let mut depth = 0usize;
    let mut line_start = true;
    let mut from = 0;
    let mut header = None;
    while let Some(token) = lexer.next() {
        match token.kind() {
            TokenKind::Newline => {
                line_start = true;
                continue;
            }
            TokenKind::Whitespace | TokenKind::Comment => continue,
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                let start = token.span().start();
                reader.section(&text[from..start], from, header.take())?;
                from = start;
                header = Some(Header::scan(&mut lexer, token.span().end())?);
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.checked_sub(1)?;
            }
            TokenKind::Eof => break,
            _ => {}
        }
        line_start = false;
    }
    reader.section(&text[from..], from, header)?;
    reader.finish()
}

/// What the lexer tells of a table header: `[[…]]` or `[…]`, and how many
/// keys its path has.
#[derive(Debug, Clone, Copy)]
struct Header {
    array: bool,
    keys: usize,
}

impl Header {
    /// Reads the rest of a header whose first `[` ends at `end`; `None` for
    /// anything but `[key.key…]` or `[[key.key…]]` (the whole reading
    /// words what is wrong).
    fn scan(lexer: &mut Lexer<'_>, end: usize) -> Option<Header> {
        let mut token = lexer.next()?;
        let array = token.kind() == TokenKind::LeftSquareBracket && token.span().start() == end;
        if array {
            token = lexer.next()?;
        }
        let mut keys = 0;
        loop {
            while token.kind() == TokenKind::Whitespace {
                token = lexer.next()?;
            }
            match token.kind() {
                TokenKind::Atom | TokenKind::BasicString | TokenKind::LiteralString => keys += 1,
                _ => return None,
            }
            token = lexer.next()?;
            while token.kind() == TokenKind::Whitespace {
                token = lexer.next()?;
            }
            match token.kind() {
                TokenKind::Dot => token = lexer.next()?,
                TokenKind::RightSquareBracket => break,
                _ => return None,
            }
        }
        if array {
            let close = lexer.next()?;
            let adjacent = close.span().start() == token.span().end();
            if close.kind() != TokenKind::RightSquareBracket || !adjacent {
                return None;
            }
        }
        (keys <= MAX_HEADER_KEYS).then_some(Header { array, keys })
    }
}

/// A table made by headers, kept apart from its key/values until it is
/// closed, so that a later header can still add sub-tables to it.
#[derive(Debug)]
struct Node<'i> {
    /// The span the whole reading gives the table: its header's, or the key
    /// that made it, for a table only a deeper header names.
    span: Range<usize>,
    /// Its own key/values (none for a table only a deeper header names).
    body: DeTable<'i>,
    /// Tables and arrays of tables later headers put in it, in order.
    children: Vec<(Spanned<DeString<'i>>, Child<'i>)>,
    /// The position in `children` of each key.
    index: HashMap<DeString<'i>, usize>,
}

/// A table or an array of tables under a `Node`.
#[derive(Debug)]
enum Child<'i> {
    Table(Node<'i>),
    /// The array's span (its first header's) and its tables.
    Array(Range<usize>, Vec<Node<'i>>),
}

impl<'i> Node<'i> {
    fn new(span: Range<usize>, body: DeTable<'i>) -> Self {
        Self {
            span,
            body,
            children: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Whether `key` is taken, by a key/value or by a header.
    fn has(&self, key: &str) -> bool {
        self.body.contains_key(key) || self.index.contains_key(key)
    }

    /// Adds the table of a header whose path below this table is `path`,
    /// as the whole reading does; `None` where it would be an error or
    /// would move a table (see the module's notes).
    fn place(
        &mut self,
        path: &[Spanned<DeString<'i>>],
        array: bool,
        span: Range<usize>,
        body: DeTable<'i>,
    ) -> Option<()> {
        let (key, rest) = path.split_first()?;
        let name: &str = key.get_ref();
        if self.body.contains_key(name) {
            return None;
        }
        let found = self.index.get(name).copied();
        if rest.is_empty() {
            let node = Node::new(span.clone(), body);
            match (found, array) {
                (None, false) => {
                    self.push(key, Child::Table(node));
                }
                (None, true) => {
                    self.push(key, Child::Array(span, vec![node]));
                }
                (Some(at), true) => match &mut self.children[at].1 {
                    Child::Array(_, items) => items.push(node),
                    Child::Table(_) => return None,
                },
                (Some(_), false) => return None,
            }
            return Some(());
        }
        let at = match found {
            Some(at) => at,
            None => self.push(key, Child::Table(Node::new(key.span(), DeTable::new()))),
        };
        match &mut self.children[at].1 {
            Child::Table(node) => node.place(rest, array, span, body),
            Child::Array(_, items) => items.last_mut()?.place(rest, array, span, body),
        }
    }

    /// Appends a child; its position.
    fn push(&mut self, key: &Spanned<DeString<'i>>, child: Child<'i>) -> usize {
        self.index
            .insert(key.get_ref().clone(), self.children.len());
        self.children.push((key.clone(), child));
        self.children.len() - 1
    }

    /// The table as the whole reading builds it: its key/values, then what
    /// later headers added, in order.
    fn into_table(self) -> DeTable<'i> {
        let mut table = self.body;
        for (key, child) in self.children {
            let value = match child {
                Child::Table(node) => node.into_value(),
                Child::Array(span, items) => Spanned::new(
                    span,
                    DeValue::Array(items.into_iter().map(Node::into_value).collect()),
                ),
            };
            table.insert(key, value);
        }
        table
    }

    fn into_value(self) -> Spanned<DeValue<'i>> {
        let span = self.span.clone();
        Spanned::new(span, DeValue::Table(self.into_table()))
    }
}

/// The items of an array read one table at a time.
struct Streamed<T> {
    /// The array's span: its first header's.
    span: Option<Range<usize>>,
    items: Vec<Spanned<T>>,
}

impl<T> Default for Streamed<T> {
    fn default() -> Self {
        Self {
            span: None,
            items: Vec::new(),
        }
    }
}

impl<T> Streamed<T> {
    /// The array as the raw types hold it.
    fn into_raw(mut self) -> Option<Spanned<Vec<Spanned<T>>>> {
        self.items.shrink_to_fit();
        self.span.map(|span| Spanned::new(span, self.items))
    }

    /// As many empty tables as the array has items, for the schema's checks
    /// of the table holding it (its length), with the array's span.
    fn placeholders(&self) -> Option<Spanned<DeValue<'static>>> {
        let span = self.span.clone()?;
        let empty = Spanned::new(span.clone(), DeValue::Table(DeTable::new()));
        let items: DeArray<'_> = std::iter::repeat_n(empty, self.items.len()).collect();
        Some(Spanned::new(span, DeValue::Array(items)))
    }
}

/// The `[[services]]` or `[[steps]]` table the last header is in.
enum Open<'i> {
    None,
    Service(Node<'i>),
    Step(Box<OpenStep<'i>>),
}

/// A `[[steps]]` table the last header is in, with the routes read so far.
struct OpenStep<'i> {
    step: Node<'i>,
    routes: Streamed<RawRule>,
    /// The `[[steps.routes]]` table the last header is in.
    route: Option<Node<'i>>,
}

/// The state of a reading.
struct Reader<'i> {
    parts: &'static Parts,
    /// The top-level table, without `services` and `steps`.
    root: Node<'i>,
    services: Streamed<RawService>,
    steps: Streamed<RawStep>,
    open: Open<'i>,
    /// The warnings of `portable`; `None` for a text none can concern
    /// (`portable::plainly_portable`), whose tables are not walked.
    warnings: Option<Vec<Diagnostic>>,
}

impl<'i> Reader<'i> {
    fn new(parts: &'static Parts, plain: bool) -> Self {
        Self {
            parts,
            root: Node::new(0..0, DeTable::new()),
            services: Streamed::default(),
            steps: Streamed::default(),
            open: Open::None,
            warnings: (!plain).then(Vec::new),
        }
    }

    /// Reads one section, `text` at `offset` in the file, under `header`
    /// (`None` for the key/values before the first header).
    fn section(&mut self, text: &'i str, offset: usize, header: Option<Header>) -> Option<()> {
        let (table, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            return None;
        }
        let table = shift_table(table.into_inner(), offset);
        let Some(header) = header else {
            self.root.body = table;
            return Some(());
        };
        let (path, span, body) = leaf(table, header)?;
        self.place(&path, header.array, span, body)
    }

    /// Puts the table of a header where the whole reading puts it.
    fn place(
        &mut self,
        path: &[Spanned<DeString<'i>>],
        array: bool,
        span: Range<usize>,
        body: DeTable<'i>,
    ) -> Option<()> {
        let first: &str = path.first()?.get_ref();
        let streamed = matches!(first, "services" | "steps");
        if !streamed {
            self.close()?;
            return self.root.place(path, array, span, body);
        }
        if self.root.has(first) {
            return None;
        }
        if path.len() == 1 {
            if !array {
                return None;
            }
            self.close()?;
            let node = Node::new(span.clone(), body);
            self.open = if first == "services" {
                self.services.span.get_or_insert(span);
                Open::Service(node)
            } else {
                self.steps.span.get_or_insert(span);
                Open::Step(Box::new(OpenStep {
                    step: node,
                    routes: Streamed::default(),
                    route: None,
                }))
            };
            return Some(());
        }
        match (&mut self.open, first) {
            (Open::Service(service), "services") => service.place(&path[1..], array, span, body),
            (Open::Step(open), "steps") => {
                let OpenStep {
                    step,
                    routes,
                    route,
                } = &mut **open;
                let under_routes = &**path[1].get_ref() == "routes";
                if !under_routes {
                    if let Some(done) = route.take() {
                        routes
                            .items
                            .push(item(self.parts, &mut self.warnings, Part::Route, done)?);
                    }
                    return step.place(&path[1..], array, span, body);
                }
                if step.has("routes") {
                    return None;
                }
                if path.len() > 2 {
                    return route.as_mut()?.place(&path[2..], array, span, body);
                }
                if !array {
                    return None;
                }
                if let Some(done) = route.take() {
                    routes
                        .items
                        .push(item(self.parts, &mut self.warnings, Part::Route, done)?);
                }
                routes.span.get_or_insert(span.clone());
                *route = Some(Node::new(span, body));
                Some(())
            }
            // The table the header reopens is closed.
            _ => None,
        }
    }

    /// Closes the open `[[services]]` or `[[steps]]` table: checked and
    /// turned into its raw type.
    fn close(&mut self) -> Option<()> {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Service(service) => {
                // The top-level keys come first in a file: `workloads` is known.
                let existing = matches!(
                    self.root.body.get("workloads").map(Spanned::get_ref),
                    Some(DeValue::String(w)) if w == "existing"
                );
                let part = if existing {
                    Part::Service
                } else {
                    Part::EmittedService
                };
                let service = item(self.parts, &mut self.warnings, part, service)?;
                self.services.items.push(service);
            }
            Open::Step(open) => {
                let OpenStep {
                    step,
                    mut routes,
                    route,
                } = *open;
                if let Some(done) = route {
                    let done = item(self.parts, &mut self.warnings, Part::Route, done)?;
                    routes.items.push(done);
                }
                let span = step.span.clone();
                let mut table = step.into_table();
                let checked = with_placeholders(&mut table, "routes", routes.placeholders(), |t| {
                    self.parts.is_valid(Part::Step, t)
                });
                if !checked {
                    return None;
                }
                if let Some(warnings) = &mut self.warnings {
                    warnings.extend(portable::warnings(&table));
                }
                let mut step: RawStep = deserialize(span.clone(), table)?;
                if let Some(routes) = routes.into_raw() {
                    step.routes = Some(routes);
                }
                self.steps.items.push(Spanned::new(span, step));
            }
        }
        Some(())
    }

    /// The raw scenario, once every section is read.
    fn finish(mut self) -> Option<(RawScenario, Vec<Diagnostic>)> {
        self.close()?;
        let mut table = self.root.into_table();
        let services = self.services.placeholders();
        let steps = self.steps.placeholders();
        let parts = self.parts;
        let checked = with_placeholders(&mut table, "services", services, |t| {
            with_placeholders(t, "steps", steps, |t| parts.is_valid(Part::Root, t))
        });
        if !checked {
            return None;
        }
        if let Some(warnings) = &mut self.warnings {
            warnings.extend(portable::warnings(&table));
        }
        let mut raw: RawScenario = deserialize(0..0, table)?;
        // Arrays written as values (`services = [ … ]`) were read with the rest.
        if let Some(services) = self.services.into_raw() {
            raw.services = Some(services);
        }
        if let Some(steps) = self.steps.into_raw() {
            raw.steps = Some(steps);
        }
        Some((raw, self.warnings.unwrap_or_default()))
    }
}

/// Runs `check` on `table` with `placeholders` (when there are) under
/// `key`, then takes them out again.
fn with_placeholders<'i>(
    table: &mut DeTable<'i>,
    key: &'static str,
    placeholders: Option<Spanned<DeValue<'static>>>,
    check: impl FnOnce(&mut DeTable<'i>) -> bool,
) -> bool {
    let Some(placeholders) = placeholders else {
        return check(table);
    };
    let span = placeholders.span();
    table.insert(Spanned::new(span, DeString::Borrowed(key)), placeholders);
    let checked = check(table);
    table.remove(key);
    checked
}

/// A closed `[[services]]` or `[[steps.routes]]` table, checked against its
/// part of the schema, its warnings added to `warnings`, as its raw type.
fn item<T: DeserializeOwned>(
    parts: &Parts,
    warnings: &mut Option<Vec<Diagnostic>>,
    part: Part,
    node: Node<'_>,
) -> Option<Spanned<T>> {
    let span = node.span.clone();
    let table = node.into_table();
    if !parts.is_valid(part, &table) {
        return None;
    }
    if let Some(warnings) = warnings {
        warnings.extend(portable::warnings(&table));
    }
    deserialize(span.clone(), table).map(|raw| Spanned::new(span, raw))
}

/// A table of the right shape as its raw type.
fn deserialize<T: DeserializeOwned>(span: Range<usize>, table: DeTable<'_>) -> Option<T> {
    T::deserialize(toml::de::Deserializer::from(Spanned::new(span, table))).ok()
}

/// The path of a section's header (its keys as written, with their spans),
/// the header's span and the section's own key/values, from the parsed
/// section; `None` when it does not have the header's shape.
fn leaf<'i>(
    mut table: DeTable<'i>,
    header: Header,
) -> Option<(Vec<Spanned<DeString<'i>>>, Range<usize>, DeTable<'i>)> {
    let mut path = Vec::with_capacity(header.keys);
    let mut span = 0..0;
    for level in 0..header.keys {
        if table.len() != 1 {
            return None;
        }
        let (key, value) = table.into_iter().next()?;
        path.push(key);
        span = value.span();
        table = match value.into_inner() {
            DeValue::Table(t) if level + 1 < header.keys || !header.array => t,
            DeValue::Array(items) if level + 1 == header.keys && header.array => {
                let mut items = items.into_iter();
                match (items.next().map(Spanned::into_inner), items.next()) {
                    (Some(DeValue::Table(t)), None) => t,
                    _ => return None,
                }
            }
            _ => return None,
        };
    }
    Some((path, span, table))
}

/// A section's table with every span moved by `by`, from the section's start
/// to the file's.
fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    if by == 0 {
        return table;
    }
    let mut out = DeTable::with_capacity(table.len());
    for (key, value) in table {
        let span = key.span();
        out.insert(
            Spanned::new(span.start + by..span.end + by, key.into_inner()),
            shift_value(value, by),
        );
    }
    out
}

fn shift_value(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(shift_table(table, by)),
        DeValue::Array(items) => {
            DeValue::Array(items.into_iter().map(|v| shift_value(v, by)).collect())
        }
        other => other,
    };
    Spanned::new(span.start + by..span.end + by, inner)
}

/// Whether `text` is read section by section; when it is, the result must
/// be the whole reading's, spans and warnings included, and this panics
/// with the difference if not. For the tests, and the `sections` fuzz
/// target (`scenario::assert_sections_agree`).
#[cfg(any(test, fuzzing))]
pub fn assert_agrees(text: &str) -> bool {
    let Some((raw, mut warnings)) = read(text) else {
        return false;
    };
    let source = crate::source::Source::new("t.toml", text);
    let (whole, mut shape, pruned) = super::read_whole(&source);
    assert!(
        pruned.is_empty(),
        "a file read by sections has nothing to prune"
    );
    assert!(
        !shape.iter().any(Diagnostic::is_error),
        "read by sections with shape errors: {shape:?}"
    );
    assert_eq!(
        format!("{raw:#?}"),
        format!("{:#?}", whole.expect("the whole reading has a scenario"))
    );
    for list in [&mut warnings, &mut shape] {
        list.sort_by_key(|d| (d.span.start, d.span.end, d.message.clone()));
    }
    assert_eq!(warnings, shape);
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every scenario of the repository: those of the right shape read by
    /// sections as they read whole; the others are left to the whole reading.
    #[test]
    fn every_scenario_of_the_repository_reads_by_sections_as_it_reads_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut folders = vec![
            root.join("scenarios"),
            root.join("tests/valid"),
            root.join("tests/invalid"),
        ];
        for entry in std::fs::read_dir(root.join("tests/golden")).expect("goldens") {
            folders.push(entry.expect("entry").path());
        }
        let (mut read, mut valid) = (0, 0);
        for folder in folders {
            for entry in std::fs::read_dir(&folder).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_none_or(|e| e != "toml") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let shaped = !folder.ends_with("invalid");
                if assert_agrees(&text) {
                    read += 1;
                } else {
                    // Every shipped and valid scenario is laid out as this
                    // reader follows.
                    assert!(
                        !shaped || folder.ends_with("error-many-mistakes"),
                        "{}",
                        path.display()
                    );
                }
                valid += usize::from(shaped);
            }
        }
        assert!(read >= valid.max(20), "{read} read by sections of {valid}");
    }

    /// A valid scenario of one service and one step, with `extra` TOML at the end.
    fn scenario(extra: &str) -> String {
        format!(
            "name = \"x\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n\
             [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
             [[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n{extra}"
        )
    }

    #[test]
    fn layouts_read_by_sections_read_as_they_read_whole() {
        for text in [
            scenario(""),
            // Quoted keys, spaces and comments in headers; CRLF line ends.
            scenario("[[ \"services\" ]] # more\nname = \"b\"\nport = 81\n[ services . 'versions' . \"v1\" ]\nimage = \"j\"\n"),
            scenario("").replace('\n', "\r\n"),
            format!("\u{feff}{}", scenario("")),
            // Headers, or what looks like one, inside values.
            scenario(
                "[[steps]]\nname = \"t\"\ndescription = \"\"\"\n[[services]]\nname = \"z\"\n\"\"\"\n\
                 [[steps.routes]]\nservice = \"a\"\nheaders = { x = \"[y]\" }\nto = \"v1\"\n\
                 [steps.routes.uri]\nprefix = \"/\"\n",
            ),
            scenario("[gateway]\nhosts = [\n  \"a.example\",\n]\n[[gateway.routes]]\nservice = \"a\"\n"),
            // Services written inline, and tables in any order.
            "name = \"x\"\nservices = [ { name = \"a\", port = 80, versions = { v1 = { image = \"i\" } } } ]\n\
             [namespace]\nname = \"ns\"\n[mesh]\nversion = \"1.22.0\"\n"
                .to_owned(),
            // Sub-tables of steps other than routes, between routes.
            scenario("[[steps]]\nname = \"t\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n[[steps.launch]]\nservice = \"a\"\nversion = \"v1\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n"),
            // Strings kustomize mishandles: the same warnings.
            scenario("[[steps]]\nname = \"t\"\ndescription = \"\\u0085\"\n[[steps.routes]]\nservice = \"a\"\nheaders = { \"k\\u0085\" = \"\\u2028\" }\nto = \"v1\"\n"),
        ] {
            assert!(assert_agrees(&text), "not read by sections:\n{text}");
        }
    }

    /// The bench workload (bench/gen.py) past `FROM_BYTES`: read by sections,
    /// as it reads whole.
    #[test]
    fn the_bench_workload_reads_by_sections_as_it_reads_whole() {
        let n = 3_000;
        let mut text = String::from(
            "name = \"scale\"\n[mesh]\nversion = \"1.22.0\"\nprofile = \"demo\"\n\n\
             [namespace]\nname = \"scale\"\n\n",
        );
        for i in 0..n {
            text.push_str(&format!(
                "[[services]]\nname = \"svc-{i:04}\"\nport = 8080\nservice_account = \"sa-svc-{i:04}\"\n"
            ));
            for v in ["v1", "v2", "v3"] {
                text.push_str(&format!(
                    "  [services.versions.{v}]\n  image = \"example.com/app/svc-{i:04}-{v}:1.0\"\n"
                ));
            }
        }
        text.push_str("[gateway]\nname = \"g\"\nport = 8080\n[[gateway.routes]]\nservice = \"svc-0000\"\nuris = [ { prefix = \"/\" } ]\n");
        text.push_str(
            "[[steps]]\nname = \"all-v1\"\n[[steps.routes]]\nservice = \"*\"\nto = \"v1\"\n",
        );
        text.push_str("[[steps]]\nname = \"jason-v2\"\n");
        for i in 0..n {
            text.push_str(&format!(
                "[[steps.routes]]\nservice = \"svc-{i:04}\"\nheaders = {{ end-user = \"jason\" }}\n\
                 to = \"v2\"\n[[steps.routes]]\nservice = \"svc-{i:04}\"\nto = \"v1\"\n"
            ));
        }
        assert!(text.len() >= FROM_BYTES, "{} bytes", text.len());
        assert!(assert_agrees(&text));
    }

    #[test]
    fn layouts_it_does_not_follow_are_left_to_the_whole_reading() {
        for text in [
            // A header that reopens a service after another table (valid TOML).
            scenario("[gateway]\n[services.versions.v2]\nimage = \"j\"\n"),
            // A table defined after its sub-table (valid TOML).
            scenario("[mesh.components]\ningress_gateway = true\n[mesh]\nprofile = \"demo\"\n")
                .replace("[mesh]\nversion = \"1.22.0\"\n", ""),
            // Errors: routes written inline and as tables, a table twice, a syntax error.
            scenario(
                "[[steps]]\nname = \"t\"\nroutes = []\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n",
            ),
            scenario("[namespace]\nname = \"other\"\n"),
            scenario("[[steps]]\nname = \n"),
            // A schema violation, in a route and at the top.
            scenario("[[steps]]\nname = \"t\"\n[[steps.routes]]\nservice = 1\n"),
            scenario("unknown = 1\n"),
            // A header deeper than this reader follows.
            scenario(&format!("[gateway{}]\n", ".x".repeat(MAX_HEADER_KEYS))),
        ] {
            assert!(read(&text).is_none(), "read by sections:\n{text}");
        }
    }
}
