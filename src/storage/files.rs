//! Files gatehouse makes for its data (the SQLite database, the key-encryption key) are
//! readable by the user it runs as and nobody else: 0600 files in 0700 folders.

use std::io::{self, Write};
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates `dir` and any missing parents, each new one 0700. Existing folders are left as
/// they are: they may be shared on purpose.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Creates the folder `path` lives in, as [`create_private_dir_all`].
pub fn create_private_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => create_private_dir_all(dir),
        None => Ok(()),
    }
}

fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Creates an empty 0600 file at `path` unless one exists; answers whether it made one.
pub fn create_private_empty(path: &Path) -> io::Result<bool> {
    match open_options().open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to a new 0600 file at `path`, unless a file is already there; answers
/// whether it wrote one. The file appears whole or not at all (written beside it, then
/// linked into place, which fails if another process got there first), so a process
/// racing this one never reads half a file.
pub fn create_private_file(path: &Path, contents: &[u8]) -> io::Result<bool> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(
        ".{name}.{}.tmp",
        crate::domain::secret::random_id(6)
    ));
    let result = (|| {
        let mut file = open_options().open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        match std::fs::hard_link(&temporary, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    result
}

/// Whether two paths name one existing file (the same device and inode: through links,
/// `..` and other spellings alike). A path that does not exist is no file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Takes group and other permissions off an existing file; answers whether it had any.
/// A missing file is fine.
pub fn restrict_to_owner(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        let mode = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o600))?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(false)
}
