//! The `:` command history file (`command_history` in the state directory): one command a
//! line, oldest first, at most [`MAX_HISTORY`]. Private (0600): commands name contexts.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use super::command::MAX_HISTORY;

/// The history kept in `file`; a missing or unreadable file is an empty history.
pub fn load(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<String> = text.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect();
    let excess = lines.len().saturating_sub(MAX_HISTORY);
    lines[excess..].to_vec()
}

/// Replaces the history in `file` (through a temporary file and a rename, so a crash never
/// leaves half of it), creating the directory when needed.
pub fn save(file: &Path, lines: &[String]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let temporary = file.with_extension("tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary)?;
    for line in lines {
        // A command is one line: the prompt cannot type a newline, so none is ever stored.
        writeln!(out, "{}", line.replace(['\n', '\r'], " "))?;
    }
    out.sync_all()?;
    fs::rename(&temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_and_loads_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state").join("command_history");
        assert!(load(&file).is_empty(), "no file yet");
        let lines: Vec<String> = (0..MAX_HISTORY + 20).map(|n| format!("context org_{n}")).collect();
        save(&file, &lines).unwrap();
        let loaded = load(&file);
        assert_eq!(loaded.len(), MAX_HISTORY);
        assert_eq!(loaded.last().unwrap(), &format!("context org_{}", MAX_HISTORY + 19));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
