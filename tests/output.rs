//! The output folder through the real binary: meshgen replaces only a folder
//! it wrote, stages every folder of a build before it swaps any in, and the
//! next build puts back or removes what a killed build left beside it.

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

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("metadata"))
}

#[cfg(unix)]
#[test]
fn a_build_killed_between_its_two_renames_is_restored_and_cleaned_by_the_next_build() {
    let sandbox = Sandbox::new();
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    let out = sandbox.path().join("out");
    let fresh = files(&out.join("kuard"));
    // What a build killed between its renames leaves: the previous folder
    // aside, its own whole staging folder, and no out/kuard.
    let aside = out.join(".kuard.old-999999-0");
    std::fs::rename(out.join("kuard"), &aside).expect("aside");
    sandbox.write("out/.kuard.new-999999-0/01-mesh.yaml", "new\n");
    // Another scenario's staging folder is not this build's to remove.
    sandbox.write("out/.bookinfo.new-999999-0/01-mesh.yaml", "other\n");
    let previous = inode(&aside.join("03-workloads.yaml"));
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    assert_eq!(entries(&out), [".bookinfo.new-999999-0", "kuard"]);
    assert!(files(&out.join("kuard")) == fresh);
    // The previous folder was put back, then replaced: its unchanged files
    // are linked into the new one, not written again.
    assert_eq!(inode(&out.join("kuard/03-workloads.yaml")), previous);
}

#[test]
fn stale_staging_folders_of_killed_builds_are_removed_by_the_next_build_of_that_name() {
    let sandbox = Sandbox::new();
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    for stale in [
        ".kuard.new-999999-0",
        ".kuard.new-999998-3",
        ".kuard.old-999997-0",
    ] {
        sandbox.write(&format!("out/{stale}/steps/01-all-blue.yaml"), "stale\n");
    }
    // The folder a killed build had moved aside was kuard's output.
    let index = sandbox.read("out/kuard/index.json");
    sandbox.write("out/.kuard.old-999997-0/index.json", index);
    sandbox.run(&["build", &scenario("kuard")]).expect_code(0);
    assert_eq!(entries(&sandbox.path().join("out")), ["kuard"]);
}

/// A scenario whose name and step name are 63 characters long, the most
/// either may be: its staging folder's paths are the longest a build makes.
fn long_named() -> String {
    let long = "x".repeat(63);
    format!(
        "name = \"{long}\"\n[mesh]\nversion = \"1.22\"\n[namespace]\nname = \"ns\"\n\
         [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n\
         [[steps]]\nname = \"{long}\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n"
    )
}

/// On Linux a path may be 4,095 bytes long: under an `--out` this deep, the
/// staging folder of kuard fits and that of `long_named` does not.
#[cfg(target_os = "linux")]
#[test]
fn a_build_of_two_scenarios_where_the_second_cannot_be_written_replaces_neither() {
    let sandbox = Sandbox::new();
    if sandbox.path().as_os_str().len() > 60 {
        eprintln!("skipped: the temporary folder's path is too long for this test");
        return;
    }
    let deep = (0..16)
        .map(|i| format!("{i:x}").repeat(249))
        .collect::<Vec<_>>()
        .join("/")[..3990]
        .trim_end_matches('/')
        .to_owned();
    std::fs::create_dir_all(sandbox.path().join(&deep)).expect("deep folder");
    let long = sandbox.write("long.toml", long_named());
    sandbox
        .run(&["build", &long.display().to_string(), "--out", "."])
        .expect_code(0);
    sandbox
        .run(&["build", &scenario("kuard"), "--out", &deep])
        .expect_code(0);
    let kuard = sandbox.path().join(&deep).join("kuard");
    let folder = inode(&kuard);
    std::fs::write(
        kuard.join("kept.txt"),
        "proof the folder was not replaced\n",
    )
    .expect("mark");
    let run = sandbox.run(&[
        "build",
        &scenario("kuard"),
        &long.display().to_string(),
        "--out",
        &deep,
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("File name too long"), "{}", run.stderr);
    assert!(!run.stderr.contains("wrote"), "{}", run.stderr);
    assert_eq!(inode(&kuard), folder, "kuard is the same folder");
    assert!(kuard.join("kept.txt").is_file());
    assert_eq!(
        entries(&sandbox.path().join(&deep)),
        ["kuard"],
        "neither staging folder is left"
    );
}
