//! The rendered `[security]` documents, picked by the moment of the
//! timeline: the policies in force at a moment, and those a change of the
//! running versions applies. A launched caller is allowed in the launch
//! phase, before its Deployment starts; an allowance nobody needs any more
//! is removed in the retire phase, once the routing has moved away.

use std::sync::Arc;

use crate::model::Moment;
use crate::render::Policies;
use crate::resource::Resource;

/// The PeerAuthentication and AuthorizationPolicies of a scenario.
pub(super) struct Guards {
    peer_authentication: Option<Arc<Resource>>,
    /// Per service, its caller policy for each allow-list.
    callers: Vec<Vec<Arc<Resource>>>,
    /// Per service, its ztunnel policy (ambient mode).
    ztunnel: Vec<Arc<Resource>>,
    /// (ordinal of a moment, per service the index of its policy then),
    /// in the timeline's order.
    timeline: Vec<(usize, Vec<usize>)>,
}

/// The position of a moment in the timeline.
fn ordinal(at: Moment) -> usize {
    match at {
        Moment::BeforeSteps => 0,
        Moment::During(k) => k.saturating_mul(2).saturating_add(1),
        Moment::After(k) => k.saturating_mul(2).saturating_add(2),
    }
}

impl Guards {
    /// The rendered documents, shared by every moment that uses them.
    pub(super) fn new(policies: Policies) -> Self {
        Self {
            peer_authentication: policies.peer_authentication.map(Arc::new),
            callers: (policies.callers.into_iter())
                .map(|variants| {
                    (variants.into_iter())
                        .map(|p| Arc::new(p.resource))
                        .collect()
                })
                .collect(),
            ztunnel: policies.ztunnel.into_iter().map(Arc::new).collect(),
            timeline: (policies.timeline.into_iter())
                .map(|(at, picked)| (ordinal(at), picked))
                .collect(),
        }
    }

    /// Per service, the index of its caller policy `at` a moment: that of
    /// the last moment of the timeline at or before it.
    fn picked(&self, at: Moment) -> Option<&[usize]> {
        let at = ordinal(at);
        let after = self.timeline.partition_point(|(o, _)| *o <= at);
        let (_, picked) = self.timeline.get(after.checked_sub(1)?)?;
        Some(picked)
    }

    /// Service `i`'s caller policy `at` a moment.
    fn caller_policy(&self, i: usize, at: Moment) -> Option<&Arc<Resource>> {
        let j = *self.picked(at)?.get(i)?;
        self.callers.get(i)?.get(j)
    }

    /// Every document in force `at` a moment, in apply order: the
    /// PeerAuthentication, then per service its ztunnel and caller policies.
    pub(super) fn at(&self, at: Moment) -> Vec<Arc<Resource>> {
        let per_service = (0..self.callers.len())
            .flat_map(|i| (self.ztunnel.get(i).into_iter()).chain(self.caller_policy(i, at)));
        (self.peer_authentication.iter())
            .chain(per_service)
            .cloned()
            .collect()
    }

    /// The caller policies that change from moment `from` to `to`, as they
    /// are at `to`.
    pub(super) fn changed(&self, from: Moment, to: Moment) -> Vec<Arc<Resource>> {
        (0..self.callers.len())
            .filter_map(|i| {
                let now = self.caller_policy(i, to)?;
                let was = self.caller_policy(i, from);
                was.is_none_or(|w| !Arc::ptr_eq(w, now))
                    .then(|| Arc::clone(now))
            })
            .collect()
    }

    /// Every document ever applied, each identity once, in apply order.
    pub(super) fn ever(&self) -> impl Iterator<Item = &Arc<Resource>> {
        let per_service = (0..self.callers.len()).flat_map(|i| {
            (self.ztunnel.get(i).into_iter()).chain(self.callers.get(i).and_then(|v| v.first()))
        });
        self.peer_authentication.iter().chain(per_service)
    }
}
