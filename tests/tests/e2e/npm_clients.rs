//! Real npm clients against the real server — the packages frontend teams use (tests/clients/):
//!
//! - `graphql-ws` (clients/subscribe.mjs) holds subscriptions and must receive the events of
//!   mutations made over HTTP: on one server (SQLite and PostgreSQL), and on PostgreSQL with the
//!   subscription held by a second server, a separate `almanac` OS process on the same database,
//!   authenticated through the `connection_init` payload;
//! - GraphQL Code Generator (`typescript` + `typescript-operations`) generates types for the
//!   example operations in clients/operations/ from schema.graphql, and `tsc --noEmit` (strict)
//!   checks a typed usage file against them — with a negative control: generated from a schema
//!   whose change breaks the usage, the same check fails;
//! - `graphql-inspector validate` accepts clients/operations/ against schema.graphql and rejects
//!   clients/invalid/;
//! - `graphql-schema-linter`'s description rules find every type, field, argument, input field
//!   and enum value of schema.graphql described (and, as a control, flag an undescribed one);
//! - the same operation documents run against a live server.
//!
//! `npm ci` runs once per test binary, when clients/node_modules is missing or was installed from
//! another package-lock.json. Node.js >= 20 and npm must be on PATH: without them these tests
//! fail with a message saying so; they never pass by skipping.

use almanac_e2e::{engine_tests, spawn_app, to_utc, Engine, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

const NEEDS: &str =
    "the npm client tests (tests/tests/e2e/npm_clients.rs) need Node.js >= 20 and npm on PATH \
                     (https://nodejs.org); they fail rather than skip without them";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds tests/")
        .to_path_buf()
}

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

// ---------------------------------------------------------------------------------------------
// Running commands

struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Ran {
    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion (killing it and its children after `timeout`).
fn run(program: &str, args: &[&str], dir: &Path, envs: &[(&str, &str)], timeout: Duration) -> Ran {
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}; {NEEDS}"));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > timeout {
            kill_group(&mut child);
            let status = child.wait().expect("wait");
            let (o, e) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            panic!("`{program} {}` did not finish within {timeout:?} ({status})\n--- stdout ---\n{o}\n--- stderr ---\n{e}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// Kills a child started as its own process group, and whatever it started (npx → node).
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{}", child.id())])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
}

/// A locally installed npm tool, through npx (never downloading anything).
fn npx(args: &[&str], envs: &[(&str, &str)]) -> Ran {
    let mut all = vec!["--no", "--"];
    all.extend_from_slice(args);
    run("npx", &all, &clients(), envs, Duration::from_secs(300))
}

// ---------------------------------------------------------------------------------------------
// npm ci, once per test binary

/// A lock between processes (two `cargo test` runs sharing tests/clients/): a directory holding
/// the owner's pid, removed on drop; taken over when its owner is gone.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire() -> DirLock {
        let path = clients().join(".npm-clients.lock");
        let deadline = Instant::now() + Duration::from_secs(20 * 60);
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let _ = std::fs::write(path.join("pid"), std::process::id().to_string());
                    return DirLock(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Self::abandoned(&path) {
                        let _ = std::fs::remove_dir_all(&path);
                        continue;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{} is still held after 20 minutes; remove it if no test is running",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    fn abandoned(path: &Path) -> bool {
        let age = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        match std::fs::read_to_string(path.join("pid")) {
            // The owner writes its pid right after creating the directory.
            Err(_) => age > Duration::from_secs(30),
            Ok(pid) => {
                (cfg!(target_os = "linux") && !Path::new("/proc").join(pid.trim()).exists())
                    || age > Duration::from_secs(30 * 60)
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tool_version(tool: &str) -> Result<String, String> {
    match Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "`{tool} --version` failed ({}): {}; {NEEDS}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("`{tool}` was not found ({e}); {NEEDS}")),
    }
}

/// What node_modules was installed from: package.json and package-lock.json.
fn install_stamp() -> Result<String, String> {
    let read = |f: &str| {
        std::fs::read_to_string(clients().join(f)).map_err(|e| format!("tests/clients/{f}: {e}"))
    };
    Ok(format!(
        "{}\n{}",
        read("package.json")?,
        read("package-lock.json")?
    ))
}

fn installed_from(stamp: &str) -> bool {
    let modules = clients().join("node_modules");
    std::fs::read_to_string(modules.join(".almanac-npm-ci-stamp")).is_ok_and(|s| s == stamp)
        && ["graphql-codegen", "tsc", "graphql-inspector"]
            .iter()
            .all(|b| modules.join(".bin").join(b).exists())
        && modules.join("graphql-ws/package.json").exists()
}

fn install() -> Result<(), String> {
    let node = tool_version("node")?;
    let major = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 20) {
        return Err(format!("Node.js {node} is too old; {NEEDS}"));
    }
    tool_version("npm")?;
    let stamp = install_stamp()?;
    if installed_from(&stamp) {
        return Ok(());
    }
    let _lock = DirLock::acquire();
    if installed_from(&stamp) {
        return Ok(()); // another test process installed it meanwhile
    }
    eprintln!("npm_clients: node_modules is missing or stale; running `npm ci` in tests/clients");
    let ran = run(
        "npm",
        &[
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--prefer-offline",
        ],
        &clients(),
        &[],
        Duration::from_secs(15 * 60),
    );
    if !ran.status.success() {
        return Err(format!(
            "`npm ci` in tests/clients failed ({}); {NEEDS}\n{}",
            ran.status,
            ran.output()
        ));
    }
    eprintln!("npm_clients: npm ci took {:.1?}", ran.took);
    std::fs::write(clients().join("node_modules/.almanac-npm-ci-stamp"), stamp)
        .map_err(|e| format!("writing the install stamp: {e}"))
}

static NPM: OnceLock<Result<(), String>> = OnceLock::new();

/// node_modules is installed (npm ci at most once per test binary), or the test fails saying why.
fn npm_ready() {
    if let Err(e) = NPM.get_or_init(install) {
        panic!("{e}");
    }
}

async fn npm_ready_async() {
    let r = tokio::task::spawn_blocking(|| NPM.get_or_init(install).clone())
        .await
        .expect("npm ci task");
    if let Err(e) = r {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The `almanac` binary, for a second server process

/// The newest modification time of the server's sources (every workspace member but tests/,
/// the migrations, the manifests and Cargo.lock).
fn newest_source() -> SystemTime {
    fn walk(p: &Path, newest: &mut SystemTime) {
        let Ok(meta) = std::fs::metadata(p) else {
            return;
        };
        if meta.is_dir() {
            let skip = p
                .file_name()
                .is_some_and(|n| n == "target" || n == "node_modules" || n == ".git");
            if !skip {
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    walk(&e.path(), newest);
                }
            }
        } else if let Ok(t) = meta.modified() {
            *newest = (*newest).max(t);
        }
    }
    let ws = workspace();
    let mut newest = SystemTime::UNIX_EPOCH;
    walk(&ws.join("Cargo.toml"), &mut newest);
    walk(&ws.join("Cargo.lock"), &mut newest);
    walk(&ws.join("migrations"), &mut newest);
    for e in std::fs::read_dir(&ws).into_iter().flatten().flatten() {
        let p = e.path();
        if p.join("Cargo.toml").exists() && p.file_name().is_some_and(|n| n != "tests") {
            walk(&p.join("Cargo.toml"), &mut newest);
            walk(&p.join("src"), &mut newest);
            walk(&p.join("build.rs"), &mut newest);
        }
    }
    newest
}

/// `ALMANAC_BIN`, or `almanac` next to this test binary's profile directory (<target>/debug),
/// built with `cargo build -p almanac-api --bin almanac` when it is missing or older than the
/// sources (cargo then decides what, if anything, to rebuild).
fn find_or_build_almanac() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ALMANAC_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = match exe.parent() {
        Some(deps) if deps.file_name().is_some_and(|n| n == "deps") => {
            deps.parent().map(Path::to_path_buf)
        }
        _ => None,
    }
    .unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"))
            .join("debug")
    });
    let bin = profile_dir.join(format!("almanac{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_some_and(|t| t >= newest_source()) {
        return Ok(bin);
    }
    let target_dir = profile_dir
        .parent()
        .ok_or("no target directory")?
        .to_string_lossy()
        .to_string();
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "debug".into());
    let mut args = vec![
        "build",
        "-p",
        "almanac-api",
        "--bin",
        "almanac",
        "--target-dir",
        &target_dir,
    ];
    if profile != "debug" {
        args.extend([
            "--profile",
            if profile == "release" {
                "release"
            } else {
                &profile
            },
        ]);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "npm_clients: {} is missing or older than the sources; running `cargo {}`",
        bin.display(),
        args.join(" ")
    );
    let started = Instant::now();
    let mut cmd = Command::new(&cargo);
    cmd.args(&args)
        .current_dir(workspace())
        .stdin(Stdio::null());
    // Cargo describes this test crate to its process; the nested build is for another package.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k == "CARGO_MANIFEST_DIR"
            || k == "CARGO_MANIFEST_PATH"
            || k.starts_with("CARGO_PKG_")
            || k == "CARGO_CRATE_NAME"
            || k.starts_with("CARGO_BIN_")
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "CARGO_TARGET_TMPDIR"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("npm_clients: built almanac in {:.1?}", started.elapsed());
    if !bin.exists() {
        return Err(format!(
            "cargo built almanac-api but {} does not exist",
            bin.display()
        ));
    }
    Ok(bin)
}

static ALMANAC: OnceLock<Result<PathBuf, String>> = OnceLock::new();

async fn almanac_binary() -> PathBuf {
    match tokio::task::spawn_blocking(|| ALMANAC.get_or_init(find_or_build_almanac).clone())
        .await
        .expect("build task")
    {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// `almanac serve` as a separate OS process, killed on drop (its log is printed if the test fails).
struct ServerProcess {
    child: std::process::Child,
    url: String,
    log: PathBuf,
}

impl ServerProcess {
    async fn start(bin: &Path, database_url: &str, auth: &str) -> ServerProcess {
        let mut last = String::new();
        for _ in 0..3 {
            // The CLI takes a concrete address: find a free port (and retry if it is taken meanwhile).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = std::env::temp_dir().join(format!(
                "almanac-peer-{}.log",
                uuid::Uuid::new_v4().simple()
            ));
            let file = std::fs::File::create(&log).expect("peer log");
            let mut cmd = Command::new(bin);
            cmd.args([
                "serve",
                "--database-url",
                database_url,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--auth",
                auth,
                "--rate-limit-per-minute",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file);
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("ALMANAC_") || k == "DATABASE_URL" {
                    cmd.env_remove(&k);
                }
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = ServerProcess {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log,
            };
            match server.ready().await {
                Ok(()) => return server,
                Err(e) => {
                    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                    last = format!("{e}\n--- almanac log ---\n{log}");
                    if !log.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("the second almanac process did not start: {last}");
    }

    async fn ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("almanac exited ({status}) before it was ready"));
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("almanac was not ready within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- log of the second almanac process ({}) ---\n{}",
                self.url,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

// ---------------------------------------------------------------------------------------------
// The example operations, over HTTP

/// The document of clients/operations/<name>.graphql with the fragments it spreads (each in a
/// file named after it), as a bundler would assemble it.
fn document(name: &str) -> String {
    let dir = clients().join("operations");
    let read = |n: &str| {
        std::fs::read_to_string(dir.join(format!("{n}.graphql")))
            .unwrap_or_else(|e| panic!("tests/clients/operations/{n}.graphql: {e}"))
    };
    let mut doc = read(name);
    let mut included = HashSet::new();
    loop {
        let spreads: Vec<String> = doc
            .match_indices("...")
            .map(|(i, _)| {
                doc[i + 3..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty() && n != "on" && !included.contains(n))
            .collect();
        if spreads.is_empty() {
            async_graphql_parser::parse_query(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            return doc;
        }
        for f in spreads {
            if included.insert(f.clone()) {
                doc.push('\n');
                doc.push_str(&read(&f));
            }
        }
    }
}

/// Sends the example operations as a frontend would: POST with `operationName`, optionally a
/// bearer token.
struct Api<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Api<'_> {
    async fn op(&self, name: &str, variables: Value) -> Value {
        let mut req = self
            .app
            .http
            .post(format!("{}/graphql", self.app.url))
            .json(
                &json!({ "query": document(name), "variables": variables, "operationName": name }),
            );
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let body: Value = req
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON response");
        assert!(body.get("errors").is_none(), "{name} failed: {body}");
        body["data"].clone()
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The graphql-ws client (clients/subscribe.mjs)

/// `node subscribe.mjs` with its JSON lines; killed on drop.
struct NodeClient {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    ended: bool,
    transcript: Vec<String>,
    /// `next` lines read but not yet taken by `event`.
    pending: Vec<Value>,
}

impl NodeClient {
    async fn start(
        ws_url: &str,
        subscriptions: &[(&str, Value)],
        token: Option<&str>,
    ) -> NodeClient {
        let mut args: Vec<String> = vec![
            "--url".into(),
            ws_url.into(),
            "--timeout-ms".into(),
            "120000".into(),
        ];
        for (name, variables) in subscriptions {
            args.extend(["--subscribe".to_string(), format!("{name}={variables}")]);
        }
        if let Some(t) = token {
            args.extend(["--token".to_string(), t.to_string()]);
        }
        NodeClient::spawn("subscribe.mjs", &args)
    }

    /// `node <script> <args>` in clients/, its stdout and stderr lines read as they come (killed on
    /// drop).
    fn spawn(script: &str, args: &[String]) -> NodeClient {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(script)
            .args(args)
            .env_remove("ALMANAC_TOKEN")
            .env_remove("ALMANAC_WS_URL");
        cmd.current_dir(clients())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node {script}`: {e}; {NEEDS}"));
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let (stdout, stderr) = (
            child.stdout.take().expect("stdout"),
            child.stderr.take().expect("stderr"),
        );
        let out = tx.clone();
        tokio::spawn(async move {
            let mut l = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = l.next_line().await {
                let _ = out.send(line);
            }
        });
        tokio::spawn(async move {
            let mut l = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = l.next_line().await {
                let _ = tx.send(format!("stderr: {line}"));
            }
        });
        let stdin = child.stdin.take();
        NodeClient {
            child,
            stdin,
            lines,
            ended: false,
            transcript: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\n--- graphql-ws client (tests/clients/subscribe.mjs) output ---\n{}",
            self.transcript.join("\n")
        )
    }

    /// The next JSON line on stdout (stderr goes to the transcript only); None at `deadline` or
    /// when the process has closed its output.
    async fn line(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => return None,
                Ok(None) => {
                    self.ended = true;
                    return None;
                }
                Ok(Some(line)) => {
                    self.transcript.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        return Some(v);
                    }
                }
            }
        }
    }

    /// Keeps `next` lines for `event`; anything but progress reports fails the test.
    fn keep(&mut self, v: Value, waiting_for: &str) {
        match v["type"].as_str() {
            Some("next") => self.pending.push(v),
            Some("subscribing") | Some("connected") => {}
            _ => self.fail(&format!("the client reported {v} while {waiting_for}")),
        }
    }

    async fn connected(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.line(deadline).await {
                Some(v) if v["type"] == "connected" => return,
                Some(v) if v["type"] == "subscribing" => {}
                Some(v) => self.fail(&format!("the client reported {v} before connecting")),
                None => self.fail("the graphql-ws client did not report `connected` within 30 s"),
            }
        }
    }

    /// Takes the first `next` event of `operation` whose data matches, waiting up to `secs`.
    async fn event(
        &mut self,
        operation: &str,
        secs: u64,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|v| v["operation"] == operation && matches(&v["data"]))
        {
            return self.pending.remove(i)["data"].take();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match self.line(deadline).await {
                Some(v)
                    if v["type"] == "next"
                        && v["operation"] == operation
                        && matches(&v["data"]) =>
                {
                    return v["data"].clone()
                }
                Some(v) => self.keep(v, &format!("waiting for a {operation} event")),
                None => self.fail(&format!("no matching {operation} event within {secs} s")),
            }
        }
    }

    /// Reads lines until `deadline`; true when every one of `operations` has had an event.
    async fn heard_all(&mut self, operations: &[&str], deadline: tokio::time::Instant) -> bool {
        loop {
            if operations
                .iter()
                .all(|op| self.pending.iter().any(|v| v["operation"] == *op))
            {
                return true;
            }
            match self.line(deadline).await {
                Some(v) => self.keep(v, "waiting for the subscriptions to go live"),
                None if self.ended => self.fail("the graphql-ws client exited"),
                None => return false,
            }
        }
    }

    /// Closes stdin (the script's signal to dispose the client) and waits for it to exit; returns
    /// the exit status, the final `done` line and every `next` event not taken.
    async fn finish(mut self) -> (ExitStatus, Value, Vec<Value>) {
        drop(self.stdin.take());
        let status = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => self.fail(&format!("waiting for the client: {e}")),
            Err(_) => self.fail("the graphql-ws client did not exit within 30 s of stdin closing"),
        };
        let mut done = Value::Null;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Some(v) = self.line(deadline).await {
            match v["type"].as_str() {
                Some("next") => self.pending.push(v),
                Some("done") => done = v,
                _ => {}
            }
        }
        if done.is_null() {
            self.fail(&format!(
                "the client exited ({status}) without its final `done` line"
            ));
        }
        (status, done, std::mem::take(&mut self.pending))
    }
}

fn ws_url(http_url: &str) -> String {
    format!("{}/graphql/ws", http_url.replacen("http", "ws", 1))
}

/// The series an event is about (SeriesChanged: its series; OccurrencesChanged: the series of the
/// added and changed occurrences).
fn series_of(event: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(id) = event["seriesChanged"]["seriesId"].as_str() {
        out.insert(id.to_string());
    }
    for key in ["added", "changed"] {
        for o in event["occurrencesChanged"][key]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.insert(s(&o["seriesId"]));
        }
    }
    out
}

/// graphql-ws acknowledges the connection but not each subscription, so a subscription counts as
/// live once it has delivered an event: create throwaway series in `calendar` until both
/// subscriptions have reported one. Returns the probe series (their events are ignored after).
async fn until_live(api: &Api<'_>, client: &mut NodeClient, calendar: &str) -> HashSet<String> {
    let mut probes = HashSet::new();
    for i in 0..100 {
        let d = api.op("CreateSeries", json!({ "input": { "calendarId": calendar, "title": format!("probe {i}"), "start": "2026-01-20T12:00:00", "duration": "PT5M" } })).await;
        probes.insert(s(&d["createSeries"]["series"]["id"]));
        if client
            .heard_all(
                &["SeriesChanged", "OccurrencesChanged"],
                tokio::time::Instant::now() + Duration::from_millis(250),
            )
            .await
        {
            for e in std::mem::take(&mut client.pending) {
                assert!(
                    series_of(&e["data"]).is_subset(&probes.iter().cloned().collect()),
                    "an event about something else: {e}"
                );
            }
            return probes;
        }
    }
    client.fail("the subscriptions delivered no event for 100 probe series (~25 s)");
}

/// The scenario both engines share: the calendar is written through `api` (HTTP), the graphql-ws
/// client listens at `ws` (the same server, or another process on the same database).
async fn a_graphql_ws_client_hears_mutations(api: &Api<'_>, ws: &str) {
    let d = api
        .op(
            "CreateCalendar",
            json!({ "input": { "name": "js client", "timeZone": "Europe/Berlin" } }),
        )
        .await;
    let cal = s(&d["createCalendar"]["calendar"]["id"]);
    let (from, to) = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
    let mut client = NodeClient::start(
        ws,
        &[
            ("SeriesChanged", json!({ "calendarIds": [cal] })),
            (
                "OccurrencesChanged",
                json!({ "calendarIds": [cal], "from": from, "to": to }),
            ),
        ],
        api.token.as_deref(),
    )
    .await;
    client.connected().await;
    let probes = until_live(api, &mut client, &cal).await;

    // A recurring series created over HTTP: both subscriptions report it.
    let d = api
        .op("CreateSeries", json!({ "input": { "calendarId": cal, "title": "standup", "start": "2026-01-05T09:00:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=DAILY;COUNT=3" } } }))
        .await;
    let series = s(&d["createSeries"]["series"]["id"]);
    let version = d["createSeries"]["series"]["version"]
        .as_i64()
        .expect("version");
    let page = api
        .op(
            "Occurrences",
            json!({ "calendarIds": [cal], "from": from, "to": to, "first": 100 }),
        )
        .await;
    let occurrences: Vec<Value> = page["occurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .filter(|o| o["seriesId"] == json!(series))
        .collect();
    assert_eq!(occurrences.len(), 3, "{page}");
    let ids: BTreeSet<String> = occurrences.iter().map(|o| s(&o["id"])).collect();

    let ev = client
        .event("SeriesChanged", 15, |d| {
            d["seriesChanged"]["seriesId"] == json!(series)
        })
        .await;
    let sc = &ev["seriesChanged"];
    assert_eq!(
        (sc["change"].clone(), sc["calendarId"].clone()),
        (json!("CREATED"), json!(cal)),
        "{ev}"
    );
    assert_eq!(
        (
            sc["series"]["title"].clone(),
            sc["series"]["version"].as_i64()
        ),
        (json!("standup"), Some(version)),
        "{ev}"
    );

    let ev = client
        .event("OccurrencesChanged", 15, |d| series_of(d).contains(&series))
        .await;
    let oc = &ev["occurrencesChanged"];
    let added: BTreeSet<String> = oc["added"]
        .as_array()
        .expect("added")
        .iter()
        .map(|o| s(&o["id"]))
        .collect();
    assert_eq!(
        added, ids,
        "the added occurrences are exactly the series' occurrences: {ev}"
    );
    assert_eq!(
        (oc["changed"].clone(), oc["removed"].clone()),
        (json!([]), json!([])),
        "{ev}"
    );
    let local: Vec<String> = oc["added"]
        .as_array()
        .expect("added")
        .iter()
        .map(|o| s(&o["localStart"]))
        .collect();
    assert_eq!(
        local,
        [
            "2026-01-05T09:00:00",
            "2026-01-06T09:00:00",
            "2026-01-07T09:00:00"
        ],
        "{ev}"
    );
    let first = &oc["added"][0];
    assert_eq!(
        (first["start"].clone(), first["startInBerlin"].clone()),
        (
            json!("2026-01-05T08:00:00Z"),
            json!("2026-01-05T09:00:00+01:00")
        ),
        "{ev}"
    );

    // Editing only the second occurrence reports it changed (same id, new title).
    let second = &occurrences[1];
    api.op(
        "EditOccurrence",
        json!({ "input": { "occurrence": { "seriesId": series, "recurrenceId": second["recurrenceId"] }, "scope": "THIS", "expectedVersion": version, "changes": { "title": "standup (late)" } } }),
    )
    .await;
    let ev = client
        .event("OccurrencesChanged", 15, |d| series_of(d).contains(&series))
        .await;
    let oc = &ev["occurrencesChanged"];
    assert_eq!(
        (oc["added"].clone(), oc["removed"].clone()),
        (json!([]), json!([])),
        "{ev}"
    );
    let changed = oc["changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 1, "{ev}");
    assert_eq!(
        (changed[0]["id"].clone(), changed[0]["title"].clone()),
        (second["id"].clone(), json!("standup (late)")),
        "{ev}"
    );
    let ev = client
        .event("SeriesChanged", 15, |d| {
            d["seriesChanged"]["seriesId"] == json!(series)
        })
        .await;
    assert_eq!(ev["seriesChanged"]["change"], json!("UPDATED"), "{ev}");

    // The client disposes cleanly and exits 0; nothing else was delivered (no duplicates).
    let (status, done, rest) = client.finish().await;
    assert!(
        status.success(),
        "the graphql-ws client exited with {status}: {done}"
    );
    assert_eq!(done["ok"], json!(true), "{done}");
    for e in rest {
        assert!(
            series_of(&e["data"]).iter().all(|id| probes.contains(id)),
            "an unexpected event: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// graphql-ws on the server the mutation goes to (dev auth: an empty connection_init payload).
async fn a_graphql_ws_client_hears_a_mutation_made_over_http(app: TestApp) {
    npm_ready_async().await;
    a_graphql_ws_client_hears_mutations(
        &Api {
            app: &app,
            token: None,
        },
        &ws_url(&app.url),
    )
    .await;
}

engine_tests!(a_graphql_ws_client_hears_a_mutation_made_over_http);

/// PostgreSQL, two OS processes: the subscription is held by a separately started `almanac serve`
/// (auth required: the API key goes in the connection_init payload), the mutations go to the
/// in-process server; both share the test's database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_graphql_ws_client_on_a_second_server_process_hears_a_mutation_made_on_the_first(
) {
    let app = spawn_app(Engine::Postgres).await;
    let (_org, token) = app.organization_with_key("js clients", "read,write").await;
    let (_, bin) = tokio::join!(npm_ready_async(), almanac_binary());
    let peer = ServerProcess::start(&bin, &app.database_url, "required").await;

    // Without a credential the second process refuses the connection, and the client says so.
    let mut anonymous = NodeClient::start(
        &ws_url(&peer.url),
        &[("SeriesChanged", json!({ "calendarIds": [] }))],
        None,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let refusal = loop {
        match anonymous.line(deadline).await {
            Some(v) if v["type"] == "error" => break v,
            Some(v) if v["type"] == "next" => {
                anonymous.fail(&format!("an unauthenticated subscription was served: {v}"))
            }
            Some(_) => {}
            None => anonymous.fail("no error for a connection without a credential"),
        }
    };
    let (status, _, _) = anonymous.finish().await;
    assert!(
        !status.success(),
        "the refused client should exit non-zero: {refusal}"
    );

    a_graphql_ws_client_hears_mutations(
        &Api {
            app: &app,
            token: Some(token),
        },
        &ws_url(&peer.url),
    )
    .await;
    drop(peer);
}

/// Codegen types + strict tsc over the typed usage file; first a negative control: types
/// generated from a schema in which `Series.version` is a String no longer fit the usage.
#[test]
fn codegen_types_for_the_example_operations_pass_strict_tsc() {
    npm_ready();
    let _lock = DirLock::acquire(); // generated/ is shared with any other test process
    let schema =
        std::fs::read_to_string(workspace().join("schema.graphql")).expect("schema.graphql");
    let field = "\n\tversion: Int!\n";
    assert_eq!(
        schema.matches(field).count(),
        1,
        "schema.graphql should have exactly one `version: Int!` field (Series.version)"
    );
    let broken = std::env::temp_dir().join(format!(
        "almanac-broken-schema-{}.graphql",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&broken, schema.replace(field, "\n\tversion: String!\n"))
        .expect("write the broken schema");
    let gen = npx(
        &["graphql-codegen", "--config", "codegen.ts"],
        &[("ALMANAC_SCHEMA", &broken.to_string_lossy())],
    );
    let _ = std::fs::remove_file(&broken);
    assert!(
        gen.status.success(),
        "codegen from the altered schema failed:\n{}",
        gen.output()
    );
    let tsc = npx(&["tsc", "--noEmit", "-p", "."], &[]);
    assert!(
        !tsc.status.success(),
        "tsc accepted types in which Series.version is a String:\n{}",
        tsc.output()
    );
    assert!(
        tsc.stdout.contains("src/usage.ts") && tsc.stdout.contains("error TS"),
        "{}",
        tsc.output()
    );

    let gen = npx(&["graphql-codegen", "--config", "codegen.ts"], &[]);
    assert!(
        gen.status.success(),
        "graphql-codegen failed:\n{}",
        gen.output()
    );
    let generated = std::fs::read_to_string(clients().join("generated/operations.ts"))
        .expect("generated/operations.ts");
    for t in [
        "ListCalendarsQuery",
        "CreateCalendarMutation",
        "CreateSeriesMutation",
        "OccurrencesQuery",
        "EditOccurrenceMutation",
        "BookableSlotsQuery",
        "OccurrencesChangedSubscription",
        "SeriesChangedSubscription",
        "OccurrenceFieldsFragment",
    ] {
        assert!(
            generated.contains(&format!("export type {t} ")),
            "generated/operations.ts has no {t}"
        );
    }
    let tsc = npx(&["tsc", "--noEmit", "-p", "."], &[]);
    assert!(
        tsc.status.success(),
        "tsc --noEmit (strict) failed on the generated types and src/usage.ts:\n{}",
        tsc.output()
    );
    eprintln!(
        "npm_clients: graphql-codegen {:.1?}, tsc {:.1?}",
        gen.took, tsc.took
    );
}

#[test]
fn graphql_inspector_accepts_the_operations_and_rejects_the_invalid_one() {
    npm_ready();
    let ok = npx(
        &[
            "graphql-inspector",
            "validate",
            "operations/*.graphql",
            "../../schema.graphql",
        ],
        &[],
    );
    assert!(
        ok.status.success(),
        "graphql-inspector rejected tests/clients/operations:\n{}",
        ok.output()
    );
    assert!(
        ok.stdout.contains("All documents are valid"),
        "{}",
        ok.output()
    );

    let bad = npx(
        &[
            "graphql-inspector",
            "validate",
            "invalid/*.graphql",
            "../../schema.graphql",
        ],
        &[],
    );
    assert!(
        !bad.status.success(),
        "graphql-inspector accepted tests/clients/invalid:\n{}",
        bad.output()
    );
    let text = format!("{}{}", bad.stdout, bad.stderr);
    assert!(
        text.contains("UnknownField.graphql")
            && text.contains("Cannot query field organizer on type Occurrence"),
        "{}",
        bad.output()
    );
    eprintln!("npm_clients: graphql-inspector validate {:.1?}", ok.took);
}

/// The schema documents itself: the description rules of `graphql-schema-linter` (what frontend
/// teams run in CI over a vendor's SDL) pass over schema.graphql. Control first: the same rules
/// over the schema plus one undescribed type must flag that type, its field and its argument.
#[test]
fn graphql_schema_linter_finds_every_schema_element_described() {
    const RULES: &str = "types-have-descriptions,fields-have-descriptions,arguments-have-descriptions,enum-values-have-descriptions,input-object-values-have-descriptions";
    npm_ready();
    let schema =
        std::fs::read_to_string(workspace().join("schema.graphql")).expect("schema.graphql");
    let control = std::env::temp_dir().join(format!(
        "almanac-undescribed-schema-{}.graphql",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &control,
        format!("{schema}\ntype Undescribed {{\n\tslot(at: Int): Int\n}}\n"),
    )
    .expect("write the control schema");
    let bad = npx(
        &[
            "graphql-schema-linter",
            "--rules",
            RULES,
            &control.to_string_lossy(),
        ],
        &[],
    );
    let _ = std::fs::remove_file(&control);
    assert!(
        !bad.status.success(),
        "graphql-schema-linter accepted an undescribed type:\n{}",
        bad.output()
    );
    for missing in [
        "`Undescribed` is missing a description",
        "`Undescribed.slot` is missing a description",
        "`at`",
    ] {
        assert!(
            bad.stdout.contains(missing),
            "graphql-schema-linter did not report {missing}:\n{}",
            bad.output()
        );
    }
    assert!(
        bad.stdout.contains("3 errors detected"),
        "only the control's three elements should lack a description:\n{}",
        bad.output()
    );

    let ok = npx(
        &[
            "graphql-schema-linter",
            "--rules",
            RULES,
            "../../schema.graphql",
        ],
        &[],
    );
    assert!(
        ok.status.success(),
        "graphql-schema-linter found schema elements without a description:\n{}",
        ok.output()
    );
    assert!(ok.stdout.contains("0 errors detected"), "{}", ok.output());
    eprintln!("npm_clients: graphql-schema-linter {:.1?}", ok.took);
}

const WEEKDAYS: [&str; 5] = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"];

/// The example operations are not only valid but do what a frontend expects on a live server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_operations_run_against_the_server() {
    let app = spawn_app(Engine::Sqlite).await;
    let api = Api {
        app: &app,
        token: None,
    };
    let mut calendars = BTreeSet::new();
    for name in ["a", "b"] {
        let d = api
            .op("CreateCalendar", json!({ "input": { "name": name, "timeZone": "UTC", "availability": { "mode": "DEFAULT", "workingHours": [{ "days": WEEKDAYS, "start": "09:00", "end": "17:00" }] } } }))
            .await;
        assert_eq!(
            d["createCalendar"]["calendar"]["workingHours"],
            json!([{ "days": WEEKDAYS, "start": "09:00", "end": "17:00" }]),
            "{d}"
        );
        calendars.insert(s(&d["createCalendar"]["calendar"]["id"]));
    }
    let (mut listed, mut after, mut pages) = (BTreeSet::new(), Value::Null, 0);
    loop {
        let d = api
            .op("ListCalendars", json!({ "first": 1, "after": after }))
            .await;
        pages += 1;
        listed.extend(
            d["calendars"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| s(&e["node"]["id"])),
        );
        if d["calendars"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = d["calendars"]["pageInfo"]["endCursor"].clone();
    }
    assert!(
        listed.is_superset(&calendars) && pages >= 2,
        "{listed:?} in {pages} pages"
    );
    let cal = calendars.first().expect("a calendar").clone();

    let d = api.op("CreateSeries", json!({ "input": { "calendarId": cal, "title": "daily", "start": "2026-01-05T10:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=5" } } })).await;
    let series = s(&d["createSeries"]["series"]["id"]);
    let mut version = d["createSeries"]["series"]["version"]
        .as_i64()
        .expect("version");
    assert_eq!(
        d["createSeries"]["series"]["recurrence"]["rrule"]
            .as_str()
            .map(|r| r.contains("COUNT=5")),
        Some(true),
        "{d}"
    );

    let window = |first: i64, after: &Value| json!({ "calendarIds": [cal], "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "first": first, "after": after });
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let d = api.op("Occurrences", window(2, &after)).await;
        pages += 1;
        nodes.extend(
            d["occurrences"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"].clone()),
        );
        if d["occurrences"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = d["occurrences"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!((nodes.len(), pages), (5, 3), "{nodes:?}");

    // Only this one.
    let d = api
        .op("EditOccurrence", json!({ "input": { "occurrence": { "occurrenceId": nodes[1]["id"] }, "scope": "THIS", "expectedVersion": version, "changes": { "title": "just this" } } }))
        .await;
    let e = &d["editOccurrence"];
    assert_eq!(
        (
            e["occurrence"]["id"].clone(),
            e["occurrence"]["title"].clone(),
            e["originalSeries"].clone()
        ),
        (nodes[1]["id"].clone(), json!("just this"), Value::Null),
        "{d}"
    );
    version = e["series"]["version"].as_i64().expect("version");

    // This and following: a split.
    let d = api
        .op(
            "EditOccurrence",
            json!({ "input": { "occurrence": { "seriesId": series, "recurrenceId": nodes[3]["recurrenceId"] }, "scope": "THIS_AND_FOLLOWING", "expectedVersion": version, "changes": { "title": "from now on" } } }),
        )
        .await;
    let e = &d["editOccurrence"];
    assert_eq!(e["report"]["splitAtFirstOccurrence"], json!(false), "{d}");
    assert_eq!(e["originalSeries"]["id"], json!(series), "{d}");
    assert_eq!(
        e["series"]["lineage"]["parentSeriesId"],
        json!(series),
        "{d}"
    );
    assert_eq!(e["series"]["lineage"]["rootSeriesId"], json!(series), "{d}");
    assert_ne!(e["series"]["id"], json!(series), "{d}");
    let d = api.op("Occurrences", window(100, &Value::Null)).await;
    let titles: Vec<String> = d["occurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| s(&e["node"]["title"]))
        .collect();
    assert_eq!(
        titles,
        ["daily", "just this", "daily", "from now on", "from now on"],
        "{d}"
    );

    // Hour slots on Monday 5 January: working hours 09–17 minus the 10:00 occurrence.
    let d = api
        .op(
            "BookableSlots",
            json!({ "rules": { "calendarIds": [cal], "duration": "PT1H", "now": "2026-01-01T00:00:00Z", "timeZone": "UTC" }, "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z", "first": 50 }),
        )
        .await;
    let starts: Vec<String> = d["bookableSlots"]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|x| to_utc(&s(&x["start"])))
        .collect();
    let want: Vec<String> = [9, 11, 12, 13, 14, 15, 16]
        .iter()
        .map(|h| format!("2026-01-05T{h:02}:00:00Z"))
        .collect();
    assert_eq!(starts, want, "{d}");
    assert_eq!(d["bookableSlots"]["hasMore"], json!(false), "{d}");
}

// =============================================================================================

// HTTP conventions (issue 12): Apollo Client's automatic persisted queries, graphql-http's
// GraphQL-over-HTTP audit, and the `almanac` binary's command line.
// =============================================================================================

mod http_conventions {
    use super::{almanac_binary, clients, npm_ready_async, run, ServerProcess};
    use almanac_e2e::{engine_tests, TestApp};
    use serde_json::{json, Value};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    /// `node <script> --url <app>/graphql`, its single JSON line of output.
    async fn node_script(script: &'static str, url: String) -> Value {
        let ran = tokio::task::spawn_blocking(move || {
            run(
                "node",
                &[script, "--url", &url],
                &clients(),
                &[],
                Duration::from_secs(300),
            )
        })
        .await
        .expect("node task");
        assert!(
            ran.status.success(),
            "node {script} failed ({}):\n{}",
            ran.status,
            ran.output()
        );
        let line = ran
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("node {script} printed no JSON:\n{}", ran.output()));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("node {script}: {e}\n{}", ran.output()))
    }

    /// (method, sent the query text, sent the hash, status, error codes) of each HTTP exchange.
    fn exchanges(step: &Value) -> Vec<(String, bool, bool, u64, Vec<String>)> {
        step["exchanges"]
            .as_array()
            .expect("exchanges")
            .iter()
            .map(|x| {
                let codes = x["codes"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .map(|c| c.as_str().unwrap_or("<none>").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    x["method"].as_str().unwrap_or_default().to_string(),
                    x["sentQuery"] == json!(true),
                    x["sentHash"] == json!(true),
                    x["status"].as_u64().unwrap_or_default(),
                    codes,
                )
            })
            .collect()
    }

    /// Apollo Client 4's `PersistedQueryLink`, over POST and with `useGETForHashedQueries`: an
    /// unknown hash is answered PERSISTED_QUERY_NOT_FOUND and the link resends with the query; a
    /// known hash travels alone; a mutation goes through the same protocol (always POST) and writes.
    async fn apollo_persisted_query_link_registers_then_sends_hashes_only(app: TestApp) {
        npm_ready_async().await;
        let out = node_script("apq.mjs", format!("{}/graphql", app.url)).await;
        assert_eq!(out["ok"], json!(true), "{out}");
        let miss = |m: &str, status: u64| {
            (
                m.to_string(),
                false,
                true,
                status,
                vec!["PERSISTED_QUERY_NOT_FOUND".to_string()],
            )
        };
        let with_query = || ("POST".to_string(), true, true, 200, Vec::<String>::new());
        for result in out["results"].as_array().expect("results") {
            let client = result["client"].as_str().expect("client");
            let method = if result["useGETForHashedQueries"] == json!(true) {
                "GET"
            } else {
                "POST"
            };
            let steps: Vec<&Value> = result["steps"].as_array().expect("steps").iter().collect();
            assert_eq!(
                steps
                    .iter()
                    .map(|s| s["step"].as_str().unwrap_or_default())
                    .collect::<Vec<_>>(),
                ["first", "again", "mutation"],
                "{result}"
            );
            // Apollo Client 4 asks for application/graphql-response+json: a miss is a 400 there.
            assert_eq!(
                exchanges(steps[0]),
                vec![miss(method, 400), with_query()],
                "{client}: {result}"
            );
            assert_eq!(
                exchanges(steps[1]),
                vec![(method.to_string(), false, true, 200, vec![])],
                "{client}: {result}"
            );
            assert_eq!(
                exchanges(steps[2]),
                vec![miss("POST", 400), with_query()],
                "{client}: {result}"
            );
            for s in &steps[..2] {
                assert_eq!(
                    s["data"]["viewer"]["canWrite"],
                    json!(true),
                    "{client}: {s}"
                );
            }
            assert_eq!(
                steps[2]["data"]["createCalendar"]["calendar"]["name"],
                json!(format!("apq {client}")),
                "{client}: {result}"
            );
        }
        let d = app
            .ok(
                "{ calendars(first: 100) { edges { node { name timeZone } } } }",
                json!({}),
            )
            .await;
        let mut made: Vec<String> = d["calendars"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["node"]["name"].as_str().unwrap_or_default(),
                    e["node"]["timeZone"].as_str().unwrap_or_default()
                )
            })
            .collect();
        made.sort();
        assert_eq!(
            made,
            ["apq Get Europe/Paris", "apq Post Europe/Paris"],
            "each mutation ran exactly once"
        );
    }

    /// graphql-http's `serverAudits`: every MUST, SHOULD and MAY holds (status `ok`), so no
    /// error, no warning and no notice.
    async fn graphql_http_server_audits_all_pass(app: TestApp) {
        npm_ready_async().await;
        let out = node_script("audit.mjs", format!("{}/graphql", app.url)).await;
        let results = out["results"].as_array().expect("results");
        assert!(
            results.len() >= 50,
            "graphql-http ran only {} audits: {out}",
            results.len()
        );
        let failed: Vec<&Value> = results
            .iter()
            .filter(|r| r["status"] != json!("ok"))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} audits are not ok:\n{}",
            failed.len(),
            results.len(),
            failed
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    engine_tests!(
        apollo_persisted_query_link_registers_then_sends_hashes_only,
        graphql_http_server_audits_all_pass
    );

    /// The real binary: `almanac emulate --help` shows only the emulator's options, and `almanac`
    /// with no subcommand serves (what `cargo run --release` in the README runs).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_almanac_binary_serves_by_default_and_each_subcommand_has_its_own_help() {
        let bin = almanac_binary().await;
        let help = Command::new(&bin)
            .args(["emulate", "--help"])
            .output()
            .expect("almanac emulate --help");
        let help = String::from_utf8_lossy(&help.stdout).to_string();
        assert!(
            help.contains("--bind") && help.contains("--account"),
            "{help}"
        );
        for server_flag in [
            "--listen",
            "--auth",
            "--google-",
            "--microsoft-",
            "--database-url",
            "--cors-origins",
            "--token-keys",
        ] {
            assert!(
                !help.contains(server_flag),
                "`almanac emulate --help` lists {server_flag}:\n{help}"
            );
        }

        let dir =
            std::env::temp_dir().join(format!("almanac-default-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("almanac.log");
        let file = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new(&bin);
        // No arguments at all: settings come from the environment and the defaults (the
        // database is the default relative `almanac.db`, here in a scratch directory).
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ALMANAC_") || k == "DATABASE_URL" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("ALMANAC_LISTEN", format!("127.0.0.1:{port}"));
        let child = cmd.spawn().expect("almanac");
        let mut server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server
            .ready()
            .await
            .unwrap_or_else(|e| panic!("`almanac` with no subcommand did not serve: {e}"));
        let res = reqwest::Client::new()
            .post(format!("{}/graphql", server.url))
            .json(&json!({ "query": "{ viewer { canWrite } }" }))
            .send()
            .await
            .expect("post");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["viewer"]["canWrite"], json!(true), "{body}");
        assert!(
            dir.join("almanac.db").exists(),
            "the default database is ./almanac.db"
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization on the subscription transports, seen by the real clients: graphql-ws close codes
// (4401 without a credential, 4403 for a refused one and when an open subscription's key is
// revoked) and graphql-sse (clients/sse_subscribe.mjs) receiving an event over /graphql/stream.

mod subscription_transports {
    use super::*;
    use almanac_api::config::{AuthMode, Settings};
    use almanac_e2e::engine_tests_with;

    /// Required auth, and open connections re-check their key every second.
    fn required_rechecking_every_second(s: &mut Settings) {
        s.auth = AuthMode::Required;
        s.credential_recheck_seconds = 1;
    }

    /// `node <script> <args>` with its JSON lines, as a `NodeClient` (killed on drop).
    fn spawn_node(script: &str, args: &[String]) -> NodeClient {
        NodeClient::spawn(script, args)
    }

    /// The close the graphql-ws client reports (other lines skipped): (code, reason).
    async fn close_reported(client: &mut NodeClient) -> (i64, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match client.line(deadline).await {
                Some(v) if v["type"] == "closed" => {
                    return (
                        v["code"].as_i64().unwrap_or(-1),
                        v["reason"].as_str().unwrap_or_default().to_string(),
                    )
                }
                Some(_) => {}
                None => client.fail("the graphql-ws client reported no close"),
            }
        }
    }

    async fn a_graphql_ws_client_sees_4401_and_4403(app: TestApp) {
        npm_ready_async().await;
        let (_, admin) = app.organization_with_key("js clients", "read,write").await;
        let api = Api {
            app: &app,
            token: Some(admin.clone()),
        };
        let cal = s(&api
            .op(
                "CreateCalendar",
                json!({ "input": { "name": "ws", "timeZone": "UTC" } }),
            )
            .await["createCalendar"]["calendar"]["id"]);
        let sub = [("SeriesChanged", json!({ "calendarIds": [cal] }))];
        let ws = ws_url(&app.url);

        // No credential in required mode: 4401 Unauthorized.
        let mut client = NodeClient::start(&ws, &sub, None).await;
        let (code, reason) = close_reported(&mut client).await;
        assert_eq!(code, 4401, "{reason}");
        assert!(reason.starts_with("UNAUTHENTICATED: "), "{reason}");

        // A key that is not valid, and one that was revoked: 4403 Forbidden.
        let created = app.graphql_as(Some(&admin), "mutation { createApiKey(input: { name: \"held\", scopes: \"read\" }) { apiKey { id } secret } }", json!({})).await;
        let (held_id, held) = (
            s(&created["data"]["createApiKey"]["apiKey"]["id"]),
            s(&created["data"]["createApiKey"]["secret"]),
        );
        let mut client = NodeClient::start(&ws, &sub, Some("alm_nope_nope")).await;
        let (code, reason) = close_reported(&mut client).await;
        assert_eq!(
            (code, reason.as_str()),
            (4403, "UNAUTHENTICATED: the API key is not valid")
        );

        // An open subscription whose key is revoked: 4403, after it had received events.
        let mut client = NodeClient::start(&ws, &sub, Some(&held)).await;
        client.connected().await;
        let mut probes = BTreeSet::new();
        for i in 0..100 {
            let d = api.op("CreateSeries", json!({ "input": { "calendarId": cal, "title": format!("probe {i}"), "start": "2026-01-20T12:00:00", "duration": "PT5M" } })).await;
            probes.insert(s(&d["createSeries"]["series"]["id"]));
            if client
                .heard_all(
                    &["SeriesChanged"],
                    tokio::time::Instant::now() + Duration::from_millis(250),
                )
                .await
            {
                break;
            }
        }
        let heard = std::mem::take(&mut client.pending);
        assert!(
            !heard.is_empty()
                && heard
                    .iter()
                    .all(|e| series_of(&e["data"]).is_subset(&probes)),
            "{heard:?}"
        );
        let revoked = app.graphql_as(Some(&admin), "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } } }", json!({ "i": { "id": held_id } })).await;
        assert!(
            revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
            "{revoked}"
        );
        let (code, reason) = close_reported(&mut client).await;
        assert_eq!(
            (code, reason.as_str()),
            (4403, "UNAUTHENTICATED: the API key was revoked")
        );

        // And the revoked key is refused at connect too.
        let mut client = NodeClient::start(&ws, &sub, Some(&held)).await;
        let (code, reason) = close_reported(&mut client).await;
        assert_eq!(
            (code, reason.as_str()),
            (4403, "UNAUTHENTICATED: the API key was revoked")
        );
    }

    /// graphql-sse (distinct connections mode) over /graphql/stream, authenticated by header,
    /// hears a series created over HTTP.
    async fn a_graphql_sse_client_hears_a_mutation_made_over_http(app: TestApp) {
        npm_ready_async().await;
        let (_, key) = app.organization_with_key("js clients", "read,write").await;
        let api = Api {
            app: &app,
            token: Some(key.clone()),
        };
        let cal = s(&api
            .op(
                "CreateCalendar",
                json!({ "input": { "name": "sse", "timeZone": "UTC" } }),
            )
            .await["createCalendar"]["calendar"]["id"]);
        let query = "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId change series { title } } }";
        let args: Vec<String> = [
            "--url",
            &format!("{}/graphql/stream", app.url),
            "--query",
            query,
            "--variables",
            &json!({ "c": [cal] }).to_string(),
            "--token",
            &key,
            "--timeout-ms",
            "120000",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let mut client = spawn_node("sse_subscribe.mjs", &args);
        // The stream is live once it has delivered an event: create probes until one arrives.
        let mut probes = BTreeSet::new();
        'live: for i in 0..100 {
            let d = api.op("CreateSeries", json!({ "input": { "calendarId": cal, "title": format!("probe {i}"), "start": "2026-01-20T12:00:00", "duration": "PT5M" } })).await;
            probes.insert(s(&d["createSeries"]["series"]["id"]));
            let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
            while let Some(v) = client.line(deadline).await {
                match v["type"].as_str() {
                    Some("next") => {
                        assert!(
                            probes.contains(
                                v["data"]["seriesChanged"]["seriesId"]
                                    .as_str()
                                    .unwrap_or_default()
                            ),
                            "an event about something else: {v}"
                        );
                        break 'live;
                    }
                    Some("subscribing") | Some("message") => {}
                    _ => client.fail(&format!("the graphql-sse client reported {v}")),
                }
            }
            if client.ended {
                client.fail("the graphql-sse client exited");
            }
        }
        let d = api.op("CreateSeries", json!({ "input": { "calendarId": cal, "title": "standup", "start": "2026-01-05T09:00:00", "duration": "PT15M" } })).await;
        let series = s(&d["createSeries"]["series"]["id"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let event = loop {
            match client.line(deadline).await {
                Some(v)
                    if v["type"] == "next"
                        && v["data"]["seriesChanged"]["seriesId"] == json!(series) =>
                {
                    break v
                }
                Some(v) if v["type"] == "next" => assert!(
                    probes.contains(
                        v["data"]["seriesChanged"]["seriesId"]
                            .as_str()
                            .unwrap_or_default()
                    ),
                    "{v}"
                ),
                Some(v) if v["type"] == "subscribing" || v["type"] == "message" => {}
                Some(v) => client.fail(&format!("the graphql-sse client reported {v}")),
                None => client.fail("the graphql-sse client did not hear the series within 30 s"),
            }
        };
        assert_eq!(
            (
                event["data"]["seriesChanged"]["change"].clone(),
                event["data"]["seriesChanged"]["series"]["title"].clone()
            ),
            (json!("CREATED"), json!("standup")),
            "{event}"
        );
        let (status, done, _) = client.finish().await;
        assert!(
            status.success(),
            "the graphql-sse client exited with {status}: {done}"
        );
        assert_eq!(done["ok"], json!(true), "{done}");
    }

    engine_tests_with!(required_rechecking_every_second; a_graphql_ws_client_sees_4401_and_4403, a_graphql_sse_client_hears_a_mutation_made_over_http);
}

// =============================================================================================
// Relay completeness, with the clients that depend on it (issue 12):
//
// - Apollo Client 4 (clients/apollo_pagination.mjs) with `relayStylePagination`, paging the
//   `occurrences` connection (computed) and `calendars` (stored) forwards, backwards and from a
//   cursor in the middle over real HTTP: the merged cache list must be exactly the server's list;
// - relay-compiler over clients/relay/ (every connection under `@connection` in both directions,
//   `@refetchable` on every `Node` type), with a negative control in clients/relay-invalid/ (a
//   refetchable fragment on a type that is not a Node must fail to compile).
// =============================================================================================

mod relay_completeness {
    use super::*;

    /// `node apollo_pagination.mjs …`, one JSON object per scenario.
    async fn apollo(
        url: &str,
        field: &str,
        variables: Value,
        page: usize,
        middle: &str,
    ) -> Vec<Value> {
        let args: Vec<String> = [
            "apollo_pagination.mjs",
            "--url",
            &format!("{url}/graphql"),
            "--field",
            field,
            "--variables",
            &variables.to_string(),
            "--page",
            &page.to_string(),
            "--middle",
            middle,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ran = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run("node", &args, &clients(), &[], Duration::from_secs(120))
        })
        .await
        .expect("node task");
        assert!(
            ran.status.success(),
            "apollo_pagination.mjs failed ({}):\n{}",
            ran.status,
            ran.output()
        );
        ran.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", ran.output()))
            })
            .collect()
    }

    /// The whole list in one request, as the reference: node ids and cursors.
    async fn reference(
        app: &TestApp,
        query: &str,
        variables: Value,
        field: &str,
    ) -> (Vec<String>, Vec<String>) {
        let d = app.ok(query, variables).await;
        let c = &d[field];
        assert_eq!(
            c["pageInfo"]["hasNextPage"],
            json!(false),
            "the reference is the whole list: {d}"
        );
        let edges = c["edges"].as_array().expect("edges");
        (
            edges.iter().map(|e| s(&e["node"]["id"])).collect(),
            edges.iter().map(|e| s(&e["cursor"])).collect(),
        )
    }

    fn check(scenarios: &[Value], want: &[String], page: usize) {
        let names: Vec<&str> = scenarios
            .iter()
            .map(|v| v["scenario"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(names, ["forward", "backward", "middle"], "{scenarios:?}");
        for sc in scenarios {
            let ids: Vec<String> = sc["ids"].as_array().expect("ids").iter().map(s).collect();
            assert_eq!(
                ids, want,
                "the merged cache list of the {} scenario",
                sc["scenario"]
            );
            let info = &sc["pageInfo"];
            assert_eq!(
                (info["hasPreviousPage"].clone(), info["hasNextPage"].clone()),
                (json!(false), json!(false)),
                "{sc}"
            );
            assert_eq!(
                (
                    s(&info["startCursor"]).is_empty(),
                    s(&info["endCursor"]).is_empty()
                ),
                (false, false),
                "{sc}"
            );
            // Paged, not fetched at once: at least one request per page of the list.
            let requests = sc["requests"].as_u64().expect("requests") as usize;
            assert!(
                requests >= want.len().div_ceil(page),
                "{} requests for {} nodes in pages of {page}: {sc}",
                requests,
                want.len()
            );
        }
    }

    async fn apollo_relay_style_pagination_merges_pages_in_both_directions(app: TestApp) {
        npm_ready_async().await;
        let cal = app.create_calendar("apollo", "Europe/Berlin").await;
        app.create_series(&cal, json!({ "title": "daily", "start": "2026-03-02T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=12" } })).await.expect("daily");
        app.create_series(&cal, json!({ "title": "tied", "start": "2026-03-03T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=2" } })).await.expect("tied");
        for i in 0..4 {
            app.create_calendar(&format!("more {i}"), "UTC").await;
        }
        let vars = json!({ "calendarIds": [cal], "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z" });
        let q = "query($calendarIds: [ID!]!, $from: DateTime!, $to: DateTime!) { occurrences(calendarIds: $calendarIds, from: $from, to: $to, first: 1000) { edges { cursor node { id } } pageInfo { hasNextPage } } }";
        let (want, cursors) = reference(&app, q, vars.clone(), "occurrences").await;
        assert_eq!(want.len(), 14);
        let scenarios = apollo(&app.url, "occurrences", vars, 3, &cursors[6]).await;
        check(&scenarios, &want, 3);

        let (want, cursors) = reference(
            &app,
            "{ calendars(first: 200) { edges { cursor node { id } } pageInfo { hasNextPage } } }",
            json!({}),
            "calendars",
        )
        .await;
        assert!(want.len() >= 5, "{want:?}");
        let scenarios = apollo(&app.url, "calendars", json!({}), 2, &cursors[2]).await;
        check(&scenarios, &want, 2);
    }

    engine_tests!(apollo_relay_style_pagination_merges_pages_in_both_directions);

    /// relay-compiler in `dir` (a project with its relay.config.json), artifacts in a fresh
    /// __generated__/.
    fn relay_compiler(dir: &str) -> Ran {
        let project = clients().join(dir);
        let generated = project.join("__generated__");
        let _ = std::fs::remove_dir_all(&generated);
        std::fs::create_dir_all(&generated).expect("__generated__");
        run(
            "npx",
            &["--no", "--", "relay-compiler"],
            &project,
            &[],
            Duration::from_secs(300),
        )
    }

    #[test]
    fn relay_compiler_accepts_bidirectional_connections_and_refetchable_nodes() {
        npm_ready();
        let _lock = DirLock::acquire();
        // Negative control first: a refetchable fragment on a type that is not a Node.
        let bad = relay_compiler("relay-invalid");
        assert!(
            !bad.status.success(),
            "relay-compiler accepted @refetchable on Lineage:\n{}",
            bad.output()
        );
        let text = format!("{}{}", bad.stdout, bad.stderr);
        assert!(
            text.contains("NotNode_lineage") && text.contains("Node interface"),
            "{}",
            bad.output()
        );

        let ok = relay_compiler("relay");
        assert!(
            ok.status.success(),
            "relay-compiler failed:\n{}",
            ok.output()
        );
        let generated = clients().join("relay/__generated__");
        // Every Node type of the schema has a refetch query, and every Node type is covered.
        let schema =
            std::fs::read_to_string(workspace().join("schema.graphql")).expect("schema.graphql");
        let nodes: Vec<&str> = schema
            .lines()
            .filter_map(|l| l.strip_prefix("type "))
            .filter(|l| l.contains("implements Node"))
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .collect();
        assert_eq!(nodes.len(), 8, "{nodes:?}");
        for node in &nodes {
            let file = generated.join(format!("Almanac{node}RefetchQuery.graphql.ts"));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                text.contains("node(id: $id)"),
                "the refetch query of {node} goes through node(id:): {text}"
            );
        }
        // Each connection paginates both ways.
        for fragment in [
            "calendars",
            "calendarSeries",
            "occurrences",
            "seriesOccurrences",
            "upcoming",
        ] {
            let file = generated.join(format!("Almanac_{fragment}.graphql.ts"));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                text.contains("\"direction\": \"bidirectional\""),
                "{fragment} is not bidirectional:\n{text}"
            );
        }
        eprintln!("npm_clients: relay-compiler {:.1?}", ok.took);
    }
}
