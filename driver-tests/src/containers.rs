//! Test servers in Docker, started with testcontainers.
//!
//! Images are pinned so a run is reproducible; each waits for the server's own "ready" log line
//! and then for a successful `SELECT 1`, because the MySQL and MariaDB images restart the server
//! once after initialisation.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::Connection as _;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::target::TargetKind;

/// TiDB image used by the testbench and `compose/testbench.yml`.
pub const TIDB_IMAGE: (&str, &str) = ("pingcap/tidb", "v8.5.1");
/// MySQL image.
pub const MYSQL_IMAGE: (&str, &str) = ("mysql", "8.4");
/// MariaDB image.
pub const MARIADB_IMAGE: (&str, &str) = ("mariadb", "11.4");

/// A running container and the admin URL of the server in it. Dropping it removes the container.
#[derive(Debug)]
pub struct Running {
    /// Kept alive for the container's lifetime.
    pub container: ContainerAsync<GenericImage>,
    /// `mysql://root@host:port/` of the server.
    pub url: String,
}

/// Starts a server of `kind` and waits until it accepts queries.
pub async fn start(kind: TargetKind) -> anyhow::Result<Running> {
    let (port, request) = match kind {
        TargetKind::Tidb => (
            4000,
            GenericImage::new(TIDB_IMAGE.0, TIDB_IMAGE.1)
                .with_exposed_port(4000.tcp())
                .with_exposed_port(10080.tcp())
                .with_wait_for(WaitFor::message_on_either_std(
                    "server is running MySQL protocol",
                ))
                .with_startup_timeout(Duration::from_secs(180)),
        ),
        TargetKind::Mysql => (
            3306,
            GenericImage::new(MYSQL_IMAGE.0, MYSQL_IMAGE.1)
                .with_exposed_port(3306.tcp())
                .with_wait_for(WaitFor::message_on_either_std(
                    "port: 3306  MySQL Community Server",
                ))
                .with_env_var("MYSQL_ALLOW_EMPTY_PASSWORD", "yes")
                .with_startup_timeout(Duration::from_secs(180)),
        ),
        TargetKind::Mariadb => (
            3306,
            GenericImage::new(MARIADB_IMAGE.0, MARIADB_IMAGE.1)
                .with_exposed_port(3306.tcp())
                .with_wait_for(WaitFor::message_on_either_std("port: 3306  mariadb.org"))
                .with_env_var("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "1")
                .with_startup_timeout(Duration::from_secs(180)),
        ),
    };
    let container = request
        .start()
        .await
        .with_context(|| format!("starting the {kind} container (is Docker running?)"))?;
    let host = container.get_host().await?;
    let host_port = container.get_host_port_ipv4(port).await?;
    let url = format!("mysql://root@{host}:{host_port}/");
    wait_until_queryable(&url)
        .await
        .with_context(|| format!("{kind} container at {url}"))?;
    Ok(Running { container, url })
}

async fn wait_until_queryable(url: &str) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..60 {
        match sqlx::MySqlConnection::connect(url).await {
            Ok(mut conn) => {
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow::anyhow!("server never answered: {last:?}"))
}
