//! The terminal dashboard.
//!
//! STUB: the dashboard issue replaces this.

use anyhow::Result;

use crate::config::TargetArgs;

/// Options that only the dashboard takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DashboardArgs {}

pub async fn run(_target: TargetArgs, _args: DashboardArgs) -> Result<()> {
    anyhow::bail!("the dashboard is not built yet; try `xkit-dash serve --demo`")
}
