//! A scenario at one step, as the tracer reads it: the routing in force,
//! the moment whose running versions answer, and the indexes that let a
//! trace read only the rules its request may match. Folded step by step by
//! the build check and the plan's predictions.

use std::collections::{BTreeMap, HashMap};

use super::api::{Order, Resource, gateway_order, precedence};
use crate::ingress;
use crate::model::{Moment, Scenario, ServiceRouting};
use crate::routing::HeaderIndex;
use crate::security::{self, AllowList};

/// A scenario at one step: the routing in force and the moment whose
/// running versions answer (after the step: what it launched runs, what it
/// retired is gone).
pub(super) struct View<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) state: BTreeMap<&'a str, &'a ServiceRouting>,
    pub(super) at: Moment,
    /// The rules of each routing in `state` with `HeaderIndex::WORTH_FROM`
    /// rules or more, indexed: a trace that needs no reasons reads only the rules
    /// its request may match, so tracing every class of a step costs the
    /// classes, not classes × rules.
    pub(super) indexes: HashMap<&'a str, HeaderIndex<'a>>,
    /// The gateway's routes in force when it routes by version (what
    /// `ingress::http` gives for `state`), worked out once per view.
    pub(super) gateway_routes: Vec<ingress::HttpRoute<'a>>,
    /// Those routes, indexed by their rules' headers when many.
    pub(super) gateway_index: Option<HeaderIndex<'a>>,
    /// With the Gateway API: each service whose routing in force is an
    /// HTTPRoute (it injects no fault), with the order Istio tries its
    /// rules in when that is not the file order. Empty with Istio's API.
    pub(super) http_routes: HashMap<&'a str, Option<Order>>,
    /// With the Gateway API: the gateway HTTPRoute's matches in the order
    /// Istio tries them (`api::gateway_order`).
    pub(super) gateway_order: Option<Vec<(usize, Option<usize>)>>,
    /// With `[security] authorization`: who may call each service at `at`,
    /// worked out again only when a step changes the running versions.
    pub(super) allowed: Option<Vec<AllowList>>,
}

impl<'a> View<'a> {
    /// The scenario after step `step` (0-based).
    pub(super) fn new(scenario: &'a Scenario, step: usize) -> Self {
        let mut view = Self::before_steps(scenario);
        view.state = scenario.routing_state(step);
        view.at = Moment::After(step);
        view.allow(scenario.has_releases());
        let routings: Vec<&'a ServiceRouting> = view.state.values().copied().collect();
        for routing in routings {
            view.index(routing);
        }
        view.gateway_in_force();
        view
    }

    /// The scenario before its first step, with no routing in force; `advance`
    /// moves it on one step at a time.
    pub(super) fn before_steps(scenario: &'a Scenario) -> Self {
        Self {
            scenario,
            state: BTreeMap::new(),
            at: Moment::BeforeSteps,
            indexes: HashMap::new(),
            gateway_routes: Vec::new(),
            gateway_index: None,
            http_routes: HashMap::new(),
            gateway_order: (scenario.gateway.as_ref())
                .filter(|_| scenario.gateway_api())
                .map(gateway_order),
            allowed: (scenario.security.authorization)
                .then(|| security::allow_lists(scenario, Moment::BeforeSteps)),
        }
    }

    /// Works out the allow-lists at `at` again, when `changed`.
    fn allow(&mut self, changed: bool) {
        if changed && self.scenario.security.authorization {
            self.allowed = Some(security::allow_lists(self.scenario, self.at));
        }
    }

    /// Moves the view on to after step `k` (0-based), the step after its own.
    pub(super) fn advance(&mut self, k: usize) {
        let scenario = self.scenario;
        for routing in &scenario.steps[k].routes {
            self.state.insert(routing.service.as_str(), routing);
            self.index(routing);
        }
        self.at = Moment::After(k);
        let step = &scenario.steps[k];
        self.allow(!step.launch.is_empty() || !step.retire.is_empty());
        if !scenario.steps[k].routes.is_empty() {
            self.gateway_in_force();
        }
    }

    /// Indexes `routing`'s rules when they are many, and with the Gateway
    /// API notes whether it is an HTTPRoute and the order of its rules;
    /// forgets what it noted of the routing it replaces.
    fn index(&mut self, routing: &'a ServiceRouting) {
        let service = routing.service.as_str();
        if self.scenario.gateway_api() {
            match Resource::of_routing(self.scenario, routing) {
                Resource::HttpRoute => {
                    self.http_routes.insert(service, precedence(&routing.rules));
                }
                Resource::VirtualService => {
                    self.http_routes.remove(service);
                }
            }
        }
        if routing.rules.len() >= HeaderIndex::WORTH_FROM {
            let lists = routing.rules.iter().map(|r| &*r.headers);
            self.indexes.insert(service, HeaderIndex::new(lists));
        } else {
            self.indexes.remove(service);
        }
    }

    /// Works out the gateway's routes for the routing in force, when it
    /// routes by version.
    fn gateway_in_force(&mut self) {
        let Some(gw) = self
            .scenario
            .gateway
            .as_ref()
            .filter(|gw| gw.version_routing)
        else {
            return;
        };
        let state = &self.state;
        self.gateway_routes = ingress::http(gw, |service| state.get(service).copied());
        self.gateway_index = (self.gateway_routes.len() >= HeaderIndex::WORTH_FROM).then(|| {
            let lists = (self.gateway_routes.iter())
                .map(|http| http.rule.map_or(&[][..], |rule| &*rule.headers));
            HeaderIndex::new(lists)
        });
    }
}
