//! Where each step is in the scenario file: the byte ranges of its own
//! table and of each of its routes, so that a diagnostic can be told to
//! belong to a step (`Checked::for_step`). Reads raw spans only; checks
//! nothing.

use std::ops::Range;

use toml::Spanned;

use super::raw::{RawRule, RawScenario};

/// One step's place in the file.
#[derive(Debug, Clone)]
pub struct StepPlace {
    /// The step's name, when it has one.
    pub name: Option<String>,
    /// Its own table (header, name, description) and each of its routes.
    pub ranges: Vec<Range<usize>>,
}

impl StepPlace {
    /// Whether the byte `at` is in the step.
    pub fn holds(&self, at: usize) -> bool {
        self.ranges.iter().any(|r| r.contains(&at))
    }
}

/// The place of every step, in file order. A table's keys follow its
/// header until the next header, so a step's own table runs from its
/// header to its last key, and each `[[steps.routes]]` table likewise; an
/// inline table's span is the whole table already.
pub fn steps(raw: &RawScenario) -> Vec<StepPlace> {
    let Some(steps) = &raw.steps else {
        return Vec::new();
    };
    steps
        .get_ref()
        .iter()
        .map(|step| {
            let own = step.get_ref();
            let mut ranges = vec![extent(
                step.span(),
                [span(&own.name), span(&own.description)],
            )];
            if let Some(routes) = &own.routes {
                ranges.extend(routes.get_ref().iter().map(rule));
            }
            StepPlace {
                name: own.name.as_ref().map(|n| n.get_ref().to_string()),
                ranges,
            }
        })
        .collect()
}

fn span<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

/// `start` stretched to the end of the last of `parts`.
fn extent(
    start: Range<usize>,
    parts: impl IntoIterator<Item = Option<Range<usize>>>,
) -> Range<usize> {
    let end = parts
        .into_iter()
        .flatten()
        .map(|r| r.end)
        .fold(start.end, usize::max);
    start.start..end
}

/// A route's table, to the end of its last key.
fn rule(route: &Spanned<RawRule>) -> Range<usize> {
    let (r, m) = (route.get_ref(), route.get_ref().more());
    extent(
        route.span(),
        [
            span(&r.service),
            span(&r.headers),
            span(&m.uri),
            span(&m.method),
            span(&r.to),
            span(&m.delay),
            span(&m.delay_percent),
            span(&m.abort),
            span(&m.abort_percent),
            span(&m.timeout),
            span(&m.retries),
            span(&m.per_try_timeout),
            span(&m.retry_on),
            span(&m.mirror),
            span(&m.mirror_percent),
        ],
    )
}
