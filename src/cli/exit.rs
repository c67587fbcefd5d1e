//! The exit codes every command ends with, and their table for `--help`.

/// Everything went as it should, and `check` found nothing needing attention.
pub const EXIT_OK: u8 = 0;
/// `check` found connections needing attention; nothing else exits with 1.
pub const EXIT_ATTENTION: u8 = 1;
/// The target failed: unreachable, keys refused, an error answer (4xx, 5xx or a 2xx carrying
/// `{"error": ...}`), an answer that breaks the protocol, or a limit reached.
pub const EXIT_TARGET: u8 = 2;
/// Bad usage or configuration.
pub const EXIT_USAGE: u8 = 3;

/// The exit-code table, shared by the root and `check` help texts.
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
  0  success; `check` found nothing needing attention
  1  `check` found connections needing attention (the only cause of exit 1)
  2  the target failed: unreachable or timed out, refused the keys, answered an error
     (4xx, 5xx, or a 2xx carrying {\"error\": ...}, such as an unknown context or
     connection), answered outside the protocol, redirected to another server, or went past
     a limit (pages, connections, body size)
  3  bad usage or configuration (including a secret_command that fails or times out, and a
     server data directory written by a newer xkit-dash)"
    };
}
pub(crate) use exit_codes_help;
