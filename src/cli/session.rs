//! What every headless command starts from: paths, configuration and the target flags.

use std::io::IsTerminal as _;

use anyhow::Result;

use crate::config::{Config, Paths, TargetArgs};
use crate::target::OpenTarget;

/// What every headless command starts from.
pub(crate) struct Session {
    pub paths: Paths,
    pub config: Config,
    pub target_args: TargetArgs,
}

impl Session {
    /// Opens the target (flags > environment > profile > embedded demo).
    pub async fn open_target(&self) -> Result<OpenTarget> {
        let options = self.target_args.client_options();
        crate::target::open_with(&self.target_args, &self.config, &self.paths, &options).await
    }
}

/// True when stdin and stderr are a terminal: prompts are possible.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
