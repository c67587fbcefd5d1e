//! Finding and running Debian's PostgreSQL server programs (`initdb`, `pg_ctl`) for a
//! throwaway cluster: shared by the tests (`support/postgres.rs`) and the benchmarks
//! (`benches/support/postgres.rs`, which include this file by path).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A PostgreSQL program, run as the `postgres` user when we are root (initdb refuses root).
pub fn tool(bin: &Path, name: &str) -> Command {
    let program = bin.join(name);
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    // A directory every user may enter (the `postgres` user may not enter the caller's).
    command.current_dir("/");
    command
}

/// Runs `command` to its end without input; its status and output in the error when it fails.
pub fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.stdin(Stdio::null()).output().map_err(|error| format!("{what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Where `initdb` and `pg_ctl` are: beside `initdb` on PATH (a symlink, as Debian's wrappers,
/// followed to the real directory), else the newest version under `/usr/lib/postgresql`.
pub fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        let real = std::fs::canonicalize(dir.join("initdb")).ok().and_then(|real| real.parent().map(Path::to_path_buf));
        return Some(real.unwrap_or(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            path.join("bin/initdb").is_file().then(|| (version, path.join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Gives `dir` to the `postgres` user, which runs the cluster when we are root.
pub fn chown_to_postgres(dir: &Path) -> Result<(), String> {
    let output = Command::new("chown").arg("postgres:").arg(dir).output().map_err(|error| error.to_string())?;
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
}
