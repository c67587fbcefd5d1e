//! `o`, the repair page of the selection: what to open, and what happens when no browser can.

use crate::tui::action::{Effect, RepairLink};
use crate::tui::state::{Mode, Pane, State, masked_url};

/// `o`: the repair page of the selected connection (or the catalog page of the selected
/// connector). On xkit-dash's own server, and unless read-only (a repair link is minted
/// server-side), the server is asked for a ready repair link first.
pub(super) fn open_repair(state: &mut State) -> Vec<Effect> {
    let (slug, external_id) = if state.focus == Pane::Connectors {
        match state.selected_connector() {
            Some(connector) => (connector.slug.clone(), None),
            None => {
                state.set_flash("select a connector first", true);
                return Vec::new();
            }
        }
    } else {
        match state.selected_connection() {
            Some(connection) => (
                connection.connector.slug.clone(),
                connection.context.as_ref().map(|context| context.external_id.clone()),
            ),
            None => {
                state.set_flash("select a connection first", true);
                return Vec::new();
            }
        }
    };
    let link = external_id
        .filter(|_| state.target.bundled && !state.target.read_only)
        .map(|external_id| RepairLink { external_id, slug: slug.clone() });
    let fallback = state.catalog_connector_url(&slug);
    if link.is_none() && fallback.is_none() {
        let why = state.catalog_error.clone().unwrap_or_else(|| "not loaded yet".to_owned());
        state.set_flash(format!("the catalog URL is unknown ({why}); set catalog_url in the profile"), true);
        return Vec::new();
    }
    state.set_flash(format!("opening the repair page for {}…", crate::sanitize::for_terminal(&slug)), false);
    vec![Effect::OpenRepair { link, fallback }]
}

/// The browser took the repair URL, or could not: then the URL is shown (masked) and copied.
pub(super) fn on_browser_opened(state: &mut State, url: String, result: Result<(), String>) -> Vec<Effect> {
    match result {
        Ok(()) => {
            state.set_flash(format!("opened {}", masked_url(&url)), false);
            Vec::new()
        }
        Err(reason) => {
            state.mode = Mode::Url { url: url.clone(), reason, revealed: false };
            vec![Effect::Copy(url)]
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{CATALOG, SIZE, code, key, loaded_state, press};
    use crate::tui::update::update;

    #[test]
    fn open_asks_the_bundled_server_then_falls_back_to_the_catalog() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Enter));
        press(&mut state, "jj");
        let effects = update(&mut state, key('o'));
        let fallback = Some(format!("{CATALOG}/connectors/google-drive"));
        assert_eq!(
            effects,
            vec![Effect::OpenRepair {
                link: Some(RepairLink { external_id: "org_acme".into(), slug: "google-drive".into() }),
                fallback: fallback.clone()
            }]
        );
        state.target.read_only = true;
        assert_eq!(update(&mut state, key('o')), vec![Effect::OpenRepair { link: None, fallback }]);
        state.catalog_url = None;
        state.catalog_error = Some("no platform record".into());
        assert!(update(&mut state, key('o')).is_empty());
        assert!(state.flash.as_ref().unwrap().error);
    }

    #[test]
    fn a_browser_failure_shows_the_url_and_copies_it() {
        let mut state = loaded_state(SIZE);
        let url = format!("{CATALOG}/connectors/slack");
        let effects =
            update(&mut state, Action::BrowserOpened { url: url.clone(), result: Err("no browser found".into()) });
        assert_eq!(effects, vec![Effect::Copy(url.clone())]);
        assert!(matches!(&state.mode, Mode::Url { url: shown, .. } if *shown == url));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy(url)]);
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
    }

    #[test]
    fn repair_tokens_stay_masked_on_screen_until_revealed() {
        let mut state = loaded_state(SIZE);
        let url = format!("{CATALOG}/connectors/slack?token=xkrt_secret123");
        update(&mut state, Action::BrowserOpened { url: url.clone(), result: Ok(()) });
        let status = &state.flash.as_ref().unwrap().text;
        assert!(status.contains("/connectors/slack?token=") && !status.contains("xkrt_secret123"), "{status}");

        let effects = update(&mut state, Action::BrowserOpened { url: url.clone(), result: Err("no display".into()) });
        assert_eq!(effects, vec![Effect::Copy(url.clone())], "the clipboard gets the whole URL");
        assert!(matches!(state.mode, Mode::Url { revealed: false, .. }));
        update(&mut state, key('v'));
        assert!(matches!(state.mode, Mode::Url { revealed: true, .. }));
        assert_eq!(
            masked_url("http://h/connectors/s?a=1&token=abc&b=2"),
            "http://h/connectors/s?a=1&token=••••••••&b=2"
        );
        assert_eq!(masked_url("http://h/connectors/s"), "http://h/connectors/s");
    }
}
