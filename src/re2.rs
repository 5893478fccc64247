//! RE2's syntax, as Envoy reads the pattern of a `regex` match: Istio hands
//! every `regex` StringMatch to Envoy as a `safe_regex`, which RE2 compiles
//! with its default options and matches against the whole value. Istio's
//! own check of a VirtualService runs Go's `regexp` first, which refuses a
//! few patterns RE2 takes; those are refused here too, as Istio's.
//!
//! `translate` reads a pattern by the rules of RE2's parser (re2/parse.cc)
//! and either refuses it, saying why, or writes a pattern of the `regex`
//! crate that matches exactly the strings RE2 would: an escaped punctuation
//! character is that character (`\<` is `<`), `&&`, `--`, `~~` and `[`
//! inside a class are characters, `\d`, `\s`, `\w` and `\b` are ASCII,
//! `\p{Greek}` is the Greek script, `\b{start}` is `\b` then `{start}`.
//! One pass from left to right with an explicit stack of open groups: the
//! time is linear in the pattern and deep nesting cannot overflow the stack.
//! Compiles nothing and owns no diagnostic.

use std::fmt;
use std::sync::LazyLock;

mod tables;

use tables::{CATEGORIES, DIGIT, POSIX, SCRIPTS, SPACE, WORD};

/// RE2's limit on a counted repetition, and on the copies nested counted
/// repetitions make of what they repeat (`(a{10}){101}` is 1010 copies).
const MAX_REPEAT: u32 = 1000;

/// The largest code point RE2 reads in UTF-8.
const MAX_RUNE: u32 = 0x10_FFFF;

/// A class that matches no character (RE2 keeps surrogate code points, which
/// no UTF-8 text holds).
const NOTHING: &str = "[a&&b]";

/// Who refuses a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuser {
    /// RE2, which Envoy compiles the pattern with.
    Re2,
    /// Istio's own check of the VirtualService (Go's `regexp`), which
    /// refuses a few patterns RE2 takes.
    Istio,
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Who refuses it.
    pub by: Refuser,
    /// The reason, in a sentence that names the culprit.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.by {
            Refuser::Re2 => write!(f, "not a valid RE2 regular expression: {}", self.reason),
            Refuser::Istio => write!(
                f,
                "refused by Istio's own check (Go's regexp), though RE2 takes it: {}",
                self.reason
            ),
        }
    }
}

/// Refused by RE2.
fn re2(reason: impl Into<String>) -> Refusal {
    Refusal {
        by: Refuser::Re2,
        reason: reason.into(),
    }
}

/// Refused by Istio's check.
fn istio(reason: impl Into<String>) -> Refusal {
    Refusal {
        by: Refuser::Istio,
        reason: reason.into(),
    }
}

/// The `regex` crate pattern that matches exactly the whole values `pattern`
/// matches as Envoy runs it (RE2's full match), or why RE2 or Istio
/// refuses it.
pub fn whole_value(pattern: &str) -> Result<String, Refusal> {
    translate(pattern).map(|translated| format!(r"\A(?:{translated})\z"))
}

/// `pattern` read as RE2 reads it: the `regex` crate pattern that matches
/// the same strings (unanchored, like the input: wrap it to match a whole
/// value), or why RE2 or Istio refuses it.
pub fn translate(pattern: &str) -> Result<String, Refusal> {
    Reader::new(pattern).read()
}

/// What one level of nesting (the whole pattern, or an open group) has read.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// Whether the current alternative has an expression a repetition
    /// operator can apply to (RE2: the top of its stack is not a marker).
    repeatable: bool,
    /// The copies of its innermost expression the last expression makes,
    /// through the counted repetitions nested in it.
    last_copies: u32,
    /// The most copies any expression of this level makes.
    max_copies: u32,
}

impl Level {
    fn new() -> Self {
        Self {
            repeatable: false,
            last_copies: 1,
            max_copies: 1,
        }
    }
}

/// One item of a character class, written in the `regex` crate's syntax by
/// `Reader::write_item`.
enum Item {
    /// Code points `lo..=hi` (surrogates possible: RE2 keeps them).
    Range(u32, u32),
    /// An ASCII class (`\d`, `[:alpha:]`), or its negation.
    Ascii(&'static [(u8, u8)], bool),
    /// A Unicode class (`\pL`, `\p{Greek}`), or its negation.
    Unicode(Unicode, bool),
}

/// A Unicode class RE2 knows.
#[derive(Clone, Copy)]
enum Unicode {
    /// Every code point.
    Any,
    /// RE2's `C`: Cc, Cf, Co and Cs, without the unassigned code points.
    Other,
    /// Surrogates, which no UTF-8 text holds.
    Surrogate,
    /// Another general category.
    Category(&'static str),
    /// A script (the Script property, not Script_Extensions).
    Script(&'static str),
}

/// The reader: the pattern, where it is, and what it has written.
struct Reader<'p> {
    pattern: &'p str,
    /// Byte offset of the next character to read.
    at: usize,
    /// The translation so far.
    out: String,
    /// Flag settings (`(?i)`) read but not written yet: written before the
    /// next expression, so that a repetition operator after them still
    /// follows the expression it repeats (RE2 reads `a(?i)*` as `a*`).
    flags: String,
    /// The enclosing levels of the open groups, innermost last.
    open: Vec<Level>,
    /// The current level.
    level: Level,
    /// Where the previous token started, if it was a repetition operator
    /// (RE2 refuses a repetition operator right after another).
    last_repeat: Option<usize>,
    /// The last search for `:]` (after a `[:` in a class): where it started
    /// and where `:]` was found. Kept because RE2 searches the rest of the
    /// whole pattern, and the searches must stay linear in all.
    posix_end: Option<(usize, Option<usize>)>,
    /// The first refusal of Istio's check, reported only when RE2 takes
    /// the whole pattern (RE2's own reason comes first).
    istio: Option<Refusal>,
}

impl<'p> Reader<'p> {
    fn new(pattern: &'p str) -> Self {
        Self {
            pattern,
            at: 0,
            out: String::with_capacity(pattern.len() * 2),
            flags: String::new(),
            open: Vec::new(),
            level: Level::new(),
            last_repeat: None,
            posix_end: None,
            istio: None,
        }
    }

    /// The unread rest of the pattern.
    fn rest(&self) -> &'p str {
        &self.pattern[self.at..]
    }

    /// The next character.
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Reads the next character.
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    /// Reads `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        let next = self.peek() == Some(c);
        if next {
            self.at += c.len_utf8();
        }
        next
    }

    /// The pattern from byte `from` to where the reader is.
    fn since(&self, from: usize) -> &'p str {
        &self.pattern[from..self.at]
    }

    fn read(mut self) -> Result<String, Refusal> {
        while let Some(c) = self.peek() {
            let start = self.at;
            let mut repeat = false;
            match c {
                '(' if self.rest().starts_with("(?") => self.perl_group()?,
                '(' => {
                    self.at += 1;
                    self.open_group("(?:");
                }
                '|' => {
                    self.at += 1;
                    self.out.push('|');
                    self.level.repeatable = false;
                }
                ')' => {
                    self.at += 1;
                    self.close_group()?;
                }
                '^' | '$' | '.' => {
                    self.at += 1;
                    self.expression(c.encode_utf8(&mut [0; 4]));
                }
                '[' => {
                    let class = self.class()?;
                    self.expression(&class);
                }
                '*' | '+' | '?' => {
                    self.at += 1;
                    let op = match c {
                        '*' => "*",
                        '+' => "+",
                        // `?` is written `{0,1}`: after another operator
                        // the crate would read `?` as "lazy".
                        _ => "{0,1}",
                    };
                    self.repeat(start, op, 1)?;
                    repeat = true;
                }
                '{' => match self.counted()? {
                    Some((lo, hi)) => {
                        let op = match hi {
                            Some(hi) if hi == lo => format!("{{{lo}}}"),
                            Some(hi) => format!("{{{lo},{hi}}}"),
                            None => format!("{{{lo},}}"),
                        };
                        if hi.is_some_and(|hi| hi < lo) || lo > MAX_REPEAT || hi > Some(MAX_REPEAT)
                        {
                            // RE2 checks the counts before the stacking.
                            self.eat('?');
                            self.stacked(start)?;
                            return Err(if hi.is_some_and(|hi| hi < lo) {
                                re2(format!(
                                    "the repetition `{}` has its maximum below its minimum",
                                    self.since(start)
                                ))
                            } else {
                                re2(format!(
                                    "the repetition `{}` asks for more than RE2's {MAX_REPEAT} \
                                     repetitions",
                                    self.since(start)
                                ))
                            });
                        }
                        // RE2 counts the copies of `{n,}` by its minimum.
                        self.repeat(start, &op, hi.unwrap_or(lo))?;
                        repeat = true;
                    }
                    None => {
                        self.at += 1;
                        self.literal('{' as u32);
                    }
                },
                '\\' => self.escape()?,
                _ => {
                    self.at += c.len_utf8();
                    self.literal(c as u32);
                }
            }
            self.last_repeat = repeat.then_some(start);
        }
        if !self.open.is_empty() {
            return Err(re2("a group is not closed: missing `)`"));
        }
        match self.istio {
            Some(refusal) => Err(refusal),
            None => Ok(self.out),
        }
    }

    /// Notes that Istio's check refuses the pattern, and reads on.
    fn istio(&mut self, reason: String) {
        self.istio.get_or_insert(istio(reason));
    }

    /// Writes an expression a repetition may apply to, after the pending
    /// flag settings.
    fn expression(&mut self, text: &str) {
        self.out.push_str(&self.flags);
        self.flags.clear();
        self.out.push_str(text);
        self.level.repeatable = true;
        self.level.last_copies = 1;
    }

    /// Writes the literal code point `r`.
    fn literal(&mut self, r: u32) {
        let text = match char::from_u32(r) {
            Some(c) => escaped(c),
            None => NOTHING.to_owned(),
        };
        self.expression(&text);
    }

    /// Opens a group written `open` (`(?:` or `(?i:`).
    fn open_group(&mut self, open: &str) {
        self.out.push_str(&self.flags);
        self.flags.clear();
        self.out.push_str(open);
        self.open.push(self.level);
        self.level = Level::new();
    }

    /// Closes the innermost group: it becomes an expression of its level.
    fn close_group(&mut self) -> Result<(), Refusal> {
        let Some(outer) = self.open.pop() else {
            return Err(re2("`)` closes no group"));
        };
        // Flag settings end with their group.
        self.flags.clear();
        self.out.push(')');
        let copies = self.level.max_copies;
        self.level = outer;
        self.level.repeatable = true;
        self.level.last_copies = copies;
        self.level.max_copies = self.level.max_copies.max(copies);
        Ok(())
    }

    /// Refuses a repetition operator right after another (`a**`, `a*+`),
    /// as RE2 does; the operator read so far started at `start`.
    fn stacked(&self, start: usize) -> Result<(), Refusal> {
        let Some(previous) = self.last_repeat else {
            return Ok(());
        };
        let ops = &self.pattern[previous..self.at];
        let second = &self.pattern[start..self.at];
        Err(re2(if second.starts_with('+') {
            format!("RE2 has no possessive repetition `{ops}`")
        } else {
            format!("RE2 does not repeat a repetition directly: `{ops}`")
        }))
    }

    /// A repetition operator that started at `start` and is written `op`,
    /// with `times` the most copies it makes of its operand (1 for `*`, `+`
    /// and `?`, which RE2 does not count).
    fn repeat(&mut self, start: usize, op: &str, times: u32) -> Result<(), Refusal> {
        let lazy = self.eat('?');
        self.stacked(start)?;
        if !self.level.repeatable {
            return Err(re2(format!(
                "the repetition `{}` has nothing to repeat",
                self.since(start)
            )));
        }
        let copies = self.level.last_copies.saturating_mul(times.max(1));
        if copies > MAX_REPEAT {
            return Err(re2(format!(
                "the repetition `{}` repeats a repetition: {copies} copies in all, more than \
                 RE2's {MAX_REPEAT}",
                self.since(start)
            )));
        }
        self.level.last_copies = copies;
        self.level.max_copies = self.level.max_copies.max(copies);
        self.out.push_str(op);
        if lazy {
            self.out.push('?');
        }
        Ok(())
    }

    /// A counted repetition `{n}`, `{n,}` or `{n,m}` at the reader, read:
    /// its minimum and maximum (`None`: no maximum); `None` (nothing read)
    /// when RE2 reads the `{` as a character.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, Refusal> {
        let rest = self.rest().as_bytes();
        let mut i = 1;
        let Some(lo) = count(rest, &mut i) else {
            return Ok(None);
        };
        let hi = match rest.get(i) {
            Some(b',') if rest.get(i + 1) == Some(&b'}') => {
                i += 1;
                None
            }
            Some(b',') => {
                i += 1;
                match count(rest, &mut i) {
                    Some(hi) => Some(hi),
                    None => return Ok(None),
                }
            }
            _ => Some(lo),
        };
        if rest.get(i) != Some(&b'}') {
            return Ok(None);
        }
        match (lo, hi) {
            (Some(lo), None) => {
                self.at += i + 1;
                Ok(Some((lo, None)))
            }
            (Some(lo), Some(Some(hi))) => {
                self.at += i + 1;
                Ok(Some((lo, Some(hi))))
            }
            // RE2 gives up on a count of ten digits or more and reads the
            // `{` as a character; Go reads a count, too large.
            _ => {
                let text = &self.rest()[..=i];
                self.istio(format!(
                    "Go reads `{text}` as a repetition count, and refuses one that large (RE2 \
                     reads it as characters)"
                ));
                Ok(None)
            }
        }
    }

    /// `(?` at the reader: flags, a non-capturing or a named group, or one
    /// of the Perl groups RE2 lacks.
    fn perl_group(&mut self) -> Result<(), Refusal> {
        let rest = self.rest();
        let b = rest.as_bytes();
        if b.len() > 2 && matches!(b[2], b'=' | b'!') {
            return Err(re2(format!(
                "RE2 has no lookahead `{}`",
                &rest[..3.min(rest.len())]
            )));
        }
        if b.len() > 3 && b[2] == b'<' && matches!(b[3], b'=' | b'!') {
            return Err(re2(format!("RE2 has no lookbehind `{}`", &rest[..4])));
        }
        if (b.len() > 4 && b[2] == b'P' && b[3] == b'<') || (b.len() > 3 && b[2] == b'<') {
            let begin = if b[2] == b'P' { 4 } else { 3 };
            let Some(end) = rest[begin..].find('>').map(|i| begin + i) else {
                return Err(re2(format!(
                    "the group name of `{}` has no closing `>`",
                    &rest[..begin]
                )));
            };
            if let Some(reason) = group_name(&rest[begin..end], &rest[..=end])? {
                self.istio(reason);
            }
            self.at += end + 1;
            self.open_group("(?:");
            return Ok(());
        }
        // Flags: set, then cleared after a `-`, up to `)` or `:`.
        let start = self.at;
        self.at += 2;
        let mut set = String::new();
        let mut clear = String::new();
        let mut negated = false;
        let mut any = false;
        let end = loop {
            let Some(c) = self.next() else {
                return Err(re2(format!(
                    "`{}` is not closed: missing `)`",
                    self.since(start)
                )));
            };
            match c {
                'i' | 'm' | 's' | 'U' => {
                    any = true;
                    let (to, from) = if negated {
                        (&mut clear, &mut set)
                    } else {
                        (&mut set, &mut clear)
                    };
                    from.retain(|f| f != c);
                    if !to.contains(c) {
                        to.push(c);
                    }
                }
                '-' if !negated => {
                    negated = true;
                    any = false;
                }
                ':' | ')' if !negated || any => break c,
                ':' | ')' | '-' => {
                    return Err(re2(format!(
                        "`{}` is not a flag setting RE2 reads: a `-` must be followed by flags, \
                         once",
                        self.since(start)
                    )));
                }
                _ => return Err(re2(unknown_group(self.since(start), c))),
            }
        };
        let mut flags = String::new();
        if !(set.is_empty() && clear.is_empty()) {
            flags = format!("(?{set}");
            if !clear.is_empty() {
                flags.push('-');
                flags.push_str(&clear);
            }
        }
        if end == ':' {
            if flags.is_empty() {
                flags.push_str("(?");
            }
            flags.push(':');
            self.open_group(&flags);
        } else if !flags.is_empty() {
            flags.push(')');
            self.flags.push_str(&flags);
        }
        Ok(())
    }

    /// `\` at the reader, outside a class.
    fn escape(&mut self) -> Result<(), Refusal> {
        let start = self.at;
        let Some(&c) = self.rest().as_bytes().get(1) else {
            return Err(re2("the pattern ends with a lone `\\`"));
        };
        let assertion = match c {
            b'b' => Some(r"(?-u:\b)"),
            b'B' => Some(r"(?-u:\B)"),
            b'A' => Some(r"\A"),
            b'z' => Some(r"\z"),
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.at += 2;
            self.expression(assertion);
            return Ok(());
        }
        match c {
            b'C' => {
                self.istio(
                    "Go has no `\\C` (any byte), which RE2 reads; match a character with `.` \
                     or `(?s:.)`"
                        .to_owned(),
                );
                self.at += 2;
                self.expression("(?s:.)");
                Ok(())
            }
            b'Q' => {
                // Characters, up to `\E` or the end.
                self.at += 2;
                while let Some(c) = self.peek() {
                    if self.rest().starts_with(r"\E") {
                        self.at += 2;
                        break;
                    }
                    self.at += c.len_utf8();
                    self.literal(c as u32);
                }
                Ok(())
            }
            b'p' | b'P' => {
                let item = self.unicode_group()?;
                let class = self.class_of(&item);
                self.expression(&class);
                Ok(())
            }
            _ => {
                if let Some(item) = perl_class(c) {
                    self.at += 2;
                    let class = self.class_of(&item);
                    self.expression(&class);
                } else {
                    let r = self.escaped_rune(start)?;
                    self.literal(r);
                }
                Ok(())
            }
        }
    }

    /// `\` at the reader, a character escape (RE2's ParseEscape): the code
    /// point it stands for.
    fn escaped_rune(&mut self, start: usize) -> Result<u32, Refusal> {
        self.at += 1;
        let Some(c) = self.next() else {
            return Err(re2("the pattern ends with a lone `\\`"));
        };
        let bad = |reader: &Self| Err(re2(bad_escape(reader.since(start))));
        match c {
            '1'..='7' if !self.peek().is_some_and(|d| ('0'..='7').contains(&d)) => Err(re2(
                format!("RE2 has no backreferences: `{}`", self.since(start)),
            )),
            '0'..='7' => {
                let mut code = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            self.at += 1;
                            code = code * 8 + (d as u32 - '0' as u32);
                        }
                        _ => break,
                    }
                }
                Ok(code)
            }
            'x' => {
                let Some(first) = self.next() else {
                    return bad(self);
                };
                if first == '{' {
                    let mut code = 0u32;
                    let mut digits = 0;
                    loop {
                        let Some(d) = self.next() else {
                            return bad(self);
                        };
                        if d == '}' && digits > 0 {
                            return Ok(code);
                        }
                        let Some(v) = d.to_digit(16) else {
                            return bad(self);
                        };
                        code = code * 16 + v;
                        digits += 1;
                        if code > MAX_RUNE {
                            return bad(self);
                        }
                    }
                }
                let second = self.next();
                match (first.to_digit(16), second.and_then(|d| d.to_digit(16))) {
                    (Some(h), Some(l)) => Ok(h * 16 + l),
                    _ => bad(self),
                }
            }
            'n' => Ok(u32::from(b'\n')),
            'r' => Ok(u32::from(b'\r')),
            't' => Ok(u32::from(b'\t')),
            'a' => Ok(0x07),
            'f' => Ok(0x0c),
            'v' => Ok(0x0b),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c as u32),
            _ => bad(self),
        }
    }

    /// `\p` or `\P` at the reader: the Unicode class it names.
    fn unicode_group(&mut self) -> Result<Item, Refusal> {
        let start = self.at;
        let mut negated = self.rest().as_bytes()[1] == b'P';
        self.at += 2;
        let name = match self.next() {
            None => return Err(re2(format!("`{}` names no class", self.since(start)))),
            Some('{') => {
                let Some(end) = self.rest().find('}') else {
                    return Err(re2(format!("`{}` has no closing `}}`", self.since(start))));
                };
                let name = &self.rest()[..end];
                self.at += end + 1;
                name
            }
            Some(c) => &self.pattern[self.at - c.len_utf8()..self.at],
        };
        let name = match name.strip_prefix('^') {
            Some(name) => {
                negated = !negated;
                name
            }
            None => name,
        };
        let group = if name == "Any" {
            Unicode::Any
        } else if name == "C" {
            Unicode::Other
        } else if name == "Cs" {
            Unicode::Surrogate
        } else if let Some(&category) = CATEGORIES.iter().find(|&&c| c == name) {
            Unicode::Category(category)
        } else if let Ok(i) = SCRIPTS.binary_search(&name) {
            Unicode::Script(SCRIPTS[i])
        } else {
            return Err(re2(format!(
                "RE2 has no Unicode class `{}`: it knows the general categories (such as `L`, \
                 `Lu`), the scripts (such as `Greek`) and `Any`, spelt exactly so, and no other \
                 property",
                self.since(start)
            )));
        };
        Ok(Item::Unicode(group, negated))
    }

    /// `[` at the reader: a character class, read by RE2's rules (`]`
    /// first is a character, `[` inside is one unless it starts a `[:name:]`,
    /// `-` is one where it cannot make a range), written as a class of the
    /// crate in which every character is escaped.
    fn class(&mut self) -> Result<String, Refusal> {
        let start = self.at;
        self.at += 1;
        let negated = self.eat('^');
        let mut out = String::from(if negated { "[^" } else { "[" });
        let unclosed = |reader: &Self| {
            Err(re2(format!(
                "the class `{}` is not closed: missing `]`",
                reader.pattern[start..].chars().take(40).collect::<String>()
            )))
        };
        let mut first = true;
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return unclosed(self);
            }
            if rest.starts_with(']') && !first {
                self.at += 1;
                break;
            }
            first = false;
            if rest.len() > 2
                && rest.starts_with("[:")
                && let Some(end) = self.posix_end(self.at + 2)
            {
                let name = &self.pattern[self.at..end + 2];
                let bare = &name[2..name.len() - 2];
                let (negated, bare) = match bare.strip_prefix('^') {
                    Some(bare) => (true, bare),
                    None => (false, bare),
                };
                let Some(&(_, ranges)) = POSIX.iter().find(|(n, _)| *n == bare) else {
                    return Err(re2(format!(
                        "RE2 has no ASCII class `{name}`: it knows alnum, alpha, ascii, \
                         blank, cntrl, digit, graph, lower, print, punct, space, upper, \
                         word and xdigit"
                    )));
                };
                self.at = end + 2;
                self.write_item(&mut out, &Item::Ascii(ranges, negated));
                continue;
            }
            if rest.len() > 2 && (rest.starts_with(r"\p") || rest.starts_with(r"\P")) {
                let item = self.unicode_group()?;
                self.write_item(&mut out, &item);
                continue;
            }
            if let Some(item) = rest
                .strip_prefix('\\')
                .and_then(|r| r.bytes().next())
                .and_then(perl_class)
            {
                self.at += 2;
                self.write_item(&mut out, &item);
                continue;
            }
            let from = self.at;
            let Some(lo) = self.class_char()? else {
                return unclosed(self);
            };
            let b = self.rest().as_bytes();
            let hi = if b.len() >= 2 && b[0] == b'-' && b[1] != b']' {
                self.at += 1;
                let Some(hi) = self.class_char()? else {
                    return unclosed(self);
                };
                if hi < lo {
                    return Err(re2(format!(
                        "the range `{}` in a class runs backwards",
                        self.since(from)
                    )));
                }
                hi
            } else {
                lo
            };
            self.write_item(&mut out, &Item::Range(lo, hi));
        }
        out.push(']');
        Ok(out)
    }

    /// One character of a class, escaped or not; `None` at the end.
    fn class_char(&mut self) -> Result<Option<u32>, Refusal> {
        match self.peek() {
            None => Ok(None),
            Some('\\') => self.escaped_rune(self.at).map(Some),
            Some(c) => {
                self.at += c.len_utf8();
                Ok(Some(c as u32))
            }
        }
    }

    /// Where the first `:]` at or after byte `from` is (RE2 looks for the
    /// end of a `[:name:]` in the rest of the whole pattern). Linear over a
    /// reading: a search starts past the end of the previous one, or the
    /// previous answer stands.
    fn posix_end(&mut self, from: usize) -> Option<usize> {
        if let Some((searched, found)) = self.posix_end {
            match found {
                None if from >= searched => return None,
                Some(end) if from >= searched && from <= end => return Some(end),
                _ => {}
            }
        }
        let found = self.pattern[from..].find(":]").map(|i| from + i);
        self.posix_end = Some((from, found));
        found
    }

    /// A class of the crate holding the one item `item`.
    fn class_of(&self, item: &Item) -> String {
        let mut out = String::from("[");
        self.write_item(&mut out, item);
        out.push(']');
        out
    }

    /// Writes `item` inside a class of the crate.
    fn write_item(&self, out: &mut String, item: &Item) {
        match *item {
            Item::Range(lo, hi) => {
                // The parts outside the surrogates, which no text holds.
                let parts = [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)];
                let mut wrote = false;
                for (lo, hi) in parts {
                    let (Some(lo), Some(hi)) = (char::from_u32(lo), char::from_u32(hi)) else {
                        continue;
                    };
                    if lo > hi {
                        continue;
                    }
                    out.push_str(&escaped(lo));
                    if hi > lo {
                        out.push('-');
                        out.push_str(&escaped(hi));
                    }
                    wrote = true;
                }
                if !wrote {
                    out.push_str(NOTHING);
                }
            }
            Item::Ascii(ranges, negated) => {
                // A nested class: the crate folds case in it before it
                // negates it, as RE2 does.
                out.push_str(if negated { "[^" } else { "[" });
                for &(lo, hi) in ranges {
                    out.push_str(&escaped(char::from(lo)));
                    if hi > lo {
                        out.push('-');
                        out.push_str(&escaped(char::from(hi)));
                    }
                }
                out.push(']');
            }
            Item::Unicode(group, negated) => {
                let (p, open) = if negated { ('P', "[^") } else { ('p', "[") };
                match group {
                    Unicode::Any => {
                        out.push_str(open);
                        out.push_str(r"\x{0}-\x{10FFFF}]");
                    }
                    Unicode::Other => {
                        out.push_str(open);
                        out.push_str(r"\p{gc=Cc}\p{gc=Cf}\p{gc=Co}]");
                    }
                    Unicode::Surrogate => {
                        out.push_str(open);
                        out.push_str("a&&b]");
                    }
                    Unicode::Category(name) => {
                        out.push_str(&format!(r"\{p}{{gc={name}}}"));
                    }
                    Unicode::Script(name) => {
                        out.push_str(&format!(r"\{p}{{sc={name}}}"));
                    }
                }
            }
        }
    }
}

/// A decimal count at `bytes[*i..]` without a leading zero (RE2's
/// ParseInteger), read: `Some(None)` for ten digits or more (RE2 gives up on
/// those); `None` (nothing read) when there is none.
fn count(bytes: &[u8], i: &mut usize) -> Option<Option<u32>> {
    let digits = bytes[*i..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || (digits > 1 && bytes[*i] == b'0') {
        return None;
    }
    let text = &bytes[*i..*i + digits];
    *i += digits;
    if digits > 9 {
        return Some(None);
    }
    Some(Some(
        text.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')),
    ))
}

/// RE2's Perl class `\c` (`\d`, `\D`, `\s`, `\S`, `\w`, `\W`), all ASCII.
fn perl_class(c: u8) -> Option<Item> {
    let ranges = match c.to_ascii_lowercase() {
        b'd' => DIGIT,
        b's' => SPACE,
        b'w' => WORD,
        _ => return None,
    };
    Some(Item::Ascii(ranges, c.is_ascii_uppercase()))
}

/// `c` as a literal of the crate, in a class or out of one: ASCII letters,
/// digits and `_` as they are, anything else as `\x{…}`.
fn escaped(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else {
        format!(r"\x{{{:X}}}", u32::from(c))
    }
}

/// Why RE2 refuses the escape `text`.
fn bad_escape(text: &str) -> String {
    match text.as_bytes().get(1) {
        Some(b'Z') => "RE2 has no `\\Z`: `\\z` is the end of the text".to_owned(),
        Some(b'8' | b'9' | b'k' | b'g') => format!("RE2 has no backreferences: `{text}`"),
        Some(b'x') => {
            format!("`{text}` is not a character: RE2 reads `\\xHH` and `\\x{{H…}}` up to 10FFFF")
        }
        Some(b'b') => format!(
            "RE2 has no `{text}` in a class (a word boundary is no character; a backspace is \
             `\\x08`)"
        ),
        _ => format!("RE2 has no escape `{text}`"),
    }
}

/// Why RE2 refuses the group `(?…c` read so far.
fn unknown_group(text: &str, c: char) -> String {
    match c {
        '#' => format!("RE2 has no comments: `{text}`"),
        '>' => format!("RE2 has no atomic groups: `{text}`"),
        '|' => format!("RE2 has no branch reset: `{text}`"),
        '\'' => format!("RE2 names a group `(?P<name>…)` or `(?<name>…)`, not `{text}`"),
        'P' | '&' | 'R' | '0'..='9' | '+' => {
            format!("RE2 has no backreferences or recursion: `{text}`")
        }
        c if c.is_ascii_alphabetic() => {
            format!("RE2 has no flag `{c}` (in `{text}`): it knows only i, m, s and U")
        }
        _ => format!("RE2 has no group `{text}`"),
    }
}

/// Checks the group name `name` of `(?P<name>` or `(?<name>` (`whole`):
/// `Some` reason when only Istio's check refuses it.
fn group_name(name: &str, whole: &str) -> Result<Option<String>, Refusal> {
    /// The characters RE2 allows in a group name (re2/parse.cc
    /// IsValidCaptureName): letters, marks, digits and connectors.
    static WORD_CHARS: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\A[\p{Lu}\p{Ll}\p{Lt}\p{Lm}\p{Lo}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]+\z")
            .expect("a valid pattern")
    });
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.is_empty() {
        return Ok(None);
    }
    if WORD_CHARS.is_match(name) {
        return Ok(Some(format!(
            "Go allows only ASCII letters, digits and `_` in a group name: `{whole}`"
        )));
    }
    Err(re2(format!(
        "`{whole}` is not a group name RE2 takes: letters, digits and `_`, at least one"
    )))
}

#[cfg(test)]
mod tests;
