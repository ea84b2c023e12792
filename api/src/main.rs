use almanac_api::config::{Cli, Command};
use almanac_api::startup::{shutdown_signal, Application};
use almanac_api::{graphql, services, store, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().into_command();
    telemetry::init(command.log_json());
    match command {
        Command::ExportSchema => print!("{}", graphql::sdl()),
        Command::Migrate { database, .. } => {
            store::connect(database.database_url.expose_secret())
                .await?
                .migrate()
                .await?
        }
        Command::CreateApiKey {
            organization_name,
            scopes,
            database,
            ..
        } => {
            let store = store::connect(database.database_url.expose_secret()).await?;
            store.migrate().await?;
            let org = store.create_organization(&organization_name).await?;
            let (key, token) = services::api_keys::create(
                &store,
                org,
                "created by almanac create-api-key",
                &scopes,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({ "organizationId": org.to_string(), "apiKeyId": key.id, "apiKey": token, "scopes": key.scopes })
            );
        }
        #[cfg(feature = "emulators")]
        Command::Emulate {
            provider: almanac_api::config::EmulatedProvider::Google,
            bind,
            account,
            ..
        } => {
            use almanac_emulators::google::{serve, GoogleEmulatorConfig};
            let listener = tokio::net::TcpListener::bind(bind).await?;
            let at = listener.local_addr()?;
            let config = GoogleEmulatorConfig {
                accounts: account.clone(),
                ..GoogleEmulatorConfig::default()
            };
            let id = config
                .clients
                .first()
                .map(|c| c.client_id.clone())
                .unwrap_or_default();
            let secret = config
                .clients
                .first()
                .map(|c| c.client_secret.clone())
                .unwrap_or_default();
            println!(
                "Google Calendar emulator at http://{at}/calendar/v3/ (accounts: {})",
                account.join(", ")
            );
            println!("Serve Almanac against it with:");
            println!("  ALMANAC_GOOGLE_CLIENT_ID={id} ALMANAC_GOOGLE_CLIENT_SECRET={secret} \\");
            println!("  ALMANAC_GOOGLE_AUTH_URL=http://{at}/o/oauth2/v2/auth ALMANAC_GOOGLE_TOKEN_URL=http://{at}/token \\");
            println!("  ALMANAC_GOOGLE_API_URL=http://{at}/calendar/v3/ almanac serve");
            serve(listener, config).await?;
        }
        #[cfg(feature = "emulators")]
        Command::Emulate {
            provider: almanac_api::config::EmulatedProvider::Outlook,
            bind,
            account,
            ..
        } => {
            use almanac_emulators::outlook::{serve, OutlookEmulatorConfig};
            let listener = tokio::net::TcpListener::bind(bind).await?;
            let at = listener.local_addr()?;
            let config = OutlookEmulatorConfig {
                accounts: account.clone(),
                ..OutlookEmulatorConfig::default()
            };
            let id = config
                .clients
                .first()
                .map(|c| c.client_id.clone())
                .unwrap_or_default();
            let secret = config
                .clients
                .first()
                .and_then(|c| c.client_secret.clone())
                .unwrap_or_default();
            println!(
                "Microsoft Graph emulator at http://{at}/v1.0 (accounts: {})",
                account.join(", ")
            );
            println!("Serve Almanac against it with:");
            println!(
                "  ALMANAC_MICROSOFT_CLIENT_ID={id} ALMANAC_MICROSOFT_CLIENT_SECRET={secret} \\"
            );
            println!("  ALMANAC_MICROSOFT_LOGIN_URL=http://{at} ALMANAC_GRAPH_API_URL=http://{at}/v1.0 almanac serve");
            serve(listener, config).await?;
        }
        Command::Serve(settings) => {
            let app = Application::build((*settings).clone()).await?;
            tracing::info!(port = app.port(), database = %redact(settings.database_url.expose_secret()), "Almanac is serving GraphQL at /graphql");
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
