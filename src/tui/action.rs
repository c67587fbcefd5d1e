//! What can happen to the dashboard ([`Action`]) and what it asks the runtime to do
//! ([`Effect`]). Input, worker results and timers all become actions for the one reducer.

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};

use crate::client::ClientError;
use crate::model::{Connection, Connector, Context};

use super::mint::MintedToken;

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
    /// SIGTERM, SIGINT or SIGHUP.
    Terminate,
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
