//! The structural check of a scenario against its JSON Schema
//! (`schema/scenario.schema.json`, embedded as `crate::SCHEMA`): validates the
//! parsed TOML in place (`instance`: no JSON copy of the file) with the schema
//! compiled once, and turns every violation into a diagnostic at the key or
//! value to blame (found again in the parsed TOML by its JSON pointer), in
//! words a TOML author reads. Owns no semantic rule (names, references,
//! durations: `validate`) and never prints.

mod instance;

use std::ops::Range;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;
use crate::source::Source;
use instance::{Toml, TomlNode, TomlNumber};

/// The TOML type a value was written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    /// An integer beyond 64 bits, which TOML does not allow: the validator reads `null`.
    HugeInteger,
    /// A float with no fractional part, e.g. `50.0`.
    WholeFloat,
    Float,
    /// `nan` or `inf`: JSON has no such number, so the validator reads `null`.
    NonFiniteFloat,
    Boolean,
    /// JSON has no datetime: the validator reads `null`, which fails every type check.
    Datetime,
    Array,
    Table,
}

/// Where one value of the file is.
#[derive(Debug, Clone)]
struct Place {
    /// The span of its key, for a table entry.
    key: Option<Range<usize>>,
    /// The span of its value: a header (`[namespace]`) for a table written as one.
    value: Range<usize>,
    kind: Kind,
}

/// The scenario schema as JSON, and compiled for the parsed TOML.
type Compiled = (Value, jsonschema::Validator<Toml>);

/// What the schema pass found in a file.
#[derive(Debug, Default)]
pub struct Violations {
    /// Every violation, as a diagnostic (empty when the file has the scenario's shape).
    pub diagnostics: Vec<Diagnostic>,
    /// JSON pointers to the values the raw types cannot hold: each value of a
    /// wrong type (including datetimes, `nan`, `inf` and whole floats where an
    /// integer is wanted) and each unknown key. Removed before deserializing
    /// (`prune`), so that the semantic pass still reads the rest of the file.
    pub prune: Vec<String>,
}

/// Checks the parsed file against the scenario schema. Returns every violation
/// and the values to prune for the raw types.
pub fn check(table: &Spanned<DeTable<'_>>, source: &Source) -> Violations {
    let schema = match compiled() {
        Ok(compiled) => compiled,
        Err(message) => {
            return Violations {
                diagnostics: vec![Diagnostic::error(
                    source.start(),
                    format!(
                        "the embedded scenario schema does not compile, a meshgen bug: {message}"
                    ),
                )],
                prune: Vec::new(),
            };
        }
    };
    let root = TomlNode::Root(table.get_ref());
    let reporter = Reporter {
        schema: &schema.0,
        table: table.get_ref(),
        source,
    };
    let mut violations = Violations::default();
    // The common case, a valid file, takes the validator's fast path; only an
    // invalid one pays for collecting every error.
    if !schema.1.is_valid(root) {
        for error in schema.1.iter_errors(root) {
            let pointer = error.instance_path().as_str();
            match error.kind() {
                ValidationErrorKind::Type { .. } => violations.prune.push(pointer.to_owned()),
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    violations.prune.extend(
                        unexpected
                            .iter()
                            .map(|key| format!("{pointer}/{}", escape(key))),
                    )
                }
                _ => {}
            }
            reporter.report(error.kind(), pointer, &mut violations.diagnostics);
        }
    }
    violations
}

/// The schema as JSON and compiled, once per process.
fn compiled() -> Result<&'static Compiled, &'static str> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let schema: Value =
                serde_json::from_str(crate::SCHEMA).map_err(|e| format!("not JSON: {e}"))?;
            let validator = jsonschema::options_for::<Toml>()
                .build(&schema)
                .map_err(|e| e.to_string())?;
            Ok((schema, validator))
        })
        .as_ref()
        .map_err(String::as_str)
}

/// The schema cut into the parts `sections` checks one at a time: the top
/// level with any `services` and `steps` items, a service (as any scenario
/// has it, and as one whose workloads meshgen emits has it), a step with any
/// `routes` items, and a route. Together they check what the whole schema
/// checks (it says nothing across items but the top level's `if workloads =
/// "existing"`, which decides which service part applies).
pub(super) struct Parts {
    root: jsonschema::Validator<Toml>,
    service: jsonschema::Validator<Toml>,
    emitted_service: jsonschema::Validator<Toml>,
    step: jsonschema::Validator<Toml>,
    route: jsonschema::Validator<Toml>,
}

/// A part of the scenario `Parts` checks.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    /// The top-level table (with placeholder items in `services` and `steps`).
    Root,
    /// One `[[services]]` table of a scenario with `workloads = "existing"`.
    Service,
    /// One `[[services]]` table of a scenario whose workloads meshgen emits
    /// (the top level's `else`: a deployed version needs an image).
    EmittedService,
    /// One `[[steps]]` table (with placeholder items in `routes`).
    Step,
    /// One `[[steps.routes]]` table.
    Route,
}

impl Parts {
    /// Whether `table`, the part `part`, has the schema's shape.
    pub(super) fn is_valid(&self, part: Part, table: &DeTable<'_>) -> bool {
        let validator = match part {
            Part::Root => &self.root,
            Part::Service => &self.service,
            Part::EmittedService => &self.emitted_service,
            Part::Step => &self.step,
            Part::Route => &self.route,
        };
        validator.is_valid(TomlNode::Root(table))
    }
}

/// The schema's parts, compiled once per process; `None` when the schema
/// does not have the layout they are cut from (a test holds it to it).
pub(super) fn parts() -> Option<&'static Parts> {
    static PARTS: OnceLock<Option<Parts>> = OnceLock::new();
    PARTS
        .get_or_init(|| {
            let (schema, _) = compiled().ok()?;
            let compile = |part: &Value| jsonschema::options_for::<Toml>().build(part).ok();
            let [root, service, emitted_service, step, route] = cut(schema)?;
            Some(Parts {
                root: compile(&root)?,
                service: compile(&service)?,
                emitted_service: compile(&emitted_service)?,
                step: compile(&step)?,
                route: compile(&route)?,
            })
        })
        .as_ref()
}

/// The schemas of `Parts`, from the whole one: an item schema is the
/// array's `items` over the whole schema's definitions; where a part's own
/// array is checked item by item apart, its `items` become `true`.
fn cut(schema: &Value) -> Option<[Value; 5]> {
    fn take_items(node: &mut Value, pointer: &str) -> Option<Value> {
        let items = node.pointer_mut(pointer)?;
        items
            .is_object()
            .then(|| std::mem::replace(items, Value::Bool(true)))
    }
    let part = |items: Value, definitions: &Value| -> Option<Value> {
        Some(serde_json::json!({
            "$schema": schema.get("$schema")?.clone(),
            "definitions": definitions.clone(),
            "allOf": [items],
        }))
    };
    let mut root = schema.clone();
    let service = take_items(&mut root, "/properties/services/items")?;
    // The top level's condition: what a service needs unless `workloads =
    // "existing"` (the placeholders `root` checks have no versions).
    let existing = schema.pointer("/if/properties/workloads/const")?;
    let emitted = schema.pointer("/else/properties/services/items")?;
    if existing != "existing" || schema.get("then").is_some() {
        return None;
    }
    let emitted_service = serde_json::json!({ "allOf": [service.clone(), emitted.clone()] });
    let step = take_items(&mut root, "/properties/steps/items")?;
    let definitions = schema.get("definitions")?;
    let step_name = step.get("$ref")?.as_str()?.strip_prefix("#/definitions/")?;
    let mut step_definitions = definitions.clone();
    let route = take_items(
        &mut step_definitions,
        &format!("/{}/properties/routes/items", escape(step_name)),
    )?;
    Some([
        root,
        part(service, definitions)?,
        part(emitted_service, definitions)?,
        part(step, &step_definitions)?,
        part(route, definitions)?,
    ])
}

/// Escapes a key as one JSON pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Splits a JSON pointer into its unescaped segments.
pub(super) fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The TOML type `value` was written as.
fn kind(value: &DeValue<'_>) -> Kind {
    match value {
        DeValue::String(_) => Kind::String,
        DeValue::Integer(_) if instance::number(value).is_none() => Kind::HugeInteger,
        DeValue::Integer(_) => Kind::Integer,
        DeValue::Float(_) => match instance::number(value) {
            Some(TomlNumber::Float(f)) if f.fract() == 0.0 => Kind::WholeFloat,
            Some(_) => Kind::Float,
            None => Kind::NonFiniteFloat,
        },
        DeValue::Boolean(_) => Kind::Boolean,
        DeValue::Datetime(_) => Kind::Datetime,
        DeValue::Array(_) => Kind::Array,
        DeValue::Table(_) => Kind::Table,
    }
}

/// Turns schema violations into diagnostics.
struct Reporter<'a> {
    schema: &'a Value,
    table: &'a DeTable<'a>,
    source: &'a Source,
}

/// One step of a path: a key of a table or an index in an array.
enum Segment {
    Key(String),
    Index(usize),
}

/// One value a pointer passes through: the span of its key (for a table
/// entry) and the value.
type Stop<'a> = (Option<Range<usize>>, &'a Spanned<DeValue<'a>>);

impl<'a> Reporter<'a> {
    /// Walks a pointer through the parsed TOML: each segment, told apart as a
    /// key or an index by the shape of the file, with the value it reaches
    /// (`None` from where the pointer leads nowhere, never in practice).
    fn walk(&self, pointer: &str) -> Vec<(Segment, Option<Stop<'a>>)> {
        let mut table = Some(self.table);
        let mut array: Option<&'a [Spanned<DeValue<'a>>]> = None;
        let mut trail = Vec::new();
        for segment in segments(pointer) {
            let (segment, stop) = match (table, array) {
                (Some(t), _) => {
                    let stop = t
                        .get_key_value(segment.as_str())
                        .map(|(k, v)| (Some(k.span()), v));
                    (Segment::Key(segment), stop)
                }
                (None, Some(items)) => match segment.parse::<usize>() {
                    Ok(i) => (Segment::Index(i), items.get(i).map(|v| (None, v))),
                    Err(_) => (Segment::Key(segment), None),
                },
                (None, None) => (Segment::Key(segment), None),
            };
            (table, array) = match stop.as_ref().map(|(_, v)| v.get_ref()) {
                Some(DeValue::Table(t)) => (Some(t), None),
                Some(DeValue::Array(items)) => (None, Some(&items[..])),
                _ => (None, None),
            };
            trail.push((segment, stop));
        }
        trail
    }

    /// The value at a pointer, when it leads to one.
    fn value(&self, pointer: &str) -> Option<&'a Spanned<DeValue<'a>>> {
        let trail = self.walk(pointer);
        match trail.last() {
            Some((_, Some((_, value)))) => Some(*value),
            _ => None,
        }
    }

    /// The place of a pointer; the file's start for the top level (and when
    /// unknown, never in practice).
    fn place(&self, pointer: &str) -> Place {
        let trail = self.walk(pointer);
        match trail.last() {
            Some((_, Some((key, value)))) if trail.iter().all(|(_, stop)| stop.is_some()) => {
                Place {
                    key: key.clone(),
                    value: value.span(),
                    kind: kind(value.get_ref()),
                }
            }
            _ => Place {
                key: None,
                value: self.source.start(),
                kind: Kind::Table,
            },
        }
    }

    /// The pointer's segments, told apart by the shape of the file.
    fn path(&self, pointer: &str) -> Vec<Segment> {
        self.walk(pointer).into_iter().map(|(s, _)| s).collect()
    }

    /// Follows local `$ref`s.
    fn resolve<'s>(&'s self, mut node: &'s Value) -> &'s Value {
        for _ in 0..16 {
            match node
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|r| self.schema.pointer(r))
            {
                Some(target) => node = target,
                None => break,
            }
        }
        node
    }

    /// The (resolved) subschema that applies at `pointer`, and whether its key is
    /// one the user chose (a label, a version, a weight) rather than a fixed key.
    fn subschema(&self, pointer: &str) -> Option<(&Value, bool)> {
        let mut node = self.resolve(self.schema);
        let mut chosen = false;
        for segment in self.path(pointer) {
            let next = match &segment {
                Segment::Index(_) => node.get("items"),
                Segment::Key(key) => {
                    let fixed = node.get("properties").and_then(|p| p.get(key));
                    chosen = fixed.is_none();
                    fixed.or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
                }
            };
            node = self.resolve(next?);
        }
        Some((node, chosen))
    }

    /// How a value is named in a message: `` `port` ``, `` `labels.team` ``, `` `hosts` entry 2 ``.
    fn subject(&self, pointer: &str) -> String {
        let path = self.path(pointer);
        let chosen = self.subschema(pointer).is_some_and(|(_, chosen)| chosen);
        match path.as_slice() {
            [] => "the scenario".to_owned(),
            [.., Segment::Key(parent), Segment::Key(key)] if chosen => {
                format!("`{}.{}`", bare(parent), bare(key))
            }
            [.., Segment::Key(key)] => format!("`{}`", bare(key)),
            [.., Segment::Key(parent), Segment::Index(i)] => {
                format!("`{}` entry {}", bare(parent), i + 1)
            }
            [.., Segment::Index(i)] => format!("entry {}", i + 1),
        }
    }

    /// The table at `pointer` as a TOML author writes its header: `[namespace]`,
    /// `[[services]]`, `[services.versions.v1]`; "the scenario" for the top level.
    fn table(&self, pointer: &str) -> String {
        let path = self.path(pointer);
        let keys: Vec<String> = path
            .iter()
            .filter_map(|s| match s {
                Segment::Key(k) => Some(bare(k)),
                Segment::Index(_) => None,
            })
            .collect();
        if keys.is_empty() {
            return "the scenario".to_owned();
        }
        match path.last() {
            Some(Segment::Index(_)) => format!("[[{}]]", keys.join(".")),
            _ => format!("[{}]", keys.join(".")),
        }
    }

    /// The value as written, shortened, for "not …" in messages.
    fn written(&self, place: &Place) -> String {
        let text = self.source.text().get(place.value.clone()).unwrap_or("");
        let line = text.lines().next().unwrap_or("");
        if line.chars().count() > 40 || line.len() < text.trim_end().len() {
            let short: String = line.chars().take(40).collect();
            format!("{short}…")
        } else {
            line.to_owned()
        }
    }

    /// "the string \"80\"", "a table", "the datetime 1979-05-27".
    fn found(&self, place: &Place) -> String {
        let written = self.written(place);
        match place.kind {
            Kind::String => format!("the string {written}"),
            Kind::Integer => format!("the integer {written}"),
            Kind::HugeInteger => format!("{written}, beyond TOML's 64-bit integers"),
            Kind::WholeFloat | Kind::Float => format!("the float {written}"),
            Kind::NonFiniteFloat => written,
            Kind::Boolean => format!("the boolean {written}"),
            Kind::Datetime => format!("the datetime {written}"),
            Kind::Array => "an array".to_owned(),
            Kind::Table => "a table".to_owned(),
        }
    }

    fn report(&self, kind: &ValidationErrorKind, pointer: &str, out: &mut Vec<Diagnostic>) {
        let place = self.place(pointer);
        let subject = self.subject(pointer);
        let node = self.subschema(pointer).map(|(n, _)| n);
        let known_keys = || -> Vec<String> {
            node.and_then(|n| n.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        let diagnostic = match kind {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_keys();
                for key in unexpected {
                    let child = self.place(&format!("{pointer}/{}", escape(key)));
                    let span = child.key.unwrap_or(child.value);
                    let message = format!("unknown key `{}` in {}", bare(key), self.table(pointer));
                    let help = match closest(key, &known) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("the keys allowed here are: {}", known.join(", ")),
                    };
                    out.push(Diagnostic::error(span, message).with_help(help));
                }
                return;
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                let mut d = Diagnostic::error(
                    place.value.clone(),
                    format!("missing required key `{key}` in {}", self.table(pointer)),
                );
                if key == "image" {
                    d = d.with_help("a version that is deployed needs an image; set deploy = false for a subset only");
                }
                d
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => type_name(&t.to_string()),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| type_name(&t.to_string()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let d = Diagnostic::error(
                    place.value.clone(),
                    format!("{subject} must be {expected}, not {}", self.found(&place)),
                );
                if place.kind == Kind::WholeFloat && expected == "an integer" {
                    let written = self.written(&place);
                    let integer = written.split(['.', 'e', 'E']).next().unwrap_or(&written);
                    d.with_help(format!("write {integer}, without a decimal point"))
                } else {
                    d
                }
            }
            ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. } => {
                let bound = |name: &str| node.and_then(|n| n.get(name)).map(Value::to_string);
                let range = match (bound("minimum"), bound("maximum")) {
                    (Some(min), Some(max)) => format!("between {min} and {max}"),
                    (Some(min), None) => format!("at least {min}"),
                    (None, Some(max)) => format!("at most {max}"),
                    (None, None) => "in range".to_owned(),
                };
                Diagnostic::error(
                    place.value.clone(),
                    format!("{subject} must be {range}, not {}", self.written(&place)),
                )
            }
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let d = Diagnostic::error(
                    place.value.clone(),
                    format!(
                        "{subject} must be one of {}, not {}",
                        allowed.join(", "),
                        self.written(&place)
                    ),
                );
                let given = match self.value(pointer).map(Spanned::get_ref) {
                    Some(DeValue::String(s)) => s.as_ref(),
                    _ => "",
                };
                match closest(given, &allowed) {
                    Some(close) => d.with_help(format!("did you mean `{close}`?")),
                    None => d,
                }
            }
            ValidationErrorKind::Pattern { pattern } => {
                let message = if pointer == "/mesh/version" {
                    format!(
                        "{subject} must be an Istio release, MAJOR.MINOR or MAJOR.MINOR.PATCH \
                         (e.g. 1.22 or 1.5.1), not {}",
                        self.written(&place)
                    )
                } else {
                    format!(
                        "{subject} must match the pattern {pattern}, not {}",
                        self.written(&place)
                    )
                };
                Diagnostic::error(place.value.clone(), message)
            }
            ValidationErrorKind::MinItems { limit } => {
                let d = Diagnostic::error(
                    place.value.clone(),
                    if *limit == 1 {
                        format!("{subject} must not be empty")
                    } else {
                        format!("{subject} must have at least {limit} entries")
                    },
                );
                match empty_help(pointer) {
                    Some(help) if *limit == 1 => d.with_help(help),
                    _ => d,
                }
            }
            ValidationErrorKind::MinProperties { limit }
            | ValidationErrorKind::MaxProperties { limit } => {
                let exactly_one = node
                    .and_then(|n| n.get("maxProperties"))
                    .and_then(Value::as_u64)
                    == Some(1);
                let message = if exactly_one {
                    let keys = known_keys();
                    let (last, rest) = keys.split_last().map_or(("", &[][..]), |(l, r)| (l, r));
                    format!(
                        "{subject} needs exactly one of {} or {last}",
                        rest.join(", ")
                    )
                } else if *limit == 1 {
                    format!("{subject} must not be empty")
                } else {
                    format!("{subject} must have at least {limit} keys")
                };
                let d = Diagnostic::error(place.value.clone(), message);
                match empty_help(pointer) {
                    Some(help) if !exactly_one && *limit == 1 => d.with_help(help),
                    _ => d,
                }
            }
            ValidationErrorKind::PropertyNames { .. } => {
                // The only rule on keys is that they are not empty (`"" = "x"`).
                let empty = self.place(&format!("{pointer}/"));
                Diagnostic::error(
                    empty.key.unwrap_or(place.value.clone()),
                    format!("keys in {subject} must not be empty"),
                )
            }
            other => Diagnostic::error(
                place.value.clone(),
                format!("{subject} is not valid: {}", describe_other(other)),
            ),
        };
        out.push(diagnostic);
    }
}

/// What to write instead of an empty table or list, by its key.
fn empty_help(pointer: &str) -> Option<&'static str> {
    let segments = segments(pointer);
    let key = segments.last()?.as_str();
    let under_gateway = segments.first().is_some_and(|s| s == "gateway");
    Some(match key {
        "selector" => {
            "an empty selector selects every workload; omit it for the default \
             { istio = \"ingressgateway\" }"
        }
        "headers" => "to match every request, omit `headers`",
        "uris" => "to match every URI, omit `uris`",
        "routes" if under_gateway => "write at least one [[gateway.routes]] entry",
        "routes" => "write at least one [[steps.routes]] entry",
        "services" | "versions" | "hosts" | "to" => return None,
        _ => "it sets nothing: omit it",
    })
}

/// A fallback description for violations the scenario schema is not expected to produce.
fn describe_other(kind: &ValidationErrorKind) -> String {
    format!("it breaks the schema's `{}` rule", kind.keyword())
}

/// "an integer", "a table", …, for a JSON Schema type name.
fn type_name(json_type: &str) -> String {
    match json_type {
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "boolean" => "a boolean (true or false)",
        "object" => "a table",
        "array" => "an array",
        "null" => "null",
        other => other,
    }
    .to_owned()
}

/// A key as written in TOML: bare when it can be, quoted otherwise.
fn bare(key: &str) -> String {
    let is_bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if is_bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// The candidate closest to `given`, case-insensitively and at most one edit
/// per three characters away. Edits are insertions, deletions, substitutions
/// and swaps of neighbours (`lables` is one from `labels`): the optimal
/// string alignment distance.
fn closest<'c>(given: &str, candidates: &'c [String]) -> Option<&'c str> {
    let given = given.to_lowercase();
    let length = given.chars().count();
    let limit = (length / 3).max(1);
    candidates
        .iter()
        .filter_map(|c| {
            let lower = c.to_lowercase();
            // Each edit changes the length by one at most: a candidate too
            // long or too short is not compared at all.
            let near = lower.chars().count().abs_diff(length) <= limit;
            near.then(|| (strsim::osa_distance(&given, &lower), c))
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headlines of checking `text` against the schema.
    fn headlines(text: &str) -> Vec<String> {
        let source = Source::new("s.toml", text);
        let (table, errors) = DeTable::parse_recoverable(source.text());
        assert!(errors.is_empty(), "{errors:?}");
        let mut diagnostics = check(&table, &source).diagnostics;
        crate::diagnostic::sort(&mut diagnostics);
        diagnostics.iter().map(|d| d.headline(&source)).collect()
    }

    const VALID: &str = "name = \"x\"\n[mesh]\nversion = \"1.5.1\"\n[namespace]\nname = \"ns\"\n\
        [[services]]\nname = \"a\"\nport = 80\n[services.versions.v1]\nimage = \"i\"\n";

    #[test]
    fn the_embedded_schema_compiles() {
        assert!(compiled().is_ok(), "{:?}", compiled().err());
    }

    /// Draft-07 ignores every keyword beside a `$ref`, so one there would check
    /// nothing in meshgen and in editors alike.
    #[test]
    fn the_schema_is_draft_07_with_nothing_but_notes_beside_a_ref() {
        fn refs_with_checks(node: &Value, at: &str, found: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    let notes = [
                        "$ref",
                        "description",
                        "examples",
                        "default",
                        "$comment",
                        "title",
                    ];
                    if map.contains_key("$ref") && map.keys().any(|k| !notes.contains(&k.as_str()))
                    {
                        found.push(at.to_owned());
                    }
                    for (key, value) in map {
                        refs_with_checks(value, &format!("{at}/{key}"), found);
                    }
                }
                Value::Array(items) => {
                    for (i, value) in items.iter().enumerate() {
                        refs_with_checks(value, &format!("{at}/{i}"), found);
                    }
                }
                _ => {}
            }
        }
        let (schema, _) = compiled().expect("the schema compiles");
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        let mut found = Vec::new();
        refs_with_checks(schema, "", &mut found);
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_valid_shape_has_no_violation() {
        assert_eq!(headlines(VALID), Vec::<String>::new());
    }

    #[test]
    fn violations_point_at_keys_values_and_headers() {
        let cases = [
            (
                VALID.replace("name = \"ns\"", "name = \"ns\"\nlables = {}"),
                "s.toml:6:1: error: unknown key `lables` in [namespace]",
            ),
            (
                VALID.replace("port = 80\n", ""),
                "s.toml:6:1: error: missing required key `port` in [[services]]",
            ),
            (
                VALID.replace("port = 80", "port = 70000"),
                "s.toml:8:8: error: `port` must be between 1 and 65535, not 70000",
            ),
            (
                VALID.replace("port = 80", "port = \"80\""),
                "s.toml:8:8: error: `port` must be an integer, not the string \"80\"",
            ),
            (
                VALID.replace("port = 80", "port = 80.0"),
                "s.toml:8:8: error: `port` must be an integer, not the float 80.0",
            ),
            (
                VALID.replace("name = \"x\"", "name = 1979-05-27"),
                "s.toml:1:8: error: `name` must be a string, not the datetime 1979-05-27",
            ),
            (
                VALID.replace("image = \"i\"", "image = \"i\"\nenv = { \"\" = \"x\" }"),
                "s.toml:11:9: error: keys in `env` must not be empty",
            ),
            (
                VALID.replace("name = \"x\"\n", ""),
                "s.toml:1:1: error: missing required key `name` in the scenario",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(headlines(&text), [expected], "{text}");
        }
    }

    #[test]
    fn empty_tables_and_lists_are_shape_errors_but_calls_may_be_empty() {
        let gateway = "[gateway]\n[[gateway.routes]]\nservice = \"a\"\n";
        let step = "[[steps]]\nname = \"s\"\n[[steps.routes]]\nservice = \"a\"\nto = \"v1\"\n";
        let cases = [
            (
                format!("{VALID}{}", gateway.replace("]]\n", "]]\nuris = []\n")),
                "s.toml:13:8: error: `uris` must not be empty",
            ),
            (
                format!(
                    "{VALID}{}",
                    gateway.replace("[gateway]\n", "[gateway]\nselector = {}\n")
                ),
                "s.toml:12:12: error: `selector` must not be empty",
            ),
            (
                format!("{VALID}[gateway]\nroutes = []\n"),
                "s.toml:12:10: error: `routes` must not be empty",
            ),
            (
                format!("{VALID}{}", step.replace("to =", "headers = {}\nto =")),
                "s.toml:15:11: error: `headers` must not be empty",
            ),
            (
                VALID.replacen("[mesh]", "steps = []\n[mesh]", 1),
                "s.toml:2:9: error: `steps` must not be empty",
            ),
            (
                VALID.replace("name = \"ns\"", "name = \"ns\"\nlabels = {}"),
                "s.toml:6:10: error: `labels` must not be empty",
            ),
            (
                format!("{VALID}env = {{}}\n"),
                "s.toml:11:7: error: `env` must not be empty",
            ),
            (
                VALID.replace("[namespace]", "components = {}\n[namespace]"),
                "s.toml:4:14: error: `components` must not be empty",
            ),
            (
                VALID.replace("[namespace]", "config = {}\n[namespace]"),
                "s.toml:4:10: error: `config` must not be empty",
            ),
            (
                format!("{VALID}[images]\n"),
                "s.toml:11:1: error: `images` must not be empty",
            ),
            (
                format!("{VALID}[traffic_policy]\n"),
                "s.toml:11:1: error: `traffic_policy` must not be empty",
            ),
            (
                VALID.replace("port = 80", "port = 80\ntraffic_policy = {}"),
                "s.toml:9:18: error: `traffic_policy` must not be empty",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(headlines(&text), [expected], "{text}");
        }
        let calls_nothing = VALID
            .replace("port = 80", "port = 80\ncalls = []")
            .replace("image = \"i\"", "image = \"i\"\ncalls = []");
        assert_eq!(headlines(&calls_nothing), Vec::<String>::new());
    }

    #[test]
    fn an_empty_selector_headers_or_uris_says_what_it_would_match() {
        let source = Source::new(
            "s.toml",
            format!(
                "{VALID}[gateway]\nselector = {{}}\n[[gateway.routes]]\nservice = \"a\"\nuris = []\n"
            ),
        );
        let (table, _) = DeTable::parse_recoverable(source.text());
        let diagnostics = check(&table, &source).diagnostics;
        let helps: Vec<_> = diagnostics.iter().flat_map(|d| d.help.as_deref()).collect();
        assert_eq!(
            helps,
            [
                "an empty selector selects every workload; omit it for the default \
                 { istio = \"ingressgateway\" }",
                "to match every URI, omit `uris`",
            ]
        );
    }

    #[test]
    fn a_whole_float_is_not_an_integer_and_the_help_says_what_to_write() {
        let source = Source::new("s.toml", VALID.replace("port = 80", "port = 80.0"));
        let (table, _) = DeTable::parse_recoverable(source.text());
        let diagnostics = check(&table, &source).diagnostics;
        let helps: Vec<_> = diagnostics.iter().flat_map(|d| d.help.as_deref()).collect();
        assert_eq!(helps, ["write 80, without a decimal point"]);
    }

    #[test]
    fn every_violation_is_reported() {
        let text = VALID
            .replace("port = 80", "port = 0\nprotocol = \"udp\"")
            .replace(
                "version = \"1.5.1\"",
                "version = \"1.x\"\nprofle = \"demo\"",
            );
        assert_eq!(
            headlines(&text),
            [
                "s.toml:3:11: error: `version` must be an Istio release, MAJOR.MINOR or \
                 MAJOR.MINOR.PATCH (e.g. 1.22 or 1.5.1), not \"1.x\"",
                "s.toml:4:1: error: unknown key `profle` in [mesh]",
                "s.toml:9:8: error: `port` must be between 1 and 65535, not 0",
                "s.toml:10:12: error: `protocol` must be one of http, http2, grpc, tcp, not \"udp\"",
            ]
        );
    }

    #[test]
    fn suggestions_are_close_keys() {
        let known = ["labels".to_owned(), "name".to_owned()];
        assert_eq!(closest("lables", &known), Some("labels"));
        assert_eq!(closest("NAME", &known), Some("name"));
        assert_eq!(closest("replicas", &known), None);
        assert_eq!(closest("nmae", &known), Some("name"));
        // One edit per three characters: two for eight, three for ten.
        assert_eq!(closest("labelsxx", &known), Some("labels"));
        assert_eq!(closest("labelsxxxx", &known), None);
    }
}
