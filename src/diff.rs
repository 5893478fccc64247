//! Diffs: unified, document-aware diffs between two sets of resources (the
//! routing states of two steps, or a build against an existing folder). Each
//! changed document gets a header line naming it, then its hunks.

use similar::TextDiff;

use crate::resource::{Resource, ResourceId};

/// Lines of context around each change, unless the user asks otherwise.
pub const DEFAULT_CONTEXT: usize = 3;

/// One document on both sides of a diff; `None` where it does not exist.
#[derive(Debug, Clone)]
pub struct Change {
    /// Which resource.
    pub id: ResourceId,
    /// Its text before.
    pub before: Option<String>,
    /// Its text after.
    pub after: Option<String>,
}

impl Change {
    /// `added`, `removed`, `changed` or `unchanged`.
    pub fn kind(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (Some(a), Some(b)) if a != b => "changed",
            _ => "unchanged",
        }
    }
}

/// A unified diff of every changed document, labelled `a/<from>/…` and `b/<to>/…`.
/// Unchanged documents are left out; no change at all gives an empty string.
pub fn unified(from: &str, to: &str, changes: &[Change], context: usize) -> String {
    let mut out = String::new();
    for change in changes {
        let kind = change.kind();
        if kind == "unchanged" {
            continue;
        }
        let path = document_path(&change.id);
        let before = change.before.as_deref().unwrap_or("");
        let after = change.after.as_deref().unwrap_or("");
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
        out.push_str(&format!("# {kind}: {}\n", change.id));
        let diff = TextDiff::from_lines(before, after);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(context)
                .header(&old, &new)
                .to_string(),
        );
    }
    out
}

/// `VirtualService/bookinfo/reviews.yaml`: a stable path for a document.
pub fn document_path(id: &ResourceId) -> String {
    match &id.namespace {
        Some(ns) => format!("{}/{ns}/{}.yaml", id.kind, id.name),
        None => format!("{}/{}.yaml", id.kind, id.name),
    }
}

/// The changes between two routing states, documents matched by identity.
pub fn between_states(from: &[&Resource], to: &[&Resource]) -> Vec<Change> {
    let mut ids: Vec<&ResourceId> = from.iter().chain(to).map(|r| &r.id).collect();
    ids.sort();
    ids.dedup();
    let find = |side: &[&Resource], id: &ResourceId| {
        side.iter().find(|r| &r.id == id).map(|r| r.text.clone())
    };
    ids.into_iter()
        .map(|id| Change {
            id: id.clone(),
            before: find(from, id),
            after: find(to, id),
        })
        .collect()
}

/// A unified diff, file by file, of an existing output folder against a fresh
/// build's files; empty when they are identical.
pub fn folders(
    existing: &[(String, Vec<u8>)],
    fresh: &[(String, Vec<u8>)],
    context: usize,
) -> String {
    let mut names: Vec<&str> = existing
        .iter()
        .chain(fresh)
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let find = |side: &[(String, Vec<u8>)], name: &str| {
        side.iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
    };
    let mut out = String::new();
    for name in names {
        let (before, after) = (find(existing, name), find(fresh, name));
        if before == after {
            continue;
        }
        let kind = match (&before, &after) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        out.push_str(&format!("# {kind}: {name}\n"));
        let old = if before.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".to_owned()
        };
        let new = if after.is_some() {
            format!("b/{name}")
        } else {
            "/dev/null".to_owned()
        };
        let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
        out.push_str(
            &TextDiff::from_lines(&before, &after)
                .unified_diff()
                .context_radius(context)
                .header(&old, &new)
                .to_string(),
        );
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
    fn only_changed_documents_appear_with_a_header_each() {
        let changes = [
            Change {
                id: vs("a"),
                before: Some("x: 1\n".into()),
                after: Some("x: 1\n".into()),
            },
            Change {
                id: vs("b"),
                before: Some("x: 1\n".into()),
                after: Some("x: 2\n".into()),
            },
            Change {
                id: vs("c"),
                before: None,
                after: Some("y: 1\n".into()),
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
    fn no_change_is_an_empty_diff() {
        let same = Change {
            id: vs("a"),
            before: Some("x\n".into()),
            after: Some("x\n".into()),
        };
        assert_eq!(unified("a", "b", &[same], 3), "");
    }
}
