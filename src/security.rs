//! Zero-trust from the call graph (`[security]`, settings in `model`): the identity
//! each workload and the ingress gateway run as, and who may call each
//! service at a moment of the timeline. Rendering (`render::security`),
//! bundling, the plan and `explain` read the allow-lists from here; this
//! module owns no YAML and no validation.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Install, Moment, Scenario, Service, WAYPOINT_NAME};

/// The account a pod runs as when its Deployment names none.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The account of the ingress gateway the IstioOperator installs
/// (`istioctl install`, the in-cluster operator), in `istio-system`.
const OPERATOR_GATEWAY_ACCOUNT: &str = "istio-ingressgateway-service-account";

/// The namespace of Istio's own ingress gateway.
const ISTIO_NAMESPACE: &str = "istio-system";

/// The suffix of a service's ztunnel policy in ambient mode (`<service>-ztunnel`).
pub const ZTUNNEL_SUFFIX: &str = "-ztunnel";

/// What a caller is called in allow-lists when it is the ingress gateway.
pub const GATEWAY_CALLER: &str = "ingress gateway";

/// The account `service`'s pods run as: its `service_account`, else the
/// namespace's `default`.
pub fn account(service: &Service) -> &str {
    service
        .service_account
        .as_deref()
        .unwrap_or(DEFAULT_ACCOUNT)
}

/// The SPIFFE principal of `account` in `namespace`, as an
/// AuthorizationPolicy's `source.principals` names it.
pub fn principal(namespace: &str, account: &str) -> String {
    format!("cluster.local/ns/{namespace}/sa/{account}")
}

/// The principal of the ingress gateway's pods, when meshgen knows it:
/// - the Gateway API: Istio deploys the Gateway as `<name>-<class>` with a
///   ServiceAccount of that name in the Gateway's namespace (Istio 1.18,
///   istio/istio#43103, release note `gateway-naming.yaml`; meshgen's
///   Gateway API needs 1.22), so `<name>-istio` in the application's
///   namespace;
/// - Istio's APIs with the default selector, Helm: the `gateway` chart's
///   account is named after the release, `istio-ingressgateway`, in
///   `istio-system` (`gateway.serviceAccountName` in `templates/_helpers.tpl`);
/// - Istio's APIs with the default selector, the IstioOperator: the ingress
///   gateway runs as `istio-ingressgateway-service-account` in `istio-system`;
/// - a gateway with its own `selector`: unknown (`None`; validation warns).
pub fn gateway_principal(scenario: &Scenario) -> Option<String> {
    let gateway = scenario.gateway.as_ref()?;
    if scenario.gateway_api() {
        let namespace = &scenario.namespace.name;
        return Some(principal(namespace, &format!("{}-istio", gateway.name)));
    }
    if gateway.custom_selector {
        return None;
    }
    let account = match scenario.mesh.install {
        Install::Helm => crate::istio::GATEWAY_CHART.release,
        Install::Istioctl | Install::Operator => OPERATOR_GATEWAY_ACCOUNT,
    };
    Some(principal(ISTIO_NAMESPACE, account))
}

/// The principal of the namespace's waypoint in ambient mode: Istio deploys
/// a waypoint with a ServiceAccount named after it.
pub fn waypoint_principal(scenario: &Scenario) -> String {
    principal(&scenario.namespace.name, WAYPOINT_NAME)
}

/// Who may call one service: each allowed principal, with the callers
/// (service names, or `GATEWAY_CALLER`) that need it.
pub type AllowList = BTreeMap<String, BTreeSet<String>>;

/// Per service (in service order), who may call it `at` a moment: the
/// principal of every service with a version that has pods then and
/// declares a call to it, and the ingress gateway's for the services the
/// gateway routes to (when its principal is known). Linear in the calls.
pub fn allow_lists(scenario: &Scenario, at: Moment) -> Vec<AllowList> {
    let ns = &scenario.namespace.name;
    let mut lists: Vec<AllowList> = vec![AllowList::new(); scenario.services.len()];
    for caller in &scenario.services {
        let calls = (caller.versions.iter())
            .filter(|v| v.has_pods(at))
            .flat_map(|v| &v.calls);
        for call in calls {
            let Some(&i) = scenario.service_positions.get(&call.service) else {
                continue;
            };
            if let Some(list) = lists.get_mut(i) {
                (list.entry(principal(ns, account(caller))).or_default())
                    .insert(caller.name.to_string());
            }
        }
    }
    if let (Some(gateway), Some(gateway_principal)) =
        (&scenario.gateway, gateway_principal(scenario))
    {
        for route in &gateway.routes {
            let Some(&i) = scenario.service_positions.get(&route.service) else {
                continue;
            };
            if let Some(list) = lists.get_mut(i) {
                (list.entry(gateway_principal.clone()).or_default())
                    .insert(GATEWAY_CALLER.to_owned());
            }
        }
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::valid_model;

    const SCENARIO: &str = r#"
name = "s"
[mesh]
version = "1.30.3"
[namespace]
name = "shop"
[security]
authorization = "calls"
[[services]]
name = "front"
port = 80
service_account = "front"
calls = [ { service = "back" } ]
  [services.versions.v1]
  image = "example/front:1"
[[services]]
name = "back"
port = 80
  [services.versions.v1]
  image = "example/back:1"
  [services.versions.v2]
  image = "example/back:2"
  calls = [ { service = "audit" } ]
[[services]]
name = "audit"
port = 80
  [services.versions.v1]
  image = "example/audit:1"
[gateway]
name = "gw"
[[gateway.routes]]
service = "front"
"#;

    #[test]
    fn the_gateway_runs_as_the_account_its_install_and_routing_api_give_it() {
        let cases = [
            (
                "",
                "",
                Some("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"),
            ),
            (
                "install = \"helm\"\n",
                "",
                Some("cluster.local/ns/istio-system/sa/istio-ingressgateway"),
            ),
            (
                "routing_api = \"gateway-api\"\n",
                "",
                Some("cluster.local/ns/shop/sa/gw-istio"),
            ),
            ("", "selector = { app = \"mine\" }\n", None),
        ];
        for (mesh, gateway, expected) in cases {
            let text = SCENARIO
                .replace(
                    "version = \"1.30.3\"\n",
                    &format!("version = \"1.30.3\"\n{mesh}"),
                )
                .replace("name = \"gw\"\n", &format!("name = \"gw\"\n{gateway}"));
            let scenario = valid_model(&text);
            assert_eq!(
                gateway_principal(&scenario).as_deref(),
                expected,
                "{mesh}{gateway}"
            );
        }
    }

    #[test]
    fn each_service_allows_its_declared_callers_and_the_gateway_where_it_routes() {
        let scenario = valid_model(SCENARIO);
        let lists = allow_lists(&scenario, Moment::BeforeSteps);
        let names = |list: &AllowList| -> Vec<(String, Vec<String>)> {
            (list.iter())
                .map(|(p, c)| (p.clone(), c.iter().cloned().collect()))
                .collect()
        };
        assert_eq!(
            names(&lists[0]),
            [(
                "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account".to_owned(),
                vec![GATEWAY_CALLER.to_owned()]
            )]
        );
        assert_eq!(
            names(&lists[1]),
            [(
                "cluster.local/ns/shop/sa/front".to_owned(),
                vec!["front".to_owned()]
            )]
        );
        assert_eq!(
            names(&lists[2]),
            [(
                "cluster.local/ns/shop/sa/default".to_owned(),
                vec!["back".to_owned()]
            )]
        );
    }
}
