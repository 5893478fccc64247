//! Conversion of a CRD's OpenAPI v3 structural schema into a draft-4 JSON Schema.
//!
//! Owns the mapping of Kubernetes' schema extensions (`x-kubernetes-int-or-string`,
//! `nullable`, `x-kubernetes-preserve-unknown-fields`, embedded resources) onto JSON
//! Schema, closing every object that declares `properties` (strict: unknown keys are
//! errors). It compiles nothing and evaluates no CEL rule (see `cel.rs`).

use serde_json::{Map, Value, json};

/// Converts a CRD's root schema (or its absence) and allows `apiVersion`, `kind`, `metadata`.
pub(super) fn root_schema(schema: Option<&Value>) -> Value {
    // No schema at all (allowed by v1beta1): the API server keeps anything.
    let default = json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true });
    let mut root = convert(schema.unwrap_or(&default), true);
    add_object_meta(&mut root);
    root
}

/// Declares `apiVersion`, `kind` and `metadata` (any object) on a resource-shaped schema.
fn add_object_meta(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert("apiVersion".into(), json!({ "type": "string" }));
        properties.insert("kind".into(), json!({ "type": "string" }));
        properties.insert("metadata".into(), json!({ "type": "object" }));
    }
}

/// Turns an OpenAPI v3 (Kubernetes structural) schema into a draft-4 JSON Schema.
///
/// OpenAPI 3.0 schema objects are draft-4 style (e.g. boolean `exclusiveMinimum`), so
/// only Kubernetes' extensions need work. `structural` is false inside `allOf`, `anyOf`,
/// `oneOf` and `not`, whose branches only add constraints and so must not close objects.
/// Dropped: `format`, `description`, `x-kubernetes-validations` (CEL, not evaluated).
fn convert(schema: &Value, structural: bool) -> Value {
    let Value::Object(source) = schema else {
        return schema.clone();
    };
    let each = |value: &Value, structural: bool| match value {
        Value::Array(list) => list.iter().map(|item| convert(item, structural)).collect(),
        other => convert(other, structural),
    };
    let mut out = Map::new();
    for (key, value) in source {
        let converted = match (key.as_str(), value) {
            ("format" | "description" | "nullable" | "x-kubernetes-validations", _) => continue,
            // Draft 4 wants `required` non-empty; an empty list requires nothing anyway.
            ("required", Value::Array(names)) if names.is_empty() => continue,
            ("properties" | "patternProperties", Value::Object(children)) => Value::Object(
                children
                    .iter()
                    .map(|(name, child)| (name.clone(), convert(child, structural)))
                    .collect(),
            ),
            ("items" | "additionalProperties", _) => each(value, structural),
            ("allOf" | "anyOf" | "oneOf" | "not", _) => each(value, false),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    let flag = |name: &str| source.get(name).and_then(Value::as_bool) == Some(true);
    if flag("x-kubernetes-int-or-string") {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if flag("nullable") {
        if let Some(Value::String(single)) = out.get("type") {
            let types = json!([single, "null"]);
            out.insert("type".into(), types);
        } else if let Some(Value::Array(types)) = out.get_mut("type") {
            types.push(json!("null"));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    let closes = structural
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && !flag("x-kubernetes-preserve-unknown-fields");
    if closes {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    let mut out = Value::Object(out);
    if flag("x-kubernetes-embedded-resource") {
        add_object_meta(&mut out);
    }
    out
}
