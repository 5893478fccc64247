use super::read::read_to_compare_within;
use super::swap::{Swap, rename_twice};
use super::*;

#[test]
fn paths_that_leave_the_folder_are_refused() {
    let dir = Path::new("/tmp/x");
    for bad in ["../a", "/etc/passwd", "a/../../b", "", "./a"] {
        assert!(contained(dir, bad).is_err(), "{bad}");
    }
    assert!(contained(dir, "steps/01-a.yaml").is_ok());
}

/// A scratch folder for one test, empty.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshgen-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The `index.json` of an output folder of scenario `name`, in the shape
/// meshgen writes (one bundle, no step), as a file of `Files`.
fn index(name: &str) -> (String, Vec<u8>) {
    let json = serde_json::json!({
        "scenario": name,
        "bundles": [{"name": "mesh", "file": "01-mesh.yaml", "sha256": "0".repeat(64), "resources": []}],
        "kustomization": "kustomization.yaml",
        "steps": [],
        "routing": [],
        "teardown": {"name": "teardown", "file": "teardown.yaml", "sha256": "1".repeat(64), "resources": []},
        "plan": "PLAN.md",
    });
    (INDEX_FILE.to_owned(), format!("{json:#}\n").into_bytes())
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).expect("metadata"))
}

#[cfg(unix)]
#[test]
fn an_unchanged_file_is_the_previous_one_linked_and_a_changed_one_is_written_whole() {
    let parent = scratch("output-link");
    let target = parent.join("app");
    let big: Vec<u8> = (0..600_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut big_changed = big.clone();
    big_changed[400_000] = b'!';
    let file = |name: &str, bytes: &[u8]| (name.to_owned(), bytes.to_vec());
    let old: Files = vec![
        file("same.yaml", b"same\n"),
        file("steps/same.yaml", b"same too\n"),
        file("changed.yaml", b"old text\n"),
        file("grows.yaml", b"prefix"),
        file("shrinks.yaml", b"longer than the new one"),
        file("big.yaml", &big),
        file("gone.yaml", b"x"),
        index("app"),
    ];
    write(&target, &old).expect("first write");
    let before = |name: &str| inode(&target.join(name));
    let inodes: Vec<u64> = old.iter().map(|(name, _)| before(name)).collect();
    let new: Files = vec![
        file("big.yaml", &big_changed),
        file("changed.yaml", b"new text\n"),
        file("grows.yaml", b"prefix and more"),
        index("app"),
        file("new.yaml", b"new\n"),
        file("same.yaml", b"same\n"),
        file("shrinks.yaml", b"longer"),
        file("steps/same.yaml", b"same too\n"),
    ];
    write(&target, &new).expect("second write");
    assert_eq!(read_folder(&target).expect("read"), new);
    assert_eq!(before("same.yaml"), inodes[0]);
    assert_eq!(before("steps/same.yaml"), inodes[1]);
    for (i, name) in ["changed.yaml", "grows.yaml", "shrinks.yaml", "big.yaml"]
        .iter()
        .enumerate()
    {
        assert_ne!(before(name), inodes[i + 2], "{name} is a new file");
    }
    let _ = fs::remove_dir_all(&parent);
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_in_the_previous_folder_is_not_linked_into_the_new_one() {
    let parent = scratch("output-symlink");
    let target = parent.join("app");
    let outside = parent.join("outside.yaml");
    fs::write(&outside, b"same\n").expect("outside file");
    write(
        &target,
        &[("other.yaml".to_owned(), b"x".to_vec()), index("app")],
    )
    .expect("first write");
    std::os::unix::fs::symlink(&outside, target.join("a.yaml")).expect("symlink");
    write(
        &target,
        &[("a.yaml".to_owned(), b"same\n".to_vec()), index("app")],
    )
    .expect("second write");
    let written = target.join("a.yaml");
    assert!(fs::symlink_metadata(&written).expect("a.yaml").is_file());
    assert_ne!(inode(&written), inode(&outside));
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn a_write_that_fails_midway_leaves_the_previous_folder_and_no_staging() {
    let parent = std::env::temp_dir().join(format!("meshgen-output-{}", std::process::id()));
    let _ = fs::remove_dir_all(&parent);
    let target = parent.join("app");
    let old: Files = vec![
        ("a.yaml".into(), b"old\n".to_vec()),
        index("app"),
        ("same.yaml".into(), b"same\n".to_vec()),
    ];
    write(&target, &old).expect("first write");
    // Two files are written and one linked, then the fourth is refused.
    let new: Files = vec![
        ("a.yaml".into(), b"new\n".to_vec()),
        ("same.yaml".into(), b"same\n".to_vec()),
        ("steps/b.yaml".into(), b"new\n".to_vec()),
        ("../escape.yaml".into(), b"x\n".to_vec()),
    ];
    assert!(write(&target, &new).is_err());
    assert_eq!(read_folder(&target).expect("read"), old);
    assert_eq!(
        entries(&parent),
        ["app"],
        "no staging folder is left behind"
    );
    assert!(!parent.join("escape.yaml").exists());
    let _ = fs::remove_dir_all(&parent);
}

/// The names in `parent`, sorted.
fn entries(parent: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(parent)
        .expect("parent")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn a_file_or_symbolic_link_where_the_folder_goes_is_refused_and_left_as_it_is() {
    let parent = scratch("output-occupied");
    let elsewhere = parent.join("elsewhere");
    write(&elsewhere, &[("keep.yaml".to_owned(), b"keep\n".to_vec())]).expect("folder");
    fs::write(parent.join("file"), b"precious\n").expect("file");
    std::os::unix::fs::symlink(&elsewhere, parent.join("link")).expect("symlink");
    std::os::unix::fs::symlink(parent.join("nowhere"), parent.join("dangling"))
        .expect("dangling symlink");
    let files = [("a.yaml".to_owned(), b"new\n".to_vec())];
    for name in ["file", "link", "dangling"] {
        let error = write(&parent.join(name), &files).expect_err(name);
        assert!(
            error.to_string().contains("not an output folder"),
            "{name}: {error}"
        );
    }
    assert_eq!(fs::read(parent.join("file")).expect("file"), b"precious\n");
    assert_eq!(
        read_folder(&parent.join("link")).expect("through the link"),
        [("keep.yaml".to_owned(), b"keep\n".to_vec())]
    );
    assert_eq!(entries(&parent), ["dangling", "elsewhere", "file", "link"]);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn writes_into_the_same_folder_at_once_take_turns_and_each_leaves_a_whole_folder() {
    let parent = scratch("output-concurrent");
    let target = parent.join("app");
    let folder = |writer: u8| -> Files {
        let mut files: Files = (0..20)
            .map(|i| (format!("steps/{i:02}.yaml"), vec![b'a' + writer; 100 + i]))
            .collect();
        files.insert(0, index("app"));
        files
    };
    std::thread::scope(|threads| {
        for writer in 0..4u8 {
            let (target, files) = (&target, folder(writer));
            threads.spawn(move || {
                for _ in 0..25 {
                    let leftover = write(target, &files).expect("every write succeeds");
                    assert!(leftover.is_none());
                }
            });
        }
    });
    let written = read_folder(&target).expect("read");
    assert!(
        (0..4).any(|writer| written == folder(writer)),
        "the folder is one write's, whole"
    );
    assert_eq!(entries(&parent), ["app"], "nothing is left beside it");
    let _ = fs::remove_dir_all(&parent);
}

#[cfg(unix)]
#[test]
fn a_previous_folder_that_cannot_be_removed_is_a_leftover_beside_the_new_one() {
    use std::os::unix::fs::PermissionsExt;
    let parent = scratch("output-leftover");
    let target = parent.join("app");
    write(
        &target,
        &[index("app"), ("steps/a.yaml".to_owned(), b"old\n".to_vec())],
    )
    .expect("first write");
    let steps = target.join("steps");
    fs::set_permissions(&steps, fs::Permissions::from_mode(0o555)).expect("chmod");
    let probe = steps.join("probe");
    if fs::write(&probe, b"").is_ok() {
        eprintln!("skipped: this user may write into a read-only folder (root?)");
        let _ = fs::remove_file(&probe);
        let _ = fs::remove_dir_all(&parent);
        return;
    }
    let new = [index("app"), ("steps/a.yaml".to_owned(), b"new\n".to_vec())];
    let leftover = write(&target, &new)
        .expect("the write itself succeeds")
        .expect("a leftover");
    assert_eq!(read_folder(&target).expect("read"), new);
    assert!(leftover.path.starts_with(&parent));
    assert!(leftover.to_string().contains("remove it by hand"));
    let old_steps = leftover.path.join("steps");
    fs::set_permissions(&old_steps, fs::Permissions::from_mode(0o755)).expect("chmod back");
    let _ = fs::remove_dir_all(&parent);
}

/// The names in `parent` and under it, with `/`, sorted; folders end in `/`.
fn tree(parent: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![parent.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).expect("folder") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(parent).expect("inside");
            let mut name = relative.to_string_lossy().replace('\\', "/");
            if fs::symlink_metadata(&path).expect("metadata").is_dir() {
                name.push('/');
                pending.push(path);
            }
            names.push(name);
        }
    }
    names.sort();
    names
}

#[test]
fn a_folder_meshgen_did_not_write_is_refused_and_left_as_it_is() {
    let parent = scratch("output-foreign");
    let files = [index("src"), ("a.yaml".to_owned(), b"new\n".to_vec())];
    // Each case: its name, the folder's files, and why it is refused.
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(&str, Files, &str); 5] = [
        ("no index", &[("main.rs", b"fn main() {}\n")], "it has no index.json"),
        ("not json", &[("index.json", b"{\"name\": \"my-app\"\n")], "is not one meshgen writes"),
        (
            "another shape",
            &[("index.json", b"{\"scenario\": \"src\", \"files\": []}\n")],
            "is not one meshgen writes",
        ),
        (
            "no hash",
            &[(
                "index.json",
                b"{\"scenario\": \"src\", \"bundles\": [{\"file\": \"a\", \"sha256\": \"\"}], \"steps\": [], \"plan\": \"PLAN.md\"}",
            )],
            "lists a file without a name or SHA-256",
        ),
        ("another scenario", &[], "is the index of scenario `other`"),
    ];
    for (case, content, why) in cases {
        let target = parent.join("src");
        let _ = fs::remove_dir_all(&target);
        fs::create_dir_all(&target).expect("folder");
        for (name, bytes) in content {
            fs::write(target.join(name), bytes).expect("file");
        }
        if case == "another scenario" {
            let (name, bytes) = index("other");
            fs::write(target.join(name), bytes).expect("index");
        }
        let before = read_folder(&target).expect("read");
        let error = write(&target, &files).expect_err(case);
        let message = error.to_string();
        assert!(
            message.contains("a folder is there that meshgen did not write")
                && message.contains(why),
            "{case}: {message}"
        );
        assert_eq!(
            read_folder(&target).expect("read"),
            before,
            "{case}: untouched"
        );
        assert_eq!(
            entries(&parent),
            ["src"],
            "{case}: nothing staged beside it"
        );
    }
    // index.json as a folder or a symbolic link is not an index either.
    let target = parent.join("src");
    let _ = fs::remove_dir_all(&target);
    fs::create_dir_all(target.join("index.json")).expect("folder");
    let error = write(&target, &files).expect_err("index.json is a folder");
    assert!(
        error.to_string().contains("is not a regular file"),
        "{error}"
    );
    assert!(target.join("index.json").is_dir());
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn output_of_earlier_versions_and_an_empty_folder_are_replaced() {
    let parent = scratch("output-earlier");
    // The index.json of meshgen's first release: no kustomization or
    // routing keys, each resource on several lines, and no marker file.
    let first_release = r#"{
  "scenario": "kuard",
  "bundles": [
{
  "name": "mesh",
  "file": "01-mesh.yaml",
  "sha256": "17645d4ecff6f27ff8eb04ec1da9596c3db0383219bec34403be7146dfd2d7c4",
  "resources": [
    {
      "apiVersion": "install.istio.io/v1alpha1",
      "kind": "IstioOperator",
      "namespace": "istio-system",
      "name": "kuard"
    }
  ]
}
  ],
  "steps": [
{
  "name": "all-blue",
  "file": "steps/01-all-blue.yaml",
  "diff": "steps/01-all-blue.diff",
  "sha256": "768fae4946ac4887381173d71b1d2fda418541b5828a7aa15a675ce5c6f8e81e",
  "resources": []
}
  ],
  "teardown": {"name": "teardown", "file": "teardown.yaml", "sha256": "768fae4946ac4887381173d71b1d2fda418541b5828a7aa15a675ce5c6f8e81e", "resources": []},
  "plan": "PLAN.md"
}
"#;
    let target = parent.join("kuard");
    fs::create_dir_all(target.join("steps")).expect("folder");
    fs::write(target.join("index.json"), first_release).expect("index");
    fs::write(target.join("steps/01-all-blue.yaml"), b"old\n").expect("step");
    let new = [
        index("kuard"),
        ("steps/01-all-blue.yaml".to_owned(), b"new\n".to_vec()),
    ];
    write(&target, &new).expect("replaces the earlier output");
    assert_eq!(read_folder(&target).expect("read"), new);
    let empty = parent.join("empty");
    fs::create_dir(&empty).expect("empty folder");
    let new = [index("empty")];
    write(&empty, &new).expect("replaces an empty folder");
    assert_eq!(read_folder(&empty).expect("read"), new);
    assert_eq!(entries(&parent), ["empty", "kuard"]);
    let _ = fs::remove_dir_all(&parent);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn on_linux_the_folders_are_exchanged_in_one_step_and_the_target_is_never_missing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let parent = scratch("output-exchange");
    let target = parent.join("app");
    let folder = |n: usize| -> Files {
        vec![
            index("app"),
            (format!("steps/{n}.yaml"), n.to_string().into_bytes()),
        ]
    };
    write(&target, &folder(0)).expect("first write");
    // The swap itself is the exchange, not two renames.
    let staging = unique_sibling(&parent, "app", NEW).expect("staging");
    let (name, bytes) = index("app");
    fs::write(staging.join(name), bytes).expect("index");
    let previous = inode(&target);
    let staged = inode(&staging);
    let (how, leftover) = swap(&staging, &target, &parent, "app").expect("swap");
    assert_eq!(how, Swap::Exchanged);
    assert!(leftover.is_none());
    assert_eq!(inode(&target), staged);
    assert_ne!(inode(&target), previous);
    assert_eq!(entries(&parent), ["app"], "the previous folder is removed");
    // A reader looking all the time never finds the folder missing.
    let stop = AtomicBool::new(false);
    let (looks, missing) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|threads| {
        threads.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if fs::symlink_metadata(target.join(INDEX_FILE)).is_err() {
                    missing.fetch_add(1, Ordering::Relaxed);
                }
                looks.fetch_add(1, Ordering::Relaxed);
            }
        });
        for n in 1..=300 {
            write(&target, &folder(n)).expect("write");
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(looks.load(Ordering::Relaxed) > 300, "the reader looked");
    assert_eq!(missing.load(Ordering::Relaxed), 0, "the folder was missing");
    assert_eq!(read_folder(&target).expect("read"), folder(300));
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn where_there_is_no_exchange_two_renames_swap_the_folder_or_put_it_back() {
    let parent = scratch("output-renames");
    let target = parent.join("app");
    let old = [("a.yaml".to_owned(), b"old\n".to_vec()), index("app")];
    write(&target, &old).expect("first write");
    let staging = unique_sibling(&parent, "app", NEW).expect("staging");
    fs::write(staging.join("a.yaml"), b"new\n").expect("file");
    let leftover = rename_twice(&staging, &target, &parent, "app").expect("swap");
    assert!(leftover.is_none());
    assert_eq!(
        read_folder(&target).expect("read"),
        [("a.yaml".to_owned(), b"new\n".to_vec())]
    );
    assert_eq!(entries(&parent), ["app"], "the previous folder is removed");
    // The second rename fails (no staging folder): the first is undone.
    let missing = parent.join(".app.new-1-0");
    assert!(rename_twice(&missing, &target, &parent, "app").is_err());
    assert_eq!(fs::read(target.join("a.yaml")).expect("put back"), b"new\n");
    assert_eq!(entries(&parent), ["app"]);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn a_build_killed_between_the_two_renames_is_restored_by_the_next_one() {
    let parent = scratch("output-killed");
    let target = parent.join("app");
    let previous = [("a.yaml".to_owned(), b"previous\n".to_vec()), index("app")];
    write(&target, &previous).expect("first write");
    // What a build killed between its two renames leaves: the previous
    // folder moved aside, its own staging folder, and no `app`.
    fs::rename(&target, parent.join(".app.old-4242-0")).expect("aside");
    fs::create_dir_all(parent.join(".app.new-4242-0/steps")).expect("staging");
    fs::write(parent.join(".app.new-4242-0/steps/x.yaml"), b"half\n").expect("file");
    // The next build fails: the previous output is back, whole.
    let failed = write_with(&target, |put| {
        put("a.yaml", &mut |out| out.write_all(b"new\n"))?;
        Err(Error::Usage("the build fails".to_owned()))
    });
    assert!(failed.is_err());
    assert_eq!(read_folder(&target).expect("restored"), previous);
    assert_eq!(entries(&parent), ["app"], "nothing is left beside it");
    // And a build that succeeds replaces it as usual.
    fs::rename(&target, parent.join(".app.old-4242-0")).expect("aside");
    let new = [("a.yaml".to_owned(), b"new\n".to_vec()), index("app")];
    write(&target, &new).expect("write");
    assert_eq!(read_folder(&target).expect("read"), new);
    assert_eq!(entries(&parent), ["app"]);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn every_folder_is_staged_before_any_is_swapped_in() {
    let parent = scratch("output-batch");
    let old_a = [("a.yaml".to_owned(), b"old a\n".to_vec()), index("a")];
    let old_b = [("b.yaml".to_owned(), b"old b\n".to_vec()), index("b")];
    write(&parent.join("a"), &old_a).expect("a");
    write(&parent.join("b"), &old_b).expect("b");
    let put_all = |files: &[(String, Vec<u8>)], put: &mut Put<'_>| {
        files
            .iter()
            .try_for_each(|(name, bytes)| put(name, &mut |out| out.write_all(bytes)))
    };
    let new_a = [("a.yaml".to_owned(), b"new a\n".to_vec()), index("a")];
    {
        let out = Out::open(&parent).expect("open");
        let _staged_a = out
            .stage("a", |put| put_all(&new_a, put))
            .expect("a is staged");
        let failed = out.stage("b", |put| {
            put("b.yaml", &mut |out| out.write_all(b"new b\n"))?;
            put("../escape.yaml", &mut |out| out.write_all(b"x\n"))
        });
        assert!(failed.is_err(), "b cannot be written");
        assert!(
            out.stage("a", |_| Ok(())).is_err(),
            "a name is staged once per build"
        );
        // The build stops here: a's staging folder goes with it.
    }
    assert_eq!(
        read_folder(&parent.join("a")).expect("a"),
        old_a,
        "a is not replaced"
    );
    assert_eq!(read_folder(&parent.join("b")).expect("b"), old_b);
    assert_eq!(entries(&parent), ["a", "b"], "no staging folder is left");
    // Both staged, both swapped in.
    let out = Out::open(&parent).expect("open");
    let new_b = [("b.yaml".to_owned(), b"new b\n".to_vec()), index("b")];
    let staged_a = out.stage("a", |put| put_all(&new_a, put)).expect("a");
    let staged_b = out.stage("b", |put| put_all(&new_b, put)).expect("b");
    assert_eq!(staged_b.target(), parent.join("b"));
    assert_eq!(read_folder(&parent.join("a")).expect("a"), old_a, "not yet");
    staged_a.swap().expect("a swapped");
    staged_b.swap().expect("b swapped");
    assert_eq!(read_folder(&parent.join("a")).expect("a"), new_a);
    assert_eq!(read_folder(&parent.join("b")).expect("b"), new_b);
    assert_eq!(entries(&parent), ["a", "b"]);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn stale_staging_folders_of_the_same_name_are_removed_and_nothing_else() {
    let parent = scratch("output-stale");
    let target = parent.join("app");
    write(&target, &[index("app")]).expect("first write");
    for stale in [".app.new-999999-0", ".app.new-1-7", ".app.old-999999-1"] {
        fs::create_dir_all(parent.join(stale).join("steps")).expect("stale folder");
        fs::write(parent.join(stale).join("steps/a.yaml"), b"x\n").expect("file");
    }
    // The folder moved aside was meshgen's output.
    let (name, bytes) = index("app");
    fs::write(parent.join(".app.old-999999-1").join(name), bytes).expect("index");
    // Not a staging folder of `app`: another scenario's, names that only
    // look alike, and a file.
    let kept = [
        ".app.new-1-7.yaml/",
        ".app.new-x-0/",
        ".app2.new-1-0/",
        ".other.new-999999-0/",
        "app.new-1-0/",
    ];
    for name in kept {
        fs::create_dir_all(parent.join(name)).expect("other folder");
    }
    fs::write(parent.join(".app.new-2-0"), b"a file\n").expect("file");
    let new = [("a.yaml".to_owned(), b"new\n".to_vec()), index("app")];
    write(&target, &new).expect("write");
    assert_eq!(read_folder(&target).expect("read"), new);
    let mut expected: Vec<&str> = kept.to_vec();
    expected.extend([".app.new-2-0", "app/", "app/a.yaml", "app/index.json"]);
    expected.sort_unstable();
    assert_eq!(tree(&parent), expected);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn a_folder_an_earlier_version_moved_aside_is_removed_only_if_it_is_meshgens() {
    let parent = scratch("output-aside");
    let target = parent.join("app");
    write(&target, &[index("app")]).expect("first write");
    // Earlier versions moved aside any folder at the target, a user's too.
    let users = parent.join(".app.old-5-0");
    fs::create_dir(&users).expect("folder");
    fs::write(users.join("main.rs"), b"precious\n").expect("file");
    let meshgens = parent.join(".app.old-5-1");
    fs::create_dir(&meshgens).expect("folder");
    let (name, bytes) = index("app");
    fs::write(meshgens.join(name), bytes).expect("index");
    write(&target, &[index("app")]).expect("write");
    assert_eq!(entries(&parent), [".app.old-5-0", "app"]);
    // With no `app`, it is put back where it was, and then refused.
    fs::remove_dir_all(&target).expect("remove");
    let error = write(&target, &[index("app")]).expect_err("a user's folder");
    assert!(error.to_string().contains("did not write"), "{error}");
    assert_eq!(entries(&parent), ["app"]);
    assert_eq!(
        fs::read(target.join("main.rs")).expect("back"),
        b"precious\n"
    );
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn a_staging_folder_of_a_build_that_holds_the_lock_is_not_touched() {
    let parent = scratch("output-live");
    let target = parent.join("app");
    write(&target, &[index("app")]).expect("first write");
    let live = parent.join(".app.new-7-0");
    let turn = lock(&parent).expect("this file system can lock a folder");
    fs::create_dir(&live).expect("a live build's staging folder");
    std::thread::scope(|threads| {
        let writer = threads.spawn(|| write(&target, &[index("app")]));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!writer.is_finished(), "the other build waits for the lock");
        assert!(live.is_dir(), "the live staging folder is there");
        // The live build ends (killed: its staging folder stays behind).
        drop(turn);
        writer.join().expect("writer").expect("write");
    });
    assert!(
        !live.exists(),
        "once the lock is free it is stale, and removed"
    );
    assert_eq!(entries(&parent), ["app"]);
    let _ = fs::remove_dir_all(&parent);
}

#[test]
fn a_file_larger_than_the_limit_is_compared_by_size_and_an_equal_one_is_not_kept() {
    let parent = scratch("output-compare");
    let dir = parent.join("app");
    let file = |name: &str, bytes: &[u8]| (name.to_owned(), bytes.to_vec());
    let existing: Files = vec![
        file("big.yaml", &[b'x'; 40]),
        file("changed.yaml", b"old\n"),
        file("grown.yaml", &[b'y'; 30]),
        file("removed.yaml", b"gone\n"),
        file("removed-big.txt", &[b'z'; 17]),
        file("same.yaml", &[b's'; 40]),
    ];
    write(&dir, &existing).expect("folder");
    let fresh: Files = vec![
        file("big.yaml", b"small\n"),
        file("changed.yaml", b"new\n"),
        file("grown.yaml", &[b'y'; 35]),
        file("same.yaml", &[b's'; 40]),
    ];
    let read = read_to_compare_within(&dir, &fresh, 16).expect("read");
    assert_eq!(
        read,
        [
            ("big.yaml".to_owned(), Existing::TooLarge(40)),
            ("changed.yaml".to_owned(), Existing::Read(b"old\n".to_vec())),
            // Larger than the limit, but no larger than the fresh file.
            ("grown.yaml".to_owned(), Existing::Read(vec![b'y'; 30])),
            ("removed-big.txt".to_owned(), Existing::TooLarge(17)),
            (
                "removed.yaml".to_owned(),
                Existing::Read(b"gone\n".to_vec())
            ),
            // Larger than the limit, and the same bytes: compared as read.
            ("same.yaml".to_owned(), Existing::Same),
        ]
    );
    let _ = fs::remove_dir_all(&parent);
}
