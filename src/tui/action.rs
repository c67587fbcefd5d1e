//! What can happen to the dashboard ([`Action`]) and what it asks the runtime to do
//! ([`Effect`]). Input, worker results and timers all become actions for the one reducer.

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};

use crate::client::ClientError;
use crate::model::{Connection, Connector, Context, PlatformStats};

use super::keymap::Keymap;
use super::live::FollowEvent;
use super::mint::MintedToken;
use super::plugins::Plugins;
use super::remote::RemoteRequest;

#[derive(Debug, Clone)]
pub enum Action {
    /// The first frame is on screen: time to start loading.
    Start,
    Key(KeyEvent),
    /// A click or a wheel turn (only when the mouse is on).
    Mouse(MouseEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// A frame showing the current state is on screen: nothing to draw until the next change.
    Drawn,
    /// The refresh timer fired.
    RefreshTick,
    /// Advances the spinner; the runtime sends it only while something loads.
    SpinnerTick,
    /// A worker result, tagged with the scan it belongs to so late results of an old scan are
    /// ignored.
    Scan {
        generation: u64,
        event: LoadEvent,
    },
    /// The repair URL was handed to a browser (`Ok`) or could not be (`Err` with the reason).
    BrowserOpened {
        url: String,
        result: Result<(), String>,
    },
    /// `POST /context` answered.
    Minted(Result<MintedToken, String>),
    /// `POST /connections/:id/refresh` answered: the connection as it now is (boxed: it is
    /// large next to the other actions).
    ConnectionRefreshed {
        id: String,
        result: Result<Box<Connection>, ClientError>,
    },
    /// A background job failed; shown on the status line.
    Failed(String),
    /// A profile switch opened its target (boxed: large next to the other actions), or could
    /// not, with the reason.
    ProfileOpened {
        profile: String,
        result: Result<Box<Session>, String>,
    },
    /// A plugin ended: `Ok` with how it exited, `Err` when it could not start.
    PluginFinished {
        name: String,
        result: Result<String, String>,
    },
    /// SIGTERM, SIGINT or SIGHUP.
    Terminate,
    /// The events follower, or a read it asked for, reports (through the open target's own
    /// channel: nothing of a closed target arrives).
    Follow(FollowEvent),
    /// A minute passed: "since" columns age even when nothing else changes.
    ClockTick,
}

/// A target a profile switch opened, as the reducer is told it: everything of the new target
/// that the state holds.
#[derive(Debug, Clone)]
pub struct Session {
    pub label: String,
    pub read_only: bool,
    pub bundled: bool,
    pub api_url: String,
    pub profile: Option<String>,
    pub keymap: Keymap,
    pub plugins: Plugins,
    pub refresh: Duration,
    /// Between full scans while events are followed.
    pub live_rescan: Duration,
    pub catalog_url: Option<String>,
}

/// The three lists a scan loads; each reports its own outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Contexts,
    Connectors,
    Connections,
}

/// What the dashboard's loader reports about one scan (tagged by [`Action::Scan`]).
#[derive(Debug, Clone)]
pub enum LoadEvent {
    /// The hosted catalog base, derived from the platform record.
    Catalog(Result<String, String>),
    /// The server keeps totals and the platform is large: the panes read what they show
    /// (boxed: large next to the other events). The contexts and connections streams end
    /// without rows.
    Remote(Box<PlatformStats>),
    ContextsPage(Vec<Context>),
    ConnectorsPage(Vec<Connector>),
    /// Connections with `context` set (by the server in bulk mode, by the worker otherwise).
    ConnectionsPage {
        connections: Vec<Connection>,
        fallback: bool,
    },
    Finished {
        stream: Stream,
        result: Result<(), String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Load everything again under `generation`; `catalog` asks for the platform record too.
    StartScan {
        generation: u64,
        catalog: bool,
    },
    /// Fire [`Action::RefreshTick`] after this long (replaces any pending timer).
    ScheduleRefresh(Duration),
    /// Open a repair page: ask the server for a repair link first when `link` is set, else (or
    /// when the server lacks the extension) open `fallback`.
    OpenRepair {
        link: Option<RepairLink>,
        fallback: Option<String>,
    },
    /// Copy to the system clipboard with OSC 52. Never logged: it may be a token.
    Copy(String),
    Mint(Context),
    /// Force a token refresh of the connection with this id.
    RefreshConnection {
        id: String,
    },
    /// Tear down the current target and open this profile ("demo" is the embedded demo).
    SwitchProfile {
        profile: String,
    },
    /// Run a plugin's program with these arguments (never through a shell); `foreground`
    /// suspends the dashboard and gives the program the terminal.
    RunPlugin {
        name: String,
        argv: Vec<String>,
        foreground: bool,
    },
    /// Read the connections of `context` to `connector` again (an event said they changed).
    RefetchConnections {
        context: String,
        connector: String,
    },
    /// Read the 24-hour history for the chart.
    LoadStats,
    /// A read for the remote-backed panes (answered with `FollowEvent::Remote`).
    Remote(RemoteRequest),
    /// Keep these `:` commands (oldest first) in the state directory's history file.
    SaveCommandHistory(Vec<String>),
    Quit,
}

/// The connection whose repair link the server is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairLink {
    pub external_id: String,
    pub slug: String,
}
