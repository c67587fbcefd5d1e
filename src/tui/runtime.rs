//! The runtime: owns the terminal and the state, turns input, worker results, timers and
//! signals into actions, runs the reducer, executes its effects and draws when something
//! changed (at most once per frame, never while idle).

use std::io::{self, Stdout, Write as _};
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use anyhow::{Context as _, Result};
use crossterm::clipboard::CopyToClipboard;
use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};
use futures::StreamExt as _;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::action::{Action, Effect, RepairLink};
use super::mint::MintedToken;
use super::state::State;
use super::update::update;
use super::{loader, ui};
use crate::client::Client;

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

pub async fn run(mut state: State, client: Client, limits: ScanLimits, options: RuntimeOptions) -> Result<()> {
    let (mut terminal, _restore) = enter_terminal(options.mouse)?;
    let mut runtime = Runtime::new(client, limits, options);
    let result = runtime.event_loop(&mut terminal, &mut state).await;
    runtime.stop();
    result
}

struct Runtime {
    client: Client,
    limits: ScanLimits,
    tx: mpsc::Sender<Action>,
    rx: mpsc::Receiver<Action>,
    scan: Option<JoinHandle<()>>,
    refresh_at: Option<Instant>,
    history_file: PathBuf,
    mouse: bool,
}

impl Runtime {
    fn new(client: Client, limits: ScanLimits, options: RuntimeOptions) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let RuntimeOptions { mouse, history_file } = options;
        Self { client, limits, tx, rx, scan: None, refresh_at: None, history_file, mouse }
    }

    fn stop(&mut self) {
        if let Some(scan) = self.scan.take() {
            scan.abort();
        }
    }

    async fn event_loop(&mut self, terminal: &mut Term, state: &mut State) -> Result<()> {
        let mut input = EventStream::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut spinner = tokio::time::interval(SPINNER_TICK);
        spinner.set_missed_tick_behavior(MissedTickBehavior::Skip);

        let size = terminal.size()?;
        update(state, Action::Resize { width: size.width, height: size.height });
        // The first frame goes out before any network call.
        draw(terminal, state)?;
        update(state, Action::Drawn);
        let mut last_frame = Instant::now();
        let mut effects = update(state, Action::Start);

        loop {
            for effect in effects.drain(..) {
                if !self.execute(effect)? {
                    return Ok(());
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
                Some(action) = self.rx.recv() => action,
                _ = tokio::time::sleep_until(refresh_at.unwrap_or_else(Instant::now)), if refresh_at.is_some() => {
                    self.refresh_at = None;
                    Action::RefreshTick
                }
                _ = spinner.tick(), if state.is_loading() => Action::SpinnerTick,
                _ = tokio::time::sleep_until(last_frame + FRAME), if state.needs_redraw => continue,
            };
            effects = update(state, action);
        }
    }

    /// Runs one effect; false means quit.
    fn execute(&mut self, effect: Effect) -> Result<bool> {
        match effect {
            Effect::Quit => return Ok(false),
            Effect::StartScan { generation, catalog } => {
                tracing::info!(generation, "scan started");
                let task = loader::run(self.client.clone(), generation, catalog, self.limits, self.tx.clone());
                self.scan = Some(tokio::spawn(task));
            }
            // Until profile switching lands in the runtime, the command answers on the status
            // line instead of doing nothing.
            Effect::SwitchProfile { profile } => {
                let message = format!("profile switching is not available ({profile})");
                let _ = self.tx.try_send(Action::Failed(message));
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
                let client = self.client.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
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
                let client = self.client.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
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
            Effect::Mint(context) => {
                let client = self.client.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
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
        Ok(true)
    }
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
