//! Diagnostics: the user's mistakes in a scenario, each with a severity, a span
//! in the scenario file and a message, and the one renderer every message goes
//! through. Owns no validation rules and never prints.

use std::borrow::Cow;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

use crate::printable;
use crate::source::Source;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The scenario is invalid; nothing is written.
    Error,
    /// The scenario compiles, but probably does not do what its author wants.
    Warning,
}

/// One problem found in a scenario, pointing at a span of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Byte range in the scenario file of the key or value to blame.
    pub span: Range<usize>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            span,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint on how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this diagnostic makes the scenario invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE:COLUMN: error: MESSAGE`, the first line of the rendering.
    pub fn headline(&self, source: &Source) -> String {
        let (line, column) = source.line_col(self.span.start);
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Control characters a scenario value (a multi-line string, an
        // escape sequence) or the file's name brings are escaped: the
        // headline stays one line and sends the terminal nothing.
        printable::escape(&format!(
            "{}:{line}:{column}: {severity}: {}",
            source.path().display(),
            self.message
        ))
        .into_owned()
    }

    /// The diagnostic as one JSON object, for `--format json`: file, line and
    /// column (1-based, columns in characters) of the span's start and end,
    /// severity, message and help (null when there is none).
    pub fn to_json(&self, source: &Source) -> serde_json::Value {
        let (line, column) = source.line_col(self.span.start);
        let (end_line, end_column) = source.line_col(self.span.end);
        serde_json::json!({
            "file": source.path().display().to_string(),
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "severity": self.severity,
            "message": self.message,
            "help": self.help,
        })
    }

    /// The headline, then an excerpt of the file with a caret under the span,
    /// then the help line. Coloured only when `color` is true.
    pub fn render(&self, source: &Source, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let text = source.text();
        let span = clamp_to_char_boundaries(text, &self.span);
        // Only the lines the span touches: the excerpt costs the same in a
        // 5 MB file as in a small one.
        let (lines, first_line) = source.lines_of(&span);
        let (excerpt, in_excerpt) = excerpt(text, lines, &span);
        let (excerpt, in_excerpt) = visible(excerpt, in_excerpt);
        let mut group = Group::with_level(level.clone()).element(
            Snippet::source(excerpt)
                .line_start(first_line)
                .fold(true)
                .annotation(AnnotationKind::Primary.span(in_excerpt)),
        );
        let help = self.help.as_deref().map(printable::escape);
        if let Some(help) = &help {
            group = group.element(Level::HELP.message(help.as_ref()));
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let headline = self.headline(source);
        let headline = if color {
            let style = match self.severity {
                Severity::Error => annotate_snippets::renderer::DEFAULT_ERROR_STYLE,
                Severity::Warning => annotate_snippets::renderer::DEFAULT_WARNING_STYLE,
            };
            format!("{style}{headline}{style:#}")
        } else {
            headline
        };
        format!("{headline}\n{}\n", renderer.render(&[group]))
    }
}

/// Bytes of a long line kept on each side of the span in an excerpt: the
/// renderer shows about a terminal's width of it anyway, and measuring a
/// whole line of a generated file for every one of its errors would cost
/// errors × line length.
const EXCERPT_CONTEXT: usize = 200;

/// The excerpt of `text` shown for `span` (within the whole `lines`), and
/// the span within it: a line much longer than the span is cut to
/// `EXCERPT_CONTEXT` bytes on each side, marked with `...` where it is cut.
fn excerpt<'t>(
    text: &'t str,
    lines: Range<usize>,
    span: &Range<usize>,
) -> (Cow<'t, str>, Range<usize>) {
    let end = span.end.min(lines.end);
    let mut from = span.start.saturating_sub(EXCERPT_CONTEXT).max(lines.start);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut to = end.saturating_add(EXCERPT_CONTEXT).min(lines.end);
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let one_line = !text[span.start..end].contains('\n');
    if !one_line || (from == lines.start && to == lines.end) {
        return (
            Cow::Borrowed(&text[lines.clone()]),
            span.start - lines.start..end - lines.start,
        );
    }
    let before = if from > lines.start { "..." } else { "" };
    let after = if to < lines.end { "..." } else { "" };
    (
        Cow::Owned(format!("{before}{}{after}", &text[from..to])),
        span.start - from + before.len()..end - from + before.len(),
    )
}

/// The excerpt with its control characters escaped (`printable`), and the
/// span moved to where its text is now. Line breaks stay, and so do tabs
/// and carriage returns, which the renderer shows as blanks and `␍`.
fn visible(excerpt: Cow<'_, str>, span: Range<usize>) -> (Cow<'_, str>, Range<usize>) {
    const KEEP: &[char] = &['\n', '\t', '\r'];
    let parts = [
        &excerpt[..span.start],
        &excerpt[span.clone()],
        &excerpt[span.end..],
    ]
    .map(|part| printable::escape_keeping(part, KEEP));
    if parts.iter().all(|p| matches!(p, Cow::Borrowed(_))) {
        return (excerpt, span);
    }
    let start = parts[0].len();
    let end = start + parts[1].len();
    (Cow::Owned(parts.concat()), start..end)
}

/// Shrinks a span so both ends fall on character boundaries of `text`.
fn clamp_to_char_boundaries(text: &str, span: &Range<usize>) -> Range<usize> {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Sorts diagnostics by position, errors before warnings at the same place.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.severity, &a.message).cmp(&(b.span.start, b.severity, &b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_is_file_line_column_severity_message() {
        let source = Source::new("s.toml", "name = \"x\"\nport = 0\n");
        let d = Diagnostic::error(18..19, "port must be 1..65535");
        assert_eq!(
            d.headline(&source),
            "s.toml:2:8: error: port must be 1..65535"
        );
    }

    #[test]
    fn headline_stays_one_line_whatever_the_message_holds() {
        let source = Source::new("s.toml", "name = \"x\"\n");
        let d = Diagnostic::error(7..10, "name `a\nb\tc` is bad");
        assert_eq!(
            d.headline(&source),
            "s.toml:1:8: error: name `a\\nb\\tc` is bad"
        );
    }

    #[test]
    fn json_carries_position_severity_message_and_help() {
        let source = Source::new("s.toml", "name = \"x\"\nport = 0\n");
        let d = Diagnostic::warning(18..19, "odd port").with_help("use 80");
        assert_eq!(
            d.to_json(&source),
            serde_json::json!({"file": "s.toml", "line": 2, "column": 8, "end_line": 2,
                "end_column": 9, "severity": "warning", "message": "odd port", "help": "use 80"})
        );
    }

    #[test]
    fn rendering_shows_the_line_and_a_caret() {
        let source = Source::new("s.toml", "name = \"x\"\nport = 0\n");
        let d = Diagnostic::warning(18..19, "odd port").with_help("use 80");
        let text = d.render(&source, false);
        assert!(
            text.starts_with("s.toml:2:8: warning: odd port\n"),
            "{text}"
        );
        assert!(text.contains("port = 0"), "{text}");
        assert!(text.contains('^'), "{text}");
        assert!(text.contains("help: use 80"), "{text}");
    }

    /// Whether `text` holds a character a terminal acts on, beyond line breaks.
    fn acts_on_terminal(text: &str) -> bool {
        text.chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    }

    #[test]
    fn rendering_escapes_control_characters_of_the_path_message_help_and_excerpt() {
        // C1 controls (CSI, NEL) are allowed raw in TOML strings; the
        // renderer of the excerpt shows C0 controls but passes these.
        let text = "name = \"x\"\nto = \"v1\u{9b}2J\u{85}\u{202e}\"\n";
        let source = Source::new("s\u{1b}]0;title\u{7}.toml", text);
        let at = text.find("\"v1").expect("the value");
        let d = Diagnostic::error(at..text.len() - 1, "no version `v1\u{9b}2J\u{1b}[2J`")
            .with_help("route to `v1\u{7}` instead");
        let rendered = d.render(&source, false);
        assert!(!acts_on_terminal(&rendered), "{rendered:?}");
        assert!(
            rendered.starts_with(
                "s\\u{1b}]0;title\\u{7}.toml:2:6: error: no version `v1\\u{9b}2J\\u{1b}[2J`\n"
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains("help: route to `v1\\u{7}` instead"),
            "{rendered}"
        );
        let excerpt = rendered
            .lines()
            .find(|l| l.contains("to = "))
            .expect("the excerpt line");
        assert!(
            excerpt.ends_with("to = \"v1\\u{9b}2J\\u{85}\\u{202e}\""),
            "{excerpt}"
        );
        // The caret still underlines the whole value.
        let caret = rendered
            .lines()
            .find(|l| l.contains('^'))
            .expect("a caret line");
        assert_eq!(caret.find('^'), excerpt.find("\"v1"), "{rendered}");
        assert_eq!(
            caret.matches('^').count(),
            "\"v1\\u{9b}2J\\u{85}\\u{202e}\"".len(),
            "{rendered}"
        );
        assert!(!acts_on_terminal(
            &d.render(&source, true).replace('\u{1b}', "")
        ));
    }

    #[test]
    fn a_long_line_is_cut_around_the_span_in_the_excerpt() {
        let long = format!(
            "hosts = [{}\"BAD\", {}]\n",
            "\"a\", ".repeat(5000),
            "\"b\", ".repeat(5000)
        );
        let at = long.find("\"BAD\"").expect("culprit");
        let source = Source::new("s.toml", long.clone());
        let d = Diagnostic::error(at..at + 5, "bad host");
        let text = d.render(&source, false);
        assert!(
            text.starts_with(&format!("s.toml:1:{}: error: bad host\n", at + 1)),
            "{text}"
        );
        let line = text
            .lines()
            .find(|l| l.contains("\"BAD\""))
            .expect("the excerpt line");
        assert!(line.len() < 600, "{line}");
        assert!(line.contains("...") && line.ends_with("..."), "{line}");
        let caret = text
            .lines()
            .find(|l| l.contains("^^^^^"))
            .expect("a caret line");
        assert_eq!(caret.find('^'), line.find("\"BAD\""), "{text}");
        let (excerpt, span) = excerpt(source.text(), 0..long.len() - 1, &(at..at + 5));
        assert_eq!(&excerpt[span], "\"BAD\"");
    }
}
