//! Settings from CLI flags and environment variables (flags win).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(name = "almanac", version, about = "Almanac: a self-hostable GraphQL scheduling API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the GraphQL API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
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
    },
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

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// `sqlite:PATH` (embedded, the default) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:almanac.db", global = true)]
    pub database_url: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "ALMANAC_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,
    /// Log JSON lines instead of text.
    #[arg(long, env = "ALMANAC_LOG_JSON", default_value_t = false, global = true)]
    pub log_json: bool,
    /// `dev` (default: no credentials needed) or `required`.
    #[arg(long, env = "ALMANAC_AUTH", value_enum, default_value_t = AuthMode::Dev, global = true)]
    pub auth: AuthMode,
    /// Shared secret for HS256 JWTs from the host application.
    #[arg(long, env = "ALMANAC_JWT_HS256_SECRET", global = true, hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    /// RS256 public key (PEM text, or a path to a PEM file) for JWTs from the host application.
    #[arg(long, env = "ALMANAC_JWT_RS256_PUBLIC_KEY", global = true)]
    pub jwt_rs256_public_key: Option<String>,
    /// Requests per minute per credential (API key, JWT user, or client address in dev mode); 0: off.
    #[arg(long, env = "ALMANAC_RATE_LIMIT_PER_MINUTE", default_value_t = 1200, global = true)]
    pub rate_limit_per_minute: u32,
    /// Introspection on (default) or off (production).
    #[arg(long, env = "ALMANAC_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
}

impl Settings {
    /// For tests: a given database, any free port.
    pub fn for_tests(database_url: String) -> Self {
        Settings {
            database_url,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_json: false,
            auth: AuthMode::Dev,
            jwt_hs256_secret: None,
            jwt_rs256_public_key: None,
            introspection: true,
            rate_limit_per_minute: 0,
        }
    }
}
