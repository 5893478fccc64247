//! A loaded scenario file: its path, its text, and the one mapping from byte
//! offsets to line and column; and the bounded read of a scenario file.
//! Owns no parsing and no rendering.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::Error;

/// The largest scenario file meshgen reads (64 MiB): far above any real
/// scenario (the shipped ones are a few KB). A larger file, or an endless one
/// (`/dev/zero`), is refused before it fills memory.
pub const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;

/// The bytes of the scenario file at `path`; an error (exit 2) past
/// [`MAX_SCENARIO_BYTES`]. The limit is counted as the file is read, not
/// taken from its metadata: `/dev/zero` and pipes report a size of 0.
pub fn read(path: &Path) -> Result<Vec<u8>, Error> {
    read_at_most(path, MAX_SCENARIO_BYTES)
}

/// `read` with `limit` for [`MAX_SCENARIO_BYTES`].
fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // The size a regular file reports spares the buffer's regrowth.
    let hint = file.metadata().map_or(0, |m| m.len()).min(limit) + 1;
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        let most = if limit.is_multiple_of(1 << 20) {
            format!("{} MiB", limit >> 20)
        } else {
            format!("{limit} bytes")
        };
        return Err(Error::Usage(format!(
            "{}: larger than {most}, the most a scenario file may hold",
            path.display()
        )));
    }
    Ok(bytes)
}

/// U+FEFF, which some editors write at the start of a UTF-8 file.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// Bytes between two marks of `Source::char_marks`: a column is counted over
/// at most this many bytes past the nearest mark.
const CHAR_MARK_STRIDE: usize = 1024;

/// A scenario file as read from disk (or given in memory, for tests).
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    text: String,
    /// Where each line starts, made on first use: only diagnostics need
    /// lines, and a large file of short lines has millions of them (half
    /// the file's size again, at 8 bytes a line of 16).
    line_starts: OnceLock<Vec<usize>>,
    /// Where the content starts: the first line that is not blank or a comment.
    content_start: usize,
    /// The number of characters before byte `k * CHAR_MARK_STRIDE`, for each
    /// `k`: the column of an offset far into a long line is counted from the
    /// nearest mark, not from the line's start (a generated file may hold
    /// one line of megabytes with an error on every entry).
    char_marks: Vec<usize>,
}

impl Source {
    /// Wraps a file's path and text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        // Only the leading blank and comment lines are read.
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1));
        let content_start = line_starts
            .map(|start| {
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
        let mut char_marks = vec![0];
        for chunk in text.as_bytes().chunks(CHAR_MARK_STRIDE) {
            let last = char_marks.last().copied().unwrap_or(0);
            char_marks.push(last + chars_in(chunk));
        }
        Self {
            path: path.into(),
            text,
            line_starts: OnceLock::new(),
            content_start,
            char_marks,
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

    /// Where each line starts (made on first use).
    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            // Counted first: a collected Vec may hold up to twice the room
            // it needs.
            let lines = 1 + self.text.bytes().filter(|&b| b == b'\n').count();
            let mut starts = Vec::with_capacity(lines);
            starts.push(0);
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i + 1));
            starts
        })
    }

    /// 1-based line and column (in characters) of a byte offset. A
    /// byte-order mark at the start of the file is not a column.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let mut start = self.line_starts()[line];
        if line == 0 && self.text.starts_with(BYTE_ORDER_MARK) {
            start = offset.min(BYTE_ORDER_MARK.len_utf8());
        }
        let column = if offset - start <= CHAR_MARK_STRIDE {
            chars_in(&self.text.as_bytes()[start..offset])
        } else {
            self.chars_before(offset) - self.chars_before(start)
        };
        (line + 1, column + 1)
    }

    /// The number of characters before byte `offset`, counted from the
    /// nearest mark.
    fn chars_before(&self, offset: usize) -> usize {
        let mark = offset / CHAR_MARK_STRIDE;
        let from = mark * CHAR_MARK_STRIDE;
        self.char_marks[mark] + chars_in(&self.text.as_bytes()[from..offset])
    }

    /// The whole lines that `span` touches: their byte range in the text and
    /// the 1-based number of the first, so an excerpt need not carry the file.
    pub fn lines_of(&self, span: &Range<usize>) -> (Range<usize>, usize) {
        let first = self.line_index(span.start);
        let last = self.line_index(span.end.max(span.start));
        let end = self
            .line_starts()
            .get(last + 1)
            .map_or(self.text.len(), |&next| next - 1);
        (self.line_starts()[first]..end, first + 1)
    }

    /// The 0-based line that holds byte `offset` (the last line past the end).
    fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.line_starts().partition_point(|&s| s <= offset) - 1
    }

    /// Where problems of the whole file (a missing top-level key) are
    /// reported: an empty span where its content starts, after any blank
    /// lines and comments (a `#:schema` line, a header comment); the start of
    /// the file when it has no content.
    pub fn start(&self) -> Range<usize> {
        self.content_start..self.content_start
    }
}

/// The number of characters that start in `bytes` (of UTF-8 text): every
/// byte that is not a continuation byte.
fn chars_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
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

    /// Columns far into a long line are counted from the nearest mark, and
    /// count characters, not bytes, on either side of one.
    #[test]
    fn columns_far_into_a_long_line_count_characters() {
        let line = "é".repeat(3000) + "x" + &"a".repeat(5000) + "y";
        let text = format!("first\n{line}\nlast");
        let source = Source::new("s.toml", text.clone());
        let x = text.find('x').expect("x");
        assert_eq!(source.line_col(x), (2, 3001));
        let y = text.find('y').expect("y");
        assert_eq!(source.line_col(y), (2, 8002));
        assert_eq!(source.line_col(text.len()), (3, 5));
        for offset in (6..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .step_by(97)
        {
            let start = source.line_starts()[source.line_index(offset)];
            let expected = text[start..offset].chars().count() + 1;
            assert_eq!(source.line_col(offset).1, expected, "at {offset}");
        }
    }

    #[test]
    fn a_scenario_file_is_read_up_to_the_limit_and_refused_past_it() {
        let dir = std::env::temp_dir().join(format!("meshgen-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let path = dir.join("s.toml");
        std::fs::write(&path, b"0123456789").expect("file");
        assert_eq!(
            read_at_most(&path, 10).expect("at the limit"),
            b"0123456789"
        );
        let error = read_at_most(&path, 9).expect_err("past the limit");
        assert!(
            error
                .to_string()
                .ends_with("s.toml: larger than 9 bytes, the most a scenario file may hold"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_file_is_refused_at_the_limit_whatever_its_size_says() {
        // /dev/zero reports a size of 0 and never ends.
        let error = read_at_most(Path::new("/dev/zero"), 1 << 20).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "/dev/zero: larger than 1 MiB, the most a scenario file may hold"
        );
        assert!(read(Path::new("/dev/zero")).is_err());
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
