use almanac_api::config::{Cli, Command};
use almanac_api::startup::{shutdown_signal, Application};
use almanac_api::{graphql, services, store, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::ExportSchema => print!("{}", graphql::sdl()),
        Command::Migrate => store::connect(&cli.settings.database_url).await?.migrate().await?,
        Command::CreateApiKey { organization_name, scopes } => {
            let store = store::connect(&cli.settings.database_url).await?;
            store.migrate().await?;
            let org = store.create_organization(&organization_name).await?;
            let (key, token) = services::api_keys::create(&store, org, "created by almanac create-api-key", &scopes).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::json!({ "organizationId": org.to_string(), "apiKeyId": key.id, "apiKey": token, "scopes": key.scopes }));
        }
        Command::Serve => {
            let app = Application::build(cli.settings.clone()).await?;
            tracing::info!(port = app.port(), database = %redact(&cli.settings.database_url), "Almanac is serving GraphQL at /graphql");
            app.run_until_stopped(shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
