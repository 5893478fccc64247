//! The fleet: the rendered workloads and DestinationRules (or per-version
//! Services) of every service, picked by the moment of the scenario's
//! timeline at which they run, and what a change of the running versions
//! launches, retires and removes, in the phases of make before break.

use std::collections::HashSet;
use std::sync::Arc;

use super::authorization::Guards;
use super::{StepChange, shared};
use crate::diff;
use crate::model::{Moment, Scenario};
use crate::render::{self, Subsets};
use crate::resource::{Resource, ResourceId};

/// The rendered workloads and DestinationRules of every service, picked by
/// the moment of the scenario's timeline at which they run.
pub(super) struct Fleet<'s> {
    pub(super) scenario: &'s Scenario,
    /// Per service: its ServiceAccount, when it sets one.
    pub(super) service_accounts: Vec<Option<Arc<Resource>>>,
    /// Per service: its Service.
    pub(super) services: Vec<Arc<Resource>>,
    /// Per service, per version: its Deployment, when deployed.
    pub(super) deployments: Vec<Vec<Option<Arc<Resource>>>>,
    /// Per service: its DestinationRule for each set of running versions.
    pub(super) destination_rules: Vec<Vec<(Vec<usize>, Arc<Resource>)>>,
    /// Per service, per version: its Service `<service>-<version>` (Gateway
    /// API), when it has one.
    version_services: Vec<Vec<Option<Arc<Resource>>>>,
    /// `[security]`'s documents.
    pub(super) guards: Guards,
}

/// What the routing sends versions to, as rendered: per service, its
/// DestinationRules, or per version its own Service (Gateway API).
pub(super) struct Targets {
    pub(super) destination_rules: Vec<Vec<Subsets>>,
    pub(super) version_services: Vec<Vec<Option<Resource>>>,
}

/// What a change of the running versions applies and removes, in the
/// phases of make before break.
#[derive(Default)]
pub(super) struct Transition {
    /// Applied first: workloads that start, DestinationRules that gain subsets.
    pub(super) launch: Vec<Arc<Resource>>,
    /// Applied after the routing: DestinationRules that lose subsets.
    pub(super) retire: Vec<Arc<Resource>>,
    /// Deleted last, in reverse apply order: what stops running.
    pub(super) removed: Vec<ResourceId>,
}

impl<'s> Fleet<'s> {
    pub(super) fn new(
        scenario: &'s Scenario,
        workloads: render::Workloads,
        targets: Targets,
        policies: render::Policies,
    ) -> Self {
        let Targets {
            destination_rules,
            version_services,
        } = targets;
        let services = &scenario.services;
        let mut service_accounts: Vec<Option<Arc<Resource>>> = vec![None; services.len()];
        for (i, account) in workloads.service_accounts {
            service_accounts[i] = Some(Arc::new(account));
        }
        let mut deployments: Vec<Vec<Option<Arc<Resource>>>> = services
            .iter()
            .map(|s| vec![None; s.versions.len()])
            .collect();
        for (i, j, deployment) in workloads.deployments {
            deployments[i][j] = Some(Arc::new(deployment));
        }
        Self {
            scenario,
            service_accounts,
            services: shared(workloads.services),
            deployments,
            destination_rules: destination_rules
                .into_iter()
                .map(|variants| {
                    (variants.into_iter())
                        .map(|s| (s.versions, Arc::new(s.resource)))
                        .collect()
                })
                .collect(),
            version_services: (version_services.into_iter())
                .map(|versions| versions.into_iter().map(|v| v.map(Arc::new)).collect())
                .collect(),
            guards: Guards::new(policies),
        }
    }

    /// The ServiceAccounts, Services and Deployments that exist `at` a
    /// moment, in apply order.
    pub(super) fn workloads(&self, at: Moment) -> Vec<Arc<Resource>> {
        let services = &self.scenario.services;
        let exists: Vec<bool> = services.iter().map(|s| s.exists(at)).collect();
        let accounts = (self.service_accounts.iter().zip(&exists))
            .filter_map(|(account, &e)| account.as_ref().filter(|_| e));
        let objects = (self.services.iter().zip(&exists)).filter_map(|(s, &e)| e.then_some(s));
        let deployments = services.iter().zip(&self.deployments).flat_map(|(s, d)| {
            (s.versions.iter().zip(d))
                .filter(move |(v, _)| v.lifetime.runs(at))
                .filter_map(|(_, d)| d.as_ref())
        });
        accounts
            .chain(objects)
            .chain(deployments)
            .cloned()
            .collect()
    }

    /// Service `i`'s DestinationRule `at` a moment: a subset per running
    /// version; `None` when none runs.
    fn destination_rule(&self, i: usize, at: Moment) -> Option<&Arc<Resource>> {
        let service = &self.scenario.services[i];
        let running = service.versions.iter().enumerate();
        let running: Vec<usize> = running
            .filter(|(_, v)| v.lifetime.runs(at))
            .map(|(j, _)| j)
            .collect();
        self.destination_rules[i]
            .iter()
            .find(|(versions, _)| *versions == running)
            .map(|(_, rule)| rule)
    }

    /// What the routing sends versions to `at` a moment, in service order:
    /// the DestinationRules, or the per-version Services of the running
    /// versions (Gateway API).
    pub(super) fn targets(&self, at: Moment) -> Vec<Arc<Resource>> {
        let rules = (0..self.scenario.services.len()).filter_map(|i| self.destination_rule(i, at));
        let services = (self.scenario.services.iter().zip(&self.version_services)).flat_map(
            |(s, versions)| {
                (s.versions.iter().zip(versions))
                    .filter(move |(v, _)| v.lifetime.runs(at))
                    .filter_map(|(_, service)| service.as_ref())
            },
        );
        rules.chain(services).cloned().collect()
    }

    /// From the versions running at `from` to those at `to`, through `mid`
    /// when both run: what starts, what changes, and what stops.
    pub(super) fn transition(&self, from: Moment, mid: Moment, to: Moment) -> Transition {
        let services = &self.scenario.services;
        // A launched caller is allowed before its Deployment starts; an
        // allowance nobody needs any more goes once the routing has moved.
        let (mut launch, mut retire, mut removed) =
            (self.guards.changed(from, mid), Vec::new(), Vec::new());
        let started = |s: &crate::model::Service| s.exists(mid) && !s.exists(from);
        let stopped = |s: &crate::model::Service| s.exists(mid) && !s.exists(to);
        let accounts = services.iter().zip(&self.service_accounts);
        for (service, account) in accounts.clone() {
            if let Some(account) = account.as_ref().filter(|_| started(service)) {
                launch.push(Arc::clone(account));
            }
        }
        for (service, object) in services.iter().zip(&self.services) {
            if started(service) {
                launch.push(Arc::clone(object));
            }
        }
        // A version's Deployment, then its own Service (Gateway API), come
        // and go with it.
        for per_version in [&self.deployments, &self.version_services] {
            for (service, documents) in services.iter().zip(per_version) {
                for (version, document) in service.versions.iter().zip(documents) {
                    let Some(document) = document else {
                        continue;
                    };
                    let runs = |at| version.lifetime.runs(at);
                    if runs(mid) && !runs(from) {
                        launch.push(Arc::clone(document));
                    }
                    if runs(mid) && !runs(to) {
                        removed.push(document.id.clone());
                    }
                }
            }
        }
        for i in 0..services.len() {
            let (before, during, after) = (
                self.destination_rule(i, from),
                self.destination_rule(i, mid),
                self.destination_rule(i, to),
            );
            if let Some(during) = during.filter(|d| before.is_none_or(|b| !Arc::ptr_eq(b, d))) {
                launch.push(Arc::clone(during));
            }
            match (during, after) {
                (Some(during), Some(after)) if !Arc::ptr_eq(during, after) => {
                    retire.push(Arc::clone(after));
                }
                (Some(during), None) => removed.push(during.id.clone()),
                _ => {}
            }
        }
        retire.extend(self.guards.changed(mid, to));
        for (service, object) in services.iter().zip(&self.services) {
            if stopped(service) {
                removed.push(object.id.clone());
            }
        }
        for (service, account) in accounts {
            if let Some(account) = account.as_ref().filter(|_| stopped(service)) {
                removed.push(account.id.clone());
            }
        }
        Transition {
            launch,
            retire,
            removed,
        }
    }
}

/// The workloads and DestinationRules that differ between two states of the
/// fleet. A resource a step leaves alone is the same shared document on both
/// sides, so only the others are compared by identity: a step of a large
/// scenario that launches one version compares a handful of documents, not
/// every Deployment.
pub(super) fn fleet_changes(
    before: &[&Arc<Resource>],
    after: &[&Arc<Resource>],
) -> Vec<StepChange> {
    let shared = |side: &[&Arc<Resource>]| -> HashSet<*const Resource> {
        side.iter().map(|r| Arc::as_ptr(r)).collect()
    };
    let (in_before, in_after) = (shared(before), shared(after));
    let only = |side: &[&Arc<Resource>], other: &HashSet<*const Resource>| {
        (side.iter())
            .filter(|r| !other.contains(&Arc::as_ptr(r)))
            .map(|r| Arc::clone(r))
            .collect::<Vec<_>>()
    };
    diff::matched(&only(before, &in_after), &only(after, &in_before))
        .into_iter()
        .map(|(before, after)| StepChange { before, after })
        .collect()
}
