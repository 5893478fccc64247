//! The outcome model's unit tests: Bookinfo's walkthrough, and each rule of
//! docs/explain.md on a small scenario.

use super::text::latency;
use super::*;
use crate::model::Call;
use crate::scenario::valid_model as model;

const BOOKINFO: &str = include_str!("../../scenarios/bookinfo.toml");

/// `front` (v1) calls `back` with `budget`; `back` has v1 and v2; one
/// step with `routes` (TOML of `[[steps.routes]]` tables).
fn two_services(budget: &str, routes: &str) -> Scenario {
    model(&format!(
        r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
calls = [ {{ service = "back"{budget} }} ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "back"
port = 80
  [services.versions.v1]
  image = "x/back:1"
  [services.versions.v2]
  image = "x/back:2"
[[steps]]
name = "s"
{routes}
"#
    ))
}

fn request(headers: &[(&str, &str)]) -> Request {
    Request {
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), HeaderValue::Literal((*v).to_owned())))
            .collect(),
        uri: "/productpage".to_owned(),
        method: "GET".to_owned(),
    }
}

fn run(
    scenario: &Scenario,
    step: &str,
    headers: &[(&str, &str)],
    entry: Option<&Entry>,
) -> Explanation {
    explain(scenario, step, &request(headers), entry).expect("explains")
}

fn front(scenario: &Scenario) -> Explanation {
    run(
        scenario,
        "s",
        &[],
        Some(&Entry::Service("front".to_owned())),
    )
}

/// (probability, result, latency) of every outcome.
fn summary(e: &Explanation) -> Vec<(String, &'static str, String)> {
    e.outcomes
        .iter()
        .map(|o| (probability(o.probability), o.result, o.latency.clone()))
        .collect()
}

#[test]
fn the_fold_takes_each_services_routing_from_the_last_step_naming_it() {
    let bookinfo = model(BOOKINFO);
    let ratings = |k| {
        bookinfo
            .routing_state(k)
            .get("ratings")
            .map(|r| r.rules.len())
    };
    // all-v1 (1 rule), jason-v2 leaves ratings alone, ratings-delay (2 rules).
    assert_eq!(
        [ratings(0), ratings(1), ratings(2)],
        [Some(1), Some(1), Some(2)]
    );
    let state = bookinfo.routing_state(2);
    let reviews = state.get("reviews").expect("in force");
    assert_eq!(
        reviews.rules.len(),
        2,
        "jason-v2's reviews routing is still in force"
    );
}

#[test]
fn bookinfo_jason_v2_sends_jason_to_reviews_v2_and_everyone_else_to_v1() {
    let bookinfo = model(BOOKINFO);
    let jason = run(&bookinfo, "jason-v2", &[("end-user", "jason")], None);
    assert_eq!(jason.entry, "gateway bookinfo-gateway");
    assert_eq!(jason.outcomes.len(), 1);
    assert_eq!(
        jason.outcomes[0].served,
        ["productpage v1", "details v1", "reviews v2", "ratings v1"]
    );
    let anyone = run(&bookinfo, "jason-v2", &[], None);
    assert_eq!(
        anyone.outcomes[0].served,
        ["productpage v1", "details v1", "reviews v1"]
    );
}

#[test]
fn bookinfo_ratings_delay_makes_productpage_give_up_on_reviews_after_two_3s_attempts() {
    let bookinfo = model(BOOKINFO);
    let jason = run(&bookinfo, "ratings-delay", &[("end-user", "jason")], None);
    assert_eq!(summary(&jason), [("1".to_owned(), "ok", "6s".to_owned())]);
    let page = &jason.outcomes[0];
    assert_eq!(page.served, ["productpage v1", "details v1"]);
    assert_eq!(
        page.degraded,
        [Degradation {
            caller: "productpage".to_owned(),
            callee: "reviews".to_owned(),
            failure: "timed out: 2 attempts x 3s; reviews answers after 7s".to_owned(),
        }]
    );
    // reviews v2 itself waits the 7 s for ratings: its 10 s budget holds.
    let reviews = jason.trace().branches()[0].calls()[1];
    let ratings = reviews.branches()[0].calls()[0];
    assert_eq!(ratings.outcomes()[0].latency, "7s");
    assert_eq!(ratings.outcomes()[0].result, "ok");
    let anyone = run(&bookinfo, "ratings-delay", &[], None);
    assert_eq!(summary(&anyone), [("1".to_owned(), "ok", "0s".to_owned())]);
    assert!(anyone.outcomes[0].degraded.is_empty());
}

#[test]
fn bookinfo_ratings_abort_leaves_reviews_without_ratings_for_jason_only() {
    let bookinfo = model(BOOKINFO);
    let jason = run(&bookinfo, "ratings-abort", &[("end-user", "jason")], None);
    let page = &jason.outcomes[0];
    assert_eq!((page.result, page.status), ("ok", Some(200)));
    assert_eq!(page.served, ["productpage v1", "details v1", "reviews v2"]);
    assert_eq!(page.degraded.len(), 1);
    assert_eq!(
        (
            page.degraded[0].caller.as_str(),
            page.degraded[0].callee.as_str()
        ),
        ("reviews", "ratings")
    );
    assert!(
        page.degraded[0]
            .failure
            .starts_with("HTTP 500 from ratings")
    );
    let anyone = run(&bookinfo, "ratings-abort", &[], None);
    assert!(anyone.outcomes[0].degraded.is_empty());
}

#[test]
fn bookinfo_reviews_50_v3_serves_v1_or_v3_with_even_odds() {
    let bookinfo = model(BOOKINFO);
    let e = run(&bookinfo, "reviews-50-v3", &[], None);
    let served: Vec<(String, Vec<String>)> = e
        .outcomes
        .iter()
        .map(|o| (probability(o.probability), o.served.clone()))
        .collect();
    assert_eq!(served.len(), 2);
    assert!(served.contains(&(
        "0.5".to_owned(),
        vec![
            "productpage v1".into(),
            "details v1".into(),
            "reviews v1".into()
        ]
    )));
    assert!(served.contains(&(
        "0.5".to_owned(),
        vec![
            "productpage v1".into(),
            "details v1".into(),
            "reviews v3".into(),
            "ratings v1".into()
        ]
    )));
}

#[test]
fn the_build_check_warns_about_the_two_bookinfo_fault_steps_for_jason_only() {
    let messages: Vec<String> = check(&model(BOOKINFO))
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert_eq!(
        messages,
        [
            "step ratings-delay: the 7s delay on ratings exceeds productpage's budget for \
             reviews (2 attempts x 3s): end-user=jason will see an error",
            "step ratings-abort: the HTTP 500 abort on ratings makes the call from reviews to \
             ratings fail with HTTP 500 (1 attempt x 10s): end-user=jason will see an error",
        ]
    );
}

/// `front` (delayed 500ms for 10% of requests) calls `back` (delayed
/// 500ms for half of them): the two single delays cost the sender the same.
const TWO_PARTIAL_DELAYS: &str = "[[steps.routes]]\nservice = \"front\"\nto = \"v1\"\n\
    delay = \"500ms\"\ndelay_percent = 10\n[[steps.routes]]\nservice = \"back\"\n\
    to = \"v1\"\ndelay = \"500ms\"\ndelay_percent = 50";

#[test]
fn outcomes_that_read_the_same_are_merged_whatever_caused_them() {
    let e = front(&two_services("", TWO_PARTIAL_DELAYS));
    let got: Vec<(String, String)> = e
        .outcomes
        .iter()
        .map(|o| (probability(o.probability), o.summary()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "0.5".to_owned(),
                "200 after 500ms: front v1, back v1".to_owned()
            ),
            ("0.45".to_owned(), "200: front v1, back v1".to_owned()),
            (
                "0.05".to_owned(),
                "200 after 1s: front v1, back v1".to_owned()
            ),
        ]
    );
    let text = render_text(&e);
    assert_eq!(text.matches("p=0.5: 200 after 500ms").count(), 1, "{text}");
}

#[test]
fn a_weighted_split_gives_each_version_its_weight() {
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nto = { v1 = 20, v2 = 80 }",
    );
    let e = front(&s);
    let got: Vec<(String, Vec<String>)> = e
        .outcomes
        .iter()
        .map(|o| (probability(o.probability), o.served.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "0.8".to_owned(),
                vec!["front v1".to_owned(), "back v2".to_owned()]
            ),
            (
                "0.2".to_owned(),
                vec!["front v1".to_owned(), "back v1".to_owned()]
            ),
        ]
    );
}

#[test]
fn a_mirror_never_changes_the_outcome() {
    let plain = two_services(
        ", timeout = \"1s\"",
        "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"2s\"\ndelay_percent = 50",
    );
    let mirrored = two_services(
        ", timeout = \"1s\"",
        "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"2s\"\ndelay_percent = 50\n\
         mirror = \"v2\"\nmirror_percent = 100",
    );
    let (a, b) = (front(&plain), front(&mirrored));
    assert_eq!(a.outcomes, b.outcomes);
    assert_eq!(
        b.trace().branches()[0].calls()[0].mirror(),
        Some("v2 (100%)")
    );
}

#[test]
fn client_attempts_rescue_a_partial_abort() {
    // 50% abort, 3 attempts of the caller: 1 - 0.5^3 succeed.
    let s = two_services(
        ", attempts = 3",
        "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\nabort = 503\nabort_percent = 50",
    );
    let e = front(&s);
    let ok: f64 = e
        .outcomes
        .iter()
        .filter(|o| o.degraded.is_empty())
        .map(|o| o.probability)
        .sum();
    assert!((ok - (1.0 - 0.5f64.powi(3))).abs() < 1e-12, "{ok}");
    assert_eq!(probability(ok), "0.875");
}

#[test]
fn route_retries_do_not_retry_an_injected_abort() {
    // Istio: faults are applied before the router; its retries never see them.
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\nabort = 503\nabort_percent = 50\n\
         retries = 2\nretry_on = \"5xx\"",
    );
    let e = front(&s);
    let ok: f64 = e
        .outcomes
        .iter()
        .filter(|o| o.degraded.is_empty())
        .map(|o| o.probability)
        .sum();
    assert_eq!(probability(ok), "0.5");
}

#[test]
fn route_retries_with_a_per_try_timeout_rescue_a_partial_delay_downstream() {
    // front -> back (retries 2 x 1s on 5xx) -> v2 of back is slow half the
    // time because its own callee is delayed.
    let s = model(
        r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "back"
port = 80
calls = [ { service = "deep" } ]
  [services.versions.v1]
  image = "x/back:1"
[[services]]
name = "deep"
port = 80
  [services.versions.v1]
  image = "x/deep:1"
[[steps]]
name = "s"
[[steps.routes]]
service = "back"
to = "v1"
retries = 2
per_try_timeout = "1s"
retry_on = "5xx"
[[steps.routes]]
service = "deep"
to = "v1"
delay = "5s"
delay_percent = 50
"#,
    );
    let e = run(&s, "s", &[], Some(&Entry::Service("back".to_owned())));
    let got = summary(&e);
    // Success on the first try (0s), or after one or two timed-out tries.
    let ok: f64 = e
        .outcomes
        .iter()
        .filter(|o| o.result == "ok")
        .map(|o| o.probability)
        .sum();
    assert_eq!(probability(ok), "0.875", "{got:?}");
    let failed: Vec<&Outcome> = e.outcomes.iter().filter(|o| o.result == "error").collect();
    assert_eq!(failed.len(), 1, "{got:?}");
    assert_eq!(
        (failed[0].status, failed[0].latency.as_str()),
        (Some(504), "3s")
    );
    assert_eq!(probability(failed[0].probability), "0.125");
}

#[test]
fn a_route_timeout_shorter_than_a_downstream_delay_answers_504_at_the_timeout() {
    // Istio's request-timeouts task: ratings delayed 2s, reviews' route
    // timeout 0.5s; productpage tries twice and shows reviews unavailable.
    let text = format!(
        "{BOOKINFO}\n[[steps]]\nname = \"timeouts\"\n[[steps.routes]]\nservice = \"reviews\"\n\
         to = \"v2\"\ntimeout = \"0.5s\"\n[[steps.routes]]\nservice = \"ratings\"\nto = \"v1\"\n\
         delay = \"2s\"\n"
    );
    let e = run(&model(&text), "timeouts", &[], None);
    assert_eq!(summary(&e), [("1".to_owned(), "ok", "1s".to_owned())]);
    let d = &e.outcomes[0].degraded[0];
    assert_eq!(
        (d.caller.as_str(), d.callee.as_str()),
        ("productpage", "reviews")
    );
    assert!(
        d.failure
            .starts_with("HTTP 504 from reviews: route timeout 0.5s"),
        "{}",
        d.failure
    );
}

#[test]
fn a_route_timeout_does_not_cut_the_same_rules_injected_delay() {
    // The fault filter runs before the router: the delay is not counted.
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"\ndelay = \"3s\"\ntimeout = \"1s\"",
    );
    assert_eq!(
        summary(&front(&s)),
        [("1".to_owned(), "ok", "3s".to_owned())]
    );
}

#[test]
fn a_request_no_rule_matches_gets_404_at_that_hop() {
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = \"jason\" }\nto = \"v2\"",
    );
    let e = front(&s);
    let hop = e.trace().branches()[0].calls()[0];
    assert!(matches!(hop.routing(), Routing::NoMatch { .. }));
    assert_eq!(hop.outcomes()[0].status, Some(404));
    assert_eq!(hop.outcomes()[0].at.as_deref(), Some("back"));
    assert!(
        e.outcomes[0].degraded[0]
            .failure
            .starts_with("HTTP 404 from back")
    );
    assert_eq!(
        check(&s).into_iter().map(|f| f.message).collect::<Vec<_>>(),
        [
            "step s: no rule of the VirtualService back matches, so the call from front to back \
             fails with HTTP 404 (1 attempt): everyone else will see an error"
        ]
    );
    // jason matches.
    let jason = run(
        &s,
        "s",
        &[("end-user", "jason")],
        Some(&Entry::Service("front".into())),
    );
    assert_eq!(jason.outcomes[0].served, ["front v1", "back v2"]);
}

#[test]
fn header_regexes_match_the_whole_value() {
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = { regex = \"ja.*\" } }\n\
         to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\nto = \"v1\"",
    );
    let served = |user| {
        let e = run(
            &s,
            "s",
            &[("end-user", user)],
            Some(&Entry::Service("front".into())),
        );
        e.outcomes[0].served[1].clone()
    };
    assert_eq!(served("jason"), "back v2");
    assert_eq!(
        served("benjamin"),
        "back v1",
        "regex is anchored at both ends"
    );
}

#[test]
fn header_regexes_are_read_as_re2_reads_them() {
    // The regex crate would read `\<` and `\>` as word boundaries (and
    // match `jason`); RE2, Envoy's engine, reads the characters `<` and `>`.
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = { regex = '\\<jason\\>' } }\n\
         to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\nto = \"v1\"",
    );
    let served = |user| {
        let e = run(
            &s,
            "s",
            &[("end-user", user)],
            Some(&Entry::Service("front".into())),
        );
        e.outcomes[0].served[1].clone()
    };
    assert_eq!(served("<jason>"), "back v2");
    assert_eq!(served("jason"), "back v1", "`\\<` is `<`, not a boundary");
    // And `\d` is ASCII in RE2: an Arabic-Indic digit is no digit.
    assert!(string_matches(&StringMatch::Regex(r"v\d".into()), "v1").expect("matches"));
    assert!(!string_matches(&StringMatch::Regex(r"v\d".into()), "v٣").expect("matches"));
}

#[test]
fn uri_regexes_are_read_as_re2_reads_them() {
    // `[a-z&&[^x]]` is one of a-z, `&`, `[`, `^`, `x` then `]` in RE2.
    let m = StringMatch::Regex("/[a-z&&[^x]]".into());
    assert!(uri_matches(&m, "/x]?q=1").expect("matches"));
    assert!(!uri_matches(&m, "/b").expect("matches"));
    // A regex RE2 refuses cannot be matched (validation reports it first).
    let refused = StringMatch::Regex("a*+".into());
    let why = uri_matches(&refused, "/a").expect_err("refused");
    assert!(why.contains("possessive"), "{why}");
}

#[test]
fn a_cycle_in_calls_is_an_error_not_a_loop() {
    let mut s = two_services("", "[[steps.routes]]\nservice = \"back\"\nto = \"v1\"");
    // Validation refuses the cycle; build it in the model directly.
    let back = s
        .services
        .iter_mut()
        .find(|x| x.name == "back")
        .expect("back");
    back.versions[0].calls.push(Call {
        service: "front".into(),
        timeout: None,
        attempts: 1,
    });
    let err = explain(
        &s,
        "s",
        &request(&[]),
        Some(&Entry::Service("front".into())),
    )
    .expect_err("a cycle");
    assert_eq!(
        err,
        ExplainError::Cycle(vec!["front".into(), "back".into(), "front".into()])
    );
    assert!(
        check(&s).is_empty(),
        "the build check skips what it cannot trace"
    );
}

#[test]
fn probabilities_and_latencies_read_plainly() {
    assert_eq!(probability(1.0), "1");
    assert_eq!(probability(0.875), "0.875");
    assert_eq!(probability(1.0 / 3.0), "0.3333");
    assert_eq!(latency(0), "0s");
    assert_eq!(latency(6 * SECOND), "6s");
    assert_eq!(latency(SECOND / 2), "500ms");
    assert_eq!(latency(2 * SECOND + SECOND / 2), "2.5s");
}

#[test]
fn headers_parse_as_lower_case_name_and_value() {
    assert_eq!(
        parse_header("End-User=jason=x"),
        Ok(("end-user".to_owned(), "jason=x".to_owned()))
    );
    assert!(parse_header("novalue").is_err());
    assert!(parse_header("=x").is_err());
}

/// `layers` layers of two services; each service calls both of the next
/// layer (the last calls nothing); one step routes the last layer's first
/// service, delayed past its callers' 1 s budget (the only calls with one).
fn diamond(layers: usize) -> Scenario {
    let mut text =
        String::from("name = \"d\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"d\"\n");
    for l in 0..layers {
        for k in 0..2 {
            text.push_str(&format!("[[services]]\nname = \"l{l}x{k}\"\nport = 80\n"));
            if l + 1 < layers {
                let budget = if l + 2 == layers {
                    ", timeout = \"1s\""
                } else {
                    ""
                };
                text.push_str(&format!(
                    "calls = [ {{ service = \"l{n}x0\"{budget} }}, \
                     {{ service = \"l{n}x1\"{budget} }} ]\n",
                    n = l + 1
                ));
            }
            text.push_str(&format!(
                "  [services.versions.v1]\n  image = \"x/l{l}x{k}:1\"\n"
            ));
        }
    }
    text.push_str(&format!(
        "[[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"l{}x0\"\nto = \"v1\"\ndelay = \"2s\"\n",
        layers - 1
    ));
    model(&text)
}

/// `n` services, each calling the next.
fn chain(n: usize) -> Scenario {
    let mut text =
        String::from("name = \"c\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"c\"\n");
    for i in 0..n {
        text.push_str(&format!("[[services]]\nname = \"s{i}\"\nport = 80\n"));
        if i + 1 < n {
            text.push_str(&format!("calls = [ {{ service = \"s{}\" }} ]\n", i + 1));
        }
        text.push_str(&format!(
            "  [services.versions.v1]\n  image = \"x/s{i}:1\"\n"
        ));
    }
    text.push_str("[[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"s0\"\nto = \"v1\"\n");
    model(&text)
}

fn enter(scenario: &Scenario, service: &str) -> Explanation {
    run(
        scenario,
        "s",
        &[],
        Some(&Entry::Service(service.to_owned())),
    )
}

#[test]
fn a_diamond_of_calls_is_worked_out_once_per_call_not_once_per_path() {
    for layers in [6, 12, 24, 48] {
        let s = diamond(layers);
        let e = enter(&s, "l0x0");
        // The entry hop, l0x0's two calls, then two calls of each of the
        // 2 x (layers - 2) services between: 2^(layers - 1) paths, but
        // every call once.
        assert_eq!(e.graph.hops.len(), 4 * layers - 5, "{layers} layers");
        assert_eq!(e.graph.versions.len(), 2 * layers - 1, "{layers} layers");
        // Every version served once in the answer, in call order; the
        // delayed service is given up on by both of its callers.
        let outcome = &e.outcomes[0];
        assert_eq!(e.outcomes.len(), 1);
        assert_eq!(outcome.served.len(), 2 * layers - 2, "{:?}", outcome.served);
        assert_eq!(outcome.served[..3], ["l0x0 v1", "l1x0 v1", "l2x0 v1"]);
        let last = format!("l{}x0", layers - 1);
        let givers: Vec<&str> = outcome
            .degraded
            .iter()
            .filter(|d| d.callee == last)
            .map(|d| d.caller.as_str())
            .collect();
        assert_eq!(
            givers,
            [format!("l{}x0", layers - 2), format!("l{}x1", layers - 2)]
        );
    }
}

#[test]
fn the_build_check_of_a_diamond_names_each_failing_call_once() {
    let messages: Vec<String> = check(&diamond(48)).into_iter().map(|f| f.message).collect();
    assert_eq!(
        messages,
        [
            "step s: the 2s delay on l47x0 exceeds l46x0's budget for l47x0 (1 attempt x 1s): \
             everyone will see an error",
            "step s: the 2s delay on l47x0 exceeds l46x1's budget for l47x0 (1 attempt x 1s): \
             everyone will see an error",
        ]
    );
}

#[test]
fn a_version_reached_on_two_paths_has_its_calls_listed_once() {
    let e = enter(&diamond(4), "l0x0");
    let no_vs = "no VirtualService -> v1 (no subset: deployed versions by replicas)";
    let slow = "rule 1/1 (no condition: every request) -> v1 | delay 2s (100%) | client 1 \
                attempt x 1s => fails after 1s: timed out: 1 attempt x 1s; l3x0 answers after 2s";
    let free = "client 1 attempt x no timeout";
    let expected = [
        "step s: GET /productpage, entering at l0x0".to_owned(),
        format!("client -> l0x0: {no_vs} => ok after 4s, degraded"),
        format!("|- l0x0 v1 -> l1x0: {no_vs} | {free} => ok after 2s, degraded"),
        format!("|  |- l1x0 v1 -> l2x0: {no_vs} | {free} => ok after 1s, degraded"),
        format!("|  |  |- l2x0 v1 -> l3x0: {slow}"),
        format!("|  |  `- l2x0 v1 -> l3x1: {no_vs} | client 1 attempt x 1s => ok"),
        format!("|  `- l1x0 v1 -> l2x1: {no_vs} | {free} => ok after 1s, degraded"),
        format!("|     |- l2x1 v1 -> l3x0: {slow}"),
        format!("|     `- l2x1 v1 -> l3x1: {no_vs} | client 1 attempt x 1s => ok"),
        format!("`- l0x0 v1 -> l1x1: {no_vs} | {free} => ok after 2s, degraded"),
        format!("   |- l1x1 v1 -> l2x0: {no_vs} | {free} => ok after 1s, degraded"),
        "   |  `- l2x0 v1: calls as above".to_owned(),
        format!("   `- l1x1 v1 -> l2x1: {no_vs} | {free} => ok after 1s, degraded"),
        "      `- l2x1 v1: calls as above".to_owned(),
        "outcome:".to_owned(),
        "  p=1: 200 after 4s: l0x0 v1, l1x0 v1, l2x0 v1, l3x1 v1, l2x1 v1, l1x1 v1; l3x0 \
         unavailable to l2x0 (timed out: 1 attempt x 1s; l3x0 answers after 2s); l3x0 \
         unavailable to l2x1 (timed out: 1 attempt x 1s; l3x0 answers after 2s)"
            .to_owned(),
    ];
    assert_eq!(render_text(&e), expected.join("\n") + "\n");
    // In the JSON, the second meeting of l2x0 v1 has no calls, and says so.
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&e).expect("JSON")).expect("valid JSON");
    let first = &json["trace"]["branches"][0]["calls"][0]["branches"][0]["calls"][0];
    let again = &json["trace"]["branches"][0]["calls"][1]["branches"][0]["calls"][0];
    assert_eq!(
        (&first["to"], &again["to"]),
        (&"l2x0".into(), &"l2x0".into())
    );
    assert_eq!(
        first["branches"][0]["calls"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(first["branches"][0].get("repeated").is_none());
    assert_eq!(again["branches"][0]["calls"], serde_json::json!([]));
    assert_eq!(again["branches"][0]["repeated"], true);
}

#[test]
fn a_long_call_chain_is_continued_in_sections_not_indented_without_end() {
    let e = enter(&chain(60), "s0");
    let text = render_text(&e);
    let hops: Vec<&str> = text.lines().filter(|l| l.contains(" -> s")).collect();
    assert_eq!(hops.len(), 60, "every hop once:\n{text}");
    let widest = hops.iter().map(|l| l.len()).max().unwrap_or(0);
    assert!(widest < 250, "{widest} columns:\n{text}");
    for (cut, section) in [
        ("s24 v1: calls continued below", "s24 v1 calls:"),
        ("s49 v1: calls continued below", "s49 v1 calls:"),
    ] {
        let cut_at = text.find(cut).expect(cut);
        let section_at = text.find(&format!("\n{section}\n")).expect(section);
        assert!(cut_at < section_at, "{text}");
    }
    assert!(text.contains("\n`- s49 v1 -> s50:"), "{text}");
}

#[test]
fn json_refuses_a_trace_deeper_than_it_nests_and_text_still_explains_it() {
    let deep = chain(MAX_JSON_DEPTH + 1);
    let e = enter(&deep, "s0");
    assert_eq!(
        render_json(&e).map(|_| ()),
        Err(ExplainError::TooDeepForJson(MAX_JSON_DEPTH + 1))
    );
    let served: Vec<String> = (0..=MAX_JSON_DEPTH).map(|i| format!("s{i} v1")).collect();
    let text = render_text(&e);
    assert!(
        text.ends_with(&format!("p=1: 200: {}\n", served.join(", "))),
        "{text}"
    );
    let shallow = chain(MAX_JSON_DEPTH);
    let json = render_json(&enter(&shallow, "s0")).expect("the deepest JSON is written");
    // serde_json reads it with its default nesting limit.
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(
        value["outcomes"][0]["served"].as_array().map(Vec::len),
        Some(MAX_JSON_DEPTH)
    );
}

#[test]
fn json_is_laid_out_as_serde_json_pretty_prints() {
    // The hand-walked tree and serde_json's own layout of the same value.
    let e = run(
        &model(BOOKINFO),
        "reviews-50-v3",
        &[("end-user", "jason")],
        None,
    );
    let json = render_json(&e).expect("JSON");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let mut again = serde_json::to_string_pretty(&value).expect("prints");
    again.push('\n');
    // serde_json::Value sorts keys; compare the lines as sets of lines.
    let mut ours: Vec<&str> = json.lines().map(|l| l.trim_end_matches(',')).collect();
    let mut theirs: Vec<&str> = again.lines().map(|l| l.trim_end_matches(',')).collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    assert!(json.starts_with("{\n  \"scenario\": \"bookinfo\",\n  \"step\": \"reviews-50-v3\",\n"));
    assert!(json.ends_with("\n  ]\n}\n"), "{json}");
}

#[test]
fn the_text_shows_control_characters_of_headers_and_scenario_values_escaped() {
    let s = two_services(
        "",
        "[[steps.routes]]\nservice = \"back\"\nheaders = { end-user = \"\\u001b]0;PWNED\\u0007\" }\n\
         to = \"v2\"\n[[steps.routes]]\nservice = \"back\"\nto = \"v1\"",
    );
    let mut request = request(&[("end-user", "\u{1b}]0;PWNED\u{7}")]);
    request.uri = "/\u{1b}[2J\nfake line\u{9b}".to_owned();
    let e = explain(&s, "s", &request, Some(&Entry::Service("front".into()))).expect("explains");
    let text = render_text(&e);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.starts_with(
            "step s: GET /\\u{1b}[2J\\nfake line\\u{9b} with end-user=\\u{1b}]0;PWNED\\u{7}, \
             entering at front\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("rule 1/2 (end-user exact \\u{1b}]0;PWNED\\u{7}) -> v2"),
        "{text}"
    );
}

/// A step whose `web` routing has `rules` rules of every kind of condition,
/// reached through a gateway that routes by version and from `front`.
fn many_rules(rules: usize) -> Scenario {
    let mut routes = String::new();
    for i in 0..rules {
        let condition = match i % 6 {
            0 | 1 => format!("headers = {{ x-id = \"{i}\" }}"),
            2 => format!("headers = {{ x-id = {{ prefix = \"{i}\" }} }}"),
            3 => "headers = { end-user = { regex = \"j.*\" }, x-id = \"9\" }".to_owned(),
            4 => format!(
                "headers = {{ x-id = \"{}\" }}\nuri = {{ prefix = \"/a\" }}",
                i - 3
            ),
            _ => format!("headers = {{ x-id = \"{}\" }}\nmethod = \"POST\"", i - 5),
        };
        let to = if i % 2 == 0 { "v1" } else { "v2" };
        routes.push_str(&format!(
            "[[steps.routes]]\nservice = \"web\"\n{condition}\nto = \"{to}\"\n"
        ));
    }
    model(&format!(
        r#"
name = "t"
[mesh]
version = "1.22.0"
[namespace]
name = "t"
[[services]]
name = "front"
port = 80
calls = [ {{ service = "web" }} ]
  [services.versions.v1]
  image = "x/front:1"
[[services]]
name = "web"
port = 80
  [services.versions.v1]
  image = "x/web:1"
  [services.versions.v2]
  image = "x/web:2"
[gateway]
hosts = ["web.example.com"]
version_routing = true
[[gateway.routes]]
service = "web"
uris = [ {{ exact = "/" }}, {{ prefix = "/a" }} ]
[[steps]]
name = "s"
{routes}[[steps.routes]]
service = "web"
to = {{ v1 = 50, v2 = 50 }}
"#
    ))
}

#[test]
fn an_indexed_routing_predicts_what_reading_every_rule_predicts() {
    for rules in [3, 40] {
        let scenario = many_rules(rules);
        let view = View::new(&scenario, 0);
        let mut requests: Vec<Request> = classes(&scenario)
            .into_iter()
            .map(|class| Request {
                headers: class.headers(),
                uri: "/".to_owned(),
                method: "GET".to_owned(),
            })
            .collect();
        for (uri, method) in [("/a/b", "POST"), ("/", "POST"), ("/a", "GET")] {
            for headers in [
                vec![("x-id", "1")],
                vec![("x-id", "2"), ("x-id", "1")],
                vec![("x-id", "20"), ("end-user", "jo")],
                vec![("end-user", "jason"), ("x-id", "9")],
                vec![("x-id", "10")],
                vec![],
            ] {
                requests.push(Request {
                    uri: uri.to_owned(),
                    method: method.to_owned(),
                    ..request(&headers)
                });
            }
        }
        for request in &requests {
            for entry in [Entry::Gateway, Entry::Service("front".to_owned())] {
                let traced = |passed| {
                    let graph = trace::trace(&view, request, &entry, passed).expect("traces");
                    outcomes(&graph.ctx, graph.outcome())
                };
                assert_eq!(
                    traced(Passed::Unread),
                    traced(Passed::Explained),
                    "{rules} rules, {request:?} from {entry:?}"
                );
            }
        }
    }
}

#[test]
fn a_repeated_request_header_is_matched_by_its_first_value() {
    let scenario = many_rules(40);
    let web = Entry::Service("web".to_owned());
    let rule = |headers: &[(&str, &str)]| {
        let e = run(&scenario, "s", headers, Some(&web));
        match e.trace().routing() {
            Routing::Rule { rule, .. } => *rule,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(rule(&[("x-id", "1"), ("x-id", "0")]), 2);
    assert_eq!(rule(&[("x-id", "0"), ("x-id", "1")]), 1);
}
