//! A real PostgreSQL for the tests: one throwaway cluster per test process, made on first use
//! with `initdb` and `pg_ctl` (on PATH or in `/usr/lib/postgresql/*/bin`) in a temporary
//! directory, listening on 127.0.0.1 on a free port (its socket in that directory), trust
//! authentication, `fsync=off` (commits still reach the operating system before they are
//! acknowledged, so a stopped server loses nothing: the fault tests count on it). As root, the server runs as the `postgres` user. Every cluster
//! started here is stopped (`pg_ctl stop -m immediate`) when the test process exits, and its
//! output goes to a log file, so a leftover one holds no pipe of the test run.
//!
//! `XKIT_TEST_DATABASE_URL` (a server URL: `postgres://user@host:port/db`) replaces the shared
//! cluster. A test that stops the database (the fault tests) takes a [`PrivateCluster`] of its
//! own, so that the other tests running meanwhile keep theirs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::pg_tools::{bin_dir, chown_to_postgres, run, running_as_root, tool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The clusters to stop when the process exits: `(bin dir, data dir)`.
static RUNNING: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// A cluster this process started; stopped when dropped (and at exit in any case).
pub struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
}

/// What a cluster speaking TLS is given (PEM): its certificate and key, and the authority its
/// clients' certificates must be signed by.
pub struct ServerTls<'a> {
    pub certificate: &'a str,
    pub key: &'a str,
    pub client_ca: &'a str,
}

/// Who may connect to a cluster speaking TLS, and how (the first matching line decides):
/// `postgres` (the tests' own SQL) with or without TLS, `xkit` only over TLS, `xkit_cert` only
/// with a client certificate whose common name is `xkit_cert`.
const TLS_HBA: &str = "local all all trust
host all postgres 127.0.0.1/32 trust
hostssl all xkit 127.0.0.1/32 trust
hostssl all xkit_cert 127.0.0.1/32 cert
hostnossl all all 127.0.0.1/32 reject
";

impl PrivateCluster {
    /// Makes and starts a new cluster on a free loopback port.
    pub fn start() -> Result<PrivateCluster, String> {
        Self::start_configured(None)
    }

    /// Makes and starts a new cluster that speaks TLS as `tls` says, its users as [`TLS_HBA`]
    /// says (the roles `xkit` and `xkit_cert` are the caller's to create).
    pub fn start_with_tls(tls: &ServerTls<'_>) -> Result<PrivateCluster, String> {
        Self::start_configured(Some(tls))
    }

    fn start_configured(tls: Option<&ServerTls<'_>>) -> Result<PrivateCluster, String> {
        let bin = bin_dir().ok_or("initdb not found on PATH nor in /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::Builder::new().prefix("xkit-pg-").tempdir().map_err(|error| error.to_string())?;
        if running_as_root() {
            chown_to_postgres(dir.path())?;
        }
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr()).map_err(|e| e.to_string())?.port();
        let cluster = PrivateCluster { bin, dir, port, tls: tls.is_some() };
        let data = cluster.data_dir();
        run(
            cluster
                .tool("initdb")
                .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync", "-D"])
                .arg(&data),
            "initdb",
        )?;
        if let Some(tls) = tls {
            for (name, contents) in [
                ("server.crt", tls.certificate),
                ("server.key", tls.key),
                ("client_ca.crt", tls.client_ca),
                ("pg_hba.conf", TLS_HBA),
            ] {
                cluster.write_private(&data.join(name), contents)?;
            }
        }
        cluster.start_server()?;
        RUNNING.lock().unwrap().push((cluster.bin.clone(), data));
        ensure_stopped_at_exit();
        Ok(cluster)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (as a crash or a restart would), keeping its data and port.
    pub fn stop(&self) -> Result<(), String> {
        run(self.tool("pg_ctl").args(["stop", "-m", "immediate", "-w", "-D"]).arg(self.data_dir()), "pg_ctl stop")
    }

    /// Starts it again on the same port.
    pub fn start_server(&self) -> Result<(), String> {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            options.push_str(" -c ssl=on -c ssl_ca_file=client_ca.crt");
        }
        let log = self.dir.path().join("postgres.log");
        let started = run(
            self.tool("pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-o", &options]),
            "pg_ctl start",
        );
        started.map_err(|error| format!("{error}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))
    }

    /// The URL of its `postgres` database as `user`, at `host`, with `parameters` (`a=b&c=d`).
    pub fn url_as(&self, user: &str, host: &str, parameters: &str) -> String {
        format!("postgres://{user}@{host}:{}/postgres?{parameters}", self.port)
    }

    /// The key-value connection string of its `postgres` database as `user`, with `parameters`
    /// (`a=b c=d`), over its Unix socket.
    pub fn socket_url_as(&self, user: &str, parameters: &str) -> String {
        format!("host={} port={} user={user} dbname=postgres {parameters}", self.dir.path().display(), self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Writes a file of the server's (mode 0600, owned by the user the server runs as).
    fn write_private(&self, path: &std::path::Path, contents: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, contents).map_err(|error| format!("{}: {error}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|error| error.to_string())?;
        if running_as_root() { chown_to_postgres(path) } else { Ok(()) }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command of the cluster's binaries, as the `postgres` user when we are root.
    fn tool(&self, name: &str) -> Command {
        tool(&self.bin, name)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.stop();
        RUNNING.lock().unwrap().retain(|(_, running)| *running != data);
    }
}

/// The server URL of the process's shared database server: `XKIT_TEST_DATABASE_URL`, or the
/// throwaway cluster, started on first use.
pub fn server_url() -> String {
    static SHARED: OnceLock<Result<PrivateCluster, String>> = OnceLock::new();
    if let Ok(url) = std::env::var("XKIT_TEST_DATABASE_URL") {
        return url;
    }
    match SHARED.get_or_init(PrivateCluster::start) {
        Ok(cluster) => cluster.url(),
        Err(error) => panic!("cannot start the test PostgreSQL cluster: {error}"),
    }
}

/// A new, empty database of its own on the shared server; its URL.
pub async fn fresh_database() -> String {
    fresh_database_on(&server_url()).await
}

/// A new, empty database on the server of `server_url`; its URL.
pub async fn fresh_database_on(server_url: &str) -> String {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    let name = format!("xkit_test_{}_{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
    let (client, connection) =
        tokio_postgres::connect(server_url, tokio_postgres::NoTls).await.expect("connect to the test server");
    let driver = tokio::spawn(connection);
    // Left by an earlier run of the same process id on a server that outlives it.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.expect("drop database");
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    drop(client);
    let _ = driver.await;
    let mut url = url::Url::parse(server_url).expect("a server URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A client of the database at `url`, for the tests' own SQL.
pub async fn sql_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// Registers, once, the exit hook that stops every cluster still running.
fn ensure_stopped_at_exit() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain `extern "C"` function with no arguments.
        unsafe { libc::atexit(stop_every_cluster) };
    });
}

extern "C" fn stop_every_cluster() {
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    for (bin, data) in running {
        let _ = tool(&bin, "pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(dir) = data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
