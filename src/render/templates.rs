//! The templates: the shipped ones embedded in the binary, a `--templates`
//! folder's overrides, one minijinja environment compiling them once, and
//! the rendering of one document (its context, its annotations, the
//! parse-back of its text).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;

use super::yaml::{format_yaml_value, is_implicit_key};
use crate::error::Error;
use crate::resource::{Resource, ResourceId};

/// The templates meshgen ships, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "istiooperator.yaml.j2",
        include_str!("../../templates/istiooperator.yaml.j2"),
    ),
    (
        "namespace.yaml.j2",
        include_str!("../../templates/namespace.yaml.j2"),
    ),
    (
        "serviceaccount.yaml.j2",
        include_str!("../../templates/serviceaccount.yaml.j2"),
    ),
    (
        "service.yaml.j2",
        include_str!("../../templates/service.yaml.j2"),
    ),
    (
        "deployment.yaml.j2",
        include_str!("../../templates/deployment.yaml.j2"),
    ),
    (
        "gateway.yaml.j2",
        include_str!("../../templates/gateway.yaml.j2"),
    ),
    (
        "gateway-virtualservice.yaml.j2",
        include_str!("../../templates/gateway-virtualservice.yaml.j2"),
    ),
    (
        "destinationrule.yaml.j2",
        include_str!("../../templates/destinationrule.yaml.j2"),
    ),
    (
        "virtualservice.yaml.j2",
        include_str!("../../templates/virtualservice.yaml.j2"),
    ),
    (
        "delete.yaml.j2",
        include_str!("../../templates/delete.yaml.j2"),
    ),
    (
        "waypoint.yaml.j2",
        include_str!("../../templates/waypoint.yaml.j2"),
    ),
    (
        "ingress-gateway.yaml.j2",
        include_str!("../../templates/ingress-gateway.yaml.j2"),
    ),
    (
        "ingress-httproute.yaml.j2",
        include_str!("../../templates/ingress-httproute.yaml.j2"),
    ),
    (
        "ingress-redirect.yaml.j2",
        include_str!("../../templates/ingress-redirect.yaml.j2"),
    ),
    (
        "version-service.yaml.j2",
        include_str!("../../templates/version-service.yaml.j2"),
    ),
    (
        "httproute.yaml.j2",
        include_str!("../../templates/httproute.yaml.j2"),
    ),
    (
        "helm-values.yaml.j2",
        include_str!("../../templates/helm-values.yaml.j2"),
    ),
    (
        "argocd-application.yaml.j2",
        include_str!("../../templates/argocd-application.yaml.j2"),
    ),
    (
        "flux-helmrepository.yaml.j2",
        include_str!("../../templates/flux-helmrepository.yaml.j2"),
    ),
    (
        "flux-helmrelease.yaml.j2",
        include_str!("../../templates/flux-helmrelease.yaml.j2"),
    ),
    (
        "peerauthentication.yaml.j2",
        include_str!("../../templates/peerauthentication.yaml.j2"),
    ),
    (
        "authorizationpolicy.yaml.j2",
        include_str!("../../templates/authorizationpolicy.yaml.j2"),
    ),
];

/// The annotation Argo CD orders a sync by.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";

/// Argo CD sync wave of each template's documents under `--argocd-waves`: the
/// number of the bundle file they go into (bundle.rs), so waves follow apply
/// order — mesh 1, namespace (and the ambient waypoint) 2, workloads 3,
/// gateway 4, DestinationRules (or per-version Services) 5, the steps'
/// VirtualServices (or HTTPRoutes) 6, and `[security]`'s PeerAuthentication
/// and AuthorizationPolicies 6 (`06-authorization.yaml`). Deletion
/// documents get none.
const SYNC_WAVES: &[(&str, &str)] = &[
    ("istiooperator.yaml.j2", "1"),
    ("namespace.yaml.j2", "2"),
    ("serviceaccount.yaml.j2", "3"),
    ("service.yaml.j2", "3"),
    ("deployment.yaml.j2", "3"),
    ("gateway.yaml.j2", "4"),
    ("gateway-virtualservice.yaml.j2", "4"),
    ("destinationrule.yaml.j2", "5"),
    ("virtualservice.yaml.j2", "6"),
    ("waypoint.yaml.j2", "2"),
    ("ingress-gateway.yaml.j2", "4"),
    ("ingress-httproute.yaml.j2", "4"),
    ("ingress-redirect.yaml.j2", "4"),
    ("version-service.yaml.j2", "5"),
    ("httproute.yaml.j2", "6"),
    ("peerauthentication.yaml.j2", "6"),
    ("authorizationpolicy.yaml.j2", "6"),
];

/// A compiled set of templates.
pub struct Renderer {
    env: Environment<'static>,
    /// Whether documents carry Argo CD sync-wave annotations.
    pub(super) sync_waves: bool,
    /// The file each template `--templates` replaced came from, by template name.
    overrides: BTreeMap<&'static str, PathBuf>,
    /// Entries of the `--templates` folder that are no template's name.
    unknown: Vec<UnknownTemplateFile>,
    /// The most template instructions one document may take (`with_fuel`).
    fuel: Option<u64>,
}

impl Renderer {
    /// The shipped templates, each replaced by the file of the same name in
    /// the folder `overrides` (`--templates`) when it has one. The folder
    /// must exist and be readable, and a template's name in it must be a
    /// file (`Error::Usage` otherwise); its other entries are not read but
    /// listed by `unknown_files` (entries whose name starts with `.` are
    /// left out, as `ls` does).
    pub fn new(overrides: Option<&Path>) -> Result<Self, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .map_err(|e| Error::template("(syntax)", e))?,
        );
        env.set_formatter(format_yaml_value);
        env.add_test("implicit_key", is_implicit_key);
        let (files, unknown) = match overrides {
            Some(dir) => read_template_folder(dir)?,
            None => (BTreeMap::new(), Vec::new()),
        };
        let mut texts: BTreeMap<&'static str, String> = BTreeMap::new();
        for (name, path) in &files {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            texts.insert(name, text);
        }
        for (name, shipped) in TEMPLATES {
            let loaded = match texts.remove(name) {
                Some(text) => env.add_template_owned(*name, text),
                None => env.add_template(name, shipped),
            };
            loaded.map_err(|source| Error::Template {
                template: (*name).to_owned(),
                file: files.get(name).cloned(),
                source,
            })?;
        }
        Ok(Self {
            env,
            sync_waves: false,
            overrides: files,
            unknown,
            fuel: None,
        })
    }

    /// Entries of the `--templates` folder whose name is no template's, in
    /// name order: meshgen does not read them (a misspelt name leaves the
    /// shipped template in use), so the caller warns about each.
    pub fn unknown_files(&self) -> &[UnknownTemplateFile] {
        &self.unknown
    }

    /// Whether any template comes from the `--templates` folder.
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
    }

    /// The same templates, each document's rendering stopped with
    /// `Error::OutOfFuel` after `budget` template instructions (`None`: no
    /// limit, the default). minijinja counts fuel per render, so the budget
    /// is per document. See `fuel_budget`.
    pub fn with_fuel(mut self, budget: Option<u64>) -> Self {
        self.env.set_fuel(budget);
        self.fuel = budget;
        self
    }

    /// The same templates, annotating every applied document with its Argo CD
    /// sync wave when `on` (`--argocd-waves`).
    pub fn with_sync_waves(mut self, on: bool) -> Self {
        self.sync_waves = on;
        self
    }

    /// The annotations template `name` must write under `metadata.annotations`.
    pub(super) fn annotations(&self, name: &str) -> Vec<(&'static str, &'static str)> {
        SYNC_WAVES
            .iter()
            .filter(|_| self.sync_waves)
            .find(|(template, _)| *template == name)
            .map(|&(_, wave)| vec![(SYNC_WAVE_ANNOTATION, wave)])
            .unwrap_or_default()
    }

    /// Template `name`, looked up once for every document it renders.
    pub(super) fn template(&self, name: &'static str) -> Result<DocumentTemplate<'_>, Error> {
        let file = self.overrides.get(name).map(PathBuf::as_path);
        let template = self
            .env
            .get_template(name)
            .map_err(|source| Error::Template {
                template: name.to_owned(),
                file: file.map(Path::to_owned),
                source,
            })?;
        let annotations = self.annotations(name);
        Ok(DocumentTemplate {
            name,
            file,
            fuel: self.fuel,
            template,
            annotations,
        })
    }

    /// Renders template `name` with `context` into one document that must be
    /// the resource `id`.
    pub fn render(
        &self,
        name: &'static str,
        context: &impl Serialize,
        id: ResourceId,
    ) -> Result<Resource, Error> {
        self.template(name)?.render(context, id)
    }
}

/// The fuel budget of one document under `--templates`, for scenarios of
/// at most `scenario_bytes` bytes: `FUEL_FLOOR` plus `FUEL_PER_BYTE` per
/// byte. The shipped templates take a few instructions per value they write
/// and write each value of the scenario once in a document, so what one of
/// their documents takes grows at most linearly with the scenario: at most
/// 195 instructions for the largest document of the 5,000-service bench
/// scenario, and under 2 per byte of scenario for one document that holds
/// most of the file (20,000 rules, header matches, labels or env entries).
/// The budget is far above both (docs/templates.md; tests hold the margins),
/// and stops a runaway loop within a second for a small scenario (a release
/// build runs some 20 million instructions a second).
pub fn fuel_budget(scenario_bytes: usize) -> u64 {
    let bytes = u64::try_from(scenario_bytes).unwrap_or(u64::MAX);
    FUEL_FLOOR.saturating_add(bytes.saturating_mul(FUEL_PER_BYTE))
}

/// The fuel budget of a document, whatever the scenario's size.
pub(super) const FUEL_FLOOR: u64 = 10_000_000;

/// The fuel budget added per byte of the scenario.
pub(super) const FUEL_PER_BYTE: u64 = 50;

/// An entry of the `--templates` folder that is no template's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTemplateFile {
    /// The entry's path (the folder joined with its name).
    pub path: PathBuf,
    /// The template name it is closest to, when one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownTemplateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--templates: {} is not named after a template, so it is not used",
            self.path.display()
        )?;
        if let Some(name) = self.suggestion {
            write!(f, "; did you mean {name}?")?;
        }
        let names: Vec<&str> = template_names().collect();
        write!(f, " (the templates: {})", names.join(", "))
    }
}

/// Every template's name, sorted.
fn template_names() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.into_iter()
}

/// The files of a `--templates` folder that replace a shipped template, by
/// template name, and its other entries, in name order. A missing,
/// unreadable or not-a-folder `dir`, and a template's name that is not a
/// file, are errors.
fn read_template_folder(
    dir: &Path,
) -> Result<(BTreeMap<&'static str, PathBuf>, Vec<UnknownTemplateFile>), Error> {
    let refuse =
        |problem: String| Error::Usage(format!("--templates {}: {problem}", dir.display()));
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse("no such folder".to_owned()));
        }
        Err(e) => return Err(refuse(format!("cannot read it: {e}"))),
        Ok(meta) if !meta.is_dir() => return Err(refuse("not a folder".to_owned())),
        Ok(_) => {}
    }
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| refuse(format!("cannot read it: {e}")))?;
        names.push(entry.file_name());
    }
    names.sort();
    let mut files = BTreeMap::new();
    let mut unknown = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let known = name
            .to_str()
            .and_then(|n| TEMPLATES.iter().find(|(t, _)| *t == n));
        match known {
            Some((template, _)) => {
                if !path.is_file() {
                    return Err(refuse(format!(
                        "{template} is not a file (a template must be one)"
                    )));
                }
                files.insert(*template, path);
            }
            None if name.as_encoded_bytes().starts_with(b".") => {}
            None => {
                let suggestion = closest_template(&name.to_string_lossy());
                unknown.push(UnknownTemplateFile { path, suggestion });
            }
        }
    }
    Ok((files, unknown))
}

/// The template name `name` is most likely a misspelling of: the nearest by
/// edit distance (case aside) within three edits, or one with the same part
/// before the first `.` (`service.yml`, `Service.yaml.jinja`).
pub(super) fn closest_template(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase();
    let stem = |n: &str| n.split('.').next().unwrap_or_default().to_owned();
    template_names()
        .map(|template| (strsim::levenshtein(&name, template), template))
        .filter(|(distance, template)| *distance <= 3 || stem(&name) == stem(template))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, template)| template)
}

/// One compiled template and the annotations its documents carry.
pub(super) struct DocumentTemplate<'r> {
    name: &'static str,
    /// The user's file the template came from (`--templates`); `None` for a shipped one.
    file: Option<&'r Path>,
    /// The fuel budget of one document, when there is one.
    fuel: Option<u64>,
    template: minijinja::Template<'r, 'r>,
    /// The (key, value) pairs every document writes under `metadata.annotations`.
    pub(super) annotations: Vec<(&'static str, &'static str)>,
}

impl DocumentTemplate<'_> {
    /// Renders one document with `context` (plus `annotations`), which must
    /// be the resource `id`.
    pub(super) fn render(
        &self,
        context: &impl Serialize,
        id: ResourceId,
    ) -> Result<Resource, Error> {
        self.render_annotated(context, id, &self.annotations)
    }

    /// Like `render`, with `annotations` in place of the template's own.
    pub(super) fn render_annotated(
        &self,
        context: &impl Serialize,
        id: ResourceId,
        annotations: &[(&'static str, &'static str)],
    ) -> Result<Resource, Error> {
        let context = Annotated {
            context,
            annotations,
        };
        let mut text = self
            .template
            .render(Value::from(Serde(&context)))
            .map_err(|e| self.error(e))?;
        // Documents are joined with `---` lines: one without its last newline
        // (an override's last line) would glue the separator to its last value.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // minijinja starts from a buffer twice the template's size; a build
        // keeps every document until it is written, so give the excess back.
        text.shrink_to_fit();
        Resource::parse(id, text, annotations).map_err(|problem| self.bad(problem))
    }

    /// Renders a YAML document that is no Kubernetes object (a Helm values
    /// file) with `context`: it must read back as one mapping.
    pub(super) fn render_mapping(&self, context: &impl Serialize) -> Result<String, Error> {
        let context = Annotated {
            context,
            annotations: &[],
        };
        let mut text = self
            .template
            .render(Value::from(Serde(&context)))
            .map_err(|e| self.error(e))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        match serde_saphyr::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_)) => Ok(text),
            Ok(other) => Err(self.bad(format!("it is not one mapping but {other}"))),
            Err(e) => Err(self.bad(format!("it is not valid YAML: {e}"))),
        }
    }

    /// A document of this template that is not what it must be.
    fn bad(&self, problem: String) -> Error {
        Error::BadDocument {
            template: self.name.to_owned(),
            file: self.file.map(Path::to_owned),
            problem,
        }
    }

    /// A failure of this template's rendering, naming the user's file for an override.
    fn error(&self, source: minijinja::Error) -> Error {
        match self.fuel {
            Some(budget) if source.kind() == ErrorKind::OutOfFuel => Error::OutOfFuel {
                template: self.name.to_owned(),
                file: self.file.map(Path::to_owned),
                budget,
            },
            _ => Error::Template {
                template: self.name.to_owned(),
                file: self.file.map(Path::to_owned),
                source,
            },
        }
    }
}

/// A template's context plus `annotations`: the (key, value) pairs every
/// template writes under `metadata.annotations` (empty by default).
#[derive(Serialize)]
struct Annotated<'a, C: Serialize> {
    #[serde(flatten)]
    context: &'a C,
    annotations: &'a [(&'static str, &'static str)],
}
