//! The parsed TOML as the JSON Schema validator reads it, in place: no JSON
//! copy of the file is built. Tables are objects, arrays arrays, strings,
//! booleans and numbers themselves; a datetime, a `nan` or `inf` and an
//! integer beyond 64 bits have no JSON value and read as `null`, which fails
//! every type check of the scenario schema. A TOML float is a number but never
//! an integer, even when whole (`80.0`): TOML tells the two types apart, and
//! so does the scenario.

use std::borrow::Cow;

use jsonschema::JsonType;
use jsonschema::json::{Array, Json, JsonNumber, Node, NodeIdentity, Object};
use serde_json::{Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The representation: nodes borrow the parsed TOML.
pub struct Toml;

impl Json for Toml {
    type Node<'a> = TomlNode<'a>;
    type PreparedKey = String;
    type StringBuffer = ();

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(_: &mut (), string: &str, f: impl FnOnce(TomlNode<'_>) -> T) -> T {
        f(TomlNode::Key(string))
    }
}

/// One node: the file's top-level table, a value in it, or a key being
/// checked as a string (`propertyNames`).
#[derive(Clone, Copy)]
pub enum TomlNode<'a> {
    /// The whole file.
    Root(&'a DeTable<'a>),
    /// A value of the file.
    Value(&'a DeValue<'a>),
    /// A table key, seen as a string.
    Key(&'a str),
}

impl<'a> TomlNode<'a> {
    /// The table this node is, if it is one.
    fn table(self) -> Option<&'a DeTable<'a>> {
        match self {
            TomlNode::Root(table) | TomlNode::Value(DeValue::Table(table)) => Some(table),
            _ => None,
        }
    }
}

/// A TOML integer or float, as JSON Schema compares it.
#[derive(Clone, Copy)]
pub enum TomlNumber {
    /// A TOML integer.
    Integer(i64),
    /// A finite TOML float.
    Float(f64),
}

/// `value` as a number, when it is an integer that fits 64 bits or a finite float.
pub fn number(value: &DeValue<'_>) -> Option<TomlNumber> {
    match value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(TomlNumber::Integer),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(TomlNumber::Float),
        _ => None,
    }
}

impl JsonNumber for TomlNumber {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            TomlNumber::Integer(i) => u64::try_from(i).ok(),
            TomlNumber::Float(_) => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match *self {
            TomlNumber::Integer(i) => Some(i),
            TomlNumber::Float(_) => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            // Exact for every integer a scenario may hold (ports, weights, replicas).
            TomlNumber::Integer(i) => i as f64,
            TomlNumber::Float(f) => f,
        })
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Owned(match *self {
            TomlNumber::Integer(i) => i.to_string(),
            TomlNumber::Float(f) => f.to_string(),
        })
    }

    fn to_number(&self) -> Cow<'_, Number> {
        Cow::Owned(match *self {
            TomlNumber::Integer(i) => Number::from(i),
            // Finite by construction (`number`), so never the fallback.
            TomlNumber::Float(f) => Number::from_f64(f).unwrap_or_else(|| Number::from(0)),
        })
    }

    fn is_integer(&self) -> bool {
        matches!(self, TomlNumber::Integer(_))
    }

    fn is_written_as_integer(&self) -> bool {
        self.is_integer()
    }
}

impl<'a> Node<'a, Toml> for TomlNode<'a> {
    type Object = TomlObject<'a>;
    type Array = TomlArray<'a>;
    type Number = TomlNumber;

    fn as_object(&self) -> Option<TomlObject<'a>> {
        self.table().map(TomlObject)
    }

    fn as_array(&self) -> Option<TomlArray<'a>> {
        match self {
            TomlNode::Value(DeValue::Array(items)) => Some(TomlArray(items)),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match *self {
            TomlNode::Value(DeValue::String(s)) => Some(Cow::Borrowed(s.as_ref())),
            TomlNode::Key(key) => Some(Cow::Borrowed(key)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<TomlNumber> {
        match *self {
            TomlNode::Value(value) => number(value),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            TomlNode::Value(DeValue::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.json_type() == JsonType::Null
    }

    fn json_type(&self) -> JsonType {
        match *self {
            TomlNode::Root(_) => JsonType::Object,
            TomlNode::Key(_) => JsonType::String,
            TomlNode::Value(value) => match value {
                DeValue::String(_) => JsonType::String,
                DeValue::Boolean(_) => JsonType::Boolean,
                DeValue::Array(_) => JsonType::Array,
                DeValue::Table(_) => JsonType::Object,
                DeValue::Integer(_) | DeValue::Float(_) if number(value).is_some() => {
                    JsonType::Number
                }
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Datetime(_) => JsonType::Null,
            },
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (self.as_string(), expected) {
            (Some(text), Value::String(wanted)) => text == wanted.as_str(),
            (Some(_), _) => false,
            _ => match (self.as_number(), expected.as_f64()) {
                (Some(n), Some(wanted)) => n.as_f64() == Some(wanted),
                _ => self.to_value().as_ref() == expected,
            },
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(match *self {
            TomlNode::Root(table) => table_json(table),
            TomlNode::Key(key) => Value::String(key.to_owned()),
            TomlNode::Value(value) => value_json(value),
        })
    }

    fn identity(&self) -> Option<NodeIdentity> {
        match *self {
            TomlNode::Root(table) => {
                Some(NodeIdentity::tagged(std::ptr::from_ref(table).addr(), 1))
            }
            TomlNode::Value(value) => Some(NodeIdentity::new(std::ptr::from_ref(value).addr())),
            TomlNode::Key(_) => None,
        }
    }
}

/// A table as a JSON object.
#[derive(Clone, Copy)]
pub struct TomlObject<'a>(&'a DeTable<'a>);

impl<'a> Object<'a, Toml> for TomlObject<'a> {
    type Node = TomlNode<'a>;
    type MemberName = &'a str;
    type MembersIter = std::iter::Map<
        toml::map::Iter<'a, Spanned<Cow<'a, str>>, Spanned<DeValue<'a>>>,
        fn((&'a Spanned<Cow<'a, str>>, &'a Spanned<DeValue<'a>>)) -> (&'a str, TomlNode<'a>),
    >;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<TomlNode<'a>> {
        self.0
            .get(key.as_str())
            .map(|value| TomlNode::Value(value.get_ref()))
    }

    fn members(&self) -> Self::MembersIter {
        self.0
            .iter()
            .map(|(key, value)| (key.get_ref().as_ref(), TomlNode::Value(value.get_ref())))
    }
}

/// An array as a JSON array.
#[derive(Clone, Copy)]
pub struct TomlArray<'a>(&'a [Spanned<DeValue<'a>>]);

impl<'a> Array<'a, Toml> for TomlArray<'a> {
    type Node = TomlNode<'a>;
    type ElementsIter = std::iter::Map<
        std::slice::Iter<'a, Spanned<DeValue<'a>>>,
        fn(&'a Spanned<DeValue<'a>>) -> TomlNode<'a>,
    >;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn elements(&self) -> Self::ElementsIter {
        self.0.iter().map(|item| TomlNode::Value(item.get_ref()))
    }
}

/// A table as a JSON value (for the validator's error reports only).
fn table_json(table: &DeTable<'_>) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.get_ref().to_string(), value_json(value.get_ref())))
            .collect(),
    )
}

/// A value as JSON (for the validator's error reports only).
fn value_json(value: &DeValue<'_>) -> Value {
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Array(items) => {
            Value::Array(items.iter().map(|i| value_json(i.get_ref())).collect())
        }
        DeValue::Table(table) => table_json(table),
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Datetime(_) => match number(value) {
            Some(n) => Value::Number(n.to_number().into_owned()),
            None => Value::Null,
        },
    }
}
