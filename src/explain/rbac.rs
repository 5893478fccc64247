//! Authorization at a hop, with `[security] authorization = "calls"`:
//! whether the callee's AuthorizationPolicy in force at the view's moment
//! allows the caller's principal, and the 403 the callee's proxy (its
//! sidecar, or in ambient mode the waypoint) answers when it does not.
//! Owns no routing: the tracer asks at each hop.

use std::collections::BTreeSet;

use super::outcome::{Dist, Kind, Resp};
use super::view::View;
use crate::model::Scenario;
use crate::security::{self, AllowList};

/// The body of Envoy's RBAC denial.
pub(super) const DENIED: &str = "RBAC: access denied";

/// Who may call each service at the view's moment.
pub(super) struct Guard<'a> {
    scenario: &'a Scenario,
    /// Per service, in service order.
    allowed: &'a [AllowList],
}

impl<'a> Guard<'a> {
    /// The guard of `view`, when the scenario has authorization.
    pub(super) fn new(view: &'a View<'a>) -> Option<Self> {
        Some(Self {
            scenario: view.scenario,
            allowed: view.allowed.as_deref()?,
        })
    }

    /// The principal the pods of service `name` run as.
    pub(super) fn service_principal(&self, name: &str) -> Option<String> {
        let service = self.scenario.service(name)?;
        Some(security::principal(
            &self.scenario.namespace.name,
            security::account(service),
        ))
    }

    /// The ingress gateway's principal, when meshgen knows it.
    pub(super) fn gateway_principal(&self) -> Option<String> {
        security::gateway_principal(self.scenario)
    }

    /// The 403 a call to `callee` from `principal` (`None`: unknown, as a
    /// gateway with its own selector) gets, when its policy denies it.
    pub(super) fn denial(&self, principal: Option<&str>, callee: &str) -> Option<Dist> {
        let i = *self.scenario.service_positions.get(callee)?;
        let allowed = self.allowed.get(i)?;
        if principal.is_some_and(|p| allowed.contains_key(p)) {
            return None;
        }
        let who = principal.map_or_else(
            || "the caller's principal is unknown".to_owned(),
            |p| format!("`{p}` is not among its principals"),
        );
        let reason = format!("{DENIED} (AuthorizationPolicy `{callee}`: {who})");
        Some(vec![(
            1.0,
            Resp {
                latency: 0,
                kind: Kind::Status {
                    code: 403,
                    at: callee.to_owned(),
                    reason,
                },
                causes: BTreeSet::new(),
            },
        )])
    }
}
