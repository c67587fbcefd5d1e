//! The popups that show a secret (a minted token, a repair URL with its single-use token):
//! one handler reveals or hides it, copies it, and closes the popup.

use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, State};

pub(super) fn on_popup_key(state: &mut State, command: Option<Command>) -> Vec<Effect> {
    let Some(secret) = state.mode.shown_secret() else { return Vec::new() };
    match command {
        Some(Command::PopupReveal) => *secret.revealed = !*secret.revealed,
        Some(Command::PopupCopy) => {
            let (text, what) = (secret.text.to_owned(), secret.what);
            state.set_flash(format!("{what} copied to the clipboard (OSC 52)"), false);
            return vec![Effect::Copy(text)];
        }
        Some(Command::PopupClose) => state.mode = Mode::Browse,
        _ => {}
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::config::{KeyOverride, KeyOverrides};
    use crate::tui::action::Action;
    use crate::tui::fixtures::{CATALOG, SIZE, code, key, loaded_state};
    use crate::tui::keymap::Keymap;
    use crate::tui::mint::MintedToken;
    use crate::tui::update::update;

    #[test]
    fn token_and_url_popups_share_their_rebindable_keys() {
        let overrides = KeyOverrides::from([(
            "popup".to_owned(),
            KeyOverride::Mode(
                [("reveal".to_owned(), vec!["r".to_owned()]), ("close".to_owned(), vec!["x".to_owned()])].into(),
            ),
        )]);
        let mut state = loaded_state(SIZE);
        state.keymap = Keymap::new(&overrides, false).unwrap();
        update(&mut state, Action::Minted(Ok(MintedToken::new("org_acme".into(), "tok-1".into()))));
        update(&mut state, key('v'));
        assert!(matches!(&state.mode, Mode::Minted(minted) if !minted.revealed), "v is no longer bound");
        update(&mut state, key('r'));
        assert!(matches!(&state.mode, Mode::Minted(minted) if minted.revealed));
        assert_eq!(update(&mut state, key('c')), vec![Effect::Copy("tok-1".into())]);
        assert_eq!(state.flash.as_ref().unwrap().text, "token copied to the clipboard (OSC 52)");
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Minted(_)), "esc is no longer bound");
        update(&mut state, key('x'));
        assert!(matches!(state.mode, Mode::Browse));

        let url = format!("{CATALOG}/connectors/slack?token=xkrt_1");
        update(&mut state, Action::BrowserOpened { url: url.clone(), result: Err("no display".into()) });
        update(&mut state, key('r'));
        assert!(matches!(state.mode, Mode::Url { revealed: true, .. }));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy(url)]);
        assert_eq!(state.flash.as_ref().unwrap().text, "URL copied to the clipboard (OSC 52)");
        update(&mut state, key('x'));
        assert!(matches!(state.mode, Mode::Browse));
    }
}
