//! `note-service`: serve, check a config file, or mint a development token.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lockstep_field_encryption::{FileKeys, Keyring};
use lockstep_service_config::NoteConfig;
use lockstep_service_kit::config::{Loaded, check_config_with, load_or_default};
use note_service::auth::{Verifier, hs256_secret, mint_hs256};
use note_service::store::SeaStore;

#[derive(Parser)]
#[command(version, about = "Per-tenant encrypted notes over HTTP")]
struct Cli {
    /// The config file (mounted at /etc/lockstep/config.yaml by the operator). Without one the
    /// built-in defaults apply: port 8081, SQLite file notes.db.
    #[arg(long, env = "NOTE_CONFIG", global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve {
        /// Also serve the plaintext control routes under /v1/control (benchmarks only).
        #[arg(long, env = "NOTE_CONTROL_ROUTES")]
        control_routes: bool,
    },
    /// Validate a config file: exit 0, or 1 with the reason.
    CheckConfig {
        /// The file.
        file: String,
    },
    /// Apply pending schema migrations and exit (for `database.migrate_on_start: false`).
    Migrate,
    /// Print an HS256 token for local use (signed with the secret the config names).
    Token {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user.
        #[arg(long, default_value = "dev")]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

async fn serve(loaded: Loaded<NoteConfig>, control_routes: bool) -> anyhow::Result<()> {
    let config = &loaded.config;
    let version = note_service::VERSION;
    lockstep_service_kit::telemetry::traced(
        &config.log,
        "note-service",
        version,
        Box::pin(async {
            let verifier = Verifier::from_config(&config.auth)?;
            let keyring = Keyring::new(
                FileKeys::new(&config.encryption.keys_dir)
                    .allow_loose_permissions(config.encryption.allow_loose_key_file_permissions),
            )
            .seal_version(config.encryption.envelope_version)
            .with_ttl(Duration::from_secs(u64::from(
                config.encryption.cache_ttl_seconds,
            )));
            let store = SeaStore::open(config, keyring)
                .await
                .context("opening the database")?;
            tokio::spawn(lockstep_service_kit::idempotency::sweep_every(
                store.connection(),
                Duration::from_secs(3600),
            ));
            let app = note_service::app(store, verifier, config, &loaded.hash, control_routes)?;
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
    match cli.command.unwrap_or(Command::Serve {
        control_routes: false,
    }) {
        Command::Migrate => {
            lockstep_service_kit::migrate::migrate_command::<NoteConfig>(
                cli.config.as_deref(),
                note_service::store::schema::SERVICE,
                note_service::store::schema::MIGRATIONS,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => Ok(check_config_with::<NoteConfig>(
            &file,
            note_service::preflight,
        )),
        Command::Token { tenant, sub, ttl } => {
            let loaded = load_or_default::<NoteConfig>(cli.config.as_deref())?;
            let auth = &loaded.config.auth;
            let env = auth
                .hs256_secret_env
                .as_deref()
                .context("the config verifies RS256 tokens; mint them with your issuer")?;
            println!(
                "{}",
                mint_hs256(auth, &hs256_secret(env)?, &sub, &tenant, ttl)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { control_routes } => {
            let loaded = load_or_default::<NoteConfig>(cli.config.as_deref())?;
            serve(loaded, control_routes).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
