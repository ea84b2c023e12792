//! Settings from CLI flags and environment variables (flags win).
//!
//! Each subcommand declares only the options it reads, so `almanac emulate --help` does not list
//! the server's. `almanac` with no subcommand serves, taking the server's options directly
//! (`almanac --listen …` as well as `almanac serve --listen …`).

use almanac_providers::oauth::SecretString;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(
    name = "almanac",
    version,
    about = "Almanac: a self-hostable GraphQL scheduling API",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's options when no subcommand is given (`almanac` alone serves).
    #[command(flatten)]
    pub settings: Settings,
}

impl Cli {
    /// The command to run: `serve` with the top-level options when none was named.
    pub fn into_command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(Box::new(self.settings)))
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the GraphQL API (the default).
    Serve(Box<Settings>),
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        logging: LoggingArgs,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Create an organization and an API key for it; prints both (the key only this once).
    CreateApiKey {
        /// Name of the new organization.
        #[arg(long)]
        organization_name: String,
        /// "read", "write" or "read,write".
        #[arg(long, default_value = "read,write")]
        scopes: String,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        logging: LoggingArgs,
    },
    /// Run a provider emulator (a faithful fake of Google Calendar) to develop against sync
    /// without an account. Prints the URLs and settings to use.
    #[cfg(feature = "emulators")]
    Emulate {
        #[arg(value_enum)]
        provider: EmulatedProvider,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: SocketAddr,
        /// Accounts to create (each with a primary calendar).
        #[arg(long, default_value = "dev@example.com")]
        account: Vec<String>,
        #[command(flatten)]
        logging: LoggingArgs,
    },
}

impl Command {
    /// Whether logs are JSON lines (commands without the option log text).
    pub fn log_json(&self) -> bool {
        match self {
            Command::Serve(s) => s.log_json,
            Command::Migrate { logging, .. } | Command::CreateApiKey { logging, .. } => {
                logging.log_json
            }
            #[cfg(feature = "emulators")]
            Command::Emulate { logging, .. } => logging.log_json,
            Command::ExportSchema => false,
        }
    }
}

/// The database of the commands that open one without serving.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// `sqlite:PATH` (embedded, the default) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite:almanac.db",
        hide_env_values = true
    )]
    pub database_url: SecretString,
}

#[derive(Args, Debug, Clone)]
pub struct LoggingArgs {
    /// Log JSON lines instead of text.
    #[arg(long, env = "ALMANAC_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

#[cfg(feature = "emulators")]
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmulatedProvider {
    Google,
    Outlook,
}

/// Whether requests must authenticate.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Requests without credentials act for the default organization (local development).
    #[default]
    Dev,
    /// Every request needs an API key or a JWT.
    Required,
}

/// `Debug` is safe to log: the database URL (which may hold a password), JWT secrets, token-sealing
/// keys and OAuth client secrets are `SecretString`s, printed redacted.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// `sqlite:PATH` (embedded, the default) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite:almanac.db",
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "ALMANAC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Log JSON lines instead of text.
    #[arg(long, env = "ALMANAC_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
    /// `dev` (default: no credentials needed) or `required`.
    #[arg(long, env = "ALMANAC_AUTH", value_enum, default_value_t = AuthMode::Dev)]
    pub auth: AuthMode,
    /// Shared secret for HS256 JWTs from the host application.
    #[arg(long, env = "ALMANAC_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<SecretString>,
    /// RS256 public key (PEM text, or a path to a PEM file) for JWTs from the host application.
    #[arg(long, env = "ALMANAC_JWT_RS256_PUBLIC_KEY")]
    pub jwt_rs256_public_key: Option<String>,
    /// Seconds of clock skew allowed when checking a JWT's `exp` and `nbf` (0: none).
    #[arg(long, env = "ALMANAC_JWT_LEEWAY_SECONDS", default_value_t = 0)]
    pub jwt_leeway_seconds: u32,
    /// Requests per minute per credential (API key, JWT user, or client address in dev mode); 0: off.
    #[arg(long, env = "ALMANAC_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u32,
    /// The server's address as clients reach it (`https://calendar.example.com`, optionally with
    /// a path prefix), used to build calendar feed URLs; default `http://<listen address>`.
    #[arg(long, env = "ALMANAC_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Introspection on (default) or off (production).
    #[arg(long, env = "ALMANAC_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Origins allowed to call the API from a browser (CORS), comma-separated
    /// (`https://app.example.com,http://localhost:5173`); none by default.
    #[arg(long, env = "ALMANAC_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Seconds between re-checks of the API key behind an open WebSocket or SSE stream: a revoked
    /// key's subscriptions end within this (a JWT's end at its `exp`).
    #[arg(long, env = "ALMANAC_CREDENTIAL_RECHECK_SECONDS", default_value_t = 10)]
    pub credential_recheck_seconds: u64,
    /// Seconds a WebSocket may stay open without `connection_init` (then it closes with 4408).
    #[arg(long, env = "ALMANAC_WS_INIT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub ws_init_timeout_seconds: u64,
    /// Seconds a client has to send a request's line and headers; a keep-alive connection waiting
    /// this long for its next request is closed too.
    #[arg(long, env = "ALMANAC_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Longest pause, in seconds, between two chunks of a request body before the request fails.
    #[arg(long, env = "ALMANAC_BODY_TIMEOUT_SECONDS", default_value_t = 30)]
    pub body_timeout_seconds: u64,
    /// Open connections (WebSockets included) served at once; more are answered 503. 0: the open
    /// file limit (`ulimit -n`) minus 128 kept for the database and the rest.
    #[arg(long, env = "ALMANAC_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    #[command(flatten)]
    pub query_limits: QueryLimits,
    #[command(flatten)]
    pub sync: SyncSettings,
}

/// What one GraphQL document may ask for, checked before anything executes (`QUERY_TOO_COMPLEX`).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Most a query may cost: fields resolved, each multiplied by the `first`/`last` of the
    /// connections above it (their default page when absent).
    #[arg(long, env = "ALMANAC_MAX_QUERY_COST", default_value_t = 50_000)]
    pub max_query_cost: u64,
    /// Most fields a document may select once its fragments are expanded (aliases count).
    #[arg(long, env = "ALMANAC_MAX_QUERY_FIELDS", default_value_t = 1_000)]
    pub max_query_fields: u64,
    /// Most fragment spreads a document may expand to.
    #[arg(
        long,
        env = "ALMANAC_MAX_QUERY_FRAGMENT_SPREADS",
        default_value_t = 500
    )]
    pub max_query_fragment_spreads: u64,
    /// Largest query document, in bytes.
    #[arg(long, env = "ALMANAC_MAX_QUERY_BYTES", default_value_t = 65_536)]
    pub max_query_bytes: usize,
    /// Most tokens (names, values, punctuation) a query document may hold.
    #[arg(long, env = "ALMANAC_MAX_QUERY_TOKENS", default_value_t = 10_000)]
    pub max_query_tokens: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_query_cost: 50_000,
            max_query_fields: 1_000,
            max_query_fragment_spreads: 500,
            max_query_bytes: 65_536,
            max_query_tokens: 10_000,
        }
    }
}

/// Provider sync (Google Calendar): OAuth client, endpoints, token sealing, the background worker.
#[derive(clap::Args, Debug, Clone)]
pub struct SyncSettings {
    /// Keys that seal provider tokens at rest: `kid:base64(32 bytes)[,kid:older-key…]`; the first
    /// seals, all open (rotation). Required with `--auth required`; dev mode uses a public dev key.
    #[arg(long, env = "ALMANAC_TOKEN_KEYS", hide_env_values = true)]
    pub token_keys: Option<SecretString>,
    /// OAuth client id for Google Calendar; sync with Google is off without it.
    #[arg(long, env = "ALMANAC_GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,
    #[arg(long, env = "ALMANAC_GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<SecretString>,
    #[arg(
        long,
        env = "ALMANAC_GOOGLE_AUTH_URL",
        default_value = "https://accounts.google.com/o/oauth2/v2/auth"
    )]
    pub google_auth_url: String,
    #[arg(
        long,
        env = "ALMANAC_GOOGLE_TOKEN_URL",
        default_value = "https://oauth2.googleapis.com/token"
    )]
    pub google_token_url: String,
    /// Base URL of the Calendar API (point it at `almanac emulate google` to develop offline).
    #[arg(
        long,
        env = "ALMANAC_GOOGLE_API_URL",
        default_value = "https://www.googleapis.com/calendar/v3/"
    )]
    pub google_api_url: String,
    /// OAuth client id for Microsoft Graph (Outlook); sync with Outlook is off without it.
    #[arg(long, env = "ALMANAC_MICROSOFT_CLIENT_ID")]
    pub microsoft_client_id: Option<String>,
    #[arg(long, env = "ALMANAC_MICROSOFT_CLIENT_SECRET", hide_env_values = true)]
    pub microsoft_client_secret: Option<SecretString>,
    /// `common`, `organizations`, `consumers` or a tenant id.
    #[arg(long, env = "ALMANAC_MICROSOFT_TENANT", default_value = "common")]
    pub microsoft_tenant: String,
    /// The identity platform (point it at `almanac emulate outlook` to develop offline).
    #[arg(
        long,
        env = "ALMANAC_MICROSOFT_LOGIN_URL",
        default_value = "https://login.microsoftonline.com"
    )]
    pub microsoft_login_url: String,
    #[arg(
        long,
        env = "ALMANAC_GRAPH_API_URL",
        default_value = "https://graph.microsoft.com/v1.0"
    )]
    pub graph_api_url: String,
    /// What to do with a rule Outlook cannot express: `reject` the push (default), or push the
    /// `nearest` expressible series plus deletions that make the occurrences equal.
    #[arg(long, env = "ALMANAC_OUTLOOK_FALLBACK", value_enum, default_value_t = OutlookFallback::Reject)]
    pub outlook_fallback: OutlookFallback,
    /// Outlook changes are read over a window around now (Graph's delta is windowed): this many
    /// days back and ahead.
    #[arg(long, env = "ALMANAC_OUTLOOK_WINDOW_PAST_DAYS", default_value_t = 60)]
    pub outlook_window_past_days: i64,
    #[arg(
        long,
        env = "ALMANAC_OUTLOOK_WINDOW_FUTURE_DAYS",
        default_value_t = 400
    )]
    pub outlook_window_future_days: i64,
    /// Seconds between background sync rounds of every link (the safety net behind push
    /// notifications); 0 turns the background worker off.
    #[arg(long, env = "ALMANAC_SYNC_INTERVAL_SECONDS", default_value_t = 300)]
    pub sync_interval_seconds: u64,
    /// Per-request timeout towards providers, in milliseconds.
    #[arg(long, env = "ALMANAC_PROVIDER_TIMEOUT_MS", default_value_t = 20_000)]
    pub provider_timeout_ms: u64,
    /// Attempts per provider request (rate limits, 5xx, timeouts) before the outbox row is retried later.
    #[arg(long, env = "ALMANAC_PROVIDER_MAX_ATTEMPTS", default_value_t = 4)]
    pub provider_max_attempts: u32,
    #[arg(long, env = "ALMANAC_PROVIDER_RETRY_BASE_MS", default_value_t = 500)]
    pub provider_retry_base_ms: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlookFallback {
    Reject,
    Nearest,
}

impl SyncSettings {
    /// For tests: no provider configured, no background worker, fast retries.
    pub fn for_tests() -> Self {
        SyncSettings {
            token_keys: None,
            google_client_id: None,
            google_client_secret: None,
            google_auth_url: String::new(),
            google_token_url: String::new(),
            google_api_url: String::new(),
            microsoft_client_id: None,
            microsoft_client_secret: None,
            microsoft_tenant: "common".into(),
            microsoft_login_url: String::new(),
            graph_api_url: String::new(),
            outlook_fallback: OutlookFallback::Reject,
            outlook_window_past_days: 60,
            outlook_window_future_days: 400,
            sync_interval_seconds: 0,
            provider_timeout_ms: 2_000,
            provider_max_attempts: 3,
            provider_retry_base_ms: 5,
        }
    }
}

impl Settings {
    /// The public base URL without a trailing slash: `--public-url`, or `http://` and the
    /// address actually bound (so port 0 resolves to the real port).
    pub fn public_base_url(&self, bound: SocketAddr) -> anyhow::Result<String> {
        match self
            .public_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => Ok(format!("http://{bound}")),
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(u.trim_end_matches('/').to_string())
            }
            Some(u) => anyhow::bail!("--public-url must start with http:// or https://, got {u:?}"),
        }
    }
}

impl Settings {
    /// For tests: a given database, any free port.
    pub fn for_tests(database_url: String) -> Self {
        Settings {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_json: false,
            auth: AuthMode::Dev,
            jwt_hs256_secret: None,
            jwt_rs256_public_key: None,
            jwt_leeway_seconds: 0,
            introspection: true,
            rate_limit_per_minute: 0,
            public_url: None,
            cors_origins: Vec::new(),
            credential_recheck_seconds: 10,
            ws_init_timeout_seconds: 10,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            max_connections: 0,
            query_limits: QueryLimits::default(),
            sync: SyncSettings::for_tests(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn debug_output_of_the_settings_holds_no_secret() {
        let cli = Cli::try_parse_from([
            "almanac",
            "--database-url",
            "postgres://almanac:db-password-1@db/almanac",
            "--jwt-hs256-secret",
            "jwt-secret-2",
            "--token-keys",
            "k1:token-key-3",
            "--google-client-secret",
            "google-secret-4",
            "--microsoft-client-secret",
            "microsoft-secret-5",
        ])
        .expect("valid arguments");
        let Command::Serve(settings) = cli.into_command() else {
            panic!("no subcommand serves");
        };
        let shown = format!("{settings:?}");
        for secret in [
            "db-password-1",
            "jwt-secret-2",
            "token-key-3",
            "google-secret-4",
            "microsoft-secret-5",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            settings
                .jwt_hs256_secret
                .as_ref()
                .map(SecretString::expose_secret),
            Some("jwt-secret-2")
        );
        let migrate = Cli::try_parse_from([
            "almanac",
            "migrate",
            "--database-url",
            "postgres://u:db-password-6@h/d",
        ])
        .expect("valid arguments")
        .into_command();
        assert!(!format!("{migrate:?}").contains("db-password-6"));
    }

    fn help_of(subcommand: &str) -> String {
        let mut cli = Cli::command();
        cli.build();
        cli.find_subcommand_mut(subcommand)
            .unwrap_or_else(|| panic!("no subcommand {subcommand}"))
            .render_long_help()
            .to_string()
    }

    #[test]
    fn each_subcommand_lists_only_its_own_options() {
        let server_only = [
            "--listen",
            "--auth",
            "--google-client-id",
            "--microsoft-client-id",
            "--token-keys",
            "--cors-origins",
            "--rate-limit-per-minute",
            "--jwt-hs256-secret",
            "--jwt-leeway-seconds",
            "--introspection",
            "--sync-interval-seconds",
        ];
        for (subcommand, own, foreign) in [
            (
                "emulate",
                vec!["--bind", "--account", "--log-json"],
                [&server_only[..], &["--database-url"]].concat(),
            ),
            (
                "migrate",
                vec!["--database-url", "--log-json"],
                server_only.to_vec(),
            ),
            (
                "create-api-key",
                vec!["--database-url", "--organization-name", "--scopes"],
                server_only.to_vec(),
            ),
            (
                "export-schema",
                vec![],
                [&server_only[..], &["--database-url", "--log-json"]].concat(),
            ),
            (
                "serve",
                server_only.to_vec(),
                vec!["--bind", "--account", "--organization-name"],
            ),
        ] {
            let help = help_of(subcommand);
            for flag in own {
                assert!(
                    help.contains(flag),
                    "`almanac {subcommand} --help` lacks {flag}:\n{help}"
                );
            }
            for flag in foreign {
                assert!(
                    !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")),
                    "`almanac {subcommand} --help` lists {flag}:\n{help}"
                );
            }
        }
    }

    #[test]
    fn almanac_alone_serves_with_the_server_options() {
        let serve = |args: &[&str]| match Cli::try_parse_from(args).map(Cli::into_command) {
            Ok(Command::Serve(s)) => s,
            other => panic!("{args:?} does not serve: {other:?}"),
        };
        // `cargo run --release` runs the binary with no arguments: it serves (on whatever
        // ALMANAC_LISTEN says, 127.0.0.1:8080 by default).
        serve(&["almanac"]);
        let s = serve(&[
            "almanac",
            "--listen",
            "0.0.0.0:9000",
            "--cors-origins",
            "https://a.example,http://localhost:5173",
        ]);
        assert_eq!(
            (s.listen.to_string(), s.cors_origins.clone()),
            (
                "0.0.0.0:9000".to_string(),
                vec![
                    "https://a.example".to_string(),
                    "http://localhost:5173".to_string()
                ]
            )
        );
        let s = serve(&[
            "almanac",
            "serve",
            "--listen",
            "127.0.0.1:9001",
            "--auth",
            "required",
        ]);
        assert_eq!(
            (s.listen.to_string(), s.auth),
            ("127.0.0.1:9001".to_string(), AuthMode::Required)
        );

        // Server options mean nothing to the other commands, and are refused there.
        for args in [
            &["almanac", "migrate", "--listen", "127.0.0.1:1"][..],
            &["almanac", "emulate", "google", "--auth", "required"],
            &["almanac", "--listen", "127.0.0.1:1", "migrate"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
        match Cli::try_parse_from([
            "almanac",
            "migrate",
            "--database-url",
            "postgres://db/almanac",
        ])
        .map(Cli::into_command)
        {
            Ok(Command::Migrate { database, .. }) => {
                assert_eq!(
                    database.database_url.expose_secret(),
                    "postgres://db/almanac"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
