//! The peak heap of checking a large valid scenario (issue 14.10): under ten
//! times the size of its file, the file itself included. A test target of
//! its own, so that its allocator counts this test's allocations only.

use meshgen::source::Source;
use peak_alloc::PeakAlloc;

#[path = "generate.rs"]
#[allow(dead_code)]
mod generate;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

#[test]
fn checking_a_large_scenario_takes_less_than_ten_times_its_size() {
    // 5,000 services, 3.2 MB: past the size read a section at a time.
    let text = generate::workload::text(5_000);
    let size = text.len();
    let source = Source::new("scale-5000.toml", text);
    HEAP.reset_peak_usage();
    let checked = meshgen::scenario::check(&source);
    let peak = HEAP.peak_usage();
    assert!(
        checked.scenario.is_some(),
        "{:?}",
        &checked.diagnostics[..checked.diagnostics.len().min(3)]
    );
    assert!(
        peak < 10 * size,
        "peak heap {peak} bytes for a {size}-byte file: {:.1} times",
        peak as f64 / size as f64
    );
}
