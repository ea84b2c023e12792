//! Request bodies checked against the discovery document the emulator claims to implement.
//!
//! Walking the real schema (rather than a hand-written list of fields) means the emulator accepts
//! every field Google accepts, drops what Google does not know (the Calendar v3 JSON front end
//! ignores unknown names), and rejects values of the wrong JSON shape with a 400.

use super::error::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::sync::OnceLock;

const DISCOVERY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/google-calendar-v3.discovery.json"
));

fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        serde_json::from_str::<Value>(DISCOVERY)
            .ok()
            .and_then(|d| d.get("schemas").and_then(Value::as_object).cloned())
            .unwrap_or_default()
    })
}

/// Cleans `value` as an instance of the named schema. `null`s are kept: PATCH uses them to clear.
pub(crate) fn sanitize(schema: &str, value: &Value) -> ApiResult<Value> {
    let Some(def) = schemas().get(schema) else {
        return Ok(value.clone());
    };
    clean(def, value, "", 0)
}

fn bad(path: &str) -> ApiError {
    let field = if path.is_empty() { "resource" } else { path };
    ApiError::invalid(format!("Invalid value for field '{field}'.")).at("body", field.to_string())
}

fn clean(def: &Value, value: &Value, path: &str, depth: usize) -> ApiResult<Value> {
    if depth > 32 {
        return Err(bad(path));
    }
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(name) = def.get("$ref").and_then(Value::as_str) {
        return match schemas().get(name) {
            Some(target) => clean(target, value, path, depth + 1),
            None => Ok(value.clone()),
        };
    }
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("any");
    match ty {
        "string" => match value {
            Value::String(_) => Ok(value.clone()),
            // The JSON front end coerces scalars into string fields (int64 fields arrive as numbers
            // from some clients).
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(bad(path)),
        },
        "integer" => match value {
            Value::Number(n) if n.is_i64() => Ok(value.clone()),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad(path)),
            _ => Err(bad(path)),
        },
        "boolean" => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            _ => Err(bad(path)),
        },
        "array" => {
            let Value::Array(items) = value else {
                return Err(bad(path));
            };
            let item_def = def.get("items").cloned().unwrap_or(Value::Null);
            items
                .iter()
                .enumerate()
                .map(|(i, v)| clean(&item_def, v, &format!("{path}[{i}]"), depth + 1))
                .collect::<ApiResult<Vec<_>>>()
                .map(Value::Array)
        }
        "object" => {
            let Value::Object(obj) = value else {
                return Err(bad(path));
            };
            let props = def.get("properties").and_then(Value::as_object);
            let extra = def.get("additionalProperties");
            let mut out = Map::new();
            for (k, v) in obj {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    out.insert(k.clone(), clean(p, v, &sub, depth + 1)?);
                } else if let Some(a) = extra {
                    out.insert(k.clone(), clean(a, v, &sub, depth + 1)?);
                }
                // Unknown names are dropped, as the real front end does.
            }
            Ok(Value::Object(out))
        }
        _ => Ok(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_unknown_keeps_known_and_checks_shapes() {
        let v = sanitize("Event", &json!({"summary": "x", "bogus": 1, "sequence": "3", "start": {"date": "2026-01-01", "x": 1}, "extendedProperties": {"private": {"k": "v"}}})).expect("test input");
        assert_eq!(
            v,
            json!({"summary": "x", "sequence": 3, "start": {"date": "2026-01-01"}, "extendedProperties": {"private": {"k": "v"}}})
        );
        assert!(sanitize("Event", &json!({"start": "2026-01-01"})).is_err());
        assert!(sanitize("Event", &json!({"attendees": {"email": "a"}})).is_err());
        assert!(sanitize("Event", &json!({"recurrence": [1]})).is_ok());
    }
}
