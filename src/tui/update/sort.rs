//! Sorting the focused list: `s` moves to its next column (then back to the server's order),
//! `S` flips the order, `1`..`9`, `:sort` and a click on a header pick a column. The selection
//! stays on the same item.

use crossterm::event::KeyEvent;

use crate::tui::columns::{Sort, SortColumn};
use crate::tui::key::Key;
use crate::tui::keymap::Command;
use crate::tui::state::{Pane, State};

fn set_sort(state: &mut State, pane: Pane, sort: Option<Sort>) {
    state.list_pane_mut(pane).sort = sort;
    state.rebuild_pane(pane);
    let text = match sort {
        Some(sort) => format!("{} sorted by {} {}", pane.title(), sort.column.name(), sort.arrow()),
        None => format!("{} in the server's order", pane.title()),
    };
    state.set_flash(text, false);
}

/// Sorts `pane` by `column`, in the column's first direction, or flipped when it already
/// sorts by it (a second click on a header).
pub(super) fn sort_by_column(state: &mut State, pane: Pane, column: SortColumn) {
    let descending = match state.list_pane(pane).sort {
        Some(sort) if sort.column == column => !sort.descending,
        _ => column.descending_first(),
    };
    set_sort(state, pane, Some(Sort { column, descending }));
}

/// The list the focused pane sorts: the detail pane moves through the connections.
fn focused_list(state: &State) -> Pane {
    if state.focus == Pane::Detail { Pane::Connections } else { state.focus }
}

/// `s`: the focused list's next column, and after the last one the server's order.
pub(super) fn cycle(state: &mut State) {
    let pane = focused_list(state);
    let columns = state.columns(pane);
    let next = match state.list_pane(pane).sort {
        None => columns.first(),
        Some(sort) => {
            let at = columns.iter().position(|column| column.key == sort.column);
            at.and_then(|at| columns.get(at + 1))
        }
    };
    let sort = next.map(|column| Sort { column: column.key, descending: column.key.descending_first() });
    set_sort(state, pane, sort);
}

/// `S`: the other direction.
pub(super) fn flip(state: &mut State) {
    let pane = focused_list(state);
    match state.list_pane(pane).sort {
        Some(sort) => set_sort(state, pane, Some(Sort { descending: !sort.descending, ..sort })),
        None => state.set_flash("not sorted yet: s picks a column", false),
    }
}

/// `1`..`9`: the Nth key of `sort_by_column` sorts the focused list by its Nth column, like a
/// click on that header (again: flipped), so rebinding the keys keeps their order.
pub(super) fn by_column_key(state: &mut State, key: &KeyEvent) {
    let pressed = Key::from_event(key);
    let Some(position) =
        state.keymap.keys_of(Command::SortByColumn).and_then(|keys| keys.iter().position(|bound| *bound == pressed))
    else {
        return;
    };
    let pane = focused_list(state);
    let columns = state.columns(pane);
    match columns.get(position) {
        Some(column) => sort_by_column(state, pane, column.key),
        None => state.set_flash(format!("{} has {} columns", pane.title(), columns.len()), false),
    }
}

/// `:sort <column> [asc|desc]`.
pub(super) fn sort_by_name(state: &mut State, name: &str, descending: Option<bool>) {
    let pane = focused_list(state);
    let columns = state.columns(pane);
    match columns.iter().find(|column| column.key.name() == name) {
        Some(column) => {
            let descending = descending.unwrap_or(column.key.descending_first());
            set_sort(state, pane, Some(Sort { column: column.key, descending }));
        }
        None => {
            let mut names: Vec<&str> = columns.iter().map(|column| column.key.name()).collect();
            names.dedup();
            let name = crate::sanitize::for_terminal(name);
            state.set_flash(format!("{} has no column {name}; columns: {}", pane.title(), names.join(", ")), true);
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::model::Health;
    use crate::tui::fixtures::{SIZE, code, command, key, listed, loaded_state};
    use crate::tui::state::Scope;
    use crate::tui::update::update;

    #[test]
    fn s_cycles_the_columns_keeping_the_selection_and_s_shifted_flips() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('j'));
        assert_eq!(state.selected_context().unwrap().external_id, "org_globex");
        let mut orders = Vec::new();
        for _ in 0..5 {
            update(&mut state, key('s'));
            orders.push(listed(&state, Pane::Contexts));
            assert_eq!(state.selected_context().unwrap().external_id, "org_globex", "the selection follows its item");
            assert_eq!(state.scope, Scope::Context("org_globex".into()));
        }
        assert_eq!(
            orders,
            [
                ["org_acme", "org_evil", "org_globex"], // health, worst first; ties keep the server's order
                ["org_acme", "org_evil", "org_globex"], // id
                ["org_acme", "org_evil", "org_globex"], // name
                ["org_acme", "org_globex", "org_evil"], // connection count, most first
                ["org_acme", "org_globex", "org_evil"], // back to the server's order
            ]
        );
        assert_eq!(state.contexts.sort, None);
        update(&mut state, key('s'));
        update(&mut state, key('S'));
        assert_eq!(state.contexts.sort, Some(Sort { column: SortColumn::Health, descending: false }));
        assert_eq!(listed(&state, Pane::Contexts), ["org_globex", "org_acme", "org_evil"], "stable when flipped");
        assert_eq!(state.selected_context().unwrap().external_id, "org_globex");
    }

    #[test]
    fn sort_by_a_named_column_in_either_order_on_the_focused_list() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Tab));
        command(&mut state, "sort errors");
        assert_eq!(listed(&state, Pane::Connectors), ["slack", "google-drive", "github"]);
        assert_eq!(state.flash.as_ref().unwrap().text, "Connectors sorted by errors ↓");
        command(&mut state, "sort errors asc");
        assert_eq!(listed(&state, Pane::Connectors), ["github", "slack", "google-drive"]);
        command(&mut state, "sort connector");
        assert_eq!(listed(&state, Pane::Connectors), ["github", "google-drive", "slack"]);
        assert_eq!(listed(&state, Pane::Contexts), ["org_acme", "org_globex", "org_evil"], "other lists keep theirs");
        command(&mut state, "sort bogus");
        let flash = state.flash.clone().unwrap();
        assert!(flash.error && flash.text.contains("no column bogus; columns: connector, active"), "{flash:?}");
        assert_eq!(
            listed(&state, Pane::Connectors),
            ["github", "google-drive", "slack"],
            "a bad column changes nothing"
        );
    }

    #[test]
    fn a_digit_sorts_by_that_column_and_again_flips() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Tab));
        update(&mut state, key('4'));
        assert_eq!(state.connectors.sort, Some(Sort { column: SortColumn::Count(Health::Error), descending: true }));
        assert_eq!(listed(&state, Pane::Connectors), ["slack", "google-drive", "github"]);
        assert_eq!(state.flash.as_ref().unwrap().text, "Connectors sorted by errors ↓");
        update(&mut state, key('4'));
        assert_eq!(listed(&state, Pane::Connectors), ["github", "slack", "google-drive"], "again: flipped");
        update(&mut state, key('1'));
        assert_eq!(listed(&state, Pane::Connectors), ["github", "google-drive", "slack"]);
        update(&mut state, key('9'));
        assert_eq!(state.flash.as_ref().unwrap().text, "Connectors has 6 columns");
        assert_eq!(state.connectors.sort, Some(Sort { column: SortColumn::Connector, descending: false }));
        update(&mut state, code(KeyCode::BackTab));
        update(&mut state, key('4'));
        assert_eq!(state.contexts.sort, Some(Sort { column: SortColumn::Connections, descending: true }));
        assert_eq!(listed(&state, Pane::Contexts), ["org_acme", "org_globex", "org_evil"]);
    }

    #[test]
    fn triage_sorts_by_health_and_a_filter_keeps_the_order() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('t'));
        command(&mut state, "sort health asc");
        assert_eq!(listed(&state, Pane::Connections), ["c-globex-github", "c-acme-drive", "c-evil-slack"]);
        command(&mut state, "sort id desc");
        assert_eq!(listed(&state, Pane::Connections), ["c-globex-github", "c-evil-slack", "c-acme-drive"]);
        command(&mut state, "filter slack");
        command(&mut state, "filter");
        assert_eq!(listed(&state, Pane::Connections), ["c-globex-github", "c-evil-slack", "c-acme-drive"]);
    }
}
