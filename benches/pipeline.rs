//! Criterion benchmark of the in-process pipeline, stage by stage, on synthetic
//! scenarios of N services (see docs/performance.md):
//!
//! - `parse_validate/N`: `scenario::check` (TOML → raw types → model);
//! - `diagnostics/N`: `scenario::check` of the scenario with every port made
//!   invalid, and each of its N errors rendered with its excerpt;
//! - `render_bundle/N`: `bundle::bundle` (templates, parse-back of every
//!   document, ordering, step folding, what the teardown deletes);
//! - `parse_back/N`: `Resource::parse` of every document of the build (the
//!   check each rendered document passes), in bytes per second;
//! - `files/N`: `layout::files` (the output folder's bytes: the step diffs
//!   and the teardown's deletion documents are made here, index.json, PLAN.md);
//! - `write/N`: `output::write` into a fresh folder under the target directory;
//! - `rewrite/unchanged/N`, `rewrite/changed/N`: `output::write` over a
//!   folder written before, with the same files (linked) or every file changed;
//! - `pipeline/N`: check, bundle and `layout::emit` into a fresh folder, as
//!   `meshgen build` runs them;
//! - `renderer/new`: compiling the shipped templates (done once per process).
//! - `call_graph/diamond/N`: the build check (`explain::check`) of N services
//!   in layers of two, each calling both of the next layer (2^(N/2 - 1)
//!   paths), N = 12, 24, 48, 96; `call_graph/chain/N`: of a chain of N
//!   services, N = 1000, 10000. Work that grows with the paths, or recursion,
//!   shows here first.
//!
//! N is 10, 100 and 1000; `BENCH_N="10 100 1000 5000"` chooses other sizes.
//! Quick run: `cargo bench --bench pipeline -- --quick`.
//!
//! The `large` groups stress one count each, at a size and ten times it, so
//! that a cost that grows faster than the count shows as a throughput that
//! falls (the shapes of `tests/generate.rs`, shared with `tests/large.rs`):
//!
//! - `large/headers/check/N`, `large/headers/render/N`: one rule with N
//!   header matches (8,000 and 80,000), checked; rendered and parsed back;
//!   `large/headers/plan/N`: its PLAN.md (the predicted outcome of the
//!   rule's class matches every condition against the request);
//! - `large/rules/check/N`, `large/rules/who_gets_what/N`,
//!   `large/rules/plan/N`: one step of N rules, each for its own header
//!   value (2,000 and 20,000), checked; the plan's who-gets-what of every
//!   class; the whole PLAN.md (a predicted outcome per class);
//! - `large/user_per_service/who_gets_what/N`: N services, each routing its
//!   own user (2,000 and 20,000: as many classes), the who-gets-what of
//!   every service;
//! - `large/unknown_keys/N`: N unknown keys in one table (10,000 and
//!   100,000), checked and every error rendered, as `meshgen check` prints them;
//! - `large/one_line_errors/N`: N labels of a wrong type on one line (10,000
//!   and 100,000), checked and every error rendered (each column found far
//!   into the line);
//! - `large/labels/check/N`, `large/labels/render/N`: N namespace labels
//!   (20,000 and 200,000), checked; rendered and parsed back.
//!
//! The scenario has the shape of `bench/gen.py` (the workload of
//! `bench/compare.sh`): N services × versions v1 v2 v3, a gateway, and five
//! steps that each touch every service.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;

use meshgen::bundle::{self, Build};
use meshgen::model::Scenario;
use meshgen::output;
use meshgen::render::Renderer;
use meshgen::resource::{Resource, ResourceId};
use meshgen::source::Source;

#[path = "../tests/generate.rs"]
mod generate;

/// Scenario sizes when `BENCH_N` is not set.
const DEFAULT_SIZES: &[usize] = &[10, 100, 1000];

/// The sizes to run: `BENCH_N` (numbers separated by spaces), or the defaults.
fn sizes() -> Vec<usize> {
    match std::env::var("BENCH_N") {
        Ok(list) if !list.trim().is_empty() => list
            .split_whitespace()
            .map(|n| match n.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => panic!("BENCH_N: expected sizes >= 1 separated by spaces, found `{n}`"),
            })
            .collect(),
        _ => DEFAULT_SIZES.to_vec(),
    }
}

/// One size, prepared: the source text and the output of every stage, so
/// each stage is measured on its own input.
struct Prepared {
    n: usize,
    source: Source,
    scenario: Scenario,
    build: Build,
    files: output::Files,
}

impl Prepared {
    fn new(n: usize, renderer: &Renderer) -> Self {
        let source = Source::new(format!("scale-{n}.toml"), generate::workload::text(n));
        let checked = meshgen::scenario::check(&source);
        let Some(scenario) = checked.scenario else {
            panic!(
                "the synthetic scenario scale-{n} is invalid: {:?}",
                checked.diagnostics
            );
        };
        let build = bundle::bundle(renderer, &scenario).expect("scale scenario renders");
        let files = meshgen::layout::files(&build, &scenario, renderer).expect("lays out");
        Self {
            n,
            source,
            scenario,
            build,
            files,
        }
    }

    fn id(&self) -> BenchmarkId {
        BenchmarkId::from_parameter(self.n)
    }
}

/// Where the write stage writes: under the target directory (the disk that
/// holds the repository, as `out/` would be), in a new temporary folder per run.
fn scratch_root() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-pipeline");
    std::fs::create_dir_all(&root).expect("create the bench scratch folder");
    root
}

fn fresh_dir(root: &Path) -> TempDir {
    tempfile::tempdir_in(root).expect("create a temporary output folder")
}

/// Fewer, longer samples for the large sizes, so a full run stays in minutes.
fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    group.throughput(Throughput::Elements(n as u64));
    if n >= 1000 {
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(10));
    } else {
        group.sample_size(30);
    }
}

fn pipeline(c: &mut Criterion) {
    let renderer = Renderer::new(None).expect("shipped templates compile");
    let prepared: Vec<Prepared> = sizes()
        .into_iter()
        .map(|n| Prepared::new(n, &renderer))
        .collect();
    let root = scratch_root();

    c.bench_function("renderer/new", |b| {
        b.iter(|| Renderer::new(black_box(None)).expect("shipped templates compile"))
    });

    let mut group = c.benchmark_group("parse_validate");
    for p in &prepared {
        configure(&mut group, p.n);
        group.bench_with_input(p.id(), &p.source, |b, source| {
            b.iter(|| meshgen::scenario::check(black_box(source)))
        });
    }
    group.finish();

    // Every service's port made invalid: N errors, each rendered with its
    // excerpt of the file, as `meshgen check` prints them.
    let mut group = c.benchmark_group("diagnostics");
    for p in &prepared {
        configure(&mut group, p.n);
        let broken = Source::new(
            p.source.path(),
            p.source.text().replace("\nport = 8080\n", "\nport = 0\n"),
        );
        group.bench_with_input(p.id(), &broken, |b, source| {
            b.iter(|| {
                let checked = meshgen::scenario::check(black_box(source));
                assert!(checked.diagnostics.len() >= p.n, "one error per service");
                checked
                    .diagnostics
                    .iter()
                    .map(|d| d.render(source, false).len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("render_bundle");
    for p in &prepared {
        configure(&mut group, p.n);
        group.bench_with_input(p.id(), &p.scenario, |b, scenario| {
            b.iter(|| bundle::bundle(&renderer, black_box(scenario)).expect("renders"))
        });
    }
    group.finish();

    // The check every rendered document passes, alone: each document of the
    // build read back (throughput in bytes of YAML).
    let mut group = c.benchmark_group("parse_back");
    for p in &prepared {
        configure(&mut group, p.n);
        let documents: Vec<(ResourceId, String)> = p
            .build
            .documents()
            .map(|r| (r.id.clone(), r.text().into_owned()))
            .collect();
        let bytes = documents.iter().map(|(_, text)| text.len() as u64).sum();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(p.id(), &documents, |b, documents| {
            b.iter_batched(
                || documents.clone(),
                |documents| {
                    for (id, text) in documents {
                        Resource::parse(id, text, &[]).expect("a document meshgen wrote");
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("files");
    for p in &prepared {
        configure(&mut group, p.n);
        group.bench_with_input(p.id(), p, |b, p| {
            b.iter(|| meshgen::layout::files(black_box(&p.build), &p.scenario, &renderer))
        });
    }
    group.finish();

    // A fresh folder per iteration, removed after the measurement: the cost of
    // writing a new output folder, not of replacing an old one.
    let mut group = c.benchmark_group("write");
    for p in &prepared {
        configure(&mut group, p.n);
        let name = format!("scale-{}", p.n);
        group.bench_with_input(p.id(), &p.files, |b, files| {
            b.iter_batched(
                || fresh_dir(&root),
                |dir| {
                    output::write(&dir.path().join(&name), black_box(files)).expect("writes");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    // The files over the folder a previous run wrote (the rebuild of a
    // committed output in CI): `unchanged` over the same files, each compared
    // and linked; `changed` over a folder whose every file differs from its
    // first byte, each written anew and the old one freed.
    let mut group = c.benchmark_group("rewrite");
    for p in &prepared {
        configure(&mut group, p.n);
        let name = format!("scale-{}", p.n);
        // index.json stays JSON (a leading space), so that the folder is
        // still recognised as meshgen's output and may be replaced.
        let changed: output::Files = (p.files.iter())
            .map(|(path, bytes)| {
                let before: &[u8] = if path == "index.json" {
                    b" "
                } else {
                    b"# before\n"
                };
                (path.clone(), [before, &bytes[..]].concat())
            })
            .collect();
        for (previous, label) in [(&p.files, "unchanged"), (&changed, "changed")] {
            let id = BenchmarkId::new(label, p.n);
            group.bench_with_input(id, &p.files, |b, files| {
                b.iter_batched(
                    || {
                        let dir = fresh_dir(&root);
                        output::write(&dir.path().join(&name), previous).expect("writes");
                        dir
                    },
                    |dir| {
                        output::write(&dir.path().join(&name), black_box(files)).expect("writes");
                        dir
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    for p in &prepared {
        configure(&mut group, p.n);
        let name = format!("scale-{}", p.n);
        group.bench_with_input(p.id(), &p.source, |b, source| {
            b.iter_batched(
                || fresh_dir(&root),
                |dir| {
                    let checked = meshgen::scenario::check(black_box(source));
                    let scenario = checked.scenario.expect("valid");
                    let build = bundle::bundle(&renderer, &scenario).expect("renders");
                    output::write_with(&dir.path().join(&name), |put| {
                        meshgen::layout::emit(&build, &scenario, &renderer, put)
                    })
                    .expect("writes");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The build check of call graphs whose paths outnumber their calls.
fn call_graph(c: &mut Criterion) {
    let mut group = c.benchmark_group("call_graph");
    group.sample_size(10);
    let model = |name: String, text: String| -> Scenario {
        let checked = meshgen::scenario::check(&Source::new(name.clone(), text));
        checked
            .scenario
            .unwrap_or_else(|| panic!("{name} is invalid: {:?}", checked.diagnostics))
    };
    for services in [12, 24, 48, 96] {
        let scenario = model(
            format!("diamond-{services}.toml"),
            generate::call_diamond(services),
        );
        group.throughput(Throughput::Elements(services as u64));
        group.bench_with_input(BenchmarkId::new("diamond", services), &scenario, |b, s| {
            b.iter(|| meshgen::explain::check(black_box(s)))
        });
    }
    for n in [1000, 10_000] {
        let scenario = model(format!("chain-{n}.toml"), generate::call_chain(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("chain", n), &scenario, |b, s| {
            b.iter(|| meshgen::explain::check(black_box(s)))
        });
    }
    group.finish();
}

/// A valid scenario's model; panics with its first errors otherwise.
fn model(source: &Source) -> Scenario {
    let checked = meshgen::scenario::check(source);
    match checked.scenario {
        Some(scenario) => scenario,
        None => panic!(
            "{} is invalid: {:?}",
            source.path().display(),
            &checked.diagnostics[..checked.diagnostics.len().min(3)]
        ),
    }
}

/// The `large` groups: each count at a size and ten times it.
fn large(c: &mut Criterion) {
    let renderer = Renderer::new(None).expect("shipped templates compile");
    let mut group = c.benchmark_group("large");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for n in [8_000, 80_000] {
        let source = Source::new("headers.toml", generate::headers_in_one_rule(n));
        let scenario = model(&source);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("headers/check", n), &source, |b, s| {
            b.iter(|| meshgen::scenario::check(black_box(s)))
        });
        group.bench_with_input(BenchmarkId::new("headers/render", n), &scenario, |b, s| {
            b.iter(|| bundle::bundle(&renderer, black_box(s)).expect("renders"))
        });
        let build = bundle::bundle(&renderer, &scenario).expect("renders");
        group.bench_with_input(BenchmarkId::new("headers/plan", n), &scenario, |b, s| {
            b.iter(|| meshgen::plan::plan(black_box(s), &build))
        });
    }
    for n in [2_000, 20_000] {
        let source = Source::new("rules.toml", generate::rules_in_one_step(n));
        let scenario = model(&source);
        let classes = meshgen::routing::classes(&scenario);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("rules/check", n), &source, |b, s| {
            b.iter(|| meshgen::scenario::check(black_box(s)))
        });
        let routing = &scenario.steps[0].routes[0];
        group.bench_with_input(
            BenchmarkId::new("rules/who_gets_what", n),
            routing,
            |b, r| b.iter(|| meshgen::routing::audiences(black_box(r), &classes)),
        );
        let build = bundle::bundle(&renderer, &scenario).expect("renders");
        group.bench_with_input(BenchmarkId::new("rules/plan", n), &scenario, |b, s| {
            b.iter(|| meshgen::plan::plan(black_box(s), &build))
        });
    }
    for n in [2_000, 20_000] {
        let scenario = model(&Source::new("users.toml", generate::a_user_per_service(n)));
        let classes = meshgen::routing::classes(&scenario);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new("user_per_service/who_gets_what", n),
            &scenario.steps[0].routes,
            |b, routes| {
                b.iter(|| {
                    (routes.iter())
                        .map(|r| meshgen::routing::audiences(black_box(r), &classes).len())
                        .sum::<usize>()
                })
            },
        );
    }
    for n in [10_000, 100_000] {
        let source = Source::new("unknown.toml", generate::unknown_keys(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("unknown_keys", n), &source, |b, s| {
            b.iter(|| {
                let checked = meshgen::scenario::check(black_box(s));
                assert_eq!(checked.diagnostics.len(), n, "one error per key");
                (checked.diagnostics.iter())
                    .map(|d| d.render(s, false).len())
                    .sum::<usize>()
            })
        });
    }
    for n in [10_000, 100_000] {
        let source = Source::new("long-line.toml", generate::wrong_labels_on_one_line(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("one_line_errors", n), &source, |b, s| {
            b.iter(|| {
                let checked = meshgen::scenario::check(black_box(s));
                assert_eq!(checked.diagnostics.len(), n, "one error per label");
                (checked.diagnostics.iter())
                    .map(|d| d.render(s, false).len())
                    .sum::<usize>()
            })
        });
    }
    for n in [20_000, 200_000] {
        let source = Source::new("labels.toml", generate::namespace_labels(n, false));
        let scenario = model(&source);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("labels/check", n), &source, |b, s| {
            b.iter(|| meshgen::scenario::check(black_box(s)))
        });
        group.bench_with_input(BenchmarkId::new("labels/render", n), &scenario, |b, s| {
            b.iter(|| bundle::bundle(&renderer, black_box(s)).expect("renders"))
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline, call_graph, large);
criterion_main!(benches);
