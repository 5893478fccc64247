//! Putting a staged folder in place: the lock builds take turns by, the
//! atomic exchange (two renames where the platform has none), and the
//! recovery of what a killed build left beside the target.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::recognise::recognise_as;
use super::*;
use crate::error::Error;

/// An exclusive lock on the folder `parent`, held until it is dropped, so
/// that two builds into the same output folder do not swap folders under
/// each other. Where the platform or file system cannot lock a folder, none
/// is taken.
pub(super) fn lock(parent: &Path) -> Option<fs::File> {
    let folder = fs::File::open(parent).ok()?;
    folder.lock().ok()?;
    Some(folder)
}

/// The staging folders of a build: `.<name>.new-<pid>-<n>`.
pub(super) const NEW: &str = "new";

/// A previous folder moved aside by a build: `.<name>.old-<pid>-<n>`.
pub(super) const OLD: &str = "old";

/// How a folder was swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Swap {
    /// One atomic exchange of the two folders: `target` was never missing.
    Exchanged,
    /// Renames: the previous folder aside (if there was one), the new one in.
    Renamed,
}

/// Moves `staging` to `target`. An existing `target` is exchanged with it in
/// one step where the platform can (Linux `renameat2` with
/// `RENAME_EXCHANGE`), so `target` is never missing, even to a build killed
/// halfway; elsewhere, or where the file system refuses the exchange, it is
/// moved aside first (a killed build leaves it as `.<name>.old-…`, which the
/// next build puts back). The previous folder is removed once the new one is
/// in place (a failure to remove it is the `Leftover`: the write is done).
pub(super) fn swap(
    staging: &Path,
    target: &Path,
    parent: &Path,
    name: &str,
) -> Result<(Swap, Option<Leftover>), Error> {
    if fs::symlink_metadata(target).is_err() {
        fs::rename(staging, target).map_err(|e| Error::io(target, e))?;
        return Ok((Swap::Renamed, None));
    }
    if exchange(staging, target).is_ok() {
        // `staging` now holds the previous folder.
        let leftover = fs::remove_dir_all(staging).err().map(|error| Leftover {
            path: staging.to_owned(),
            error,
        });
        return Ok((Swap::Exchanged, leftover));
    }
    rename_twice(staging, target, parent, name).map(|leftover| (Swap::Renamed, leftover))
}

/// Moves the folder `target` aside to `.<name>.old-…`, then `staging` to
/// `target`, and removes the previous folder; on failure, puts it back.
pub(super) fn rename_twice(
    staging: &Path,
    target: &Path,
    parent: &Path,
    name: &str,
) -> Result<Option<Leftover>, Error> {
    // A free name rather than a folder made and removed for it: on ext4,
    // each folder made or removed beside a build costs an inode.
    let old = (0..1000)
        .map(|n| sibling(parent, name, OLD, n))
        .find(|path| fs::symlink_metadata(path).is_err())
        .ok_or_else(|| no_temporary_folder(parent))?;
    fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
    if let Err(e) = fs::rename(staging, target) {
        // Put the previous output back before reporting.
        let _ = fs::rename(&old, target);
        return Err(Error::io(target, e));
    }
    Ok(fs::remove_dir_all(&old)
        .err()
        .map(|error| Leftover { path: old, error }))
}

/// Exchanges two existing paths atomically: `renameat2` with `RENAME_EXCHANGE`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// No atomic exchange on this platform: the caller renames twice.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Deals with what killed builds of `name` left in `parent`; called under the
/// lock, so no build is writing `name` and every `.<name>.new-…` and
/// `.<name>.old-…` folder is stale. When `<name>` is missing (a build was
/// killed between its two renames), the newest folder it had moved aside is
/// put back. Every other staging folder of `name` is removed, and every
/// other moved-aside one that is meshgen's output (earlier versions moved
/// any folder aside, a user's too: such a folder is left). Removal is best
/// effort: a folder that cannot be removed stays, as it would have. Folders
/// of other names, and anything that is not a folder, are left.
pub(super) fn recover(parent: &Path, name: &str) -> Result<(), Error> {
    let mut new = Vec::new();
    let mut old = Vec::new();
    for entry in fs::read_dir(parent).map_err(|e| Error::io(parent, e))? {
        let entry = entry.map_err(|e| Error::io(parent, e))?;
        let kind = entry.file_name().to_str().and_then(|n| left_by(n, name));
        if kind.is_some() && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            let list = if kind == Some(NEW) {
                &mut new
            } else {
                &mut old
            };
            list.push((modified, entry.path()));
        }
    }
    let target = parent.join(name);
    if !old.is_empty() && fs::symlink_metadata(&target).is_err() {
        old.sort();
        if let Some((_, newest)) = old.pop() {
            fs::rename(&newest, &target).map_err(|e| Error::io(&newest, e))?;
        }
    }
    let ours = |path: &&PathBuf| recognise_as(path, name).is_ok();
    for path in new
        .iter()
        .map(|(_, p)| p)
        .chain(old.iter().map(|(_, p)| p).filter(ours))
    {
        let _ = fs::remove_dir_all(path);
    }
    Ok(())
}

/// `Some("new")` or `Some("old")` when `file_name` is a staging or
/// moved-aside folder of `name`: `.<name>.new-<pid>-<n>` or `.<name>.old-<pid>-<n>`.
pub(super) fn left_by(file_name: &str, name: &str) -> Option<&'static str> {
    let rest = file_name.strip_prefix('.')?.strip_prefix(name)?;
    let (what, rest) = [NEW, OLD]
        .into_iter()
        .find_map(|what| Some((what, rest.strip_prefix(&format!(".{what}-"))?)))?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then_some(what)
}

/// Creates a new empty folder `.<name>.<what>-<pid>-<n>` beside the target.
pub(super) fn unique_sibling(parent: &Path, name: &str, what: &str) -> Result<PathBuf, Error> {
    for n in 0..1000 {
        let path = sibling(parent, name, what, n);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Err(no_temporary_folder(parent))
}

/// The `n`th temporary name `.<name>.<what>-<pid>-<n>` beside the target.
pub(super) fn sibling(parent: &Path, name: &str, what: &str, n: u32) -> PathBuf {
    parent.join(format!(".{name}.{what}-{}-{n}", std::process::id()))
}

/// The error when every temporary name beside the target is taken.
pub(super) fn no_temporary_folder(parent: &Path) -> Error {
    Error::Usage(format!(
        "cannot create a temporary folder in {}",
        parent.display()
    ))
}
