//! meshgen compiles an Istio traffic-management scenario (TOML) into ordered
//! Kubernetes YAML bundles, step files and diff previews, without a cluster.
//!
//! The pipeline, one module per stage: `scenario` (load and validate into
//! `model`) → `render` (templates into `resource`s) → `bundle` (order, fold
//! steps) → `output` (atomic writes) and `diff`. This file wires the stages to
//! the command line and is the one place that prints.

pub mod bundle;
pub mod cli;
pub mod crd;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod explain;
pub mod flowchart;
pub mod gitops;
pub mod ingress;
pub mod install;
pub mod istio;
pub mod layout;
pub mod model;
pub mod output;
mod parallel;
pub mod plan;
pub mod printable;
mod re2;
pub mod render;
pub mod resource;
pub mod routing;
pub mod scenario;
pub mod security;
pub mod shell;
pub mod source;

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::bundle::Build;
use crate::cli::{
    BuildArgs, CheckArgs, Cli, Color, Command, DiagnosticFormat, DiffArgs, DiffOutput,
    ScenarioFlags,
};
use crate::cli::{ExplainArgs, ExplainOutput};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::Error;
use crate::model::Scenario;
use crate::render::Renderer;
use crate::source::Source;

/// The scenario format's JSON Schema, as `meshgen schema` prints it.
pub const SCHEMA: &str = include_str!("../schema/scenario.schema.json");

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exit 0: success (for diff: no differences).
    Success,
    /// Exit 1: an invalid scenario (for diff: differences found).
    Failure,
}

/// Runs meshgen with the given command-line arguments and returns its exit
/// code, for the binary to exit with: a successful `build` leaves its
/// scenarios and output in memory for the exit to reclaim.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version on stdout, usage errors on stderr.
            let stream = if e.use_stderr() { "stderr" } else { "stdout" };
            return match e.print() {
                Err(source) if source.kind() != std::io::ErrorKind::BrokenPipe => {
                    report(&Error::Stream { stream, source });
                    ExitCode::from(2)
                }
                _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
            };
        }
    };
    // The colour choice is made per stream: diagnostics on stderr, diffs on stdout.
    let color = wants_color(cli.color, std::io::stderr().is_terminal());
    let result = match cli.command {
        Command::Build(args) => build(&args, color),
        Command::Check(args) => check(&args, color),
        Command::Diff(args) => diff(
            &args,
            color,
            wants_color(cli.color, std::io::stdout().is_terminal()),
        ),
        Command::Schema => print(SCHEMA).map(|()| Outcome::Success),
        Command::Explain(args) => explain(&args, color),
        Command::Completions(args) => {
            print(&shell::completions(args.shell)).map(|()| Outcome::Success)
        }
        Command::Man(args) => shell::man(args.command.as_deref())
            .and_then(|page| print(&page))
            .map(|()| Outcome::Success),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(e) => {
            report(&e);
            ExitCode::from(2)
        }
    }
}

/// Prints an operational error and its causes to stderr. If stderr itself
/// fails, there is nowhere left to say so: the exit code (2) still does.
fn report(error: &Error) {
    let mut text = format!(
        "meshgen: error: {}\n",
        printable::escape(&error.to_string())
    );
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(
            "  caused by: {}\n",
            printable::escape(&cause.to_string())
        ));
        source = cause.source();
    }
    let _ = note(&text);
}

/// Whether to colour a stream: `auto` colours a terminal unless NO_COLOR is set.
fn wants_color(choice: Color, terminal: bool) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none() && terminal,
    }
}

/// A scenario that validated, with its file's path and size. Not its text:
/// nothing reads it past validation, and for a large file it and its line
/// index are near a tenth of a build's peak memory.
struct Compiled {
    path: PathBuf,
    /// The file's size in bytes.
    size: usize,
    scenario: Scenario,
}

/// Reads and validates one scenario file, printing its diagnostics (with a
/// `step`, only those that concern it: `Checked::for_step`).
/// `Ok(None)` when it is invalid (or has warnings under --deny-warnings).
fn compile(
    path: &Path,
    flags: &ScenarioFlags,
    color: bool,
    step: Option<&str>,
) -> Result<Option<Compiled>, Error> {
    let bytes = source::read(path)?;
    let source = match String::from_utf8(bytes) {
        Ok(text) => Source::new(path, text),
        Err(e) => {
            let source = Source::new(path, String::from_utf8_lossy(e.as_bytes()).into_owned());
            let at = e.utf8_error().valid_up_to();
            let d = Diagnostic::error(at..at, "the file is not valid UTF-8 text");
            emit(&d, &source, flags, color)?;
            return Ok(None);
        }
    };
    let checked = scenario::check(&source);
    let checked = match step {
        Some(step) => checked.for_step(step),
        None => checked,
    };
    emit_all(&checked.diagnostics, &source, flags, color)?;
    let denied = flags.deny_warnings
        && checked
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning);
    Ok(checked
        .scenario
        .filter(|_| !denied)
        .map(|scenario| Compiled {
            path: path.to_owned(),
            size: source.text().len(),
            scenario,
        }))
}

/// Prints one diagnostic as `--format` asks, on stderr: text, or a JSON line.
/// Never on stdout, which holds a command's output (YAML, a diff, an explanation).
fn emit(d: &Diagnostic, source: &Source, flags: &ScenarioFlags, color: bool) -> Result<(), Error> {
    note(&formatted(d, source, flags, color))
}

/// How many diagnostics are formatted (on every core) before they are
/// written, in one write: a file with 100,000 errors costs a few hundred
/// writes, not 100,000, and holds a bounded text at a time.
const DIAGNOSTICS_PER_WRITE: usize = 1024;

/// Prints `diagnostics` in their order, as `emit` does one.
fn emit_all(
    diagnostics: &[Diagnostic],
    source: &Source,
    flags: &ScenarioFlags,
    color: bool,
) -> Result<(), Error> {
    for chunk in diagnostics.chunks(DIAGNOSTICS_PER_WRITE) {
        let texts = parallel::map(chunk, |d| formatted(d, source, flags, color));
        note(&texts.concat())?;
    }
    Ok(())
}

/// One diagnostic as `--format` asks: its text, or a JSON line.
fn formatted(d: &Diagnostic, source: &Source, flags: &ScenarioFlags, color: bool) -> String {
    match flags.format {
        DiagnosticFormat::Human => d.render(source, color),
        DiagnosticFormat::Json => format!("{}\n", d.to_json(source)),
    }
}

/// The scenario files a command works on: the given ones, or scenarios/*.toml.
fn scenario_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let dir = Path::new("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Usage("no scenarios/*.toml to build".to_owned()));
    }
    Ok(paths)
}

/// Validates every file; `None` when any is invalid (all diagnostics are
/// printed). A file that cannot be read is reported and the others are
/// still checked; the run then fails with exit 2.
fn compile_all(
    paths: &[PathBuf],
    flags: &ScenarioFlags,
    color: bool,
) -> Result<Option<Vec<Compiled>>, Error> {
    let mut compiled = Vec::new();
    let mut invalid = false;
    let mut unread = 0;
    for path in paths {
        match compile(path, flags, color, None) {
            Ok(Some(c)) => compiled.push(c),
            Ok(None) => invalid = true,
            // A stream that cannot be written ends the run: every other
            // file's diagnostics would be lost too.
            Err(e @ Error::Stream { .. }) => return Err(e),
            Err(e) => {
                report(&e);
                unread += 1;
            }
        }
    }
    if unread > 0 {
        return Err(Error::Usage(format!(
            "{unread} of {} scenario files could not be read",
            paths.len()
        )));
    }
    Ok((!invalid).then_some(compiled))
}

fn build(args: &BuildArgs, color: bool) -> Result<Outcome, Error> {
    let paths = scenario_paths(&args.scenarios)?;
    if args.stdout && paths.len() != 1 {
        return Err(Error::Usage(
            "--stdout takes exactly one scenario".to_owned(),
        ));
    }
    if args.step.is_some() && !args.stdout {
        return Err(Error::Usage(
            "--step picks the routing state --stdout prints: give --stdout too".to_owned(),
        ));
    }
    let mut timings = Timings::start(args.timings);
    let Some(compiled) = compile_all(&paths, &args.flags, color)? else {
        return Ok(Outcome::Failure);
    };
    timings.lap("parse + validate");
    for (i, c) in compiled.iter().enumerate() {
        if let Some(other) = compiled[..i]
            .iter()
            .find(|o| o.scenario.name == c.scenario.name)
        {
            return Err(Error::Usage(format!(
                "{} and {} both name scenario `{}`: they would write the same output folder",
                other.path.display(),
                c.path.display(),
                c.scenario.name
            )));
        }
    }
    let largest = compiled.iter().map(|c| c.size).max();
    let renderer = renderer(
        args.templates.as_deref(),
        args.flags.deny_warnings,
        largest.unwrap_or(0),
    )?
    .with_sync_waves(args.argocd_waves);
    let mut builds = Vec::new();
    for c in &compiled {
        builds.push(bundle::bundle(&renderer, &c.scenario)?);
    }
    timings.lap("render + bundle");
    if !args.crd_schemas.is_empty() {
        let conform = conforms(args, &compiled, &builds)?;
        timings.lap("CRD schema check");
        if !conform {
            return Ok(Outcome::Failure);
        }
    }
    if args.stdout {
        let build = &builds[0];
        let step = match &args.step {
            Some(name) => Some(step_index(build, name)?),
            None => None,
        };
        print(&build.apply_stream(step))?;
        timings.lap("print");
        timings.report()?;
        return Ok(Outcome::Success);
    }
    // Every scenario is rendered, and every output folder found replaceable,
    // before anything is written; each file is written as soon as it is laid
    // out, into a staging folder; every folder is staged before any is
    // swapped in, so a folder that cannot be written replaces none.
    for b in &builds {
        output::replaceable(&args.out.join(&b.name))?;
    }
    let out = output::Out::open(&args.out)?;
    let mut staged = Vec::new();
    for (c, b) in compiled.iter().zip(&builds) {
        let mut count = 0;
        let folder = out.stage(&b.name, |put| {
            layout::emit(b, &c.scenario, &renderer, &mut |name, bytes| {
                count += 1;
                put(name, bytes)
            })
        })?;
        staged.push((folder, count));
    }
    let mut lines = String::new();
    let mut staged = staged.into_iter();
    while let Some((folder, count)) = staged.next() {
        let dir = folder.target().to_owned();
        match folder.swap() {
            Ok(leftover) => {
                lines.push_str(&format!(
                    "meshgen: wrote {} ({count} files)\n",
                    printable::escape(&dir.display().to_string())
                ));
                if let Some(leftover) = leftover {
                    lines.push_str(&format!("meshgen: warning: {leftover}\n"));
                }
            }
            Err(e) => {
                // Rare (the folders are written; only a rename failed): say
                // exactly which folders are new and which are not.
                let not: Vec<String> = std::iter::once(dir)
                    .chain(staged.map(|(f, _)| f.target().to_owned()))
                    .map(|d| printable::escape(&d.display().to_string()).into_owned())
                    .collect();
                lines.push_str(&format!("meshgen: not written: {}\n", not.join(", ")));
                // The swap's error is the one to report, even if this fails.
                let _ = note(&lines);
                return Err(e);
            }
        }
    }
    note(&lines)?;
    timings.lap("lay out and write files");
    timings.report()?;
    // The process exits next (`run` is the binary's): giving a large build's
    // hundreds of thousands of allocations back one by one would only delay
    // that exit (30 ms of 0.8 s at 5,000 services), and the system takes the
    // memory back at once.
    std::mem::forget((compiled, builds));
    Ok(Outcome::Success)
}

/// `build --timings`: the wall time of each stage, printed to stderr at the end.
struct Timings {
    /// When the run started; `None` when timings are off.
    start: Option<Instant>,
    /// When the last stage ended.
    last: Option<Instant>,
    /// Each finished stage and how long it took.
    stages: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn start(on: bool) -> Self {
        let now = on.then(Instant::now);
        Self {
            start: now,
            last: now,
            stages: Vec::new(),
        }
    }

    /// Ends the stage `name` now.
    fn lap(&mut self, name: &'static str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            self.stages.push((name, now - last));
            self.last = Some(now);
        }
    }

    fn report(&self) -> Result<(), Error> {
        let Some(start) = self.start else {
            return Ok(());
        };
        // Taken before printing, so that the total does not count the report.
        let total = start.elapsed().as_secs_f64() * 1e3;
        let mut text = "meshgen: timings\n".to_owned();
        for (name, took) in &self.stages {
            text.push_str(&format!(
                "  {name:<36} {:>9.1} ms\n",
                took.as_secs_f64() * 1e3
            ));
        }
        text.push_str(&format!("  {:<36} {total:>9.1} ms\n", "total"));
        note(&text)
    }
}

/// `--crd-schemas`: checks every document of every build against the given CRDs and
/// prints what does not conform. A document that breaks its CRD's schema is an error
/// (exit 2: the templates rendered it, so it is a meshgen bug with the shipped ones);
/// a document whose apiVersion the CRDs do not serve is `Ok(false)` (exit 1: the
/// scenario targets another Istio release than the cluster runs). A CEL rule of the
/// CRDs that cannot be evaluated is a warning (an error under `--deny-warnings`).
fn conforms(args: &BuildArgs, compiled: &[Compiled], builds: &[Build]) -> Result<bool, Error> {
    let crds = crd::CrdSet::load(&args.crd_schemas).map_err(Error::Crd)?;
    let unevaluable = crds.unevaluable();
    for rule in unevaluable {
        let line = format!(
            "CEL rule of {} at {} cannot be evaluated here and is not checked ({}): {}",
            rule.kind,
            rule.node,
            rule.why,
            rule.rule.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        note(&format!("meshgen: warning: {}\n", printable::escape(&line)))?;
    }
    if args.flags.deny_warnings && !unevaluable.is_empty() {
        return Err(Error::Usage(format!(
            "--deny-warnings: {} CEL rules of the --crd-schemas files cannot be evaluated",
            unevaluable.len()
        )));
    }
    let mut unserved = false;
    let mut violating = Vec::new();
    for (c, build) in compiled.iter().zip(builds) {
        let report = crd::check_build(&crds, build, &c.scenario);
        for finding in &report.findings {
            let line = format!("{}: {finding}", c.path.display());
            note(&format!("meshgen: error: {}\n", printable::escape(&line)))?;
        }
        note(&format!(
            "meshgen: {}: {}\n",
            c.path.display(),
            report.summary()
        ))?;
        unserved |= !report.findings.is_empty() && !report.has_violations();
        violating.extend(report.findings.iter().filter_map(|f| match f.problem {
            crd::Problem::Violations(_) => Some(f.template),
            crd::Problem::Unserved { .. } => None,
        }));
    }
    if !violating.is_empty() {
        let count = violating.len();
        violating.sort_unstable();
        violating.dedup();
        return Err(Error::Nonconforming {
            count,
            templates: violating.into_iter().map(str::to_owned).collect(),
            custom_templates: args.templates.is_some(),
        });
    }
    Ok(!unserved)
}

fn check(args: &CheckArgs, color: bool) -> Result<Outcome, Error> {
    Ok(match compile_all(&args.scenarios, &args.flags, color)? {
        Some(_) => Outcome::Success,
        None => Outcome::Failure,
    })
}

/// The templates `--templates` asks for. Each entry of the `--templates` folder that
/// is no template's name is a warning on stderr, and fails the run (exit 2)
/// under `--deny-warnings`. When any template is the user's, each document's
/// rendering gets the fuel budget of a scenario of `scenario_bytes` bytes.
fn renderer(
    templates: Option<&Path>,
    deny_warnings: bool,
    scenario_bytes: usize,
) -> Result<Renderer, Error> {
    let renderer = Renderer::new(templates)?;
    let unknown = renderer.unknown_files();
    for file in unknown {
        note(&format!("meshgen: warning: {file}\n"))?;
    }
    if deny_warnings && !unknown.is_empty() {
        return Err(Error::Usage(format!(
            "--deny-warnings: {} of the --templates folder's entries are not named after a template",
            unknown.len()
        )));
    }
    let fuel = renderer
        .has_overrides()
        .then(|| render::fuel_budget(scenario_bytes));
    Ok(renderer.with_fuel(fuel))
}

fn diff(args: &DiffArgs, color: bool, color_stdout: bool) -> Result<Outcome, Error> {
    let Some(compiled) = compile(&args.scenario, &args.flags, color, None)? else {
        return Err(Error::Usage(format!(
            "{} is not a valid scenario",
            args.scenario.display()
        )));
    };
    let renderer = renderer(
        args.templates.as_deref(),
        args.flags.deny_warnings,
        compiled.size,
    )?
    .with_sync_waves(args.argocd_waves);
    let build = bundle::bundle(&renderer, &compiled.scenario)?;
    let (report, text) = match (&args.from, &args.to, &args.against) {
        (Some(from), Some(to), _) => {
            let (a, b) = (step_index(&build, from)?, step_index(&build, to)?);
            let changes = diff::between_states(&build.state(a), &build.state(b));
            let text = diff::unified(from, to, &changes, args.context);
            (diff::Report::between_steps(&changes), text)
        }
        (_, _, Some(dir)) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "{}: no such output folder",
                    dir.display()
                )));
            }
            let fresh = layout::files(&build, &compiled.scenario, &renderer)?;
            let existing = output::read_to_compare(dir, &fresh)?;
            let report = diff::against(&existing, &fresh);
            let text = report.text(args.context);
            (report, text)
        }
        _ => {
            return Err(Error::Usage(
                "give --from and --to, or --against".to_owned(),
            ));
        }
    };
    // On a terminal, what the files hold (PLAN.md quotes the scenario, a
    // folder's files may hold anything) is shown with its control
    // characters escaped; into a pipe or a file, the diff stays exact.
    let text = if color_stdout || std::io::stdout().is_terminal() {
        printable::escape_keeping(&text, &['\n', '\t'])
    } else {
        Cow::Borrowed(text.as_str())
    };
    match args.output {
        DiffOutput::Json => print(&report.json())?,
        DiffOutput::Text if color_stdout => print(&diff::colorize(&text))?,
        DiffOutput::Text => print(&text)?,
    }
    Ok(if report.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn step_index(build: &Build, name: &str) -> Result<usize, Error> {
    build.step_index(name).ok_or_else(|| {
        let names: Vec<&str> = build.steps.iter().map(|s| s.name.as_str()).collect();
        Error::Usage(format!(
            "no step `{name}` in scenario `{}` (its steps: {})",
            build.name,
            names.join(", ")
        ))
    })
}

/// Writes to stdout (see `write_stream`).
fn print(text: &str) -> Result<(), Error> {
    write_stream(&mut std::io::stdout().lock(), "stdout", text)
}

/// Writes to stderr (see `write_stream`). Every message to people goes
/// through here, never `eprint!`, which panics when stderr fails.
fn note(text: &str) -> Result<(), Error> {
    write_stream(&mut std::io::stderr().lock(), "stderr", text)
}

/// Writes `text` to a standard stream. A failure to write is an operational
/// error (exit 2), never a panic; but a closed pipe (`meshgen build --stdout
/// | head`) is not: the reader stopped reading on purpose, so, like ripgrep,
/// meshgen stops quietly, and the run ends with the command's own exit code.
fn write_stream(stream: &mut dyn Write, name: &'static str, text: &str) -> Result<(), Error> {
    match stream
        .write_all(text.as_bytes())
        .and_then(|()| stream.flush())
    {
        Err(source) if source.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Stream {
            stream: name,
            source,
        }),
        _ => Ok(()),
    }
}

fn explain(args: &ExplainArgs, color: bool) -> Result<Outcome, Error> {
    let Some(compiled) = compile(&args.scenario, &args.flags, color, Some(&args.step))? else {
        return Ok(Outcome::Failure);
    };
    let scenario = &compiled.scenario;
    let request = explain::Request {
        headers: args
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), explain::HeaderValue::Literal(v.clone())))
            .collect(),
        uri: args
            .uri
            .clone()
            .unwrap_or_else(|| explain::default_uri(scenario)),
        method: args.method.clone(),
    };
    // `gateway` names the ingress gateway, unless the scenario has none and a
    // service is called that.
    let entry = args.entry.as_deref().map(|e| {
        if e == "gateway" && (scenario.gateway.is_some() || scenario.service(e).is_none()) {
            explain::Entry::Gateway
        } else {
            explain::Entry::Service(e.to_owned())
        }
    });
    // clap makes --from and --to go together.
    let entry = match (&args.from, &args.to) {
        (Some(from), Some(to)) => Some(explain::Entry::Call {
            from: from.clone(),
            to: to.clone(),
        }),
        _ => entry,
    };
    let explanation = explain::explain(scenario, &args.step, &request, entry.as_ref())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let text = match args.output {
        ExplainOutput::Text => explain::render_text(&explanation),
        ExplainOutput::Json => {
            explain::render_json(&explanation).map_err(|e| Error::Usage(e.to_string()))?
        }
    };
    print(&text).map(|()| Outcome::Success)
}
