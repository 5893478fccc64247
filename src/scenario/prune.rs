//! Pruning: removes from the parsed TOML the values the schema pass rejected
//! and the raw types cannot hold (wrong types, unknown keys), so that the rest
//! of the file still deserializes and reaches the semantic pass, and records
//! what was lost so that the semantic pass does not report what only the
//! pruning caused. Owns no rule (the schema says what is wrong) and reports
//! nothing itself.
//!
//! What a pruned value costs the semantic pass:
//! - a pruned key is not reported missing again (`removed`);
//! - the *unit* that held it — a `[[services]]` entry, a `[[steps]]` entry,
//!   or a top-level table (`[mesh]`, `[namespace]`, `[images]`, `[gateway]`,
//!   `[traffic_policy]`) — gets no semantic diagnostic at all (`hides`): what
//!   is left of it may read differently (a rule that lost its `headers`
//!   catches everything, a split that lost a weight no longer sums to 100, a
//!   version that lost `deploy` needs an image);
//! - when a service entry or its `name` is pruned, references to undeclared
//!   services are not reported (`names_complete`): one may mean it;
//! - when a version of a service is pruned, references to versions that
//!   service lacks are not reported (`versions_complete`).
//!
//! Other units are checked as usual, against what is left: a step routing to
//! a service whose `port` was pruned is still checked against its versions.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::schema::segments;

/// The top-level tables whose semantic diagnostics a pruned value inside them hides.
const TABLE_UNITS: &[&str] = &["mesh", "namespace", "images", "gateway", "traffic_policy"];

/// What pruning removed, as the semantic pass needs to know it.
#[derive(Debug, Default)]
pub struct Pruned {
    /// (span start of the table, key) of every table entry removed; the top
    /// level's table starts at 0.
    keys: HashSet<(usize, String)>,
    /// The span start of every header, key and value of a unit that lost a value.
    hidden: HashSet<usize>,
    /// Whether a service entry, its name or the services list was removed.
    lost_service: bool,
    /// Names of the services that lost a version or their versions table.
    lost_versions: HashSet<String>,
    /// Whether anything was removed.
    any: bool,
}

impl Pruned {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        !self.any
    }

    /// Whether `key` was removed from the table whose span starts at `table_start`.
    pub fn removed(&self, table_start: usize, key: &str) -> bool {
        self.keys.contains(&(table_start, key.to_owned()))
    }

    /// Whether a diagnostic at `span_start` belongs to a unit that lost a value.
    pub fn hides(&self, span_start: usize) -> bool {
        self.hidden.contains(&span_start)
    }

    /// Whether every declared service kept its name.
    pub fn names_complete(&self) -> bool {
        !self.lost_service
    }

    /// Whether service `name` kept every version it declares.
    pub fn versions_complete(&self, name: &str) -> bool {
        !self.lost_versions.contains(name)
    }
}

/// One step of a path, told apart by the shape of the file. Ordered so that
/// sorting puts a later array element after an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Removes the values at `pointers` (JSON pointers into `table`) and returns
/// what was removed. A pointer that leads nowhere is ignored.
pub fn prune(table: &mut Spanned<DeTable<'_>>, pointers: &[String]) -> Pruned {
    let mut paths: Vec<Vec<Segment>> = pointers
        .iter()
        .filter_map(|p| resolve(table.get_ref(), p))
        .collect();
    paths.sort();
    paths.dedup();
    // A value inside one already removed goes with it. Sorted, the paths
    // inside one come right after it.
    let mut outer: Vec<Vec<Segment>> = Vec::with_capacity(paths.len());
    for path in paths {
        if !outer.last().is_some_and(|kept| path.starts_with(kept)) {
            outer.push(path);
        }
    }
    let mut pruned = Pruned {
        any: !outer.is_empty(),
        ..Pruned::default()
    };
    let mut units = BTreeSet::new();
    for path in &outer {
        if let Some(unit) = record(table, path, &mut pruned) {
            units.insert(unit);
        }
    }
    for unit in units {
        if let Some(value) = get(table, unit) {
            starts(value, &mut pruned.hidden);
        }
    }
    // Keys first, each table in one pass (removing keys one by one from a
    // table that keeps its order would shift the rest every time), then the
    // elements of each array in one pass, the arrays inside (and after)
    // others first: removing an element shifts the later ones, so no path
    // is used after its array has moved.
    let mut keys: BTreeMap<&[Segment], HashSet<&str>> = BTreeMap::new();
    let mut elements: BTreeMap<&[Segment], BTreeSet<usize>> = BTreeMap::new();
    for path in &outer {
        match path.split_last() {
            Some((Segment::Index(i), array)) => {
                elements.entry(array).or_default().insert(*i);
            }
            Some((Segment::Key(key), parent)) => {
                keys.entry(parent).or_default().insert(key.as_str());
            }
            None => {}
        }
    }
    for (parent, keys) in &keys {
        remove_keys(table.get_mut(), parent, keys);
    }
    for (array, indices) in elements.iter().rev() {
        remove_elements(table.get_mut(), array, indices);
    }
    pruned
}

/// The pointer's segments against the file, when it leads to a value.
fn resolve(table: &DeTable<'_>, pointer: &str) -> Option<Vec<Segment>> {
    let mut path = Vec::new();
    let mut node: Option<&DeValue<'_>> = None;
    for segment in segments(pointer) {
        let next = match node {
            None => {
                let value = table.get(segment.as_str())?;
                path.push(Segment::Key(segment));
                value
            }
            Some(DeValue::Table(t)) => {
                let value = t.get(segment.as_str())?;
                path.push(Segment::Key(segment));
                value
            }
            Some(DeValue::Array(items)) => {
                let i = segment.parse::<usize>().ok()?;
                path.push(Segment::Index(i));
                items.get(i)?
            }
            Some(_) => return None,
        };
        node = Some(next.get_ref());
    }
    (!path.is_empty()).then_some(path)
}

/// The value at `path`, when there is one.
fn get<'t, 'i>(
    table: &'t Spanned<DeTable<'i>>,
    path: &[Segment],
) -> Option<&'t Spanned<DeValue<'i>>> {
    let (first, rest) = path.split_first()?;
    let Segment::Key(key) = first else {
        return None;
    };
    let mut value = table.get_ref().get(key.as_str())?;
    for segment in rest {
        value = match (value.get_ref(), segment) {
            (DeValue::Table(t), Segment::Key(k)) => t.get(k.as_str())?,
            (DeValue::Array(items), Segment::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Notes what removing the value at `path` costs the semantic pass, and
/// returns the unit that holds it (whose diagnostics are then hidden).
fn record<'p>(
    table: &Spanned<DeTable<'_>>,
    path: &'p [Segment],
    pruned: &mut Pruned,
) -> Option<&'p [Segment]> {
    let (last, parent) = path.split_last()?;
    if let Segment::Key(key) = last {
        let table_start = if parent.is_empty() {
            0
        } else {
            get(table, parent).map_or(usize::MAX, |v| v.span().start)
        };
        pruned.keys.insert((table_start, key.clone()));
    }
    let unit: Option<&[Segment]> = match path {
        [Segment::Key(k), Segment::Index(_), _, ..] if k == "services" || k == "steps" => {
            Some(&path[..2])
        }
        [Segment::Key(k), _, ..] if TABLE_UNITS.contains(&k.as_str()) => Some(&path[..1]),
        _ => None,
    };
    match path {
        [Segment::Key(k)] | [Segment::Key(k), Segment::Index(_)] if k == "services" => {
            pruned.lost_service = true;
        }
        [Segment::Key(k), Segment::Index(_), Segment::Key(n)] if k == "services" && n == "name" => {
            pruned.lost_service = true;
        }
        [Segment::Key(k), Segment::Index(_), Segment::Key(v), ..]
            if k == "services" && v == "versions" =>
        {
            let name = get(
                table,
                &[
                    path[0].clone(),
                    path[1].clone(),
                    Segment::Key("name".to_owned()),
                ],
            );
            if let Some(DeValue::String(name)) = name.map(Spanned::get_ref) {
                pruned.lost_versions.insert(name.to_string());
            }
        }
        _ => {}
    }
    unit
}

/// Adds the span start of `value` and of every key and value inside it.
fn starts(value: &Spanned<DeValue<'_>>, out: &mut HashSet<usize>) {
    out.insert(value.span().start);
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, value) in table {
                out.insert(key.span().start);
                starts(value, out);
            }
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                starts(item, out);
            }
        }
        _ => {}
    }
}

/// A table or an array on the way to a value to remove.
enum Parent<'t, 'i> {
    Table(&'t mut DeTable<'i>),
    Array(&'t mut DeArray<'i>),
}

/// The table or array at `path` in `table`.
fn parent_at<'t, 'i>(table: &'t mut DeTable<'i>, path: &[Segment]) -> Option<Parent<'t, 'i>> {
    let mut parent = Parent::Table(table);
    for segment in path {
        let value = match (parent, segment) {
            (Parent::Table(t), Segment::Key(k)) => t.get_mut(k.as_str()),
            (Parent::Array(a), Segment::Index(i)) => a.get_mut(*i),
            _ => None,
        };
        parent = match value.map(Spanned::get_mut)? {
            DeValue::Table(t) => Parent::Table(t),
            DeValue::Array(a) => Parent::Array(a),
            _ => return None,
        };
    }
    Some(parent)
}

/// Removes the entries named `keys` from the table at `path` in `table`.
fn remove_keys(table: &mut DeTable<'_>, path: &[Segment], keys: &HashSet<&str>) {
    if let Some(Parent::Table(t)) = parent_at(table, path) {
        // Rebuilt without them, in order (the map's own `retain` wants keys
        // that are plain strings, and these carry spans).
        *t = std::mem::take(t)
            .into_iter()
            .filter(|(key, _)| !keys.contains(key.get_ref().as_ref()))
            .collect();
    }
}

/// Removes the elements at `indices` from the array at `path` in `table`.
fn remove_elements(table: &mut DeTable<'_>, path: &[Segment], indices: &BTreeSet<usize>) {
    let Some(Parent::Array(array)) = parent_at(table, path) else {
        return;
    };
    // A parsed array cannot shrink in place: it is rebuilt without them, its
    // elements moved (a stand-in left behind), not copied.
    let mut kept = DeArray::new();
    for (i, item) in array.iter_mut().enumerate() {
        if !indices.contains(&i) {
            kept.push(std::mem::replace(
                item,
                Spanned::new(0..0, DeValue::Boolean(false)),
            ));
        }
    }
    *array = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prunes `pointers` from `text` and returns the file's top-level keys
    /// and the services' keys, as "key" and "services/INDEX/key" lines.
    fn keys_after(text: &str, pointers: &[&str]) -> (Vec<String>, Pruned) {
        let (mut table, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty(), "{errors:?}");
        let pointers: Vec<String> = pointers.iter().map(|p| (*p).to_owned()).collect();
        let pruned = prune(&mut table, &pointers);
        let mut keys = Vec::new();
        for (key, value) in table.get_ref() {
            keys.push(key.get_ref().to_string());
            if let DeValue::Array(items) = value.get_ref() {
                for (i, item) in items.iter().enumerate() {
                    match item.get_ref() {
                        DeValue::Table(t) => {
                            for (k, _) in t {
                                keys.push(format!("{key}/{i}/{k}", key = key.get_ref()));
                            }
                        }
                        other => keys.push(format!("{}/{i}={}", key.get_ref(), other.type_str())),
                    }
                }
            }
        }
        (keys, pruned)
    }

    #[test]
    fn pruning_removes_keys_and_array_elements_last_first() {
        let text = "name = 1\nextra = 2\nservices = [\"a\", { name = \"b\", port = \"80\" }, 3, { name = \"c\" }]\n";
        let (keys, pruned) = keys_after(
            text,
            &[
                "/name",
                "/extra",
                "/services/0",
                "/services/1/port",
                "/services/2",
            ],
        );
        assert_eq!(keys, ["services", "services/0/name", "services/1/name"]);
        assert!(pruned.removed(0, "name"));
        assert!(!pruned.removed(0, "services"));
        assert!(!pruned.names_complete());
    }

    #[test]
    fn elements_of_an_array_inside_another_are_removed_before_the_outer_ones_shift() {
        let text =
            "steps = [1, { name = \"a\", routes = [1, {}, 2, {}, 3] }, 2, { name = \"b\" }]\n";
        let (keys, _) = keys_after(
            text,
            &[
                "/steps/0",
                "/steps/1/routes/0",
                "/steps/1/routes/2",
                "/steps/1/routes/4",
                "/steps/2",
            ],
        );
        assert_eq!(
            keys,
            ["steps", "steps/0/name", "steps/0/routes", "steps/1/name"]
        );
        let (mut table, _) = DeTable::parse_recoverable(text);
        let pointers: Vec<String> = ["/steps/0", "/steps/1/routes/0", "/steps/1/routes/2"]
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        prune(&mut table, &pointers);
        let routes = table.get_ref()["steps"]
            .get_ref()
            .as_array()
            .expect("steps")[0]
            .get_ref()
            .as_table()
            .expect("step")["routes"]
            .get_ref()
            .as_array()
            .expect("routes")
            .iter()
            .map(|r| r.get_ref().type_str())
            .collect::<Vec<_>>();
        assert_eq!(routes, ["table", "table", "integer"]);
    }

    #[test]
    fn a_value_inside_a_pruned_one_goes_with_it_and_a_pointer_to_nothing_is_ignored() {
        let text = "mesh = { version = 1 }\nname = \"x\"\n";
        let (keys, pruned) = keys_after(text, &["/mesh/version", "/mesh", "/nothing/here"]);
        assert_eq!(keys, ["name"]);
        assert!(pruned.removed(0, "mesh"));
        assert!(!pruned.is_empty());
        let (keys, pruned) = keys_after(text, &["/nothing"]);
        assert_eq!(keys, ["mesh", "name"]);
        assert!(pruned.is_empty());
    }

    #[test]
    fn the_unit_that_lost_a_value_is_hidden_and_the_others_are_not() {
        let text = "[[services]]\nname = \"web\"\nport = \"80\"\n[services.versions.v1]\nimage = \"i\"\n\
                    [[services]]\nname = \"api\"\nport = 81\n";
        let (_, pruned) = keys_after(text, &["/services/0/port"]);
        let at = |needle: &str| text.find(needle).expect("in the text");
        assert!(pruned.hides(at("[[services]]")));
        assert!(pruned.hides(at("\"web\"")));
        assert!(pruned.hides(at("v1]")));
        assert!(pruned.hides(at("\"i\"")));
        assert!(!pruned.hides(at("\"api\"")));
        assert!(!pruned.hides(at("81")));
        assert!(pruned.names_complete());
        assert!(pruned.versions_complete("web"));
    }

    #[test]
    fn a_pruned_version_marks_its_service_and_a_pruned_name_every_reference() {
        let text = "[[services]]\nname = \"web\"\nversions = { v1 = \"x\", v2 = {} }\n";
        let (_, pruned) = keys_after(text, &["/services/0/versions/v1"]);
        assert!(!pruned.versions_complete("web"));
        assert!(pruned.names_complete());
        let text = "[[services]]\nname = 5\n";
        let (_, pruned) = keys_after(text, &["/services/0/name"]);
        assert!(!pruned.names_complete());
    }
}
