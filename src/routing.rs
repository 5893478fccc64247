//! Routing in force: which VirtualService rules apply to each service after a
//! step (the fold of the steps), and who those rules send where — per class
//! of requests, the header values the scenario's rules match on (e.g.
//! `end-user: jason`) against everyone else, first match wins. Reads only the
//! model; owns no rendering (the plan and its flowchart present this).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use compact_str::CompactString;

use crate::model::{Moment, RoutingApi, Rule, Scenario, Service, ServiceRouting, StringMatch};

/// A class of requests: the header values one of the scenario's rules
/// matches on (borrowed from it). No headers: everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class<'a> {
    /// Header conditions, sorted by header name.
    pub headers: &'a [(CompactString, StringMatch)],
}

impl Class<'_> {
    /// `end-user: jason`, `end-user: ja*`, `end-user: ~/j.*/`, or
    /// `everyone else` for the class without headers.
    pub fn label(&self) -> String {
        if self.headers.is_empty() {
            return "everyone else".to_owned();
        }
        self.headers
            .iter()
            .map(|(name, m)| format!("{name}: {m}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Each header of the class with its value where every request of the
    /// class carries that very value (an exact match), for `HeaderIndex`.
    fn values(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.headers.iter().map(|(name, m)| match m {
            StringMatch::Exact(value) => (name.as_str(), Some(value.as_str())),
            _ => (name.as_str(), None),
        })
    }

    /// Whether every request of this class satisfies `name` matching `m`
    /// (`Some(true)`), none does (`Some(false)`), or it depends on the request
    /// (`None`). A class carries only its own headers.
    fn decides(&self, name: &str, m: &StringMatch) -> Option<bool> {
        use StringMatch::{Exact, Prefix};
        let Ok(at) = (self.headers).binary_search_by(|(n, _)| n.as_str().cmp(name)) else {
            return Some(false);
        };
        let have = &self.headers[at].1;
        if have == m {
            return Some(true);
        }
        match (have, m) {
            (Exact(v), Exact(w)) => Some(v == w),
            (Exact(v), Prefix(p)) => Some(v.starts_with(p.as_str())),
            (Prefix(q), Prefix(p)) if q.starts_with(p.as_str()) => Some(true),
            (Prefix(q), Prefix(p)) if !p.starts_with(q.as_str()) => Some(false),
            (Prefix(q), Exact(w)) if !w.starts_with(q.as_str()) => Some(false),
            _ => None,
        }
    }
}

/// Every distinct set of header conditions that a rule of the scenario
/// matches on, in order of first appearance, then everyone else (last).
pub fn classes(scenario: &Scenario) -> Classes<'_> {
    let mut classes: Vec<Class> = (header_conditions(scenario).into_iter())
        .map(|headers| Class { headers })
        .collect();
    classes.push(Class { headers: &[] });
    Classes::new(classes)
}

/// Every distinct non-empty list of header conditions of a rule of the
/// scenario, in order of first appearance: the classes of requests its
/// rules tell apart (here and in `explain`).
pub fn header_conditions(scenario: &Scenario) -> Vec<&[(CompactString, StringMatch)]> {
    let mut lists: Vec<&[(CompactString, StringMatch)]> = Vec::new();
    let mut seen: HashSet<&[(CompactString, StringMatch)]> = HashSet::new();
    let rules = scenario
        .steps
        .iter()
        .flat_map(|s| &s.routes)
        .flat_map(|r| r.rules.iter());
    for rule in rules.filter(|r| !r.headers.is_empty()) {
        // Rules of one class usually come in a row: the last class is
        // compared before any hashing.
        if lists.last() != Some(&&*rule.headers) && seen.insert(&rule.headers) {
            lists.push(&rule.headers);
        }
    }
    lists
}

/// The classes of a scenario, indexed by the headers they carry: the
/// classes a service's rules may tell apart are found without reading
/// every class (a mesh of thousands of services, each with a rule for its
/// own header value, has as many classes).
pub struct Classes<'a> {
    /// In order of first appearance, everyone else last.
    list: Vec<Class<'a>>,
    /// For each header a class has a condition on, the classes that have one.
    by_header: HashMap<&'a str, HeaderClasses<'a>>,
}

/// The classes with a condition on one header.
#[derive(Default)]
struct HeaderClasses<'a> {
    /// Those whose condition is an exact value, by that value.
    exact: HashMap<&'a str, Vec<usize>>,
    /// Those whose condition is a prefix or a regular expression.
    other: Vec<usize>,
}

impl<'a> Classes<'a> {
    /// Indexes `list`.
    pub fn new(list: Vec<Class<'a>>) -> Self {
        let mut by_header: HashMap<&'a str, HeaderClasses<'a>> = HashMap::new();
        for (i, class) in list.iter().enumerate() {
            for (name, m) in class.headers {
                let classes = by_header.entry(name.as_str()).or_default();
                match m {
                    StringMatch::Exact(value) => {
                        classes.exact.entry(value.as_str()).or_default().push(i);
                    }
                    _ => classes.other.push(i),
                }
            }
        }
        Self { list, by_header }
    }

    /// Every class, in order.
    pub fn list(&self) -> &[Class<'a>] {
        &self.list
    }

    /// The positions of the classes some request of which may satisfy
    /// every condition of `headers` (a rule's), and maybe others: those with
    /// a condition on the header of its first exact condition (the classes
    /// with another exact value there cannot), else on that of its first.
    fn for_conditions(&self, headers: &[(CompactString, StringMatch)]) -> Vec<usize> {
        let exact = headers.iter().find_map(|(name, m)| match m {
            StringMatch::Exact(value) => Some((name, value)),
            _ => None,
        });
        let (name, value) = match exact {
            Some((name, value)) => (name, Some(value)),
            None => match headers.first() {
                Some((name, _)) => (name, None),
                None => return Vec::new(),
            },
        };
        let Some(classes) = self.by_header.get(name.as_str()) else {
            return Vec::new();
        };
        let exact: Vec<&Vec<usize>> = match value {
            None => classes.exact.values().collect(),
            Some(value) => classes.exact.get(value.as_str()).into_iter().collect(),
        };
        (exact.into_iter().flatten())
            .chain(&classes.other)
            .copied()
            .collect()
    }
}

/// One service's routing after a step.
#[derive(Debug, Clone, Copy)]
pub struct InForce<'a> {
    /// The service.
    pub service: &'a Service,
    /// Its VirtualService's rules; `None` before any step names it.
    pub routing: Option<&'a ServiceRouting>,
    /// Whether the step itself names the service.
    pub named: bool,
    /// The moment: after the step, when the versions with pods then run.
    pub at: Moment,
}

/// The routing in force after each step in turn: the steps are folded one
/// at a time, so that going through every step costs their routes, not
/// steps × routes.
pub struct InForceFold<'a> {
    scenario: &'a Scenario,
    /// The last step folded so far naming each service, and its routing.
    last: HashMap<&'a str, (usize, &'a ServiceRouting)>,
    /// The next step to fold.
    next: usize,
}

impl<'a> InForceFold<'a> {
    /// The fold before the first step.
    pub fn new(scenario: &'a Scenario) -> Self {
        Self {
            scenario,
            last: HashMap::new(),
            next: 0,
        }
    }

    /// Folds in the next step; `false` after the last one.
    pub fn advance(&mut self) -> bool {
        let Some(step) = self.scenario.steps.get(self.next) else {
            return false;
        };
        for routing in &step.routes {
            self.last
                .insert(routing.service.as_str(), (self.next, routing));
        }
        self.next += 1;
        true
    }

    /// Every service's routing after the step folded last, in service
    /// order: each service that runs a version then.
    pub fn all(&self) -> Vec<InForce<'a>> {
        let scenario = self.scenario;
        (scenario.services.iter())
            .filter_map(|service| self.of(service))
            .collect()
    }

    /// The routing of the services the step folded last names, in service
    /// order (a step's routes are).
    pub fn named(&self) -> Vec<InForce<'a>> {
        let scenario = self.scenario;
        let Some(k) = self.next.checked_sub(1) else {
            return Vec::new();
        };
        let at = Moment::After(k);
        (scenario.steps[k].routes.iter())
            .filter_map(|routing| {
                let service = scenario.service(&routing.service)?;
                service.exists(at).then_some(InForce {
                    service,
                    routing: Some(routing),
                    named: true,
                    at,
                })
            })
            .collect()
    }

    /// `service`'s routing after the step folded last, if it runs a version then.
    fn of(&self, service: &'a Service) -> Option<InForce<'a>> {
        let k = self.next.checked_sub(1)?;
        let at = Moment::After(k);
        if !service.exists(at) {
            return None;
        }
        let latest = self.last.get(service.name.as_str()).copied();
        Some(InForce {
            service,
            routing: latest.map(|(_, r)| r),
            named: latest.is_some_and(|(j, _)| j == k),
            at,
        })
    }
}

/// Where a request of a class can end up: a rule (or no route at all, HTTP
/// 404) and the conditions the class alone does not decide (a URI, a method,
/// a header value only some of its requests carry).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    /// Conditions still to hold for this outcome, in words; empty: the rest
    /// of the class's requests.
    pub when: Vec<String>,
    /// The rule that answers; `None`: no rule matches (Istio answers 404).
    pub rule: Option<&'a Rule>,
}

/// The outcomes, in rule order, of a class's requests: first match wins, so
/// it ends with the first rule the class surely matches, or no route.
pub fn outcomes<'a>(routing: &'a ServiceRouting, class: &Class<'_>) -> Vec<Outcome<'a>> {
    outcomes_among(routing.rules.iter(), class)
}

/// `outcomes` over `rules`, a part of a routing's rules in their order that
/// holds every rule the class may match.
fn outcomes_among<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    class: &Class<'_>,
) -> Vec<Outcome<'a>> {
    let mut outcomes = Vec::new();
    for rule in rules {
        let mut when = Vec::new();
        let mut possible = true;
        for (name, m) in &rule.headers {
            match class.decides(name, m) {
                Some(true) => {}
                Some(false) => possible = false,
                None => when.push(format!("{name}: {m}")),
            }
        }
        if !possible {
            continue;
        }
        if let Some(uri) = &rule.uri {
            when.push(format!("uri {uri}"));
        }
        if let Some(method) = &rule.method {
            when.push(format!("method {method}"));
        }
        let last = when.is_empty();
        outcomes.push(Outcome {
            when,
            rule: Some(rule),
        });
        if last {
            return outcomes;
        }
    }
    outcomes.push(Outcome {
        when: Vec::new(),
        rule: None,
    });
    outcomes
}

/// The positions of `rules` in the order Istio tries them as the rules of
/// one HTTPRoute, or `None` when that is the order written. Istio sorts
/// them (stably) by the Gateway API's precedence
/// (`pilot/pkg/config/kube/gateway/conversion.go`, `sortHTTPRoutes`): an
/// `Exact` path before a `PathPrefix` before a `RegularExpression`, a
/// longer path value first, a rule with a method first, more header
/// conditions first. A rule without a path has the default `PathPrefix /`.
pub fn httproute_order(rules: &[Rule]) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by_key(|&i| {
        let rule = &rules[i];
        let (rank, length) = path_rank(rule.uri.as_deref());
        std::cmp::Reverse((rank, length, rule.method.is_some(), rule.headers.len()))
    });
    let moved = order.iter().enumerate().any(|(place, &i)| place != i);
    moved.then_some(order)
}

/// The precedence of a path condition in an HTTPRoute: its kind (`Exact`
/// 3, `PathPrefix` 2, `RegularExpression` 1; none is the default
/// `PathPrefix /`) and the length of its value as Istio holds it (a prefix
/// without its trailing `/`).
pub fn path_rank(uri: Option<&StringMatch>) -> (u8, usize) {
    match uri {
        None => (2, 1),
        Some(StringMatch::Exact(v)) => (3, v.len()),
        Some(StringMatch::Prefix(v)) if v.len() > 1 => (2, v.trim_end_matches('/').len()),
        Some(StringMatch::Prefix(v)) => (2, v.len()),
        Some(StringMatch::Regex(v)) => (1, v.len()),
    }
}

/// `routing` as the API in use tries it: with the Gateway API an
/// HTTPRoute's rules in precedence order (`httproute_order`); a
/// VirtualService's (Istio's APIs, or a fault step's) as written.
pub fn as_tried(routing: &ServiceRouting, api: RoutingApi) -> Cow<'_, ServiceRouting> {
    let order = (api == RoutingApi::GatewayApi && !routing.injects_fault())
        .then(|| httproute_order(&routing.rules))
        .flatten();
    match order {
        None => Cow::Borrowed(routing),
        Some(order) => Cow::Owned(ServiceRouting {
            rules: order.iter().map(|&i| routing.rules[i].clone()).collect(),
            ..routing.clone()
        }),
    }
}

/// Who gets what from one service's routing: the classes whose outcomes
/// differ from everyone else's, each with its label, then everyone else —
/// labelled `everyone` when no class differs.
pub fn audiences<'a>(
    routing: &'a ServiceRouting,
    classes: &Classes<'_>,
) -> Vec<(String, Vec<Outcome<'a>>)> {
    let rest = Class { headers: &[] };
    let rules = &routing.rules;
    let index = (rules.len() >= HeaderIndex::WORTH_FROM)
        .then(|| HeaderIndex::new(rules.iter().map(|r| &*r.headers)));
    let among = |class: &Class| match &index {
        Some(index) => {
            let candidates = index.candidates(class.values()).into_iter();
            outcomes_among(candidates.filter_map(|i| rules.get(i)), class)
        }
        None => outcomes_among(rules.iter(), class),
    };
    let everyone = among(&rest);
    // Only a class some request of which a rule with header conditions may
    // take can fare otherwise than everyone else: every other one is sent
    // as everyone else is.
    let mut candidates: Vec<usize> = (rules.iter())
        .filter(|r| !r.headers.is_empty())
        .flat_map(|r| classes.for_conditions(&r.headers))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut groups: Vec<(String, Vec<Outcome<'a>>)> = (candidates.iter())
        .filter_map(|&i| classes.list.get(i))
        .filter(|c| !c.headers.is_empty())
        .filter_map(|c| {
            let outcomes = among(c);
            (outcomes != everyone).then(|| (c.label(), outcomes))
        })
        .collect();
    let label = if groups.is_empty() {
        "everyone".to_owned()
    } else {
        rest.label()
    };
    groups.push((label, everyone));
    groups
}

/// Lists of header conditions (a routing's rules, or a gateway's routes),
/// indexed so that the lists a request may satisfy are found without reading
/// every list (a step of thousands of rules, each for one header value, has
/// as many classes of requests): a list with an exact header condition is
/// satisfied by no request without that header, nor by one that has that
/// header with another known value.
pub struct HeaderIndex<'a> {
    /// Lists without an exact condition: any request may satisfy them.
    general: Vec<usize>,
    /// The other lists, by their first exact condition.
    by_exact: HashMap<(&'a str, &'a str), Vec<usize>>,
    /// The same lists, by that condition's header name alone.
    by_name: HashMap<&'a str, Vec<usize>>,
}

impl<'a> HeaderIndex<'a> {
    /// The fewest lists worth an index: fewer are read in order, which
    /// costs less than building one.
    pub const WORTH_FROM: usize = 16;

    /// Indexes `lists` by position.
    pub fn new(lists: impl IntoIterator<Item = &'a [(CompactString, StringMatch)]>) -> Self {
        let mut index = Self {
            general: Vec::new(),
            by_exact: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (i, headers) in lists.into_iter().enumerate() {
            let exact = headers.iter().find_map(|(name, m)| match m {
                StringMatch::Exact(value) => Some((name.as_str(), value.as_str())),
                _ => None,
            });
            match exact {
                Some((name, value)) => {
                    index.by_exact.entry((name, value)).or_default().push(i);
                    index.by_name.entry(name).or_default().push(i);
                }
                None => index.general.push(i),
            }
        }
        index
    }

    /// The positions, in order, of the lists a request may satisfy whose
    /// headers are `headers`: each name with its value when every request
    /// carries that very value (`Some`), or `None` when the value is only
    /// known to match a prefix or a regex, which may or may not be a list's
    /// exact value.
    pub fn candidates<'h>(
        &self,
        headers: impl IntoIterator<Item = (&'h str, Option<&'h str>)>,
    ) -> Vec<usize> {
        let mut lists = self.general.clone();
        for (name, value) in headers {
            let found = match value {
                Some(value) => self.by_exact.get(&(name, value)),
                None => self.by_name.get(name),
            };
            lists.extend(found.into_iter().flatten());
        }
        lists.sort_unstable();
        lists.dedup();
        lists
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Destination;

    fn rule(headers: &[(&str, StringMatch)], to: &str) -> Rule {
        Rule {
            headers: headers
                .iter()
                .map(|(n, m)| ((*n).into(), m.clone()))
                .collect(),
            uri: None,
            method: None,
            destinations: Box::new([Destination {
                version: to.into(),
                weight: None,
            }]),
            delay: None,
            abort: None,
            timeout: None,
            retries: None,
            mirror: None,
        }
    }

    fn to(outcomes: &[Outcome<'_>]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| {
                let version = o
                    .rule
                    .map_or("404".to_owned(), |r| r.destinations[0].version.to_string());
                if o.when.is_empty() {
                    version
                } else {
                    format!("{} if {}", version, o.when.join(" and "))
                }
            })
            .collect()
    }

    #[test]
    fn a_header_class_takes_its_rule_and_everyone_else_the_catch_all() {
        let jason = StringMatch::Exact("jason".into());
        let routing = ServiceRouting {
            service: "reviews".into(),
            tcp: false,
            rules: vec![rule(&[("end-user", jason.clone())], "v2"), rule(&[], "v1")].into(),
        };
        let classes = [
            Class {
                headers: &[("end-user".into(), jason)],
            },
            Class { headers: &[] },
        ];
        let groups = audiences(&routing, &Classes::new(classes.to_vec()));
        let seen: Vec<(String, Vec<String>)> =
            groups.iter().map(|(l, o)| (l.clone(), to(o))).collect();
        assert_eq!(
            seen,
            [
                ("end-user: jason".to_owned(), vec!["v2".to_owned()]),
                ("everyone else".to_owned(), vec!["v1".to_owned()]),
            ]
        );
    }

    /// The outcomes over the rules the index offers a class are those over
    /// every rule, for every mix of exact, prefix and regex conditions.
    #[test]
    fn the_rule_index_offers_every_rule_a_class_may_match() {
        use StringMatch::{Exact, Prefix, Regex};
        let conditions: Vec<Vec<(&str, StringMatch)>> = vec![
            vec![],
            vec![("end-user", Exact("jason".into()))],
            vec![("end-user", Exact("jo".into()))],
            vec![("end-user", Prefix("ja".into()))],
            vec![("end-user", Regex("j.*".into()))],
            vec![
                ("agent", Exact("x".into())),
                ("end-user", Exact("jason".into())),
            ],
            vec![
                ("agent", Prefix("x".into())),
                ("end-user", Exact("jo".into())),
            ],
            vec![
                ("agent", Regex("x+".into())),
                ("end-user", Prefix("j".into())),
            ],
        ];
        let rules: Vec<Rule> = conditions
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| rule(c, &format!("v{i}")))
            .chain([rule(&[], "v0")])
            .collect();
        let mut checked = 0;
        // Every ordering of the rules that starts at a different one.
        for start in 0..rules.len() {
            let mut rotated = rules.clone();
            rotated.rotate_left(start);
            let routing = ServiceRouting {
                service: "reviews".into(),
                tcp: false,
                rules: rotated.into(),
            };
            let index = HeaderIndex::new(routing.rules.iter().map(|r| &*r.headers));
            for c in &conditions {
                let headers: Vec<(CompactString, StringMatch)> =
                    c.iter().map(|(n, m)| ((*n).into(), m.clone())).collect();
                let class = Class { headers: &headers };
                let indexed = (index.candidates(class.values()).into_iter())
                    .filter_map(|i| routing.rules.get(i));
                assert_eq!(
                    outcomes_among(indexed, &class),
                    outcomes(&routing, &class),
                    "{c:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 64);
    }

    #[test]
    fn a_class_that_routing_ignores_is_folded_into_everyone() {
        let routing = ServiceRouting {
            service: "ratings".into(),
            tcp: false,
            rules: vec![rule(&[], "v1")].into(),
        };
        let classes = [
            Class {
                headers: &[("end-user".into(), StringMatch::Exact("jason".into()))],
            },
            Class { headers: &[] },
        ];
        let groups = audiences(&routing, &Classes::new(classes.to_vec()));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0, "everyone");
    }

    #[test]
    fn undecidable_conditions_become_when_clauses_and_unmatched_requests_get_no_route() {
        let class = Class {
            headers: &[("end-user".into(), StringMatch::Exact("jason".into()))],
        };
        let routing = ServiceRouting {
            service: "reviews".into(),
            tcp: false,
            rules: vec![
                rule(&[("end-user", StringMatch::Prefix("ja".into()))], "v3"),
                rule(&[("end-user", StringMatch::Regex("j.*".into()))], "v2"),
            ]
            .into(),
        };
        assert_eq!(to(&outcomes(&routing, &class)), ["v3"]);
        let routing = ServiceRouting {
            service: "reviews".into(),
            tcp: false,
            rules: vec![rule(
                &[("end-user", StringMatch::Regex("j.*".into()))],
                "v2",
            )]
            .into(),
        };
        assert_eq!(
            to(&outcomes(&routing, &class)),
            ["v2 if end-user: ~/j.*/", "404"]
        );
    }

    #[test]
    fn an_httproute_is_tried_by_precedence_and_a_virtual_service_as_written() {
        let jason = rule(&[("end-user", StringMatch::Exact("jason".into()))], "v2");
        let api = Rule {
            uri: Some(Box::new(StringMatch::Exact("/api".into()))),
            ..rule(&[], "v1")
        };
        let routing = ServiceRouting {
            service: "web".into(),
            tcp: false,
            rules: vec![jason, api, rule(&[], "v3")].into(),
        };
        assert_eq!(httproute_order(&routing.rules), Some(vec![1, 0, 2]));
        let tried = as_tried(&routing, RoutingApi::GatewayApi);
        let first: Vec<&str> = (tried.rules.iter())
            .map(|r| r.destinations[0].version.as_str())
            .collect();
        assert_eq!(first, ["v1", "v2", "v3"]);
        assert!(matches!(
            as_tried(&routing, RoutingApi::Istio),
            Cow::Borrowed(_)
        ));
        // A fault makes it a VirtualService, tried as written.
        let mut rules = routing.rules.to_vec();
        rules[0].abort = Some(Box::new(crate::model::Abort {
            status: 500,
            percent: 100.0,
        }));
        let faulty = ServiceRouting {
            rules: rules.into(),
            ..routing.clone()
        };
        assert!(matches!(
            as_tried(&faulty, RoutingApi::GatewayApi),
            Cow::Borrowed(_)
        ));
        // In precedence order already: as written.
        assert_eq!(httproute_order(&routing.rules[1..]), None);
    }
}
