//! Regenerates `assets/dashboard.svg`, the README's picture of the dashboard:
//!
//! ```sh
//! cargo run --example screenshot
//! ```
//!
//! It builds and runs the real `xkit-dash` binary in a pseudo-terminal on the embedded demo
//! (temporary config, data and state directories, nothing configured), opens triage, waits for
//! the data, reads the screen with its colours through a terminal emulator (vt100) and writes
//! it as SVG. The demo's random port and the clock times are masked so that the picture only
//! changes when the dashboard does.

mod svg;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const ROWS: u16 = 36;
const COLS: u16 = 120;
/// The longest the demo may take to load.
const DEADLINE: Duration = Duration::from_secs(30);
/// Once the screen holds the data, how long it must stay unchanged to count as settled.
const SETTLE: Duration = Duration::from_millis(1500);
/// What the masked values read in the picture.
const SHOWN_PORT: &str = "41234";
const SHOWN_TIME: &str = "09:41:00Z";
const SHOWN_DATE: &str = "2026-06-01";

fn main() -> Result<(), String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = build_binary()?;
    let screen = capture(&binary)?;
    let mut grid = svg::Grid::from_screen(&screen);
    mask_run_dependent_values(&mut grid);
    let output = repo.join("assets/dashboard.svg");
    std::fs::write(&output, grid.to_svg("xkit-dash — embedded demo, triage (t)"))
        .map_err(|error| format!("cannot write {}: {error}", output.display()))?;
    println!("wrote {}", output.display());
    Ok(())
}

/// Builds `xkit-dash` with this example's profile (cargo does not build binaries for
/// examples) and returns its path, next to the `examples/` directory this program runs from.
fn build_binary() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--bin", "xkit-dash"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let status = command.status().map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("cargo build failed: {status}"));
    }
    let example = std::env::current_exe().map_err(|error| error.to_string())?;
    let profile_dir = example.parent().and_then(Path::parent).ok_or("no profile directory")?;
    Ok(profile_dir.join("xkit-dash"))
}

/// Runs the dashboard on the embedded demo, opens triage and returns the settled screen.
fn capture(binary: &Path) -> Result<vt100::Screen, String> {
    let dirs = tempfile::tempdir().map_err(|error| error.to_string())?;
    let pty = native_pty_system()
        .openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })
        .map_err(|error| error.to_string())?;
    let mut command = CommandBuilder::new(binary);
    command.cwd(dirs.path());
    for variable in ["XKIT_API_URL", "XKIT_PROFILE", "XKIT_PUBLISHABLE_KEY", "XKIT_SECRET_KEY", "NO_COLOR"] {
        command.env_remove(variable);
    }
    command.env("TERM", "xterm-256color");
    for (variable, dir) in
        [("XKIT_DASH_CONFIG_DIR", "config"), ("XKIT_DASH_DATA_DIR", "data"), ("XKIT_DASH_STATE_DIR", "state")]
    {
        command.env(variable, dirs.path().join(dir));
    }
    let mut child = pty.slave.spawn_command(command).map_err(|error| error.to_string())?;
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().map_err(|error| error.to_string())?;
    let mut writer = pty.master.take_writer().map_err(|error| error.to_string())?;
    let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
    let parser_in = parser.clone();
    std::thread::spawn(move || {
        let _master = pty.master;
        let mut buffer = [0u8; 8192];
        while let Ok(count) = reader.read(&mut buffer) {
            if count == 0 {
                break;
            }
            parser_in.lock().unwrap().process(&buffer[..count]);
        }
    });
    let text = || parser.lock().unwrap().screen().contents();

    let result = (|| {
        wait_until(&text, "the demo to load", |screen| {
            screen.contains("356 connections") && !screen.contains("loading")
        })?;
        writer.write_all(b"t").and_then(|()| writer.flush()).map_err(|error| error.to_string())?;
        wait_until(&text, "triage", |screen| screen.contains("TRIAGE"))?;
        wait_for_stillness(&text)?;
        Ok(parser.lock().unwrap().screen().clone())
    })();
    let _ = writer.write_all(b"q");
    let _ = writer.flush();
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    result
}

fn wait_until(text: &impl Fn() -> String, what: &str, condition: impl Fn(&str) -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !condition(&text()) {
        if start.elapsed() > DEADLINE {
            return Err(format!("timed out waiting for {what}; the screen shows:\n{}", text()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Waits until the screen has not changed for [`SETTLE`] (the scan finished, spinners gone).
fn wait_for_stillness(text: &impl Fn() -> String) -> Result<(), String> {
    let start = Instant::now();
    let (mut last, mut since) = (text(), Instant::now());
    while since.elapsed() < SETTLE {
        if start.elapsed() > DEADLINE {
            return Err(format!("the screen never settled; it shows:\n{last}"));
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = text();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    Ok(())
}

/// Replaces the embedded server's random port, every `HH:MM:SSZ` clock time and every
/// `YYYY-MM-DD` date (the demo's times are relative to its first start) with fixed values of
/// the same width, so reruns give the same picture.
fn mask_run_dependent_values(grid: &mut svg::Grid) {
    for row in 0..grid.rows() {
        let text: Vec<char> = grid.row_text(row).chars().collect();
        let mut masks = Vec::new();
        for start in 0..text.len() {
            let rest: String = text[start..].iter().collect();
            if let Some(port) = rest.strip_prefix("127.0.0.1:") {
                let digits = port.chars().take_while(char::is_ascii_digit).count();
                masks.push((start + "127.0.0.1:".len(), SHOWN_PORT.chars().cycle().take(digits).collect::<String>()));
            }
            if has_shape(&text[start..], "00:00:00Z") {
                masks.push((start, SHOWN_TIME.to_owned()));
            }
            if has_shape(&text[start..], "0000-00-00") {
                masks.push((start, SHOWN_DATE.to_owned()));
            }
        }
        for (col, value) in masks {
            grid.overwrite(row, col, &value);
        }
    }
}

/// Whether `text` starts with `shape`, where `0` stands for any digit.
fn has_shape(text: &[char], shape: &str) -> bool {
    text.len() >= shape.chars().count()
        && shape.chars().zip(text).all(|(shape, &character)| match shape {
            '0' => character.is_ascii_digit(),
            other => other == character,
        })
}
