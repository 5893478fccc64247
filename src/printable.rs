//! Text for people: the one escaping every message, explanation and diff
//! goes through before it reaches a terminal, so that no value from a
//! scenario, a header or a file name can move the cursor, clear the screen,
//! set the window title, ring the bell or reorder what is shown. Owns no
//! wording and prints nothing; JSON output is escaped by serde_json instead.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: a control character
/// (Unicode category Cc: C0, DEL and C1, which hold ESC, BEL, CSI and NEL)
/// or a bidirectional formatting character (which reorders the text
/// around it on screen: U+061C, U+200E, U+200F, U+202A to U+202E, U+2066
/// to U+2069).
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every control and bidirectional formatting character
/// written as a visible escape, as Rust writes it: `\n`, `\t`, `\r`,
/// `\u{1b}` (ESC), `\u{7}` (BEL), `\u{9b}` (CSI), `\u{202e}`. Text without
/// any comes back as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &[])
}

/// `escape`, but the characters of `keep` stay as they are: line breaks and
/// tabs of a text printed in lines (a diff, a source excerpt).
pub fn escape_keeping<'t>(text: &'t str, keep: &[char]) -> Cow<'t, str> {
    let escaped = |c: char| unprintable(c) && !keep.contains(&c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidirectional_characters_become_visible_escapes() {
        let cases = [
            ("plain text, é, 🙂, 世界", "plain text, é, 🙂, 世界"),
            ("\u{1b}]0;title\u{7}", "\\u{1b}]0;title\\u{7}"),
            ("\u{1b}[2J", "\\u{1b}[2J"),
            ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
            ("nul\0del\u{7f}", "nul\\u{0}del\\u{7f}"),
            ("csi\u{9b}2J nel\u{85}", "csi\\u{9b}2J nel\\u{85}"),
            ("user\u{202e}gpj.exe", "user\\u{202e}gpj.exe"),
            (
                "\u{2066}isolate\u{2069}\u{200f}",
                "\\u{2066}isolate\\u{2069}\\u{200f}",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(escape(text), expected, "{text:?}");
        }
    }

    #[test]
    fn text_without_them_is_not_copied() {
        assert!(matches!(escape("reviews v2"), Cow::Borrowed("reviews v2")));
    }

    #[test]
    fn kept_characters_stay_and_the_others_are_escaped() {
        assert_eq!(
            escape_keeping("-\told\n+\u{1b}]0;x\u{7}\n", &['\n', '\t']),
            "-\told\n+\\u{1b}]0;x\\u{7}\n"
        );
    }
}
