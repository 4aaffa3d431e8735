//! JSON Schema cleaning for Gemini `functionDeclarations[].parameters` and
//! `generationConfig.responseSchema`.
//!
//! Gemini accepts an OpenAPI-style subset of JSON Schema. [`clean_gemini_schema`] inlines
//! `$ref`s (from `$defs` / `definitions`, up to a fixed depth so recursive schemas end),
//! turns `type: [T, "null"]` and `anyOf: [.., {type: null}]` into `nullable: true`, turns
//! `const` into a one-value `enum`, makes enum values strings, keeps only the keywords Gemini
//! knows and drops `required` entries that name no property.
//!
//! Nesting is bounded: a schema nested more than 128 levels deep is replaced as a whole by the
//! permissive `{"type": "object"}`, and the output never nests deeper than 128 levels either
//! (inlined `$ref`s can only add depth up to that limit), so no schema can overflow the stack.

use serde_json::{Map, Value, json};

use crate::util::{MAX_DEPTH, deeper_than};

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
///
/// A schema nested deeper than 128 levels gives `{"type": "object"}`: the walk is recursive, and
/// a bounded input is what keeps it off the end of the stack.
pub fn clean_gemini_schema(schema: &Value) -> Value {
    if deeper_than(schema, MAX_DEPTH) {
        return json!({"type": "object"});
    }
    let defs = collect_defs(schema);
    let mut out = clean(schema, &defs, 0, 0);
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

/// `depth` counts inlined `$ref`s, `level` the JSON nesting of the output at `node`.
fn clean(node: &Value, defs: &Map<String, Value>, depth: usize, level: usize) -> Value {
    // `$ref` inlining can grow the output past the input's depth: stop at the limit with the
    // permissive schema rather than nest without bound. A node that goes on puts its children
    // at most two levels deeper (`properties.<name>`), where even the permissive schema must
    // still fit: hence the margin of three.
    if level + 3 > MAX_DEPTH {
        return json!({"type": "object"});
    }
    let Some(obj) = node.as_object() else {
        // A copied subtree keeps its own depth: refuse one that would cross the limit here.
        if deeper_than(node, MAX_DEPTH - level) {
            return json!({"type": "object"});
        }
        return node.clone();
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let mut base = match defs.get(r) {
            Some(target) if depth < MAX_REF_DEPTH => clean(target, defs, depth + 1, level),
            _ => json!({"type": "object"}),
        };
        if let (Some(d), Some(b)) = (
            obj.get("description").filter(|d| d.is_string()),
            base.as_object_mut(),
        ) {
            b.insert("description".into(), d.clone());
        }
        return base;
    }
    let mut out = Map::new();
    let mut nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    // type: [T, "null"]
    match obj.get("type") {
        Some(Value::Array(types)) => {
            // Only string types count: anything else is not a type and would be copied as deep
            // as it came.
            let non_null: Vec<&Value> = types
                .iter()
                .filter(|t| t.is_string() && t.as_str() != Some("null"))
                .collect();
            nullable |= types.iter().any(|t| t.as_str() == Some("null"));
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
        Some(t @ Value::String(_)) => {
            out.insert("type".into(), t.clone());
        }
        Some(_) | None => {}
    }
    // anyOf / oneOf with a null branch
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = obj.get(key).and_then(Value::as_array) {
            let mut kept: Vec<Value> = Vec::new();
            for b in branches {
                if b.get("type").and_then(Value::as_str) == Some("null") {
                    nullable = true;
                } else {
                    kept.push(clean(b, defs, depth, level + 2));
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
            if let Value::Object(m) = clean(b, defs, depth, level) {
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
                        props.insert(name.clone(), clean(p, defs, depth, level + 2));
                    }
                }
                Value::Object(props)
            }
            "items" => clean(v, defs, depth, level + 1),
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
            // Same bound for keyword values copied as they are (one level below `out`).
            _ if deeper_than(v, MAX_DEPTH.saturating_sub(level + 1)) => continue,
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
    fn deep_schemas_end_without_overflow() {
        use crate::util::deep::{drop_iter, nest};
        // 100 000 levels of `items`: far past the limit, built without recursion.
        let s = nest("items", 100_000, json!({"type": "string"}));
        let c = clean_gemini_schema(&s);
        assert_eq!(c, json!({"type": "object"}));
        drop_iter(s);
        // Just inside the limit the schema is cleaned as usual.
        let s = nest("items", 100, json!({"type": "string", "x-extra": 1}));
        let c = clean_gemini_schema(&s);
        assert!(!deeper_than(&c, MAX_DEPTH));
        let mut leaf = &c;
        while let Some(next) = leaf.get("items") {
            leaf = next;
        }
        assert_eq!(leaf, &json!({"type": "string"}));
        drop_iter(s);
        drop_iter(c);
    }

    #[test]
    fn self_referencing_refs_stay_within_the_depth_limit() {
        // Each $ref level nests `properties.next`; MAX_REF_DEPTH inlines of a wide def may
        // not push the output past the JSON nesting limit.
        let mut def = json!({"$ref": "#/$defs/N"});
        for _ in 0..60 {
            def = json!({"type": "object", "properties": {"next": def}});
        }
        let s = json!({"$defs": {"N": def}, "$ref": "#/$defs/N"});
        let c = clean_gemini_schema(&s);
        assert!(!deeper_than(&c, MAX_DEPTH));
        assert!(serde_json::from_str::<Value>(&c.to_string()).is_ok());
    }

    #[test]
    fn recursive_refs_end() {
        let s = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
            "$ref": "#/$defs/N"});
        let c = clean_gemini_schema(&s);
        assert_eq!(c["type"], "object");
    }
}
