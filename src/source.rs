//! A loaded scenario file: its path, its text, and the one mapping from byte
//! offsets to line and column. Owns no parsing and no rendering.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// U+FEFF, which some editors write at the start of a UTF-8 file.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// A scenario file as read from disk (or given in memory, for tests).
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    text: String,
    line_starts: Vec<usize>,
    /// Where the content starts: the first line that is not blank or a comment.
    content_start: usize,
}

impl Source {
    /// Wraps a file's path and text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        // Only the leading blank and comment lines are read.
        let content_start = (line_starts.iter())
            .map(|&start| {
                let line = text[start..].split('\n').next().unwrap_or("");
                let rest = if start == 0 {
                    line.trim_start_matches(BYTE_ORDER_MARK)
                } else {
                    line
                };
                let rest = rest.trim_start();
                (start + line.len() - rest.len(), rest)
            })
            .find(|(_, rest)| !rest.is_empty() && !rest.starts_with('#'))
            .map_or(0, |(at, _)| at);
        Self {
            path: path.into(),
            text,
            line_starts,
            content_start,
        }
    }

    /// The path the file was read from, as given by the user.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset. A
    /// byte-order mark at the start of the file is not a column.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let mut start = self.line_starts[line];
        if line == 0 && self.text.starts_with(BYTE_ORDER_MARK) {
            start = offset.min(BYTE_ORDER_MARK.len_utf8());
        }
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// The whole lines that `span` touches: their byte range in the text and
    /// the 1-based number of the first, so an excerpt need not carry the file.
    pub fn lines_of(&self, span: &Range<usize>) -> (Range<usize>, usize) {
        let first = self.line_index(span.start);
        let last = self.line_index(span.end.max(span.start));
        let end = self
            .line_starts
            .get(last + 1)
            .map_or(self.text.len(), |&next| next - 1);
        (self.line_starts[first]..end, first + 1)
    }

    /// The 0-based line that holds byte `offset` (the last line past the end).
    fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// Where problems of the whole file (a missing top-level key) are
    /// reported: an empty span where its content starts, after any blank
    /// lines and comments (a `#:schema` line, a header comment); the start of
    /// the file when it has no content.
    pub fn start(&self) -> Range<usize> {
        self.content_start..self.content_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_span_are_whole_lines_without_the_last_newline() {
        let source = Source::new("s.toml", "a = 1\nb = [\n  2,\n]\nc = 3");
        assert_eq!(source.lines_of(&(7..8)), (6..11, 2));
        assert_eq!(source.lines_of(&(10..18)), (6..18, 2));
        assert_eq!(source.lines_of(&(21..22)), (19..24, 5));
        assert_eq!(source.lines_of(&(24..24)), (19..24, 5));
    }

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let source = Source::new("s.toml", "a = 1\nnamé = \"x\"\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(6), (2, 1));
        // "namé" is five bytes; the `=` after it is the 6th character.
        assert_eq!(source.line_col(12), (2, 6));
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column_of_the_first_line() {
        let source = Source::new("s.toml", "\u{feff}name = \"x\"\nb = 1");
        assert_eq!(source.line_col(3), (1, 1));
        assert_eq!(source.line_col(10), (1, 8));
        assert_eq!(source.line_col(14), (2, 1));
    }

    #[test]
    fn the_whole_file_is_blamed_where_its_content_starts_not_on_a_comment() {
        let cases = [
            ("#:schema ../s.json\n# A shop\n\n  name = \"x\"\n", (4, 3)),
            ("[mesh]\n", (1, 1)),
            ("\u{feff}# c\n[mesh]\n", (2, 1)),
            ("\u{feff}name = 1", (1, 1)),
            ("", (1, 1)),
            ("# only a comment\n\n", (1, 1)),
        ];
        for (text, at) in cases {
            let source = Source::new("s.toml", text);
            let span = source.start();
            assert!(span.is_empty(), "{text:?}");
            assert_eq!(source.line_col(span.start), at, "{text:?}");
        }
    }

    #[test]
    fn offset_past_end_is_clamped() {
        let source = Source::new("s.toml", "a = 1");
        assert_eq!(source.line_col(99), (1, 6));
    }
}
