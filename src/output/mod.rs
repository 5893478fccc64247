//! Output: writes a build's files into `<out>/<name>/` atomically (a sibling
//! staging folder, then a swap: one `renameat2(RENAME_EXCHANGE)` on Linux; a
//! file that did not change is the previous one, hard linked), replaces only
//! a folder meshgen wrote, restores or removes what a killed build left
//! beside it, and reads an existing output folder back.
//! The only module that touches the output folder.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

mod read;
mod recognise;
mod staging;
mod swap;
#[cfg(test)]
mod tests;

use read::previous_files;
pub use read::{Existing, READ_WHOLE, read_folder, read_to_compare};
pub use recognise::replaceable;
use staging::Staging;
use swap::{NEW, lock, recover, swap, unique_sibling};

/// Name of the index file: the list of a build's files that tells an
/// output folder meshgen wrote from any other.
pub const INDEX_FILE: &str = "index.json";

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
pub fn write(target: &Path, files: &[(String, Vec<u8>)]) -> Result<Option<Leftover>, Error> {
    write_with(target, |put| {
        files
            .iter()
            .try_for_each(|(relative, bytes)| put(relative, &mut |out| out.write_all(bytes)))
    })
}

/// Like `write`, with the files handed over one at a time by `fill` (a file
/// is written as soon as it is made, so the folder is never all in memory).
/// A file with the same bytes as in the folder it replaces is that file, hard
/// linked: it keeps its inode, modification time and mode, is not written
/// again, and removing the previous folder frees nothing of it. Two writes
/// into the same parent folder take turns. `Ok(Some(_))`: the new folder is
/// in place, but the previous one could not be removed.
pub fn write_with(
    target: &Path,
    fill: impl FnOnce(&mut Put<'_>) -> Result<(), Error>,
) -> Result<Option<Leftover>, Error> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a folder name", target.display())))?
        .to_string_lossy()
        .into_owned();
    Out::open(parent)?.stage(&name, fill)?.swap()
}

/// The folder output folders go into (`--out`), locked while this is held so
/// that builds into it take turns. Folders are staged first and swapped in
/// after, so a build of several scenarios can write every folder before it
/// replaces any.
pub struct Out {
    parent: PathBuf,
    /// The lock on `parent`; `None` where the platform or file system cannot
    /// lock a folder (then nothing a killed build left is touched: without
    /// the lock, it cannot be told from another build's work in progress).
    lock: Option<fs::File>,
    /// The names staged so far: one folder per name.
    names: RefCell<HashSet<String>>,
}

impl Out {
    /// Creates `parent` if needed and waits for its lock.
    pub fn open(parent: &Path) -> Result<Self, Error> {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        Ok(Self {
            parent: parent.to_owned(),
            lock: lock(parent),
            names: RefCell::new(HashSet::new()),
        })
    }

    /// Writes the folder `<parent>/<name>` into a staging folder beside it,
    /// the files handed over one at a time by `fill`; nothing is replaced
    /// until the result is swapped in. First, under the lock, what a killed
    /// build of `name` left is dealt with: a previous folder it had moved
    /// aside is put back when `<name>` is missing, and its staging folders
    /// are removed. Refused, and nothing written, when `<name>` is not a
    /// folder meshgen wrote (see `replaceable`).
    pub fn stage(
        &self,
        name: &str,
        fill: impl FnOnce(&mut Put<'_>) -> Result<(), Error>,
    ) -> Result<Staged<'_>, Error> {
        let target = contained(&self.parent, name)?;
        if Path::new(name).components().count() != 1 {
            return Err(Error::Usage(format!("`{name}`: not a folder name")));
        }
        if !self.names.borrow_mut().insert(name.to_owned()) {
            return Err(Error::Usage(format!(
                "{}: staged twice by one build",
                target.display()
            )));
        }
        if self.lock.is_some() {
            recover(&self.parent, name)?;
        }
        replaceable(&target)?;
        let staged = Staged {
            out: self,
            dir: unique_sibling(&self.parent, name, NEW)?,
            target,
            swapped: false,
        };
        let mut staging = Staging {
            dir: &staged.dir,
            folders: HashSet::new(),
            previous: previous_files(&staged.target),
            previous_dir: &staged.target,
        };
        fill(&mut |relative, bytes| staging.write_file(relative, bytes))?;
        Ok(staged)
    }
}

/// A new output folder, written whole beside the folder it replaces. Dropped
/// without being swapped in, it is removed.
pub struct Staged<'o> {
    out: &'o Out,
    /// The staging folder.
    dir: PathBuf,
    /// `<parent>/<name>`.
    target: PathBuf,
    /// Whether the staging folder was swapped in (and is no longer there).
    swapped: bool,
}

impl Staged<'_> {
    /// Where the folder goes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the folder in place of the previous one. On failure the previous
    /// folder is left as it was. `Ok(Some(_))`: the new folder is in place,
    /// but the previous one could not be removed.
    pub fn swap(mut self) -> Result<Option<Leftover>, Error> {
        let name = self
            .target
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let (_, leftover) = swap(&self.dir, &self.target, &self.out.parent, &name)?;
        self.swapped = true;
        Ok(leftover)
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
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

/// The previous output folder, moved aside by a write that succeeded, when
/// it could not be removed.
#[derive(Debug)]
pub struct Leftover {
    /// Where it is now.
    pub path: PathBuf,
    /// Why removing it failed.
    pub error: io::Error,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the previous output, moved aside to {}, could not be removed ({}): remove it by hand",
            self.path.display(),
            self.error
        )
    }
}
