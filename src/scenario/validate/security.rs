//! `[security]`: mutual TLS and authorization from the call graph, and the
//! warnings about identities that authorization deserves (callers sharing
//! the `default` account, a gateway whose account meshgen cannot know).
//! A call to an undeclared service is `services`' error, at the call.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::{Checker, ServiceInfo};
use crate::model::{Mtls, Security};
use crate::scenario::raw::{RawGateway, RawSecurity, RawService};
use crate::security::{DEFAULT_ACCOUNT, ZTUNNEL_SUFFIX};

impl Checker<'_> {
    /// The model of `[security]` (the schema has checked its values), and
    /// with `authorization = "calls"` the warnings about identities.
    pub(super) fn security(
        &mut self,
        raw: &Spanned<RawSecurity>,
        raws: &[Spanned<RawService>],
        infos: &[ServiceInfo],
        gateway: Option<&Spanned<RawGateway>>,
    ) -> Security {
        let raw = raw.get_ref();
        let mtls = raw.mtls.as_ref().and_then(|m| match m.get_ref().as_str() {
            "strict" => Some(Mtls::Strict),
            "permissive" => Some(Mtls::Permissive),
            _ => None,
        });
        let authorization = raw
            .authorization
            .as_ref()
            .is_some_and(|a| a.get_ref() == "calls");
        if authorization {
            self.shared_default_account(raws, infos);
            if self.ambient {
                self.ztunnel_policy_names(raws);
            }
            if let Some(selector) = gateway.and_then(|g| g.get_ref().selector.as_ref())
                && !self.gateway_api()
            {
                self.warning(
                    selector.span(),
                    "the gateway selects its own pods, whose service account meshgen does not \
                     know: the AuthorizationPolicies of authorization = \"calls\" do not allow \
                     it, so requests through it are denied (403); add an AuthorizationPolicy \
                     allowing its principal, or use Istio's ingress gateway (no selector)",
                );
            }
        }
        Security {
            mtls,
            authorization,
        }
    }

    /// In ambient mode each service `s` has AuthorizationPolicies `s` and
    /// `s-ztunnel`: a service named `s-ztunnel` beside `s` would share one.
    fn ztunnel_policy_names(&mut self, raws: &[Spanned<RawService>]) {
        let names: HashSet<&str> = (raws.iter())
            .filter_map(|r| r.get_ref().name.as_ref())
            .map(|n| n.get_ref().as_str())
            .collect();
        for name in raws.iter().filter_map(|r| r.get_ref().name.as_ref()) {
            if let Some(base) = name.get_ref().strip_suffix(ZTUNNEL_SUFFIX)
                && names.contains(base)
            {
                self.error(
                    name.span(),
                    format!(
                        "service `{}`: its AuthorizationPolicy would have the name of the \
                         ztunnel policy of service `{base}` (ambient mode, authorization = \
                         \"calls\"); rename one of them",
                        name.get_ref()
                    ),
                );
            }
        }
    }

    /// Warns, at each calling service without `service_account`, that it
    /// calls as `default`, which every such service shares: the services
    /// it may call then accept those others too.
    fn shared_default_account(&mut self, raws: &[Spanned<RawService>], infos: &[ServiceInfo]) {
        /// The most other services a warning names.
        const NAMED: usize = 5;
        let without: BTreeSet<&str> = (infos.iter())
            .filter(|i| i.service.service_account.is_none())
            .map(|i| i.service.name.as_str())
            .collect();
        if without.is_empty() {
            return;
        }
        // Where each service is named: the first entry of a name.
        let mut names: HashMap<&str, Range<usize>> = HashMap::new();
        for name in raws.iter().filter_map(|r| r.get_ref().name.as_ref()) {
            names.entry(name.get_ref()).or_insert_with(|| name.span());
        }
        for info in infos.iter().filter(|i| i.service.service_account.is_none()) {
            let service = &info.service;
            let called: BTreeSet<&str> = (service.versions.iter())
                .flat_map(|v| &v.calls)
                .map(|c| c.service.as_str())
                .collect();
            let Some(span) = names
                .get(service.name.as_str())
                .filter(|_| !called.is_empty())
            else {
                continue;
            };
            let mut others: Vec<String> = (without.iter())
                .filter(|&&o| o != service.name)
                .take(NAMED)
                .map(|o| format!("`{o}`"))
                .collect();
            let more = without.len().saturating_sub(1 + NAMED);
            if more > 0 {
                others.push(format!("{more} more"));
            }
            let also = if others.is_empty() {
                "any other workload of the namespace without an account".to_owned()
            } else {
                format!(
                    "{} (without service_account too), and any other workload of the \
                     namespace without an account,",
                    others.join(", ")
                )
            };
            let called: Vec<String> = called.iter().map(|c| format!("`{c}`")).collect();
            self.warning(
                span.clone(),
                format!(
                    "service `{}` has no service_account: it calls {} as `{DEFAULT_ACCOUNT}`, \
                     so {also} may call them too; set its service_account",
                    service.name,
                    called.join(", ")
                ),
            );
        }
    }
}
