//! A server node: the real `xkit-dash serve` binary in a process of its own, so that its memory
//! is its own and two nodes are two processes, as in a deployment.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// How long a node may take to open (and migrate) its store and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STARTED: &str = "platform listening on ";

pub struct Node {
    child: Child,
    pub base_url: String,
}

impl Node {
    /// `serve` on a free loopback port, SQLite in `data_dir`, or with `database` on PostgreSQL
    /// (`data_dir` then holds only what stays per node). The proactive refresh scheduler is off,
    /// as in the other benches: refreshes happen on read only, and no background work competes
    /// with the load. Its log goes to `data_dir/serve-{name}.log`.
    pub fn start(data_dir: &Path, database: Option<&str>, name: &str) -> Result<Node> {
        let log_path = data_dir.join(format!("serve-{name}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_xkit-dash"));
        command.args(["serve", "--addr", "127.0.0.1:0", "--no-scheduler", "--data-dir"]).arg(data_dir);
        if let Some(url) = database {
            // Through the environment: a URL on the command line is in every process listing.
            command.env("XKIT_DATABASE_URL", url);
        }
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn()?;
        let mut node = Node { child, base_url: String::new() };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(line) = text.lines().find_map(|line| line.split_once(STARTED).map(|(_, rest)| rest)) {
                node.base_url = line.split_whitespace().next().context("no URL in the start line")?.to_owned();
                return Ok(node);
            }
            if let Some(status) = node.child.try_wait()? {
                bail!("serve exited ({status}):\n{text}");
            }
            if Instant::now() > deadline {
                bail!("serve did not listen within {START_TIMEOUT:?}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> Result<f64> {
        memory_mib(self.child.id(), "VmRSS:")
    }

    /// The highest resident memory since the process started (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        memory_mib(self.child.id(), "VmHWM:")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in MiB.
fn memory_mib(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|line| line.starts_with(field)).context("no such field")?;
    let kib: f64 = line.trim_start_matches(field).trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib / 1024.0)
}
