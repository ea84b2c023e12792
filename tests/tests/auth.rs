//! Authentication and tenancy: API keys, JWTs (HS256 and RS256), required mode, scopes,
//! revocation — and the cross-tenant matrix, generated from schema.graphql, that tries every
//! id-taking field and argument with another organization's ids.

use almanac_api::config::{AuthMode, Settings};
use almanac_e2e::{engine_tests_with, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const HS_SECRET: &str = "test-only-hs256-secret-of-reasonable-length";

fn required(s: &mut Settings) {
    s.auth = AuthMode::Required;
    s.jwt_hs256_secret = Some(HS_SECRET.into());
    s.jwt_rs256_public_key = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/data/jwt/test-rs256-public.pem").into());
}

fn jwt(alg: jsonwebtoken::Algorithm, claims: Value) -> String {
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes()),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../data/jwt/test-rs256-private.pem")).expect("test key"),
    };
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).expect("jwt")
}

fn exp() -> i64 {
    chrono::Utc::now().timestamp() + 600
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

const VIEWER: &str = "{ viewer { organizationId user canWrite } }";
const NEW_CAL: &str = "mutation { createCalendar(input: { name: \"x\", timeZone: \"UTC\" }) { calendar { id } } }";

async fn requests_without_credentials_are_unauthenticated_in_required_mode(app: TestApp) {
    let body = app.graphql(VIEWER, json!({})).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
    let res = app.http.post(format!("{}/graphql", app.url)).json(&json!({ "query": VIEWER })).send().await.expect("sent");
    assert_eq!(res.status(), 401);
    for bad in ["alm_nope_nope", "not-a-token", &jwt(jsonwebtoken::Algorithm::HS256, json!({ "org": "org_x", "exp": exp() }))] {
        assert_eq!(code(&app.graphql_as(Some(bad), VIEWER, json!({})).await), Some("UNAUTHENTICATED"), "{bad}");
    }
    let expired = jwt(jsonwebtoken::Algorithm::HS256, json!({ "org": almanac_domain::OrganizationId::DEFAULT.to_string(), "exp": 1 }));
    assert_eq!(code(&app.graphql_as(Some(&expired), VIEWER, json!({})).await), Some("UNAUTHENTICATED"));
}

async fn api_keys_have_scopes_and_can_be_revoked(app: TestApp) {
    let (org, key) = app.organization_with_key("acme", "read,write").await;
    let body = app.graphql_as(Some(&key), VIEWER, json!({})).await;
    assert_eq!(body["data"]["viewer"]["organizationId"], json!(org));
    // A read-only key created through the API reads but cannot write.
    let body = app.graphql_as(Some(&key), "mutation { createApiKey(input: { name: \"ro\", scopes: \"read\" }) { apiKey { id scopes } secret } }", json!({})).await;
    let ro = body["data"]["createApiKey"]["secret"].as_str().expect("secret").to_string();
    let ro_id = body["data"]["createApiKey"]["apiKey"]["id"].clone();
    assert_eq!(body["data"]["createApiKey"]["apiKey"]["scopes"], json!("read"));
    assert!(app.graphql_as(Some(&ro), "{ calendars { edges { cursor } } }", json!({})).await["errors"].is_null());
    let body = app.graphql_as(Some(&ro), NEW_CAL, json!({})).await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    // Keys are listed without secrets, and revocation takes effect at once.
    let body = app.graphql_as(Some(&key), "{ apiKeys { id name scopes revokedAt } }", json!({})).await;
    assert_eq!(body["data"]["apiKeys"].as_array().map(Vec::len), Some(2));
    assert!(!body.to_string().contains(&ro[10..]), "secrets are never listed");
    app.graphql_as(Some(&key), "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } } }", json!({ "i": { "id": ro_id } })).await;
    assert_eq!(code(&app.graphql_as(Some(&ro), VIEWER, json!({})).await), Some("UNAUTHENTICATED"));
    // Another organization cannot revoke this one's key.
    let (_, other) = app.organization_with_key("other", "read,write").await;
    let body = app.graphql_as(Some(&other), "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id } } }", json!({ "i": { "id": ro_id } })).await;
    assert_eq!(code(&body), Some("NOT_FOUND"));
}

async fn jwts_from_the_host_app_name_the_organization_and_user(app: TestApp) {
    let (org, _) = app.organization_with_key("acme", "read").await;
    for alg in [jsonwebtoken::Algorithm::HS256, jsonwebtoken::Algorithm::RS256] {
        let token = jwt(alg, json!({ "org": org, "sub": "user-42", "exp": exp() }));
        let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
        assert_eq!(body["data"]["viewer"]["organizationId"], json!(org), "{alg:?}");
        assert_eq!(body["data"]["viewer"]["user"], json!("user-42"));
        assert!(app.graphql_as(Some(&token), NEW_CAL, json!({})).await["errors"].is_null());
    }
    let read_only = jwt(jsonwebtoken::Algorithm::RS256, json!({ "org": org, "sub": "u", "scope": "read", "exp": exp() }));
    assert_eq!(code(&app.graphql_as(Some(&read_only), NEW_CAL, json!({})).await), Some("FORBIDDEN"));
    // A token signed with another key is refused.
    let forged = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &json!({ "org": org, "exp": exp() }), &jsonwebtoken::EncodingKey::from_secret(b"wrong")).expect("jwt");
    assert_eq!(code(&app.graphql_as(Some(&forged), VIEWER, json!({})).await), Some("UNAUTHENTICATED"));
}

/// Every (type, field, argument path) in schema.graphql that takes an ID.
fn id_taking_paths() -> BTreeSet<String> {
    use async_graphql_parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).expect("schema");
    let doc = async_graphql_parser::parse_schema(&sdl).expect("schema parses");
    let mut inputs = std::collections::HashMap::new();
    let mut objects = Vec::new();
    for def in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            let name = t.node.name.node.to_string();
            match &t.node.kind {
                TypeKind::InputObject(io) => {
                    inputs.insert(name, io.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect::<Vec<_>>());
                }
                TypeKind::Object(o) => objects.push((name, o.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.arguments.iter().map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone())).collect::<Vec<_>>())).collect::<Vec<_>>())),
                _ => {}
            }
        }
    }
    fn base(t: &Type) -> String {
        match &t.base {
            BaseType::Named(n) => n.to_string(),
            BaseType::List(inner) => base(inner),
        }
    }
    fn walk(prefix: String, t: &Type, inputs: &std::collections::HashMap<String, Vec<(String, Type)>>, out: &mut BTreeSet<String>, depth: usize) {
        let b = base(t);
        if b == "ID" {
            out.insert(format!("{prefix})"));
        } else if let Some(fields) = inputs.get(&b) {
            if depth < 6 {
                for (n, ty) in fields {
                    walk(format!("{prefix}.{n}"), ty, inputs, out, depth + 1);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for (ty, fields) in objects {
        for (field, args) in fields {
            for (arg, t) in args {
                walk(format!("{ty}.{field}({arg}"), &t, &inputs, &mut out, 0);
            }
        }
    }
    out
}

/// Another organization's objects behave exactly like ids that do not exist, for every id-taking
/// field and argument in the schema; a new one without a case here fails the test.
async fn no_id_taking_field_crosses_organizations(app: TestApp) {
    let (my_org, mine) = app.organization_with_key("mine", "read,write").await;
    let (their_org, theirs) = app.organization_with_key("theirs", "read,write").await;
    let q = |t: &str, query: &str, v: Value| {
        let (t, query) = (t.to_string(), query.to_string());
        let app = &app;
        async move { app.graphql_as(Some(&t), &query, v).await }
    };
    // Their objects.
    let d = q(&theirs, "mutation { createCalendar(input: { name: \"theirs\", timeZone: \"UTC\" }) { calendar { id } } }", json!({})).await;
    let cal = d["data"]["createCalendar"]["calendar"]["id"].as_str().expect("cal").to_string();
    let d = q(&theirs, "mutation($c: ID!) { createSeries(input: { calendarId: $c, title: \"secret\", start: \"2026-01-05T09:00:00\", duration: \"PT1H\", recurrence: { rrule: \"FREQ=DAILY\" } }) { series { id } } }", json!({ "c": cal })).await;
    let ser = d["data"]["createSeries"]["series"]["id"].as_str().expect("ser").to_string();
    let d = q(&theirs, "query($c: [ID!]!) { occurrences(calendarIds: $c, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\") { edges { node { id } } } }", json!({ "c": [cal] })).await;
    let occ = d["data"]["occurrences"]["edges"][0]["node"]["id"].as_str().expect("occ").to_string();
    let d = q(&theirs, "{ apiKeys { id } }", json!({})).await;
    let key = d["data"]["apiKeys"][0]["id"].as_str().expect("key").to_string();
    let d = q(&theirs, "mutation($c: ID!) { createIcsFeed(input: { calendarId: $c }) { feed { id } } }", json!({ "c": cal })).await;
    let feed = d["data"]["createIcsFeed"]["feed"]["id"].as_str().expect("feed").to_string();
    // Provider connections and links are made through OAuth; store them directly here.
    let connection = |org: &str, account: &str| almanac_api::store::sync::ConnectionRecord {
        id: format!("con_{}", uuid::Uuid::now_v7().simple()),
        organization_id: org.to_string(),
        user_id: None,
        provider: "google".into(),
        account: account.into(),
        state: "ACTIVE".into(),
        access_token: None,
        refresh_token: None,
        access_expires_at: None,
        token_version: 0,
        last_error: None,
        created_at: 0,
    };
    let (my_con, their_con) = (connection(&my_org, "me@example.com"), connection(&their_org, "them@example.com"));
    // A RemoteCalendar's global id: the account and the provider's calendar id.
    let their_remote_calendar = {
        use base64::Engine;
        format!("rcal_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\nthem@example.com", their_con.id)))
    };
    app.state.store.upsert_connection(&my_con).await.expect("my connection");
    app.state.store.upsert_connection(&their_con).await.expect("their connection");
    let their_link = almanac_api::store::sync::LinkRecord {
        id: format!("lnk_{}", uuid::Uuid::now_v7().simple()),
        organization_id: their_org.clone(),
        calendar_id: cal.clone(),
        connection_id: their_con.id.clone(),
        remote_calendar_id: "them@example.com".into(),
        direction: "TWO_WAY".into(),
        sync_cursor: None,
        last_synced_at: None,
        last_error: None,
        channel_id: None,
        channel_resource_id: None,
        channel_token_sha256: None,
        channel_expires_at: None,
        created_at: 0,
    };
    app.state.store.insert_link(&their_link).await.expect("their link");
    let d = q(&mine, "mutation { createCalendar(input: { name: \"mine\", timeZone: \"UTC\" }) { calendar { id } } }", json!({})).await;
    let my_cal = d["data"]["createCalendar"]["calendar"]["id"].as_str().expect("my cal").to_string();
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nSUMMARY:mine now\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    let occ_ref = json!({ "occurrenceId": occ });
    let rid_ref = json!({ "seriesId": ser, "recurrenceId": "2026-01-05T09:00:00Z" });
    let rules = json!({ "calendarIds": [cal], "duration": "PT30M", "now": "2026-01-01T00:00:00Z" });
    // Each case: the schema paths it covers, the operation (as "mine"), and its variables.
    let cases: Vec<(Vec<&str>, &str, Value)> = vec![
        (vec!["Query.node(id)"], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": cal })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": ser })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": occ })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": key })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": key.trim_start_matches("key_") })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": feed })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": their_con.id })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": their_link.id })),
        (vec![], "query($id: ID!) { node(id: $id) { id } }", json!({ "id": their_remote_calendar })),
        (vec!["Query.calendar(id)"], "query($id: ID!) { calendar(id: $id) { id } }", json!({ "id": cal })),
        (vec!["Query.series(id)"], "query($id: ID!) { series(id: $id) { id } }", json!({ "id": ser })),
        (vec!["Query.occurrences(calendarIds)"], "query($c: [ID!]!) { occurrences(calendarIds: $c, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { edges { node { id } } } }", json!({ "c": [cal] })),
        (vec!["Query.upcomingOccurrences(seriesId)"], "query($s: ID!) { upcomingOccurrences(seriesId: $s, from: \"2026-01-01T00:00:00Z\") { edges { node { id } } } }", json!({ "s": ser })),
        (vec!["Query.freeBusy(calendarIds)"], "query($c: [ID!]!) { freeBusy(calendarIds: $c, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\") { combined { start } } }", json!({ "c": [cal] })),
        (vec!["Query.availability(calendarIds)"], "query($c: [ID!]!) { availability(calendarIds: $c, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\") { free { start } } }", json!({ "c": [cal] })),
        (vec!["Query.bookableSlots(rules.calendarIds)"], "query($r: SlotRulesInput!) { bookableSlots(rules: $r, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\") { slots { start } } }", json!({ "r": rules })),
        (vec!["Query.nextAvailableSlot(rules.calendarIds)"], "query($r: SlotRulesInput!) { nextAvailableSlot(rules: $r, after: \"2026-01-05T00:00:00Z\") { start } }", json!({ "r": rules })),
        (vec!["Query.whyNotAvailable(rules.calendarIds)"], "query($r: SlotRulesInput!) { whyNotAvailable(rules: $r, start: \"2026-01-05T09:00:00Z\", end: \"2026-01-05T10:00:00Z\") { reason } }", json!({ "r": rules })),
        (vec!["Mutation.setCalendarAvailability(input.calendarId)"], "mutation($c: ID!) { setCalendarAvailability(input: { calendarId: $c, availability: { mode: EXPLICIT } }) { calendar { id } } }", json!({ "c": cal })),
        (vec!["Mutation.createSeries(input.calendarId)"], "mutation($c: ID!) { createSeries(input: { calendarId: $c, title: \"x\", start: \"2026-01-05T09:00:00\", duration: \"PT1H\" }) { series { id } } }", json!({ "c": cal })),
        (vec!["Mutation.updateSeries(input.id)"], "mutation($s: ID!) { updateSeries(input: { id: $s, expectedVersion: 1, title: \"mine now\" }) { series { id } } }", json!({ "s": ser })),
        (vec!["Mutation.deleteSeries(input.id)"], "mutation($s: ID!) { deleteSeries(input: { id: $s, expectedVersion: 1 }) { deletedSeriesId } }", json!({ "s": ser })),
        (vec!["Mutation.revokeApiKey(input.id)"], "mutation($k: ID!) { revokeApiKey(input: { id: $k }) { apiKey { id } } }", json!({ "k": key })),
        (vec!["Mutation.createIcsFeed(input.calendarId)"], "mutation($c: ID!) { createIcsFeed(input: { calendarId: $c }) { feed { id } } }", json!({ "c": cal })),
        (vec!["Mutation.revokeIcsFeed(input.id)"], "mutation($f: ID!) { revokeIcsFeed(input: { id: $f }) { feed { id } } }", json!({ "f": feed })),
        (vec!["Mutation.linkCalendar(input.calendarId)"], "mutation($c: ID!, $k: ID!) { linkCalendar(input: { calendarId: $c, accountId: $k, remoteCalendarId: \"x\" }) { link { id } } }", json!({ "c": cal, "k": my_con.id })),
        (vec!["Mutation.linkCalendar(input.accountId)"], "mutation($c: ID!, $k: ID!) { linkCalendar(input: { calendarId: $c, accountId: $k, remoteCalendarId: \"x\" }) { link { id } } }", json!({ "c": my_cal, "k": their_con.id })),
        (vec!["Mutation.syncCalendarLink(input.id)"], "mutation($l: ID!) { syncCalendarLink(input: { id: $l }) { round { pushed } } }", json!({ "l": their_link.id })),
        (vec!["Mutation.unlinkCalendar(input.id)"], "mutation($l: ID!) { unlinkCalendar(input: { id: $l }) { unlinkedLinkId } }", json!({ "l": their_link.id })),
        (vec!["Mutation.importIcs(input.calendarId)"], "mutation($c: ID!, $ics: String!) { importIcs(input: { calendarId: $c, ics: $ics }) { series { id } } }", json!({ "c": cal, "ics": ics })),
    ];
    let mut cases = cases;
    for (field, input) in ["editOccurrence", "previewEditOccurrence", "deleteOccurrence", "previewDeleteOccurrence", "restoreOccurrence", "setOccurrenceStatus"].iter().zip([
        "EditOccurrenceInput", "EditOccurrenceInput", "DeleteOccurrenceInput", "DeleteOccurrenceInput", "RestoreOccurrenceInput", "SetOccurrenceStatusInput",
    ]) {
        let extra = match input {
            "EditOccurrenceInput" => json!({ "scope": "THIS", "expectedVersion": 1, "changes": { "title": "x" } }),
            "DeleteOccurrenceInput" => json!({ "scope": "THIS", "expectedVersion": 1 }),
            "SetOccurrenceStatusInput" => json!({ "expectedVersion": 1, "locked": true }),
            _ => json!({ "expectedVersion": 1 }),
        };
        for (paths, occurrence) in [(vec![format!("Mutation.{field}(input.occurrence.occurrenceId)")], occ_ref.clone()), (vec![format!("Mutation.{field}(input.occurrence.seriesId)")], rid_ref.clone())] {
            let mut i = extra.clone();
            i["occurrence"] = occurrence;
            let query: &'static str = Box::leak(format!("mutation($i: {input}!) {{ {field}(input: $i) {{ __typename }} }}").into_boxed_str());
            let path: &'static str = Box::leak(paths[0].clone().into_boxed_str());
            cases.push((vec![path], query, json!({ "i": i })));
        }
    }
    // Subscriptions take ids too; they run over WebSocket, authenticated in connection_init.
    let subscriptions = [
        ("Subscription.seriesChanged(calendarIds)", "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId } }"),
        ("Subscription.occurrencesChanged(calendarIds)", "subscription($c: [ID!]!) { occurrencesChanged(calendarIds: $c, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { removed } }"),
    ];
    for (path, query) in subscriptions {
        let mut sub = almanac_e2e::WsSubscription::start(&app.url, json!({ "authorization": format!("Bearer {mine}") }), query, json!({ "c": [cal] })).await.expect("connected");
        let msg = sub.next(10).await.expect("an answer");
        assert_eq!(msg["payload"]["errors"][0]["extensions"]["code"], json!("NOT_FOUND"), "{path} leaked: {msg}");
    }
    let covered: BTreeSet<String> =
        cases.iter().flat_map(|(p, _, _)| p.iter().map(|s| s.to_string())).chain(subscriptions.iter().map(|(p, _)| p.to_string())).collect();
    let required = id_taking_paths();
    let missing: Vec<&String> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "id-taking fields without a cross-tenant case: {missing:?}");

    for (paths, query, vars) in &cases {
        let body = q(&mine, query, vars.clone()).await;
        let leaked = body["data"].to_string();
        let code = code(&body);
        let denied = matches!(code, Some("NOT_FOUND")) || body["data"]["node"].is_null() && query.contains("node(");
        assert!(denied, "{paths:?} leaked: {body}");
        assert!(!leaked.contains("secret") && !leaked.contains(&ser[4..]), "{paths:?} returned their data: {body}");
    }
    // Lists show nothing of theirs.
    let body = q(&mine, "{ calendars { edges { node { id } } } apiKeys { id } }", json!({})).await;
    assert!(!body.to_string().contains(&cal) && !body.to_string().contains(&key));
    let body = q(&mine, "{ providerAccounts { id } calendarLinks { id } }", json!({})).await;
    assert!(!body.to_string().contains(&their_con.id) && !body.to_string().contains(&their_link.id), "{body}");
    assert!(body.to_string().contains(&my_con.id), "my own connection is listed: {body}");
    // Every kind of Node resolves for its own organization (so the nulls above are tenancy, not
    // unknown ids).
    for (id, typename) in [(&cal, "Calendar"), (&ser, "Series"), (&occ, "Occurrence"), (&key, "ApiKey"), (&feed, "IcsFeed"), (&their_con.id, "ProviderAccount"), (&their_link.id, "CalendarLink")] {
        let body = q(&theirs, "query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": id })).await;
        assert_eq!(body["data"]["node"], json!({ "__typename": typename, "id": id }), "{body}");
    }
    assert!(key.starts_with("key_"), "API key ids have a prefix: {key}");
    let bare = q(&theirs, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": key.trim_start_matches("key_") })).await;
    assert_eq!(bare["data"]["node"]["id"], json!(key), "the old unprefixed id still resolves: {bare}");
    let their_org_id: almanac_domain::OrganizationId = their_org.parse().expect("org id");
    assert!(app.state.store.link(their_org_id, &their_link.id).await.expect("db").is_some(), "their link was not unlinked");
    // And their objects are untouched.
    let body = q(&theirs, "query($s: ID!) { series(id: $s) { title version } }", json!({ "s": ser })).await;
    assert_eq!(body["data"]["series"], json!({ "title": "secret", "version": 1 }));
    let body = q(&theirs, "query($c: ID!) { calendar(id: $c) { icsFeeds { id revokedAt } series { edges { node { id } } } } }", json!({ "c": cal })).await;
    assert_eq!(body["data"]["calendar"]["icsFeeds"], json!([{ "id": feed, "revokedAt": null }]), "{body}");
    assert_eq!(body["data"]["calendar"]["series"]["edges"].as_array().map(Vec::len), Some(1), "nothing was imported into their calendar: {body}");
}

engine_tests_with!(required;
    requests_without_credentials_are_unauthenticated_in_required_mode,
    api_keys_have_scopes_and_can_be_revoked,
    jwts_from_the_host_app_name_the_organization_and_user,
    no_id_taking_field_crosses_organizations,
);
