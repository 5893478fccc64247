//! Bounded tests of large scenarios: each count the adversarial trial of
//! issue 14 found quadratic, at the size it reported, through the library in
//! a debug build, within a limit many times what a linear pass takes there
//! (a pass quadratic in the count takes many minutes at these sizes). The
//! growth itself is measured by the `quadratic` group of benches/pipeline.rs.

use std::time::{Duration, Instant};

use meshgen::diagnostic::Diagnostic;
use meshgen::model::Scenario;
use meshgen::plan::DiffSummary;
use meshgen::render::Renderer;
use meshgen::source::Source;

use crate::generate;

/// The limit of a stage that reads or writes the whole file: a minute, for a
/// debug build on a busy machine (these take up to 10 s there).
const WHOLE: Duration = Duration::from_secs(60);

/// The limit of a stage that only looks at the parts of the model the count
/// is about (these take well under a second).
const PART: Duration = Duration::from_secs(5);

/// Runs `stage`, failing when it takes longer than `limit`.
#[track_caller]
fn bounded<T>(what: &str, limit: Duration, stage: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = stage();
    let took = start.elapsed();
    assert!(took < limit, "{what} took {took:?} (limit {limit:?})");
    out
}

/// The model of `text`, which must be valid, checked within the limit.
#[track_caller]
fn valid(what: &str, text: String) -> Scenario {
    let source = Source::new(format!("{what}.toml"), text);
    let checked = bounded(&format!("check of {what}"), WHOLE, || {
        meshgen::scenario::check(&source)
    });
    let errors: Vec<&Diagnostic> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {:?}",
        &errors[..errors.len().min(3)]
    );
    checked.scenario.expect("a valid scenario has a model")
}

/// Renders every resource of `scenario` within the limit (each document is
/// parsed back, its keys checked for repeats), then its PLAN.md.
#[track_caller]
fn rendered(what: &str, scenario: &Scenario) -> String {
    let renderer = Renderer::new(None).expect("shipped templates");
    let build = bounded(&format!("rendering of {what}"), WHOLE, || {
        meshgen::bundle::bundle(&renderer, scenario).expect("renders")
    });
    bounded(&format!("the plan of {what}"), WHOLE, || {
        meshgen::plan::plan(scenario, &build)
    })
}

#[test]
fn eighty_thousand_header_matches_in_one_rule_are_checked_rendered_and_planned_in_bounded_time() {
    let scenario = valid("headers", generate::headers_in_one_rule(80_000));
    assert_eq!(scenario.steps[0].routes[0].rules[0].headers.len(), 80_000);
    let plan = rendered("headers", &scenario);
    assert!(plan.contains(", h079999=v | 1 | 200: web v2 |\n"));
    // The plan's who-gets-what of the rule's class.
    let classes = meshgen::routing::classes(&scenario);
    let audiences = bounded("who gets what", PART, || {
        meshgen::routing::audiences(&scenario.steps[0].routes[0], &classes)
    });
    assert_eq!(audiences.len(), 2);
}

#[test]
fn twenty_thousand_rules_in_one_step_are_checked_and_planned_in_bounded_time() {
    let scenario = valid("rules", generate::rules_in_one_step(20_000));
    let routing = &scenario.steps[0].routes[0];
    assert_eq!(routing.rules.len(), 20_001);
    let classes = bounded("the classes", PART, || meshgen::routing::classes(&scenario));
    assert_eq!(classes.list().len(), 20_001);
    // Each class goes to its own rule: every class differs from everyone else.
    let audiences = bounded("who gets what", PART, || {
        meshgen::routing::audiences(routing, &classes)
    });
    // The build check finds the same classes first (it stops there: no
    // service declares calls).
    let findings = bounded("the build check", PART, || {
        meshgen::explain::check(&scenario)
    });
    assert!(findings.is_empty());
    assert_eq!(audiences.len(), 20_001);
    // The plan predicts the outcome of every class, the last one too.
    let plan = rendered("rules", &scenario);
    assert!(plan.contains("\n| x-id=19999 | 1 | 200: web v2 |\n"));
    assert!(plan.contains("\n| everyone else | 1 | 200: web v1 |\n"));
}

#[test]
fn ten_thousand_services_each_routing_its_own_user_are_planned_in_bounded_time() {
    let scenario = valid("users", generate::a_user_per_service(10_000));
    let classes = bounded("the classes", PART, || meshgen::routing::classes(&scenario));
    assert_eq!(classes.list().len(), 10_001);
    // Each service tells its own user apart, and only that one: reading
    // every class for every service took minutes.
    let routes = &scenario.steps[0].routes;
    let audiences = bounded("who gets what", PART, || {
        (routes.iter())
            .map(|r| meshgen::routing::audiences(r, &classes))
            .collect::<Vec<_>>()
    });
    for (i, groups) in audiences.iter().enumerate() {
        let labels: Vec<&str> = groups.iter().map(|(label, _)| label.as_str()).collect();
        assert_eq!(
            labels,
            [format!("end-user: u{i:05}").as_str(), "everyone else"]
        );
    }
    let renderer = Renderer::new(None).expect("shipped templates");
    let build = meshgen::bundle::bundle(&renderer, &scenario).expect("renders");
    let plan = bounded("the plan of users", WHOLE, || {
        meshgen::plan::plan(&scenario, &build)
    });
    assert!(plan.contains("| end-user: u09999 |"));
    // Its table of 20,000 rows is handed to the layout (which holds it
    // packed) in pieces of a few hundred KB, not whole.
    let mut pieces: Vec<String> = Vec::new();
    meshgen::plan::plan_with_diffs(
        &scenario,
        &build,
        |k| DiffSummary::of(&build.steps[k].diff()),
        |piece| pieces.push(piece),
    );
    let largest = pieces.iter().map(String::len).max().unwrap_or(0);
    assert!(plan.len() > 1 << 19, "a table larger than a piece");
    assert!(
        pieces.len() > 3 && largest < 1 << 19,
        "{} pieces, {largest} bytes",
        pieces.len()
    );
    assert_eq!(pieces.concat(), plan);
}

#[test]
fn a_hundred_thousand_unknown_keys_are_reported_in_bounded_time() {
    let source = Source::new("unknown.toml", generate::unknown_keys(100_000));
    let checked = bounded("check", WHOLE, || meshgen::scenario::check(&source));
    assert_eq!(checked.diagnostics.len(), 100_000);
    let last = checked.diagnostics.last().expect("diagnostics");
    assert_eq!(
        last.headline(&source),
        "unknown.toml:100005:1: error: unknown key `x099999` in [namespace]"
    );
}

#[test]
fn a_hundred_thousand_errors_on_one_long_line_find_their_columns_in_bounded_time() {
    let source = Source::new("labels.toml", generate::wrong_labels_on_one_line(100_000));
    let checked = bounded("check", WHOLE, || meshgen::scenario::check(&source));
    assert_eq!(checked.diagnostics.len(), 100_000);
    let headlines = bounded("headlines", WHOLE, || {
        (checked.diagnostics.iter())
            .map(|d| d.headline(&source))
            .collect::<Vec<_>>()
    });
    // `labels = { ` is 11 characters; each entry `l000000 = 1, ` is 13.
    let column = 12 + 99_999 * 13 + 10;
    assert_eq!(
        headlines.last().map(String::as_str),
        Some(
            format!(
                "labels.toml:6:{column}: error: `labels.l099999` must be a string, not the \
                 integer 1"
            )
            .as_str()
        )
    );
}

#[test]
fn columns_far_into_a_line_of_twenty_megabytes_are_found_in_bounded_time() {
    // 1 Mi two-byte characters, then 18 MiB of one-byte ones, on one line.
    let line = "é".repeat(1 << 20) + &"a".repeat(18 << 20);
    let source = Source::new("long.toml", line);
    let end = source.text().len();
    // About 400 MB of counting in all (4 s in a debug build): WHOLE's limit,
    // where counting from the line's start would take hours.
    let widest = bounded("columns", WHOLE, || {
        (0..200_000)
            .map(|i| source.line_col(end - i % 1000).1)
            .max()
    });
    assert_eq!(widest, Some((1 << 20) + (18 << 20) + 1));
}

#[test]
fn two_hundred_thousand_namespace_labels_are_checked_and_rendered_in_bounded_time() {
    for numeric in [false, true] {
        let scenario = valid("labels", generate::namespace_labels(200_000, numeric));
        // And meshgen's own injection label.
        assert_eq!(scenario.namespace.labels.len(), 200_001);
        rendered("labels", &scenario);
    }
}
