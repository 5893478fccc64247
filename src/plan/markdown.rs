//! Scenario text as literal Markdown: the escaping function of each context
//! of the plan (a cell, a heading or a sentence; a description's
//! paragraphs; a code span; a fenced block), so that no string from a
//! scenario adds structure, markup or an autolink to the page.

/// ASCII punctuation that can open inline Markdown (CommonMark and GFM):
/// code spans, emphasis and strikethrough, links and images, raw HTML and
/// autolinks, entities, table cells, ATX heading closers, GitHub's `$` math,
/// and the backslash itself. Other punctuation (`.`, `-`, `(`, `:` …) is
/// inert inside a line and left alone, so ordinary prose stays readable.
const INLINE_SPECIAL: &[char] = &[
    '\\', '`', '*', '_', '~', '[', ']', '<', '>', '!', '&', '|', '#', '$',
];

/// What `inline_text` writes before an `@` that could end an e-mail
/// address's local part: an empty HTML comment, which GitHub and GitLab
/// show as nothing. GFM finds e-mail addresses (and with them `mailto:` and
/// `xmpp:` links) after parsing, in the text of each node with its escapes
/// and entities already decoded, so a backslash cannot stop them; a node
/// that is not text between the local part and the `@` does.
pub(super) const AUTOLINK_BREAK: &str = "<!-- -->";

/// Scenario text as literal inline Markdown on one line — a table cell, a
/// heading, a sentence: every `INLINE_SPECIAL` character is
/// backslash-escaped, and so are the `:` of `://` (`http://`, `https://`),
/// `mailto:` and `xmpp:`, and the `.` of `www.`, which GFM's extended
/// autolinks look for while parsing; an `@` right after a character an
/// e-mail address can hold gets `AUTOLINK_BREAK` before it. Each line break,
/// with the blanks around it, and every other control character becomes one
/// space.
pub(super) fn inline_text(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let ends_with = |i: usize, word: &str| {
        i >= word.len()
            && text
                .get(i - word.len()..i)
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    let mut previous = None;
    for (i, c) in text.char_indices() {
        if c == '@'
            && previous.is_some_and(|p: char| p.is_ascii_alphanumeric() || "._+-".contains(p))
        {
            out.push_str(AUTOLINK_BREAK);
        }
        previous = Some(c);
        let autolink = (c == ':'
            && (text[i + 1..].starts_with("//") || ends_with(i, "mailto") || ends_with(i, "xmpp")))
            || (c == '.' && ends_with(i, "www"));
        if autolink || INLINE_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Scenario text as literal Markdown paragraphs (a multi-line description):
/// each line is `inline_text`, without its leading and trailing blanks (a
/// paragraph drops them anyway: no indented code, no hard line break), and a
/// line that would otherwise start a block — a list item (`-`, `+`, `1.`,
/// `1)`), a setext underline or thematic break (`===`, `---`), a table's
/// delimiter row (`:--`) — has that first character escaped; `#`, `>`, fences
/// and HTML are escaped by `inline_text` already. Blank lines separate
/// paragraphs (runs of them count once). Ends with a line break, or is empty.
pub(super) fn paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut blank = false;
    for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
        let line = inline_text(line);
        let line = line.trim_matches(' ');
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        let marker = line[digits..].chars().next();
        let after = line[digits..].chars().nth(1);
        if digits == 0 && matches!(marker, Some('-' | '+' | '=' | ':')) {
            out.push('\\');
            out.push_str(line);
        } else if (1..=9).contains(&digits)
            && matches!(marker, Some('.' | ')'))
            && after.is_none_or(|c| c == ' ' || c == '\t')
        {
            out.push_str(&line[..digits]);
            out.push('\\');
            out.push_str(&line[digits..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Scenario text as a code span in a sentence (not in a table: see
/// `code_span_in_cell`): delimited by a backtick run longer than any inside,
/// padded with a space on each side when the text starts or ends with a
/// backtick or with spaces a code span would strip; line breaks and other
/// control characters become spaces (inside a span a line break would let
/// the next line start a block).
pub(super) fn code_span(text: &str) -> String {
    let text: String = one_line(text);
    let ticks = "`".repeat(longest_run(&text, b'`') + 1);
    if text.is_empty() {
        return "` `".to_owned();
    }
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim_matches(' ').is_empty());
    if pad {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}

/// Scenario text as a code span inside a GFM table cell: `code_span`, with
/// every `|` escaped (GFM splits cells at a `|` even inside a code span, and
/// drops the backslash of `\|` before reading the span).
pub(super) fn code_span_in_cell(text: &str) -> String {
    code_span(text).replace('|', "\\|")
}

/// The text on one line: each line break, with the blanks around it, and
/// every other control character becomes one space.
pub(super) fn one_line(text: &str) -> String {
    let joined;
    let text = if text.contains(['\n', '\r']) {
        joined = text
            .split(['\n', '\r'])
            .map(|line| line.trim_matches([' ', '\t']))
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        &joined
    } else {
        text
    };
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest run of `byte` in `text`.
fn longest_run(text: &str, byte: u8) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for b in text.bytes() {
        run = if b == byte { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// A code fence longer than any run of backticks in `text` (at least three),
/// so no line of the text can close it.
pub(super) fn fence_for(text: &str) -> String {
    "`".repeat(longest_run(text, b'`').max(2) + 1)
}
