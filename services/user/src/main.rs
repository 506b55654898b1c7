//! `user-service`: serve, check a config file, or migrate.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lockstep_service_config::UserConfig;
use lockstep_service_kit::config::{Loaded, check_config_with, load_or_default};
use user_service::store::SeaStore;
use user_service::tokens::Issuer;

#[derive(Parser)]
#[command(
    version,
    about = "Users of the note service: register, log in, RS256 tokens"
)]
struct Cli {
    /// The config file. Without one the built-in defaults apply: port 8082, SQLite file
    /// users.db (the private key file must still exist).
    #[arg(long, env = "USER_CONFIG", global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Validate a config file: exit 0, or 1 with the reason.
    CheckConfig {
        /// The file.
        file: String,
    },
    /// Apply pending schema migrations and exit (for `database.migrate_on_start: false`).
    Migrate,
}

async fn serve(loaded: Loaded<UserConfig>) -> anyhow::Result<()> {
    let config = &loaded.config;
    let version = user_service::VERSION;
    lockstep_service_kit::telemetry::traced(
        &config.log,
        "user-service",
        version,
        Box::pin(async {
            let issuer = Issuer::from_config(&config.tokens)?;
            let store = SeaStore::open(config)
                .await
                .context("opening the database")?;
            tokio::spawn(lockstep_service_kit::idempotency::sweep_every(
                store.connection(),
                std::time::Duration::from_secs(3600),
            ));
            let app = user_service::app(store, issuer, config, &loaded.hash)?;
            lockstep_service_kit::http::run(app, config, version, &loaded.hash).await?;
            Ok(())
        }),
    )
    .await
}

#[tokio::main]
async fn main() -> ExitCode {
    lockstep_service_kit::config::exit_with(run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig { file } => Ok(check_config_with::<UserConfig>(
            &file,
            user_service::preflight,
        )),
        Command::Migrate => {
            lockstep_service_kit::migrate::migrate_command::<UserConfig>(
                cli.config.as_deref(),
                user_service::store::SERVICE,
                user_service::store::MIGRATIONS,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let loaded = load_or_default::<UserConfig>(cli.config.as_deref())?;
            serve(loaded).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
