//! Dashboard benchmarks: drawing a frame at 100 / 10,000 / 100,000 rows (the real draw function
//! and state on ratatui's `TestBackend`), and the real binary in a pseudo-terminal: time to the
//! first frame, a 100,000-connection scan streaming in (time, longest pause between frames),
//! resident memory, and frames and CPU while idle.
//!
//! Frames are counted exactly: the dashboard wraps every frame in a synchronized-update escape
//! (`ESC [ ? 2026 h`), so each occurrence in the PTY output is one frame drawn.
//!
//! `cargo bench --bench dashboard` measures the sizes recorded in BENCHMARKS.md;
//! `XKIT_BENCH_QUICK=1` runs small sizes. Nothing here asserts a threshold.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read as _, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use secrecy::ExposeSecret as _;
use tempfile::TempDir;
use xkit_dash::model::{Authorization, Connection, Connector, Context, ContextRef};
use xkit_dash::server::{ServerConfig, create_key_pair, scale, start};
use xkit_dash::tui::data::Data;
use xkit_dash::tui::state::Pane;
use xkit_dash::tui::ui;
use xkit_dash::tui::{Action, State, update};

const COLS: u16 = 160;
const ROWS: u16 = 50;
/// Frames drawn per size in the frame benchmark.
const FRAMES: usize = 200;
/// One synchronized-update start per frame.
const FRAME_MARK: &[u8] = b"\x1b[?2026h";
/// The longest any wait on the dashboard may take.
const DEADLINE: Duration = Duration::from_secs(120);

struct Sizes {
    frame_rows: Vec<usize>,
    first_frame_runs: usize,
    scan_connections: usize,
    idle_for: Duration,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("XKIT_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0") {
            Sizes {
                frame_rows: vec![100, 2_000],
                first_frame_runs: 1,
                scan_connections: 2_000,
                idle_for: Duration::from_secs(1),
            }
        } else {
            Sizes {
                frame_rows: vec![100, 10_000, 100_000],
                first_frame_runs: 10,
                scan_connections: 100_000,
                idle_for: Duration::from_secs(10),
            }
        }
    }
}

/// Counts live heap bytes, to tell what the dashboard's data costs in memory and why.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_mib() -> f64 {
    LIVE_BYTES.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let sizes = Sizes::from_env();
    for &rows in &sizes.frame_rows {
        frame_bench(rows)?;
    }
    data_memory(sizes.scan_connections)?;
    first_frame(&sizes)?;
    let runtime = tokio::runtime::Runtime::new()?;
    streaming_scan_memory_and_idle(&runtime, &sizes)?;
    embedded_demo_idle(&sizes)
}

// ---- frames on TestBackend --------------------------------------------------------------------

/// `rows` connections to one connector over `rows / 5` contexts, with the generated platform's
/// health mix, as the dashboard's state after a scan; the connections pane lists all of them.
fn state_with_rows(rows: usize) -> Result<State> {
    let (contexts, connectors, connections) = generated_data(rows)?;
    let connector = connections.first().context("rows were generated")?.connector.clone();
    let mut state = State::default();
    update(&mut state, Action::Resize { width: COLS, height: ROWS });
    state.data = Data::from_parts(contexts, connectors, connections);
    state.rebuild_views();
    state.focus = Pane::Connections;
    state.driver = Pane::Connectors;
    let position =
        state.connectors.view.index.iter().position(|&item| state.data.connectors[item].slug == connector.slug);
    state.connectors.view.select(position.context("the connector is listed")?, 1);
    state.rebuild_connections();
    if state.connections.view.len() != rows {
        bail!("the connections pane lists {} rows, expected {rows}", state.connections.view.len());
    }
    Ok(state)
}

/// A generated platform as the dashboard receives it over the wire: every connection carries
/// its own copy of the connector (here all to the first connector).
fn generated_data(rows: usize) -> Result<(Vec<Context>, Vec<Connector>, Vec<Connection>)> {
    let batch = scale::batch(rows)?;
    let connector = batch.connectors.first().context("the demo has connectors")?.connector.clone();
    let connections: Vec<Connection> = batch
        .connections
        .into_iter()
        .map(|generated| Connection {
            id: generated.id,
            enabled: generated.enabled,
            connector: connector.clone(),
            authorization: generated.authorization.map(|record| Authorization {
                status: record.status,
                display_label: record.display_label,
                error_code: record.error_code,
                error_message: record.error_message,
                expires_at: record.expires_at,
                ..Authorization::default()
            }),
            context: Some(ContextRef { external_id: generated.context_external_id, external_name: None }),
        })
        .collect();
    let connectors: Vec<Connector> = batch.connectors.into_iter().map(|record| record.connector).collect();
    Ok((batch.contexts, connectors, connections))
}

/// Heap held by the dashboard's data at `rows` connections (connections as received, with the
/// indices the panes use), and the time to index it all at once.
fn data_memory(rows: usize) -> Result<()> {
    let before = live_mib();
    let (contexts, connectors, connections) = generated_data(rows)?;
    let started = Instant::now();
    let data = Data::from_parts(contexts, connectors, connections);
    let indexing = started.elapsed();
    let held = live_mib() - before;
    drop(data);
    println!(
        "heap of the dashboard's data at {rows} connections: {held:.1} MiB ({} B per connection, {} B of it inline); indexing it all at once {:.1} ms",
        (held * 1024.0 * 1024.0 / rows as f64) as usize,
        std::mem::size_of::<Connection>(),
        ms(indexing)
    );
    Ok(())
}

/// Draw time of a whole dashboard frame whose connections pane lists `rows` rows: once with
/// nothing changing, once scrolling one row per frame (every visible row changes).
fn frame_bench(rows: usize) -> Result<()> {
    let mut state = state_with_rows(rows)?;
    let mut terminal = Terminal::new(TestBackend::new(COLS, ROWS))?;
    let visible = state.connections.rows;

    let mut draw = |state: &State| terminal.draw(|frame| ui::draw(frame, state)).map(|_| ());
    draw(&state)?;
    let started = Instant::now();
    for _ in 0..FRAMES {
        draw(&state)?;
    }
    let still = started.elapsed() / FRAMES as u32;

    let started = Instant::now();
    for _ in 0..FRAMES {
        state.connections.view.move_by(1, visible);
        draw(&state)?;
    }
    let scrolling = started.elapsed() / FRAMES as u32;

    // Work done when data or a filter changes, never per frame.
    let started = Instant::now();
    state.rebuild_views();
    let rebuild = started.elapsed();
    state.connections.filter = "status:error".into();
    let started = Instant::now();
    state.rebuild_connections();
    let filter = started.elapsed();
    println!(
        "frame {rows:>7} rows ({COLS}x{ROWS}): {:>6.3} ms still, {:>6.3} ms scrolling; off the render path: rebuild all views {:>7.2} ms, filter status:error {:>6.2} ms ({} rows)",
        ms(still),
        ms(scrolling),
        ms(rebuild),
        ms(filter),
        state.connections.view.len()
    );
    Ok(())
}

// ---- the real binary in a pseudo-terminal ------------------------------------------------------

/// Everything the dashboard wrote, with arrival times, and the screen it amounts to.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    /// `(arrival, bytes.len() after the chunk)` per chunk read.
    chunks: Vec<(Instant, usize)>,
}

impl Output {
    /// Arrival times of every frame start.
    fn frame_times(&self) -> Vec<Instant> {
        let mut times = Vec::new();
        let mut from = 0;
        while let Some(found) = find(&self.bytes[from..], FRAME_MARK) {
            let end = from + found + FRAME_MARK.len();
            let chunk = self.chunks.partition_point(|&(_, length)| length < end);
            times.push(self.chunks.get(chunk).map_or_else(Instant::now, |&(at, _)| at));
            from = end;
        }
        times
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

struct Dashboard {
    child: Box<dyn Child + Send + Sync>,
    writer: Mutex<Box<dyn std::io::Write + Send>>,
    screen: Arc<Mutex<vt100::Parser>>,
    output: Arc<Mutex<Output>>,
    spawned: Instant,
    _master: Box<dyn MasterPty + Send>,
}

impl Dashboard {
    /// Runs the release binary with `dirs` as its config/data/state directories plus `env`.
    fn start(dirs: &std::path::Path, env: &[(&str, String)], args: &[&str]) -> Result<Self> {
        let pty = native_pty_system().openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })?;
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_xkit-dash"));
        command.args(args);
        command.cwd(dirs);
        for variable in ["XKIT_API_URL", "XKIT_PROFILE", "XKIT_PUBLISHABLE_KEY", "XKIT_SECRET_KEY", "NO_COLOR"] {
            command.env_remove(variable);
        }
        command.env("TERM", "xterm-256color");
        for (variable, dir) in
            [("XKIT_DASH_CONFIG_DIR", "config"), ("XKIT_DASH_DATA_DIR", "data"), ("XKIT_DASH_STATE_DIR", "state")]
        {
            command.env(variable, dirs.join(dir));
        }
        for (variable, value) in env {
            command.env(variable, value);
        }
        let spawned = Instant::now();
        let child = pty.slave.spawn_command(command)?;
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader()?;
        let writer = pty.master.take_writer()?;
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let output = Arc::new(Mutex::new(Output::default()));
        let (screen_in, output_in) = (screen.clone(), output.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 65536];
            while let Ok(count) = reader.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                let at = Instant::now();
                screen_in.lock().unwrap().process(&buffer[..count]);
                let mut output = output_in.lock().unwrap();
                output.bytes.extend_from_slice(&buffer[..count]);
                let length = output.bytes.len();
                output.chunks.push((at, length));
            }
        });
        Ok(Self { child, writer: Mutex::new(writer), screen, output, spawned, _master: pty.master })
    }

    fn pid(&self) -> Result<u32> {
        self.child.process_id().context("the dashboard has no process id")
    }

    /// Polls the screen until `condition` holds; returns when it was first seen.
    fn wait_for(&self, what: &str, condition: impl Fn(&str) -> bool) -> Result<Instant> {
        let started = Instant::now();
        loop {
            let text = self.screen.lock().unwrap().screen().contents();
            if condition(&text) {
                return Ok(Instant::now());
            }
            if started.elapsed() > DEADLINE {
                bail!("timed out waiting for {what}; the screen shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Quits with `q` and waits for the process (killing it if it does not leave in time).
    fn quit(mut self) -> Result<()> {
        let writer = self.writer.get_mut().unwrap();
        writer.write_all(b"q")?;
        writer.flush()?;
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                self.child.kill()?;
                bail!("the dashboard did not quit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// `utime + stime` of a process, in seconds.
fn cpu_time(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("unexpected /proc stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted from the state field (3).
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks_per_second()?)
}

fn clock_ticks_per_second() -> Result<f64> {
    let output = std::process::Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// A `/proc/PID/status` field in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|line| line.starts_with(field)).context("no such status field")?;
    let kib: f64 = line.split_whitespace().nth(1).context("no value")?.parse()?;
    Ok(kib / 1024.0)
}

/// The header's first line reads `xkit-dash │ <target>` from the first frame on.
fn first_frame_shown(text: &str) -> bool {
    text.contains("xkit-dash │")
}

/// Time from spawning the binary to its first frame on screen, with the embedded demo's data
/// directory already seeded by an earlier run.
fn first_frame(sizes: &Sizes) -> Result<()> {
    let dirs = tempfile::tempdir()?;
    // Seeds the demo platform and its key pair; not timed.
    let warm_up = Dashboard::start(dirs.path(), &[], &[])?;
    warm_up.wait_for("the demo to load", |text| text.contains("loaded "))?;
    warm_up.quit()?;

    let mut times = Vec::new();
    for _ in 0..sizes.first_frame_runs {
        let dashboard = Dashboard::start(dirs.path(), &[], &[])?;
        let shown = dashboard.wait_for("the first frame", first_frame_shown)?;
        times.push(shown - dashboard.spawned);
        dashboard.wait_for("the demo to load", |text| text.contains("loaded "))?;
        dashboard.quit()?;
    }
    times.sort();
    println!(
        "first frame (embedded demo, seeded data dir, {} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    Ok(())
}

/// The dashboard against a generated platform on a separate server: first frame, the scan
/// streaming in (and the longest pause between frames meanwhile), memory, then idling.
fn streaming_scan_memory_and_idle(runtime: &tokio::runtime::Runtime, sizes: &Sizes) -> Result<()> {
    let connections = sizes.scan_connections;
    let server_dir = tempfile::tempdir()?;
    let (server, keys) = runtime.block_on(async {
        scale::seed(server_dir.path(), connections).await?;
        let server = start(ServerConfig::new(server_dir.path())).await?;
        let keys = create_key_pair(server_dir.path())?;
        anyhow::Ok((server, keys))
    })?;
    let env = [
        ("XKIT_API_URL", server.base_url()),
        ("XKIT_PUBLISHABLE_KEY", keys.publishable_key.clone()),
        ("XKIT_SECRET_KEY", keys.secret_key.expose_secret().to_owned()),
    ];
    let dirs = tempfile::tempdir()?;
    // No periodic refresh during the measurement: idle means idle.
    let dashboard = Dashboard::start(dirs.path(), &env, &["--refresh", "1h"])?;
    let pid = dashboard.pid()?;
    let shown = dashboard.wait_for("the first frame", first_frame_shown)?;
    let total = format!("{connections} connections");
    let loaded =
        dashboard.wait_for("the scan to finish", |text| text.contains(&total) && text.contains("│ loaded "))?;
    let frames = dashboard.output.lock().unwrap().frame_times();
    let longest_pause =
        frames.windows(2).filter(|pair| pair[1] <= loaded).map(|pair| pair[1] - pair[0]).max().unwrap_or_default();
    println!(
        "dashboard on {connections} connections (bulk route): first frame {:.1} ms, all rows in {:.1} ms, {} frames meanwhile, longest pause between frames {:.1} ms, CPU {:.2} s",
        ms(shown - dashboard.spawned),
        ms(loaded - dashboard.spawned),
        frames.iter().filter(|at| **at <= loaded).count(),
        ms(longest_pause),
        cpu_time(pid)?
    );
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "memory holding {connections} connections: VmRSS {:.1} MiB, peak VmHWM {:.1} MiB",
        memory_mib(pid, "VmRSS:")?,
        memory_mib(pid, "VmHWM:")?
    );
    idle(&dashboard, &format!("{connections} connections"), sizes.idle_for)?;
    refresh(&dashboard, connections)?;
    dashboard.quit()?;
    runtime.block_on(server.shutdown());
    Ok(())
}

/// `r` reloads everything while the old data stays on screen; the new data is swapped in when
/// the scan ends. Reports how long that takes and the longest pause between frames meanwhile.
fn refresh(dashboard: &Dashboard, connections: usize) -> Result<()> {
    let mut writer = dashboard.writer.lock().unwrap();
    let started = Instant::now();
    writer.write_all(b"r")?;
    writer.flush()?;
    drop(writer);
    dashboard.wait_for("the refresh to start", |text| text.contains("scanning"))?;
    let loaded = dashboard.wait_for("the refresh to end", |text| text.contains("│ loaded "))?;
    // One more frame after the swap: its gap is part of the pause.
    std::thread::sleep(Duration::from_millis(100));
    let frames: Vec<Instant> =
        dashboard.output.lock().unwrap().frame_times().into_iter().filter(|at| *at >= started).collect();
    let longest_pause = frames.windows(2).map(|pair| pair[1] - pair[0]).max().unwrap_or_default();
    println!(
        "refresh (r) of {connections} connections: {:.1} ms, {} frames, longest pause between frames {:.1} ms",
        ms(loaded - started),
        frames.len(),
        ms(longest_pause)
    );
    Ok(())
}

/// The embedded demo (default refresh) idling.
fn embedded_demo_idle(sizes: &Sizes) -> Result<()> {
    let dirs: TempDir = tempfile::tempdir()?;
    let dashboard = Dashboard::start(dirs.path(), &[], &[])?;
    dashboard.wait_for("the demo to load", |text| text.contains("│ loaded "))?;
    std::thread::sleep(Duration::from_millis(500));
    idle(&dashboard, "the embedded demo", sizes.idle_for)?;
    dashboard.quit()
}

fn idle(dashboard: &Dashboard, what: &str, period: Duration) -> Result<()> {
    let pid = dashboard.pid()?;
    let frames_before = dashboard.output.lock().unwrap().frame_times().len();
    let bytes_before = dashboard.output.lock().unwrap().bytes.len();
    let cpu_before = cpu_time(pid)?;
    std::thread::sleep(period);
    let cpu = cpu_time(pid)? - cpu_before;
    let output = dashboard.output.lock().unwrap();
    println!(
        "idle {:.0} s on {what}: {} frames, {} bytes written, CPU {:.3} s ({:.2}% of a core)",
        period.as_secs_f64(),
        output.frame_times().len() - frames_before,
        output.bytes.len() - bytes_before,
        cpu,
        cpu / period.as_secs_f64() * 100.0
    );
    Ok(())
}
