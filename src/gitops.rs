//! GitOps hand-off: the `kustomization.yaml` files of an output folder, so
//! `kubectl apply -k`, Argo CD and Flux can take the folder as it is, and the
//! layout of the per-step routing folders. Owns no ordering (that is
//! `bundle`'s) and writes nothing.

use crate::render::yaml_string;

/// Name of every kustomization file.
pub const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// Folder of the per-step routing states.
pub const ROUTING_DIR: &str = "routing";

/// Name of the routing-state file inside a step's routing folder.
pub const ROUTING_STATE_FILE: &str = "virtual-services.yaml";
/// Its name with the Gateway API: HTTPRoutes (and a fault step's VirtualServices).
pub const GATEWAY_API_ROUTING_STATE_FILE: &str = "routes.yaml";

/// With releases, a step's folder holds the whole state after it: these
/// files (each only when it has documents), then the routing state.
/// The Namespace.
pub const STATE_NAMESPACE_FILE: &str = "namespace.yaml";
/// The ServiceAccounts, Services and Deployments after the step.
pub const STATE_WORKLOADS_FILE: &str = "workloads.yaml";
/// The Gateway and its VirtualService.
pub const STATE_GATEWAY_FILE: &str = "gateway.yaml";
/// The DestinationRules after the step.
pub const STATE_DESTINATION_RULES_FILE: &str = "destination-rules.yaml";
/// With the Gateway API, the per-version Services after the step.
pub const STATE_VERSION_SERVICES_FILE: &str = "version-services.yaml";
/// A whole state's `[security]` PeerAuthentication and AuthorizationPolicies.
pub const STATE_AUTHORIZATION_FILE: &str = "authorization.yaml";

/// A `kustomization.yaml` listing `resources` (paths relative to it) in the
/// given order, after a comment saying what it is; `comment` lines are written
/// as `# ` lines.
pub fn kustomization(comment: &[String], resources: &[&str]) -> String {
    let mut out = String::new();
    for line in comment {
        out.push_str("# ");
        out.push_str(&line.replace(['\n', '\r'], " "));
        out.push('\n');
    }
    out.push_str("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for resource in resources {
        out.push_str("- ");
        // Our own file names (`03-workloads.yaml`) are unambiguous plain
        // scalars; anything else goes through the YAML-safe formatter.
        let plain = resource.ends_with(".yaml")
            && resource
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-./".contains(&b));
        if plain {
            out.push_str(resource);
        } else {
            out.push_str(&yaml_string(resource));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kustomization_lists_its_resources_in_order_after_its_comment() {
        let text = kustomization(
            &["first\nline".to_owned()],
            &["02-namespace.yaml", "03-workloads.yaml"],
        );
        assert_eq!(
            text,
            "# first line\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources:\n- 02-namespace.yaml\n- 03-workloads.yaml\n"
        );
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        assert_eq!(value["resources"][1], "03-workloads.yaml");
    }
}
