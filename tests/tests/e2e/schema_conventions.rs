//! The conventions Relay and GraphQL linters hold a schema to, checked on schema.graphql so a new
//! type or field cannot quietly break them: every object with an `id` is a `Node`; only
//! connection types end in `Connection`, and every connection field pages both ways; every
//! mutation has its own `…Payload` with `userErrors`; no type is named `…Out`. And a refused dry
//! run answers in its payload like any mutation.

use almanac_e2e::{engine_tests, TestApp};
use async_graphql_parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use serde_json::json;
use std::collections::HashMap;

struct Object {
    fields: Vec<(String, Type, Vec<String>)>,
    interfaces: Vec<String>,
}

fn objects() -> HashMap<String, Object> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
        .expect("schema");
    let doc = async_graphql_parser::parse_schema(&sdl).expect("schema parses");
    let mut out = HashMap::new();
    for def in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            if let TypeKind::Object(o) = &t.node.kind {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            f.node.name.node.to_string(),
                            f.node.ty.node.clone(),
                            f.node
                                .arguments
                                .iter()
                                .map(|a| a.node.name.node.to_string())
                                .collect(),
                        )
                    })
                    .collect();
                out.insert(
                    t.node.name.node.to_string(),
                    Object {
                        fields,
                        interfaces: o.implements.iter().map(|i| i.node.to_string()).collect(),
                    },
                );
            }
        }
    }
    out
}

fn named(t: &Type) -> String {
    match &t.base {
        BaseType::Named(n) => n.to_string(),
        BaseType::List(inner) => named(inner),
    }
}

#[test]
fn the_schema_follows_relay_naming_and_node_conventions() {
    let objects = objects();
    let mut problems = Vec::new();
    for (name, o) in &objects {
        let is_connection = o.fields.iter().any(|(f, _, _)| f == "edges")
            && o.fields.iter().any(|(f, _, _)| f == "pageInfo");
        if name.ends_with("Connection") && !is_connection {
            problems.push(format!(
                "{name} ends in Connection but is not a connection type"
            ));
        }
        if name.ends_with("Out") {
            problems.push(format!("{name} ends in Out"));
        }
        if o.fields
            .iter()
            .any(|(f, t, _)| f == "id" && named(t) == "ID" && !t.nullable)
            && !o.interfaces.iter().any(|i| i == "Node")
            && !["Mutation", "Query"].contains(&name.as_str())
        {
            problems.push(format!("{name} has an id but is not a Node"));
        }
        for (field, ty, args) in &o.fields {
            let returns_connection = named(ty).ends_with("Connection");
            if returns_connection
                && !["first", "after", "last", "before"]
                    .iter()
                    .all(|a| args.iter().any(|x| x == a))
            {
                problems.push(format!(
                    "{name}.{field} is a connection without first/after/last/before: {args:?}"
                ));
            }
        }
    }
    let mutation = objects.get("Mutation").expect("Mutation");
    for (field, ty, _) in &mutation.fields {
        let mut want = field.clone();
        want[..1].make_ascii_uppercase();
        want.push_str("Payload");
        if named(ty) != want {
            problems.push(format!(
                "Mutation.{field} returns {}, not {want}",
                named(ty)
            ));
        }
        let payload = objects.get(&named(ty)).expect("payload type");
        if !payload
            .fields
            .iter()
            .any(|(f, t, _)| f == "userErrors" && named(t) == "UserError" && !t.nullable)
        {
            problems.push(format!("{want} has no userErrors"));
        }
    }
    let mut payloads: Vec<String> = mutation.fields.iter().map(|(_, t, _)| named(t)).collect();
    let n = payloads.len();
    payloads.sort();
    payloads.dedup();
    if payloads.len() != n {
        problems.push("a payload type is shared by several mutations".into());
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

async fn a_refused_preview_answers_with_user_errors(app: TestApp) {
    let cal = app.create_calendar("previews", "UTC").await;
    let (series, version) = app.create_series(&cal, json!({ "title": "daily", "start": "2026-03-02T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("series");
    let q = "mutation($i: EditOccurrenceInput!) { previewEditOccurrence(input: $i) { added { id } report { splitAtFirstOccurrence } userErrors { field code message } } }";
    let input = |v: i64, rid: &str| json!({ "i": { "occurrence": { "seriesId": series, "recurrenceId": rid }, "scope": "THIS", "expectedVersion": v, "changes": { "title": "x" } } });
    let ok = app.ok(q, input(version, "2026-03-03T09:00:00Z")).await;
    assert_eq!(ok["previewEditOccurrence"]["userErrors"], json!([]), "{ok}");
    assert_eq!(
        ok["previewEditOccurrence"]["report"]["splitAtFirstOccurrence"],
        json!(false),
        "{ok}"
    );
    let body = app.graphql(q, input(version, "2026-03-03T09:30:00Z")).await;
    assert_eq!(
        body["data"]["previewEditOccurrence"]["added"],
        json!(null),
        "{body}"
    );
    assert_eq!(
        body["data"]["previewEditOccurrence"]["userErrors"][0]["code"],
        json!("NOT_FOUND"),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("NOT_FOUND"),
        "{body}"
    );
    let body = app
        .graphql(q, input(version + 5, "2026-03-03T09:00:00Z"))
        .await;
    assert_eq!(
        body["data"]["previewEditOccurrence"]["userErrors"][0],
        json!({ "field": ["input", "expectedVersion"], "code": "CONFLICT", "message": body["errors"][0]["message"] }),
        "{body}"
    );
}

engine_tests!(a_refused_preview_answers_with_user_errors);
