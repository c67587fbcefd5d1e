//! The real `xkit-dash` binary as a user runs it, headless or in a pseudo-terminal: a home of
//! its own (config, data and state directories), none of the caller's `XKIT_*` settings, and its
//! output read back.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use portable_pty::CommandBuilder;
use tempfile::TempDir;

use crate::support::server::TestPlatform;

/// A user's home: config, data and state directories of their own.
pub struct Home {
    pub dir: TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config/config.toml")
    }

    pub fn write_config(&self, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.config_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/logs/cli.log")).unwrap_or_default()
    }

    /// The binary with this home and none of the caller's `XKIT_*` settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("xkit-dash").unwrap();
        for name in callers_settings() {
            command.env_remove(name);
        }
        command.envs(self.directories()).timeout(Duration::from_secs(60)).args(args);
        command
    }

    /// The same, to run in a pseudo-terminal (an xterm).
    pub fn pty_command(&self, args: &[&str]) -> CommandBuilder {
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_xkit-dash"));
        for name in callers_settings() {
            command.env_remove(name);
        }
        for (variable, dir) in self.directories() {
            command.env(variable, dir);
        }
        command.env("TERM", "xterm-256color");
        command.args(args);
        command
    }

    /// `XKIT_DASH_{CONFIG,DATA,STATE}_DIR` pointing into this home.
    fn directories(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("XKIT_DASH_CONFIG_DIR", self.dir.path().join("config")),
            ("XKIT_DASH_DATA_DIR", self.dir.path().join("data")),
            ("XKIT_DASH_STATE_DIR", self.dir.path().join("state")),
        ]
    }

    /// The binary pointed at `platform` through the environment, as in the seeds.
    pub fn against(&self, platform: &TestPlatform, args: &[&str]) -> Command {
        self.pointed_at(&platform.server.base_url(), &platform.keys.publishable_key, platform.secret(), args)
    }

    /// The binary pointed at any server through the environment.
    pub fn pointed_at(&self, url: &str, publishable_key: &str, secret_key: &str, args: &[&str]) -> Command {
        let mut command = self.command(args);
        command
            .env("XKIT_API_URL", url)
            .env("XKIT_PUBLISHABLE_KEY", publishable_key)
            .env("XKIT_SECRET_KEY", secret_key);
        command
    }
}

/// What the caller's environment would slip into the binary: every `XKIT_*`, and `NO_COLOR`.
fn callers_settings() -> Vec<OsString> {
    let leaks = |name: &OsString| name.to_string_lossy().starts_with("XKIT_") || name == "NO_COLOR";
    std::env::vars_os().map(|(name, _)| name).filter(leaks).collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

pub fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}
