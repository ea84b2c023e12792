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
}

impl Settings {
    /// For tests: a given database, any free port.
    pub fn for_tests(database_url: String) -> Self {
        Settings { database_url, listen: SocketAddr::from(([127, 0, 0, 1], 0)), log_json: false }
    }
}
