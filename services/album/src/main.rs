//! `album-service`: serve, or check a config file.

use std::process::ExitCode;

use album_service::store::SeaStore;
use anyhow::Context;
use clap::{Parser, Subcommand};
use lockstep_service_config::AlbumConfig;
use lockstep_service_kit::config::{Loaded, check_config_with, load_or_default};

#[derive(Parser)]
#[command(version, about = "Albums over HTTP")]
struct Cli {
    /// The config file (the operator mounts it at /etc/lockstep/config.yaml). Without one the
    /// built-in defaults apply: port 8080, SQLite file albums.db.
    #[arg(long, env = "ALBUM_CONFIG", global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Validate a config file: exit 0 if the service would start with it, 1 with the reason.
    CheckConfig {
        /// The file.
        file: String,
    },
    /// Apply pending schema migrations and exit (for `database.migrate_on_start: false`).
    Migrate,
}

async fn serve(loaded: Loaded<AlbumConfig>) -> anyhow::Result<()> {
    let config = &loaded.config;
    let version = album_service::VERSION;
    lockstep_service_kit::telemetry::traced(
        &config.log,
        "album-service",
        version,
        Box::pin(async {
            let store = SeaStore::open(config)
                .await
                .context("opening the database")?;
            tokio::spawn(lockstep_service_kit::idempotency::sweep_every(
                store.connection(),
                std::time::Duration::from_secs(3600),
            ));
            let grpc = match config.grpc.port {
                Some(port) => {
                    let (routes, health) =
                        album_service::grpc::routes(store.clone(), config.pagination.clone())
                            .await?;
                    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], port));
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding gRPC {addr}"))?;
                    tracing::info!(%addr, "serving gRPC");
                    let shutdown = lockstep_service_kit::http::shutdown_signal();
                    let delay = std::time::Duration::from_secs(u64::from(
                        config.server.drain_delay_seconds,
                    ));
                    Some(tokio::spawn(album_service::grpc::serve(
                        listener, routes, health, shutdown, delay,
                    )))
                }
                None => None,
            };
            let app = album_service::app(store, config, &loaded.hash)?;
            let http = lockstep_service_kit::http::run(app, config, version, &loaded.hash);
            let Some(mut grpc) = grpc else {
                return Ok(http.await?);
            };
            tokio::pin!(http);
            // A gRPC server that fails ends the process (and the pod restarts) at once, not at
            // the next SIGTERM; on SIGTERM both drain.
            tokio::select! {
                served = &mut http => {
                    served?;
                    grpc.await.context("gRPC server task")??;
                }
                served = &mut grpc => {
                    served.context("gRPC server task")??;
                    http.await?;
                }
            }
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
        Command::Migrate => {
            lockstep_service_kit::migrate::migrate_command::<AlbumConfig>(
                cli.config.as_deref(),
                album_service::store::schema::SERVICE,
                album_service::store::schema::MIGRATIONS,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => Ok(check_config_with::<AlbumConfig>(&file, |c| {
            lockstep_service_kit::config::writable_sqlite_path(c)
        })),
        Command::Serve => {
            let loaded = load_or_default::<AlbumConfig>(cli.config.as_deref())?;
            serve(loaded).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
