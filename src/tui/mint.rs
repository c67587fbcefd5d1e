//! The context-token form: fields, inline validation (the server's rules), and the minted
//! token's display state.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tui_input::Input;

use crate::model::Context;

/// The longest id, name or attribute the server accepts.
pub const MAX_FIELD_CHARS: usize = 255;

pub const EXTERNAL_ID: usize = 0;
pub const EXTERNAL_NAME: usize = 1;
pub const ATTRIBUTES: usize = 2;
pub const FIELD_LABELS: [&str; 3] = ["external_id", "external_name", "attributes"];
pub const FIELD_HINTS: [&str; 3] = ["required", "optional", "key=value, comma or space separated"];

#[derive(Debug, Clone, Default)]
pub struct MintForm {
    pub fields: [Input; 3],
    pub focus: usize,
    /// True while the request is in flight; the form ignores edits meanwhile.
    pub submitting: bool,
    /// The server's answer when it refused the request.
    pub server_error: Option<String>,
}

impl MintForm {
    /// A fresh form, with the id of the selected context filled in when there is one.
    pub fn new(external_id: Option<&str>) -> Self {
        let mut form = Self::default();
        if let Some(id) = external_id {
            form.fields[EXTERNAL_ID] = Input::new(id.to_owned());
        }
        form
    }

    /// One message per field that fails validation, shown under the field as the user types.
    pub fn field_errors(&self) -> [Option<String>; 3] {
        let id = self.fields[EXTERNAL_ID].value();
        let name = self.fields[EXTERNAL_NAME].value();
        [
            if id.trim().is_empty() { Some("required".to_owned()) } else { check_text(id).err() },
            if name.is_empty() { None } else { check_text(name).err() },
            parse_attributes(self.fields[ATTRIBUTES].value()).err(),
        ]
    }

    /// The context to submit, or the first validation problem.
    pub fn to_context(&self) -> Result<Context, String> {
        if let Some((index, problem)) =
            self.field_errors().into_iter().enumerate().find_map(|(index, error)| error.map(|error| (index, error)))
        {
            return Err(format!("{}: {problem}", FIELD_LABELS[index]));
        }
        let name = self.fields[EXTERNAL_NAME].value();
        Ok(Context {
            external_id: self.fields[EXTERNAL_ID].value().trim().to_owned(),
            external_name: (!name.is_empty()).then(|| name.to_owned()),
            attributes: parse_attributes(self.fields[ATTRIBUTES].value())?,
            ..Default::default()
        })
    }
}

fn check_text(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_FIELD_CHARS {
        return Err(format!("at most {MAX_FIELD_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("no control characters".to_owned());
    }
    Ok(())
}

/// `plan=pro, region=eu` (commas or spaces between pairs) into custom attributes.
pub fn parse_attributes(text: &str) -> Result<Map<String, Value>, String> {
    let mut attributes = Map::new();
    for pair in text.split([',', ' ']).filter(|pair| !pair.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=value"));
        };
        if key.is_empty() {
            return Err(format!("{pair:?} has no key"));
        }
        if matches!(key, "external_id" | "external_name") {
            return Err(format!("{key} has its own field"));
        }
        check_text(key).and_then(|()| check_text(value)).map_err(|problem| format!("{key}: {problem}"))?;
        if attributes.insert(key.to_owned(), Value::String(value.to_owned())).is_some() {
            return Err(format!("{key} is given twice"));
        }
    }
    Ok(attributes)
}

/// A token the server minted, kept masked until the user asks to see it.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub external_id: String,
    pub token: SecretString,
    pub expires_at: Option<DateTime<Utc>>,
    pub revealed: bool,
}

impl MintedToken {
    pub fn new(external_id: String, token: String) -> Self {
        let expires_at = jwt_expiry(&token);
        Self { external_id, token: SecretString::from(token), expires_at, revealed: false }
    }

    /// What the screen shows: the token when revealed, else a mask of the same length class.
    pub fn display(&self) -> String {
        let token = self.token.expose_secret();
        if self.revealed { token.to_owned() } else { "•".repeat(token.chars().count().clamp(8, 32)) }
    }
}

/// The `exp` claim of a JWT, for display only (the signature is not checked).
pub fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(id: &str, name: &str, attributes: &str) -> MintForm {
        let mut form = MintForm::new(Some(id));
        form.fields[EXTERNAL_NAME] = Input::new(name.to_owned());
        form.fields[ATTRIBUTES] = Input::new(attributes.to_owned());
        form
    }

    #[test]
    fn a_valid_form_becomes_a_context_with_attributes() {
        let context = form(" acme ", "Acme Inc", "plan=pro, region=eu tier=1").to_context().unwrap();
        assert_eq!(context.external_id, "acme");
        assert_eq!(context.external_name.as_deref(), Some("Acme Inc"));
        assert_eq!(context.attributes.get("plan"), Some(&Value::String("pro".into())));
        assert_eq!(context.attributes.get("tier"), Some(&Value::String("1".into())));
        assert_eq!(context.attributes.len(), 3);
        assert_eq!(form("acme", "", "").to_context().unwrap().external_name, None);
    }

    #[test]
    fn each_rule_is_checked_inline() {
        assert_eq!(form("", "", "").field_errors()[EXTERNAL_ID].as_deref(), Some("required"));
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        assert!(form(&long, "", "").field_errors()[EXTERNAL_ID].as_deref().unwrap().contains("at most 255"));
        assert!(form("a", "bad\u{1b}name", "").field_errors()[EXTERNAL_NAME].is_some());
        assert!(form("a", "", "plan").field_errors()[ATTRIBUTES].as_deref().unwrap().contains("not key=value"));
        assert!(form("a", "", "=x").field_errors()[ATTRIBUTES].is_some());
        assert!(form("a", "", "a=1,a=2").field_errors()[ATTRIBUTES].as_deref().unwrap().contains("twice"));
        assert!(form("a", "", "external_id=b").field_errors()[ATTRIBUTES].is_some());
        assert!(form("a", "", "").to_context().is_ok());
        assert!(form("", "", "").to_context().unwrap_err().starts_with("external_id"));
    }

    #[test]
    fn jwt_expiry_is_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"acme","exp":1900000000}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.signature");
        assert_eq!(jwt_expiry(&token), DateTime::from_timestamp(1_900_000_000, 0));
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn tokens_are_masked_until_revealed() {
        let mut minted = MintedToken::new("acme".into(), "secret-token-value".into());
        assert!(!minted.display().contains("secret"));
        assert!(!format!("{minted:?}").contains("secret-token-value"), "Debug must not leak the token");
        minted.revealed = true;
        assert_eq!(minted.display(), "secret-token-value");
    }
}
