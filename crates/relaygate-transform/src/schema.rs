//! JSON Schema cleaning for Gemini `functionDeclarations[].parameters` and
//! `generationConfig.responseSchema`.
//!
//! Gemini accepts an OpenAPI-style subset of JSON Schema. [`clean_gemini_schema`] inlines
//! `$ref`s (from `$defs` / `definitions`, up to a fixed depth so recursive schemas end),
//! turns `type: [T, "null"]` and `anyOf: [.., {type: null}]` into `nullable: true`, turns
//! `const` into a one-value `enum`, makes enum values strings, keeps only the keywords Gemini
//! knows and drops `required` entries that name no property.

use serde_json::{Map, Value, json};

const KEEP: &[&str] = &[
    "type",
    "description",
    "nullable",
    "enum",
    "properties",
    "required",
    "items",
    "anyOf",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "title",
    "format",
    "propertyOrdering",
];

const MAX_REF_DEPTH: usize = 8;

/// A copy of `schema` that Gemini's `parameters` field accepts.
pub fn clean_gemini_schema(schema: &Value) -> Value {
    let defs = collect_defs(schema);
    let mut out = clean(schema, &defs, 0);
    if !out.is_object() {
        out = json!({"type": "object"});
    }
    out
}

fn collect_defs(schema: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(m) = schema.get(key).and_then(Value::as_object) {
            for (k, v) in m {
                defs.insert(format!("#/{key}/{k}"), v.clone());
            }
        }
    }
    defs
}

fn clean(node: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = node.as_object() else {
        return node.clone();
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let mut base = match defs.get(r) {
            Some(target) if depth < MAX_REF_DEPTH => clean(target, defs, depth + 1),
            _ => json!({"type": "object"}),
        };
        if let (Some(d), Some(b)) = (obj.get("description"), base.as_object_mut()) {
            b.insert("description".into(), d.clone());
        }
        return base;
    }
    let mut out = Map::new();
    let mut nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    // type: [T, "null"]
    match obj.get("type") {
        Some(Value::Array(types)) => {
            let non_null: Vec<&Value> = types
                .iter()
                .filter(|t| t.as_str() != Some("null"))
                .collect();
            nullable |= non_null.len() < types.len();
            match non_null.as_slice() {
                [one] => {
                    out.insert("type".into(), (*one).clone());
                }
                [] => {}
                many => {
                    let any: Vec<Value> = many.iter().map(|t| json!({"type": t})).collect();
                    out.insert("anyOf".into(), Value::Array(any));
                }
            }
        }
        Some(Value::String(t)) if t == "null" => nullable = true,
        Some(t) => {
            out.insert("type".into(), t.clone());
        }
        None => {}
    }
    // anyOf / oneOf with a null branch
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = obj.get(key).and_then(Value::as_array) {
            let mut kept: Vec<Value> = Vec::new();
            for b in branches {
                if b.get("type").and_then(Value::as_str) == Some("null") {
                    nullable = true;
                } else {
                    kept.push(clean(b, defs, depth));
                }
            }
            if kept.len() == 1 {
                if let Some(Value::Object(m)) = kept.pop() {
                    for (k, v) in m {
                        out.entry(k).or_insert(v);
                    }
                }
            } else if !kept.is_empty() {
                out.insert("anyOf".into(), Value::Array(kept));
            }
        }
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for b in all {
            if let Value::Object(m) = clean(b, defs, depth) {
                for (k, v) in m {
                    out.entry(k).or_insert(v);
                }
            }
        }
    }
    for (k, v) in obj {
        if !KEEP.contains(&k.as_str()) || out.contains_key(k) {
            continue;
        }
        let cleaned = match k.as_str() {
            "properties" => {
                let mut props = Map::new();
                if let Some(m) = v.as_object() {
                    for (name, p) in m {
                        props.insert(name.clone(), clean(p, defs, depth));
                    }
                }
                Value::Object(props)
            }
            "items" => clean(v, defs, depth),
            "anyOf" => continue,
            "enum" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().filter(|x| !x.is_null()).map(enum_str).collect())
                    .unwrap_or_default(),
            ),
            "format" => match v.as_str() {
                Some("enum" | "date-time") => v.clone(),
                _ => continue,
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), cleaned);
    }
    if let Some(c) = obj.get("const") {
        out.insert("enum".into(), json!([enum_str(c)]));
        out.entry("type").or_insert(json!("string"));
    }
    if out.contains_key("enum") {
        // Gemini enums are strings.
        out.insert("type".into(), json!("string"));
    }
    // required must name existing properties
    if let Some(req) = out.get("required").and_then(Value::as_array).cloned() {
        let props = out.get("properties").and_then(Value::as_object);
        let kept: Vec<Value> = req
            .into_iter()
            .filter(|r| {
                r.as_str()
                    .is_some_and(|n| props.is_some_and(|p| p.contains_key(n)))
            })
            .collect();
        if kept.is_empty() {
            out.remove("required");
        } else {
            out.insert("required".into(), Value::Array(kept));
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    Value::Object(out)
}

fn enum_str(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_nullable_and_unknown_keywords() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
            "properties": {
                "city": {"type": ["string", "null"], "default": "x", "x-foo": 1},
                "unit": {"$ref": "#/$defs/Unit", "description": "unit"},
                "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "k": {"const": 3},
                "additionalProperties": {"type": "string"}
            },
            "required": ["city", "missing"]
        });
        let c = clean_gemini_schema(&s);
        assert_eq!(
            c["properties"]["city"],
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(c["properties"]["unit"]["enum"], json!(["c", "f"]));
        assert_eq!(c["properties"]["unit"]["description"], "unit");
        assert_eq!(
            c["properties"]["n"],
            json!({"type": "integer", "nullable": true})
        );
        assert_eq!(c["properties"]["k"]["enum"], json!(["3"]));
        // A property literally named like a keyword survives.
        assert_eq!(c["properties"]["additionalProperties"]["type"], "string");
        assert_eq!(c["required"], json!(["city"]));
        assert!(c.get("$schema").is_none() && c.get("additionalProperties").is_none());
    }

    #[test]
    fn recursive_refs_end() {
        let s = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
            "$ref": "#/$defs/N"});
        let c = clean_gemini_schema(&s);
        assert_eq!(c["type"], "object");
    }
}
