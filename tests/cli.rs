//! The command line as a new user meets it: where diagnostics go, what each
//! subcommand's flags do, usage errors, operational errors, completions and
//! the man page; and the set-up before it (the README's quick start, a build
//! that needs no C toolchain).

use crate::support::{Sandbox, scenario};

#[test]
fn an_io_error_prints_its_cause_once() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "meshgen: error: scenarios: No such file or directory (os error 2)\n"
    );
    let run = sandbox.run(&["check", "missing.toml"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "meshgen: error: missing.toml: No such file or directory (os error 2)\n\
         meshgen: error: 1 of 1 scenario files could not be read\n"
    );
}

#[test]
fn a_template_error_prints_its_detail_once() {
    let sandbox = Sandbox::new();
    let templates = crate::support::repo().join("templates");
    for entry in std::fs::read_dir(&templates).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("template");
        let text = if name == "namespace.yaml.j2" {
            text + "{{ x( }}\n"
        } else {
            text
        };
        sandbox.write(&format!("t/{name}"), text);
    }
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "t"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr.matches("unexpected `}`").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("caused by"), "{}", run.stderr);
}

#[test]
fn explain_json_output_with_json_diagnostics_is_one_json_document_on_stdout() {
    // bookinfo's fault steps warn at check time: the warnings are JSON lines on
    // stderr, the explanation is the whole of stdout.
    let run = Sandbox::new().run(&[
        "explain",
        &scenario("bookinfo"),
        "--step",
        "ratings-delay",
        "--header",
        "end-user=jason",
        "--format",
        "json",
        "--output",
        "json",
    ]);
    run.expect_code(0);
    let explanation: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", run.stdout));
    assert_eq!(explanation["step"], "ratings-delay");
    assert!(!run.stderr.is_empty(), "bookinfo's fault steps warn");
    for line in run.stderr.lines() {
        let diagnostic: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(diagnostic["severity"], "warning", "{line}");
    }
}

#[test]
fn check_format_json_writes_diagnostic_lines_to_stderr_only() {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", "name = \"BAD\"\n");
    let run = sandbox.run(&["check", "s.toml", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|d| d["line"] == 1 && d["column"] == 8 && d["severity"] == "error"),
        "{lines:?}"
    );
}

/// One or more flags of a subcommand and the effect that shows they are honoured.
struct FlagCase {
    /// The subcommand.
    command: &'static str,
    /// The flags of `meshgen COMMAND --help` this case exercises.
    flags: &'static [&'static str],
    /// Runs before each of the two runs (e.g. a build to diff against).
    setup: &'static [&'static [&'static str]],
    /// The arguments with the flags.
    with: &'static [&'static str],
    /// The same request without them.
    without: &'static [&'static str],
    /// True for the run with the flags, false for the run without.
    effect: fn(&Sandbox, &crate::support::Run) -> bool,
}

/// `s.toml` is bookinfo (valid, with two warnings of its fault steps); `t/`
/// holds a namespace template that adds a comment.
const FLAG_CASES: &[FlagCase] = &[
    // build
    FlagCase {
        command: "build",
        flags: &["--out"],
        setup: &[],
        with: &["build", "s.toml", "--out", "elsewhere"],
        without: &["build", "s.toml"],
        effect: |s, r| r.code == 0 && s.path().join("elsewhere/bookinfo/PLAN.md").is_file(),
    },
    FlagCase {
        command: "build",
        flags: &["--stdout"],
        setup: &[],
        with: &["build", "s.toml", "--stdout"],
        without: &["build", "s.toml"],
        effect: |_, r| r.code == 0 && r.stdout.contains("kind: Deployment"),
    },
    FlagCase {
        command: "build",
        flags: &["--step"],
        setup: &[],
        with: &["build", "s.toml", "--stdout", "--step", "jason-v2"],
        without: &["build", "s.toml", "--stdout"],
        effect: |_, r| r.code == 0 && r.stdout.contains("jason"),
    },
    FlagCase {
        command: "build",
        flags: &["--crd-schemas"],
        setup: &[],
        with: &["build", "s.toml", "--crd-schemas", "crds.yaml"],
        without: &["build", "s.toml"],
        effect: |_, r| r.code == 2 && r.stderr.contains("CRD file crds.yaml"),
    },
    FlagCase {
        command: "build",
        flags: &["--argocd-waves"],
        setup: &[],
        with: &["build", "s.toml", "--stdout", "--argocd-waves"],
        without: &["build", "s.toml", "--stdout"],
        effect: |_, r| r.code == 0 && r.stdout.contains("argocd.argoproj.io/sync-wave"),
    },
    FlagCase {
        command: "build",
        flags: &["--timings"],
        setup: &[],
        with: &["build", "s.toml", "--timings"],
        without: &["build", "s.toml"],
        effect: |_, r| r.code == 0 && r.stderr.contains("meshgen: timings"),
    },
    FlagCase {
        command: "build",
        flags: &["--templates"],
        setup: &[],
        with: &["build", "s.toml", "--stdout", "--templates", "t"],
        without: &["build", "s.toml", "--stdout"],
        effect: |_, r| r.code == 0 && r.stdout.contains("# custom template"),
    },
    FlagCase {
        command: "build",
        flags: &["--deny-warnings"],
        setup: &[],
        with: &["build", "s.toml", "--deny-warnings"],
        without: &["build", "s.toml"],
        effect: |s, r| r.code == 1 && !s.path().join("out").exists(),
    },
    FlagCase {
        command: "build",
        flags: &["--format"],
        setup: &[],
        with: &["build", "s.toml", "--format", "json"],
        without: &["build", "s.toml"],
        effect: |_, r| r.code == 0 && r.stderr.starts_with('{'),
    },
    FlagCase {
        command: "build",
        flags: &["--color"],
        setup: &[],
        with: &["build", "s.toml", "--color", "always"],
        without: &["build", "s.toml"],
        effect: |_, r| r.stderr.contains("\x1b["),
    },
    // check
    FlagCase {
        command: "check",
        flags: &["--deny-warnings"],
        setup: &[],
        with: &["check", "s.toml", "--deny-warnings"],
        without: &["check", "s.toml"],
        effect: |_, r| r.code == 1,
    },
    FlagCase {
        command: "check",
        flags: &["--format"],
        setup: &[],
        with: &["check", "s.toml", "--format", "json"],
        without: &["check", "s.toml"],
        effect: |_, r| r.code == 0 && r.stderr.starts_with('{'),
    },
    FlagCase {
        command: "check",
        flags: &["--color"],
        setup: &[],
        with: &["check", "s.toml", "--color", "always"],
        without: &["check", "s.toml"],
        effect: |_, r| r.stderr.contains("\x1b["),
    },
    // diff
    FlagCase {
        command: "diff",
        flags: &["--from", "--to"],
        setup: &[],
        with: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        without: &["diff", "s.toml"],
        effect: |_, r| r.code == 1 && r.stdout.contains("--- a/all-v1/"),
    },
    FlagCase {
        command: "diff",
        flags: &["--against"],
        setup: &[&["build", "s.toml"]],
        with: &["diff", "s.toml", "--against", "out/bookinfo"],
        without: &["diff", "s.toml"],
        effect: |_, r| r.code == 0 && r.stdout.is_empty(),
    },
    FlagCase {
        command: "diff",
        flags: &["--context"],
        setup: &[],
        with: &[
            "diff",
            "s.toml",
            "--from",
            "all-v1",
            "--to",
            "jason-v2",
            "--context",
            "0",
        ],
        without: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        effect: |_, r| r.code == 1 && !r.stdout.lines().any(|l| l.starts_with(' ')),
    },
    FlagCase {
        command: "diff",
        flags: &["--output"],
        setup: &[],
        with: &[
            "diff", "s.toml", "--from", "all-v1", "--to", "jason-v2", "--output", "json",
        ],
        without: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        effect: |_, r| serde_json::from_str::<serde_json::Value>(&r.stdout).is_ok(),
    },
    FlagCase {
        command: "diff",
        flags: &["--argocd-waves"],
        setup: &[&["build", "s.toml", "--argocd-waves"]],
        with: &[
            "diff",
            "s.toml",
            "--against",
            "out/bookinfo",
            "--argocd-waves",
        ],
        without: &["diff", "s.toml", "--against", "out/bookinfo"],
        effect: |_, r| r.code == 0,
    },
    FlagCase {
        command: "diff",
        flags: &["--templates"],
        setup: &[&["build", "s.toml", "--templates", "t"]],
        with: &[
            "diff",
            "s.toml",
            "--against",
            "out/bookinfo",
            "--templates",
            "t",
        ],
        without: &["diff", "s.toml", "--against", "out/bookinfo"],
        effect: |_, r| r.code == 0,
    },
    FlagCase {
        command: "diff",
        flags: &["--deny-warnings"],
        setup: &[],
        with: &[
            "diff",
            "s.toml",
            "--from",
            "all-v1",
            "--to",
            "jason-v2",
            "--deny-warnings",
        ],
        without: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        effect: |_, r| r.code == 2 && r.stdout.is_empty(),
    },
    FlagCase {
        command: "diff",
        flags: &["--format"],
        setup: &[],
        with: &[
            "diff", "s.toml", "--from", "all-v1", "--to", "jason-v2", "--format", "json",
        ],
        without: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        effect: |_, r| r.code == 1 && r.stderr.starts_with('{'),
    },
    FlagCase {
        command: "diff",
        flags: &["--color"],
        setup: &[],
        with: &[
            "diff", "s.toml", "--from", "all-v1", "--to", "jason-v2", "--color", "always",
        ],
        without: &["diff", "s.toml", "--from", "all-v1", "--to", "jason-v2"],
        effect: |_, r| r.stdout.contains("\x1b["),
    },
    // explain
    FlagCase {
        command: "explain",
        flags: &["--step"],
        setup: &[],
        with: &["explain", "s.toml", "--step", "ratings-delay"],
        without: &["explain", "s.toml"],
        effect: |_, r| r.code == 0 && r.stdout.starts_with("step ratings-delay:"),
    },
    FlagCase {
        command: "explain",
        flags: &["--header"],
        setup: &[],
        with: &[
            "explain",
            "s.toml",
            "--step",
            "ratings-delay",
            "--header",
            "end-user=jason",
        ],
        without: &["explain", "s.toml", "--step", "ratings-delay"],
        effect: |_, r| r.code == 0 && r.stdout.contains("timed out"),
    },
    FlagCase {
        command: "explain",
        flags: &["--uri"],
        setup: &[],
        with: &["explain", "s.toml", "--step", "all-v1", "--uri", "/login"],
        without: &["explain", "s.toml", "--step", "all-v1"],
        effect: |_, r| r.code == 0 && r.stdout.contains("GET /login"),
    },
    FlagCase {
        command: "explain",
        flags: &["--method"],
        setup: &[],
        with: &["explain", "s.toml", "--step", "all-v1", "--method", "POST"],
        without: &["explain", "s.toml", "--step", "all-v1"],
        effect: |_, r| r.code == 0 && r.stdout.contains("POST /productpage"),
    },
    FlagCase {
        command: "explain",
        flags: &["--entry"],
        setup: &[],
        with: &[
            "explain", "s.toml", "--step", "all-v1", "--entry", "reviews",
        ],
        without: &["explain", "s.toml", "--step", "all-v1"],
        effect: |_, r| r.code == 0 && r.stdout.contains("entering at reviews"),
    },
    FlagCase {
        command: "explain",
        flags: &["--from", "--to"],
        setup: &[],
        with: &[
            "explain", "s.toml", "--step", "all-v1", "--from", "details", "--to", "ratings",
        ],
        without: &["explain", "s.toml", "--step", "all-v1"],
        effect: |_, r| r.code == 0 && r.stdout.contains("entering at details -> ratings"),
    },
    FlagCase {
        command: "explain",
        flags: &["--output"],
        setup: &[],
        with: &["explain", "s.toml", "--step", "all-v1", "--output", "json"],
        without: &["explain", "s.toml", "--step", "all-v1"],
        effect: |_, r| serde_json::from_str::<serde_json::Value>(&r.stdout).is_ok(),
    },
    FlagCase {
        command: "explain",
        flags: &["--deny-warnings"],
        setup: &[],
        with: &[
            "explain",
            "s.toml",
            "--step",
            "ratings-delay",
            "--deny-warnings",
        ],
        without: &["explain", "s.toml", "--step", "ratings-delay"],
        effect: |_, r| r.code == 1 && r.stdout.is_empty(),
    },
    FlagCase {
        command: "explain",
        flags: &["--format"],
        setup: &[],
        with: &[
            "explain",
            "s.toml",
            "--step",
            "ratings-delay",
            "--format",
            "json",
        ],
        without: &["explain", "s.toml", "--step", "ratings-delay"],
        effect: |_, r| r.code == 0 && r.stderr.starts_with('{'),
    },
    FlagCase {
        command: "explain",
        flags: &["--color"],
        setup: &[],
        with: &[
            "explain",
            "s.toml",
            "--step",
            "ratings-delay",
            "--color",
            "always",
        ],
        without: &["explain", "s.toml", "--step", "ratings-delay"],
        effect: |_, r| r.stderr.contains("\x1b["),
    },
];

/// Subcommands that print neither diagnostics nor diffs: the global `--color`
/// has nothing to colour there.
const NOTHING_TO_COLOUR: &[&str] = &["schema", "completions", "man"];

/// The long flags `--help` lists (without --help and --version).
fn listed_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .flat_map(|line| line.split([' ', ',']))
        .filter(|token| token.starts_with("--") && !["--help", "--version"].contains(token))
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// The subcommands `meshgen --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let run = Sandbox::new().run(&["--help"]);
    run.expect_code(0);
    run.stdout
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_flag_a_help_lists_has_an_effect() {
    let namespace =
        std::fs::read_to_string(crate::support::repo().join("templates/namespace.yaml.j2"))
            .expect("shipped template");
    let commands = subcommands();
    assert!(commands.len() >= 5, "{commands:?}");
    for command in &commands {
        let help = Sandbox::new().run(&[command, "--help"]);
        help.expect_code(0);
        let listed = listed_flags(&help.stdout);
        let mut covered: Vec<String> = FLAG_CASES
            .iter()
            .filter(|case| case.command == command)
            .flat_map(|case| case.flags.iter().map(|f| (*f).to_owned()))
            .collect();
        if NOTHING_TO_COLOUR.contains(&command.as_str()) {
            covered.push("--color".to_owned());
        }
        covered.sort();
        assert_eq!(
            listed, covered,
            "`meshgen {command} --help` lists these flags"
        );
    }
    for case in FLAG_CASES {
        let runs = [case.with, case.without].map(|args| {
            let sandbox = Sandbox::new();
            sandbox.write(
                "s.toml",
                std::fs::read_to_string(scenario("bookinfo")).expect("bookinfo"),
            );
            sandbox.write(
                "t/namespace.yaml.j2",
                format!("# custom template\n{namespace}"),
            );
            sandbox.write("crds.yaml", "not: [yaml\n");
            for setup in case.setup {
                sandbox.run(setup).expect_code(0);
            }
            let run = sandbox.run(args);
            (sandbox, run)
        });
        let [(with_sandbox, with), (without_sandbox, without)] = &runs;
        assert!(
            (case.effect)(with_sandbox, with),
            "meshgen {:?} does not show the effect of {:?}: {with:?}",
            case.with,
            case.flags
        );
        assert!(
            !(case.effect)(without_sandbox, without),
            "meshgen {:?} already shows the effect of {:?} without them: {without:?}",
            case.without,
            case.flags
        );
    }
}

#[test]
fn a_templates_folder_that_does_not_exist_is_an_error_not_the_shipped_templates() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["build", &scenario("kuard"), "--templates", "tmpl"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "meshgen: error: --templates tmpl: no such folder\n"
    );
    assert!(!sandbox.path().join("out").exists());
}

#[test]
fn diff_without_a_form_says_either_form_is_required() {
    let run = Sandbox::new().run(&["diff", "x.toml"]);
    run.expect_code(2);
    let expected = "\
error: the following required arguments were not provided:
  <--from <NAME>|--against <DIR>>

Usage: meshgen diff [OPTIONS] <SCENARIO> --from <NAME> --to <NAME>
       meshgen diff [OPTIONS] <SCENARIO> --against <DIR>

For more information, try '--help'.
";
    assert_eq!(run.stderr, expected);
    // Half of the first form names the missing half.
    let run = Sandbox::new().run(&["diff", "x.toml", "--from", "a"]);
    run.expect_code(2);
    assert!(run.stderr.contains("  --to <NAME>\n"), "{}", run.stderr);
}

/// A CustomResourceDefinition of a kind meshgen never emits: every document
/// is then counted as a kind the file does not define, and the build passes.
const WIDGET_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
";

#[test]
fn crd_schemas_before_the_scenario_takes_one_file_and_leaves_the_scenario_alone() {
    let sandbox = Sandbox::new();
    sandbox.write("crds.yaml", WIDGET_CRD);
    sandbox.write(
        "shop.toml",
        std::fs::read_to_string(scenario("kuard")).expect("kuard"),
    );
    let run = sandbox.run(&["build", "--crd-schemas", "crds.yaml", "shop.toml"]);
    run.expect_code(0);
    assert!(
        run.stderr.starts_with(
            "meshgen: shop.toml: 0 documents checked against the supplied CRDs, 0 do not conform"
        ),
        "{}",
        run.stderr
    );
    assert!(sandbox.path().join("out/kuard/PLAN.md").is_file());
}

#[test]
fn crd_schemas_repeated_reads_every_file() {
    let sandbox = Sandbox::new();
    sandbox.write("crds.yaml", WIDGET_CRD);
    sandbox.write("more.yaml", "kind: [\n");
    let kuard = scenario("kuard");
    let args = [
        "build",
        "--crd-schemas",
        "crds.yaml",
        "--crd-schemas",
        "more.yaml",
        kuard.as_str(),
    ];
    let run = sandbox.run(&args);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("meshgen: error: CRD file more.yaml: "),
        "{}",
        run.stderr
    );
}

#[test]
fn diff_against_lists_the_changed_resources_before_the_derived_files() {
    let sandbox = Sandbox::new();
    let kuard = std::fs::read_to_string(scenario("kuard")).expect("kuard");
    sandbox.write("k.toml", &kuard);
    sandbox.run(&["build", "k.toml"]).expect_code(0);
    let edited = kuard.replace("blue = 90, green = 10", "blue = 80, green = 20");
    assert_ne!(edited, kuard);
    sandbox.write("k.toml", edited);
    let run = sandbox.run(&["diff", "k.toml", "--against", "out/kuard"]);
    run.expect_code(1);
    let headers: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        headers,
        [
            "# changed: VirtualService test-ns/kuard in steps/02-canary-10.yaml",
            "# changed: VirtualService test-ns/kuard in routing/02-canary-10/virtual-services.yaml",
            "# changed: steps/02-canary-10.diff",
            "# changed: steps/03-canary-50.diff",
            "# changed: PLAN.md",
            "# changed: index.json",
        ]
    );
    let run = sandbox.run(&[
        "diff",
        "k.toml",
        "--against",
        "out/kuard",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let files: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["file"].as_str())
        .collect();
    assert_eq!(
        files,
        [
            "steps/02-canary-10.yaml",
            "routing/02-canary-10/virtual-services.yaml",
            "steps/02-canary-10.diff",
            "steps/03-canary-50.diff",
            "PLAN.md",
            "index.json",
        ]
    );
}

#[test]
fn completions_for_each_shell_name_every_subcommand_and_flag() {
    let sandbox = Sandbox::new();
    let commands = subcommands();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = sandbox.run(&["completions", shell]);
        run.expect_code(0);
        assert_eq!(run.stderr, "", "{shell}");
        for command in &commands {
            // How each shell's script offers the subcommand.
            let offered = match shell {
                "bash" => format!("meshgen,{command})"),
                "zsh" => format!("'{command}:"),
                "fish" => format!("-f -a \"{command}\" -d"),
                "powershell" => format!("'meshgen;{command}'"),
                _ => format!("cand {command} "),
            };
            assert!(run.stdout.contains(&offered), "{shell}: {offered}");
        }
        // fish writes `-l crd-schemas`, the others `--crd-schemas`.
        for flag in ["crd-schemas", "against", "header", "deny-warnings"] {
            assert!(run.stdout.contains(flag), "{shell}: {flag}");
        }
    }
    // bash is on every machine that runs these tests: the script must parse.
    let bash = sandbox.run(&["completions", "bash"]);
    sandbox.write("meshgen.bash", &bash.stdout);
    let status = std::process::Command::new("bash")
        .args(["-n", "meshgen.bash"])
        .current_dir(sandbox.path())
        .status()
        .expect("run bash");
    assert!(status.success(), "bash -n rejects the completion script");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let run = Sandbox::new().run(&["completions", "tcsh"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("invalid value 'tcsh'"),
        "{}",
        run.stderr
    );
}

#[test]
fn man_prints_a_roff_page_for_meshgen_and_one_for_each_subcommand() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["man"]);
    run.expect_code(0);
    let page = &run.stdout;
    let requests: Vec<&str> = page.lines().filter(|l| l.starts_with('.')).collect();
    assert!(
        requests.contains(&".TH meshgen 1  \"meshgen 0.1.0\" "),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(requests.contains(&section), "{section}: {page}");
    }
    for command in subcommands() {
        let roff_name = format!("meshgen\\-{}(1)", command.replace('-', "\\-"));
        assert!(page.contains(&roff_name), "{roff_name}: {page}");
        let run = sandbox.run(&["man", &command]);
        run.expect_code(0);
        let sub = &run.stdout;
        assert!(
            sub.lines()
                .any(|l| l.starts_with(&format!(".TH meshgen-{command} 1"))),
            "{command}: {sub}"
        );
        let help = sandbox.run(&[&command, "--help"]);
        for flag in listed_flags(&help.stdout) {
            let roff_flag = flag.replace('-', "\\-");
            assert!(
                sub.contains(&roff_flag),
                "{command}: {flag} missing from its page"
            );
        }
    }
    let run = sandbox.run(&["man", "frobnicate"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("no subcommand `frobnicate`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_top_level_table_is_reported_where_the_content_starts_not_under_a_comment() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "s.toml",
        "#:schema ../schema/scenario.schema.json\n\
         # A shop.\n\
         \n\
         name = \"shop\"\n\
         \n\
         [mesh]\n\
         version = \"1.22.0\"\n\
         \n\
         [[services]]\n\
         name = \"web\"\n\
         port = 8080\n\
         [services.versions.v1]\n\
         image = \"example.com/web:1\"\n",
    );
    let run = sandbox.run(&["check", "s.toml"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "s.toml:4:1: error: missing required key `namespace` in the scenario\n  \
         |\n\
         4 | name = \"shop\"\n  \
         | ^\n"
    );
    let run = sandbox.run(&["check", "s.toml", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one line");
    assert_eq!((&json["line"], &json["column"]), (&4.into(), &1.into()));
}

#[test]
fn the_readme_installs_meshgen_before_piping_it_and_tells_the_first_build_warnings() {
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).expect("README");
    let install = readme
        .find("cargo install --path . --locked")
        .expect("the README says how to install meshgen");
    let first_pipe = readme
        .lines()
        .find(|line| line.starts_with("meshgen ") && line.contains("| kubectl"))
        .and_then(|line| readme.find(line))
        .expect("the README pipes meshgen into kubectl");
    assert!(
        install < first_pipe,
        "install comes after the first `meshgen … | kubectl`"
    );

    // What the quick start's `cargo run --release -- build` prints today.
    let sandbox = Sandbox::new();
    let out = sandbox.path().join("out").display().to_string();
    let run = crate::support::meshgen(&crate::support::repo(), &["build", "--out", &out]);
    run.expect_code(0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(": warning: "))
        .collect();
    let said = readme
        .split("The build prints ")
        .nth(1)
        .and_then(|rest| rest.split(" warning").next())
        .expect("the README says how many warnings the first build prints");
    let numbers = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    ];
    assert_eq!(
        numbers.iter().position(|n| *n == said),
        Some(warnings.len()),
        "README says {said} warnings, the build prints:\n{}",
        warnings.join("\n")
    );
    for warning in warnings {
        // The Gateway API scenarios' fault steps fall back to a VirtualService.
        if warning.contains("warning: the Gateway API has no fault injection") {
            assert!(
                readme.contains("has no fault injection"),
                "README does not explain the fault steps' VirtualService"
            );
            continue;
        }
        let step = warning
            .split("warning: step ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .expect("a step's warning");
        assert!(
            readme.contains(&format!("`{step}` step")),
            "README does not explain {step}"
        );
    }
}

/// The packages of Cargo.lock: (name, version) and the dependencies each names.
fn locked_packages() -> Vec<(String, String, Vec<String>)> {
    let lock = std::fs::read_to_string(crate::support::repo().join("Cargo.lock")).expect("lock");
    let lock: toml::Table = toml::from_str(&lock).expect("Cargo.lock is TOML");
    let field =
        |p: &toml::Value, key: &str| p.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    lock["package"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let dependencies = p
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|d| {
                    d.iter()
                        .filter_map(|d| d.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (field(p, "name"), field(p, "version"), dependencies)
        })
        .collect()
}

#[test]
fn cargo_test_of_meshgen_builds_no_crate_that_compiles_c() {
    // Everything meshgen's build, tests and build scripts may compile, on
    // any target: the lock's dependency graph from meshgen.
    let packages = locked_packages();
    let find = |dependency: &str| {
        let mut parts = dependency.split(' ');
        let name = parts.next().unwrap_or("");
        let version = parts.next();
        packages
            .iter()
            .position(|(n, v, _)| n == name && version.is_none_or(|version| v == version))
            .unwrap_or_else(|| panic!("{dependency} is not in Cargo.lock"))
    };
    let mut seen = vec![false; packages.len()];
    let mut pending = vec![find("meshgen 0.1.0")];
    let mut reached = Vec::new();
    // Built only for target_os = "haiku" (chrono's `clock`, asked for by cel 0.13
    // under kube-cel): never on the Linux and macOS targets meshgen builds for.
    let haiku_only = "iana-time-zone-haiku";
    while let Some(i) = pending.pop() {
        if std::mem::replace(&mut seen[i], true) || packages[i].0 == haiku_only {
            continue;
        }
        reached.push(packages[i].0.as_str());
        pending.extend(packages[i].2.iter().map(|d| find(d)));
    }
    for c_builder in ["cc", "cmake", "pkg-config", "bindgen"] {
        assert!(
            !reached.contains(&c_builder),
            "meshgen's dependencies reach `{c_builder}`, a C build: {reached:?}"
        );
    }
    assert!(
        reached.contains(&"clap"),
        "the walk reads the lock: {reached:?}"
    );
}
