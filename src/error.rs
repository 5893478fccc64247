//! Operational failures: I/O (files and the standard streams), templates, a
//! rendered document that is not what its template promised. Each carries its
//! context (the path, the template) and its source. The user's own mistakes
//! are `Diagnostic`s, not these.
//!
//! Each cause is told once: where a variant's message already includes its
//! source's text (`path: what the OS said`), `source()` returns what lies
//! beneath that source, not the source itself, so that a report printing the
//! message and then every `caused by` does not repeat a line.

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
        /// The user's file it came from (`--templates`); `None` for a shipped one.
        file: Option<PathBuf>,
        /// What minijinja said.
        source: minijinja::Error,
    },
    /// A rendered document is not the one resource its template must produce.
    BadDocument {
        /// The template's name.
        template: String,
        /// The user's file it came from (`--templates`); `None` for a shipped one.
        file: Option<PathBuf>,
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
    /// A template took more instructions for one document than the budget
    /// of `--templates` allows (a loop that never ends, or nearly).
    OutOfFuel {
        /// The template's name.
        template: String,
        /// The user's file it came from (`--templates`); `None` for a shipped one.
        file: Option<PathBuf>,
        /// The budget, in template instructions per document.
        budget: u64,
    },
    /// A command-line request meshgen cannot carry out (e.g. an unknown step).
    Usage(String),
    /// A CRD file given to `--crd-schemas` cannot be read, parsed or compiled.
    Crd(CrdError),
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

    /// A template failure in the shipped template `template`.
    pub fn template(template: &str, source: minijinja::Error) -> Self {
        Self::Template {
            template: template.to_owned(),
            file: None,
            source,
        }
    }
}

/// How a message names a template: the user's file, or the shipped template's name.
fn template_name<'a>(template: &'a str, file: Option<&'a PathBuf>) -> impl fmt::Display + 'a {
    struct Named<'a>(&'a str, Option<&'a PathBuf>);
    impl fmt::Display for Named<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.1 {
                Some(file) => write!(f, "{} (your {} from --templates)", file.display(), self.0),
                None => f.write_str(self.0),
            }
        }
    }
    Named(template, file)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Template {
                template,
                file,
                source,
            } => {
                // minijinja's message already holds its detail and the template's line.
                write!(
                    f,
                    "template {}: {source}",
                    template_name(template, file.as_ref())
                )
            }
            Self::BadDocument {
                template,
                file: Some(file),
                problem,
            } => write!(
                f,
                "template {} rendered an invalid document ({problem}); each template must \
                 render exactly one YAML mapping, the resource meshgen asks it for: fix the \
                 template",
                template_name(template, Some(file))
            ),
            Self::BadDocument {
                template,
                file: None,
                problem,
            } => write!(
                f,
                "the shipped template {template} rendered an invalid document ({problem}); \
                 this is a meshgen bug, please report it"
            ),
            Self::OutOfFuel {
                template,
                file,
                budget,
            } => write!(
                f,
                "template {} ran out of fuel: it took more than {budget} template instructions \
                 for one document, the limit under --templates (does a loop never end, or run \
                 far too long?)",
                template_name(template, file.as_ref())
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
            // The message includes the source's text: the chain goes on below it.
            Self::Io { source, .. } => std::error::Error::source(source),
            Self::Template { source, .. } => std::error::Error::source(source),
            Self::Stream { source, .. } => Some(source),
            Self::Crd(error) => std::error::Error::source(error),
            Self::BadDocument { .. }
            | Self::OutOfFuel { .. }
            | Self::Usage(_)
            | Self::Nonconforming { .. } => None,
        }
    }
}

/// A CRD file that could not be read, parsed or compiled.
#[derive(Debug)]
pub struct CrdError {
    path: PathBuf,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CrdError {
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> Self {
        let (path, message) = (path.to_owned(), message.into());
        CrdError {
            path,
            message,
            source: None,
        }
    }

    pub(crate) fn caused_by(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The CRD file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for CrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CRD file {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for CrdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and every cause, as `meshgen: error:` and `caused by:` print them.
    fn chain(error: &Error) -> Vec<String> {
        let mut lines = vec![error.to_string()];
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            lines.push(cause.to_string());
            source = cause.source();
        }
        lines
    }

    /// Fails when a line of the chain repeats text an earlier line printed.
    #[track_caller]
    fn assert_each_cause_once(lines: &[String]) {
        for (i, line) in lines.iter().enumerate() {
            for earlier in &lines[..i] {
                assert!(
                    !earlier.contains(line.as_str()),
                    "{line:?} repeats {earlier:?}"
                );
            }
        }
    }

    #[test]
    fn an_io_error_names_the_path_and_the_os_message_once() {
        let error = Error::io(
            Path::new("scenarios"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let lines = chain(&error);
        assert_eq!(lines, ["scenarios: entity not found"]);
    }

    #[test]
    fn an_io_error_wrapping_another_error_keeps_the_deeper_cause() {
        let inner = minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "deep")
            .with_source(std::io::Error::other("deepest"));
        let error = Error::io(Path::new("f"), std::io::Error::other(inner));
        let lines = chain(&error);
        assert_each_cause_once(&lines);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[1], "deepest");
    }

    #[test]
    fn a_template_error_prints_its_detail_and_line_once() {
        let mut env = minijinja::Environment::new();
        let source = env
            .add_template("t.yaml.j2", "a\n{{ x( }}")
            .expect_err("a syntax error");
        let error = Error::template("t.yaml.j2", source);
        let lines = chain(&error);
        assert_each_cause_once(&lines);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].matches("unexpected").count(), 1, "{lines:?}");
    }
}
