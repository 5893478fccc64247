//! The command line: global flags and subcommands, as clap derive types.
//! Owns no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compile Istio traffic-management scenarios into ordered Kubernetes YAML.
#[derive(Debug, Parser)]
#[command(name = "meshgen", version, about, long_about = None)]
pub struct Cli {
    /// When to colour diagnostics (stderr) and diffs (stdout): auto colours each
    /// stream that is a terminal, unless NO_COLOR is set; always; never.
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
    /// Predict, offline, what one request goes through at a step: every hop, every outcome.
    Explain(ExplainArgs),
    /// Print a shell completion script (e.g. `meshgen completions bash > ~/.local/share/bash-completion/completions/meshgen`).
    Completions(CompletionsArgs),
    /// Print a manual page in roff (e.g. `meshgen man | man -l -`, or `meshgen man > meshgen.1`).
    Man(ManArgs),
}

/// `meshgen completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `meshgen man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand whose page to print (`meshgen-build(1)` for `build`); none: `meshgen(1)`.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Flags shared by every command that reads scenarios.
#[derive(Debug, Args)]
pub struct ScenarioFlags {
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// How to print diagnostics on stderr: human (with a source excerpt) or json
    /// (one JSON object per line, for CI bots).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// `FILE:LINE:COL: error: MESSAGE`, a source excerpt and help, on stderr.
    Human,
    /// One JSON object per diagnostic and line on stderr (file, line, column, severity, message, help).
    Json,
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
    // Not clap's `requires = "stdout"`: a flag's implicit `false` satisfies it.
    #[arg(long, value_name = "NAME")]
    pub step: Option<String>,
    /// Validate every emitted document against the CustomResourceDefinitions in these
    /// files (e.g. `kubectl get crd -o yaml` of your cluster); nothing is written or
    /// printed when one does not conform. One file per flag: repeat it for more.
    #[arg(long = "crd-schemas", value_name = "FILE", action = clap::ArgAction::Append)]
    pub crd_schemas: Vec<PathBuf>,
    /// Annotate every applied document with an Argo CD sync wave that follows the bundle order.
    #[arg(long)]
    pub argocd_waves: bool,
    /// Print the wall time of each stage of the build to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Read templates from this folder instead of the built-in ones (same file names;
    /// a template the folder lacks stays the built-in one).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
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

/// `meshgen diff`: one of two forms, `--from NAME --to NAME` or `--against DIR`.
#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("form").required(true).args(["from", "against"])),
    override_usage = "meshgen diff [OPTIONS] <SCENARIO> --from <NAME> --to <NAME>\n       \
                      meshgen diff [OPTIONS] <SCENARIO> --against <DIR>"
)]
pub struct DiffArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Step to diff from.
    #[arg(long, value_name = "NAME", requires = "to")]
    pub from: Option<String>,
    /// Step to diff to.
    #[arg(long, value_name = "NAME", requires = "from")]
    pub to: Option<String>,
    /// An existing output folder to compare a fresh build with.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// Lines of context around each change.
    #[arg(long, value_name = "N", default_value_t = crate::diff::DEFAULT_CONTEXT)]
    pub context: usize,
    /// text: a unified diff per document; json: a summary per resource with the changed field paths.
    #[arg(long, value_enum, default_value_t = DiffOutput::Text)]
    pub output: DiffOutput,
    /// Build as `meshgen build --argocd-waves` does (for --against a folder built that way).
    #[arg(long)]
    pub argocd_waves: bool,
    /// Read templates from this folder instead of the built-in ones (same file names;
    /// a template the folder lacks stays the built-in one).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Shared scenario flags.
    #[command(flatten)]
    pub flags: ScenarioFlags,
}

/// How `meshgen diff` prints what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffOutput {
    /// Unified diffs, one header line per document.
    Text,
    /// A JSON summary: per resource added, removed or changed, with the changed field paths.
    Json,
}

/// `meshgen explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The step whose routing state (the fold of the steps up to it) is used.
    #[arg(long, value_name = "STEP")]
    pub step: String,
    /// A request header, propagated along every call (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = crate::explain::parse_header)]
    pub headers: Vec<(String, String)>,
    /// The request's path (default: the first exact URI of the first gateway route, or /).
    #[arg(long, value_name = "PATH")]
    pub uri: Option<String>,
    /// The request's method.
    #[arg(long, value_name = "M", default_value = "GET")]
    pub method: String,
    /// Where the request enters: `gateway` or a service (default: the gateway, when a route takes the URI).
    #[arg(long, value_name = "SERVICE|gateway", conflicts_with = "to")]
    pub entry: Option<String>,
    /// The calling service of one call made inside the mesh, declared or not (with --to):
    /// with `[security] authorization`, its principal is checked.
    #[arg(long, value_name = "SERVICE", requires = "to")]
    pub from: Option<String>,
    /// The called service of the call from --from.
    #[arg(long, value_name = "SERVICE", requires = "from")]
    pub to: Option<String>,
    /// text: a tree, one line per hop; json: the whole explanation, for tools.
    #[arg(long, value_enum, default_value_t = ExplainOutput::Text)]
    pub output: ExplainOutput,
    /// Shared scenario flags.
    #[command(flatten)]
    pub flags: ScenarioFlags,
}

/// How `meshgen explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainOutput {
    /// A short tree, one line per hop, then the outcomes.
    Text,
    /// The explanation as JSON.
    Json,
}
