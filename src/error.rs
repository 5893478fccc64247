//! Operational failures: I/O (files and the standard streams), templates, a
//! rendered document that is not what its template promised. Each carries its
//! context (the path, the template) and its source. The user's own mistakes
//! are `Diagnostic`s, not these.

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
    /// Writing to stdout or stderr failed (a full disk, `>/dev/full`); a
    /// closed pipe is not this (see `lib.rs`).
    Stream {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A command-line request meshgen cannot carry out (e.g. an unknown step).
    Usage(String),
    /// A CRD file given to `--crd-schemas` cannot be read, parsed or compiled.
    Crd(crate::crd::CrdError),
    /// Rendered documents break the schema of CRDs given to `--crd-schemas`.
    Nonconforming {
        /// How many documents.
        count: usize,
        /// The templates that rendered them.
        templates: Vec<String>,
        /// Whether the templates are the user's (`--templates`), not the shipped ones.
        custom_templates: bool,
    },
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
            Self::Stream { stream, .. } => write!(f, "cannot write to {stream}"),
            Self::Usage(message) => f.write_str(message),
            Self::Crd(error) => write!(f, "{error}"),
            Self::Nonconforming {
                count,
                templates,
                custom_templates,
            } => {
                write!(
                    f,
                    "{count} rendered document(s) do not conform to the supplied CRDs \
                     (templates {}); ",
                    templates.join(", ")
                )?;
                if *custom_templates {
                    f.write_str("check the templates given with --templates")
                } else {
                    f.write_str("the shipped templates rendered them, so this is a meshgen bug, please report it")
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Template { source, .. } => Some(source),
            Self::Stream { source, .. } => Some(source),
            Self::Crd(error) => std::error::Error::source(error),
            Self::BadDocument { .. } | Self::Usage(_) | Self::Nonconforming { .. } => None,
        }
    }
}
