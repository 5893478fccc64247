//! Operational failures: I/O, templates, a rendered document that is not what
//! its template promised. Each carries its context (the path, the template)
//! and its source. The user's own mistakes are `Diagnostic`s, not these.

use std::fmt;
use std::path::{Path, PathBuf};

/// An operational failure; meshgen exits 2.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing `path` failed.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A template failed to compile or render.
    Template {
        /// The template's name.
        template: String,
        /// What minijinja said.
        source: minijinja::Error,
    },
    /// A rendered document is not the one resource its template must produce.
    BadDocument {
        /// The template's name.
        template: String,
        /// What is wrong with the document.
        problem: String,
    },
    /// A command-line request meshgen cannot carry out (e.g. an unknown step).
    Usage(String),
}

impl Error {
    /// An I/O failure on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A template failure in `template`.
    pub fn template(template: &str, source: minijinja::Error) -> Self {
        Self::Template {
            template: template.to_owned(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Template { template, source } => {
                write!(f, "template {template}: {source}")?;
                if let Some(detail) = source.detail() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            Self::BadDocument { template, problem } => write!(
                f,
                "template {template} rendered an invalid document ({problem}); with the shipped \
                 templates this is a meshgen bug, please report it"
            ),
            Self::Usage(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Template { source, .. } => Some(source),
            Self::BadDocument { .. } | Self::Usage(_) => None,
        }
    }
}
