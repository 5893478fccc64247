//! Generators of large scenarios that stress one count each: header matches
//! in one rule, rules in one step, unknown keys in one table, labels of the
//! namespace; and call graphs whose paths outnumber their calls (a long
//! chain, a diamond); and the bench workload. Shared by the bounded tests of
//! `tests/large.rs`, `tests/scale.rs` and `tests/memory.rs` and the
//! benchmarks of `benches/pipeline.rs` (which include this file by path), so
//! the benchmarks and the tests run the same shapes.

/// The mesh, the namespace (`namespace` holds the extra lines of its table)
/// and one service `web` with versions v1 and v2.
fn head(namespace: &str) -> String {
    format!(
        "name = \"large\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n{namespace}\
         [[services]]\nname = \"web\"\nport = 80\n\
         [services.versions.v1]\nimage = \"example.com/web:1\"\n\
         [services.versions.v2]\nimage = \"example.com/web:2\"\n"
    )
}

/// A valid scenario whose one step has a rule with `n` header matches (one
/// per line, `h000000 = "v"`), then a catch-all.
pub fn headers_in_one_rule(n: usize) -> String {
    let mut text = head("");
    text.push_str(
        "[[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"web\"\nto = \"v2\"\n\
         [steps.routes.headers]\n",
    );
    for i in 0..n {
        text.push_str(&format!("h{i:06} = \"v\"\n"));
    }
    text.push_str("[[steps.routes]]\nservice = \"web\"\nto = \"v1\"\n");
    text
}

/// A valid scenario whose one step has `n` rules, each for its own value of
/// header `x-id`, then a catch-all.
pub fn rules_in_one_step(n: usize) -> String {
    let mut text = head("");
    text.push_str("[[steps]]\nname = \"s\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[steps.routes]]\nservice = \"web\"\nheaders = {{ x-id = \"{i}\" }}\nto = \"v2\"\n"
        ));
    }
    text.push_str("[[steps.routes]]\nservice = \"web\"\nto = \"v1\"\n");
    text
}

/// A valid scenario of `n` services (`s00000`, versions v1 and v2) whose one
/// step sends each service's own user (`end-user: u00000`) to v2, everyone
/// else to v1: as many classes of requests as services, each told apart by
/// one service only.
pub fn a_user_per_service(n: usize) -> String {
    let mut text = String::from(
        "name = \"large\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"ns\"\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[services]]\nname = \"s{i:05}\"\nport = 80\n\
             [services.versions.v1]\nimage = \"example.com/s:1\"\n\
             [services.versions.v2]\nimage = \"example.com/s:2\"\n"
        ));
    }
    text.push_str("[[steps]]\nname = \"s\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[steps.routes]]\nservice = \"s{i:05}\"\nheaders = {{ end-user = \"u{i:05}\" }}\n\
             to = \"v2\"\n[[steps.routes]]\nservice = \"s{i:05}\"\nto = \"v1\"\n"
        ));
    }
    text
}

/// A scenario with `n` unknown keys in `[namespace]` (`x000000 = 1`): `n`
/// errors, each pruned before the semantic pass.
pub fn unknown_keys(n: usize) -> String {
    let keys: String = (0..n).map(|i| format!("x{i:06} = 1\n")).collect();
    head(&keys)
}

/// A scenario whose `n` namespace labels all have a value of the wrong
/// type, on one line (`labels = { l000000 = 1, … }`): `n` errors, each far
/// into one long line.
pub fn wrong_labels_on_one_line(n: usize) -> String {
    let labels: Vec<String> = (0..n).map(|i| format!("l{i:06} = 1")).collect();
    head(&format!("labels = {{ {} }}\n", labels.join(", ")))
}

/// A valid scenario whose namespace has `n` labels (`l000000 = "v"`); with
/// `numeric`, their keys are digits (`000000 = "v"`), which YAML needs quoted.
pub fn namespace_labels(n: usize, numeric: bool) -> String {
    let prefix = if numeric { "" } else { "l" };
    let labels: String = (0..n)
        .map(|i| format!("{prefix}{i:06} = \"v\"\n"))
        .collect();
    let mut text = head("");
    text.push_str("[namespace.labels]\n");
    text.push_str(&labels);
    text
}

/// `n` services, each calling the next (the one before last with a 1 s
/// budget); one step delays the last by 2 s.
pub fn call_chain(n: usize) -> String {
    let mut text =
        String::from("name = \"chain\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"c\"\n");
    for i in 0..n {
        text.push_str(&format!("[[services]]\nname = \"s{i}\"\nport = 80\n"));
        if i + 1 < n {
            let budget = if i + 2 == n { ", timeout = \"1s\"" } else { "" };
            text.push_str(&format!(
                "calls = [ {{ service = \"s{}\"{budget} }} ]\n",
                i + 1
            ));
        }
        text.push_str(&format!(
            "  [services.versions.v1]\n  image = \"x/s{i}:1\"\n"
        ));
    }
    text.push_str(&format!(
        "[[steps]]\nname = \"slow-end\"\n[[steps.routes]]\nservice = \"s{}\"\nto = \"v1\"\n\
         delay = \"2s\"\n",
        n - 1
    ));
    text
}

/// `services` services in layers of two, each calling both of the next
/// layer: 2^(layers - 1) paths from the top. The calls into the last layer
/// have a 1 s budget; one step delays the last layer's first service by 2 s.
pub fn call_diamond(services: usize) -> String {
    let layers = services / 2;
    let mut text = String::from(
        "name = \"diamond\"\n[mesh]\nversion = \"1.22.0\"\n[namespace]\nname = \"d\"\n",
    );
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
                    "calls = [ {{ service = \"l{n}x0\"{budget} }}, {{ service = \"l{n}x1\"{budget} }} ]\n",
                    n = l + 1
                ));
            }
            text.push_str(&format!(
                "  [services.versions.v1]\n  image = \"x/l{l}x{k}:1\"\n"
            ));
        }
    }
    text.push_str(&format!(
        "[[steps]]\nname = \"slow-end\"\n[[steps.routes]]\nservice = \"l{}x0\"\nto = \"v1\"\n\
         delay = \"2s\"\n",
        layers - 1
    ));
    text
}

/// The bench workload (`bench/compare.sh`, `benches/pipeline.rs`,
/// `tests/memory.rs`); the integration tests do not use it.
#[allow(dead_code)]
pub mod workload {
    /// The routes of one step (each a list of `key = value` lines after `service`).
    enum Routes {
        /// One route, for `service = "*"`.
        Wildcard(&'static [&'static str]),
        /// These routes, in this order, for every service in turn.
        PerService(&'static [&'static [&'static str]]),
    }

    const JASON: &str = "headers = { end-user = \"jason\" }";

    /// The five steps: name, description, routes.
    const STEPS: &[(&str, &str, Routes)] = &[
        (
            "all-v1",
            "Route every service to v1",
            Routes::Wildcard(&["to = \"v1\""]),
        ),
        (
            "jason-v2",
            "Send end-user jason to v2 on every service",
            Routes::PerService(&[&[JASON, "to = \"v2\""], &["to = \"v1\""]]),
        ),
        (
            "delay",
            "Inject a 7s delay for jason on every service",
            Routes::PerService(&[
                &[
                    JASON,
                    "to = \"v1\"",
                    "delay = \"7s\"",
                    "delay_percent = 100.0",
                ],
                &["to = \"v1\""],
            ]),
        ),
        (
            "split",
            "Shift every service 50/50 between v1 and v3",
            Routes::PerService(&[&["to = { v1 = 50, v3 = 50 }"]]),
        ),
        (
            "all-v3",
            "Route every service to v3",
            Routes::Wildcard(&["to = \"v3\""]),
        ),
    ];

    /// The workload `scale-N` as TOML text, byte for byte what `bench/gen.py N`
    /// writes: N services × versions v1 v2 v3, a gateway, and five steps that
    /// each touch every service (docs/performance.md).
    pub fn text(n: usize) -> String {
        text_of(n, false)
    }

    /// The workload `scale-N` where each service's rules match its own user
    /// (`end-user = "user-svc-0000"`) rather than `jason`: no two services'
    /// rules alike, as many classes of requests as services.
    pub fn text_with_a_user_per_service(n: usize) -> String {
        text_of(n, true)
    }

    fn text_of(n: usize, users: bool) -> String {
        let services: Vec<String> = (0..n).map(|i| format!("svc-{i:04}")).collect();
        let mut toml = String::with_capacity(n * 1500);
        let mut line = |text: &str| {
            toml.push_str(text);
            toml.push('\n');
        };
        line(&format!("name = \"scale-{n}\""));
        line(&format!(
            "description = \"Synthetic scale scenario: {n} services x 3 versions, 5 steps\""
        ));
        line("");
        for text in ["[mesh]", "version = \"1.22.0\"", "profile = \"demo\"", ""] {
            line(text);
        }
        for text in ["[namespace]", "name = \"scale\"", ""] {
            line(text);
        }
        for svc in &services {
            line("[[services]]");
            line(&format!("name = \"{svc}\""));
            line("port = 8080");
            line(&format!("service_account = \"sa-{svc}\""));
            for version in ["v1", "v2", "v3"] {
                line(&format!("  [services.versions.{version}]"));
                line(&format!(
                    "  image = \"example.com/app/{svc}-{version}:1.0\""
                ));
            }
            line("");
        }
        line("[gateway]");
        line(&format!("name = \"scale-{n}-gateway\""));
        line("port = 8080");
        line("[[gateway.routes]]");
        line(&format!("service = \"{}\"", services[0]));
        line("uris = [ { prefix = \"/\" } ]");
        line("");

        for (name, description, routes) in STEPS {
            line("[[steps]]");
            line(&format!("name = \"{name}\""));
            line(&format!("description = \"{description}\""));
            let (targets, bodies): (Vec<&str>, &[&[&str]]) = match routes {
                Routes::Wildcard(body) => (vec!["*"], std::slice::from_ref(body)),
                Routes::PerService(bodies) => {
                    (services.iter().map(String::as_str).collect(), bodies)
                }
            };
            for target in targets {
                for body in bodies {
                    line("[[steps.routes]]");
                    line(&format!("service = \"{target}\""));
                    for text in *body {
                        if users && *text == JASON {
                            line(&format!("headers = {{ end-user = \"user-{target}\" }}"));
                        } else {
                            line(text);
                        }
                    }
                }
            }
        }
        toml
    }
}
