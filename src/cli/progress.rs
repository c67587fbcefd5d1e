//! Runs a [`crate::scan`] for a headless command, with a progress bar on stderr when stderr is
//! a terminal (and nothing at all otherwise, so cron mail and pipes stay clean).

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::Client;
use crate::model::Connection;
use crate::scan::{self, ScanEvent, ScanMode, ScanProgress, ScanRequest};

/// Scans, handing each page of connections to `on_page` as it arrives.
pub async fn drive_scan(
    client: Client,
    request: ScanRequest,
    mut on_page: impl FnMut(Vec<Connection>) -> Result<()>,
) -> Result<ScanProgress> {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(spinner_style());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("scanning connections…");
    let mut scan = scan::start(client, request);
    let outcome = loop {
        let Some(event) = scan.events.recv().await else {
            break Err(anyhow::anyhow!("the scan stopped unexpectedly"));
        };
        match event {
            // The CLI's requests never ask for the contexts listing.
            ScanEvent::Mode(ScanMode::Bulk) | ScanEvent::Contexts(_) | ScanEvent::ContextsListed(_) => {}
            ScanEvent::Mode(ScanMode::PerContext) => {
                bar.set_message("scanning connections context by context…");
            }
            ScanEvent::Page { connections, progress } => {
                show(&bar, progress);
                if let Err(error) = on_page(connections) {
                    break Err(error);
                }
            }
            ScanEvent::Finished(outcome) => break outcome.map_err(anyhow::Error::from),
        }
    };
    bar.finish_and_clear();
    outcome
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {pos} found").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn show(bar: &ProgressBar, progress: ScanProgress) {
    bar.set_position(progress.connections as u64);
    if let Some(total) = progress.contexts_total {
        bar.set_message(format!("scanning connections: {}/{total} contexts,", progress.contexts_done));
    }
}
