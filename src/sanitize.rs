//! Makes remote strings safe to put on a terminal.
//!
//! Anything a server sends (names, ids, error messages) may carry escape sequences that would
//! move the cursor, retitle the window or worse. Control characters are replaced with caret
//! notation and absurd lengths are cut before any string reaches a screen or a human-readable
//! table.

/// The longest remote string shown in full; longer ones are cut with an ellipsis.
pub const MAX_DISPLAY_CHARS: usize = 512;

/// Replaces control characters (C0, DEL, C1, including ESC) with `^X`-style caret notation
/// and cuts the text to [`MAX_DISPLAY_CHARS`] characters.
pub fn for_terminal(text: &str) -> String {
    for_terminal_within(text, MAX_DISPLAY_CHARS)
}

/// [`for_terminal`] with a custom length cap.
pub fn for_terminal_within(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    for (count, character) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        match character {
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => out.push_str("^?"),
            c if ('\u{80}'..='\u{9f}').contains(&c) => out.push_str("^["),
            // Bidirectional overrides can make text read differently from what it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_neutralized() {
        let hostile = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J name";
        let clean = for_terminal(hostile);
        assert!(!clean.chars().any(|c| c.is_control()), "{clean:?}");
        assert_eq!(clean, "evil^[]0;pwned^G^[[2J name");
    }

    #[test]
    fn c1_controls_and_bidi_overrides_are_removed() {
        let clean = for_terminal("a\u{9b}31mb\u{202e}c");
        assert!(!clean.chars().any(|c| c.is_control()));
        assert_eq!(clean, "a^[31mbc");
    }

    #[test]
    fn long_strings_are_cut() {
        let long = "x".repeat(10_000);
        let clean = for_terminal(&long);
        assert_eq!(clean.chars().count(), MAX_DISPLAY_CHARS + 1);
        assert!(clean.ends_with('…'));
        assert_eq!(for_terminal("short"), "short");
    }
}
