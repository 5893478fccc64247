//! Diffs: unified, document-aware diffs between two sets of resources (the
//! routing states of two steps, or a build against an existing folder). Each
//! changed document gets a header line naming it, then its hunks; a report
//! also lists the changed field paths for machines. Owns no file access and
//! no printing.

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;

use serde::Serialize;
use similar::TextDiff;

use crate::output::Existing;
use crate::resource::{Resource, ResourceId};

/// Lines of context around each change, unless the user asks otherwise.
pub const DEFAULT_CONTEXT: usize = 3;

/// One document on both sides of a diff, borrowed from the build; `None`
/// where it does not exist. Its texts are read (unpacked) only where the
/// diff is made, a chunk of documents at a time.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Which resource.
    pub id: &'a ResourceId,
    /// The document before.
    pub before: Option<&'a Resource>,
    /// The document after.
    pub after: Option<&'a Resource>,
}

impl Change<'_> {
    /// The texts before and after.
    fn texts(&self) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
        (
            self.before.map(Resource::text),
            self.after.map(Resource::text),
        )
    }
}

/// `added`, `removed`, `changed` or `unchanged`, of a document's texts
/// before and after.
fn kind(before: Option<&str>, after: Option<&str>) -> &'static str {
    match (before, after) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        (Some(a), Some(b)) if a != b => "changed",
        _ => "unchanged",
    }
}

/// A unified diff of every changed document, labelled `a/<from>/…` and `b/<to>/…`.
/// Unchanged documents are left out; no change at all gives an empty string.
pub fn unified(from: &str, to: &str, changes: &[Change], context: usize) -> String {
    let mut text = String::new();
    // Collecting into memory cannot fail.
    let _ = unified_pieces(from, to, changes, context, |piece| {
        text.push_str(piece);
        Ok(())
    });
    text
}

/// How many documents `unified_pieces` diffs at a time.
const PIECES_CHUNK: usize = 1024;

/// `unified`, handed to `each` a document at a time: documents are diffed
/// independently, a chunk at a time (on every core, for many) and in order,
/// so a large diff is never whole in memory. Stops at the first error
/// `each` returns.
pub fn unified_pieces(
    from: &str,
    to: &str,
    changes: &[Change],
    context: usize,
    mut each: impl FnMut(&str) -> io::Result<()>,
) -> io::Result<()> {
    for chunk in changes.chunks(PIECES_CHUNK) {
        let pieces =
            crate::parallel::map(chunk, |change| unified_document(from, to, change, context));
        pieces.iter().try_for_each(|piece| each(piece))?;
    }
    Ok(())
}

/// One document's header line and hunks; empty when it is unchanged.
fn unified_document(from: &str, to: &str, change: &Change, context: usize) -> String {
    let (before, after) = change.texts();
    let kind = kind(before.as_deref(), after.as_deref());
    if kind == "unchanged" {
        return String::new();
    }
    let path = document_path(change.id);
    let before = before.as_deref().unwrap_or("");
    let after = after.as_deref().unwrap_or("");
    let old = if change.before.is_some() {
        format!("a/{from}/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let new = if change.after.is_some() {
        format!("b/{to}/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let mut out = format!("# {kind}: {}\n", change.id);
    let diff = TextDiff::from_lines(before, after);
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(context)
            .header(&old, &new)
    );
    out
}

/// `VirtualService/bookinfo/reviews.yaml`: a stable path for a document.
pub fn document_path(id: &ResourceId) -> String {
    match id.namespace() {
        Some(ns) => format!("{}/{ns}/{}.yaml", id.kind(), id.name),
        None => format!("{}/{}.yaml", id.kind(), id.name),
    }
}

/// The changes between two routing states, documents matched by identity,
/// in identity order.
pub fn between_states<'a>(from: &[&'a Resource], to: &[&'a Resource]) -> Vec<Change<'a>> {
    // Every matched pair has a side, the identity's document.
    let changes = matched(from, to).into_iter().filter_map(|(before, after)| {
        Some(Change {
            id: &before.or(after)?.id,
            before,
            after,
        })
    });
    changes.collect()
}

/// The documents of two states, matched by identity, in identity order:
/// each identity's document before and after, `None` on the side it is not.
pub fn matched<R: Borrow<Resource> + Clone>(from: &[R], to: &[R]) -> Vec<(Option<R>, Option<R>)> {
    let mut pairs: BTreeMap<&ResourceId, (Option<R>, Option<R>)> = BTreeMap::new();
    for r in from {
        pairs.entry(&r.borrow().id).or_default().0 = Some(r.clone());
    }
    for r in to {
        pairs.entry(&r.borrow().id).or_default().1 = Some(r.clone());
    }
    pairs.into_values().collect()
}

/// What happened to a resource or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only in the fresh build (or the later step).
    Added,
    /// Only in the existing folder (or the earlier step).
    Removed,
    /// On both sides, with different content.
    Changed,
}

impl Status {
    /// `added`, `removed` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        }
    }

    fn of<T>(before: Option<T>, after: Option<T>) -> Option<Self> {
        match (before, after) {
            (None, Some(_)) => Some(Self::Added),
            (Some(_), None) => Some(Self::Removed),
            (Some(_), Some(_)) => Some(Self::Changed),
            (None, None) => None,
        }
    }
}

/// One difference: a document (a resource) of a YAML file, or a whole file
/// that is not a YAML stream (or cannot be compared document by document).
#[derive(Debug, Clone)]
pub struct Difference {
    /// Added, removed or changed.
    pub status: Status,
    /// The file, relative to the output folder; `None` between two steps.
    pub file: Option<String>,
    /// The resource; `None` for a plain-text difference of the whole file.
    pub id: Option<ResourceId>,
    /// Changed field paths (JSON pointers into the document), for changed resources.
    pub paths: Vec<String>,
    /// The text before (the document, or the whole file).
    pub before: Option<String>,
    /// The text after.
    pub after: Option<String>,
    /// The size of the folder's file when it was too large to read: the
    /// difference is named, without its lines.
    pub unread: Option<u64>,
}

/// Everything a comparison found, in a fixed order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files that differ (relative paths, in the order of `against`), for `--against`.
    pub files: Vec<(String, Status)>,
    /// Differences per document, or per file where documents cannot be matched.
    pub differences: Vec<Difference>,
}

impl Report {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.differences.is_empty()
    }

    /// The changes between two routing states, as a report.
    pub fn between_steps(changes: &[Change]) -> Self {
        let differences = changes
            .iter()
            .filter_map(|c| {
                let (before, after) = c.texts();
                let status = Status::of(before.as_ref(), after.as_ref())?;
                if before == after {
                    return None;
                }
                let paths = match (&before, &after) {
                    (Some(a), Some(b)) => text_field_paths(a, b),
                    _ => Vec::new(),
                };
                Some(Difference {
                    status,
                    file: None,
                    id: Some(c.id.clone()),
                    paths,
                    before: before.map(Cow::into_owned),
                    after: after.map(Cow::into_owned),
                    unread: None,
                })
            })
            .collect();
        Self {
            files: Vec::new(),
            differences,
        }
    }

    /// Unified diffs: a header line per document (`# changed: Kind ns/name in
    /// FILE`) or per plain-text file (`# changed: FILE`), then its hunks.
    pub fn text(&self, context: usize) -> String {
        let mut out = String::new();
        for d in &self.differences {
            let file = d.file.as_deref().unwrap_or("");
            let what = match &d.id {
                Some(id) if file.is_empty() => id.to_string(),
                Some(id) => format!("{id} in {file}"),
                None => file.to_owned(),
            };
            if let Some(size) = d.unread {
                out.push_str(&format!(
                    "# {}: {what} ({size} bytes in the folder: too large to compare line by line)\n",
                    d.status.as_str()
                ));
                continue;
            }
            out.push_str(&format!("# {}: {what}\n", d.status.as_str()));
            let old = match &d.before {
                Some(_) => format!("a/{file}"),
                None => "/dev/null".to_owned(),
            };
            let new = match &d.after {
                Some(_) => format!("b/{file}"),
                None => "/dev/null".to_owned(),
            };
            let (before, after) = (
                d.before.as_deref().unwrap_or(""),
                d.after.as_deref().unwrap_or(""),
            );
            out.push_str(
                &TextDiff::from_lines(before, after)
                    .unified_diff()
                    .context_radius(context)
                    .header(&old, &new)
                    .to_string(),
            );
        }
        out
    }

    /// The machine summary: `{"differences", "files", "resources"}`, pretty
    /// JSON ending in a newline.
    pub fn json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            differences: bool,
            files: Vec<FileJson<'a>>,
            resources: Vec<ResourceJson<'a>>,
        }
        #[derive(Serialize)]
        struct FileJson<'a> {
            file: &'a str,
            status: Status,
        }
        #[derive(Serialize)]
        struct ResourceJson<'a> {
            status: Status,
            #[serde(skip_serializing_if = "Option::is_none")]
            file: Option<&'a str>,
            #[serde(flatten)]
            id: &'a ResourceId,
            paths: &'a [String],
        }
        let json = Json {
            differences: !self.is_empty(),
            files: self
                .files
                .iter()
                .map(|(file, status)| FileJson {
                    file,
                    status: *status,
                })
                .collect(),
            resources: self
                .differences
                .iter()
                .filter_map(|d| {
                    Some(ResourceJson {
                        status: d.status,
                        file: d.file.as_deref(),
                        id: d.id.as_ref()?,
                        paths: &d.paths,
                    })
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// What a fresh build would change in an existing output folder: YAML files
/// compared document by document (matched by apiVersion, kind, namespace and
/// name), every other file as plain text, and a file too large to read by
/// its size alone.
///
/// `fresh` is in the order the build lays its files out (apply order). The
/// files holding resources come first, in that order, then the derived files
/// (the `.diff` previews, the kustomizations, `PLAN.md`, `index.json`) in
/// that order; a file only the existing folder has comes after the fresh
/// files of its kind, by name.
pub fn against(existing: &[(String, Existing)], fresh: &[(String, Vec<u8>)]) -> Report {
    let position: BTreeMap<&str, usize> = fresh
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let existing: BTreeMap<&str, &Existing> =
        existing.iter().map(|(n, e)| (n.as_str(), e)).collect();
    let fresh: BTreeMap<&str, &[u8]> = fresh
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let mut names: Vec<&str> = existing
        .keys()
        .chain(fresh.keys())
        .copied()
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    names.sort_by_key(|name| {
        (
            is_derived(name),
            position.get(name).copied().unwrap_or(usize::MAX),
            *name,
        )
    });
    let mut report = Report::default();
    for name in names {
        let after = fresh.get(name).copied();
        let before = match existing.get(name) {
            Some(Existing::Same) => continue,
            Some(Existing::TooLarge(size)) => {
                let status = if after.is_some() {
                    Status::Changed
                } else {
                    Status::Removed
                };
                report.files.push((name.to_owned(), status));
                report.differences.push(Difference {
                    status,
                    file: Some(name.to_owned()),
                    id: None,
                    paths: Vec::new(),
                    before: None,
                    after: None,
                    unread: Some(*size),
                });
                continue;
            }
            Some(Existing::Read(bytes)) => Some(bytes.as_slice()),
            None => None,
        };
        if before == after {
            continue;
        }
        let Some(status) = Status::of(before, after) else {
            continue;
        };
        report.files.push((name.to_owned(), status));
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        let (before, after) = (text(before), text(after));
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        let documents = is_yaml
            .then(|| compare_documents(name, before.as_deref(), after.as_deref()))
            .flatten();
        match documents {
            Some(differences) if !differences.is_empty() => {
                report.differences.extend(differences);
            }
            // Not YAML, not comparable document by document, or different
            // only outside the documents (order, comments): a text diff.
            _ => report.differences.push(Difference {
                status,
                file: Some(name.to_owned()),
                id: None,
                paths: Vec::new(),
                before,
                after,
                unread: None,
            }),
        }
    }
    report
}

/// Whether a file of an output folder is derived from the resources (a diff
/// preview, a kustomization, the plan, the index) rather than holding them.
fn is_derived(file: &str) -> bool {
    let base = file.rsplit('/').next().unwrap_or(file);
    let yaml = base.ends_with(".yaml") || base.ends_with(".yml");
    !yaml || base == crate::gitops::KUSTOMIZATION_FILE
}

/// The documents of one YAML file on both sides, matched by identity; `None`
/// when either side has a document without a readable identity or the same
/// identity twice.
fn compare_documents(
    file: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Option<Vec<Difference>> {
    let before = match before {
        Some(text) => split_documents(text)?,
        None => Vec::new(),
    };
    let after = match after {
        Some(text) => split_documents(text)?,
        None => Vec::new(),
    };
    let find = |side: &[Document], id: &ResourceId| side.iter().position(|d| &d.id == id);
    // Fresh order first, then what only the existing file has.
    let mut ids: Vec<&ResourceId> = after.iter().map(|d| &d.id).collect();
    ids.extend(
        before
            .iter()
            .map(|d| &d.id)
            .filter(|id| find(&after, id).is_none()),
    );
    let mut differences = Vec::new();
    for id in ids {
        let (a, b) = (
            find(&before, id).map(|i| &before[i]),
            find(&after, id).map(|i| &after[i]),
        );
        if a.map(|d| &d.text) == b.map(|d| &d.text) {
            continue;
        }
        let Some(status) = Status::of(a, b) else {
            continue;
        };
        let paths = match (a, b) {
            (Some(a), Some(b)) => field_paths(&a.value, &b.value),
            _ => Vec::new(),
        };
        differences.push(Difference {
            status,
            file: Some(file.to_owned()),
            id: Some(id.clone()),
            paths,
            before: a.map(|d| d.text.clone()),
            after: b.map(|d| d.text.clone()),
            unread: None,
        });
    }
    Some(differences)
}

/// One document of a YAML stream: its text, parsed value and identity.
struct Document {
    id: ResourceId,
    text: String,
    value: serde_json::Value,
}

/// Splits a YAML stream at its `---` lines and reads each document's identity;
/// `None` when a document cannot be read or an identity repeats.
fn split_documents(text: &str) -> Option<Vec<Document>> {
    let mut chunks = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    let mut documents: Vec<Document> = Vec::new();
    for chunk in chunks {
        let value: serde_json::Value = serde_saphyr::from_str(&chunk).ok()?;
        if value.is_null() {
            continue;
        }
        let field = |p: &str| value.pointer(p).and_then(serde_json::Value::as_str);
        let (api_version, kind) = (field("/apiVersion")?, field("/kind")?);
        let name = field("/metadata/name")?;
        let id = match field("/metadata/namespace") {
            Some(namespace) => ResourceId::namespaced(api_version, kind, namespace, name),
            None => ResourceId::cluster(api_version, kind, name),
        };
        if documents.iter().any(|d| d.id == id) {
            return None;
        }
        documents.push(Document {
            id,
            text: chunk,
            value,
        });
    }
    Some(documents)
}

/// The field paths that differ between two YAML documents; empty when either
/// cannot be parsed.
fn text_field_paths(before: &str, after: &str) -> Vec<String> {
    match (
        serde_saphyr::from_str::<serde_json::Value>(before),
        serde_saphyr::from_str::<serde_json::Value>(after),
    ) {
        (Ok(a), Ok(b)) => field_paths(&a, &b),
        _ => Vec::new(),
    }
}

/// The paths (JSON pointers, RFC 6901) of every leaf that differs between two
/// values, and of every key or array element only one side has; keys in
/// sorted order, array elements by index.
pub fn field_paths(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let mut paths = Vec::new();
    collect_paths(before, after, &mut String::new(), &mut paths);
    paths
}

fn collect_paths(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: &mut String,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let mut descend = |token: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>| {
        let len = at.len();
        at.push('/');
        at.push_str(&token.replace('~', "~0").replace('/', "~1"));
        match (a, b) {
            (Some(a), Some(b)) => collect_paths(a, b, at, out),
            _ => out.push(at.clone()),
        }
        at.truncate(len);
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                descend(key, x.get(key), y.get(key), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                descend(&i.to_string(), x.get(i), y.get(i), out);
            }
        }
        _ if a != b => out.push(at.clone()),
        _ => {}
    }
}

/// A unified diff with ANSI colours for a terminal: header lines bold, hunk
/// ranges cyan, removed lines red, added lines green.
pub fn colorize(diff: &str) -> String {
    use anstyle::{AnsiColor, Style};
    let bold = Style::new().bold();
    let mut out = String::with_capacity(diff.len() * 2);
    let mut in_header = false;
    for line in diff.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let header = body.starts_with("# ")
            || (in_header && (body.starts_with("--- ") || body.starts_with("+++ ")));
        in_header = header;
        let style = if header {
            bold
        } else if body.starts_with("@@") {
            AnsiColor::Cyan.on_default()
        } else if body.starts_with('-') {
            AnsiColor::Red.on_default()
        } else if body.starts_with('+') {
            AnsiColor::Green.on_default()
        } else {
            Style::new()
        };
        if style == Style::new() {
            out.push_str(line);
        } else {
            out.push_str(&format!(
                "{}{body}{}{end}",
                style.render(),
                style.render_reset()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(name: &str) -> ResourceId {
        ResourceId::namespaced("networking.istio.io/v1", "VirtualService", "ns", name)
    }

    #[test]
    fn states_are_matched_by_identity_in_identity_order() {
        let doc = |name: &str, text: &str| Resource::unchecked(vs(name), text);
        let (a1, b1, b2, c2) = (
            doc("a", "1\n"),
            doc("b", "1\n"),
            doc("b", "2\n"),
            doc("c", "2\n"),
        );
        let changes = between_states(&[&b1, &a1], &[&c2, &b2]);
        let seen: Vec<_> = changes
            .iter()
            .map(|c| {
                let (before, after) = c.texts();
                (c.id.name.as_str(), before, after)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a", Some("1\n".into()), None),
                ("b", Some("1\n".into()), Some("2\n".into())),
                ("c", None, Some("2\n".into())),
            ]
        );
    }

    #[test]
    fn only_changed_documents_appear_with_a_header_each() {
        let doc = |name: &str, text: &str| Resource::unchecked(vs(name), text);
        let (a1, a2, b1, b2, c) = (
            doc("a", "x: 1\n"),
            doc("a", "x: 1\n"),
            doc("b", "x: 1\n"),
            doc("b", "x: 2\n"),
            doc("c", "y: 1\n"),
        );
        let changes = [
            Change {
                id: &a1.id,
                before: Some(&a1),
                after: Some(&a2),
            },
            Change {
                id: &b1.id,
                before: Some(&b1),
                after: Some(&b2),
            },
            Change {
                id: &c.id,
                before: None,
                after: Some(&c),
            },
        ];
        let text = unified("s1", "s2", &changes, 3);
        assert!(!text.contains("VirtualService ns/a"), "{text}");
        assert!(text.contains("# changed: VirtualService ns/b\n--- a/s1/VirtualService/ns/b.yaml\n+++ b/s2/VirtualService/ns/b.yaml\n"), "{text}");
        assert!(text.contains("-x: 1\n+x: 2\n"), "{text}");
        assert!(
            text.contains("# added: VirtualService ns/c\n--- /dev/null\n"),
            "{text}"
        );
    }

    #[test]
    fn a_diff_handed_over_in_pieces_is_the_whole_diff_across_chunks() {
        // Held as a build holds them: packed.
        let side = |text: fn(usize) -> String| -> Vec<Resource> {
            Resource::pack(
                (0..2 * PIECES_CHUNK + 7)
                    .map(|i| Resource::unchecked(vs(&format!("s{i}")), &text(i)))
                    .collect(),
            )
        };
        let before = side(|i| format!("x: {i}\n"));
        let after = side(|i| format!("x: {}\n", i % 3 + i));
        let changes: Vec<Change> = (before.iter().zip(&after))
            .map(|(before, after)| Change {
                id: &before.id,
                before: Some(before),
                after: Some(after),
            })
            .collect();
        let mut pieces = String::new();
        unified_pieces("s1", "s2", &changes, 3, |piece| {
            pieces.push_str(piece);
            Ok(())
        })
        .expect("collecting cannot fail");
        let whole: String = (changes.iter())
            .map(|change| unified_document("s1", "s2", change, 3))
            .collect();
        assert_eq!(pieces, whole);
        let last = 2 * PIECES_CHUNK + 6;
        assert!(pieces.contains(&format!(
            "# changed: VirtualService ns/s{last}\n--- a/s1/VirtualService/ns/s{last}.yaml\n\
             +++ b/s2/VirtualService/ns/s{last}.yaml\n@@ -1 +1 @@\n-x: {last}\n+x: {}\n",
            last % 3 + last
        )));
    }

    #[test]
    fn against_lists_resource_files_in_build_order_then_derived_files() {
        let file = |name: &str, text: &str| (name.to_owned(), text.as_bytes().to_vec());
        let old = |name: &str| (name.to_owned(), Existing::Read(b"old\n".to_vec()));
        let existing = [
            old("PLAN.md"),
            old("index.json"),
            old("kustomization.yaml"),
            old("steps/01-b.diff"),
            old("steps/01-b.yaml"),
            old("steps/02-gone.yaml"),
            old("teardown.yaml"),
            old("zz-mesh.yaml"),
        ];
        let fresh = [
            file("zz-mesh.yaml", "new\n"),
            file("kustomization.yaml", "new\n"),
            file("steps/01-b.yaml", "new\n"),
            file("steps/01-b.diff", "new\n"),
            file("teardown.yaml", "new\n"),
            file("PLAN.md", "new\n"),
            file("index.json", "new\n"),
        ];
        let report = against(&existing, &fresh);
        let files: Vec<&str> = report.files.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            files,
            [
                "zz-mesh.yaml",
                "steps/01-b.yaml",
                "teardown.yaml",
                "steps/02-gone.yaml",
                "kustomization.yaml",
                "steps/01-b.diff",
                "PLAN.md",
                "index.json",
            ]
        );
        let differences: Vec<&str> = report
            .differences
            .iter()
            .filter_map(|d| d.file.as_deref())
            .collect();
        assert_eq!(differences, files, "the text follows the same order");
    }

    #[test]
    fn no_change_is_an_empty_diff() {
        let (before, after) = (
            Resource::unchecked(vs("a"), "x\n"),
            Resource::unchecked(vs("a"), "x\n"),
        );
        let same = Change {
            id: &before.id,
            before: Some(&before),
            after: Some(&after),
        };
        assert_eq!(unified("a", "b", &[same], 3), "");
    }
}
