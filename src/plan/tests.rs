use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use super::markdown::{AUTOLINK_BREAK, one_line};
use super::*;
use crate::scenario::valid_model as model;

/// Markdown that tries to be every block and inline construct at once.
const HOSTILE: &str = "~~~\n# heading\n- item\n+ plus\n* star\n1. one\n2) two\n> quote\n\
    ===\n---\n___\n    indented code\n\t<div>html block</div>\n| a | b |\n|---|---|\n\
    :--|--:\n[ref]: http://host/ref\n[^note]: footnote\n\n\n\
    ![img](http://host/x.png) [t](http://host/u) <http://host/auto> <b>tag</b> \
    https://host.example/x www.example.com **strong** _em_ ~~strike~~ `code` \
    a|b &amp; $x$ \\* trailing \\\n```\nclosing #\n";

/// The plan of a scenario whose every free-text field is `HOSTILE` or
/// another attempt at markup: descriptions, header names and values
/// (exact, prefix, regex), URIs of a rule and of the gateway, and a
/// gateway name that looks like a web address. `lone` is a second entry
/// point, so the predicted outcome's table names the request per row.
fn hostile_plan() -> String {
    hostile_plan_with(LONE)
}

/// A second service no one calls: a second entry point.
const LONE: &str =
    "[[services]]\nname = \"lone\"\nport = 80\n[services.versions.v1]\nimage = \"lone:1\"\n";

/// `hostile_plan`, with `extra` (TOML) after its first service.
fn hostile_plan_with(extra: &str) -> String {
    let text = format!(
        r#"
name = "t"
description = {hostile}
[mesh]
version = "1.24.2"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
  [services.versions.v1]
  image = "front:1"
  [services.versions.v2]
  image = "front:2"
{extra}
[gateway]
name = "www.gw.example.com"
[[gateway.routes]]
service = "front"
uris = [ {{ exact = "/p`x``|<b>*y*" }} ]
[[steps]]
name = "s"
description = {hostile}
[[steps.routes]]
service = "front"
headers = {{ "~~x~~" = "![i](http://host/x.png)", "*h*" = {{ prefix = "[t](http://host/u)" }} }}
to = "v2"
[[steps.routes]]
service = "front"
headers = {{ "x_y_" = {{ regex = "![x](http://h/y)|<b>" }} }}
uri = {{ exact = "/a`b`|<c>&amp;" }}
to = "v2"
[[steps.routes]]
service = "front"
to = "v1"
"#,
        hostile = toml_string(HOSTILE)
    );
    let scenario = model(&text);
    let renderer = crate::render::Renderer::new(None).expect("the shipped templates load");
    let build = crate::bundle::bundle(&renderer, &scenario).expect("the scenario builds");
    plan(&scenario, &build)
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// GitHub's Markdown, as far as pulldown-cmark reads it: CommonMark with
/// GFM tables, strikethrough, footnotes and `$` math.
fn events(markdown: &str) -> Vec<Event<'_>> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_MATH
        | Options::ENABLE_GFM;
    Parser::new_ext(markdown, options).collect()
}

/// The text of each paragraph (soft breaks as spaces).
fn paragraph_texts(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for event in events(markdown) {
        match event {
            Event::Start(Tag::Paragraph) => current = Some(String::new()),
            Event::End(TagEnd::Paragraph) => out.extend(current.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = &mut current {
                    c.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(c) = &mut current {
                    c.push(' ');
                }
            }
            _ => {}
        }
    }
    out
}

/// The text of every table cell, row by row.
fn table_cells(markdown: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;
    for event in events(markdown) {
        match event {
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => row.extend(cell.take()),
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => rows.push(std::mem::take(&mut row)),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = &mut cell {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    rows
}

/// Every structure of the page that scenario text could have made: each
/// heading, list, block quote, code block, HTML, link, image, emphasis,
/// strikethrough, math, footnote and table, in order.
fn structure(markdown: &str) -> Vec<String> {
    events(markdown)
        .into_iter()
        .filter_map(|event| match event {
            Event::Start(Tag::Heading { level, .. }) => Some(format!("{level}")),
            Event::Start(Tag::List(start)) => Some(format!("list {start:?}")),
            Event::Start(Tag::BlockQuote(_)) => Some("quote".to_owned()),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                Some(format!("fence {info}"))
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)) => {
                Some("indented code".to_owned())
            }
            Event::Start(Tag::HtmlBlock) => Some("html block".to_owned()),
            // Only `inline_text`'s own break of e-mail autolinks.
            Event::InlineHtml(html) if html.as_ref() == AUTOLINK_BREAK => None,
            Event::InlineHtml(html) => Some(format!("inline html {html}")),
            Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
            Event::Start(Tag::Image { dest_url, .. }) => Some(format!("image {dest_url}")),
            Event::Start(Tag::Emphasis) => Some("emphasis".to_owned()),
            Event::Start(Tag::Strikethrough) => Some("strikethrough".to_owned()),
            Event::InlineMath(m) | Event::DisplayMath(m) => Some(format!("math {m}")),
            Event::FootnoteReference(f) => Some(format!("footnote {f}")),
            Event::Start(Tag::FootnoteDefinition(f)) => Some(format!("footnote {f}")),
            Event::Start(Tag::Table(_)) => Some("table".to_owned()),
            _ => None,
        })
        .collect()
}

/// The structure `hostile_plan` must have: only the page's own.
fn expected_structure() -> Vec<String> {
    [
        "h1",
        "h2",
        "table",
        "h2",
        "h3",
        "table",
        "fence mermaid",
        "table",
        "html block",
        "fence diff",
        "html block",
        "h2",
        "list Some(1)",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn the_reference_description_comes_out_unchanged() {
    let text = "Istio Bookinfo traffic management walkthrough (Istio 1.5.1)";
    assert_eq!(inline_text(text), text);
    assert_eq!(paragraphs(text), format!("{text}\n"));
    let prose = "traffic-management for v1.15: 50% to v3, see the wiki (or not)";
    assert_eq!(inline_text(prose), prose);
}

#[test]
fn a_description_cannot_open_a_code_fence() {
    assert_eq!(paragraphs("~~~"), "\\~\\~\\~\n");
    assert_eq!(paragraphs("```"), "\\`\\`\\`\n");
    let plan = hostile_plan();
    let third = plan.lines().nth(2).expect("a description line");
    assert_eq!(third, "\\~\\~\\~");
    assert!(plan.contains("\n## Install order\n"), "{plan}");
}

#[test]
fn no_scenario_text_adds_structure_to_the_plan() {
    for plan in [hostile_plan(), hostile_plan_with("")] {
        assert_eq!(structure(&plan), expected_structure(), "{plan}");
    }
}

#[test]
fn a_multi_line_description_reads_back_as_its_own_text() {
    let plan = hostile_plan();
    let expected: Vec<String> = HOSTILE
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    let texts = paragraph_texts(&plan);
    let got: Vec<String> = texts[..expected.len()]
        .iter()
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(got, expected, "{plan}");
}

#[test]
fn block_starts_at_line_beginnings_are_neutralised() {
    let cases = [
        ("# heading", "\\# heading\n"),
        ("- item", "\\- item\n"),
        ("+ item", "\\+ item\n"),
        ("* item", "\\* item\n"),
        ("1. one", "1\\. one\n"),
        ("12) twelve", "12\\) twelve\n"),
        ("1.5.1 ships", "1.5.1 ships\n"),
        ("> quote", "\\> quote\n"),
        ("a\n===", "a\n\\===\n"),
        ("a\n---", "a\n\\---\n"),
        ("    indented", "indented\n"),
        ("<div>", "\\<div\\>\n"),
        (":--|--:", "\\:--\\|--:\n"),
        ("one\n\n\n\ntwo\n", "one\n\ntwo\n"),
        ("trailing  \nbreak\\", "trailing\nbreak\\\\\n"),
        ("", ""),
        (" \n\t\n", ""),
    ];
    for (text, expected) in cases {
        assert_eq!(paragraphs(text), expected, "{text:?}");
    }
}

#[test]
fn a_step_description_stays_one_heading_line() {
    let plan = hostile_plan();
    let heading = plan
        .lines()
        .find(|l| l.starts_with("### 1. "))
        .expect("the step heading");
    assert!(
        heading.starts_with("### 1. `s`: \\~\\~\\~ \\# heading - item"),
        "{heading}"
    );
    assert!(heading.ends_with("closing \\#"), "{heading}");
    assert_eq!(inline_text("a\n   b\r\nc\td"), "a b c d");
}

#[test]
fn link_and_image_syntax_in_a_header_value_renders_as_text() {
    let plan = hostile_plan();
    let cells: Vec<String> = table_cells(&plan).concat();
    for expected in [
        "~~x~~: ![i](http://host/x.png)",
        "*h*: [t](http://host/u)*",
        "x_y_: ~/![x](http://h/y)|<b>/",
    ] {
        assert!(
            cells.iter().any(|c| c.contains(expected)),
            "{expected} not in {cells:#?}"
        );
    }
    assert!(
        plan.contains("\\~\\~x\\~\\~: \\!\\[i\\](http\\://host/x.png)"),
        "{plan}"
    );
}

#[test]
fn a_uri_match_renders_as_text_in_its_cell() {
    let cells: Vec<String> = table_cells(&hostile_plan()).concat();
    assert!(
        cells.iter().any(|c| c == "uri /a`b`|<c>&amp;"),
        "{cells:#?}"
    );
}

#[test]
fn the_gateway_request_is_one_code_span() {
    let plan = hostile_plan_with("");
    let code: Vec<String> = events(&plan)
        .into_iter()
        .filter_map(|e| match e {
            Event::Code(c) => Some(c.into_string()),
            _ => None,
        })
        .collect();
    assert!(code.contains(&"GET /p`x``|<b>*y*".to_owned()), "{code:#?}");
    assert!(code.contains(&"www.gw.example.com".to_owned()), "{code:#?}");
    assert!(
        plan.contains("entering at gateway www\\.gw.example.com"),
        "{plan}"
    );
}

#[test]
fn the_request_in_a_predicted_outcome_cell_is_one_code_span() {
    let cells: Vec<String> = table_cells(&hostile_plan()).concat();
    assert!(
        cells
            .iter()
            .any(|c| c == "everyone else, GET /p`x``|<b>*y* at lone"),
        "{cells:#?}"
    );
}

#[test]
fn autolink_starts_are_broken() {
    assert_eq!(
        inline_text("see https://x.example"),
        "see https\\://x.example"
    );
    assert_eq!(inline_text("WWW.example.com"), "WWW\\.example.com");
    assert_eq!(inline_text("<http://x>"), "\\<http\\://x\\>");
    assert_eq!(inline_text("véwww.x"), "véwww\\.x");
    assert_eq!(
        inline_text("e-mail ops@example.com"),
        "e-mail ops<!-- -->@example.com"
    );
    assert_eq!(
        inline_text("mailto:ops@example.com, MailTo:x_@y.z"),
        "mailto\\:ops<!-- -->@example.com, MailTo\\:x\\_<!-- -->@y.z"
    );
    assert_eq!(
        inline_text("xmpp:ops@example.com/res XMPP:a@b.c"),
        "xmpp\\:ops<!-- -->@example.com/res XMPP\\:a<!-- -->@b.c"
    );
    // No address can end before these: nothing to break.
    assert_eq!(
        inline_text("@ alone, (@x), é@x.y, x:y"),
        "@ alone, (@x), é@x.y, x:y"
    );
}

/// The plan's source with every code span, code block and HTML block
/// blanked out: what GitHub's Markdown reads as text.
fn text_outside_code(markdown: &str) -> String {
    let mut text = markdown.as_bytes().to_vec();
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_MATH
        | Options::ENABLE_GFM;
    let mut blank = |range: std::ops::Range<usize>| {
        for b in &mut text[range] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match event {
            Event::Code(_) | Event::Html(_) => blank(range),
            Event::Start(Tag::CodeBlock(_) | Tag::HtmlBlock) => blank(range),
            _ => {}
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn no_autolink_form_is_left_unescaped_in_scenario_text() {
    // pulldown-cmark does not implement GFM's extended autolinks (bare
    // e-mail addresses, mailto:, xmpp:, http://, www.), so this reads the
    // Markdown itself: outside code, no autolink form is left whole.
    let forms = "mail ops@example.com, mailto:ops@example.com, XMPP:ops@example.com/home, \
                 http://x.example, HTTPS://y.example/p, www.z.example, a+b.c-d_e@f-g.example";
    let description = serde_json::to_string(forms).expect("a string");
    let plan = hostile_plan_with(&format!(
        "{LONE}[[steps]]\nname = \"mail\"\ndescription = {description}\n\
         [[steps.routes]]\nservice = \"front\"\n\
         headers = {{ \"x-mail\" = {description} }}\nto = \"v1\"\n"
    ));
    let text = text_outside_code(&plan);
    let bytes = text.as_bytes();
    let escaped = |i: usize| i > 0 && bytes[i - 1] == b'\\';
    let lower = text.to_ascii_lowercase();
    let mut checked = 0;
    for (i, c) in text.char_indices() {
        // GFM matches an e-mail address after decoding escapes: only a
        // node that is not text (the break) between it and the `@` stops it.
        if c == '@' {
            let before = text[..i].trim_end_matches(AUTOLINK_BREAK);
            let last = before.chars().next_back().unwrap_or(' ');
            let broken = text[..i].ends_with(AUTOLINK_BREAK);
            let line = text[..i].matches('\n').count() + 1;
            assert!(
                broken || !(last.is_ascii_alphanumeric() || "._+-\\".contains(last)),
                "an e-mail address can end before the @ at line {line}:\n{plan}"
            );
            checked += 1;
            continue;
        }
        let form = match c {
            ':' if lower[i + 1..].starts_with("//") => Some("://"),
            ':' if lower[..i].ends_with("mailto") => Some("mailto:"),
            ':' if lower[..i].ends_with("xmpp") => Some("xmpp:"),
            '.' if lower[..i].ends_with("www") => Some("www."),
            _ => None,
        };
        if let Some(form) = form {
            let line = text[..i].matches('\n').count() + 1;
            assert!(escaped(i), "an unescaped {form} at line {line}:\n{plan}");
            checked += 1;
        }
    }
    // Seven forms in the step's description, the header value's row of
    // the step's table and the hostile description's addresses.
    assert!(
        checked >= 20,
        "only {checked} autolink forms found:\n{plan}"
    );
}

#[test]
fn inline_markup_is_escaped() {
    let cases = [
        ("a|b", "a\\|b"),
        ("<script>", "\\<script\\>"),
        ("![](http://h/x.png)", "\\!\\[\\](http\\://h/x.png)"),
        ("**b** _e_ ~~s~~", "\\*\\*b\\*\\* \\_e\\_ \\~\\~s\\~\\~"),
        ("`c` &amp; $x$ \\", "\\`c\\` \\&amp; \\$x\\$ \\\\"),
        ("closing #", "closing \\#"),
    ];
    for (text, expected) in cases {
        assert_eq!(inline_text(text), expected, "{text:?}");
    }
}

#[test]
fn code_spans_outgrow_backtick_runs() {
    let cases = [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`a", "`` `a ``"),
        ("a``", "``` a`` ```"),
        (" a ", "`  a  `"),
        ("a\nb", "`a b`"),
        ("", "` `"),
    ];
    for (text, expected) in cases {
        assert_eq!(code_span(text), expected, "{text:?}");
        let code: Vec<String> = events(expected)
            .into_iter()
            .filter_map(|e| match e {
                Event::Code(c) => Some(c.into_string()),
                _ => None,
            })
            .collect();
        let want = if text.is_empty() {
            " "
        } else {
            &one_line(text)
        };
        assert_eq!(code, [want], "{expected:?}");
    }
}

#[test]
fn a_code_span_in_a_table_cell_keeps_its_pipes() {
    for text in ["GET /a|b", "GET /a\\|b", "GET `|`"] {
        let table = format!(
            "| x | y |\n|---|---|\n| {} | z |\n",
            code_span_in_cell(text)
        );
        assert_eq!(
            table_cells(&table),
            [vec!["x", "y"], vec![text, "z"]],
            "{table}"
        );
    }
}

#[test]
fn cells_cannot_break_the_table() {
    let table = format!(
        "| x | y |\n|---|---|\n| {} | z |\n",
        inline_text("a|b\nc \\| d")
    );
    assert_eq!(
        table_cells(&table),
        [vec!["x", "y"], vec!["a|b c \\| d", "z"]]
    );
}

#[test]
fn fences_outgrow_backtick_runs() {
    assert_eq!(fence_for("plain"), "```");
    assert_eq!(fence_for("a ```` b"), "`````");
    assert_eq!(fence_for("``` then ````` at the end `````"), "``````");
}

#[test]
fn a_diff_summary_holds_the_text_up_to_the_inline_limit_and_then_only_its_size() {
    let line = "+x\n";
    let mut summary = DiffSummary::default();
    for _ in 0..INLINE_DIFF_BYTES / line.len() {
        summary.add(line);
    }
    assert_eq!(
        summary.bytes,
        INLINE_DIFF_BYTES - INLINE_DIFF_BYTES % line.len()
    );
    assert_eq!(
        summary.inline.len(),
        summary.bytes,
        "at the limit it is all inline"
    );
    summary.add(line);
    summary.add(line);
    assert!(summary.bytes > INLINE_DIFF_BYTES);
    assert_eq!(summary.inline, "", "past the limit the text is dropped");
    assert_eq!(summary.lines, INLINE_DIFF_BYTES / line.len() + 2);
    assert_eq!(
        summary.lines,
        DiffSummary::of(&line.repeat(summary.lines)).lines
    );
}
