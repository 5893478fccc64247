//! The standard streams: a failure to write stdout or stderr is an
//! operational error (exit 2), never a panic, in every command; a closed pipe
//! (`| head`) ends the output quietly with the command's own exit code.

use crate::support::{Sandbox, Sink, Stream, scenario};

/// Not a scenario: each missing table is a diagnostic.
const INVALID: &str = "name = \"bad\"\n";

#[test]
fn a_full_stderr_is_exit_2_and_never_a_panic() {
    let sandbox = Sandbox::new();
    sandbox.write("bad.toml", INVALID);
    let kuard = scenario("kuard");
    // The folder is written, then `wrote out/kuard` cannot be said.
    let run = sandbox.run_into(&["build", &kuard], Stream::Stderr, Sink::Full);
    run.expect_code(2);
    assert!(sandbox.path().join("out/kuard/index.json").is_file());
    for args in [
        // Diagnostics that cannot be shown: the run cannot say why it failed.
        &["check", "bad.toml"][..],
        &["check", "bad.toml", "--format", "json"],
        &["build", "bad.toml"],
        // An operational error that cannot be reported.
        &["build", "missing.toml"],
        // The timings report after the apply stream.
        &["build", &kuard, "--stdout", "--timings"],
        // A usage error of the command line.
        &["build", "--no-such-flag"],
    ] {
        let run = sandbox.run_into(args, Stream::Stderr, Sink::Full);
        run.expect_code(2);
    }
}

#[test]
fn a_full_stdout_is_exit_2_with_the_reason_on_stderr() {
    let sandbox = Sandbox::new();
    sandbox.write("bad.toml", INVALID);
    let (kuard, bookinfo) = (scenario("kuard"), scenario("bookinfo"));
    sandbox.run(&["build", &kuard]).expect_code(0);
    for args in [
        &["schema"][..],
        &["build", &kuard, "--stdout"],
        &["explain", &bookinfo, "--step", "all-v1"],
        &["diff", &kuard, "--from", "all-blue", "--to", "all-green"],
        &[
            "diff",
            &kuard,
            "--from",
            "all-blue",
            "--to",
            "all-green",
            "--output",
            "json",
        ],
        &["--help"],
        &["--version"],
    ] {
        let run = sandbox.run_into(args, Stream::Stdout, Sink::Full);
        run.expect_code(2);
        // (after the scenario's warnings, for bookinfo)
        assert!(
            run.stderr.ends_with(
                "meshgen: error: cannot write to stdout\n  caused by: No space left on device (os error 28)\n"
            ),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_commands_own_exit_code() {
    let sandbox = Sandbox::new();
    sandbox.write("bad.toml", INVALID);
    let kuard = scenario("kuard");
    // stdout: `meshgen build --stdout | head`, once head has read enough.
    for (args, code) in [
        (&["build", &kuard, "--stdout"][..], 0),
        (&["schema"], 0),
        // diff still tells differences (1) from none (0).
        (
            &["diff", &kuard, "--from", "all-blue", "--to", "all-green"],
            1,
        ),
        (
            &["diff", &kuard, "--from", "all-blue", "--to", "all-blue"],
            0,
        ),
    ] {
        let run = sandbox.run_into(args, Stream::Stdout, Sink::ClosedPipe);
        run.expect_code(code);
        assert_eq!(run.stderr, "", "{args:?}");
    }
    // stderr: `meshgen check bad.toml 2>&1 | head -1`.
    sandbox
        .run_into(&["check", "bad.toml"], Stream::Stderr, Sink::ClosedPipe)
        .expect_code(1);
    sandbox
        .run_into(&["build", &kuard], Stream::Stderr, Sink::ClosedPipe)
        .expect_code(0);
    assert!(sandbox.path().join("out/kuard/index.json").is_file());
}
