//! `[security]`'s documents: the namespace's PeerAuthentication and, with
//! `authorization = "calls"`, each service's AuthorizationPolicy for every
//! allow-list the timeline gives it (one without releases). In ambient mode
//! the caller policy attaches to the waypoint (`targetRefs` to the
//! Service: traffic to a service goes through the namespace's waypoint,
//! which sees the caller's identity), and a ztunnel policy (`selector`)
//! lets the service's pods accept only the waypoint and, for the services
//! the ingress gateway routes to, the gateway, which reaches the pods
//! without the waypoint (Istio's ambient docs, "Use a waypoint proxy for L7
//! authorization policy").

use serde::Serialize;

use super::templates::Renderer;
use crate::error::Error;
use crate::model::{Moment, Scenario};
use crate::resource::{Resource, ResourceId};
use crate::security::{self, AllowList};

/// The documents of `[security]`.
#[derive(Debug, Default)]
pub struct Policies {
    /// The namespace's PeerAuthentication `default`, with `mtls`.
    pub peer_authentication: Option<Resource>,
    /// Per service (in service order), its caller policy for each distinct
    /// allow-list; empty without `authorization`.
    pub callers: Vec<Vec<AllowPolicy>>,
    /// In ambient mode, per service, its ztunnel policy.
    pub ztunnel: Vec<Resource>,
    /// The moments at which an allow-list may change (before the steps,
    /// and during and after each step that launches or retires versions),
    /// each with the index in `callers[i]` of service i's policy then.
    pub timeline: Vec<(Moment, Vec<usize>)>,
}

/// One AuthorizationPolicy of a service, for one allow-list.
#[derive(Debug)]
pub struct AllowPolicy {
    /// Who it allows.
    pub allowed: AllowList,
    /// The document.
    pub resource: Resource,
}

/// The `security.istio.io` version emitted: `v1` from Istio 1.22 (where
/// PeerAuthentication's v1 is first served; AuthorizationPolicy's since
/// 1.17), `v1beta1` before (served since 1.5 for both).
fn api_version(scenario: &Scenario) -> &'static str {
    let release = scenario.mesh.release;
    if (release.major, release.minor) >= (1, 22) {
        "security.istio.io/v1"
    } else {
        "security.istio.io/v1beta1"
    }
}

/// Renders the PeerAuthentication and the AuthorizationPolicies.
pub fn render(renderer: &Renderer, scenario: &Scenario) -> Result<Policies, Error> {
    let api_version = api_version(scenario);
    let ns = scenario.namespace.name.as_str();
    let peer_authentication = match scenario.security.mtls {
        Some(mtls) => Some(renderer.render(
            "peerauthentication.yaml.j2",
            &PeerContext {
                api_version,
                namespace: ns,
                mode: mtls.mode(),
            },
            ResourceId::namespaced(api_version, "PeerAuthentication", ns, "default"),
        )?),
        None => None,
    };
    if !scenario.security.authorization {
        return Ok(Policies {
            peer_authentication,
            ..Policies::default()
        });
    }
    let ambient = scenario.ambient();
    let template = renderer.template("authorizationpolicy.yaml.j2")?;
    let render_one = |name: &str, service: &str, principals: Vec<&str>, target: bool| {
        let context = PolicyContext {
            api_version,
            namespace: ns,
            name,
            app: service,
            target_service: target.then_some(service),
            principals,
        };
        let id = ResourceId::namespaced(api_version, "AuthorizationPolicy", ns, name);
        template.render(&context, id)
    };
    // Only a step that launches or retires versions changes who calls.
    let moments = std::iter::once(Moment::BeforeSteps).chain(
        (scenario.steps.iter().enumerate())
            .filter(|(_, s)| !s.launch.is_empty() || !s.retire.is_empty())
            .flat_map(|(k, _)| [Moment::During(k), Moment::After(k)]),
    );
    let mut callers: Vec<Vec<AllowPolicy>> = Vec::new();
    callers.resize_with(scenario.services.len(), Vec::new);
    let mut timeline = Vec::new();
    for at in moments {
        let lists = security::allow_lists(scenario, at);
        let mut picked = Vec::with_capacity(lists.len());
        for ((service, list), variants) in scenario.services.iter().zip(lists).zip(&mut callers) {
            let same = |p: &AllowPolicy| p.allowed.keys().eq(list.keys());
            let index = match variants.iter().position(same) {
                Some(index) => index,
                None => {
                    let principals = list.keys().map(String::as_str).collect();
                    let resource = render_one(&service.name, &service.name, principals, ambient)?;
                    variants.push(AllowPolicy {
                        allowed: list,
                        resource,
                    });
                    variants.len() - 1
                }
            };
            picked.push(index);
        }
        timeline.push((at, picked));
    }
    let mut ztunnel = Vec::new();
    if ambient {
        let waypoint = security::waypoint_principal(scenario);
        let gateway = security::gateway_principal(scenario);
        for service in &scenario.services {
            let exposed = (scenario.gateway.as_ref()).is_some_and(|g| g.exposes(&service.name));
            let mut principals = vec![waypoint.as_str()];
            principals.extend(gateway.as_deref().filter(|_| exposed));
            principals.sort_unstable();
            let name = format!("{}{}", service.name, security::ZTUNNEL_SUFFIX);
            ztunnel.push(render_one(&name, &service.name, principals, false)?);
        }
    }
    Ok(Policies {
        peer_authentication,
        callers,
        ztunnel,
        timeline,
    })
}

#[derive(Serialize)]
struct PeerContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    mode: &'a str,
}

#[derive(Serialize)]
struct PolicyContext<'a> {
    api_version: &'a str,
    namespace: &'a str,
    name: &'a str,
    /// The `app` label its `selector` matches.
    app: &'a str,
    /// With `targetRefs`: the Service whose waypoint enforces it.
    target_service: Option<&'a str>,
    /// Allowed principals, sorted; empty: it allows nothing.
    principals: Vec<&'a str>,
}
