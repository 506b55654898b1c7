//! The conformance suite on SQLite (embedded, in memory): one test per scenario, each on its own
//! fresh database. The same scenarios run on MariaDB/MySQL/TiDB in `driver-tests`.

use libtest_mimic::{Arguments, Failed, Trial};
use lockstep_field_encryption::conformance;
use sea_orm::{ConnectOptions, Database};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let trials = conformance::all()
        .into_iter()
        .map(|scenario| {
            Trial::test(format!("sqlite::{}", scenario.name), move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Failed::from(e.to_string()))?;
                runtime.block_on(async {
                    // One connection: every connection to `sqlite::memory:` is its own database.
                    let db = Database::connect(
                        ConnectOptions::new("sqlite::memory:")
                            .max_connections(1)
                            .to_owned(),
                    )
                    .await
                    .map_err(|e| Failed::from(e.to_string()))?;
                    (scenario.run)(&db)
                        .await
                        .map_err(|e| Failed::from(e.to_string()))
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
