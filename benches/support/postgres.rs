//! The bench's PostgreSQL: `XKIT_BENCH_DATABASE_URL` (a server URL on which the bench may create
//! databases), or a throwaway cluster made with `initdb` and `pg_ctl` (on PATH or in
//! `/usr/lib/postgresql/*/bin`) in a temporary directory, on a free loopback port, stopped and
//! removed when dropped. As root, the cluster runs as the `postgres` user.
//!
//! Unlike the tests' cluster (`tests/it/support/postgres.rs`), this one keeps `fsync` and
//! `full_page_writes` on, PostgreSQL's defaults, so that write figures include the flush a real
//! deployment pays on every commit. What the two share, finding the programs and running them as
//! `postgres`, is one file (`tests/it/support/pg_tools.rs`, included by path); the tests' exit
//! hook, private clusters and restarts are not needed here (the bench owns its one cluster and
//! stops it on drop).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail};

use super::pg_tools::{bin_dir, chown_to_postgres, run, running_as_root, tool};

/// The environment variable naming an existing server instead of a throwaway cluster.
pub const DATABASE_URL_ENV: &str = "XKIT_BENCH_DATABASE_URL";

/// A PostgreSQL server the bench creates its databases on.
pub struct Server {
    url: String,
    cluster: Option<Cluster>,
}

struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    /// `XKIT_BENCH_DATABASE_URL`, or a new cluster (`None` when neither is available).
    pub fn start() -> Result<Option<Server>> {
        if let Ok(url) = std::env::var(DATABASE_URL_ENV) {
            return Ok(Some(Server { url, cluster: None }));
        }
        let Some(bin) = bin_dir() else { return Ok(None) };
        let dir = tempfile::Builder::new().prefix("xkit-bench-pg-").tempdir()?;
        if running_as_root() {
            chown_to_postgres(dir.path()).map_err(anyhow::Error::msg)?;
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cluster = Cluster { bin, dir };
        let data = cluster.dir.path().join("data");
        let initdb = ["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync", "-D"];
        run(tool(&cluster.bin, "initdb").args(initdb).arg(&data), "initdb").map_err(anyhow::Error::msg)?;
        // Two nodes' pools (16 each) and the bench's own connections fit well under 200.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200",
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("postgres.log");
        let start = run(
            tool(&cluster.bin, "pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options]),
            "pg_ctl start",
        );
        let server = Server { url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), cluster: Some(cluster) };
        if let Err(error) = start {
            bail!("{error}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        Ok(Some(server))
    }

    /// Where the server is, without the URL (which may hold a password).
    pub fn describe(&self) -> &'static str {
        if self.cluster.is_some() { "throwaway cluster, fsync on" } else { DATABASE_URL_ENV }
    }

    /// The postmaster's process id, for CPU accounting: the cluster's only (an external
    /// server's processes are not ours to read).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let cluster = self.cluster.as_ref()?;
        let text = std::fs::read_to_string(cluster.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> Result<String> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let name = format!("xkit_bench_{}_{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
        self.admin(&format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}")).await?;
        let mut url = url::Url::parse(&self.url).context("XKIT_BENCH_DATABASE_URL is not a URL")?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }

    /// Drops a database made by [`Server::fresh_database`] (its nodes stopped first).
    pub async fn drop_database(&self, database_url: &str) -> Result<()> {
        let url = url::Url::parse(database_url)?;
        let name = url.path().trim_start_matches('/');
        self.admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
    }

    /// Runs `statements` over a connection made as the nodes make theirs (the URL's TLS too).
    async fn admin(&self, statements: &str) -> Result<()> {
        let (client, _driver) = xkit_dash::server::store::postgres::single_connection(&self.url)
            .await
            .context("cannot connect to the bench's PostgreSQL")?;
        for statement in statements.split("; ") {
            client.batch_execute(statement).await?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let data = cluster.dir.path().join("data");
            let _ = run(tool(&cluster.bin, "pg_ctl").args(["stop", "-m", "fast", "-w", "-D"]).arg(data), "pg_ctl stop");
        }
    }
}
