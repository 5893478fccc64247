//! Reading an existing output folder back: whole, or as `diff --against`
//! compares it with a fresh build, never holding more than it must.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::*;
use crate::error::Error;

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
pub(super) fn read_to_compare_within(
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
pub(super) fn compare_file(path: &Path, fresh: Option<&[u8]>, limit: u64) -> io::Result<Existing> {
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
pub(super) fn same_bytes(file: &mut fs::File, expected: &[u8]) -> io::Result<bool> {
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
pub(super) fn previous_files(target: &Path) -> HashSet<String> {
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
pub(super) fn walk(
    dir: &Path,
    each: &mut dyn FnMut(String, &Path) -> Result<(), Error>,
) -> Result<(), Error> {
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
