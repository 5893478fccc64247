//! Scale, through the real binary: a call chain as long as a scenario may be
//! (walked without recursion), a diamond of calls whose paths are
//! exponentially many (worked out once per call), and a teardown rendered in
//! several chunks as it is written. Bounded tests with generous limits; the
//! timings are in `cargo bench -- call_graph`.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::generate;
use crate::support::{Run, Sandbox};

/// How long a run may take before it counts as never ending (a debug build
/// on a loaded two-core machine; the release build takes a fraction).
const PATIENCE: Duration = Duration::from_secs(300);

/// Runs meshgen in `dir`, killed after `PATIENCE`: a test of the work's
/// order fails instead of hanging when the work is exponential again.
fn bounded(dir: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run meshgen");
    // Drained on threads, so a full pipe cannot stall the child.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for meshgen") {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("meshgen {} ran for more than {PATIENCE:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

#[test]
fn check_and_build_walk_a_10000_service_call_chain_without_overflowing_the_stack() {
    let sandbox = Sandbox::new();
    sandbox.write("chain.toml", generate::call_chain(10_000));
    let warning = "warning: step slow-end: the 2s delay on s9999 exceeds s9998's budget for \
                   s9999 (1 attempt x 1s): everyone will see an error";
    let run = bounded(sandbox.path(), &["check", "chain.toml"]);
    run.expect_code(0);
    assert!(run.stderr.contains(warning), "{}", run.stderr);
    let run = bounded(sandbox.path(), &["build", "chain.toml", "--out", "out"]);
    run.expect_code(0);
    assert!(run.stderr.contains(warning), "{}", run.stderr);
    let plan = sandbox.read("out/chain/PLAN.md");
    let served: Vec<String> = (0..9_999).map(|i| format!("s{i} v1")).collect();
    assert!(
        plan.contains(&format!(
            "| everyone | 1 | 200 after 1s: {}; s9999 unavailable to s9998 (timed out: 1 \
             attempt x 1s; s9999 answers after 2s) |",
            served.join(", ")
        )),
        "the prediction of the chain is missing from PLAN.md"
    );
}

#[test]
fn explain_prints_a_10000_service_chain_in_sections_and_json_refuses_it() {
    let sandbox = Sandbox::new();
    sandbox.write("chain.toml", generate::call_chain(10_000));
    let run = bounded(
        sandbox.path(),
        &[
            "explain",
            "chain.toml",
            "--step",
            "slow-end",
            "--entry",
            "s0",
        ],
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout.lines().filter(|l| l.contains(" -> s")).count(),
        10_000,
        "one line per hop"
    );
    assert!(
        run.stdout
            .contains("\ns9974 v1 calls:\n`- s9974 v1 -> s9975: "),
        "the deepest section"
    );
    let run = bounded(
        sandbox.path(),
        &[
            "explain",
            "chain.toml",
            "--step",
            "slow-end",
            "--entry",
            "s0",
            "--output",
            "json",
        ],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "meshgen: error: the request goes 10000 calls deep: --output json nests the hops"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn check_of_a_diamond_of_calls_grows_with_the_services_not_the_paths() {
    // 2^47 paths at 96 services: enumerating them never ends.
    let sandbox = Sandbox::new();
    for services in [12, 24, 48, 96] {
        let file = format!("diamond-{services}.toml");
        sandbox.write(&file, generate::call_diamond(services));
        let run = bounded(sandbox.path(), &["check", &file]);
        run.expect_code(0);
        let last = services / 2 - 1;
        for caller in [format!("l{}x0", last - 1), format!("l{}x1", last - 1)] {
            let warning = format!(
                "warning: step slow-end: the 2s delay on l{last}x0 exceeds {caller}'s budget for \
                 l{last}x0 (1 attempt x 1s): everyone will see an error"
            );
            assert!(run.stderr.contains(&warning), "{}", run.stderr);
        }
        let run = bounded(
            sandbox.path(),
            &["explain", &file, "--step", "slow-end", "--entry", "l0x0"],
        );
        run.expect_code(0);
        // Each call once: the entry, l0x0's two calls, and two calls of
        // each service between the top layer and the last.
        assert_eq!(
            run.stdout.lines().filter(|l| l.contains(" -> l")).count(),
            1 + 2 + 4 * (services / 2 - 2),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_large_teardown_rendered_a_chunk_at_a_time_is_one_stream_of_every_deleted_document() {
    let sandbox = Sandbox::new();
    // 1,500 services: more deletion documents than one chunk renders.
    sandbox.write("scale.toml", generate::workload::text(1_500));
    let run = bounded(sandbox.path(), &["build", "scale.toml", "--out", "out"]);
    run.expect_code(0);
    let teardown = sandbox.read("out/scale-1500/teardown.yaml");
    let documents: Vec<&str> = teardown.split("---\n").collect();
    assert!(documents.len() > 2 * 4096, "{} documents", documents.len());
    for (i, document) in documents.iter().enumerate() {
        assert!(
            document.starts_with("apiVersion: ") && document.matches("\napiVersion: ").count() == 0,
            "document {i} is not one deletion document: {document:?}"
        );
    }
    let index: serde_json::Value =
        serde_json::from_str(&sandbox.read("out/scale-1500/index.json")).expect("index.json");
    let listed = index["teardown"]["resources"]
        .as_array()
        .expect("resources");
    assert_eq!(listed.len(), documents.len());
    assert_eq!(
        documents.last().map(|d| d.contains("kind: Namespace\n")),
        Some(true),
        "the namespace goes last"
    );
}
