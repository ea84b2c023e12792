//! The end-to-end harness: the real application on port 0 with a fresh database, and typed
//! helpers for the GraphQL calls the tests make.
//!
//! Every test runs on both engines: `engine_tests!` generates a `sqlite::` and a `postgres::`
//! variant. PostgreSQL is found at `ALMANAC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test gets its own database, dropped when
//! the test ends. The PostgreSQL variants fail when no server is reachable: they never pass by
//! skipping.

use almanac_api::config::Settings;
use almanac_api::startup::Application;
use almanac_api::state::AppState;
use almanac_api::store::{SqlStore, StatementCounter};
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub fn postgres_admin_url() -> String {
    std::env::var("ALMANAC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

enum TestDb {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

impl TestDb {
    async fn fresh(engine: Engine) -> (Self, String) {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match engine {
            Engine::Sqlite => {
                let path = std::env::temp_dir().join(format!("almanac-test-{tag}.db"));
                let url = format!("sqlite:{}", path.display());
                (TestDb::Sqlite(path), url)
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("almanac_test_{tag}");
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL is required for the postgres tests ({admin}): {e}")
                    });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin.clone());
                let url = format!("{base}/{name}");
                (TestDb::Postgres { admin, name }, url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { admin, name } => {
                let (admin, name) = (admin.clone(), name.clone());
                // Drop is synchronous; use a private runtime on another thread.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub url: String,
    /// The database URL, for starting a second API process on the same database.
    pub database_url: String,
    pub http: reqwest::Client,
    pub engine: Engine,
    pub state: AppState,
    /// The statements this app's store has run (to prove queries do not grow with results).
    pub statements: StatementCounter,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, |_| {}).await
}

/// The app with adjusted settings (auth mode, JWT keys, …).
pub async fn spawn_app_with(engine: Engine, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, url) = TestDb::fresh(engine).await;
    let database_url = url.clone();
    let mut settings = Settings::for_tests(url);
    adjust(&mut settings);
    let statements = StatementCounter::default();
    let store = SqlStore::connect(settings.database_url.expose_secret())
        .await
        .expect("store opens")
        .counting_statements(statements.clone());
    let app = Application::build_on(settings, Arc::new(store))
        .await
        .expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        url: base,
        database_url,
        http: reqwest::Client::new(),
        engine,
        state,
        statements,
        _stop: stop,
        _db: db,
    }
}

/// A second API process (in this test process) on the same database: (base URL, stop handle).
pub async fn spawn_peer(of: &TestApp) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = Application::build(Settings::for_tests(of.database_url.clone()))
        .await
        .expect("peer builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (base, stop)
}

/// A graphql-transport-ws client: connects, initialises, subscribes; `next` waits for data.
pub struct WsSubscription {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsSubscription {
    pub async fn start(
        base_url: &str,
        init: Value,
        query: &str,
        variables: Value,
    ) -> Result<Self, String> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let url = format!("{}/graphql/ws", base_url.replacen("http", "ws", 1));
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().map_err(|_| "header")?,
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": init }).to_string(),
            ))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                    if v["type"] == "connection_ack" {
                        break;
                    }
                }
                Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
        }
        socket
            .send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }).to_string()))
            .await
            .map_err(|e| e.to_string())?;
        Ok(WsSubscription { socket })
    }

    /// The next `next` payload (or an `error` message), waiting at most `secs`.
    pub async fn next(&mut self, secs: u64) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).ok()?;
                match v["type"].as_str() {
                    Some("next") | Some("error") => return Some(v),
                    _ => {}
                }
            }
        }
    }
}

/// A GraphQL error as the client sees it.
#[derive(Debug, Clone)]
pub struct GqlError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl TestApp {
    /// POSTs a GraphQL request and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(None, query, variables).await
    }

    /// POSTs a GraphQL request with a credential (`Authorization: Bearer …`).
    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON response")
    }

    /// A new organization and an API key for it (scopes "read,write" or "read").
    pub async fn organization_with_key(&self, name: &str, scopes: &str) -> (String, String) {
        let org = self
            .state
            .store
            .create_organization(name)
            .await
            .expect("organization");
        let (_, token) =
            almanac_api::services::api_keys::create(&self.state.store, org, "test key", scopes)
                .await
                .expect("key");
        (org.to_string(), token)
    }

    /// The `data` of a request that must succeed.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The first error of a request that must fail.
    pub async fn err(&self, query: &str, variables: Value) -> GqlError {
        let body = self.graphql(query, variables).await;
        let e = &body["errors"][0];
        assert!(!e.is_null(), "expected an error, got {body}");
        GqlError {
            code: e["extensions"]["code"]
                .as_str()
                .unwrap_or("<no code>")
                .to_string(),
            message: e["message"].as_str().unwrap_or_default().to_string(),
            field: e["extensions"]["field"].as_str().map(str::to_string),
        }
    }

    pub async fn create_calendar(&self, name: &str, zone: &str) -> String {
        let d = self
            .ok(
                "mutation($i: CreateCalendarInput!) { createCalendar(input: $i) { calendar { id } } }",
                json!({ "i": { "name": name, "timeZone": zone } }),
            )
            .await;
        d["createCalendar"]["calendar"]["id"]
            .as_str()
            .expect("calendar id")
            .to_string()
    }

    pub const CREATE_SERIES: &'static str =
        "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id version } } }";

    /// Creates a series; `input` is a CreateSeriesInput without calendarId.
    pub async fn create_series(
        &self,
        calendar: &str,
        mut input: Value,
    ) -> Result<(String, i64), GqlError> {
        input["calendarId"] = json!(calendar);
        let body = self
            .graphql(Self::CREATE_SERIES, json!({ "i": input }))
            .await;
        if let Some(e) = body["errors"].get(0) {
            return Err(GqlError {
                code: e["extensions"]["code"]
                    .as_str()
                    .unwrap_or("<no code>")
                    .to_string(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
                field: e["extensions"]["field"].as_str().map(str::to_string),
            });
        }
        let s = &body["data"]["createSeries"]["series"];
        Ok((
            s["id"].as_str().expect("id").to_string(),
            s["version"].as_i64().expect("version"),
        ))
    }

    pub const OCCURRENCES: &'static str = "query($c: [ID!]!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String, $tz: String) {
        occurrences(calendarIds: $c, from: $from, to: $to, first: $first, after: $after, timeZone: $tz) {
          edges { cursor node { id seriesId recurrenceId start end localStart localEnd allDay kind title } }
          pageInfo { hasNextPage endCursor }
        } }";

    /// Every occurrence in the window, following cursors page by page.
    pub async fn all_occurrences(
        &self,
        calendars: &[&str],
        from: &str,
        to: &str,
        page: i64,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let d = self.ok(Self::OCCURRENCES, json!({ "c": calendars, "from": from, "to": to, "first": page, "after": after })).await;
            let conn = &d["occurrences"];
            for e in conn["edges"].as_array().expect("edges") {
                out.push(e["node"].clone());
            }
            if !conn["pageInfo"]["hasNextPage"]
                .as_bool()
                .expect("hasNextPage")
            {
                return out;
            }
            after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
            assert!(after.is_some(), "hasNextPage without endCursor");
        }
    }

    /// Occurrence starts in UTC (`…Z`) for one calendar.
    pub async fn starts_utc(&self, calendar: &str, from: &str, to: &str) -> Vec<String> {
        self.all_occurrences(&[calendar], from, to, 1000)
            .await
            .iter()
            .map(|o| to_utc(o["start"].as_str().expect("start")))
            .collect()
    }

    /// How many series the calendar has (for "nothing was written" checks).
    pub async fn series_count(&self, calendar: &str) -> usize {
        let d = self.ok("query($id: ID!) { calendar(id: $id) { series(first: 200) { edges { node { id } } } } }", json!({ "id": calendar })).await;
        d["calendar"]["series"]["edges"]
            .as_array()
            .map_or(0, Vec::len)
    }
}

/// An RFC 3339 instant rewritten in UTC as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn to_utc(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Generates, for each async test function `f(app: TestApp)`, a `sqlite::f` and a `postgres::f`.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Engine::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Engine::Postgres).await).await
                }
            )*
        }
    };
}

/// Like `engine_tests!`, with the settings adjusted by `$adjust: fn(&mut Settings)`.
#[macro_export]
macro_rules! engine_tests_with {
    ($adjust:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app_with($crate::Engine::Sqlite, super::$adjust).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app_with($crate::Engine::Postgres, super::$adjust).await).await
                }
            )*
        }
    };
}

/// Helpers shared by the provider sync tests (Google and Outlook): the browser's part of OAuth,
/// links, forced rounds, and what a calendar shows.
pub mod sync {
    use super::TestApp;
    use serde_json::{json, Value};

    /// Connects an account through the real OAuth flow: `mutation` (connectGoogle /
    /// connectOutlook) gives the authorization URL, the emulator consents for `account` and
    /// redirects to Almanac's callback. Returns the connection id. Also checks the state is
    /// single-use.
    pub async fn connect(app: &TestApp, mutation: &str, account: &str) -> String {
        let d = app.ok(&format!("mutation($hint: String) {{ {mutation}(input: {{ loginHint: $hint }}) {{ authorizationUrl userErrors {{ code }} }} }}"), json!({ "hint": account })).await;
        let url = d[mutation]["authorizationUrl"]
            .as_str()
            .expect("authorization URL")
            .to_string();
        assert!(
            url.contains("code_challenge_method=S256") && url.contains("state="),
            "PKCE and state: {url}"
        );
        assert!(
            url.contains("login_hint="),
            "the account is preselected: {url}"
        );
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let consent = browser
            .get(&url)
            .send()
            .await
            .expect("authorization endpoint");
        assert_eq!(
            consent.status().as_u16(),
            302,
            "the emulator consents and redirects"
        );
        let back = consent
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("redirect")
            .to_string();
        assert!(
            back.starts_with(&app.url),
            "redirected to this server: {back}"
        );
        let done = browser.get(&back).send().await.expect("callback");
        assert_eq!(
            done.status().as_u16(),
            200,
            "{}",
            done.text().await.unwrap_or_default()
        );
        let replay = browser.get(&back).send().await.expect("callback again");
        assert_eq!(replay.status().as_u16(), 400, "the state is single-use");
        let provider = mutation.trim_start_matches("connect").to_ascii_lowercase();
        let d = app
            .ok(
                "{ providerAccounts { id provider account state } }",
                json!({}),
            )
            .await;
        let c = d["providerAccounts"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|c| c["account"] == account && c["provider"] == provider.as_str())
            })
            .expect("the connection")
            .clone();
        assert_eq!(c["state"], "ACTIVE");
        c["id"].as_str().expect("connection id").to_string()
    }

    pub async fn link(
        app: &TestApp,
        connection: &str,
        calendar: &str,
        remote_calendar: &str,
        direction: &str,
    ) -> String {
        let d = app
            .ok(
                "mutation($i: LinkCalendarInput!) { linkCalendar(input: $i) { link { id direction } userErrors { code message } } }",
                json!({ "i": { "calendarId": calendar, "accountId": connection, "remoteCalendarId": remote_calendar, "direction": direction } }),
            )
            .await;
        d["linkCalendar"]["link"]["id"]
            .as_str()
            .expect("link id")
            .to_string()
    }

    /// Forces a round (`syncCalendarLink`) and returns its report.
    pub async fn round(app: &TestApp, link: &str) -> Value {
        let d = app
            .ok(
                "mutation($i: SyncCalendarLinkInput!) { syncCalendarLink(input: $i) { round { pushed deletedRemotely pushFailures pushRejections
                   createdLocally updatedLocally deletedLocally unchanged deferred skipped deletionsHeld fullSync error } } }",
                json!({ "i": { "id": link } }),
            )
            .await;
        d["syncCalendarLink"]["round"].clone()
    }

    /// What a calendar shows in [from, to): (start, end, title) of every occurrence, sorted.
    pub async fn shown(
        app: &TestApp,
        calendar: &str,
        from: &str,
        to: &str,
    ) -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = app
            .all_occurrences(&[calendar], from, to, 500)
            .await
            .iter()
            .map(|o| {
                (
                    super::to_utc(o["start"].as_str().unwrap_or_default()),
                    super::to_utc(o["end"].as_str().unwrap_or_default()),
                    o["title"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Makes every queued push due now (a failed push waits out its backoff otherwise).
    pub async fn make_due_now(app: &TestApp) {
        let store = app.state.store.clone();
        for l in store.all_links().await.expect("links") {
            for row in store
                .due_pushes(l.organization_id, l.id, i64::MAX, 100_000)
                .await
                .expect("rows")
            {
                store
                    .push_failed(l.organization_id, row.id, "made due by the test", 0)
                    .await
                    .expect("due");
            }
        }
    }

    pub async fn pending(app: &TestApp, link: &str) -> i64 {
        let links = app.state.store.all_links().await.expect("links");
        let l = links
            .iter()
            .find(|l| l.id.to_string() == link)
            .expect("a stored link");
        app.state
            .store
            .pending_pushes(l.organization_id, l.id)
            .await
            .expect("pending")
    }

    pub async fn version(app: &TestApp, series: &str) -> i64 {
        app.ok(
            "query($id: ID!) { series(id: $id) { version } }",
            json!({ "id": series }),
        )
        .await["series"]["version"]
            .as_i64()
            .expect("version")
    }
}

/// The python of a pinned, independent oracle's virtualenv (`tests/<oracle>/requirements.txt`,
/// e.g. `ics-oracle`, `rrule-oracle`), created under the target directory and installed once, and
/// again only when the requirements change. Tests that compare Almanac with an independent
/// implementation run it with this python.
pub fn oracle_python(oracle: &str) -> PathBuf {
    static INSTALLED: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    // Held while installing, so two tests of one binary never build the same venv at once.
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, python)) = installed.iter().find(|(name, _)| name == oracle) {
        return python.clone();
    }
    let run = |cmd: &mut std::process::Command, what: &str| {
        let out = cmd.output().unwrap_or_else(|e| {
            panic!(
                "{what}: could not run {cmd:?}: {e} (the {oracle} needs python3 with venv and pip)"
            )
        });
        assert!(
            out.status.success(),
            "{what} failed ({cmd:?}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let requirements = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(oracle)
        .join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        // …/target/<profile>/deps/<test binary>
        None => std::env::current_exe()
            .expect("the test binary's path")
            .ancestors()
            .nth(3)
            .expect("the target directory")
            .to_path_buf(),
    };
    let venv = target.join(format!("{oracle}-venv"));
    let python = venv.join("bin/python");
    let marker = venv.join("installed-requirements.txt");
    if !python.exists() || std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str())
    {
        let _ = std::fs::remove_dir_all(&venv);
        run(
            std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
            "creating the virtualenv",
        );
        run(
            std::process::Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-r",
                ])
                .arg(&requirements),
            "installing the oracle",
        );
        std::fs::write(&marker, &wanted).expect("write the install marker");
    }
    installed.push((oracle.to_string(), python.clone()));
    python
}
