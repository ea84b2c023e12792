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
    s.jwt_rs256_public_key = Some(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/jwt/test-rs256-public.pem"
        )
        .into(),
    );
}

fn jwt(alg: jsonwebtoken::Algorithm, claims: Value) -> String {
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => {
            jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes())
        }
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
            "../../data/jwt/test-rs256-private.pem"
        ))
        .expect("test key"),
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
const NEW_CAL: &str =
    "mutation { createCalendar(input: { name: \"x\", timeZone: \"UTC\" }) { calendar { id } } }";

async fn requests_without_credentials_are_unauthenticated_in_required_mode(app: TestApp) {
    let body = app.graphql(VIEWER, json!({})).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
    let res = app
        .http
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 401);
    for bad in [
        "alm_nope_nope",
        "not-a-token",
        &jwt(
            jsonwebtoken::Algorithm::HS256,
            json!({ "org": "org_x", "exp": exp() }),
        ),
    ] {
        assert_eq!(
            code(&app.graphql_as(Some(bad), VIEWER, json!({})).await),
            Some("UNAUTHENTICATED"),
            "{bad}"
        );
    }
    let expired = jwt(
        jsonwebtoken::Algorithm::HS256,
        json!({ "org": almanac_domain::OrganizationId::DEFAULT.to_string(), "exp": 1 }),
    );
    assert_eq!(
        code(&app.graphql_as(Some(&expired), VIEWER, json!({})).await),
        Some("UNAUTHENTICATED")
    );
}

async fn api_keys_have_scopes_and_can_be_revoked(app: TestApp) {
    let (org, key) = app.organization_with_key("acme", "read,write").await;
    let body = app.graphql_as(Some(&key), VIEWER, json!({})).await;
    assert_eq!(body["data"]["viewer"]["organizationId"], json!(org));
    // A read-only key created through the API reads but cannot write.
    let body = app.graphql_as(Some(&key), "mutation { createApiKey(input: { name: \"ro\", scopes: \"read\" }) { apiKey { id scopes } secret } }", json!({})).await;
    let ro = body["data"]["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let ro_id = body["data"]["createApiKey"]["apiKey"]["id"].clone();
    assert_eq!(
        body["data"]["createApiKey"]["apiKey"]["scopes"],
        json!("read")
    );
    assert!(app
        .graphql_as(Some(&ro), "{ calendars { edges { cursor } } }", json!({}))
        .await["errors"]
        .is_null());
    let body = app.graphql_as(Some(&ro), NEW_CAL, json!({})).await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    // Keys are listed without secrets, and revocation takes effect at once.
    let body = app
        .graphql_as(
            Some(&key),
            "{ apiKeys { id name scopes revokedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["apiKeys"].as_array().map(Vec::len), Some(2));
    assert!(
        !body.to_string().contains(&ro[10..]),
        "secrets are never listed"
    );
    app.graphql_as(
        Some(&key),
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } } }",
        json!({ "i": { "id": ro_id } }),
    )
    .await;
    assert_eq!(
        code(&app.graphql_as(Some(&ro), VIEWER, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    // Another organization cannot revoke this one's key.
    let (_, other) = app.organization_with_key("other", "read,write").await;
    let body = app
        .graphql_as(
            Some(&other),
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id } } }",
            json!({ "i": { "id": ro_id } }),
        )
        .await;
    assert_eq!(code(&body), Some("NOT_FOUND"));
}

async fn jwts_from_the_host_app_name_the_organization_and_user(app: TestApp) {
    let (org, _) = app.organization_with_key("acme", "read").await;
    for alg in [
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::RS256,
    ] {
        let token = jwt(alg, json!({ "org": org, "sub": "user-42", "exp": exp() }));
        let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
        assert_eq!(
            body["data"]["viewer"]["organizationId"],
            json!(org),
            "{alg:?}"
        );
        assert_eq!(body["data"]["viewer"]["user"], json!("user-42"));
        assert!(app.graphql_as(Some(&token), NEW_CAL, json!({})).await["errors"].is_null());
    }
    let read_only = jwt(
        jsonwebtoken::Algorithm::RS256,
        json!({ "org": org, "sub": "u", "scope": "read", "exp": exp() }),
    );
    assert_eq!(
        code(&app.graphql_as(Some(&read_only), NEW_CAL, json!({})).await),
        Some("FORBIDDEN")
    );
    // A token signed with another key is refused.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "org": org, "exp": exp() }),
        &jsonwebtoken::EncodingKey::from_secret(b"wrong"),
    )
    .expect("jwt");
    assert_eq!(
        code(&app.graphql_as(Some(&forged), VIEWER, json!({})).await),
        Some("UNAUTHENTICATED")
    );
}

/// `nbf` is honoured (with no leeway by default), and a token for an organization the server does
/// not have is refused as UNAUTHENTICATED on reads and writes, with nothing written.
async fn jwt_not_before_and_unknown_organizations_are_refused(app: TestApp) {
    let (org, key) = app.organization_with_key("acme", "read,write").await;
    let now = chrono::Utc::now().timestamp();
    let hs = |claims: Value| jwt(jsonwebtoken::Algorithm::HS256, claims);
    for (what, nbf) in [("a day ahead", now + 86_400), ("a minute ahead", now + 60)] {
        let token = hs(json!({ "org": org, "exp": exp(), "nbf": nbf }));
        let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
        assert_eq!(code(&body), Some("UNAUTHENTICATED"), "nbf {what}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nbf")),
            "says why: {body}"
        );
        assert_eq!(
            code(&app.graphql_as(Some(&token), NEW_CAL, json!({})).await),
            Some("UNAUTHENTICATED"),
            "nbf {what}"
        );
    }
    for (what, nbf) in [("an hour ago", now - 3600), ("now", now)] {
        let token = hs(json!({ "org": org, "exp": exp(), "nbf": nbf }));
        let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
        assert_eq!(
            body["data"]["viewer"]["organizationId"],
            json!(org),
            "nbf {what}: {body}"
        );
    }

    let nowhere = almanac_domain::OrganizationId::from_uuid(uuid::Uuid::now_v7()).to_string();
    for alg in [
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::RS256,
    ] {
        let token = jwt(alg, json!({ "org": nowhere, "sub": "ghost", "exp": exp() }));
        for doc in [VIEWER, NEW_CAL] {
            let body = app.graphql_as(Some(&token), doc, json!({})).await;
            assert_eq!(
                code(&body),
                Some("UNAUTHENTICATED"),
                "{alg:?} {doc}: {body}"
            );
            assert!(
                body["data"].is_null() || body["data"]["createCalendar"].is_null(),
                "{body}"
            );
        }
    }
    let missing: almanac_domain::OrganizationId = nowhere.parse().expect("org id");
    assert!(
        !app.state
            .store
            .organization_exists(missing)
            .await
            .expect("db"),
        "the refused write created no organization"
    );
    assert!(
        app.state
            .store
            .calendars_page(missing, None, 10)
            .await
            .expect("db")
            .is_empty(),
        "and no calendar"
    );
    // The organization's own credentials still work after the refusals.
    let body = app
        .graphql_as(Some(&key), "{ calendars { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["calendars"]["edges"],
        json!([]),
        "nothing was written: {body}"
    );
}

/// Every (type, field, argument path) in schema.graphql that takes an ID.
fn id_taking_paths() -> BTreeSet<String> {
    use async_graphql_parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
        .expect("schema");
    let doc = async_graphql_parser::parse_schema(&sdl).expect("schema parses");
    let mut inputs = std::collections::HashMap::new();
    let mut objects = Vec::new();
    for def in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            let name = t.node.name.node.to_string();
            match &t.node.kind {
                TypeKind::InputObject(io) => {
                    inputs.insert(
                        name,
                        io.fields
                            .iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone()))
                            .collect::<Vec<_>>(),
                    );
                }
                TypeKind::Object(o) => objects.push((
                    name,
                    o.fields
                        .iter()
                        .map(|f| {
                            (
                                f.node.name.node.to_string(),
                                f.node
                                    .arguments
                                    .iter()
                                    .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                                    .collect::<Vec<_>>(),
                            )
                        })
                        .collect::<Vec<_>>(),
                )),
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
    fn walk(
        prefix: String,
        t: &Type,
        inputs: &std::collections::HashMap<String, Vec<(String, Type)>>,
        out: &mut BTreeSet<String>,
        depth: usize,
    ) {
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
    let cal = d["data"]["createCalendar"]["calendar"]["id"]
        .as_str()
        .expect("cal")
        .to_string();
    let d = q(&theirs, "mutation($c: ID!) { createSeries(input: { calendarId: $c, title: \"secret\", start: \"2026-01-05T09:00:00\", duration: \"PT1H\", recurrence: { rrule: \"FREQ=DAILY\" } }) { series { id } } }", json!({ "c": cal })).await;
    let ser = d["data"]["createSeries"]["series"]["id"]
        .as_str()
        .expect("ser")
        .to_string();
    let d = q(&theirs, "query($c: [ID!]!) { occurrences(calendarIds: $c, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\") { edges { node { id } } } }", json!({ "c": [cal] })).await;
    let occ = d["data"]["occurrences"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("occ")
        .to_string();
    let d = q(&theirs, "{ apiKeys { id } }", json!({})).await;
    let key = d["data"]["apiKeys"][0]["id"]
        .as_str()
        .expect("key")
        .to_string();
    let d = q(
        &theirs,
        "mutation($c: ID!) { createIcsFeed(input: { calendarId: $c }) { feed { id } } }",
        json!({ "c": cal }),
    )
    .await;
    let feed = d["data"]["createIcsFeed"]["feed"]["id"]
        .as_str()
        .expect("feed")
        .to_string();
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
    let (my_con, their_con) = (
        connection(&my_org, "me@example.com"),
        connection(&their_org, "them@example.com"),
    );
    // A RemoteCalendar's global id: the account and the provider's calendar id.
    let their_remote_calendar = {
        use base64::Engine;
        format!(
            "rcal_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{}\nthem@example.com", their_con.id))
        )
    };
    app.state
        .store
        .upsert_connection(&my_con)
        .await
        .expect("my connection");
    app.state
        .store
        .upsert_connection(&their_con)
        .await
        .expect("their connection");
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
    app.state
        .store
        .insert_link(&their_link)
        .await
        .expect("their link");
    let d = q(&mine, "mutation { createCalendar(input: { name: \"mine\", timeZone: \"UTC\" }) { calendar { id } } }", json!({})).await;
    let my_cal = d["data"]["createCalendar"]["calendar"]["id"]
        .as_str()
        .expect("my cal")
        .to_string();
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
    for (field, input) in [
        "editOccurrence",
        "previewEditOccurrence",
        "deleteOccurrence",
        "previewDeleteOccurrence",
        "restoreOccurrence",
        "setOccurrenceStatus",
    ]
    .iter()
    .zip([
        "EditOccurrenceInput",
        "EditOccurrenceInput",
        "DeleteOccurrenceInput",
        "DeleteOccurrenceInput",
        "RestoreOccurrenceInput",
        "SetOccurrenceStatusInput",
    ]) {
        let extra = match input {
            "EditOccurrenceInput" => {
                json!({ "scope": "THIS", "expectedVersion": 1, "changes": { "title": "x" } })
            }
            "DeleteOccurrenceInput" => json!({ "scope": "THIS", "expectedVersion": 1 }),
            "SetOccurrenceStatusInput" => json!({ "expectedVersion": 1, "locked": true }),
            _ => json!({ "expectedVersion": 1 }),
        };
        for (paths, occurrence) in [
            (
                vec![format!("Mutation.{field}(input.occurrence.occurrenceId)")],
                occ_ref.clone(),
            ),
            (
                vec![format!("Mutation.{field}(input.occurrence.seriesId)")],
                rid_ref.clone(),
            ),
        ] {
            let mut i = extra.clone();
            i["occurrence"] = occurrence;
            let query: &'static str = Box::leak(
                format!("mutation($i: {input}!) {{ {field}(input: $i) {{ __typename }} }}")
                    .into_boxed_str(),
            );
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
        let mut sub = almanac_e2e::WsSubscription::start(
            &app.url,
            json!({ "authorization": format!("Bearer {mine}") }),
            query,
            json!({ "c": [cal] }),
        )
        .await
        .expect("connected");
        let msg = sub.next(10).await.expect("an answer");
        assert_eq!(
            msg["payload"]["errors"][0]["extensions"]["code"],
            json!("NOT_FOUND"),
            "{path} leaked: {msg}"
        );
    }
    let covered: BTreeSet<String> = cases
        .iter()
        .flat_map(|(p, _, _)| p.iter().map(|s| s.to_string()))
        .chain(subscriptions.iter().map(|(p, _)| p.to_string()))
        .collect();
    let required = id_taking_paths();
    let missing: Vec<&String> = required.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "id-taking fields without a cross-tenant case: {missing:?}"
    );

    for (paths, query, vars) in &cases {
        let body = q(&mine, query, vars.clone()).await;
        let leaked = body["data"].to_string();
        let code = code(&body);
        let denied = matches!(code, Some("NOT_FOUND"))
            || body["data"]["node"].is_null() && query.contains("node(");
        assert!(denied, "{paths:?} leaked: {body}");
        assert!(
            !leaked.contains("secret") && !leaked.contains(&ser[4..]),
            "{paths:?} returned their data: {body}"
        );
    }
    // Lists show nothing of theirs.
    let body = q(
        &mine,
        "{ calendars { edges { node { id } } } apiKeys { id } }",
        json!({}),
    )
    .await;
    assert!(!body.to_string().contains(&cal) && !body.to_string().contains(&key));
    let body = q(
        &mine,
        "{ providerAccounts { id } calendarLinks { id } }",
        json!({}),
    )
    .await;
    assert!(
        !body.to_string().contains(&their_con.id) && !body.to_string().contains(&their_link.id),
        "{body}"
    );
    assert!(
        body.to_string().contains(&my_con.id),
        "my own connection is listed: {body}"
    );
    // Every kind of Node resolves for its own organization (so the nulls above are tenancy, not
    // unknown ids).
    for (id, typename) in [
        (&cal, "Calendar"),
        (&ser, "Series"),
        (&occ, "Occurrence"),
        (&key, "ApiKey"),
        (&feed, "IcsFeed"),
        (&their_con.id, "ProviderAccount"),
        (&their_link.id, "CalendarLink"),
    ] {
        let body = q(
            &theirs,
            "query($id: ID!) { node(id: $id) { __typename id } }",
            json!({ "id": id }),
        )
        .await;
        assert_eq!(
            body["data"]["node"],
            json!({ "__typename": typename, "id": id }),
            "{body}"
        );
    }
    assert!(key.starts_with("key_"), "API key ids have a prefix: {key}");
    let bare = q(
        &theirs,
        "query($id: ID!) { node(id: $id) { id } }",
        json!({ "id": key.trim_start_matches("key_") }),
    )
    .await;
    assert_eq!(
        bare["data"]["node"]["id"],
        json!(key),
        "the old unprefixed id still resolves: {bare}"
    );
    let their_org_id: almanac_domain::OrganizationId = their_org.parse().expect("org id");
    assert!(
        app.state
            .store
            .link(their_org_id, &their_link.id)
            .await
            .expect("db")
            .is_some(),
        "their link was not unlinked"
    );
    // And their objects are untouched.
    let body = q(
        &theirs,
        "query($s: ID!) { series(id: $s) { title version } }",
        json!({ "s": ser }),
    )
    .await;
    assert_eq!(
        body["data"]["series"],
        json!({ "title": "secret", "version": 1 })
    );
    let body = q(&theirs, "query($c: ID!) { calendar(id: $c) { icsFeeds { id revokedAt } series { edges { node { id } } } } }", json!({ "c": cal })).await;
    assert_eq!(
        body["data"]["calendar"]["icsFeeds"],
        json!([{ "id": feed, "revokedAt": null }]),
        "{body}"
    );
    assert_eq!(
        body["data"]["calendar"]["series"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing was imported into their calendar: {body}"
    );
}

engine_tests_with!(required;
    requests_without_credentials_are_unauthenticated_in_required_mode,
    api_keys_have_scopes_and_can_be_revoked,
    jwts_from_the_host_app_name_the_organization_and_user,
    jwt_not_before_and_unknown_organizations_are_refused,
    no_id_taking_field_crosses_organizations,
);

/// `--jwt-leeway-seconds` widens `exp` and `nbf` by the same number of seconds, and no more.
mod jwt_leeway {
    use super::*;

    fn two_minutes(s: &mut Settings) {
        required(s);
        s.jwt_leeway_seconds = 120;
    }

    async fn a_jwt_is_accepted_within_the_leeway_and_refused_beyond_it(app: TestApp) {
        let (org, _) = app.organization_with_key("acme", "read").await;
        let now = chrono::Utc::now().timestamp();
        let cases = [
            (
                "nbf a minute ahead",
                json!({ "org": org, "exp": now + 600, "nbf": now + 60 }),
                true,
            ),
            (
                "exp a minute ago",
                json!({ "org": org, "exp": now - 60 }),
                true,
            ),
            (
                "nbf an hour ahead",
                json!({ "org": org, "exp": now + 7200, "nbf": now + 3600 }),
                false,
            ),
            (
                "exp ten minutes ago",
                json!({ "org": org, "exp": now - 600 }),
                false,
            ),
        ];
        for (what, claims, accepted) in cases {
            let body = app
                .graphql_as(
                    Some(&jwt(jsonwebtoken::Algorithm::HS256, claims)),
                    VIEWER,
                    json!({}),
                )
                .await;
            if accepted {
                assert_eq!(
                    body["data"]["viewer"]["organizationId"],
                    json!(org),
                    "{what}: {body}"
                );
            } else {
                assert_eq!(code(&body), Some("UNAUTHENTICATED"), "{what}: {body}");
            }
        }
    }

    engine_tests_with!(two_minutes; a_jwt_is_accepted_within_the_leeway_and_refused_beyond_it);
}

// ---------------------------------------------------------------------------------------------
// Authorization on every transport: POST, GET, WebSocket (graphql-transport-ws and the legacy
// subscriptions-transport-ws) and SSE (/graphql/stream). Raw clients, so the tests see exactly
// what goes over the wire: messages, close codes and reasons, SSE events.

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a raw WebSocket client saw next.
#[derive(Debug)]
enum Seen {
    Message(Value),
    Closed(u16, String),
    /// Nothing within the wait (a bound for a hung test, never a timing assertion).
    Nothing,
}

struct RawWs(Socket);

impl RawWs {
    async fn connect(app: &TestApp, protocol: &str) -> RawWs {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/graphql/ws", app.url.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
        let (socket, res) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgraded");
        assert_eq!(
            res.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        RawWs(socket)
    }

    async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::text(v.to_string()))
            .await
            .expect("sent");
    }

    async fn seen(&mut self, secs: u64) -> Seen {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return Seen::Nothing,
                Ok(None) => return Seen::Closed(1006, "closed without a close frame".into()),
                Ok(Some(Err(e))) => return Seen::Closed(1006, e.to_string()),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Seen::Message(serde_json::from_str(t.as_str()).expect("JSON message"))
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    return f.map_or(Seen::Closed(1005, String::new()), |f| {
                        Seen::Closed(u16::from(f.code), f.reason.as_str().to_string())
                    })
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The close, skipping any messages before it: (code, reason).
    async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.seen(60).await {
                Seen::Closed(code, reason) => return (code, reason),
                Seen::Message(_) => {}
                Seen::Nothing => panic!("the socket stayed open"),
            }
        }
    }

    /// A graphql-transport-ws connection, acknowledged.
    async fn init(app: &TestApp, token: Option<&str>) -> RawWs {
        let mut ws = RawWs::connect(app, "graphql-transport-ws").await;
        let payload = token.map_or(
            json!({}),
            |t| json!({ "authorization": format!("Bearer {t}") }),
        );
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match ws.seen(30).await {
            Seen::Message(m) if m["type"] == "connection_ack" => ws,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next result payload of operation `id` (other operations' messages are skipped).
    async fn result(&mut self, id: &str) -> Value {
        loop {
            match self.seen(30).await {
                Seen::Message(m)
                    if m["id"] == id && (m["type"] == "next" || m["type"] == "data") =>
                {
                    return m["payload"].clone()
                }
                Seen::Message(_) => {}
                other => panic!("expected a result for {id}, got {other:?}"),
            }
        }
    }

    /// Runs a query or mutation on the socket: its result, after which the server completes it.
    async fn run(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.subscribe(id, query, variables).await;
        let payload = self.result(id).await;
        match self.seen(30).await {
            Seen::Message(m) if m["id"] == id && m["type"] == "complete" => payload,
            other => panic!("expected {id} to complete, got {other:?}"),
        }
    }
}

/// A `text/event-stream` response read event by event.
struct SseStream {
    res: reqwest::Response,
    buf: String,
    /// The last event as sent.
    last: String,
}

impl SseStream {
    async fn post(
        app: &TestApp,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> reqwest::Response {
        let mut req = app
            .http
            .post(format!("{}/graphql/stream", app.url))
            .header("accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("sent")
    }

    async fn open(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> SseStream {
        let res = Self::post(app, token, query, variables).await;
        assert_eq!(res.status(), 200);
        assert!(res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream")));
        SseStream {
            res,
            buf: String::new(),
            last: String::new(),
        }
    }

    /// The next event (name, data as JSON or null), or None when the stream ended.
    async fn event(&mut self) -> Option<(String, Value)> {
        self.event_within(60)
            .await
            .expect("the stream stayed silent")
    }

    /// The next event, or Err when none came within `secs` seconds.
    async fn event_within(
        &mut self,
        secs: u64,
    ) -> Result<Option<(String, Value)>, tokio::time::error::Elapsed> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !event.is_empty() {
                    self.last = block;
                    return Ok(Some((
                        event,
                        serde_json::from_str(&data).unwrap_or(Value::Null),
                    )));
                }
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await? {
                Ok(Some(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return Ok(None),
            }
        }
    }

    /// The next `next` event's payload.
    async fn next(&mut self) -> Value {
        match self.event().await {
            Some((e, data)) if e == "next" => data,
            other => panic!("expected a next event, got {other:?}"),
        }
    }

    async fn completes(&mut self) {
        assert_eq!(
            self.event().await.map(|(e, _)| e),
            Some("complete".to_string())
        );
        // With an empty `data:` line, or EventSource would not fire it.
        assert_eq!(self.last, "event: complete\ndata: \n\n");
        assert!(
            self.event().await.is_none(),
            "the stream ends after complete"
        );
    }
}

fn error_code(payload: &Value) -> Option<&str> {
    payload["errors"][0]["extensions"]["code"].as_str()
}

const CREATE_KEY: &str = "mutation { createApiKey(input: { name: \"escalate\", scopes: \"read,write\" }) { apiKey { id } secret } }";
const SERIES_CHANGED: &str =
    "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId } }";

/// An organization with a read-write key, and its read-only credentials: an API key created
/// through the API with `read`, and a JWT with `scope: "read"`.
async fn read_only_credentials(app: &TestApp) -> (String, Vec<(&'static str, String)>) {
    let (org, admin) = app.organization_with_key("acme", "read,write").await;
    let body = app
        .graphql_as(
            Some(&admin),
            "mutation { createApiKey(input: { name: \"ro\", scopes: \"read\" }) { secret } }",
            json!({}),
        )
        .await;
    let key = body["data"]["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let token = jwt(
        jsonwebtoken::Algorithm::HS256,
        json!({ "org": org, "sub": "reader", "scope": "read", "exp": exp() }),
    );
    (
        admin,
        vec![("read-only API key", key), ("read-only JWT", token)],
    )
}

/// What the organization holds that the refused mutations would have changed.
async fn holdings(app: &TestApp, admin: &str) -> (usize, usize) {
    let body = app
        .graphql_as(
            Some(admin),
            "{ calendars(first: 100) { edges { cursor } } apiKeys { id } }",
            json!({}),
        )
        .await;
    (
        body["data"]["calendars"]["edges"]
            .as_array()
            .map_or(0, Vec::len),
        body["data"]["apiKeys"].as_array().map_or(0, Vec::len),
    )
}

async fn a_read_only_credential_cannot_write_over_post(app: TestApp) {
    let (admin, creds) = read_only_credentials(&app).await;
    let before = holdings(&app, &admin).await;
    for (what, cred) in &creds {
        for mutation in [NEW_CAL, CREATE_KEY] {
            let body = app.graphql_as(Some(cred), mutation, json!({})).await;
            assert_eq!(code(&body), Some("FORBIDDEN"), "{what}: {body}");
            assert_eq!(body["data"], Value::Null, "{what}: {body}");
        }
        // In a batch the mutation is refused and the query beside it still answers.
        let batch = json!([{ "query": VIEWER }, { "query": CREATE_KEY }]);
        let body: Value = app
            .http
            .post(format!("{}/graphql", app.url))
            .bearer_auth(cred)
            .json(&batch)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            body[0]["data"]["viewer"]["canWrite"],
            json!(false),
            "{what}: {body}"
        );
        assert_eq!(code(&body[1]), Some("FORBIDDEN"), "{what}: {body}");
        // A document with both kinds: the operation chosen by operationName decides.
        let doc = format!(
            "query Who {VIEWER} mutation Escalate {}",
            CREATE_KEY.trim_start_matches("mutation ")
        );
        for (name, refused) in [("Escalate", true), ("Who", false)] {
            let body: Value = app
                .http
                .post(format!("{}/graphql", app.url))
                .bearer_auth(cred)
                .json(&json!({ "query": doc, "operationName": name }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("JSON");
            assert_eq!(
                code(&body) == Some("FORBIDDEN"),
                refused,
                "{what} {name}: {body}"
            );
            assert_eq!(
                body["data"]["viewer"]["canWrite"].is_boolean(),
                !refused,
                "{what} {name}: {body}"
            );
        }
    }
    assert_eq!(holdings(&app, &admin).await, before, "nothing was written");
}

async fn a_read_only_credential_cannot_write_over_get(app: TestApp) {
    let (admin, creds) = read_only_credentials(&app).await;
    let before = holdings(&app, &admin).await;
    for (what, cred) in &creds {
        let get = |q: &str| {
            app.http
                .get(format!("{}/graphql", app.url))
                .query(&[("query", q)])
                .bearer_auth(cred)
                .send()
        };
        let res = get(VIEWER).await.expect("sent");
        assert_eq!(res.status(), 200, "{what}");
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(
            body["data"]["viewer"]["canWrite"],
            json!(false),
            "{what}: {body}"
        );
        for mutation in [NEW_CAL, CREATE_KEY] {
            let res = get(mutation).await.expect("sent");
            assert_eq!(res.status(), 405, "{what}");
            let body: Value = res.json().await.expect("JSON");
            assert!(
                body["data"].is_null() && body["errors"][0]["extensions"]["code"].is_string(),
                "{what}: {body}"
            );
        }
    }
    assert_eq!(holdings(&app, &admin).await, before, "nothing was written");
}

async fn a_read_only_credential_cannot_write_over_websocket(app: TestApp) {
    let (admin, creds) = read_only_credentials(&app).await;
    let before = holdings(&app, &admin).await;
    for (what, cred) in &creds {
        let mut ws = RawWs::init(&app, Some(cred)).await;
        let p = ws.run("read", VIEWER, json!({})).await;
        assert_eq!(p["data"]["viewer"]["canWrite"], json!(false), "{what}: {p}");
        for (id, mutation) in [("cal", NEW_CAL), ("key", CREATE_KEY)] {
            let p = ws.run(id, mutation, json!({})).await;
            assert_eq!(error_code(&p), Some("FORBIDDEN"), "{what}: {p}");
            assert_eq!(p["data"], Value::Null, "{what}: {p}");
        }
        // The legacy protocol goes through the same check.
        let mut legacy = RawWs::connect(&app, "graphql-ws").await;
        legacy.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {cred}") } })).await;
        assert!(
            matches!(legacy.seen(30).await, Seen::Message(m) if m["type"] == "connection_ack"),
            "{what}"
        );
        legacy
            .send(json!({ "id": "1", "type": "start", "payload": { "query": CREATE_KEY } }))
            .await;
        let p = legacy.result("1").await;
        assert_eq!(error_code(&p), Some("FORBIDDEN"), "{what}: {p}");
    }
    assert_eq!(holdings(&app, &admin).await, before, "nothing was written");
}

async fn a_read_only_credential_cannot_write_over_sse(app: TestApp) {
    let (admin, creds) = read_only_credentials(&app).await;
    let before = holdings(&app, &admin).await;
    for (what, cred) in &creds {
        let mut s = SseStream::open(&app, Some(cred), VIEWER, json!({})).await;
        assert_eq!(
            s.next().await["data"]["viewer"]["canWrite"],
            json!(false),
            "{what}"
        );
        s.completes().await;
        for mutation in [NEW_CAL, CREATE_KEY] {
            let mut s = SseStream::open(&app, Some(cred), mutation, json!({})).await;
            let p = s.next().await;
            assert_eq!(error_code(&p), Some("FORBIDDEN"), "{what}: {p}");
            assert_eq!(p["data"], Value::Null, "{what}: {p}");
            s.completes().await;
            let res = app
                .http
                .get(format!("{}/graphql/stream", app.url))
                .query(&[("query", mutation)])
                .header("accept", "text/event-stream")
                .bearer_auth(cred)
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 405, "{what}: a mutation in a URL");
        }
    }
    // GET takes the operation in the URL.
    let res = app
        .http
        .get(format!("{}/graphql/stream", app.url))
        .query(&[("query", VIEWER)])
        .header("accept", "text/event-stream")
        .bearer_auth(&creds[0].1)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let mut s = SseStream {
        res,
        buf: String::new(),
        last: String::new(),
    };
    assert_eq!(s.next().await["data"]["viewer"]["canWrite"], json!(false));
    s.completes().await;
    // Refused credentials are refused before the stream starts, as on /graphql.
    let res = SseStream::post(&app, None, VIEWER, json!({})).await;
    assert_eq!(res.status(), 401);
    let res = SseStream::post(&app, Some("alm_nope_nope"), VIEWER, json!({})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        code(&res.json::<Value>().await.expect("JSON")),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(holdings(&app, &admin).await, before, "nothing was written");
}

/// graphql-transport-ws close codes: 4401 without a credential (required mode) or before
/// `connection_init`, 4403 for a refused one; the reason carries the HTTP `extensions.code`.
async fn websocket_close_codes_follow_graphql_transport_ws(app: TestApp) {
    let (org, key) = app.organization_with_key("acme", "read,write").await;
    let init = |payload: Value| json!({ "type": "connection_init", "payload": payload });
    let mut ws = RawWs::connect(&app, "graphql-transport-ws").await;
    ws.send(init(json!({}))).await;
    let (c, reason) = ws.closed().await;
    assert_eq!(
        (c, reason.starts_with("UNAUTHENTICATED: ")),
        (4401, true),
        "{reason}"
    );
    let expired = jwt(
        jsonwebtoken::Algorithm::HS256,
        json!({ "org": org, "exp": chrono::Utc::now().timestamp() - 5 }),
    );
    for bad in ["alm_nope_nope", "not-a-token", &expired] {
        let mut ws = RawWs::connect(&app, "graphql-transport-ws").await;
        ws.send(init(json!({ "authorization": format!("Bearer {bad}") })))
            .await;
        let (c, reason) = ws.closed().await;
        assert_eq!(
            (c, reason.starts_with("UNAUTHENTICATED: ")),
            (4403, true),
            "{bad}: {reason}"
        );
    }
    // Subscribing before connection_init.
    let mut ws = RawWs::connect(&app, "graphql-transport-ws").await;
    ws.subscribe("1", VIEWER, json!({})).await;
    assert_eq!(ws.closed().await.0, 4401);
    // A second connection_init, and a reused operation id.
    let mut ws = RawWs::init(&app, Some(&key)).await;
    ws.send(init(json!({ "authorization": format!("Bearer {key}") })))
        .await;
    assert_eq!(ws.closed().await.0, 4429);
    let cal = app.graphql_as(Some(&key), NEW_CAL, json!({})).await["data"]["createCalendar"]
        ["calendar"]["id"]
        .clone();
    let mut ws = RawWs::init(&app, Some(&key)).await;
    ws.subscribe("s", SERIES_CHANGED, json!({ "c": [cal] }))
        .await;
    ws.subscribe("s", SERIES_CHANGED, json!({ "c": [cal] }))
        .await;
    assert_eq!(ws.closed().await.0, 4409);
    // Not JSON.
    let mut ws = RawWs::init(&app, Some(&key)).await;
    ws.send(json!("hello")).await;
    assert_eq!(ws.closed().await.0, 4400);
    // subscriptions-transport-ws has a message for it: connection_error with the code.
    let mut legacy = RawWs::connect(&app, "graphql-ws").await;
    legacy
        .send(init(json!({ "authorization": "Bearer alm_nope_nope" })))
        .await;
    match legacy.seen(30).await {
        Seen::Message(m) => assert_eq!(
            (
                m["type"].as_str(),
                m["payload"]["extensions"]["code"].as_str()
            ),
            (Some("connection_error"), Some("UNAUTHENTICATED")),
            "{m}"
        ),
        other => panic!("expected connection_error, got {other:?}"),
    }
    assert_eq!(legacy.closed().await.0, 4403);
}

/// Scopes: one syntax (commas or spaces) for keys and JWTs; unknown names refused where a key is
/// created; a corrupt stored value is an error, not a guess.
async fn scopes_share_one_syntax_and_unknown_names_are_refused(app: TestApp) {
    let (org, admin) = app.organization_with_key("acme", "read,write").await;
    let create = |scopes: &str| {
        let (admin, scopes) = (admin.clone(), scopes.to_string());
        let app = &app;
        async move {
            app.graphql_as(Some(&admin), "mutation($s: String!) { createApiKey(input: { name: \"k\", scopes: $s }) { apiKey { id scopes } secret } }", json!({ "s": scopes })).await
        }
    };
    for (asked, stored) in [
        ("read write", "read write"),
        ("read,write", "read write"),
        ("write", "read write"),
        ("read", "read"),
        (" read , ", "read"),
    ] {
        let body = create(asked).await;
        assert_eq!(
            body["data"]["createApiKey"]["apiKey"]["scopes"],
            json!(stored),
            "{asked:?}: {body}"
        );
    }
    let before = holdings(&app, &admin).await;
    for bad in ["read,admin", "read;write", "", "root"] {
        let body = create(bad).await;
        assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{bad:?}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!("scopes"),
            "{bad:?}: {body}"
        );
    }
    assert_eq!(holdings(&app, &admin).await, before, "no key was created");
    for (scope, writes) in [
        ("read,write", true),
        ("read write", true),
        ("openid profile read", false),
        ("write", true),
    ] {
        let token = jwt(
            jsonwebtoken::Algorithm::HS256,
            json!({ "org": org, "scope": scope, "exp": exp() }),
        );
        let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
        assert_eq!(
            body["data"]["viewer"]["canWrite"],
            json!(writes),
            "{scope:?}: {body}"
        );
    }
    let token = jwt(
        jsonwebtoken::Algorithm::HS256,
        json!({ "org": org, "scope": "openid profile", "exp": exp() }),
    );
    assert_eq!(
        code(&app.graphql_as(Some(&token), VIEWER, json!({})).await),
        Some("UNAUTHENTICATED")
    );
    // A stored value that does not parse.
    let body = create("read").await;
    let (id, secret) = (
        body["data"]["createApiKey"]["apiKey"]["id"]
            .as_str()
            .expect("id")
            .to_string(),
        body["data"]["createApiKey"]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    );
    // Keys are stored under their bare id; the API shows it with its global-id prefix.
    let stored_id = id.strip_prefix("key_").expect("a global API key id");
    let sql = format!("UPDATE api_keys SET scopes = 'read superuser' WHERE id = '{stored_id}'");
    match app.engine {
        almanac_e2e::Engine::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("db");
            sqlx::query(&sql).execute(&mut c).await.expect("update");
        }
        almanac_e2e::Engine::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("db");
            sqlx::query(&sql).execute(&mut c).await.expect("update");
        }
    }
    let res = app
        .http
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&secret)
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 503);
    assert_eq!(
        code(&res.json::<Value>().await.expect("JSON")),
        Some("INTERNAL")
    );
}

/// The tests above on both engines (a module of their own: `engine_tests_with!` names its
/// modules `sqlite` and `postgres`).
mod transports {
    use super::*;

    engine_tests_with!(required;
    a_read_only_credential_cannot_write_over_post,
    a_read_only_credential_cannot_write_over_get,
    a_read_only_credential_cannot_write_over_websocket,
    a_read_only_credential_cannot_write_over_sse,
    websocket_close_codes_follow_graphql_transport_ws,
    scopes_share_one_syntax_and_unknown_names_are_refused,
    );
}

/// A second key of `admin`'s organization, with `scopes`.
async fn another_key(app: &TestApp, admin: &str, scopes: &str) -> (String, String) {
    let body = app.graphql_as(Some(admin), "mutation($s: String!) { createApiKey(input: { name: \"held\", scopes: $s }) { apiKey { id } secret } }", json!({ "s": scopes })).await;
    (
        body["data"]["createApiKey"]["apiKey"]["id"]
            .as_str()
            .expect("id")
            .to_string(),
        body["data"]["createApiKey"]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

async fn revoke(app: &TestApp, admin: &str, id: &str) {
    let body = app
        .graphql_as(
            Some(admin),
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    assert!(
        body["data"]["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
        "{body}"
    );
}

async fn new_series(app: &TestApp, admin: &str, cal: &Value, title: &str) -> String {
    let body = app
        .graphql_as(Some(admin), "mutation($c: ID!, $t: String!) { createSeries(input: { calendarId: $c, title: $t, start: \"2026-01-05T09:00:00\", duration: \"PT1H\" }) { series { id } } }", json!({ "c": cal, "t": title }))
        .await;
    body["data"]["createSeries"]["series"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

/// Open subscriptions re-check their credential (here every second).
mod rechecked {
    use super::*;

    fn required_rechecking_every_second(s: &mut Settings) {
        required(s);
        s.credential_recheck_seconds = 1;
    }

    /// Revoking a key ends its open WebSocket (4403) and SSE streams (a last UNAUTHENTICATED
    /// result, then complete).
    async fn revoking_a_key_ends_its_open_subscriptions(app: TestApp) {
        let (_, admin) = app.organization_with_key("acme", "read,write").await;
        let cal = app.graphql_as(Some(&admin), NEW_CAL, json!({})).await["data"]["createCalendar"]
            ["calendar"]["id"]
            .clone();
        let (id, held) = another_key(&app, &admin, "read").await;
        let mut ws = RawWs::init(&app, Some(&held)).await;
        ws.subscribe("s", SERIES_CHANGED, json!({ "c": [cal] }))
            .await;
        let mut sse =
            SseStream::open(&app, Some(&held), SERIES_CHANGED, json!({ "c": [cal] })).await;
        // Both are live: a change reaches them.
        let mut probes = Vec::new();
        for i in 0..100 {
            probes.push(new_series(&app, &admin, &cal, &format!("probe {i}")).await);
            if let Seen::Message(m) = ws.seen(1).await {
                assert!(
                    probes.contains(
                        &m["payload"]["data"]["seriesChanged"]["seriesId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    ),
                    "{m}"
                );
                break;
            }
        }
        // The stream's subscription may go live after the socket's: probe until it hears one too.
        let p = loop {
            match sse.event_within(1).await {
                Ok(Some((e, data))) if e == "next" => break data,
                Ok(other) => panic!("expected a next event, got {other:?}"),
                Err(_) => probes.push(new_series(&app, &admin, &cal, "late probe").await),
            }
            assert!(probes.len() < 200, "the SSE stream never heard a change");
        };
        assert!(
            probes.contains(
                &p["data"]["seriesChanged"]["seriesId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            ),
            "{p}"
        );
        revoke(&app, &admin, &id).await;
        let (c, reason) = ws.closed().await;
        assert_eq!(c, 4403, "{reason}");
        assert_eq!(reason, "UNAUTHENTICATED: the API key was revoked");
        loop {
            let p = sse.next().await;
            if p["data"]["seriesChanged"].is_object() {
                continue; // a probe's event still in flight
            }
            assert_eq!(error_code(&p), Some("UNAUTHENTICATED"), "{p}");
            break;
        }
        sse.completes().await;
        assert_eq!(
            code(&app.graphql_as(Some(&held), VIEWER, json!({})).await),
            Some("UNAUTHENTICATED")
        );
    }

    /// A JWT's sockets and streams end at its `exp`.
    async fn an_expiring_jwt_ends_its_open_subscriptions(app: TestApp) {
        let (org, admin) = app.organization_with_key("acme", "read,write").await;
        let cal = app.graphql_as(Some(&admin), NEW_CAL, json!({})).await["data"]["createCalendar"]
            ["calendar"]["id"]
            .clone();
        let token = jwt(
            jsonwebtoken::Algorithm::HS256,
            json!({ "org": org, "sub": "u", "exp": chrono::Utc::now().timestamp() + 8 }),
        );
        let mut ws = RawWs::init(&app, Some(&token)).await;
        ws.subscribe("s", SERIES_CHANGED, json!({ "c": [cal] }))
            .await;
        let mut sse =
            SseStream::open(&app, Some(&token), SERIES_CHANGED, json!({ "c": [cal] })).await;
        let (c, reason) = ws.closed().await;
        assert_eq!(
            (c, reason.as_str()),
            (4403, "UNAUTHENTICATED: the JWT expired")
        );
        let p = sse.next().await;
        assert_eq!(error_code(&p), Some("UNAUTHENTICATED"), "{p}");
        sse.completes().await;
        assert_eq!(
            code(&app.graphql_as(Some(&token), VIEWER, json!({})).await),
            Some("UNAUTHENTICATED")
        );
    }

    engine_tests_with!(required_rechecking_every_second; revoking_a_key_ends_its_open_subscriptions, an_expiring_jwt_ends_its_open_subscriptions);
}

/// Without a periodic re-check in the way, a new operation re-checks the credential itself.
mod per_operation {
    use super::*;

    fn required_rechecking_hourly(s: &mut Settings) {
        required(s);
        s.credential_recheck_seconds = 3600;
    }

    async fn a_new_operation_on_a_socket_whose_key_was_revoked_is_refused(app: TestApp) {
        let (_, admin) = app.organization_with_key("acme", "read,write").await;
        let (id, held) = another_key(&app, &admin, "read,write").await;
        let mut ws = RawWs::init(&app, Some(&held)).await;
        let p = ws.run("1", VIEWER, json!({})).await;
        assert_eq!(p["data"]["viewer"]["canWrite"], json!(true), "{p}");
        let before = holdings(&app, &admin).await;
        revoke(&app, &admin, &id).await;
        ws.subscribe("2", NEW_CAL, json!({})).await;
        assert_eq!(
            ws.closed().await,
            (4403, "UNAUTHENTICATED: the API key was revoked".to_string())
        );
        assert_eq!(holdings(&app, &admin).await, before, "nothing was written");
    }

    engine_tests_with!(required_rechecking_hourly; a_new_operation_on_a_socket_whose_key_was_revoked_is_refused);
}

/// The WebSocket waits a bounded time for connection_init.
mod init_timeout {
    use super::*;

    fn waiting_one_second(s: &mut Settings) {
        s.ws_init_timeout_seconds = 1;
    }

    async fn a_socket_without_connection_init_closes_with_4408(app: TestApp) {
        let mut ws = RawWs::connect(&app, "graphql-transport-ws").await;
        assert_eq!(ws.closed().await.0, 4408);
    }

    engine_tests_with!(waiting_one_second; a_socket_without_connection_init_closes_with_4408);
}

/// Introspection off holds on every transport and for every operation of a batch.
mod introspection_off {
    use super::*;

    fn no_introspection(s: &mut Settings) {
        s.introspection = false;
    }

    const SCHEMA: &str = "{ __schema { types { name } } }";

    /// async-graphql answers a disabled introspection field with null.
    fn refused(p: &Value) -> bool {
        p["data"].is_object()
            && p["data"]["__schema"].is_null()
            && !p.to_string().contains("\"types\"")
    }

    async fn introspection_off_holds_over_websocket_sse_and_batches(app: TestApp) {
        let p = app.graphql(SCHEMA, json!({})).await;
        assert!(refused(&p), "{p}");
        let batch = json!([{ "query": VIEWER }, { "query": SCHEMA }, { "query": "{ __type(name: \"Query\") { name } }" }]);
        let body: Value = app
            .http
            .post(format!("{}/graphql", app.url))
            .json(&batch)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert!(body[0]["data"]["viewer"].is_object(), "{body}");
        assert!(
            refused(&body[1]) && body[2]["data"]["__type"].is_null(),
            "{body}"
        );
        let mut ws = RawWs::init(&app, None).await;
        let p = ws.run("1", SCHEMA, json!({})).await;
        assert!(refused(&p), "{p}");
        let mut s = SseStream::open(&app, None, SCHEMA, json!({})).await;
        let p = s.next().await;
        assert!(refused(&p), "{p}");
        s.completes().await;
    }

    engine_tests_with!(no_introspection; introspection_off_holds_over_websocket_sse_and_batches);
}

/// The rate limit counts operations, not requests: each of a batch, each WebSocket subscribe,
/// each SSE stream.
mod rate_limited {
    use super::*;

    fn three_a_minute(s: &mut Settings) {
        required(s);
        s.rate_limit_per_minute = 3;
    }

    async fn the_rate_limit_counts_each_operation_on_every_transport(app: TestApp) {
        let (_, admin) = app.organization_with_key("acme", "read,write").await;
        // Each key has its own budget of three.
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(app.organization_with_key("acme", "read,write").await.1);
        }
        let post = |key: &str, body: Value| {
            app.http
                .post(format!("{}/graphql", app.url))
                .bearer_auth(key.to_string())
                .json(&body)
                .send()
        };
        // A batch of three spends the whole budget; the next single request is refused.
        let batch = json!([{ "query": VIEWER }, { "query": VIEWER }, { "query": VIEWER }]);
        let res = post(&keys[0], batch.clone()).await.expect("sent");
        assert_eq!(res.status(), 200);
        let res = post(&keys[0], json!({ "query": VIEWER }))
            .await
            .expect("sent");
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        assert_eq!(
            code(&res.json::<Value>().await.expect("JSON")),
            Some("RATE_LIMITED")
        );
        // A batch larger than what is left is refused whole.
        let res = post(&keys[1], json!({ "query": VIEWER }))
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let res = post(&keys[1], batch).await.expect("sent");
        assert_eq!(res.status(), 429);
        // Over the WebSocket each operation counts; the socket stays open.
        let mut ws = RawWs::init(&app, Some(&keys[2])).await;
        for i in 0..3 {
            let p = ws.run(&i.to_string(), VIEWER, json!({})).await;
            assert!(p["data"]["viewer"].is_object(), "{p}");
        }
        let p = ws.run("over", VIEWER, json!({})).await;
        assert_eq!(error_code(&p), Some("RATE_LIMITED"), "{p}");
        // So does an SSE stream, refused like an HTTP request.
        let res = SseStream::post(&app, Some(&keys[2]), VIEWER, json!({})).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        // Another key is not affected.
        let res = post(&admin, json!({ "query": VIEWER }))
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
    }

    engine_tests_with!(three_a_minute; the_rate_limit_counts_each_operation_on_every_transport);
}
