//! A file written beside its target and renamed into place: readers see the
//! old file or the whole new one, never a part.
//!
//! [`AtomicFile::new`] creates a hidden temporary file in the target's
//! directory (`.NAME.vinyasa-XXXXXX.tmp`, so a rename never crosses file
//! systems); the caller writes to [`AtomicFile::file`]; [`commit`] syncs it
//! and renames it onto the target, either refusing a target that exists by
//! then ([`Overwrite::Refuse`], checked by the rename itself, so a file that
//! appeared meanwhile is not clobbered) or replacing it
//! ([`Overwrite::Replace`], keeping the replaced file's permissions).
//! Dropping an `AtomicFile` without committing it removes the temporary
//! file. A process killed outright (`kill -9`, a power cut) leaves its
//! temporary file: [`remove_leftovers`] removes a target's once they are an
//! hour old (call it before writing a file people name and write again),
//! and [`is_temporary`] lets a directory's owner (a cache, whose thousands
//! of files are not worth a scan per write) find them for its own clean-up.
//!
//! This module knows files only: it imports nothing from the rest of the
//! crate, and reports plain [`io::Error`]s for its callers to put in their
//! own terms.
//!
//! [`commit`]: AtomicFile::commit

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What [`AtomicFile::commit`] does when the target exists at the rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Leave it and fail with [`io::ErrorKind::AlreadyExists`]; the
    /// temporary file is removed.
    Refuse,
    /// Replace it; the new file takes its permissions.
    Replace,
}

/// Whether [`AtomicFile::commit`] waits for the data to reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Sync the file before the rename and its directory after: once
    /// `commit` returns, a power cut leaves the old file or the whole new
    /// one. For what a user asked to be written.
    Synced,
    /// Rename without syncing: a crash soon after may leave an empty or
    /// short file under the target's name. For what can be made again and
    /// is checked when read (a cache), where a sync per file would cost
    /// more than the file.
    Unsynced,
}

/// A temporary file beside its target, renamed onto it by
/// [`commit`](AtomicFile::commit) and removed if dropped uncommitted.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// A temporary file this old belongs to no running write (see
/// [`remove_leftovers`]).
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// What the name of every temporary file starts with after the dot and the
/// target's name.
const MARK: &str = ".vinyasa-";
/// Random characters in a temporary file's name.
const RANDOM_CHARS: usize = 6;
/// What the name of every temporary file ends with.
const SUFFIX: &str = ".tmp";

/// Whether `name` (a file name, no directory) is the name of an
/// [`AtomicFile`]'s temporary file, for whatever target.
pub fn is_temporary(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    match rest.rfind(MARK) {
        Some(at) => at > 0 && is_random_tail(&rest[at + MARK.len()..]),
        None => false,
    }
}

/// Whether `rest` is what follows the mark: the random characters and the
/// suffix.
fn is_random_tail(rest: &str) -> bool {
    rest.len() == RANDOM_CHARS + SUFFIX.len() && rest.ends_with(SUFFIX)
}

/// The directory `target` is in (`.` for a bare file name).
fn dir_of(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Creates the temporary file for `target` in `target`'s directory.
    ///
    /// Nothing is checked about the target itself (that is the commit's
    /// job); a `target` with no file name (`/`, `..`) is refused with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn new(target: &Path) -> io::Result<AtomicFile> {
        let Some(name) = target.file_name() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path names no file",
            ));
        };
        let prefix = temporary_prefix(name);
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(SUFFIX)
            .rand_bytes(RANDOM_CHARS);
        // tempfile's default 0600 would survive the rename; a written file
        // should get the mode any new file gets (0666 less the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(dir_of(target))?;
        Ok(AtomicFile {
            tmp,
            target: target.into(),
        })
    }

    /// The temporary file, open for reading and writing, positioned where
    /// the last write left it.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The target this will be renamed to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the file (as `durability` says) and renames it onto the
    /// target. With [`Overwrite::Refuse`] an existing target fails the
    /// rename with [`io::ErrorKind::AlreadyExists`]. On any error the
    /// temporary file is removed and the target left as it was.
    pub fn commit(self, overwrite: Overwrite, durability: Durability) -> io::Result<()> {
        let AtomicFile { tmp, target } = self;
        if overwrite == Overwrite::Replace
            && let Ok(meta) = std::fs::metadata(&target)
        {
            tmp.as_file().set_permissions(meta.permissions())?;
        }
        if durability == Durability::Synced {
            tmp.as_file().sync_all()?;
        }
        let persisted = match overwrite {
            Overwrite::Replace => tmp.persist(&target),
            Overwrite::Refuse => tmp.persist_noclobber(&target),
        };
        // On failure the PersistError still owns the temporary file; it is
        // dropped with it, which removes it.
        persisted.map_err(|e| e.error)?;
        if durability == Durability::Synced {
            sync_dir(dir_of(&target));
        }
        Ok(())
    }
}

/// What the names of `target`'s temporary files start with.
/// A long name is cut to its first [`TEMPORARY_NAME_BYTES`] bytes, so the
/// temporary name fits wherever the target's does (255 bytes on most file
/// systems).
fn temporary_prefix(name: &OsStr) -> String {
    let name = name.to_string_lossy();
    let mut end = name.len().min(TEMPORARY_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let name = &name[..end];
    format!(".{name}{MARK}")
}

/// The most of a target's name its temporary name keeps: 255 bytes less
/// what the temporary name adds (`.`, the mark, 6 random characters and
/// the suffix).
const TEMPORARY_NAME_BYTES: usize = 255 - 1 - MARK.len() - 6 - SUFFIX.len();

/// Removes the temporary files that writes to `target` left beside it when
/// they were killed (a kill -9 gives no chance to clean up) once they are
/// an hour old: a session of hours is written in seconds, so such a file
/// belongs to no running write. Best effort: whatever cannot be read or
/// removed is left.
pub fn remove_leftovers(target: &Path) {
    let Some(name) = target.file_name() else {
        return;
    };
    let prefix = temporary_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir_of(target)) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= STALE_AFTER);
        if is_random_tail(rest) && stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename in `dir` durable. Best effort: the file is complete and
/// in place whether or not the directory can be synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Names in `dir`, sorted, hidden ones included.
    pub(crate) fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn write(path: &Path, bytes: &[u8], overwrite: Overwrite) -> io::Result<()> {
        let mut file = AtomicFile::new(path)?;
        file.file().write_all(bytes)?;
        file.commit(overwrite, Durability::Synced)
    }

    #[test]
    fn a_name_as_long_as_the_file_system_allows_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        for len in [244, 255] {
            let name = format!("{}.wav", "a".repeat(len - 4));
            let target = dir.path().join(&name);
            write(&target, b"long", Overwrite::Refuse).unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), b"long");
        }
        let name = format!("{}.wav", "é".repeat(120));
        write(&dir.path().join(&name), b"wide", Overwrite::Refuse).unwrap();
    }

    #[test]
    fn writes_a_new_file_either_way() {
        let dir = tempfile::tempdir().unwrap();
        for (name, overwrite) in [("a", Overwrite::Refuse), ("b", Overwrite::Replace)] {
            write(&dir.path().join(name), b"hello", overwrite).unwrap();
            assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), b"hello");
        }
        let mut file = AtomicFile::new(&dir.path().join("c")).unwrap();
        file.file().write_all(b"quick").unwrap();
        file.commit(Overwrite::Refuse, Durability::Unsynced)
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"quick");
        assert_eq!(names(dir.path()), ["a", "b", "c"]);
    }

    #[test]
    fn refuse_leaves_an_existing_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let mut file = AtomicFile::new(&path).unwrap();
        file.file().write_all(b"new").unwrap();
        // Another process creates the target while this one writes.
        std::fs::write(&path, b"theirs").unwrap();
        let err = file
            .commit(Overwrite::Refuse, Durability::Synced)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), ["a"]);
    }

    #[test]
    fn replace_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"old").unwrap();
        write(&path, b"new", Overwrite::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["a"]);
    }

    #[cfg(unix)]
    #[test]
    fn replace_keeps_the_mode_of_the_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"new", Overwrite::Replace).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn new_files_get_the_usual_mode_not_0600() {
        use std::os::unix::fs::PermissionsExt;
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        write(&path, b"x", Overwrite::Refuse).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    }

    #[test]
    fn the_temporary_file_is_hidden_beside_the_target_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let file = AtomicFile::new(&path).unwrap();
        assert_eq!(file.target(), path);
        let listed = names(dir.path());
        assert_eq!(listed.len(), 1);
        assert!(
            listed[0].starts_with(".a.wav.vinyasa-") && listed[0].ends_with(".tmp"),
            "{listed:?}"
        );
        assert!(is_temporary(OsStr::new(&listed[0])));
        drop(file);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn temporary_names_are_recognised() {
        for name in [
            ".a.wav.vinyasa-AbC123.tmp",
            ".x.vinyasa-.vinyasa-123456.tmp",
        ] {
            assert!(is_temporary(OsStr::new(name)), "{name}");
        }
        for name in [
            "a.wav",
            ".a.wav.vinyasa-notes.txt",
            ".a.wav.vinyasa-AbC1234.tmp",
            "a.wav.vinyasa-AbC123.tmp",
            "..vinyasa-AbC123.tmp",
            ".tmpAbC123",
        ] {
            assert!(!is_temporary(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn a_killed_writes_old_temporary_file_is_removed_as_a_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, age_s: u64| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            let old = SystemTime::now() - Duration::from_secs(age_s);
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        at(".a.wav.vinyasa-AbC123.tmp", 7200); // a killed write's
        at(".a.wav.vinyasa-XyZ789.tmp", 60); // one running now
        at(".b.wav.vinyasa-AbC123.tmp", 7200); // another target's
        at(".a.wav.vinyasa-notes.txt", 7200); // not one of ours
        let target = dir.path().join("a.wav");
        // Creating a file leaves them all: that is remove_leftovers' job.
        drop(AtomicFile::new(&target).unwrap());
        assert_eq!(names(dir.path()).len(), 4);
        remove_leftovers(&target);
        assert_eq!(
            names(dir.path()),
            [
                ".a.wav.vinyasa-XyZ789.tmp",
                ".a.wav.vinyasa-notes.txt",
                ".b.wav.vinyasa-AbC123.tmp",
            ]
        );
    }

    #[test]
    fn a_path_with_no_file_name_is_refused() {
        let err = AtomicFile::new(Path::new("..")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_directory_fails_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicFile::new(&dir.path().join("nope").join("a")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
