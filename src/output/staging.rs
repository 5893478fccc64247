//! The new output folder while it is written: each file through a buffer,
//! or, when its bytes are the previous folder's, that file hard linked.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::*;
use crate::error::Error;

/// The new folder while it is written.
pub(super) struct Staging<'t> {
    pub(super) dir: &'t Path,
    /// The folders made under `dir` so far.
    pub(super) folders: HashSet<PathBuf>,
    /// The folder being replaced, and its regular files (relative paths).
    pub(super) previous_dir: &'t Path,
    pub(super) previous: HashSet<String>,
}

impl Staging<'_> {
    /// Writes one file through a buffer (or links the previous folder's, when
    /// the bytes are the same), refusing any path that would leave the folder.
    pub(super) fn write_file(&mut self, relative: &str, fill: &mut Fill<'_>) -> Result<(), Error> {
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
pub(super) struct Compare<'p> {
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
