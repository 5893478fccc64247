//! The command line: global flags and subcommands, as clap derive types.
//! Owns no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compile Istio traffic-management scenarios into ordered Kubernetes YAML.
#[derive(Debug, Parser)]
#[command(name = "meshgen", version, about, long_about = None)]
pub struct Cli {
    /// When to colour diagnostics: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile scenarios into output folders (no argument: every scenarios/*.toml).
    Build(BuildArgs),
    /// Validate scenarios without writing anything.
    Check(CheckArgs),
    /// Show the routing difference between two steps, or what a build would change in a folder.
    Diff(DiffArgs),
    /// Print the scenario format's JSON Schema.
    Schema,
}

/// Flags shared by every command that reads scenarios.
#[derive(Debug, Args)]
pub struct ScenarioFlags {
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Read templates from this folder instead of the built-in ones (same file names).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// `meshgen build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Scenario files; none means every scenarios/*.toml.
    pub scenarios: Vec<PathBuf>,
    /// Folder the output folders go into.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "out",
        conflicts_with = "stdout"
    )]
    pub out: PathBuf,
    /// Print everything `kubectl apply -f -` takes as one YAML stream instead of writing files.
    #[arg(long)]
    pub stdout: bool,
    /// With --stdout: also print the routing state after this step.
    #[arg(long, value_name = "NAME", requires = "stdout")]
    pub step: Option<String>,
    /// Shared scenario flags.
    #[command(flatten)]
    pub flags: ScenarioFlags,
}

/// `meshgen check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Shared scenario flags.
    #[command(flatten)]
    pub flags: ScenarioFlags,
}

/// `meshgen diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Step to diff from.
    #[arg(long, value_name = "NAME", requires = "to", conflicts_with = "against")]
    pub from: Option<String>,
    /// Step to diff to.
    #[arg(long, value_name = "NAME", requires = "from")]
    pub to: Option<String>,
    /// An existing output folder to compare a fresh build with.
    #[arg(long, value_name = "DIR", required_unless_present = "from")]
    pub against: Option<PathBuf>,
    /// Lines of context around each change.
    #[arg(long, value_name = "N", default_value_t = crate::diff::DEFAULT_CONTEXT)]
    pub context: usize,
    /// Shared scenario flags.
    #[command(flatten)]
    pub flags: ScenarioFlags,
}
