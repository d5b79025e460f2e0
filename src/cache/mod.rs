//! The on-disk cache: one directory, owned here, that keeps what is slow to
//! make between runs, so a second export of a routine synthesises nothing
//! and gives the same bytes.
//!
//! This module owns the directory's location ([`default_dir`],
//! [`DIR_ENV`]), its layout and file formats, what it holds ([`usage`]),
//! keeping it within a size ([`prune`], least recently used first) and
//! emptying it ([`clear`]). It sits below the voices and the renderer and
//! knows neither: a voice keeps its spoken phrases here by text and
//! identity, the renderer keeps its prepared clips here under keys it makes
//! (see [`PreparedStore`]).
//!
//! # Layout
//!
//! ```text
//! <dir>/<sha256>.clip             a phrase as the voice spoke it (rate + samples)
//! <dir>/prepared/<sha256>.prep    a prepared clip: speech at the output rate and
//!                                 gain, a sound, or the mix of an overlap group
//! <dir>/.tmp*, <dir>/prepared/.tmp*   a write killed half way (removed after an hour)
//! ```
//!
//! Every file holds exact `f32` samples (a cached render is bit-identical
//! to a cold one) and a 64-bit checksum: a short or damaged file is a miss
//! and is written again. Files are written to a temporary file in the same
//! folder and renamed into place, so two exports running at once never see
//! half a clip. Nothing else in the directory is counted or removed.
//!
//! # Every cache of vinyasa, and who owns it
//!
//! 1. **Spoken phrases on disk** (`*.clip`): what a voice said for a text.
//!    Owner: [`crate::voice::CachedVoice`], files through this module.
//!    Bound: the cache limit ([`prune`], [`DEFAULT_LIMIT`]).
//! 2. **Prepared clips on disk** (`prepared/*.prep`): speech resampled,
//!    faded and set to its gain; sounds; the mixes of overlap groups.
//!    Owner: the renderer, through [`PreparedStore`] ([`PreparedDir`] here).
//!    Bound: the cache limit, shared with the phrases (these go first).
//! 3. **Prepared clips in memory** (`render::clips::PreparedClips`): the
//!    clips near the play position, least recently used dropped first.
//!    Owner: one [`crate::render::Renderer`]. Bound:
//!    [`crate::render::RenderOptions::cache_samples`] (16 MB by default).
//! 4. **Shared sound clips while preparing** (`render::clips::SharedSounds`):
//!    the same breath tone under many phrases, made once across threads.
//!    Owner: one [`crate::render::Renderer::prepare`] call. Bound: 8 MB.
//! 5. **Resamplers** (`sound::resample`): one per pair of rates and thread,
//!    reset before each use. Owner: the thread. Bound: the rate pairs used
//!    (two or three).
//! 6. **The sound bank** ([`crate::sound::palette::SoundBank`]): the
//!    palette's sounds at the output rate. Owner: one renderer. Bound: one
//!    entry per palette sound.
//! 7. **Phrase lengths while planning**: each distinct text measured once.
//!    Owner: one call of [`crate::plan()`]. Bound: the routine's texts.
//! 8. **Rendered blocks ahead of playback** (`play::ahead`). Owner: the
//!    live player. Bound: a few seconds ahead of the play position.

mod file;
mod phrases;
mod prepared;

use std::path::{Path, PathBuf};

pub(crate) use file::sha256_hex;
pub(crate) use phrases::Phrases;
pub use prepared::{PreparedDir, PreparedStore};

/// The environment variable that overrides the platform's cache directory.
pub const DIR_ENV: &str = "VINYASA_CACHE_DIR";

/// `$VINYASA_CACHE_DIR` if set and not empty, else the platform's cache
/// directory + `vinyasa/clips` (`~/.cache/vinyasa/clips` on Linux,
/// `~/Library/Caches/vinyasa/clips` on macOS, `%LOCALAPPDATA%\vinyasa\clips`
/// on Windows); `None` if there is neither.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|dir| dir.join("vinyasa").join("clips")),
    }
}

/// The folder of the cache directory that holds prepared clips; the phrase
/// clips are in the cache directory itself.
const PREPARED_DIR: &str = "prepared";
/// Extension of a spoken phrase's file.
const PHRASE_EXT: &str = ".clip";
/// Extension of a prepared clip's file.
const PREPARED_EXT: &str = ".prep";

/// The cache's size limit when none is given: 2 GB, some 50 hours of
/// sessions' prepared clips.
pub const DEFAULT_LIMIT: u64 = 2_000_000_000;

/// A leftover temporary file older than this belongs to no running export.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Files and bytes of one kind in the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileCount {
    /// Files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What a cache directory holds (see [`usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Spoken phrases, as the voice gave them (`*.clip`).
    pub phrases: FileCount,
    /// Prepared clips: speech at the output rate and gain, sounds, mixes
    /// (`prepared/*.prep`).
    pub prepared: FileCount,
    /// Temporary files left by an export that was killed.
    pub leftovers: FileCount,
}

impl Usage {
    /// Everything together.
    pub fn total(&self) -> FileCount {
        FileCount {
            files: self.phrases.files + self.prepared.files + self.leftovers.files,
            bytes: self.phrases.bytes + self.prepared.bytes + self.leftovers.bytes,
        }
    }
}

/// A file, its size in bytes and when it was last written or used.
type Sized = (PathBuf, u64, std::time::SystemTime);

/// The cache's files in `dir`, by kind.
struct Files {
    phrases: Vec<Sized>,
    prepared: Vec<Sized>,
    leftovers: Vec<Sized>,
}

impl Files {
    fn in_dir(dir: &Path) -> Files {
        let (phrases, mut leftovers) = files_named(dir, PHRASE_EXT);
        let (prepared, more) = files_named(&dir.join(PREPARED_DIR), PREPARED_EXT);
        leftovers.extend(more);
        Files {
            phrases,
            prepared,
            leftovers,
        }
    }
}

/// The cache's own files in `dir`: a name of 64 hex digits with `ext`, or a
/// temporary file of its atomic writes (tempfile's `.tmp` prefix). Nothing
/// else is counted or removed, whatever the directory given.
fn files_named(dir: &Path, ext: &str) -> (Vec<Sized>, Vec<Sized>) {
    let (mut ours, mut leftovers) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (ours, leftovers);
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let hex = |stem: &str| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
        let file = (
            entry.path(),
            meta.len(),
            meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        );
        if name.strip_suffix(ext).is_some_and(hex) {
            ours.push(file);
        } else if name.starts_with(".tmp") {
            leftovers.push(file);
        }
    }
    (ours, leftovers)
}

fn count(files: &[Sized]) -> FileCount {
    FileCount {
        files: files.len() as u64,
        bytes: files.iter().map(|(_, n, _)| n).sum(),
    }
}

/// What the cache in `dir` holds; an absent directory holds nothing.
pub fn usage(dir: &Path) -> Usage {
    let files = Files::in_dir(dir);
    Usage {
        phrases: count(&files.phrases),
        prepared: count(&files.prepared),
        leftovers: count(&files.leftovers),
    }
}

/// Keeps the cache in `dir` within `limit` bytes: when it holds more, the
/// prepared clips used longest ago are removed until it holds 90% of the
/// limit (room for the next export), then, if that is not enough, the
/// spoken phrases used longest ago (small, and what a prepared clip is made
/// again from); temporary files an export left when it was killed go once
/// they are an hour old. Returns what was removed. A clip
/// another export is reading stays readable (the file goes, not the data it
/// has open); one it looks for later is simply made again.
pub fn prune(dir: &Path, limit: u64) -> std::io::Result<Usage> {
    let files = Files::in_dir(dir);
    let mut removed = Usage::default();
    let now = std::time::SystemTime::now();
    let mut kept_leftovers = 0;
    for (path, size, modified) in &files.leftovers {
        if now.duration_since(*modified).unwrap_or_default() < LEFTOVER_AGE {
            kept_leftovers += size;
            continue;
        }
        remove_if_there(path)?;
        removed.leftovers.files += 1;
        removed.leftovers.bytes += size;
    }
    let mut total = count(&files.phrases).bytes + count(&files.prepared).bytes + kept_leftovers;
    if total <= limit {
        return Ok(removed);
    }
    let room = limit / 10 * 9;
    let mut by_age: Vec<(&Sized, bool)> = files
        .phrases
        .iter()
        .map(|f| (f, true))
        .chain(files.prepared.iter().map(|f| (f, false)))
        .collect();
    by_age.sort_by_key(|&((_, _, modified), phrase)| (phrase, *modified));
    for ((path, size, _), phrase) in by_age {
        if total <= room {
            break;
        }
        remove_if_there(path)?;
        total = total.saturating_sub(*size);
        let into = if phrase {
            &mut removed.phrases
        } else {
            &mut removed.prepared
        };
        into.files += 1;
        into.bytes += size;
    }
    Ok(removed)
}

/// Removes `path`; one already gone (another export pruned it) is fine.
fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the cache's files from `dir` (only those: see [`usage`]) and
/// the `prepared` folder if that leaves it empty; returns what was
/// removed. Safe while no export runs: one that does simply makes its
/// clips again.
pub fn clear(dir: &Path) -> std::io::Result<Usage> {
    let files = Files::in_dir(dir);
    let mut removed = Usage::default();
    for (kind, into) in [
        (&files.phrases, &mut removed.phrases),
        (&files.prepared, &mut removed.prepared),
        (&files.leftovers, &mut removed.leftovers),
    ] {
        for (path, size, _) in kind {
            std::fs::remove_file(path)?;
            into.files += 1;
            into.bytes += size;
        }
    }
    // Only if empty: a folder holding anything else is left alone.
    let _ = std::fs::remove_dir(dir.join(PREPARED_DIR));
    Ok(removed)
}

#[cfg(test)]
mod tests;
