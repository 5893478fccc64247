//! The output folder through the real binary: meshgen replaces only a folder
//! it wrote.

use std::path::Path;

use crate::support::{Sandbox, files, scenario};

/// The kuard scenario, renamed `name`.
fn kuard_named(name: &str) -> String {
    let text = std::fs::read_to_string(scenario("kuard")).expect("scenario");
    let top = "\nname = \"kuard\"\n";
    assert!(text.find(top) < text.find('['), "{text}");
    text.replacen(top, &format!("\nname = \"{name}\"\n"), 1)
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_folder_meshgen_did_not_write_is_refused_with_exit_2_and_left_as_it_is() {
    let sandbox = Sandbox::new();
    sandbox.write("src/main.rs", "fn main() {}\n");
    sandbox.write("src/lib.rs", "//! precious\n");
    let src = sandbox.write("src.toml", kuard_named("src"));
    // `--out .` with a scenario named `src`: the user's own ./src is there.
    let run = sandbox.run(&[
        "build",
        &scenario("kuard"),
        &src.display().to_string(),
        "--out",
        ".",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "src: a folder is there that meshgen did not write (it has no index.json); \
             meshgen replaces only an output folder it wrote, and leaves this one as it is"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        files(&sandbox.path().join("src")),
        [
            ("lib.rs".to_owned(), b"//! precious\n".to_vec()),
            ("main.rs".to_owned(), b"fn main() {}\n".to_vec())
        ]
    );
    assert_eq!(
        entries(sandbox.path()),
        ["src", "src.toml"],
        "nothing is written, not even the other scenario's folder"
    );
}

#[test]
fn output_of_an_earlier_version_is_recognised_by_its_index_and_rebuilt() {
    let sandbox = Sandbox::new();
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    let fresh = files(&sandbox.path().join("out/kuard"));
    // The index.json of meshgen's first release: no `kustomization` or
    // `routing` keys, pretty-printed, and no other mark of meshgen.
    let mut index: serde_json::Value =
        serde_json::from_str(&sandbox.read("out/kuard/index.json")).expect("index");
    let object = index.as_object_mut().expect("an object");
    object.remove("kustomization");
    object.remove("routing");
    sandbox.write(
        "out/kuard/index.json",
        serde_json::to_string_pretty(&index).expect("json"),
    );
    std::fs::remove_dir_all(sandbox.path().join("out/kuard/routing")).expect("routing");
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    assert!(files(&sandbox.path().join("out/kuard")) == fresh);
}
