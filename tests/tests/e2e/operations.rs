//! Operations: health, readiness, Prometheus metrics and request ids.

use almanac_e2e::{engine_tests, TestApp};
use serde_json::json;

async fn metrics_count_requests_errors_subscriptions_and_the_pool(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let _ = app.err("{ noSuchField }", json!({})).await;
    let _ = app
        .err(
            "query($id: ID!) { calendar(id: $id) { id } }",
            json!({ "id": "cal_0000000000007000800000000000dead" }),
        )
        .await;
    let mut sub = almanac_e2e::WsSubscription::start(
        &app.url,
        json!({}),
        "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId } }",
        json!({ "c": [cal] }),
    )
    .await
    .expect("ws");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    assert!(value("almanac_http_requests_total{route=\"/graphql\",status=\"2xx\"}") >= 3.0);
    assert_eq!(
        value("almanac_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}"),
        1.0
    );
    assert_eq!(
        value("almanac_graphql_errors_total{code=\"NOT_FOUND\"}"),
        1.0
    );
    assert_eq!(value("almanac_subscription_connections"), 1.0);
    assert!(value("almanac_db_pool_connections{state=\"open\"}") >= 1.0);
    assert!(value("almanac_http_request_duration_seconds_count") >= 3.0);
    assert!(!text.contains(&cal), "ids never become labels");
    drop(sub.next(0).await);
    drop(sub);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("almanac_subscription_connections 0"),
        "closed connections are not counted:\n{text}"
    );
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            app.http
                .get(format!("{}{path}", app.url))
                .send()
                .await
                .expect("probe")
                .status(),
            200
        );
    }
}

async fn every_response_carries_a_request_id_and_echoes_the_callers(app: TestApp) {
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().expect("ASCII id").to_string())
    };
    let post = || {
        app.http
            .post(format!("{}/graphql", app.url))
            .json(&json!({ "query": "{ viewer { organizationId } }" }))
    };
    let first = post().send().await.expect("post");
    let second = post().send().await.expect("post");
    let (a, b) = (id_of(&first), id_of(&second));
    let a = a.expect("a request id on the response");
    assert!(uuid::Uuid::try_parse(&a).is_ok(), "{a} is a UUID");
    assert_ne!(Some(a), b, "each request gets its own id");

    let echoed = post()
        .header("x-request-id", "client-trace-42")
        .send()
        .await
        .expect("post");
    assert_eq!(id_of(&echoed).as_deref(), Some("client-trace-42"));

    let health = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert!(id_of(&health).is_some(), "not only GraphQL: every route");
}
engine_tests!(
    metrics_count_requests_errors_subscriptions_and_the_pool,
    every_response_carries_a_request_id_and_echoes_the_callers
);

// ---------------------------------------------------------------------------------------------
// HTTP conventions frontend teams assume: CORS, CSRF prevention, persisted queries, GraphQL over
// HTTP (media types and statuses), GraphiQL served from the binary.

mod http_conventions {
    use almanac_e2e::{engine_tests_with, spawn_app, TestApp};
    use serde_json::{json, Value};
    use sha2::{Digest, Sha256};

    const APP_ORIGIN: &str = "http://localhost:5173";
    const OTHER_APP_ORIGIN: &str = "https://app.example.com";
    const EVIL_ORIGIN: &str = "https://evil.example";

    fn with_cors(s: &mut almanac_api::config::Settings) {
        s.cors_origins = vec![APP_ORIGIN.into(), format!("{OTHER_APP_ORIGIN}/")];
    }

    fn header(res: &reqwest::Response, name: &str) -> Option<String> {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn cors_headers(res: &reqwest::Response) -> Vec<String> {
        res.headers()
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("access-control-"))
            .collect()
    }

    async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization,apollo-require-preflight,x-apollo-operation-name,apollographql-client-name")
            .send()
            .await
            .expect("preflight")
    }

    async fn calendar_names(app: &TestApp) -> Vec<String> {
        let d = app
            .ok(
                "{ calendars(first: 100) { edges { node { name } } } }",
                json!({}),
            )
            .await;
        d["calendars"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn ws_upgrade(app: &TestApp, origin: Option<&str>) -> Result<(), u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/graphql/ws", app.url.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", o.parse().expect("header"));
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok(_) => Ok(()),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("unexpected WebSocket failure: {e}"),
        }
    }

    /// An allowed origin passes the preflight and gets allow headers on the real request; any
    /// other origin gets no `Access-Control-Allow-*` at all; WebSocket upgrades follow the same list.
    async fn cors_lets_configured_origins_in_and_no_other(app: TestApp) {
        for origin in [APP_ORIGIN, OTHER_APP_ORIGIN] {
            let res = preflight(&app, "/graphql", origin).await;
            assert!(
                res.status().is_success(),
                "preflight from {origin}: {}",
                res.status()
            );
            assert_eq!(
                header(&res, "access-control-allow-origin").as_deref(),
                Some(origin)
            );
            assert_eq!(
                header(&res, "access-control-allow-credentials").as_deref(),
                Some("true")
            );
            let methods = header(&res, "access-control-allow-methods").unwrap_or_default();
            assert!(
                methods.contains("POST") && methods.contains("GET"),
                "{methods}"
            );
            let allowed = header(&res, "access-control-allow-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            for h in [
                "content-type",
                "authorization",
                "x-api-key",
                "apollo-require-preflight",
                "x-apollo-operation-name",
                "apollographql-client-name",
            ] {
                assert!(
                    allowed.split(',').any(|a| a.trim() == h),
                    "{h} is not allowed: {allowed}"
                );
            }
            // The preflight is answered before routing: it holds for every path, SSE's included.
            let res = preflight(&app, "/graphql/stream", origin).await;
            assert_eq!(
                header(&res, "access-control-allow-origin").as_deref(),
                Some(origin)
            );

            let res = app
                .http
                .post(format!("{}/graphql", app.url))
                .header("origin", origin)
                .json(&json!({ "query": "{ viewer { canWrite } }" }))
                .send()
                .await
                .expect("post");
            assert_eq!(res.status(), 200);
            assert_eq!(
                header(&res, "access-control-allow-origin").as_deref(),
                Some(origin)
            );
            assert_eq!(
                header(&res, "access-control-allow-credentials").as_deref(),
                Some("true")
            );
            assert!(
                header(&res, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")),
                "a shared cache must key on Origin"
            );
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["data"]["viewer"]["canWrite"], json!(true), "{body}");
        }

        for origin in [
            EVIL_ORIGIN,
            "http://localhost:5174",
            "http://localhost:5173.evil.example",
        ] {
            let res = preflight(&app, "/graphql", origin).await;
            assert_eq!(
                cors_headers(&res),
                Vec::<String>::new(),
                "preflight from {origin} got allow headers"
            );
            let res = app
                .http
                .post(format!("{}/graphql", app.url))
                .header("origin", origin)
                .json(&json!({ "query": "{ viewer { canWrite } }" }))
                .send()
                .await
                .expect("post");
            assert_eq!(
                cors_headers(&res),
                Vec::<String>::new(),
                "request from {origin} got allow headers"
            );
        }
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .expect("post");
        assert_eq!(
            cors_headers(&res),
            Vec::<String>::new(),
            "a request without Origin gets no CORS headers"
        );

        // WebSockets: browsers apply no CORS to them, so the server checks the origin itself.
        let own = app.url.clone();
        assert_eq!(
            ws_upgrade(&app, None).await,
            Ok(()),
            "clients outside browsers send no Origin"
        );
        assert_eq!(
            ws_upgrade(&app, Some(&own)).await,
            Ok(()),
            "GraphiQL served by this server"
        );
        assert_eq!(ws_upgrade(&app, Some(APP_ORIGIN)).await, Ok(()));
        assert_eq!(ws_upgrade(&app, Some(EVIL_ORIGIN)).await, Err(403));

        // Without --cors-origins nothing is allowed: no allow headers, no cross-origin socket.
        let plain = spawn_app(app.engine).await;
        let res = preflight(&plain, "/graphql", APP_ORIGIN).await;
        assert_eq!(cors_headers(&res), Vec::<String>::new());
        assert_eq!(ws_upgrade(&plain, Some(APP_ORIGIN)).await, Err(403));
        assert_eq!(ws_upgrade(&plain, Some(&plain.url.clone())).await, Ok(()));
    }

    /// A "simple" cross-site POST (what any web page can send without a preflight) runs nothing,
    /// even in dev mode where no credential is needed.
    async fn a_cross_site_simple_post_is_refused_and_writes_nothing(app: TestApp) {
        let before = calendar_names(&app).await;
        let mutation = json!({ "query": "mutation { createCalendar(input: { name: \"csrf\", timeZone: \"UTC\" }) { calendar { id } } }" }).to_string();
        let forms = [
            (Some("text/plain"), mutation.clone()),
            (Some("text/plain;charset=UTF-8"), mutation.clone()),
            (Some("application/x-www-form-urlencoded"), format!("query={}", "mutation%20%7B%20createCalendar(input%3A%20%7Bname%3A%20%22csrf%22%2C%20timeZone%3A%20%22UTC%22%7D)%20%7B%20calendar%20%7B%20id%20%7D%20%7D%20%7D")),
            (Some("multipart/form-data; boundary=x"), format!("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{mutation}\r\n--x--\r\n")),
            (None, mutation.clone()),
        ];
        // Both POST endpoints: /graphql/stream (SSE) runs mutations too.
        for ((content_type, body), path) in forms
            .iter()
            .flat_map(|f| [(f.clone(), "/graphql"), (f.clone(), "/graphql/stream")])
        {
            let mut req = app
                .http
                .post(format!("{}{path}", app.url))
                .header("origin", EVIL_ORIGIN)
                .body(body);
            if path.ends_with("stream") {
                req = req.header("accept", "text/event-stream");
            }
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.expect("post");
            assert_eq!(res.status(), 415, "{path} {content_type:?}");
            let body: Value = res.json().await.expect("json");
            assert_eq!(
                body["errors"][0]["extensions"]["code"],
                json!("CSRF_PREVENTED"),
                "{path} {content_type:?}: {body}"
            );
            assert!(body.get("data").is_none(), "{body}");
        }
        // A type no browser sends cross-site is refused too, as unsupported.
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .header("content-type", "application/graphql")
            .body("mutation { x }")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 415);
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("UNSUPPORTED_MEDIA_TYPE"),
            "{body}"
        );
        // A mutation in a URL never runs either.
        let res = app.http.get(format!("{}/graphql", app.url)).query(&[("query", "mutation { createCalendar(input: { name: \"csrf\", timeZone: \"UTC\" }) { calendar { id } } }")]).send().await.expect("get");
        assert_eq!(res.status(), 405);
        assert_eq!(
            calendar_names(&app).await,
            before,
            "a refused request created a calendar"
        );

        // The same mutation as JSON, as every GraphQL client sends it, runs.
        app.create_calendar("csrf", "UTC").await;
        assert_eq!(
            calendar_names(&app)
                .await
                .iter()
                .filter(|n| *n == "csrf")
                .count(),
            1
        );
    }

    async fn post(app: &TestApp, accept: Option<&str>, body: Value) -> (u16, String, Value) {
        let mut req = app.http.post(format!("{}/graphql", app.url)).json(&body);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let res = req.send().await.expect("post");
        let (status, ct) = (
            res.status().as_u16(),
            header(&res, "content-type").unwrap_or_default(),
        );
        (status, ct, res.json().await.unwrap_or(Value::Null))
    }

    const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

    /// Media types and statuses as the GraphQL-over-HTTP spec says.
    async fn graphql_over_http_media_types_and_statuses(app: TestApp) {
        // application/json when asked (or for */*, or no Accept): 200 even for request errors.
        for accept in [Some("application/json"), Some("*/*"), None] {
            let (status, ct, body) = post(&app, accept, json!({ "query": "{ __typename }" })).await;
            assert_eq!(
                (status, ct.starts_with("application/json")),
                (200, true),
                "{accept:?}: {ct}"
            );
            assert_eq!(body["data"]["__typename"], json!("Query"));
            let (status, ct, body) =
                post(&app, accept, json!({ "query": "{ noSuchField }" })).await;
            assert_eq!(
                (status, ct.starts_with("application/json")),
                (200, true),
                "{accept:?}: {ct}"
            );
            assert!(
                body.get("data").is_none(),
                "a request error has no data key: {body}"
            );
            assert_eq!(
                body["errors"][0]["extensions"]["code"],
                json!("GRAPHQL_VALIDATION_FAILED")
            );
        }

        // application/graphql-response+json: a request that does not parse, validate or coerce is
        // 4xx with no data; an executed one is 200 even with field errors.
        let (status, ct, body) = post(
            &app,
            Some(GRAPHQL_RESPONSE),
            json!({ "query": "{ __typename }" }),
        )
        .await;
        assert_eq!(
            (status, ct.starts_with(GRAPHQL_RESPONSE)),
            (200, true),
            "{ct}"
        );
        assert_eq!(body["data"]["__typename"], json!("Query"));
        let cases = [
            (json!({ "query": "{" }), "GRAPHQL_PARSE_FAILED"),
            (
                json!({ "query": "{ noSuchField }" }),
                "GRAPHQL_VALIDATION_FAILED",
            ),
            (
                json!({ "query": "query($id: ID!) { calendar(id: $id) { id } }", "variables": { "id": null } }),
                "",
            ),
        ];
        for (request, code) in cases {
            let (status, ct, body) = post(&app, Some(GRAPHQL_RESPONSE), request.clone()).await;
            assert_eq!(status, 400, "{request}: {body}");
            assert!(ct.starts_with(GRAPHQL_RESPONSE), "{ct}");
            assert!(body.get("data").is_none(), "{request}: {body}");
            let got = body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                !got.is_empty() && (code.is_empty() || got == code),
                "{request}: {body}"
            );
        }
        let missing = "cal_0000000000007000800000000000dead";
        let (status, _, body) = post(&app, Some(GRAPHQL_RESPONSE), json!({ "query": "query($id: ID!) { viewer { canWrite } calendar(id: $id) { id } }", "variables": { "id": missing } })).await;
        assert_eq!(status, 200, "a field error is not a request error: {body}");
        assert!(
            body.get("data").is_some()
                && body["errors"][0]["extensions"]["code"] == json!("NOT_FOUND"),
            "{body}"
        );

        // Parameters typed as the spec says, or 400.
        for bad in [
            json!({ "query": { "obj": "ect" } }),
            json!({ "query": 0 }),
            json!({ "qeury": "{ __typename }" }),
            json!({ "query": "{ __typename }", "variables": "{}" }),
            json!({ "query": "{ __typename }", "operationName": false }),
            json!({ "query": "{ __typename }", "extensions": [1] }),
            json!([]),
        ] {
            for accept in [None, Some(GRAPHQL_RESPONSE)] {
                let (status, _, body) = post(&app, accept, bad.clone()).await;
                assert_eq!(status, 400, "{bad} ({accept:?}): {body}");
                assert_eq!(
                    body["errors"][0]["extensions"]["code"],
                    json!("BAD_REQUEST"),
                    "{body}"
                );
            }
        }
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .header("content-type", "application/json")
            .body("{\"query\": ")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400);

        // 406 when no GraphQL media type is acceptable; 415 for a body that is not JSON.
        let (status, _, body) = post(
            &app,
            Some("text/html"),
            json!({ "query": "{ __typename }" }),
        )
        .await;
        assert_eq!(status, 406, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("NOT_ACCEPTABLE")
        );
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .body("{\"query\": \"{ __typename }\"}")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 415, "a POST without a content type");
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .header("content-type", "application/xml")
            .body("<q/>")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 415, "a POST with an unknown content type");

        // GET answers queries under the same rules.
        let res = app
            .http
            .get(format!("{}/graphql", app.url))
            .header("accept", "application/json")
            .query(&[
                ("query", "query($n: String!) { __type(name: $n) { name } }"),
                ("variables", "{\"n\": \"Calendar\"}"),
            ])
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 200);
        assert!(header(&res, "content-type").is_some_and(|c| c.starts_with("application/json")));
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["__type"]["name"], json!("Calendar"), "{body}");
    }

    fn sha256_hex(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Apollo's automatic persisted queries at the HTTP level (the client side is exercised by
    /// Apollo Client in npm_clients.rs): a miss, a mismatch, registration, hits over POST and
    /// GET, batches, and the write check and GET-mutation refusal applied to persisted text.
    async fn persisted_queries_follow_apollos_protocol(app: TestApp) {
        let query = "query PersistedViewer { viewer { organizationId canWrite } }";
        let hash = sha256_hex(query);
        let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

        let (status, _, body) = post(&app, None, json!({ "extensions": pq })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["errors"][0]["extensions"]["code"].clone(),
                body["errors"][0]["message"].clone()
            ),
            (
                json!("PERSISTED_QUERY_NOT_FOUND"),
                json!("PersistedQueryNotFound")
            ),
            "{body}"
        );
        assert!(body.get("data").is_none(), "{body}");
        let (status, _, body) =
            post(&app, Some(GRAPHQL_RESPONSE), json!({ "extensions": pq })).await;
        assert_eq!(status, 400, "{body}");

        // A query that does not hash to the hash is refused and not remembered.
        let (status, _, body) = post(
            &app,
            None,
            json!({ "query": "{ __typename }", "extensions": pq }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("PERSISTED_QUERY_HASH_MISMATCH"),
            "{body}"
        );
        let (_, _, body) = post(&app, None, json!({ "extensions": pq })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("PERSISTED_QUERY_NOT_FOUND"),
            "{body}"
        );
        for bad in [
            json!({ "version": 2, "sha256Hash": hash }),
            json!({ "version": 1, "sha256Hash": "abc" }),
            json!({ "version": 1 }),
        ] {
            let (status, _, body) = post(
                &app,
                None,
                json!({ "query": query, "extensions": { "persistedQuery": bad } }),
            )
            .await;
            assert_eq!(
                (status, body["errors"][0]["extensions"]["code"].clone()),
                (400, json!("BAD_REQUEST")),
                "{body}"
            );
        }

        // Registered with its text, then found by hash alone, over POST and GET.
        let (status, _, body) = post(&app, None, json!({ "query": query, "extensions": pq })).await;
        assert_eq!(
            (status, body["data"]["viewer"]["canWrite"].clone()),
            (200, json!(true)),
            "{body}"
        );
        let (_, _, body) = post(
            &app,
            None,
            json!({ "extensions": pq, "operationName": "PersistedViewer" }),
        )
        .await;
        assert_eq!(body["data"]["viewer"]["canWrite"], json!(true), "{body}");
        let res = app
            .http
            .get(format!("{}/graphql", app.url))
            .query(&[("extensions", pq.to_string())])
            .send()
            .await
            .expect("get");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["viewer"]["canWrite"], json!(true), "{body}");

        // In a batch each operation is answered in its place.
        let unknown = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ never sent }") } });
        let (status, _, body) = post(
            &app,
            None,
            json!([{ "extensions": pq }, { "extensions": unknown }, { "query": "{ __typename }" }]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let answers = body.as_array().expect("a batch answer");
        assert_eq!(answers.len(), 3, "{body}");
        assert_eq!(
            answers[0]["data"]["viewer"]["canWrite"],
            json!(true),
            "{body}"
        );
        assert_eq!(
            answers[1]["errors"][0]["extensions"]["code"],
            json!("PERSISTED_QUERY_NOT_FOUND"),
            "{body}"
        );
        assert_eq!(answers[2]["data"]["__typename"], json!("Query"), "{body}");
        let mut eleven = vec![json!({ "extensions": unknown }); 2];
        eleven.extend(std::iter::repeat_n(json!({ "query": "{ __typename }" }), 9));
        let (status, _, body) = post(&app, None, Value::Array(eleven)).await;
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].clone()),
            (400, json!("BATCH_TOO_LARGE")),
            "refused operations count towards the batch limit: {body}"
        );

        // A persisted mutation is still a mutation: never over GET, never with a read-only key.
        let mutation = "mutation PersistedCreate { createCalendar(input: { name: \"persisted\", timeZone: \"UTC\" }) { calendar { id } } }";
        let mpq = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(mutation) } });
        let (_, _, body) = post(&app, None, json!({ "query": mutation, "extensions": mpq })).await;
        assert!(
            body["data"]["createCalendar"]["calendar"]["id"].is_string(),
            "{body}"
        );
        let res = app
            .http
            .get(format!("{}/graphql", app.url))
            .query(&[("extensions", mpq.to_string())])
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 405);
        let (_, read_only) = app.organization_with_key("readers", "read").await;
        let res = app
            .http
            .post(format!("{}/graphql", app.url))
            .bearer_auth(&read_only)
            .json(&json!({ "extensions": mpq }))
            .send()
            .await
            .expect("post");
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("FORBIDDEN"),
            "{body}"
        );
        assert_eq!(
            calendar_names(&app)
                .await
                .iter()
                .filter(|n| *n == "persisted")
                .count(),
            1,
            "only the first, JSON mutation wrote"
        );
    }

    /// The hashes recorded in api/assets/graphiql/README.md, by file name.
    fn recorded_hashes() -> std::collections::HashMap<String, String> {
        let readme = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../api/assets/graphiql/README.md"
        ))
        .expect("the assets README");
        readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells
                    .get(1)?
                    .trim_start_matches('`')
                    .split('`')
                    .next()?
                    .to_string();
                let hash = cells
                    .get(cells.len().checked_sub(2)?)?
                    .trim_matches('`')
                    .to_string();
                Some((name, hash)).filter(|(_, h)| h.len() == 64)
            })
            .collect()
    }

    /// The page a browser gets at /graphql and everything it loads come from this server; the
    /// page allows no other host (CSP), and the vendored files are served byte for byte.
    async fn graphiql_is_served_from_the_server_itself(app: TestApp) {
        let browser_accept =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        let res = app
            .http
            .get(format!("{}/graphql", app.url))
            .header("accept", browser_accept)
            .send()
            .await
            .expect("page");
        assert_eq!(res.status(), 200);
        assert!(header(&res, "content-type").is_some_and(|c| c.starts_with("text/html")));
        let csp = header(&res, "content-security-policy").expect("a Content-Security-Policy");
        for directive in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
            for source in directive.split_whitespace().skip(1) {
                assert!(
                    ["'self'", "'none'", "'unsafe-inline'", "data:"].contains(&source),
                    "CSP `{directive}` allows {source}"
                );
            }
        }
        for d in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(csp.contains(d), "{csp}");
        }
        let page = res.text().await.expect("html");
        assert!(
            !page.contains("http://")
                && !page.contains("https://")
                && !page.contains("//unpkg")
                && !page.contains("src=\"//"),
            "{page}"
        );
        assert!(
            !page.contains("<script>") && !page.contains("<style"),
            "no inline script or style (the CSP forbids it): {page}"
        );

        let mut references: Vec<String> = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for part in page.split(attr).skip(1) {
                references.push(part.split('"').next().expect("closing quote").to_string());
            }
        }
        let loaded: Vec<&String> = references
            .iter()
            .filter(|r| !r.starts_with("data:"))
            .collect();
        assert_eq!(
            loaded.len(),
            6,
            "react, react-dom, graphiql (js, css), the start script and page css: {references:?}"
        );
        let recorded = recorded_hashes();
        assert_eq!(recorded.len(), 4, "{recorded:?}");
        let base = format!("{}/graphql", app.url);
        let mut served_vendored = 0;
        for r in loaded {
            assert!(
                !r.contains(':') && !r.starts_with('/'),
                "{r} must be relative to the page"
            );
            let url = reqwest::Url::parse(&base)
                .and_then(|b| b.join(r))
                .expect("url");
            assert_eq!(url.host_str(), Some("127.0.0.1"));
            let res = app.http.get(url.clone()).send().await.expect("asset");
            assert_eq!(res.status(), 200, "{url}");
            let ct = header(&res, "content-type").unwrap_or_default();
            assert!(
                if r.ends_with(".js") {
                    ct.starts_with("text/javascript")
                } else {
                    ct.starts_with("text/css")
                },
                "{r}: {ct}"
            );
            assert!(
                header(&res, "cache-control")
                    .is_some_and(|c| c.contains("immutable") && c.contains("max-age=31536000")),
                "{r}"
            );
            let bytes = res.bytes().await.expect("bytes");
            let name = r.rsplit('/').next().expect("file name");
            if let Some(want) = recorded.get(name) {
                let got: String = Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(
                    &got, want,
                    "{name} differs from the vendored, recorded file"
                );
                served_vendored += 1;
            }
            if name == "graphiql.min.js" {
                // The bundle carries its own graphql-ws client: subscriptions need no other asset.
                assert!(
                    String::from_utf8_lossy(&bytes).contains("\"graphql-transport-ws\""),
                    "GraphiQL's bundle has no graphql-ws client"
                );
            }
            if name.ends_with(".css") {
                let css = String::from_utf8_lossy(&bytes);
                assert!(!css.contains("@import"), "{name}");
                for u in css.split("url(").skip(1) {
                    let target = u.trim_start_matches(['"', '\'']);
                    assert!(
                        target.starts_with("data:"),
                        "{name} loads {}",
                        &target[..target.len().min(60)]
                    );
                }
            }
            // A digest that is not the asset's is not served (so a cached path never changes meaning).
            let wrong = url.as_str().replace("/graphiql/", "/graphiql/0");
            assert_eq!(
                app.http.get(&wrong).send().await.expect("asset").status(),
                404,
                "{wrong}"
            );
        }
        assert_eq!(served_vendored, 4);
        // The start script points GraphiQL at this server's endpoints only.
        let start = references
            .iter()
            .find(|r| r.ends_with("almanac.js"))
            .expect("start script");
        let script = app
            .http
            .get(format!("{}/{start}", app.url))
            .send()
            .await
            .expect("script")
            .text()
            .await
            .expect("text");
        assert!(
            !script.contains("http://")
                && !script.contains("https://")
                && script.contains("window.location.href"),
            "{script}"
        );
        assert!(
            page.contains("data-endpoint=\"graphql\"")
                && page.contains("data-subscription-endpoint=\"graphql/ws\""),
            "{page}"
        );
    }

    engine_tests_with!(with_cors;
        cors_lets_configured_origins_in_and_no_other,
        a_cross_site_simple_post_is_refused_and_writes_nothing,
        graphql_over_http_media_types_and_statuses,
        persisted_queries_follow_apollos_protocol,
        graphiql_is_served_from_the_server_itself,
    );
}
