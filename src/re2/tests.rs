//! RE2's rules, construct by construct: what RE2 (or Istio's check) refuses
//! and why, and, for what it takes, the strings its translation matches.
//! The expectations were checked against RE2 itself (its Python binding,
//! google-re2 1.1, RE2 of November 2025); Istio's refusals follow the source
//! of Go's regexp/syntax parser (Go itself was not run).

use std::time::{Duration, Instant};

use super::{Refuser, translate};

/// Whether RE2 would match the whole of `value` with `pattern`.
#[track_caller]
fn matches(pattern: &str, value: &str) -> bool {
    let translated = translate(pattern).unwrap_or_else(|r| panic!("{pattern:?} refused: {r}"));
    regex::Regex::new(&format!(r"\A(?:{translated})\z"))
        .unwrap_or_else(|e| panic!("{pattern:?} as {translated:?}: {e}"))
        .is_match(value)
}

/// The refusal of `pattern`, which must be refused by `by`.
#[track_caller]
fn refused(pattern: &str, by: Refuser) -> String {
    match translate(pattern) {
        Ok(t) => panic!("{pattern:?} taken, as {t:?}"),
        Err(r) => {
            assert_eq!(r.by, by, "{pattern:?}: {r}");
            r.reason
        }
    }
}

#[test]
fn escaped_angle_brackets_are_the_characters_not_word_boundaries() {
    // The regex crate reads `\<` and `\>` as word boundaries; RE2 reads an
    // escaped punctuation character as that character.
    assert!(matches(r"\<jason\>", "<jason>"));
    assert!(!matches(r"\<jason\>", "jason"));
}

#[test]
fn class_set_operations_are_characters_and_the_first_bracket_closes() {
    // RE2: one of a-z, `&`, `[`, `^` (then a, e, i, o, u again), then `]`.
    let p = "[a-z&&[^aeiou]]";
    for yes in ["b]", "a]", "&]", "[]", "^]"] {
        assert!(matches(p, yes), "{p} on {yes:?}");
    }
    for no in ["b", "a", "&", "b]]"] {
        assert!(!matches(p, no), "{p} on {no:?}");
    }
    // `--` is a range ending at `-` when it can be one, as in RE2.
    assert!(matches("[+--]", ","));
    assert!(matches("[--]", "-"));
    assert!(matches("[a~~b]", "~"));
    assert!(!matches("[a~~b]", "c"));
}

#[test]
fn a_word_boundary_before_braces_is_a_boundary_then_the_characters() {
    assert!(matches(r"a\b{start}", "a{start}"));
    assert!(!matches(r"a\b{start}", "a"));
    assert!(!matches(r"\b{start}", "{start}"), "no boundary before `{{`");
    // And a counted repetition of the boundary, which RE2 allows.
    assert!(matches(r"a\b{2}", "a"));
}

#[test]
fn the_issues_refused_constructs_say_why() {
    let x = refused("(?x)a b", Refuser::Re2);
    assert!(x.contains("flag `x`") && x.contains("i, m, s and U"), "{x}");
    let emoji = refused(r"\p{Emoji}", Refuser::Re2);
    assert!(
        emoji.contains(r"\p{Emoji}") && emoji.contains("general categories"),
        "{emoji}"
    );
    let possessive = refused("a*+", Refuser::Re2);
    assert!(
        possessive.contains("possessive repetition `*+`"),
        "{possessive}"
    );
}

#[test]
fn what_re2_refuses_is_refused_with_the_culprit() {
    let cases = [
        // Repetition: possessive, stacked, counts, nothing to repeat.
        ("a++", "possessive repetition `++`"),
        ("a?+", "possessive repetition `?+`"),
        ("a{2}+", "possessive repetition `{2}+`"),
        ("a*?+", "possessive repetition `*?+`"),
        ("a**", "repetition directly: `**`"),
        ("a*??", "repetition directly: `*??`"),
        ("a{2}*", "repetition directly: `{2}*`"),
        ("a*{2}", "repetition directly: `*{2}`"),
        ("a{2}{3}", "repetition directly: `{2}{3}`"),
        ("x{1001}", "`{1001}` asks for more than RE2's 1000"),
        ("x{1001,}", "`{1001,}`"),
        ("x{2,1001}", "`{2,1001}`"),
        ("x{3,2}", "`{3,2}` has its maximum below its minimum"),
        ("(a{10}){101}", "`{101}` repeats a repetition: 1010 copies"),
        ("((a{2}){2}){251}", "1004 copies"),
        ("(?:a{2}|b{600}){2}", "1200 copies"),
        ("*a", "`*` has nothing to repeat"),
        ("(*)", "`*` has nothing to repeat"),
        ("a|*", "`*` has nothing to repeat"),
        ("(?i)+", "`+` has nothing to repeat"),
        ("({2})", "`{2}` has nothing to repeat"),
        // Escapes.
        (r"a\Z", r"no `\Z`"),
        (r"(a)\1", r"backreferences: `\1`"),
        (r"\8", r"backreferences: `\8`"),
        (r"(?P<n>a)\k<n>", r"backreferences: `\k`"),
        (r"\e", r"no escape `\e`"),
        (r"\cA", r"no escape `\c`"),
        (r"\u0041", r"no escape `\u`"),
        (r"\é", r"no escape `\é`"),
        (r"\x{110000}", "is not a character"),
        (r"\x{}", "is not a character"),
        (r"\xZ1", "is not a character"),
        (r"\x1", "is not a character"),
        (r"[\b]", r"no `\b` in a class"),
        (r"[a-\d]", r"no escape `\d`"),
        ("a\\", "lone `\\`"),
        ("[a\\", "lone `\\`"),
        // Groups RE2 lacks, and bad flags.
        ("(?=a)", "lookahead `(?=`"),
        ("(?!a)", "lookahead `(?!`"),
        ("(?<=a)b", "lookbehind `(?<=`"),
        ("(?<!a)b", "lookbehind `(?<!`"),
        ("(?#note)a", "comments"),
        ("(?>a)", "atomic groups"),
        ("(?|a)", "branch reset"),
        ("(?'n'a)", "`(?'`"),
        ("(?P=n)", "backreferences or recursion"),
        ("(?R)", "backreferences or recursion"),
        ("(?u)a", "flag `u`"),
        ("(?-)a", "a `-` must be followed by flags"),
        ("(?i-)a", "a `-` must be followed by flags"),
        ("(?i--s)a", "a `-` must be followed by flags"),
        ("(?i", "missing `)`"),
        ("(?P<a-b>x)", "not a group name RE2 takes"),
        ("(?P<>x)", "not a group name RE2 takes"),
        ("(?P<name", "no closing `>`"),
        // Parentheses and classes.
        ("(a", "missing `)`"),
        ("a)", "closes no group"),
        ("[a", "missing `]`"),
        ("[]", "missing `]`"),
        ("[^]", "missing `]`"),
        ("[z-a]", "`z-a` in a class runs backwards"),
        ("[a--b]", "`a--` in a class runs backwards"),
        ("[[:foo:]]", "no ASCII class `[:foo:]`"),
        ("[[:alpha:]x[:y]:]]", "no ASCII class `[:y]:]`"),
        // Unicode classes: categories, scripts and Any, spelt exactly.
        (r"\p{Cn}", r"`\p{Cn}`"),
        (r"\p{L&}", r"`\p{L&}`"),
        (r"\p{Letter}", r"`\p{Letter}`"),
        (r"\p{greek}", r"`\p{greek}`"),
        (r"\p{sc=Greek}", r"`\p{sc=Greek}`"),
        (r"\p{Garay}", r"`\p{Garay}`"),
        (r"\pX", r"`\pX`"),
        (r"[\p{Emoji}]", r"`\p{Emoji}`"),
        (r"\p{Greek", "no closing `}`"),
        (r"\p", r"`\p` names no class"),
    ];
    for (pattern, reason) in cases {
        let got = refused(pattern, Refuser::Re2);
        assert!(
            got.contains(reason),
            "{pattern:?}: {got:?} lacks {reason:?}"
        );
    }
}

#[test]
fn what_istios_go_check_refuses_though_re2_takes_it_is_refused_as_istios() {
    for (pattern, reason) in [
        (r"a\C", r"no `\C`"),
        ("(?P<café>x)", "ASCII letters, digits and `_`"),
        ("(?<名>x)", "ASCII letters, digits and `_`"),
        ("a{1234567890}", "`{1234567890}`"),
        ("a{1,1234567890}", "`{1,1234567890}`"),
    ] {
        let got = refused(pattern, Refuser::Istio);
        assert!(
            got.contains(reason),
            "{pattern:?}: {got:?} lacks {reason:?}"
        );
    }
    // RE2's own refusal comes first, wherever it is.
    for pattern in [r"a\C(", "(?P<café>x)**", "a{1234567890}[z-a]"] {
        refused(pattern, Refuser::Re2);
    }
}

#[test]
fn classes_and_escapes_match_what_re2_matches() {
    // (pattern, matched, not matched), each value matched whole.
    let cases: &[(&str, &[&str], &[&str])] = &[
        // Perl classes and \b are ASCII in RE2; \s lacks \v.
        (r"\d", &["0", "9"], &["٣", "a"]),
        (r"\D", &["٣", "a", "\n"], &["5"]),
        (r"\w", &["a", "Z", "_", "0"], &["é", "-"]),
        (r"\W", &["é", "-"], &["a", "_"]),
        (
            r"\s",
            &[" ", "\t", "\n", "\r", "\u{c}"],
            &["\u{b}", "\u{a0}"],
        ),
        (r"\S", &["\u{b}", "\u{a0}", "a"], &[" "]),
        (r"é\b", &[], &["é"]),
        (r"a\b", &["a"], &[]),
        (r"é\B", &["é"], &[]),
        // Unicode classes: the Script property, RE2's C without Cn.
        (r"\p{Greek}", &["α", "Ω"], &["a", "\u{342}"]),
        (r"\p{^Greek}", &["a"], &["α"]),
        (r"\P{^Greek}", &["α"], &["a"]),
        (r"\pL", &["é", "a", "名"], &["1", "-"]),
        (r"\PL", &["1"], &["a"]),
        (r"\p{Lu}", &["A"], &["a"]),
        (r"\pC", &["\u{0}", "\u{ad}", "\u{e000}"], &["\u{378}", "a"]),
        (r"\PC", &["\u{378}", "a"], &["\u{0}"]),
        (r"\p{Cs}", &[], &["a", "\u{d7ff}", "\u{e000}"]),
        (r"\P{Cs}", &["a", "\n"], &[]),
        (r"\p{Any}", &["\n", "a", "\u{10ffff}"], &[""]),
        (r"\P{Any}", &[], &["a"]),
        (r"[\p{Greek}\d]", &["α", "1"], &["a"]),
        (r"[^\P{Greek}]", &["α"], &["a"]),
        // Classes: `]` first, `-` where no range can be, ASCII names.
        ("[]a]", &["]", "a"], &["b"]),
        ("[^]a]", &["b", "\n"], &["]", "a"]),
        (r"[\d-z]", &["-", "5", "z"], &["a"]),
        ("[a-]", &["a", "-"], &["b"]),
        ("[-a]", &["a", "-"], &["b"]),
        ("[a-b-d]", &["a", "b", "-", "d"], &["c"]),
        ("[[:alpha:]]", &["a", "Z"], &["1", "é"]),
        ("[[:^alpha:]]", &["1", "é"], &["a"]),
        ("[[:word:][:space:]]", &["_", "\u{b}"], &["-"]),
        ("[[:alpha]", &["[", ":", "a", "h"], &["b"]),
        ("[[]", &["["], &["]"]),
        (r"[\]]", &["]"], &["\\"]),
        (r"[\x{D800}-\x{E000}]", &["\u{e000}"], &["\u{d7ff}", "a"]),
        (r"\x{D800}", &[], &["a", ""]),
        ("[^a]", &["\n", "b"], &["a"]),
        // Escapes: punctuation is itself; octal, hex, C escapes.
        (r"\_\<\>\ \-\#\&\~\%\{\}", &["_<> -#&~%{}"], &[]),
        (
            r"\x41\x{42}\101\0\12\a\f\v\t\r\n",
            &["ABA\0\n\u{7}\u{c}\u{b}\t\r\n"],
            &[],
        ),
        (r"\1234", &["S4"], &["\u{29c}"]),
        (r"\Qa.b*\E", &["a.b*"], &["axb", "a.bb"]),
        (r"\Qab\E*", &["a", "abbb"], &["abab"]),
        (r"\Qa\\E", &["a\\"], &["a"]),
        (r"\Qa", &["a"], &[]),
        // Case folding, as RE2 folds: Kelvin sign, long s.
        ("(?i)k", &["k", "K", "\u{212a}"], &["x"]),
        ("(?i)[[:^alpha:]]", &["1"], &["k", "\u{212a}", "\u{17f}"]),
        (r"(?i)\W", &["-"], &["\u{212a}", "k"]),
        (r"(?i)\p{Lu}", &["a", "A"], &["1"]),
        (r"(?i)\P{Lu}", &["1"], &["a"]),
    ];
    for &(pattern, yes, no) in cases {
        for value in yes {
            assert!(matches(pattern, value), "{pattern:?} must match {value:?}");
        }
        for value in no {
            assert!(
                !matches(pattern, value),
                "{pattern:?} must not match {value:?}"
            );
        }
    }
}

#[test]
fn groups_flags_and_repetitions_match_what_re2_matches() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        // Flags: scoped to their group, carried across `|`.
        ("(?i)abc", &["ABC", "aBc"], &["abd"]),
        ("a(?i)b|c", &["aB", "C"], &["AB"]),
        ("(?i:a)b", &["Ab"], &["AB"]),
        ("(?i)a(?-i)b", &["Ab"], &["AB"]),
        ("(?i-i)a", &["a"], &["A"]),
        ("(?ii)a", &["A"], &[]),
        ("(?)a", &["a"], &[]),
        ("(?s).", &["\n"], &[]),
        (".", &["a"], &["\n"]),
        ("(?m)a$\n^b", &["a\nb"], &[]),
        ("a$\n^b", &[], &["a\nb"]),
        (r"(?U)a+", &["aaa"], &[""]),
        // Named groups: both spellings, a name starting with a digit.
        ("(?P<name>a)(?<n2>b)", &["ab"], &["a"]),
        ("(?P<1a>x)", &["x"], &[]),
        ("(?P<a>x)(?P<a>y)", &["xy"], &[]),
        // A repetition after a flag setting or an empty \Q\E repeats the
        // expression before it (RE2 reads `a(?i)*` as `a*`).
        ("a(?i)*", &["", "aaa"], &["A"]),
        (r"a*\Q\E*", &["", "aa"], &[]),
        (r"a{2}\Q\E?", &["", "aa"], &["a", "aaa"]),
        (r"a{2}(?i)?", &["", "aa"], &["a"]),
        ("^*a", &["a"], &[]),
        // A `{` that does not start a count is a character.
        ("a{,3}", &["a{,3}"], &["aaa"]),
        ("a{01}", &["a{01}"], &["a"]),
        ("a{2", &["a{2"], &["aa"]),
        ("x{2}{,1}", &["xx{,1}"], &[]),
        ("{}", &["{}"], &[]),
        // Counts up to RE2's limits.
        ("x{0}", &[""], &["x"]),
        ("x{2,}", &["xx", "xxxx"], &["x"]),
        ("x{1,2}?", &["x", "xx"], &["xxx"]),
        ("(a{10}){100}", &[&"a".repeat(1000)], &[&"a".repeat(999)]),
        ("(?:a{0,}){1000}", &["a"], &[]),
        ("x{1000}", &[&"x".repeat(1000)], &[]),
        ("()|a", &["", "a"], &[]),
        ("a||b", &["", "a", "b"], &[]),
    ];
    for &(pattern, yes, no) in cases {
        for value in yes {
            assert!(matches(pattern, value), "{pattern:?} must match {value:?}");
        }
        for value in no {
            assert!(
                !matches(pattern, value),
                "{pattern:?} must not match {value:?}"
            );
        }
    }
}

#[test]
fn re2_names_every_script_and_category_the_table_lists() {
    // Each name RE2 knows must name a class of the regex crate too, or the
    // translation would not compile; and the lists hold what RE2 holds.
    assert_eq!(super::SCRIPTS.len(), 163);
    assert!(super::SCRIPTS.windows(2).all(|w| w[0] < w[1]), "sorted");
    for name in super::SCRIPTS.iter().chain(&super::CATEGORIES) {
        let pattern = format!(r"\p{{{name}}}\P{{{name}}}[\p{{{name}}}x][^\P{{{name}}}]");
        let translated = translate(&pattern).unwrap_or_else(|r| panic!("{name}: {r}"));
        regex::Regex::new(&translated).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn deep_nesting_is_read_without_recursion() {
    // Nesting deeper than any stack could recurse: one explicit stack.
    let depth = 200_000;
    let pattern = format!("{}a{}", "(".repeat(depth), ")*".repeat(depth));
    let translated = translate(&pattern).expect("RE2 takes deep nesting");
    assert_eq!(translated.matches("(?:").count(), depth);
    let unclosed = format!("{}a", "(".repeat(depth));
    assert_eq!(
        refused(&unclosed, Refuser::Re2),
        "a group is not closed: missing `)`"
    );
}

#[test]
fn reading_is_linear_in_the_pattern() {
    // Patterns that make a naive reader rescan the rest of the pattern at
    // each step (RE2 looks for `:]`, `}` and `>` to the end): a megabyte
    // each, read well within the limit in a debug build (a quadratic reader
    // takes hours).
    let limit = Duration::from_secs(10);
    let n = 200_000;
    let patterns = [
        format!("[{}]", "[:".repeat(n)),
        format!("[{}a:]]", "[:".repeat(n)),
        "(?P<a>x)".repeat(n / 2),
        format!("a{}", r"*\Q\E".repeat(n)),
        format!("[{}]", r"\p{L}".repeat(n)),
        "x{2,3}(".repeat(n / 2) + &")".repeat(n / 2),
    ];
    for pattern in &patterns {
        let start = Instant::now();
        let _ = translate(pattern);
        let took = start.elapsed();
        assert!(
            took < limit,
            "{}… took {took:?}",
            &pattern[..20.min(pattern.len())]
        );
    }
}
