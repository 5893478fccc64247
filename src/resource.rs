//! Resources: the identity of a Kubernetes object (apiVersion, kind, namespace,
//! name) and a rendered document parsed back to prove it is exactly that one
//! object. Owns no templates and no ordering.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// apiVersion, kind, namespace and name: what `kubectl` and Argo CD key objects by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    /// `apiVersion`, e.g. `networking.istio.io/v1alpha3`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`; `None` for cluster-scoped kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ResourceId {
    /// A namespaced resource.
    pub fn namespaced(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A cluster-scoped resource.
    pub fn cluster(api_version: &str, kind: &str, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Who it is.
    pub id: ResourceId,
    /// The YAML document, ending in a newline, without a `---` line.
    pub text: String,
}

/// What the parse-back check reads of a document; the rest is parsed (so it
/// must be valid YAML) but not kept.
#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Resource {
    /// Parses `text` back and checks that it is one mapping whose apiVersion,
    /// kind, metadata.name and metadata.namespace are exactly `id`'s and whose
    /// `metadata.annotations` hold every pair of `annotations`.
    pub fn parse(
        id: ResourceId,
        text: String,
        annotations: &[(&str, &str)],
    ) -> Result<Self, String> {
        // No pre-parse budget: the text is meshgen's own rendering of an
        // already validated scenario, and the budget scan would read it twice.
        let options = serde_saphyr::options! { budget: None };
        let found: Identity = serde_saphyr::from_str_with_options(&text, options)
            .map_err(|e| format!("not one YAML mapping: {e}"))?;
        let metadata = found.metadata.as_ref();
        let found_id = (
            found.api_version.as_deref(),
            found.kind.as_deref(),
            metadata.and_then(|m| m.namespace.as_deref()),
            metadata.and_then(|m| m.name.as_deref()),
        );
        let wanted = (
            Some(id.api_version.as_str()),
            Some(id.kind.as_str()),
            id.namespace.as_deref(),
            Some(id.name.as_str()),
        );
        if found_id != wanted {
            return Err(format!(
                "expected {id} ({}), found {found_id:?}",
                id.api_version
            ));
        }
        for (key, value) in annotations {
            let written = metadata.and_then(|m| m.annotations.get(*key));
            if written.map(String::as_str) != Some(*value) {
                return Err(format!(
                    "it does not write the annotation `{key}: \"{value}\"` under \
                     metadata.annotations"
                ));
            }
        }
        Ok(Self { id, text })
    }

    /// The document as a JSON value, parsed on demand (for field-level diffs
    /// and schema checks, which only some commands need).
    pub fn value(&self) -> serde_json::Value {
        // The text parsed when the resource was made, so this cannot fail.
        serde_saphyr::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> ResourceId {
        ResourceId::namespaced("v1", "ConfigMap", "ns", name)
    }

    #[test]
    fn a_document_with_the_expected_identity_parses() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n";
        let resource = Resource::parse(cm("a"), text.to_owned(), &[]).expect("valid");
        assert_eq!(resource.value()["metadata"]["name"], "a");
    }

    #[test]
    fn a_second_document_or_other_identity_is_rejected() {
        let two = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n";
        assert!(Resource::parse(cm("a"), two.to_owned(), &[]).is_err());
        let renamed = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), renamed.to_owned(), &[]).is_err());
        let duplicate_key =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), duplicate_key.to_owned(), &[]).is_err());
        assert!(Resource::parse(cm("a"), "- 1\n".to_owned(), &[]).is_err());
        let broken =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\ndata: [\n";
        assert!(Resource::parse(cm("a"), broken.to_owned(), &[]).is_err());
        let annotated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  \
                         annotations:\n    wave: \"2\"\n";
        assert!(Resource::parse(cm("a"), annotated.to_owned(), &[("wave", "2")]).is_ok());
        assert!(Resource::parse(cm("a"), annotated.to_owned(), &[("wave", "3")]).is_err());
    }
}
