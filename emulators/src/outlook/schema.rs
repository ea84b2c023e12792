//! Request bodies checked against the Graph v1.0 CSDL subset the emulator claims to implement
//! (`emulators/data/graph-v1.0-calendar-subset.json`).
//!
//! Unlike Google's front end, Graph refuses unknown property names (400 `RequestBodyRead`), values
//! of the wrong type, unknown enum literals and `null` for non-nullable properties. Instance
//! annotations (`@odata.type` and `prop@odata.*`) are accepted and dropped. Enum literals are
//! matched case-insensitively and normalised.

use super::error::{GraphError, GraphResult};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const SUBSET: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/graph-v1.0-calendar-subset.json"
));

#[derive(Debug)]
struct Member {
    name: String,
    ty: String,
    nullable: bool,
    navigation: bool,
}

#[derive(Debug)]
struct TypeDef {
    kind: String,
    base: Option<String>,
    open: bool,
    members: Vec<Member>,
    enum_members: Vec<String>,
}

fn types() -> &'static HashMap<String, TypeDef> {
    static TYPES: OnceLock<HashMap<String, TypeDef>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let doc: Value = serde_json::from_str(SUBSET).unwrap_or(Value::Null);
        let mut out = HashMap::new();
        for t in doc
            .get("types")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            let kind = t
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let (members, enum_members) = if kind == "EnumType" {
                (
                    vec![],
                    t.get("members")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default(),
                )
            } else {
                let ms = t
                    .get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| {
                        Some(Member {
                            name: m.get("name")?.as_str()?.to_string(),
                            ty: m.get("type")?.as_str()?.to_string(),
                            nullable: m.get("Nullable").and_then(Value::as_str) != Some("false"),
                            navigation: m.get("kind").and_then(Value::as_str)
                                == Some("NavigationProperty"),
                        })
                    })
                    .collect();
                (ms, vec![])
            };
            let base = t
                .get("BaseType")
                .and_then(Value::as_str)
                .map(|b| b.trim_start_matches("graph.").to_string());
            let open = t.get("OpenType").and_then(Value::as_str) == Some("true");
            out.insert(
                name.to_string(),
                TypeDef {
                    kind,
                    base,
                    open,
                    members,
                    enum_members,
                },
            );
        }
        out
    })
}

fn member(ty: &str, prop: &str) -> Option<&'static Member> {
    let mut cur = types().get(ty);
    let mut depth = 0;
    while let Some(t) = cur {
        if let Some(m) = t.members.iter().find(|m| m.name == prop) {
            return Some(m);
        }
        depth += 1;
        if depth > 8 {
            break;
        }
        cur = t.base.as_deref().and_then(|b| types().get(b));
    }
    None
}

/// How the service names a type in messages (Outlook-backed types carry Outlook's namespace).
fn display(ty: &str) -> String {
    if ty == "subscription" {
        return "microsoft.graph.subscription".into();
    }
    let mut c = ty.chars();
    match c.next() {
        Some(f) => format!(
            "Microsoft.OutlookServices.{}{}",
            f.to_ascii_uppercase(),
            c.as_str()
        ),
        None => ty.into(),
    }
}

fn read_error(message: String) -> GraphError {
    GraphError::bad_request("RequestBodyRead", message)
}

/// Checks `value` as an instance of the named type (`"event"`, `"subscription"`…) and returns it
/// with annotations dropped and enum literals normalised.
pub(crate) fn check(ty: &str, value: &Value) -> GraphResult<Value> {
    check_type(ty, value, 0)
}

fn check_type(ty: &str, value: &Value, depth: usize) -> GraphResult<Value> {
    if depth > 16 {
        return Err(GraphError::unable_to_deserialize());
    }
    let Some(def) = types().get(ty) else {
        return Ok(value.clone());
    };
    if def.kind == "EnumType" {
        let s = value.as_str().ok_or_else(|| {
            read_error(format!(
                "Cannot convert a primitive value to the expected type 'microsoft.graph.{ty}'."
            ))
        })?;
        return def
            .enum_members
            .iter()
            // Flag enums (e.g. dayOfWeek lists) are sent one literal per element.
            .find(|m| m.eq_ignore_ascii_case(s.trim()))
            .map(|m| Value::String(m.clone()))
            .ok_or_else(|| {
                read_error(format!(
                    "Cannot convert the literal '{s}' to the expected type 'microsoft.graph.{ty}'."
                ))
            });
    }
    let Value::Object(obj) = value else {
        return Err(read_error(format!(
            "Cannot convert a primitive value to the expected type '{}'.",
            display(ty)
        )));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.starts_with('@') || k.contains("@odata.") {
            continue;
        }
        let Some(m) = member(ty, k) else {
            if def.open && ty != "event" {
                out.insert(k.clone(), v.clone());
                continue;
            }
            return Err(read_error(format!(
                "The property '{k}' does not exist on type '{}'. Make sure to only use property names that are defined by the type or mark the type as open type.",
                display(ty)
            )));
        };
        if v.is_null() {
            if !m.nullable {
                return Err(read_error(format!("A null value was found for the property named '{k}', which has the expected type '{}[Nullable=False]'. The expected type '{}[Nullable=False]' does not allow null values.", m.ty, m.ty)));
            }
            out.insert(k.clone(), Value::Null);
            continue;
        }
        if m.navigation
            && !matches!(
                k.as_str(),
                "singleValueExtendedProperties" | "multiValueExtendedProperties"
            )
        {
            // Deep inserts (attachments, extensions…) are not emulated; they are dropped.
            continue;
        }
        out.insert(k.clone(), check_value(&m.ty, v, k, depth)?);
    }
    Ok(Value::Object(out))
}

fn check_value(ty: &str, v: &Value, prop: &str, depth: usize) -> GraphResult<Value> {
    if let Some(inner) = ty
        .strip_prefix("Collection(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let Value::Array(items) = v else {
            return Err(read_error(format!("A node of type 'StartObject' was read from the JSON reader when trying to read the value of the property '{prop}'; however, a 'StartArray' node was expected.")));
        };
        return items
            .iter()
            .map(|i| check_value(inner, i, prop, depth + 1))
            .collect::<GraphResult<Vec<_>>>()
            .map(Value::Array);
    }
    let prim = |ok: bool| {
        if ok {
            Ok(v.clone())
        } else {
            Err(read_error(format!("Cannot convert a primitive value to the expected type '{ty}'. See the inner exception for more details.")))
        }
    };
    match ty {
        "Edm.String" => prim(v.is_string()),
        "Edm.Boolean" => prim(v.is_boolean()),
        "Edm.Int32" => prim(v.as_i64().is_some_and(|n| i32::try_from(n).is_ok())),
        "Edm.Int64" => prim(v.is_i64()),
        "Edm.Double" => prim(v.is_number()),
        "Edm.Date" => prim(
            v.as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
        ),
        "Edm.DateTimeOffset" => prim(
            v.as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        ),
        "Edm.Guid" => prim(v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())),
        t => match t.strip_prefix("graph.") {
            Some(name) => check_type(name, v, depth + 1),
            None => Ok(v.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_properties_types_enums_and_nulls() {
        let ok = check("event", &json!({"subject": "x", "@odata.type": "#microsoft.graph.event", "showAs": "BUSY", "recurrence": {"pattern": {"type": "weekly", "daysOfWeek": ["Monday"], "interval": 1}, "range": {"type": "noEnd", "startDate": "2027-01-01"}}})).expect("valid");
        assert_eq!(ok["showAs"], "busy");
        assert_eq!(ok["recurrence"]["pattern"]["daysOfWeek"], json!(["monday"]));
        assert!(ok.get("@odata.type").is_none());
        let e = check("event", &json!({"subjectt": "x"})).expect_err("unknown property");
        assert_eq!((e.status, e.code.as_str()), (400, "RequestBodyRead"));
        assert!(
            e.message.contains("'subjectt'")
                && e.message.contains("Microsoft.OutlookServices.Event")
        );
        assert!(check(
            "event",
            &json!({"recurrence": {"pattern": {"index": "fifth"}}})
        )
        .is_err());
        assert!(check(
            "event",
            &json!({"recurrence": {"pattern": {"interval": null}}})
        )
        .is_err());
        assert!(check(
            "event",
            &json!({"recurrence": {"pattern": {"interval": "2"}}})
        )
        .is_err());
        assert!(check(
            "event",
            &json!({"recurrence": {"range": {"startDate": "01/02/2027"}}})
        )
        .is_err());
        assert!(check(
            "event",
            &json!({"start": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC", "zone": 1}})
        )
        .is_err());
        assert!(check(
            "subscription",
            &json!({"resource": "me/events", "bogus": 1})
        )
        .is_err());
    }
}
