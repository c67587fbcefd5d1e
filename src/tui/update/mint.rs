//! The context-token form: its keys, the submission, and the server's answer.

use crossterm::event::{Event, KeyEvent};
use tui_input::backend::crossterm::EventHandler;

use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::mint::MintedToken;
use crate::tui::state::{Mode, State};

/// A key in the mint form: a bound command, or else an edit of the focused field.
pub(super) fn on_form_key(state: &mut State, command: Option<Command>, key: KeyEvent) -> Vec<Effect> {
    if command == Some(Command::MintCancel) {
        state.mode = Mode::Browse;
        return Vec::new();
    }
    let Mode::Mint(form) = &mut state.mode else { return Vec::new() };
    if form.submitting {
        return Vec::new();
    }
    let fields = form.fields.len();
    match command {
        Some(Command::MintNextField) => form.focus = (form.focus + 1) % fields,
        Some(Command::MintPrevField) => form.focus = (form.focus + fields - 1) % fields,
        Some(Command::MintSubmit) => match form.to_context() {
            Ok(context) => {
                form.submitting = true;
                form.server_error = None;
                return vec![Effect::Mint(context)];
            }
            Err(_) => {
                if let Some(first) = form.field_errors().iter().position(Option::is_some) {
                    form.focus = first;
                }
            }
        },
        _ => {
            form.fields[form.focus].handle_event(&Event::Key(key));
            form.server_error = None;
        }
    }
    Vec::new()
}

/// `POST /context` answered: the token shows in its popup, or the form says why not.
pub(super) fn on_minted(state: &mut State, result: Result<MintedToken, String>) -> Vec<Effect> {
    match result {
        Ok(minted) => {
            state.set_flash(format!("minted a context token for {}", minted.external_id), false);
            state.mode = Mode::Minted(minted);
        }
        Err(message) => match &mut state.mode {
            Mode::Mint(form) => {
                form.submitting = false;
                form.server_error = Some(message);
            }
            _ => state.set_flash(format!("minting failed: {message}"), true),
        },
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use secrecy::ExposeSecret;

    use super::*;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{SIZE, code, key, loaded_state, press};
    use crate::tui::update::update;

    #[test]
    fn minting_validates_submits_and_masks_the_token() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('m'));
        let Mode::Mint(form) = &state.mode else { panic!("the form opens") };
        assert_eq!(form.fields[0].value(), "org_acme", "prefilled from the selection");
        update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert!(update(&mut state, code(KeyCode::Enter)).is_empty(), "an empty id is refused");
        press(&mut state, "tenant-1");
        update(&mut state, code(KeyCode::Tab));
        update(&mut state, code(KeyCode::Tab));
        press(&mut state, "plan=pro");
        let effects = update(&mut state, code(KeyCode::Enter));
        let [Effect::Mint(context)] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(context.external_id, "tenant-1");
        assert_eq!(context.attributes.get("plan"), Some(&serde_json::json!("pro")));
        assert!(state.is_loading());
        update(&mut state, Action::Minted(Err("server error 422: external_id too long".into())));
        let Mode::Mint(form) = &state.mode else { panic!("the form stays open on failure") };
        assert!(form.server_error.as_deref().unwrap().contains("422"));
        update(&mut state, Action::Minted(Ok(MintedToken::new("tenant-1".into(), "tok-123".into()))));
        let Mode::Minted(minted) = &state.mode else { panic!("the token shows") };
        assert!(!minted.revealed);
        update(&mut state, key('v'));
        assert!(matches!(&state.mode, Mode::Minted(minted) if minted.revealed));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("tok-123".into())]);
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
        if let Mode::Minted(minted) = &state.mode {
            panic!("token kept after closing: {}", minted.token.expose_secret());
        }
    }

    #[test]
    fn read_only_has_no_mint_key() {
        let mut state = loaded_state(SIZE);
        state.keymap = crate::tui::keymap::Keymap::new(&Default::default(), true).unwrap();
        assert!(update(&mut state, key('m')).is_empty());
        update(&mut state, code(KeyCode::Enter));
        assert!(update(&mut state, key('f')).is_empty(), "no forced refresh either");
        assert!(matches!(state.mode, Mode::Browse));
    }
}
