//! Which folders meshgen may replace: none, an empty one, or one whose
//! `index.json` is the index meshgen wrote for the scenario of its name.

use std::fs;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use super::*;
use crate::error::Error;

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
pub(super) const INDEX_LIMIT: u64 = 1 << 30;

/// `Ok` when the folder `target` is meshgen's output: its `index.json` is a
/// regular file in the shape every version of meshgen wrote, for the scenario
/// the folder is named after. An empty folder holds nothing to lose and may
/// be replaced too. Nothing else is: a folder of the user's that happens to
/// have a scenario's name (`--out .` and a scenario called `src`) is refused.
/// No marker file is needed, so output written by earlier versions (which
/// had none) is recognised too, and the output's bytes do not change.
pub(super) fn recognise(target: &Path) -> Result<(), Error> {
    recognise_as(
        target,
        &target.file_name().unwrap_or_default().to_string_lossy(),
    )
}

/// `recognise`, for the output folder of scenario `name` wherever it is now
/// (moved aside, it has another name).
pub(super) fn recognise_as(target: &Path, name: &str) -> Result<(), Error> {
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
pub(super) struct IndexShape {
    scenario: String,
    bundles: Vec<IndexedFile>,
    steps: Vec<IndexedFile>,
    plan: String,
}

/// A bundle or step of `index.json`.
#[derive(Deserialize)]
pub(super) struct IndexedFile {
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
