//! `token mint`: create or update a context and print its context token.

use std::io::Write as _;

use anyhow::Result;
use serde_json::Value;

use super::exit::EXIT_OK;
use super::output;
use super::session::Session;
use crate::client::ClientError;
use crate::config::ConfigError;
use crate::model::Context;

const MINT_EXAMPLES: &str = "\
Examples:
  TOKEN=$(xkit-dash token mint --external-id acme)
  xkit-dash token mint --external-id acme --name 'Acme Inc.' --attr plan=pro --attr region=eu
  xkit-dash token mint --external-id acme --json | jq -r .access_token

The token is printed alone on stdout so that $(...) captures it; it is a secret: keep it out
of shell history files and logs. Refused when the target is read-only.";

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Create or update a context and print its context token.
    #[command(after_help = MINT_EXAMPLES)]
    Mint(MintArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct MintArgs {
    /// The context's external id (your user's or company's id).
    #[arg(long, value_name = "ID")]
    pub external_id: String,
    /// The context's display name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A custom attribute stored with the context (repeatable); the value is kept as text.
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// Print the server's JSON answer (`access_token` and `context`) instead of the bare token.
    #[arg(long)]
    pub json: bool,
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("empty attribute name in {text:?}"));
    }
    if matches!(key, "external_id" | "external_name") {
        return Err(format!("{key} is set with --external-id / --name, not --attr"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

pub async fn run(session: &Session, command: TokenCommand) -> Result<u8> {
    let TokenCommand::Mint(args) = command;
    if args.external_id.trim().is_empty() {
        return Err(ConfigError("--external-id must not be empty".into()).into());
    }
    let target = session.open_target().await?;
    if target.read_only {
        return Err(ConfigError(format!(
            "refused: {} is read-only (--read-only or read_only = true in the profile), and minting a token \
             creates or updates a context",
            target.label()
        ))
        .into());
    }
    let mut context = Context::new(args.external_id);
    context.external_name = args.name;
    for (key, value) in args.attributes {
        context.attributes.insert(key, Value::String(value));
    }
    let response = target.client.create_context(&context).await?;
    // The token goes to stdout raw (for `$(...)`): a hostile server must not smuggle escape
    // sequences to the terminal through it.
    if response.access_token.is_empty() || response.access_token.chars().any(char::is_control) {
        return Err(
            ClientError::InvalidResponse("the server returned an empty or malformed context token".into()).into()
        );
    }
    tracing::info!(external_id = %context.external_id, "minted a context token");
    let mut out = std::io::stdout().lock();
    if args.json {
        output::write_json_line(&mut out, &response)?;
    } else {
        writeln!(out, "{}", response.access_token)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_parse_and_reserved_names_are_refused() {
        assert_eq!(parse_attribute("plan=pro=max").unwrap(), ("plan".into(), "pro=max".into()));
        assert_eq!(parse_attribute("empty=").unwrap(), ("empty".into(), String::new()));
        assert!(parse_attribute("novalue").is_err());
        assert!(parse_attribute("=x").is_err());
        assert!(parse_attribute("external_id=x").is_err());
    }
}
