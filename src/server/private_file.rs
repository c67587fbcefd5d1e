//! Files that hold secrets (signing key, embedded key pair, the database and its WAL): created
//! with mode 0600, and a loosened mode found at startup is tightened again with a warning.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

/// Creates `dir` (and parents) readable by the owner only when it does not exist yet.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Writes `contents` to a new file at `path` with mode 0600; fails if the file exists, so a
/// secret is never silently replaced.
pub fn write_new(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a secret file, first restoring mode 0600 if others could read it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    restrict(path)?;
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Creates `path` empty with mode 0600 unless it exists, then makes sure it is private. Whatever
/// the umask, the file is never readable by others, not even for a moment.
pub fn create_or_restrict(path: &Path) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    restrict(path)
}

/// Restores mode 0600 on an existing file that others could read, with a warning.
pub fn restrict(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "secret file was readable by others; restoring mode 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A warning when others may list or enter `dir` (its files stay private, but their names and
/// sizes show, and a looser directory is often a sign of a copied or shared data directory).
pub fn exposed_dir_warning(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the data directory {} is accessible to other users (mode {mode:o}); it holds refresh tokens, \
                 client secrets and the token signing key: consider chmod 700",
                dir.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn new_files_are_private_and_loose_modes_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_new(&path, b"s3cret").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_new(&path, b"other").is_err(), "an existing secret is never replaced");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&path).unwrap(), b"s3cret");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        create_or_restrict(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"s3cret", "an existing file keeps its content");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let fresh = dir.path().join("fresh");
        create_or_restrict(&fresh).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn shared_directories_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(exposed_dir_warning(dir.path()), None);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(exposed_dir_warning(dir.path()).unwrap().contains("mode 755"));
    }
}
