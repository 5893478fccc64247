//! Releases: the `launch` and `retire` keys of steps. On the raw scenario,
//! checks that each names a declared version, launched and retired at most
//! once and in that order; that no route names a version that is not running
//! at its step; and that no version still receives traffic once the step that
//! retires it is done. Gives every version its lifetime. Owns no other rule
//! (routes, weights and names are `validate`'s).

use std::collections::HashMap;
use std::ops::Range;

use compact_str::CompactString;
use toml::Spanned;

use super::prune::Pruned;
use super::raw::{RawRule, RawScenario, RawStep, RawTarget, RawVersionRef};
use crate::diagnostic::Diagnostic;
use crate::model::{Lifetime, Moment, Scenario};
use crate::source::Source;

/// The lifetime of every version some step launches or retires, by
/// (service, version); every other version runs from the start to the end.
#[derive(Debug, Default)]
pub struct Lifetimes(HashMap<(CompactString, CompactString), Lifetime>);

impl Lifetimes {
    /// Gives each version of `scenario` its lifetime.
    pub fn apply(&self, scenario: &mut Scenario) {
        if self.0.is_empty() {
            return;
        }
        for service in &mut scenario.services {
            for version in &mut service.versions {
                if let Some(lifetime) = self.0.get(&(service.name.clone(), version.name.clone())) {
                    version.lifetime = *lifetime;
                }
            }
        }
    }
}

/// Where a version is launched or retired: the step (index) and the span of
/// the entry's `version` value.
#[derive(Debug, Clone)]
struct Event {
    step: usize,
    span: Range<usize>,
}

/// Checks the `launch` and `retire` keys of every step and the routes they
/// constrain; returns the lifetimes of the versions they name and every
/// diagnostic.
pub fn check(raw: &RawScenario, source: &Source, pruned: &Pruned) -> (Lifetimes, Vec<Diagnostic>) {
    let steps: &[Spanned<RawStep>] = raw.steps.as_ref().map_or(&[], |s| s.get_ref());
    if steps
        .iter()
        .all(|s| s.get_ref().launch.is_none() && s.get_ref().retire.is_none())
    {
        return (Lifetimes::default(), Vec::new());
    }
    let mut pass = Pass {
        source,
        pruned,
        steps,
        services: declared_versions(raw),
        launches: HashMap::new(),
        retires: HashMap::new(),
        diagnostics: Vec::new(),
    };
    pass.events();
    let lifetimes = pass.lifetimes();
    pass.routes_to_running_versions(&lifetimes);
    pass.nothing_routed_to_retired(&lifetimes);
    (Lifetimes(lifetimes), pass.diagnostics)
}

/// Every service the file declares (the first entry of a name) with its
/// versions, in file order.
fn declared_versions(raw: &RawScenario) -> Vec<(&str, Vec<&str>)> {
    let mut services: Vec<(&str, Vec<&str>)> = Vec::new();
    for service in raw.services.iter().flat_map(|s| s.get_ref()) {
        let service = service.get_ref();
        let Some(name) = &service.name else {
            continue;
        };
        if services.iter().any(|(n, _)| *n == name.get_ref()) {
            continue;
        }
        let versions = service.versions.iter().flat_map(|v| &v.get_ref().0);
        services.push((
            name.get_ref(),
            versions.map(|(key, _)| key.get_ref().as_str()).collect(),
        ));
    }
    services
}

struct Pass<'a> {
    source: &'a Source,
    pruned: &'a Pruned,
    steps: &'a [Spanned<RawStep>],
    services: Vec<(&'a str, Vec<&'a str>)>,
    /// The first launch of each (service, version).
    launches: HashMap<(&'a str, &'a str), Event>,
    /// The first retire of each (service, version).
    retires: HashMap<(&'a str, &'a str), Event>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Pass<'a> {
    fn error(&mut self, span: Range<usize>, message: String) {
        self.diagnostics.push(Diagnostic::error(span, message));
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.source.line_col(span.start).0
    }

    /// `step `name` (line N)`, for messages.
    fn step_at(&self, k: usize) -> String {
        let step = &self.steps[k];
        match &step.get_ref().name {
            Some(name) => format!(
                "step `{}` (line {})",
                name.get_ref(),
                self.line(&step.span())
            ),
            None => format!("step {} (line {})", k + 1, self.line(&step.span())),
        }
    }

    /// Reads every `launch` and `retire` entry: each must name a declared
    /// version, once per key.
    fn events(&mut self) {
        for (k, step) in self.steps.iter().enumerate() {
            let step = step.get_ref();
            for (key, list) in [("launch", &step.launch), ("retire", &step.retire)] {
                for entry in list.iter().flat_map(|l| l.get_ref()) {
                    let Some((service, version)) = self.entry(key, entry.get_ref()) else {
                        continue;
                    };
                    let span = entry.get_ref().version.as_ref().map(Spanned::span);
                    let event = Event {
                        step: k,
                        span: span.unwrap_or_else(|| entry.span()),
                    };
                    let first = match key {
                        "launch" => self.launches.get(&(service, version)),
                        _ => self.retires.get(&(service, version)),
                    };
                    if let Some(first) = first {
                        let (done, does) = match key {
                            "launch" => ("launched", "launches"),
                            _ => ("retired", "retires"),
                        };
                        let message = format!(
                            "{key}: version `{version}` of `{service}` is {done} twice: {} \
                             {does} it already",
                            self.step_at(first.step)
                        );
                        self.error(event.span, message);
                        continue;
                    }
                    match key {
                        "launch" => self.launches.insert((service, version), event),
                        _ => self.retires.insert((service, version), event),
                    };
                }
            }
        }
    }

    /// The service and version an entry names, when both are declared
    /// (otherwise reported, unless pruning may have removed the one meant).
    fn entry(&mut self, key: &str, entry: &'a RawVersionRef) -> Option<(&'a str, &'a str)> {
        // A missing key is the schema's to report.
        let (service, version) = (entry.service.as_ref()?, entry.version.as_ref()?);
        let Some((name, versions)) = self.services.iter().find(|(n, _)| *n == service.get_ref())
        else {
            if self.pruned.names_complete() {
                let message = format!("{key}: undeclared service `{}`", service.get_ref());
                self.error(service.span(), message);
            }
            return None;
        };
        let (name, versions) = (*name, versions.clone());
        let Some(found) = versions.iter().find(|v| **v == version.get_ref()) else {
            if self.pruned.versions_complete(name) {
                let message = format!(
                    "{key}: service `{name}` has no version `{}` (it has {})",
                    version.get_ref(),
                    versions.join(", ")
                );
                self.error(version.span(), message);
            }
            return None;
        };
        Some((name, found))
    }

    /// The lifetime of every version launched or retired; a retire in or
    /// before the step that launches the version is an error (and ignored).
    fn lifetimes(&mut self) -> HashMap<(CompactString, CompactString), Lifetime> {
        let mut lifetimes: HashMap<(CompactString, CompactString), Lifetime> = HashMap::new();
        for (&(service, version), launch) in &self.launches {
            lifetimes
                .entry((CompactString::from(service), CompactString::from(version)))
                .or_default()
                .launch = Some(launch.step);
        }
        let mut retires: Vec<(&(&str, &str), &Event)> = self.retires.iter().collect();
        retires.sort_by_key(|(_, e)| e.span.start);
        let mut errors = Vec::new();
        for (&(service, version), retire) in retires {
            let launch = self.launches.get(&(service, version));
            if let Some(launch) = launch.filter(|l| l.step >= retire.step) {
                let when = if launch.step == retire.step {
                    "in the step that launches it: a version runs for at least one step, \
                     so retire it in a later one"
                        .to_owned()
                } else {
                    format!("before {} launches it", self.step_at(launch.step))
                };
                errors.push((
                    retire.span.clone(),
                    format!("retire: version `{version}` of `{service}` is retired {when}"),
                ));
                continue;
            }
            lifetimes
                .entry((CompactString::from(service), CompactString::from(version)))
                .or_default()
                .retire = Some(retire.step);
        }
        for (span, message) in errors {
            self.error(span, message);
        }
        lifetimes
    }

    /// The services a rule is for: the one it names, or every one for `*`.
    fn targets(&self, rule: &RawRule) -> Vec<&'a str> {
        match rule.service.as_ref().map(|s| s.get_ref().as_str()) {
            Some("*") => self.services.iter().map(|(n, _)| *n).collect(),
            Some(name) => (self.services.iter())
                .find(|(n, _)| *n == name)
                .map(|(n, _)| vec![*n])
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// An error for every version a route names (`to`, a weight key,
    /// `mirror`) that is not running at the route's step.
    fn routes_to_running_versions(
        &mut self,
        lifetimes: &HashMap<(CompactString, CompactString), Lifetime>,
    ) {
        let mut errors = Vec::new();
        for (k, step) in self.steps.iter().enumerate() {
            for rule in step.get_ref().routes.iter().flat_map(|r| r.get_ref()) {
                let rule = rule.get_ref();
                for service in self.targets(rule) {
                    for (what, version, span, _) in named_versions(rule) {
                        let key = (CompactString::from(service), CompactString::from(version));
                        let Some(lifetime) = lifetimes.get(&key) else {
                            continue;
                        };
                        if lifetime.runs(Moment::During(k)) {
                            continue;
                        }
                        let why = match (lifetime.launch, lifetime.retire) {
                            (Some(l), _) if l > k => format!("{} launches it", self.step_at(l)),
                            (_, Some(r)) => format!("{} retired it", self.step_at(r)),
                            _ => continue,
                        };
                        errors.push((
                            span,
                            format!(
                                "{what}: version `{version}` of `{service}` is not running at \
                                 this step: {why}"
                            ),
                        ));
                    }
                }
            }
        }
        for (span, message) in errors {
            self.error(span, message);
        }
    }

    /// An error for every retired version that the routing state after its
    /// step still names: the last rules for its service, up to that step,
    /// route or mirror to it (even at weight 0: its subset is gone).
    fn nothing_routed_to_retired(
        &mut self,
        lifetimes: &HashMap<(CompactString, CompactString), Lifetime>,
    ) {
        // Per service, the steps that route it, in order.
        let mut routed_by: HashMap<&str, Vec<usize>> = HashMap::new();
        for (k, step) in self.steps.iter().enumerate() {
            for rule in step.get_ref().routes.iter().flat_map(|r| r.get_ref()) {
                for service in self.targets(rule.get_ref()) {
                    let steps = routed_by.entry(service).or_default();
                    if steps.last() != Some(&k) {
                        steps.push(k);
                    }
                }
            }
        }
        let mut retires: Vec<(&(&str, &str), &Event)> = self.retires.iter().collect();
        retires.sort_by_key(|(_, e)| e.span.start);
        let mut errors = Vec::new();
        for (&(service, version), retire) in retires {
            let key = (CompactString::from(service), CompactString::from(version));
            if lifetimes.get(&key).and_then(|l| l.retire) != Some(retire.step) {
                continue;
            }
            let steps = routed_by.get(service).map_or(&[][..], Vec::as_slice);
            let Some(&last) = steps.iter().take_while(|&&k| k <= retire.step).last() else {
                continue;
            };
            let rules = self.steps[last]
                .get_ref()
                .routes
                .iter()
                .flat_map(|r| r.get_ref());
            for rule in rules {
                if !self.targets(rule.get_ref()).contains(&service) {
                    continue;
                }
                let named = named_versions(rule.get_ref());
                let Some((what, _, _, weight)) = named.into_iter().find(|n| n.1 == version) else {
                    continue;
                };
                let (how, fix) = match (what, weight) {
                    ("mirror", _) => ("mirrors to it", "stop mirroring"),
                    (_, Some(0)) => (
                        "names it at weight 0, and its subset goes with it",
                        "take it out of that split",
                    ),
                    _ => ("routes to it", "route `{service}` away from it"),
                };
                let fix = fix.replace("{service}", service);
                let step = match &self.steps[last].get_ref().name {
                    Some(name) => format!("step `{}`", name.get_ref()),
                    None => format!("step {}", last + 1),
                };
                let message = format!(
                    "retire: version `{version}` of `{service}` still receives traffic after \
                     this step: the rule on line {} of {step} {how}; {fix} in this step or \
                     an earlier one",
                    self.line(&rule.span()),
                );
                errors.push((retire.span.clone(), message));
                break;
            }
        }
        for (span, message) in errors {
            self.error(span, message);
        }
    }
}

/// The versions a rule names: (key, version, span, weight) for `to` (a
/// version, or each weight key) and `mirror`.
fn named_versions(rule: &RawRule) -> Vec<(&'static str, &str, Range<usize>, Option<i64>)> {
    let mut named = Vec::new();
    match rule.to.as_ref().map(|t| (t.get_ref(), t.span())) {
        Some((RawTarget::Version(version), span)) => {
            named.push(("to", version.as_str(), span, None))
        }
        Some((RawTarget::Weights(weights), _)) => {
            for (version, weight) in &weights.0 {
                named.push((
                    "to",
                    version.get_ref().as_str(),
                    version.span(),
                    Some(*weight.get_ref()),
                ));
            }
        }
        None => {}
    }
    if let Some(mirror) = &rule.more().mirror {
        named.push(("mirror", mirror.get_ref().as_str(), mirror.span(), None));
    }
    named
}
