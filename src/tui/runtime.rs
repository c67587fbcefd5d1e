//! The runtime: owns the terminal and the state, turns input, worker results, timers and
//! signals into actions, runs the reducer, executes its effects and draws when something
//! changed (at most once per frame, never while idle).

use std::io::{self, Stdout, Write as _};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Once};
use std::time::Duration;

use anyhow::{Context as _, Result};
use crossterm::clipboard::CopyToClipboard;
use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use futures::{FutureExt as _, StreamExt as _};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use super::action::{Action, Effect, LoadEvent, RepairLink, Stream};
use super::live::FollowEvent;
use super::mint::MintedToken;
use super::session::{Opened, Opener};
use super::state::State;
use super::update::update;
use super::{fetcher, follower, loader, ui};
use crate::client::{Client, ConnectionFilter};
use crate::target::DEMO_PROFILE;
use crate::target::OpenTarget;

/// At most ~60 frames a second.
const FRAME: Duration = Duration::from_millis(16);
/// Spinner speed while something loads.
const SPINNER_TICK: Duration = Duration::from_millis(100);

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped, whatever way the dashboard ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen, Show);
}

fn enter_terminal(mouse: bool) -> Result<(Term, Restore)> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Restore first, so the panic message lands on a usable screen.
            restore_terminal();
            previous(info);
        }));
    });
    enable_raw_mode().context("cannot switch the terminal to raw mode")?;
    let guard = Restore;
    execute!(io::stdout(), EnterAlternateScreen, Hide)?;
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((terminal, guard))
}

fn draw(terminal: &mut Term, state: &State) -> Result<()> {
    execute!(io::stdout(), BeginSynchronizedUpdate)?;
    terminal.draw(|frame| ui::draw(frame, state))?;
    execute!(io::stdout(), EndSynchronizedUpdate)?;
    Ok(())
}

pub use loader::ScanLimits;

/// How the runtime meets the terminal and the disk.
pub struct RuntimeOptions {
    /// Capture the mouse (clicks and the wheel); off leaves text selection to the terminal.
    pub mouse: bool,
    /// Where `:` commands are kept.
    pub history_file: PathBuf,
}

pub async fn run(mut state: State, opener: Opener, opened: Opened, options: RuntimeOptions) -> Result<()> {
    let (mut terminal, restore) = enter_terminal(options.mouse)?;
    let mut runtime = Runtime::new(opener, opened, options);
    let result = runtime.event_loop(&mut terminal, &mut state).await;
    runtime.close_target();
    // The terminal is the user's again before the embedded server's shutdown is waited for.
    drop(restore);
    if let Some(closing) = runtime.demo_closing.take() {
        let _ = closing.await;
    }
    result
}

/// What the event loop does after an effect.
enum Flow {
    Continue,
    Quit,
    /// Suspend the dashboard and run this plugin in the terminal.
    Foreground {
        name: String,
        argv: Vec<String>,
    },
}

struct Runtime {
    opener: Arc<Opener>,
    /// The open target (its client, and the embedded server when it is the demo); `None`
    /// while a profile switch opens the next one, or after it failed.
    target: Option<OpenTarget>,
    limits: ScanLimits,
    tx: mpsc::Sender<Action>,
    rx: mpsc::Receiver<Action>,
    scan: Option<JoinHandle<()>>,
    /// The events follower of the open target, and what it reports: a channel per target, so
    /// nothing an old target's follower queued reaches the next one's screen.
    follower: Option<JoinHandle<()>>,
    follow_tx: mpsc::Sender<FollowEvent>,
    follow_rx: mpsc::Receiver<FollowEvent>,
    /// Requests in flight for the open target (repair links, refreshes, mints): aborted with it.
    workers: JoinSet<()>,
    /// The profile switch in progress, and its number (a newer switch overtakes older ones).
    opening: Option<JoinHandle<()>>,
    /// The embedded demo's shutdown once it was closed: waited for before the demo opens again
    /// on its data, and before the dashboard exits.
    demo_closing: Option<JoinHandle<()>>,
    switches: u64,
    opened_tx: mpsc::Sender<(u64, String, Result<Opened>)>,
    opened_rx: mpsc::Receiver<(u64, String, Result<Opened>)>,
    refresh_at: Option<Instant>,
    /// Whether the open target was asked for its totals (`GET /stats`) yet: once per target.
    probed: bool,
    history_file: PathBuf,
    mouse: bool,
}

impl Runtime {
    fn new(opener: Opener, opened: Opened, options: RuntimeOptions) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let (follow_tx, follow_rx) = mpsc::channel(FOLLOW_QUEUE);
        let (opened_tx, opened_rx) = mpsc::channel(4);
        let RuntimeOptions { mouse, history_file } = options;
        Self {
            opener: Arc::new(opener),
            target: Some(opened.target),
            limits: opened.limits,
            tx,
            rx,
            scan: None,
            follower: None,
            follow_tx,
            follow_rx,
            workers: JoinSet::new(),
            opening: None,
            demo_closing: None,
            switches: 0,
            opened_tx,
            opened_rx,
            refresh_at: None,
            probed: false,
            history_file,
            mouse,
        }
    }

    /// Stops everything that talks to the open target, then closes it: after this, no request
    /// reaches it. The embedded demo server, if it was one, is shut down on a task kept in
    /// `demo_closing`.
    fn close_target(&mut self) {
        if let Some(scan) = self.scan.take() {
            scan.abort();
        }
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
        (self.follow_tx, self.follow_rx) = mpsc::channel(FOLLOW_QUEUE);
        self.workers.abort_all();
        self.refresh_at = None;
        self.probed = false;
        let Some(target) = self.target.take() else { return };
        tracing::info!(target = %target.label(), "target closed");
        if let Some(embedded) = target.embedded {
            self.demo_closing = Some(tokio::spawn(embedded.server.shutdown()));
        }
    }

    async fn event_loop(&mut self, terminal: &mut Term, state: &mut State) -> Result<()> {
        let mut input = EventStream::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut spinner = tokio::time::interval(SPINNER_TICK);
        spinner.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut clock = tokio::time::interval_at(Instant::now() + CLOCK_TICK, CLOCK_TICK);
        clock.set_missed_tick_behavior(MissedTickBehavior::Skip);

        let size = terminal.size()?;
        update(state, Action::Resize { width: size.width, height: size.height });
        // The first frame goes out before any network call.
        draw(terminal, state)?;
        update(state, Action::Drawn);
        let mut last_frame = Instant::now();
        let mut effects = update(state, Action::Start);

        loop {
            for effect in effects.drain(..) {
                match self.execute(effect)? {
                    Flow::Continue => {}
                    Flow::Quit => return Ok(()),
                    Flow::Foreground { name, argv } => {
                        // The input reader would otherwise compete with the plugin for the
                        // keyboard: it is dropped and made anew afterwards.
                        drop(input);
                        let result = run_in_foreground(terminal, &argv, self.mouse).await;
                        // Ctrl-C in the plugin's cooked terminal signalled the whole process
                        // group: it was meant for the plugin, not for the dashboard.
                        while let Some(Some(())) = interrupt.recv().now_or_never() {}
                        input = EventStream::new();
                        let size = terminal.size()?;
                        update(state, Action::Resize { width: size.width, height: size.height });
                        self.send(Action::PluginFinished { name, result });
                    }
                }
            }
            if state.needs_redraw && last_frame.elapsed() >= FRAME {
                draw(terminal, state)?;
                update(state, Action::Drawn);
                last_frame = Instant::now();
            }
            let refresh_at = self.refresh_at;
            let action = tokio::select! {
                // Input first: a key is handled within a frame even while results pour in.
                biased;
                event = input.next() => match event {
                    Some(Ok(event)) => match to_action(event, self.mouse) {
                        Some(action) => action,
                        None => continue,
                    },
                    Some(Err(error)) => return Err(error).context("reading the terminal failed"),
                    None => Action::Terminate,
                },
                _ = terminate.recv() => Action::Terminate,
                _ = interrupt.recv() => Action::Terminate,
                _ = hangup.recv() => Action::Terminate,
                Some((switch, profile, result)) = self.opened_rx.recv() => match self.on_opened(switch, profile, result) {
                    Some(action) => action,
                    None => continue,
                },
                Some(action) = self.rx.recv() => action,
                Some(event) = self.follow_rx.recv() => Action::Follow(event),
                _ = tokio::time::sleep_until(refresh_at.unwrap_or_else(Instant::now)), if refresh_at.is_some() => {
                    self.refresh_at = None;
                    Action::RefreshTick
                }
                _ = spinner.tick(), if state.is_loading() => Action::SpinnerTick,
                _ = clock.tick() => Action::ClockTick,
                _ = tokio::time::sleep_until(last_frame + FRAME), if state.needs_redraw => continue,
            };
            effects = update(state, action);
        }
    }

    /// A switch's target opened (or not): kept when it is the latest switch, dropped otherwise.
    fn on_opened(&mut self, switch: u64, profile: String, result: Result<Opened>) -> Option<Action> {
        if switch != self.switches {
            return None;
        }
        self.opening = None;
        let result = match result {
            Ok(opened) => {
                self.target = Some(opened.target);
                self.limits = opened.limits;
                Ok(Box::new(opened.session))
            }
            Err(error) => {
                tracing::warn!(%profile, error = %format!("{error:#}"), "profile switch failed");
                Err(format!("{error:#}"))
            }
        };
        Some(Action::ProfileOpened { profile, result })
    }

    /// Queues an action for the reducer without waiting (the channel has room: the loop
    /// drains it between effects).
    fn send(&self, action: Action) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(action).await;
        });
    }

    /// The open target's client, or `None` (and the reason on the status line) between
    /// targets.
    fn client(&self) -> Option<Client> {
        let client = self.target.as_ref().map(|target| target.client.clone());
        if client.is_none() {
            self.send(Action::Failed(NO_TARGET.to_owned()));
        }
        client
    }

    /// Runs one effect.
    fn execute(&mut self, effect: Effect) -> Result<Flow> {
        // Finished workers are reaped here, so the set holds only live ones.
        while self.workers.try_join_next().is_some() {}
        match effect {
            Effect::Quit => return Ok(Flow::Quit),
            Effect::StartScan { generation, catalog } => {
                let Some(target) = &self.target else {
                    // Between targets: the scan fails at once, like one against a dead server.
                    for stream in [Stream::Contexts, Stream::Connectors, Stream::Connections] {
                        let event = LoadEvent::Finished { stream, result: Err(NO_TARGET.to_owned()) };
                        self.send(Action::Scan { generation, event });
                    }
                    return Ok(Flow::Continue);
                };
                if self.follower.is_none() {
                    // Started with the target's first scan, so events that happen while it
                    // runs reach the screen.
                    self.follower = Some(tokio::spawn(follower::run(target.client.clone(), self.follow_tx.clone())));
                }
                tracing::info!(generation, "scan started");
                let probe = !std::mem::replace(&mut self.probed, true);
                let task = loader::run(target.client.clone(), generation, catalog, probe, self.limits, self.tx.clone());
                self.scan = Some(tokio::spawn(task));
            }
            Effect::SwitchProfile { profile } => {
                tracing::info!(%profile, "switching profile");
                self.close_target();
                if let Some(opening) = self.opening.take() {
                    opening.abort();
                }
                self.switches += 1;
                let (switch, opener, opened_tx) = (self.switches, self.opener.clone(), self.opened_tx.clone());
                // The demo's server must be gone before the demo is opened again on its data;
                // any other profile opens at once while it shuts down.
                let closing = if profile == DEMO_PROFILE { self.demo_closing.take() } else { None };
                self.opening = Some(tokio::spawn(async move {
                    if let Some(closing) = closing {
                        let _ = closing.await;
                    }
                    let result = opener.open(Some(&profile)).await;
                    let _ = opened_tx.send((switch, profile, result)).await;
                }));
            }
            Effect::RunPlugin { name, argv, foreground } => {
                // The arguments may hold remote strings: logged by count only.
                tracing::info!(plugin = %name, arguments = argv.len(), foreground, "plugin started");
                if foreground {
                    return Ok(Flow::Foreground { name, argv });
                }
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = run_in_background(&argv).await;
                    let _ = tx.send(Action::PluginFinished { name, result }).await;
                });
            }
            Effect::SaveCommandHistory(lines) => {
                if let Err(error) = super::history::save(&self.history_file, &lines) {
                    tracing::warn!(file = %self.history_file.display(), %error, "cannot save the command history");
                }
            }
            Effect::ScheduleRefresh(delay) => {
                tracing::debug!(?delay, "next scan scheduled");
                self.refresh_at = Some(Instant::now() + delay);
            }
            Effect::Copy(text) => {
                let mut stdout = io::stdout();
                execute!(stdout, CopyToClipboard::to_clipboard_from(text))?;
                stdout.flush()?;
            }
            Effect::OpenRepair { link, fallback } => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.tx.clone();
                self.workers.spawn(async move {
                    let action = match repair_url(&client, link, fallback).await {
                        Ok(url) => {
                            let opened = url.clone();
                            let result = tokio::task::spawn_blocking(move || webbrowser::open(&opened))
                                .await
                                .map_err(|error| error.to_string())
                                .and_then(|result| result.map_err(|error| error.to_string()));
                            // The query may hold a single-use repair token: log the page only.
                            let page = url.split('?').next().unwrap_or_default();
                            tracing::info!(%page, ok = result.is_ok(), "repair page handed to the browser");
                            Action::BrowserOpened { url, result }
                        }
                        Err(error) => Action::Failed(error),
                    };
                    let _ = tx.send(action).await;
                });
            }
            Effect::RefreshConnection { id } => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.tx.clone();
                self.workers.spawn(async move {
                    let result = client.refresh_connection(&id).await.map(|envelope| Box::new(envelope.connection));
                    match &result {
                        Ok(connection) => tracing::info!(
                            connection = %id,
                            status = connection.authorization.as_ref().map_or("none", |a| a.status.as_str()),
                            "forced refresh answered"
                        ),
                        Err(error) => tracing::warn!(connection = %id, %error, "forced refresh failed"),
                    }
                    let _ = tx.send(Action::ConnectionRefreshed { id, result }).await;
                });
            }
            Effect::RefetchConnections { context, connector } => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.follow_tx.clone();
                self.workers.spawn(async move {
                    let filter = ConnectionFilter {
                        context: Some(context.clone()),
                        connector: Some(connector.clone()),
                        ..ConnectionFilter::default()
                    };
                    let result = client
                        .list_connections(&filter, None, Some(REFETCH_LIMIT))
                        .await
                        .map(|page| page.connections)
                        .map_err(|error| error.to_string());
                    let _ = tx.send(FollowEvent::Refetched { context, connector, result }).await;
                });
            }
            Effect::Remote(request) => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.follow_tx.clone();
                self.workers.spawn(async move {
                    let _ = tx.send(FollowEvent::Remote(fetcher::read(client, request).await)).await;
                });
            }
            Effect::LoadStats => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.follow_tx.clone();
                self.workers.spawn(async move {
                    let result = client.stats_history(STATS_SPAN, STATS_BUCKET).await.map(Box::new);
                    let _ = tx.send(FollowEvent::Stats(result)).await;
                });
            }
            Effect::Mint(context) => {
                let Some(client) = self.client() else { return Ok(Flow::Continue) };
                let tx = self.tx.clone();
                self.workers.spawn(async move {
                    let external_id = context.external_id.clone();
                    let result = match client.create_context(&context).await {
                        Ok(response) => {
                            tracing::info!(%external_id, "context token minted");
                            Ok(MintedToken::new(external_id, response.access_token))
                        }
                        Err(error) => {
                            tracing::warn!(%external_id, %error, "minting failed");
                            Err(error.to_string())
                        }
                    };
                    let _ = tx.send(Action::Minted(result)).await;
                });
            }
        }
        Ok(Flow::Continue)
    }
}

/// Follower reports waiting for the reducer (each a page of events at most).
const FOLLOW_QUEUE: usize = 16;
/// The most connections one context has to one connector that an event's re-read takes.
const REFETCH_LIMIT: u32 = 100;
/// What the chart shows: a day, by the hour.
const STATS_SPAN: Duration = Duration::from_secs(24 * 3600);
const STATS_BUCKET: Duration = Duration::from_secs(3600);
/// How often "since" columns are redrawn while nothing else changes.
const CLOCK_TICK: Duration = Duration::from_secs(30);

/// Said when an effect needs a target while none is open.
const NO_TARGET: &str = "no target is open: pick a profile";

/// A background plugin: no terminal (its output would tear the screen), its exit status
/// reported.
async fn run_in_background(argv: &[String]) -> Result<String, String> {
    let (program, arguments) = argv.split_first().ok_or("empty command")?;
    let status = tokio::process::Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|error| format!("cannot run {program:?}: {error}"))?;
    exit_outcome(status)
}

/// A foreground plugin: the dashboard leaves the terminal to it and takes it back after.
async fn run_in_foreground(terminal: &mut Term, argv: &[String], mouse: bool) -> Result<String, String> {
    let (program, arguments) = argv.split_first().ok_or("empty command")?;
    restore_terminal();
    let status = tokio::process::Command::new(program).args(arguments).status().await;
    // A blank frame makes ratatui's idea of the screen match the cleared one, so the next
    // frame is drawn whole (`Terminal::clear` would ask the terminal for the cursor position,
    // which not every terminal answers).
    let resumed = enable_raw_mode()
        .and_then(|()| execute!(io::stdout(), EnterAlternateScreen, Hide, Clear(ClearType::All)))
        .and_then(|()| if mouse { execute!(io::stdout(), EnableMouseCapture) } else { Ok(()) })
        .and_then(|()| terminal.draw(|frame| frame.render_widget(ratatui::widgets::Clear, frame.area())).map(drop));
    if let Err(error) = resumed {
        tracing::warn!(%error, "cannot take the terminal back after a plugin");
    }
    exit_outcome(status.map_err(|error| format!("cannot run {program:?}: {error}"))?)
}

fn exit_outcome(status: std::process::ExitStatus) -> Result<String, String> {
    if status.success() { Ok("done".to_owned()) } else { Err(format!("it ended with {status}")) }
}

/// The server's repair link when asked for one (the extension may be missing: 404/501), else
/// the catalog page.
async fn repair_url(client: &Client, link: Option<RepairLink>, fallback: Option<String>) -> Result<String, String> {
    if let Some(RepairLink { external_id, slug }) = link {
        match client.repair_link(&external_id, &slug).await {
            Ok(link) => return Ok(link.url),
            Err(error) => {
                tracing::info!(%external_id, %slug, %error, "no repair link from the server; using the catalog page");
                if fallback.is_none() {
                    return Err(format!("cannot get a repair link: {error}"));
                }
            }
        }
    }
    fallback.ok_or_else(|| "the catalog URL is unknown".to_owned())
}

/// The action for a terminal event; mouse reports are dropped when the mouse is off (a
/// terminal may still send them).
fn to_action(event: Event, mouse: bool) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Action::Key(key)),
        Event::Resize(width, height) => Some(Action::Resize { width, height }),
        Event::Mouse(event) if mouse => Some(Action::Mouse(event)),
        _ => None,
    }
}
