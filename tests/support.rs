//! Test support: a sandbox folder, a runner for the real binary, and helpers
//! to read YAML streams and the shared Istio facts folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of meshgen did.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing stderr when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\nstderr:\n{}\nstdout:\n{}",
            self.code, self.stderr, self.stdout
        );
        self
    }
}

/// A temporary folder to run meshgen in.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new empty folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `relative`, creating folders.
    pub fn write(&self, relative: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Reads `relative` as text.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Runs meshgen with `args` in this folder, without colour.
    pub fn run(&self, args: &[&str]) -> Run {
        meshgen(self.dir.path(), args)
    }

    /// Runs meshgen with `args` in this folder, `stream` sent to `sink`
    /// instead of being captured (it reads as empty in the `Run`).
    pub fn run_into(&self, args: &[&str], stream: Stream, sink: Sink) -> Run {
        let sink: Stdio = match sink {
            Sink::Full => std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full")
                .into(),
            Sink::ClosedPipe => {
                let (reader, writer) = std::io::pipe().expect("pipe");
                drop(reader);
                writer.into()
            }
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshgen"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("MESHGEN_BLESS");
        match stream {
            Stream::Stdout => command.stdout(sink).stderr(Stdio::piped()),
            Stream::Stderr => command.stdout(Stdio::piped()).stderr(sink),
        };
        let output = command.output().expect("run meshgen");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A standard output stream of meshgen.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where `Sandbox::run_into` sends a stream.
#[derive(Debug, Clone, Copy)]
pub enum Sink {
    /// `/dev/full`: every write fails with "no space left on device".
    Full,
    /// A pipe whose reader has gone (`| head` after it read enough): every
    /// write fails with a broken pipe.
    ClosedPipe,
}

/// Runs the real meshgen binary in `dir`.
pub fn meshgen(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_meshgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MESHGEN_BLESS")
        .output()
        .expect("run meshgen");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped scenario's path, e.g. `scenario("bookinfo")`.
pub fn scenario(name: &str) -> String {
    repo()
        .join("scenarios")
        .join(format!("{name}.toml"))
        .display()
        .to_string()
}

/// The shared folder with Istio's facts and schemas: `MESHGEN_SHARED_DIR`,
/// or `../shared` beside the repository. `None` (and a note) when absent; a
/// failure instead when `MESHGEN_REQUIRE_SHARED` is set, as in CI. The tests
/// that need it are also ignored, with the reason, when it was absent at
/// build time (build.rs), so that a local run shows them in its summary.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MESHGEN_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    if dir.is_dir() {
        Some(dir)
    } else {
        require_shared(&dir);
        None
    }
}

/// Notes that `missing`, a part of the shared folder, is not there, or fails
/// the test when `MESHGEN_REQUIRE_SHARED` is set.
#[track_caller]
pub fn require_shared(missing: &Path) {
    assert!(
        std::env::var_os("MESHGEN_REQUIRE_SHARED").is_none(),
        "MESHGEN_REQUIRE_SHARED is set but {} is not there (set MESHGEN_SHARED_DIR)",
        missing.display()
    );
    eprintln!(
        "skipping: {} not found (set MESHGEN_SHARED_DIR)",
        missing.display()
    );
}

/// Parses a multi-document YAML stream.
pub fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

/// Every file under `dir`, by relative path with `/`, sorted, with its bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((relative, std::fs::read(&path).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

/// A unified diff of two texts, for assertion messages.
pub fn text_diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}
