//! `gatehouse backup`: a consistent online copy of a SQLite database, made with SQLite's
//! online backup API while servers keep writing.
//!
//! The copy is read from one read transaction on a connection of its own: in WAL mode a
//! reader never blocks the writers, and its snapshot cannot change under it, so the pages
//! copied in chunks all belong to one committed state (a plain file copy would miss what is
//! still in the `-wal` file, or catch the file mid-checkpoint). The copy is written to a
//! temporary file beside PATH, checked (`PRAGMA integrity_check`), synced and only then
//! moved into place: a failed or interrupted backup never leaves a half-written PATH.
//!
//! The unsafe FFI is all here, in [`Sqlite`] and [`PageCopy`]: two handles owned by values
//! that close them exactly once.

use std::collections::BTreeMap;
use std::ffi::{c_int, CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use libsqlite3_sys as ffi;

use super::files;

/// Pages copied per `sqlite3_backup_step` (1 MiB at SQLite's default 4 KiB page).
const STEP_PAGES: c_int = 256;
/// A step answered SQLITE_BUSY or SQLITE_LOCKED is tried again after this...
const BUSY_PAUSE: Duration = Duration::from_millis(20);
/// ...at most this many times in a row (with the busy timeout on top) before giving up.
const BUSY_RETRIES: u32 = 250;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no SQLite database at {0}")]
    NoDatabase(PathBuf),
    #[error("{0} already exists: give --force to replace it")]
    Exists(PathBuf),
    #[error("{path} is {what}: the backup must go to another file")]
    Live { path: PathBuf, what: &'static str },
    #[error("{0} is a directory: name the backup file inside it")]
    IsDirectory(PathBuf),
    #[error("cannot write the backup into {dir}: {reason}")]
    Folder { dir: PathBuf, reason: String },
    #[error("{0} exists: a SQLite journal of an earlier database at that path would be applied to the backup; remove it first")]
    StaleJournal(PathBuf),
    #[error("writing the backup failed ({path}): {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the SQLite backup failed: {0}")]
    Sqlite(String),
    #[error("writing the backup {dest} failed: {reason}; {dest} is untouched")]
    Write { dest: PathBuf, reason: String },
    #[error("the database stayed busy: the backup gave up after {BUSY_RETRIES} tries")]
    Busy,
    #[error("the copy failed SQLite's integrity check: {0}")]
    Integrity(String),
}

/// What a finished backup holds.
#[derive(Debug, serde::Serialize)]
pub struct BackupReport {
    pub path: String,
    pub bytes: u64,
    pub pages: u64,
    pub page_size: u64,
    /// `sqlite3_backup_step` calls that copied pages: all of them from one snapshot, so
    /// never more than the pages need (a copy that restarted would need more).
    pub steps: u64,
    /// `ok`: `PRAGMA integrity_check` on the copy before it was moved into place.
    pub integrity_check: String,
    /// Rows per table of the copy.
    pub tables: BTreeMap<String, i64>,
}

/// Copies the live SQLite database at `live` to `dest`, replacing an existing `dest` only
/// when `force`. `keep` names files that must never be replaced (the key-encryption key).
pub fn backup_sqlite(
    live: &Path,
    dest: &Path,
    force: bool,
    keep: &[&Path],
    busy_timeout_ms: u64,
) -> Result<BackupReport, BackupError> {
    if !live.is_file() {
        return Err(BackupError::NoDatabase(live.to_owned()));
    }
    check_destination(live, dest, force, keep)?;
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
    let temporary = dir.join(format!(
        ".{}.{}.backup-tmp",
        name.unwrap_or_default(),
        crate::domain::secret::random_id(6)
    ));
    let result = write_copy(live, &temporary, dest, busy_timeout_ms)
        .and_then(|report| move_into_place(&temporary, dest, &dir, force).map(|()| report));
    // Whatever happened, nothing of the attempt stays beside PATH.
    for companion in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{companion}", temporary.display()));
    }
    let mut report = result?;
    report.path = dest.display().to_string();
    report.bytes = std::fs::metadata(dest)
        .map_err(|source| io_error(dest, source))?
        .len();
    Ok(report)
}

/// The refusals, before anything is written.
fn check_destination(
    live: &Path,
    dest: &Path,
    force: bool,
    keep: &[&Path],
) -> Result<(), BackupError> {
    let live_files = [
        ("", "the live database"),
        ("-wal", "the live database's write-ahead log"),
        ("-shm", "the live database's shared-memory file"),
        ("-journal", "the live database's journal"),
    ];
    for (suffix, what) in live_files {
        let file = PathBuf::from(format!("{}{suffix}", live.display()));
        if files::same_file(dest, &file) {
            return Err(BackupError::Live {
                path: dest.to_owned(),
                what,
            });
        }
    }
    if keep.iter().any(|k| files::same_file(dest, k)) {
        return Err(BackupError::Live {
            path: dest.to_owned(),
            what: "the key-encryption key file",
        });
    }
    if dest.is_dir() {
        return Err(BackupError::IsDirectory(dest.to_owned()));
    }
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        let reason = match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => None,
            Ok(_) => Some("it is not a directory".to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some("no such directory".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(reason) = reason {
            return Err(BackupError::Folder {
                dir: dir.to_owned(),
                reason,
            });
        }
    }
    // symlink_metadata: a dangling link at PATH is there too.
    if !force && std::fs::symlink_metadata(dest).is_ok() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    for journal in ["-wal", "-journal"] {
        let file = PathBuf::from(format!("{}{journal}", dest.display()));
        if std::fs::symlink_metadata(&file).is_ok() {
            return Err(BackupError::StaleJournal(file));
        }
    }
    Ok(())
}

/// The whole copy into `temporary`, checked.
fn write_copy(
    live: &Path,
    temporary: &Path,
    dest: &Path,
    busy_timeout_ms: u64,
) -> Result<BackupReport, BackupError> {
    // 0600 before SQLite writes a page: the copy holds password hashes and wrapped keys.
    files::create_private_empty(temporary).map_err(|e| BackupError::Folder {
        dir: temporary.parent().unwrap_or(Path::new(".")).to_owned(),
        reason: e.to_string(),
    })?;
    let copied = {
        // Read-write without create: a WAL reader writes the `-shm` index, and a missing
        // database is an error here, never a new empty one.
        let source = Sqlite::open(live, None, ffi::SQLITE_OPEN_READWRITE, busy_timeout_ms)?;
        let dest = Sqlite::open(
            temporary,
            Some(dest),
            ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
            busy_timeout_ms,
        )?;
        // One snapshot for every step: the read transaction starts at the first read.
        source.exec(c"BEGIN; SELECT count(*) FROM sqlite_schema;")?;
        let copied = PageCopy::new(&dest, &source)?.run()?;
        source.exec(c"COMMIT;")?;
        // The copy's header says WAL like its source's; a backup is one self-contained file.
        dest.exec(c"PRAGMA journal_mode = DELETE;")?;
        copied
    };
    let mut report = inspect(temporary)?;
    (report.pages, report.steps) = copied;
    std::fs::File::open(temporary)
        .and_then(|f| f.sync_all())
        .map_err(|source| io_error(temporary, source))?;
    Ok(report)
}

/// `PRAGMA integrity_check`, the page size and the rows of every table, read from the copy
/// through Diesel (no FFI needed for queries).
fn inspect(copy: &Path) -> Result<BackupReport, BackupError> {
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let failed = |e: diesel::result::Error| BackupError::Sqlite(format!("reading the copy: {e}"));
    let path = copy.to_string_lossy();
    let mut conn = diesel::SqliteConnection::establish(&path)
        .map_err(|e| BackupError::Sqlite(format!("opening the copy: {e}")))?;
    let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .map_err(failed)?;
    let check: Vec<String> = check.into_iter().map(|c| c.integrity_check).collect();
    if check != ["ok"] {
        return Err(BackupError::Integrity(check.join("; ")));
    }
    let page_size: Vec<Number> = diesel::sql_query("SELECT page_size AS n FROM pragma_page_size")
        .load(&mut conn)
        .map_err(failed)?;
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(&mut conn)
    .map_err(failed)?;
    let mut tables = BTreeMap::new();
    for Name { name } in names {
        let quoted = name.replace('"', "\"\"");
        let rows: Vec<Number> =
            diesel::sql_query(format!("SELECT count(*) AS n FROM \"{quoted}\""))
                .load(&mut conn)
                .map_err(failed)?;
        tables.insert(name, rows.first().map_or(0, |r| r.n));
    }
    Ok(BackupReport {
        path: String::new(),
        bytes: 0,
        pages: 0,
        steps: 0,
        page_size: page_size.first().map_or(0, |p| p.n as u64),
        integrity_check: "ok".into(),
        tables,
    })
}

/// Moves the checked copy to `dest` and syncs the directory, so the name survives a crash.
/// Without `force` the copy is linked into place, which fails if `dest` appeared meanwhile.
fn move_into_place(
    temporary: &Path,
    dest: &Path,
    dir: &Path,
    force: bool,
) -> Result<(), BackupError> {
    let moved = if force {
        std::fs::rename(temporary, dest)
    } else {
        std::fs::hard_link(temporary, dest)
    };
    match moved {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(dest.to_owned()))
        }
        Err(source) => return Err(io_error(dest, source)),
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error(dir, source))
}

fn io_error(path: &Path, source: io::Error) -> BackupError {
    BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An open `sqlite3*`, closed when dropped.
struct Sqlite {
    db: *mut ffi::sqlite3,
    path: PathBuf,
    /// For the copy: the PATH it is made for (its errors are failures to write PATH).
    backup_of: Option<PathBuf>,
}

impl Sqlite {
    fn open(
        path: &Path,
        backup_of: Option<&Path>,
        flags: c_int,
        busy_timeout_ms: u64,
    ) -> Result<Self, BackupError> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| BackupError::Sqlite(format!("{}: a NUL in the path", path.display())))?;
        let mut db = ptr::null_mut();
        // SAFETY: `name` is a NUL-terminated string alive for the call, `db` a valid place for
        // the handle, and a null VFS name means the default VFS. SQLite stores a handle in
        // `db` even when the open fails (null only when out of memory); the `Sqlite` made
        // right below owns it from then on and closes it once, in `drop`.
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let handle = Sqlite {
            db,
            path: path.to_owned(),
            backup_of: backup_of.map(Path::to_owned),
        };
        if rc != ffi::SQLITE_OK {
            return Err(handle.failure(rc));
        }
        let ms = c_int::try_from(busy_timeout_ms).unwrap_or(c_int::MAX);
        // SAFETY: `db` is the open handle just made, used on this thread only.
        unsafe { ffi::sqlite3_busy_timeout(handle.db, ms) };
        Ok(handle)
    }

    /// Runs statements that return nothing the caller needs.
    fn exec(&self, sql: &CStr) -> Result<(), BackupError> {
        // SAFETY: `db` is open (a `Sqlite` exists only with an open handle), `sql` is
        // NUL-terminated; no callback, so no row reaches Rust, and a null error pointer
        // asks SQLite to keep the message on the handle, where `failure` reads it.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db,
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.failure(rc));
        }
        Ok(())
    }

    /// SQLite's message for a failed call on this handle, with the system's reason for an
    /// I/O error ("No space left on device").
    fn failure(&self, rc: c_int) -> BackupError {
        // SAFETY: `sqlite3_errstr` takes any code and answers a static string;
        // `sqlite3_errmsg` and `sqlite3_system_errno` take an open handle (never reached
        // with null) and the message, owned by the handle, is copied before its next use.
        let (text, errno) = unsafe {
            if self.db.is_null() {
                (ffi::sqlite3_errstr(rc), 0)
            } else {
                (
                    ffi::sqlite3_errmsg(self.db),
                    ffi::sqlite3_system_errno(self.db),
                )
            }
        };
        let mut reason = unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned();
        if errno != 0 {
            reason.push_str(&format!(" ({})", io::Error::from_raw_os_error(errno)));
        }
        match &self.backup_of {
            Some(dest) => BackupError::Write {
                dest: dest.clone(),
                reason,
            },
            None => BackupError::Sqlite(format!("{}: {reason}", self.path.display())),
        }
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and closed only here. Every `PageCopy` borrowing it is
        // gone (finished) by now and `exec` leaves no statement unfinalized, so the close
        // cannot be refused as busy; `sqlite3_close` takes null as a no-op.
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

/// A running `sqlite3_backup` from `source` into `dest`, finished when dropped.
struct PageCopy<'a> {
    backup: *mut ffi::sqlite3_backup,
    dest: &'a Sqlite,
}

impl<'a> PageCopy<'a> {
    fn new(dest: &'a Sqlite, source: &'a Sqlite) -> Result<Self, BackupError> {
        // SAFETY: both handles are open, distinct, and borrowed for the copy's life, so
        // neither is closed while the backup object exists.
        let backup = unsafe {
            ffi::sqlite3_backup_init(dest.db, c"main".as_ptr(), source.db, c"main".as_ptr())
        };
        if backup.is_null() {
            // init reports its failure on the destination handle.
            return Err(dest.failure(ffi::SQLITE_ERROR));
        }
        Ok(PageCopy { backup, dest })
    }

    /// Copies every page, a chunk at a time, trying a busy or locked step again after a
    /// short pause; answers the pages copied and the steps that copied them.
    fn run(self) -> Result<(u64, u64), BackupError> {
        let mut busy = 0;
        let mut steps = 0;
        loop {
            // SAFETY: `backup` is live until `finish` (in `drop`, after this loop).
            let rc = unsafe { ffi::sqlite3_backup_step(self.backup, STEP_PAGES) };
            match rc & 0xff {
                ffi::SQLITE_OK => {
                    busy = 0;
                    steps += 1;
                }
                ffi::SQLITE_DONE => {
                    steps += 1;
                    break;
                }
                ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => {
                    busy += 1;
                    if busy > BUSY_RETRIES {
                        return Err(BackupError::Busy);
                    }
                    std::thread::sleep(BUSY_PAUSE);
                }
                _ => return Err(self.finish_failed()),
            }
        }
        // SAFETY: as above; the count of the source's pages, read before finishing.
        let pages = unsafe { ffi::sqlite3_backup_pagecount(self.backup) };
        self.finish()?;
        Ok((u64::try_from(pages).unwrap_or(0), steps))
    }

    /// Ends the copy, answering what `finish` reports.
    fn finish(self) -> Result<(), BackupError> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the only call to `finish` for this backup: `drop` does not run for `this`.
        let rc = unsafe { ffi::sqlite3_backup_finish(this.backup) };
        if rc != ffi::SQLITE_OK {
            return Err(this.dest.failure(rc));
        }
        Ok(())
    }

    /// The error of a failed step: `finish` leaves it on the destination handle, in
    /// SQLite's words and the system's (a full disk: "No space left on device").
    fn finish_failed(self) -> BackupError {
        match self.finish() {
            Err(e) => e,
            Ok(()) => BackupError::Sqlite("a step failed, and finishing did not say why".into()),
        }
    }
}

impl Drop for PageCopy<'_> {
    fn drop(&mut self) {
        // SAFETY: reached only when `finish` was not called (it skips this drop), so the
        // backup object is finished exactly once.
        unsafe { ffi::sqlite3_backup_finish(self.backup) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::sync::Arc;

    fn open(path: &Path) -> diesel::SqliteConnection {
        let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
            .unwrap();
        conn
    }

    /// A database of many steps' worth of pages, written to on another connection all
    /// through the copy, each transaction one row in `a` and one in `b`: a copy taken from
    /// one snapshot has as many of each, and the copy finishes while the writes go on.
    #[test]
    fn a_copy_in_many_steps_is_one_snapshot_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let mut conn = open(&live);
        conn.batch_execute(
            "CREATE TABLE pad (x BLOB); CREATE TABLE a (n INTEGER); CREATE TABLE b (n INTEGER);
             WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 2000)
             INSERT INTO pad SELECT randomblob(3000) FROM r;",
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicI64::new(0));
        let writer = {
            let (stop, commits) = (stop.clone(), commits.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    conn.batch_execute(
                        "BEGIN IMMEDIATE; INSERT INTO a VALUES (1);
                         UPDATE pad SET x = randomblob(3000) WHERE rowid = abs(random()) % 2000;
                         INSERT INTO b VALUES (1); COMMIT;",
                    )
                    .unwrap();
                    commits.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        while commits.load(Ordering::SeqCst) < 10 {
            std::thread::yield_now();
        }

        // Until one copy ran while the writer committed (almost always the first; a busy
        // machine may let one begin and end between two commits).
        let copy = dir.path().join("copy.db");
        let mut attempts = 0;
        let (report, before, during) = loop {
            attempts += 1;
            let before = commits.load(Ordering::SeqCst);
            let report = backup_sqlite(&live, &copy, true, &[], 5000).unwrap();
            let during = commits.load(Ordering::SeqCst) - before;
            if during > 0 || attempts == 20 {
                break (report, before, during);
            }
        };
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        assert!(
            report.pages > 4 * STEP_PAGES as u64,
            "{} pages",
            report.pages
        );
        assert!(during > 0, "no commit while any of {attempts} copies ran");
        // One pass: a copy whose snapshot changed under it would have started over.
        assert_eq!(
            report.steps,
            report.pages.div_ceil(STEP_PAGES as u64),
            "{} pages",
            report.pages
        );
        assert_eq!(report.integrity_check, "ok");
        assert_eq!(
            report.tables["a"], report.tables["b"],
            "{:?}",
            report.tables
        );
        assert!(report.tables["a"] >= before, "{:?}", report.tables);
        assert_eq!(report.tables["pad"], 2000);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("copy") || n.starts_with(".copy"))
            .collect();
        assert_eq!(names, vec!["copy.db"]);
    }
}
