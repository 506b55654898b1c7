//! `lockstep-operator`: parse arguments, set up logging, run.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = lockstep_operator::run::args::Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_json {
        logs.json().init()
    } else {
        logs.init()
    }
    lockstep_operator::run::run(args).await?;
    Ok(())
}
