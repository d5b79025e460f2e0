//! Files a session is written to: its audio ([`audio`], in a [`encode::Format`]
//! whose encoder is one module, [`wav`] the first) and its captions
//! ([`captions`]), and the rule every one of them is written by.
//!
//! The rule: a file is written to a hidden temporary file beside its target
//! (`.NAME.vinyasa-XXXXXX.tmp`, see [`crate::atomic`]), synced, and renamed
//! into place only when it is complete, so an error or Ctrl-C never leaves a
//! partial file under the target's name. An existing target is refused
//! unless `force` is given, both before any work is done and again,
//! atomically, at the rename, so a file that appears in between is not
//! clobbered either. Whatever goes wrong, the temporary file is removed and
//! an existing target is left as it was; a process killed outright
//! (`kill -9`, a power cut) leaves its temporary file, which the next write
//! to the same target removes once it is an hour old.

pub mod audio;
pub mod captions;
pub mod encode;
pub mod flac;
pub mod headroom;
#[cfg(feature = "mp3")]
pub mod mp3;
#[cfg(feature = "opus")]
pub mod opus;
pub mod vorbis;
pub mod wav;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic::{AtomicFile, Durability, Overwrite};
use crate::render::RenderError;
use encode::Unsupported;

/// Full scale to 16 bits, rounded to nearest (ties to even), overs clamped,
/// NaN to 0. No dither: silence stays digital zero. The one conversion of
/// both export and live playback, so the two give the same 16-bit samples.
///
/// Written to vectorize: adding 1.5 × 2²³ leaves the rounded integer in
/// the low bits of the float (whose unit there is 1), read back with an
/// integer subtraction. (`f32::round` is a libm call on baseline x86-64 and
/// the saturating `as` casts are scalar; either made the conversion several
/// times slower than this.)
#[inline(always)]
pub fn to_i16(x: f32) -> i16 {
    const MAGIC: f32 = 12_582_912.0;
    let y = x * 32767.0;
    let y = if y.is_nan() { 0.0 } else { y };
    let y = y.clamp(-32768.0, 32767.0);
    ((y + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32) as i16
}

/// Why an output file was not written.
///
/// Messages name the file and, where there is one, the fix; the underlying
/// I/O error is the [`source`](std::error::Error::source), so print the chain
/// (`{:#}` with anyhow) to show it.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target exists and `force` was not given: an existing file is
    /// replaced only when the caller asks.
    #[error("{} already exists", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
    /// The target is a directory.
    #[error("{} is a directory; give a file name to write to", path.display())]
    IsDirectory {
        /// The target.
        path: PathBuf,
    },
    /// The temporary file beside the target could not be created.
    #[error("cannot create a temporary file in {} to write {}", dir.display(), path.display())]
    Create {
        /// The directory the target is in.
        dir: PathBuf,
        /// The target.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Writing, syncing or renaming into place failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The target.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The renderer failed; nothing was written.
    #[error("cannot render the audio for {}; nothing was written", path.display())]
    Render {
        /// The target.
        path: PathBuf,
        /// Why the renderer failed.
        #[source]
        source: RenderError,
    },
    /// Cancelled (Ctrl-C); nothing was written.
    #[error("cancelled; {} was not written", path.display())]
    Cancelled {
        /// The target.
        path: PathBuf,
    },
    /// A channel count the writer does not support.
    #[error(
        "cannot write {} with {channels} channels: use 1 (mono) or 2 (stereo)",
        path.display()
    )]
    Channels {
        /// The target.
        path: PathBuf,
        /// The count asked for.
        channels: u16,
    },
    /// A sample rate the format does not support.
    #[error("cannot write {} at {rate} Hz: use {hint}", path.display())]
    Rate {
        /// The target.
        path: PathBuf,
        /// The rate of the samples.
        rate: u32,
        /// The rates the format takes, as a user would ask for them.
        hint: &'static str,
    },
    /// A format this build cannot write.
    #[error("cannot write {}: {format} files cannot be written by this build: {reason}", path.display())]
    NotInThisBuild {
        /// The target.
        path: PathBuf,
        /// Its format.
        format: encode::Format,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// The audio does not fit the WAV format's 4 GiB limit.
    #[error(
        "cannot write {}: {frames} frames at {channels} channel(s) are {bytes} bytes, over the \
         WAV format's 4 GiB limit; use a lower rate, mono, or a shorter routine",
        path.display()
    )]
    TooLong {
        /// The target.
        path: PathBuf,
        /// Length of the session in frames.
        frames: u64,
        /// Channels asked for.
        channels: u16,
        /// Size the file would have.
        bytes: u64,
    },
}

impl OutputError {
    /// What a format's refusal of a stream means for the file at `path`.
    pub fn unsupported(path: &Path, e: Unsupported) -> Self {
        let path = path.into();
        match e {
            Unsupported::Channels { channels } => OutputError::Channels { path, channels },
            Unsupported::Rate { rate, hint } => OutputError::Rate { path, rate, hint },
            Unsupported::NotInThisBuild { format, reason } => OutputError::NotInThisBuild {
                path,
                format,
                reason,
            },
            Unsupported::TooLong {
                frames,
                channels,
                bytes,
            } => OutputError::TooLong {
                path,
                frames,
                channels,
                bytes,
            },
        }
    }

    /// What a render error means for the file at `path`: a cancel when
    /// rendering was interrupted (Ctrl-C), else the render error itself.
    pub fn from_render(path: &Path, e: RenderError) -> Self {
        match e {
            RenderError::Cancelled => OutputError::Cancelled { path: path.into() },
            source => OutputError::Render {
                path: path.into(),
                source,
            },
        }
    }
}

/// Fails if `path` cannot be written under the overwrite rule: it exists and
/// `force` is false, or it is a directory.
pub fn check_target(path: &Path, force: bool) -> Result<(), OutputError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(OutputError::IsDirectory { path: path.into() }),
        Ok(_) if !force => Err(OutputError::Exists { path: path.into() }),
        // Not there (or not statable: the rename will tell).
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` under the module's rule (temporary file, sync,
/// rename; no overwrite without `force`).
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<(), OutputError> {
    let mut staged = Staged::new(path, force)?;
    io::Write::write_all(staged.file(), bytes).map_err(|e| staged.error(e))?;
    staged.commit()
}

/// A file being written under the module's rule: an [`AtomicFile`] with
/// the overwrite choice and the errors in this module's terms.
///
/// Dropping it without [`commit`](Staged::commit) removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    file: AtomicFile,
    force: bool,
}

impl Staged {
    /// Checks the target ([`check_target`]) and creates the temporary file
    /// beside it.
    pub fn new(target: &Path, force: bool) -> Result<Staged, OutputError> {
        check_target(target, force)?;
        if target.file_name().is_none() {
            // `..` or `/`: a directory, whatever `metadata` said.
            return Err(OutputError::IsDirectory {
                path: target.into(),
            });
        }
        crate::atomic::remove_leftovers(target);
        let file = AtomicFile::new(target).map_err(|source| OutputError::Create {
            dir: target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .into(),
            path: target.into(),
            source,
        })?;
        Ok(Staged { file, force })
    }

    /// The temporary file, open for writing.
    pub fn file(&mut self) -> &mut File {
        self.file.file()
    }

    /// The target this will be renamed to.
    pub fn target(&self) -> &Path {
        self.file.target()
    }

    /// An I/O error while writing, attributed to the target.
    pub fn error(&self, source: io::Error) -> OutputError {
        OutputError::Write {
            path: self.target().into(),
            source,
        }
    }

    /// Syncs the file and renames it onto the target; without `force`, the
    /// rename itself refuses an existing target.
    pub fn commit(self) -> Result<(), OutputError> {
        let target = self.target().to_path_buf();
        let overwrite = if self.force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        };
        match self.file.commit(overwrite, Durability::Synced) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(OutputError::Exists { path: target })
            }
            Err(source) => Err(OutputError::Write {
                path: target,
                source,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::atomic::tests::names;

    #[test]
    fn writes_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_file(&path, b"hello", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(names(dir.path()), ["a.txt"]);
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
        let path = dir.path().join("a.txt");
        write_file(&path, b"x", false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    }

    #[cfg(unix)]
    #[test]
    fn force_keeps_the_mode_of_the_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&path, b"new", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn refuses_an_existing_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"old").unwrap();
        let err = write_file(&path, b"new", false).unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }));
        assert_eq!(
            err.to_string(),
            format!("{} already exists", path.display())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn force_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"old").unwrap();
        write_file(&path, b"new", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_file_appearing_while_writing_is_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        let mut staged = Staged::new(&path, false).unwrap();
        io::Write::write_all(staged.file(), b"new").unwrap();
        // Another process creates the target after the first check.
        std::fs::write(&path, b"theirs").unwrap();
        let err = staged.commit().unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_killed_writes_old_temporary_file_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, age_s: u64| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        at(".a.wav.vinyasa-AbC123.tmp", 7200); // a killed export's
        at(".a.wav.vinyasa-XyZ789.tmp", 60); // one running now
        at(".b.wav.vinyasa-AbC123.tmp", 7200); // another target's
        at(".a.wav.vinyasa-notes.txt", 7200); // not one of ours
        write_file(&dir.path().join("a.wav"), b"new", false).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                ".a.wav.vinyasa-XyZ789.tmp",
                ".a.wav.vinyasa-notes.txt",
                ".b.wav.vinyasa-AbC123.tmp",
                "a.wav"
            ]
        );
    }

    #[test]
    fn temporary_file_is_hidden_beside_the_target_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let staged = Staged::new(&path, false).unwrap();
        let listed = names(dir.path());
        assert_eq!(listed.len(), 1);
        assert!(
            listed[0].starts_with(".a.wav.vinyasa-") && listed[0].ends_with(".tmp"),
            "{listed:?}"
        );
        drop(staged);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_directory_is_refused_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_file(dir.path(), b"x", true).unwrap_err();
        assert!(matches!(err, OutputError::IsDirectory { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_directory_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("a.txt");
        let err = write_file(&path, b"x", false).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn conversion_rounds_and_clamps() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(-0.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32767);
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-2.0), -32768);
        // 16383.5 exactly: a tie, to the even neighbour.
        assert_eq!(to_i16(0.5), 16384);
        assert_eq!(to_i16(-0.5), -16384);
        assert_eq!(to_i16(0.49 / 32767.0), 0);
        assert_eq!(to_i16(0.51 / 32767.0), 1);
        assert_eq!(to_i16(-0.51 / 32767.0), -1);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(f32::INFINITY), 32767);
        assert_eq!(to_i16(f32::NEG_INFINITY), -32768);
        // Ties go to even: 2.5 → 2, 3.5 → 4.
        assert_eq!(to_i16(2.5 / 32767.0), 2);
        assert_eq!(to_i16(3.5 / 32767.0), 4);
        // Every step of a slow ramp is rounded to its nearest integer.
        for i in -40_000..40_000 {
            let x = i as f32 / 40_000.0;
            let exact = f64::from(x * 32767.0);
            let got = f64::from(to_i16(x));
            assert!((got - exact).abs() <= 0.5, "{x}: {got} vs {exact}");
        }
    }
}
