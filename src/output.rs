//! Output: writes a build's files into `<out>/<name>/` atomically (a sibling
//! temporary folder, then a swap), and reads an existing output folder back.
//! The only module that touches the output folder.

use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// The files of an output folder: relative paths (with `/`) and their bytes.
pub type Files = Vec<(String, Vec<u8>)>;

/// Writes the bytes of one file into the sink it is given.
pub type Fill<'f> = dyn FnMut(&mut dyn Write) -> std::io::Result<()> + 'f;

/// Receives one file of an output folder (its relative path, and what writes
/// its bytes) and writes it.
pub type Put<'a> = dyn FnMut(&str, &mut Fill<'_>) -> Result<(), Error> + 'a;

/// The buffer between a file's `Fill` and the file: large enough that a
/// multi-megabyte file takes few system calls, small enough to stay in cache.
const WRITE_BUFFER: usize = 256 * 1024;

/// Writes `files` (relative paths and bytes) as the folder `target`, replacing
/// it whole. On any failure the previous folder is left as it was. Files are
/// not fsynced: the swap guards against failed builds, not power loss (as
/// compilers' own outputs do).
pub fn write(target: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Error> {
    write_with(target, |put| {
        files
            .iter()
            .try_for_each(|(relative, bytes)| put(relative, &mut |out| out.write_all(bytes)))
    })
}

/// Like `write`, with the files handed over one at a time by `fill` (a file
/// is written as soon as it is made, so the folder is never all in memory).
pub fn write_with(
    target: &Path,
    fill: impl FnOnce(&mut Put<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a folder name", target.display())))?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = unique_sibling(parent, &name, "new")?;
    let mut folders = HashSet::new();
    let result = fill(&mut |relative, bytes| write_file(&staging, relative, bytes, &mut folders))
        .and_then(|()| swap(&staging, target, parent, &name));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Writes one file under `dir` through a buffer, refusing any path that
/// would leave it. `folders` are those already made under `dir`.
fn write_file(
    dir: &Path,
    relative: &str,
    fill: &mut Fill<'_>,
    folders: &mut HashSet<PathBuf>,
) -> Result<(), Error> {
    let path = contained(dir, relative)?;
    if let Some(folder) = path.parent().filter(|f| *f != dir && !folders.contains(*f)) {
        fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        folders.insert(folder.to_owned());
    }
    let file = fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    fill(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(&path, e))
}

/// Collects the bytes a `Fill` writes.
pub fn collect(fill: &mut Fill<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into memory cannot fail.
    let _ = fill(&mut bytes);
    bytes
}

/// `dir/relative`, when `relative` is made only of normal components.
fn contained(dir: &Path, relative: &str) -> Result<PathBuf, Error> {
    let path = Path::new(relative);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    if relative.is_empty() || !normal {
        return Err(Error::Usage(format!(
            "refusing to write `{relative}`: outside the output folder"
        )));
    }
    Ok(dir.join(path))
}

/// Moves `staging` to `target`, moving an existing `target` aside first and
/// removing it only once the new folder is in place.
fn swap(staging: &Path, target: &Path, parent: &Path, name: &str) -> Result<(), Error> {
    if target.exists() {
        let old = unique_sibling(parent, name, "old")?;
        fs::remove_dir(&old).map_err(|e| Error::io(&old, e))?;
        fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
        if let Err(e) = fs::rename(staging, target) {
            // Put the previous output back before reporting.
            let _ = fs::rename(&old, target);
            return Err(Error::io(target, e));
        }
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        fs::rename(staging, target).map_err(|e| Error::io(target, e))?;
    }
    Ok(())
}

/// Creates a new empty folder `.<name>.<what>-<n>` beside the target.
fn unique_sibling(parent: &Path, name: &str, what: &str) -> Result<PathBuf, Error> {
    let pid = std::process::id();
    for n in 0..1000 {
        let path = parent.join(format!(".{name}.{what}-{pid}-{n}"));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Err(Error::Usage(format!(
        "cannot create a temporary folder in {}",
        parent.display()
    )))
}

/// Every file under `dir`, by relative path with `/` separators, sorted.
pub fn read_folder(dir: &Path) -> Result<Files, Error> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((relative, bytes));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let dir = Path::new("/tmp/x");
        for bad in ["../a", "/etc/passwd", "a/../../b", "", "./a"] {
            assert!(contained(dir, bad).is_err(), "{bad}");
        }
        assert!(contained(dir, "steps/01-a.yaml").is_ok());
    }

    #[test]
    fn a_write_that_fails_midway_leaves_the_previous_folder_and_no_staging() {
        let parent = std::env::temp_dir().join(format!("meshgen-output-{}", std::process::id()));
        let _ = fs::remove_dir_all(&parent);
        let target = parent.join("app");
        let old: Files = vec![("a.yaml".into(), b"old\n".to_vec())];
        write(&target, &old).expect("first write");
        // The second file is written, then the third is refused.
        let new: Files = vec![
            ("a.yaml".into(), b"new\n".to_vec()),
            ("steps/b.yaml".into(), b"new\n".to_vec()),
            ("../escape.yaml".into(), b"x\n".to_vec()),
        ];
        assert!(write(&target, &new).is_err());
        assert_eq!(read_folder(&target).expect("read"), old);
        let left: Vec<_> = fs::read_dir(&parent)
            .expect("parent")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["app"], "no staging folder is left behind");
        assert!(!parent.join("escape.yaml").exists());
        let _ = fs::remove_dir_all(&parent);
    }
}
