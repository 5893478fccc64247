//! Resources: the identity of a Kubernetes object (apiVersion, kind, namespace,
//! name) and a rendered document parsed back to prove it is exactly that one
//! object. Owns no templates and no ordering.

use std::fmt;

use serde::Serialize;

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
    /// The document parsed back.
    pub value: serde_json::Value,
}

impl Resource {
    /// Parses `text` back and checks that it is one mapping whose apiVersion,
    /// kind, metadata.name and metadata.namespace are exactly `id`'s.
    pub fn parse(id: ResourceId, text: String) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|e| format!("not one YAML document: {e}"))?;
        let field = |pointer: &str| value.pointer(pointer).and_then(serde_json::Value::as_str);
        let Some(object) = value.as_object() else {
            return Err("the document is not a mapping".to_owned());
        };
        let expected_keys = ["apiVersion", "kind", "metadata"];
        if !expected_keys.iter().all(|k| object.contains_key(*k)) {
            return Err("the document lacks apiVersion, kind or metadata".to_owned());
        }
        let found = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/namespace"),
            field("/metadata/name"),
        );
        let wanted = (
            Some(id.api_version.as_str()),
            Some(id.kind.as_str()),
            id.namespace.as_deref(),
            Some(id.name.as_str()),
        );
        if found != wanted {
            return Err(format!(
                "expected {id} ({}), found {found:?}",
                id.api_version
            ));
        }
        Ok(Self { id, text, value })
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
        let resource = Resource::parse(cm("a"), text.to_owned()).expect("valid");
        assert_eq!(resource.value["metadata"]["name"], "a");
    }

    #[test]
    fn a_second_document_or_other_identity_is_rejected() {
        let two = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n";
        assert!(Resource::parse(cm("a"), two.to_owned()).is_err());
        let renamed = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), renamed.to_owned()).is_err());
        let duplicate_key =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), duplicate_key.to_owned()).is_err());
        assert!(Resource::parse(cm("a"), "- 1\n".to_owned()).is_err());
    }
}
