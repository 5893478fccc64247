//! Output: writes a build's files into `<out>/<name>/` atomically (a sibling
//! staging folder, then a swap: one `renameat2(RENAME_EXCHANGE)` on Linux; a
//! file that did not change is the previous one, hard linked), replaces only
//! a folder meshgen wrote, restores or removes what a killed build left
//! beside it, and reads an existing output folder back.
//! The only module that touches the output folder.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

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

/// The new folder while it is written.
struct Staging<'t> {
    dir: &'t Path,
    /// The folders made under `dir` so far.
    folders: HashSet<PathBuf>,
    /// The folder being replaced, and its regular files (relative paths).
    previous_dir: &'t Path,
    previous: HashSet<String>,
}

impl Staging<'_> {
    /// Writes one file through a buffer (or links the previous folder's, when
    /// the bytes are the same), refusing any path that would leave the folder.
    fn write_file(&mut self, relative: &str, fill: &mut Fill<'_>) -> Result<(), Error> {
        let path = contained(self.dir, relative)?;
        if let Some(folder) = path.parent()
            && folder != self.dir
            && !self.folders.contains(folder)
        {
            fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
            self.folders.insert(folder.to_owned());
        }
        let previous = (self.previous.contains(relative))
            .then(|| self.previous_dir.join(relative))
            .and_then(|path| Some((fs::File::open(&path).ok()?, path)));
        let written = match previous {
            Some((file, previous)) => {
                let mut out = BufWriter::with_capacity(WRITE_BUFFER, Compare::new(file, &path));
                fill(&mut out)
                    .and_then(|()| out.into_inner().map_err(|e| e.into_error()))
                    .and_then(|compare| compare.finish(&previous))
            }
            None => fs::File::create(&path).and_then(|file| {
                let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
                fill(&mut out).and_then(|()| out.flush())
            }),
        };
        written.map_err(|e| Error::io(&path, e))
    }
}

/// A sink that reads the previous version of a file alongside what is
/// written, and creates the new file only at the first byte that differs
/// (copying the equal part from the previous version).
struct Compare<'p> {
    previous: fs::File,
    /// How many bytes were equal to the previous version's.
    same: u64,
    path: &'p Path,
    new: Option<fs::File>,
    chunk: Vec<u8>,
}

impl<'p> Compare<'p> {
    fn new(previous: fs::File, path: &'p Path) -> Self {
        Compare {
            previous,
            same: 0,
            path,
            new: None,
            chunk: Vec::new(),
        }
    }

    /// Whether the previous version goes on with `bytes`.
    fn goes_on_with(&mut self, bytes: &[u8]) -> io::Result<bool> {
        self.chunk.clear();
        (&mut self.previous)
            .take(bytes.len() as u64)
            .read_to_end(&mut self.chunk)?;
        Ok(self.chunk == bytes)
    }

    /// Creates the new file, holding the equal part so far.
    fn diverge(&mut self) -> io::Result<&mut fs::File> {
        let mut new = fs::File::create(self.path)?;
        self.previous.seek(SeekFrom::Start(0))?;
        io::copy(&mut (&mut self.previous).take(self.same), &mut new)?;
        Ok(self.new.insert(new))
    }

    /// Ends the file: a hard link to `previous` when every byte was the same
    /// and it has no more (a copy where the file system refuses the link).
    fn finish(mut self, previous: &Path) -> io::Result<()> {
        if self.new.is_none() {
            if self.previous_ended()? && fs::hard_link(previous, self.path).is_ok() {
                return Ok(());
            }
            self.diverge()?;
        }
        Ok(())
    }

    /// Whether the previous version has no byte left.
    fn previous_ended(&mut self) -> io::Result<bool> {
        self.chunk.clear();
        Ok((&mut self.previous).take(1).read_to_end(&mut self.chunk)? == 0)
    }
}

impl Write for Compare<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(new) = &mut self.new {
            new.write_all(bytes)?;
        } else if self.goes_on_with(bytes)? {
            self.same += bytes.len() as u64;
        } else {
            self.diverge()?.write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.new.as_mut().map_or(Ok(()), Write::flush)
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

/// Whether `target` may be replaced: it does not exist, or it is a folder
/// meshgen wrote (see `recognise`). Anything else there (a file, a symbolic
/// link, even to a folder, a folder of the user's) is not output meshgen
/// wrote, and is left as it is.
pub fn replaceable(target: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(target) {
        Ok(meta) if !meta.is_dir() => {
            let what = if meta.is_symlink() {
                "a symbolic link"
            } else {
                "a file"
            };
            Err(Error::Usage(format!(
                "{}: {what} is there, not an output folder; meshgen replaces only a folder \
                 it can swap whole, and leaves this as it is (remove it or choose another --out)",
                target.display()
            )))
        }
        Ok(_) => recognise(target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(target, e)),
    }
}

/// The most of an `index.json` read to recognise an output folder: far more
/// than the index of the largest scenario meshgen reads.
const INDEX_LIMIT: u64 = 1 << 30;

/// `Ok` when the folder `target` is meshgen's output: its `index.json` is a
/// regular file in the shape every version of meshgen wrote, for the scenario
/// the folder is named after. An empty folder holds nothing to lose and may
/// be replaced too. Nothing else is: a folder of the user's that happens to
/// have a scenario's name (`--out .` and a scenario called `src`) is refused.
/// No marker file is needed, so output written by earlier versions (which
/// had none) is recognised too, and the output's bytes do not change.
fn recognise(target: &Path) -> Result<(), Error> {
    recognise_as(
        target,
        &target.file_name().unwrap_or_default().to_string_lossy(),
    )
}

/// `recognise`, for the output folder of scenario `name` wherever it is now
/// (moved aside, it has another name).
fn recognise_as(target: &Path, name: &str) -> Result<(), Error> {
    let index = target.join(INDEX_FILE);
    let refused = |why: String| {
        Err(Error::Usage(format!(
            "{}: a folder is there that meshgen did not write ({why}); meshgen replaces only \
             an output folder it wrote, and leaves this one as it is (remove it or choose \
             another --out)",
            target.display()
        )))
    };
    match fs::symlink_metadata(&index) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return refused(format!("its {INDEX_FILE} is not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut entries = fs::read_dir(target).map_err(|e| Error::io(target, e))?;
            return match entries.next() {
                None => Ok(()),
                Some(_) => refused(format!("it has no {INDEX_FILE}")),
            };
        }
        Err(e) => return Err(Error::io(&index, e)),
    }
    let file = fs::File::open(&index).map_err(|e| Error::io(&index, e))?;
    let shape: IndexShape = match serde_json::from_reader(BufReader::new(file.take(INDEX_LIMIT))) {
        Ok(shape) => shape,
        Err(e) if e.is_io() => return Err(Error::io(&index, e.into())),
        Err(e) => return refused(format!("its {INDEX_FILE} is not one meshgen writes: {e}")),
    };
    if !shape.is_whole() {
        return refused(format!(
            "its {INDEX_FILE} lists a file without a name or SHA-256"
        ));
    }
    if shape.scenario != name {
        return refused(format!(
            "its {INDEX_FILE} is the index of scenario `{}`",
            shape.scenario
        ));
    }
    Ok(())
}

/// What recognises `index.json` as meshgen's: the keys every version wrote
/// (others are not read).
#[derive(Deserialize)]
struct IndexShape {
    scenario: String,
    bundles: Vec<IndexedFile>,
    steps: Vec<IndexedFile>,
    plan: String,
}

/// A bundle or step of `index.json`.
#[derive(Deserialize)]
struct IndexedFile {
    file: String,
    sha256: String,
}

impl IndexShape {
    /// Whether the plan and every listed file have a name, and every file
    /// the SHA-256 of its bytes (64 hex digits).
    fn is_whole(&self) -> bool {
        !self.plan.is_empty()
            && self.bundles.iter().chain(&self.steps).all(|f| {
                !f.file.is_empty()
                    && f.sha256.len() == 64
                    && f.sha256.bytes().all(|b| b.is_ascii_hexdigit())
            })
    }
}

/// An exclusive lock on the folder `parent`, held until it is dropped, so
/// that two builds into the same output folder do not swap folders under
/// each other. Where the platform or file system cannot lock a folder, none
/// is taken.
fn lock(parent: &Path) -> Option<fs::File> {
    let folder = fs::File::open(parent).ok()?;
    folder.lock().ok()?;
    Some(folder)
}

/// The staging folders of a build: `.<name>.new-<pid>-<n>`.
const NEW: &str = "new";

/// A previous folder moved aside by a build: `.<name>.old-<pid>-<n>`.
const OLD: &str = "old";

/// How a folder was swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swap {
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
fn swap(
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
fn rename_twice(
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
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// No atomic exchange on this platform: the caller renames twice.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
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
fn recover(parent: &Path, name: &str) -> Result<(), Error> {
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
fn left_by(file_name: &str, name: &str) -> Option<&'static str> {
    let rest = file_name.strip_prefix('.')?.strip_prefix(name)?;
    let (what, rest) = [NEW, OLD]
        .into_iter()
        .find_map(|what| Some((what, rest.strip_prefix(&format!(".{what}-"))?)))?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then_some(what)
}

/// Creates a new empty folder `.<name>.<what>-<pid>-<n>` beside the target.
fn unique_sibling(parent: &Path, name: &str, what: &str) -> Result<PathBuf, Error> {
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
fn sibling(parent: &Path, name: &str, what: &str, n: u32) -> PathBuf {
    parent.join(format!(".{name}.{what}-{}-{n}", std::process::id()))
}

/// The error when every temporary name beside the target is taken.
fn no_temporary_folder(parent: &Path) -> Error {
    Error::Usage(format!(
        "cannot create a temporary folder in {}",
        parent.display()
    ))
}

/// Every file under `dir`, by relative path with `/` separators, sorted.
pub fn read_folder(dir: &Path) -> Result<Files, Error> {
    let mut files = Vec::new();
    walk(dir, &mut |relative, path| {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        files.push((relative, bytes));
        Ok(())
    })?;
    files.sort();
    Ok(files)
}

/// A file of an existing output folder, as `diff --against` compares it with
/// the fresh file of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Its bytes.
    Read(Vec<u8>),
    /// The same bytes as the fresh file (compared as read, not kept).
    Same,
    /// Not read: larger than [`READ_WHOLE`] and than the fresh file. Its size.
    TooLarge(u64),
}

/// The largest file of an existing folder that `diff --against` reads whole
/// when the fresh build has no larger file of that name: far above anything
/// meshgen writes for a scenario of a usual size. A larger file is reported
/// by its size, not line by line.
pub const READ_WHOLE: u64 = 64 * 1024 * 1024;

/// Every file under `dir`, by relative path with `/` separators, sorted, as
/// `diff --against` compares it with `fresh`: a file with the bytes of the
/// fresh file of its name is compared while read and not kept, one larger
/// than [`READ_WHOLE`] and than the fresh file is not read at all, any other
/// is read whole: no file of the folder is held beyond [`READ_WHOLE`] or
/// the size of the fresh file of its name, and equal files not at all.
pub fn read_to_compare(
    dir: &Path,
    fresh: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Existing)>, Error> {
    read_to_compare_within(dir, fresh, READ_WHOLE)
}

/// `read_to_compare` with `limit` for [`READ_WHOLE`].
fn read_to_compare_within(
    dir: &Path,
    fresh: &[(String, Vec<u8>)],
    limit: u64,
) -> Result<Vec<(String, Existing)>, Error> {
    let fresh: HashMap<&str, &[u8]> = fresh
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let mut files = Vec::new();
    walk(dir, &mut |relative, path| {
        let wanted = fresh.get(relative.as_str()).copied();
        let existing = compare_file(path, wanted, limit).map_err(|e| Error::io(path, e))?;
        files.push((relative, existing));
        Ok(())
    })?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// One file of an existing folder against the fresh bytes of its name.
fn compare_file(path: &Path, fresh: Option<&[u8]>, limit: u64) -> io::Result<Existing> {
    let mut file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    if let Some(fresh) = fresh
        && size == fresh.len() as u64
        && same_bytes(&mut file, fresh)?
    {
        return Ok(Existing::Same);
    }
    // The size on disk is a hint: what is read is bounded whatever it says.
    let limit = limit.max(fresh.map_or(0, |f| f.len() as u64));
    if size > limit {
        return Ok(Existing::TooLarge(size));
    }
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    (&mut file).take(limit).read_to_end(&mut bytes)?;
    let mut more = Vec::new();
    if file.take(1).read_to_end(&mut more)? > 0 {
        return Ok(Existing::TooLarge(size.max(limit + 1)));
    }
    Ok(Existing::Read(bytes))
}

/// Whether `file`, from where it is, holds exactly `expected` and no more;
/// read a chunk at a time.
fn same_bytes(file: &mut fs::File, expected: &[u8]) -> io::Result<bool> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at = 0;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(at == expected.len());
        }
        if expected.get(at..at + n) != Some(&chunk[..n]) {
            return Ok(false);
        }
        at += n;
    }
}

/// The regular files of an existing output folder, by relative path: those a
/// new build may link instead of writing. Symbolic links are not followed
/// (nothing outside the folder is linked in); a folder that cannot be read
/// has none.
fn previous_files(target: &Path) -> HashSet<String> {
    let mut files = HashSet::new();
    if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        let _ = walk(target, &mut |relative, _| {
            files.insert(relative);
            Ok(())
        });
    }
    files
}

/// Hands `each` every regular file under `dir` (its relative path with `/`
/// separators, and its path), through folders but not symbolic links.
fn walk(dir: &Path, each: &mut dyn FnMut(String, &Path) -> Result<(), Error>) -> Result<(), Error> {
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                each(relative, &path)?;
            }
        }
    }
    Ok(())
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
}
