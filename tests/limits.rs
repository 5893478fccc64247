//! Limits on what meshgen reads: a scenario file holds at most 64 MiB, and
//! `diff --against` reads a file of the folder whole only while it is no
//! larger than 64 MiB or than the file the build would write there.

use crate::support::{Sandbox, scenario};

const MIB: u64 = 1024 * 1024;

#[test]
fn a_scenario_file_over_64_mib_is_refused_with_exit_2_before_it_is_parsed() {
    let sandbox = Sandbox::new();
    // Sparse: it takes no room on disk.
    let file = std::fs::File::create(sandbox.path().join("huge.toml")).expect("file");
    file.set_len(64 * MIB + 1).expect("size");
    for command in ["check", "build", "explain"] {
        let mut args = vec![command, "huge.toml"];
        if command == "explain" {
            args.extend(["--step", "a"]);
        }
        let run = sandbox.run(&args);
        run.expect_code(2);
        assert!(
            run.stderr.starts_with(
                "meshgen: error: huge.toml: larger than 64 MiB, the most a scenario file may hold\n"
            ),
            "{command}: {}",
            run.stderr
        );
    }
    assert!(!sandbox.path().join("out").exists());
}

/// Runs meshgen with `args` in `dir` under a limit of `kib` KiB of address
/// space, so that a regression fails instead of filling the machine's memory.
#[cfg(target_os = "linux")]
fn meshgen_within(dir: &std::path::Path, kib: u64, args: &[&str]) -> crate::support::Run {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_meshgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh");
    crate::support::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn check_of_an_endless_file_stops_at_the_limit() {
    // /dev/zero reports a size of 0 and never ends.
    let sandbox = Sandbox::new();
    let run = meshgen_within(sandbox.path(), 2_000_000, &["check", "/dev/zero"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(
            "meshgen: error: /dev/zero: larger than 64 MiB, the most a scenario file may hold\n"
        ),
        "{}",
        run.stderr
    );
}

#[cfg(target_os = "linux")]
#[test]
fn diff_against_a_folder_with_a_huge_file_names_it_without_reading_it() {
    let sandbox = Sandbox::new();
    let kuard = scenario("kuard");
    sandbox.run(&["build", &kuard]).expect_code(0);
    let folder = sandbox.path().join("out/kuard");
    // A 2 GiB file the build does not write, and PLAN.md grown past 64 MiB
    // (both sparse). Neither fits in the address space the run is given.
    let big = std::fs::File::create(folder.join("big.txt")).expect("file");
    big.set_len(2048 * MIB).expect("size");
    let plan = std::fs::OpenOptions::new()
        .write(true)
        .open(folder.join("PLAN.md"))
        .expect("plan");
    plan.set_len(64 * MIB + 1).expect("size");
    let against = ["diff", &kuard, "--against", "out/kuard"];
    let run = meshgen_within(sandbox.path(), 1_500_000, &against);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "# changed: PLAN.md (67108865 bytes in the folder: too large to compare line by line)\n\
         # removed: big.txt (2147483648 bytes in the folder: too large to compare line by line)\n"
    );
    let json = [&against[..], &["--output", "json"]].concat();
    let run = meshgen_within(sandbox.path(), 1_500_000, &json);
    run.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        report,
        serde_json::json!({
            "differences": true,
            "files": [
                {"file": "PLAN.md", "status": "changed"},
                {"file": "big.txt", "status": "removed"}
            ],
            "resources": []
        })
    );
}
