//! meshgen compiles an Istio traffic-management scenario (TOML) into ordered
//! Kubernetes YAML bundles, step files and diff previews, without a cluster.
//!
//! The pipeline, one module per stage: `scenario` (load and validate into
//! `model`) → `render` (templates into `resource`s) → `bundle` (order, fold
//! steps) → `output` (atomic writes) and `diff`. This file wires the stages to
//! the command line and is the one place that prints.

pub mod bundle;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod istio;
pub mod model;
pub mod output;
pub mod plan;
pub mod render;
pub mod resource;
pub mod scenario;
pub mod source;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::bundle::Build;
use crate::cli::{BuildArgs, CheckArgs, Cli, Color, Command, DiffArgs, ScenarioFlags};
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

/// Runs meshgen with the given command-line arguments and returns its exit code.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
    };
    let result = match cli.command {
        Command::Build(args) => build(&args, color),
        Command::Check(args) => check(&args, color),
        Command::Diff(args) => diff(&args, color),
        Command::Schema => print(SCHEMA).map(|()| Outcome::Success),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(e) => {
            eprintln!("meshgen: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}

/// A scenario that validated, with its file.
struct Compiled {
    source: Source,
    scenario: Scenario,
}

/// Reads and validates one scenario file, printing its diagnostics.
/// `Ok(None)` when it is invalid (or has warnings under --deny-warnings).
fn compile(path: &Path, flags: &ScenarioFlags, color: bool) -> Result<Option<Compiled>, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let source = match String::from_utf8(bytes) {
        Ok(text) => Source::new(path, text),
        Err(e) => {
            let source = Source::new(path, String::from_utf8_lossy(e.as_bytes()).into_owned());
            let at = e.utf8_error().valid_up_to();
            let d = Diagnostic::error(at..at, "the file is not valid UTF-8 text");
            eprint!("{}", d.render(&source, color));
            return Ok(None);
        }
    };
    let checked = scenario::check(&source);
    for d in &checked.diagnostics {
        eprint!("{}", d.render(&source, color));
    }
    let denied = flags.deny_warnings
        && checked
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning);
    Ok(checked
        .scenario
        .filter(|_| !denied)
        .map(|scenario| Compiled { source, scenario }))
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

/// Validates every file; `None` when any is invalid (all diagnostics are printed).
fn compile_all(
    paths: &[PathBuf],
    flags: &ScenarioFlags,
    color: bool,
) -> Result<Option<Vec<Compiled>>, Error> {
    let mut compiled = Vec::new();
    let mut invalid = false;
    for path in paths {
        match compile(path, flags, color)? {
            Some(c) => compiled.push(c),
            None => invalid = true,
        }
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
    let Some(compiled) = compile_all(&paths, &args.flags, color)? else {
        return Ok(Outcome::Failure);
    };
    for (i, c) in compiled.iter().enumerate() {
        if let Some(other) = compiled[..i]
            .iter()
            .find(|o| o.scenario.name == c.scenario.name)
        {
            return Err(Error::Usage(format!(
                "{} and {} both name scenario `{}`: they would write the same output folder",
                other.source.path().display(),
                c.source.path().display(),
                c.scenario.name
            )));
        }
    }
    let renderer = Renderer::new(args.flags.templates.as_deref())?;
    let mut builds = Vec::new();
    for c in &compiled {
        builds.push(bundle::bundle(&renderer, &c.scenario)?);
    }
    if args.stdout {
        let build = &builds[0];
        let step = match &args.step {
            Some(name) => Some(step_index(build, name)?),
            None => None,
        };
        return print(&build.apply_stream(step)).map(|()| Outcome::Success);
    }
    // Every scenario is rendered before anything is written.
    let outputs: Vec<(PathBuf, output::Files)> = compiled
        .iter()
        .zip(&builds)
        .map(|(c, b)| (args.out.join(&b.name), b.files(&c.scenario)))
        .collect();
    for (dir, files) in &outputs {
        output::write(dir, files)?;
        eprintln!("meshgen: wrote {} ({} files)", dir.display(), files.len());
    }
    Ok(Outcome::Success)
}

fn check(args: &CheckArgs, color: bool) -> Result<Outcome, Error> {
    Ok(match compile_all(&args.scenarios, &args.flags, color)? {
        Some(_) => Outcome::Success,
        None => Outcome::Failure,
    })
}

fn diff(args: &DiffArgs, color: bool) -> Result<Outcome, Error> {
    let Some(compiled) = compile(&args.scenario, &args.flags, color)? else {
        return Err(Error::Usage(format!(
            "{} is not a valid scenario",
            args.scenario.display()
        )));
    };
    let renderer = Renderer::new(args.flags.templates.as_deref())?;
    let build = bundle::bundle(&renderer, &compiled.scenario)?;
    let text = match (&args.from, &args.to, &args.against) {
        (Some(from), Some(to), _) => {
            let (a, b) = (step_index(&build, from)?, step_index(&build, to)?);
            diff::unified(
                from,
                to,
                &diff::between_states(&build.state(a), &build.state(b)),
                args.context,
            )
        }
        (_, _, Some(dir)) => {
            let existing = output::read_folder(dir)?;
            let fresh = build.files(&compiled.scenario);
            diff::folders(&existing, &fresh, args.context)
        }
        _ => {
            return Err(Error::Usage(
                "give --from and --to, or --against".to_owned(),
            ));
        }
    };
    print(&text)?;
    Ok(if text.is_empty() {
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

/// Writes to stdout; a closed pipe is not an error worth a message.
fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io(Path::new("<stdout>"), e))
        }
        _ => Ok(()),
    }
}
