//! CPU time of processes from `/proc` (user + system): where a load's CPU went on a machine
//! whose cores the nodes, PostgreSQL and the load generator share.

/// The processes whose CPU a load accounts for.
pub struct Meters {
    /// The server nodes.
    pub nodes: Vec<u32>,
    /// PostgreSQL's postmaster, whose children (one backend per pooled connection) are counted.
    pub postgres: Option<u32>,
}

/// CPU seconds so far: `(nodes, postgres, this process)`.
pub fn sample(meters: &Meters) -> (f64, f64, f64) {
    let nodes = meters.nodes.iter().map(|&pid| seconds(pid)).sum();
    let postgres = meters
        .postgres
        .map_or(0.0, |postmaster| seconds(postmaster) + children(postmaster).into_iter().map(seconds).sum::<f64>());
    (nodes, postgres, seconds(std::process::id()))
}

/// `utime + stime` of a process (0 when it is gone).
fn seconds(pid: u32) -> f64 {
    let Some(fields) = stat_fields(pid) else { return 0.0 };
    // After the command name: state, ppid, ... utime is the 12th, stime the 13th.
    let ticks: u64 = fields.get(11..13).map_or(0, |times| times.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / per_second
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).and_then(|fields| fields.get(1)?.parse::<u32>().ok()) == Some(parent))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}
