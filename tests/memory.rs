//! The peak heap of checking and of building a large valid scenario (issue
//! 14.10), against the size of its file, the file itself included. A test
//! target of its own, so that its allocator counts these tests' allocations
//! only; the tests take turns.

use std::sync::{Mutex, MutexGuard, PoisonError};

use meshgen::render::Renderer;
use meshgen::source::Source;
use peak_alloc::PeakAlloc;

#[path = "generate.rs"]
#[allow(dead_code)]
mod generate;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// One measurement at a time: the peak is the process's.
static ALONE: Mutex<()> = Mutex::new(());

/// Waits for this test's turn, and returns it with what the heap held
/// before the test began (what another test's failure left, such as a
/// backtrace's symbols), so that it is not counted.
fn start() -> (MutexGuard<'static, ()>, usize) {
    let turn = ALONE.lock().unwrap_or_else(PoisonError::into_inner);
    HEAP.reset_peak_usage();
    (turn, HEAP.current_usage())
}

/// Fails unless the heap's peak since `before` is under `times` times `size`.
#[track_caller]
fn assert_peak_under(before: usize, size: usize, times: usize) {
    let peak = HEAP.peak_usage() - before;
    assert!(
        peak < times * size,
        "peak heap {peak} bytes for a {size}-byte file: {:.1} times",
        peak as f64 / size as f64
    );
}

/// The 5,000-service workload (3.2 MB: past the size read a section at a
/// time), or its variant where each service routes its own user, and the
/// size of its text, made inside the measurement: the file counts.
fn workload(users: bool) -> (Source, usize) {
    let text = if users {
        generate::workload::text_with_a_user_per_service(5_000)
    } else {
        generate::workload::text(5_000)
    };
    let size = text.len();
    (Source::new("scale-5000.toml", text), size)
}

#[test]
fn checking_a_large_scenario_takes_less_than_ten_times_its_size() {
    let (_turn, before) = start();
    let (source, size) = workload(false);
    let checked = meshgen::scenario::check(&source);
    assert_peak_under(before, size, 10);
    assert!(
        checked.scenario.is_some(),
        "{:?}",
        &checked.diagnostics[..checked.diagnostics.len().min(3)]
    );
}

/// Checks, renders and lays out into nothing the workload (or its variant
/// with a user per service), as `meshgen build` does, and fails unless the
/// heap's peak is under `times` times the file.
fn build_takes_under(users: bool, times: usize) {
    let (_turn, before) = start();
    let (source, size) = workload(users);
    let scenario = meshgen::scenario::check(&source)
        .scenario
        .expect("the workload is valid");
    // As `meshgen build` does: the text is not read past validation.
    drop(source);
    let renderer = Renderer::new(None).expect("the shipped templates load");
    let build = meshgen::bundle::bundle(&renderer, &scenario).expect("renders");
    let mut files = 0;
    meshgen::layout::emit(&build, &scenario, &renderer, &mut |_, fill| {
        files += 1;
        fill(&mut std::io::sink()).map_err(|e| meshgen::error::Error::io("sink".as_ref(), e))
    })
    .expect("lays out");
    assert_peak_under(before, size, times);
    assert!(files > 20, "{files} files");
}

/// The whole build, the model included: 8.7 times the file. It was
/// 28.5 times while the teardown's deletion documents, the step diffs, the
/// services' template values and the file's text were held to the end,
/// 16.0 times while the documents kept until written were held as rendered
/// (they are packed now) and every service's template value was made at
/// once (now 1,024 services' at a time), and 10.6 times while every service
/// held its own copy of rules alike (now shared) and every document its
/// own apiVersion and kind (now one per type).
#[test]
fn building_a_large_scenario_takes_less_than_ten_times_its_size() {
    build_takes_under(false, 10);
}

/// The same, where no two services' rules are alike: 8.2 times the file
/// (8.9 while every rule held its lists in Vecs and its URI inline).
#[test]
fn building_a_large_scenario_whose_services_each_route_a_user_takes_less_than_ten_times_its_size() {
    build_takes_under(true, 10);
}
