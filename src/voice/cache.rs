//! A disk cache of spoken clips, so a second export of a routine synthesises
//! nothing and gives the same bytes.
//!
//! One file per clip, named by the SHA-256 of the voice's identity and the
//! text. A file holds the rate and the exact `f32` samples (so a cached
//! render is bit-identical to a cold one) and a 64-bit checksum of its
//! contents: a truncated or damaged file is a miss and is rewritten. Files are written
//! to a temporary file in the same directory and renamed into place, so two
//! exports running at once never see half a clip. The cache never fails a
//! voice: if it cannot be written, clips are spoken uncached and
//! [`CacheStats::warning`] says why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{Clip, Voice, VoiceError};

/// The environment variable that overrides the platform's cache directory.
pub const CACHE_DIR_ENV: &str = "VINYASA_CACHE_DIR";

/// `$VINYASA_CACHE_DIR` if set and not empty, else the platform's cache
/// directory + `vinyasa/clips` (`~/.cache/vinyasa/clips` on Linux,
/// `~/Library/Caches/vinyasa/clips` on macOS, `%LOCALAPPDATA%\vinyasa\clips`
/// on Windows); `None` if there is neither.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|dir| dir.join("vinyasa").join("clips")),
    }
}

/// The folder of the cache directory that holds prepared clips
/// ([`DiskClipStore`]); the phrase clips are in the cache directory itself.
pub const PREPARED_DIR: &str = "prepared";

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
pub struct CacheUsage {
    /// Spoken phrases, as the voice gave them (`*.clip`).
    pub phrases: FileCount,
    /// Prepared clips: speech at the output rate and level, sounds, mixes
    /// (`prepared/*.prep`).
    pub prepared: FileCount,
    /// Temporary files left by an export that was killed.
    pub leftovers: FileCount,
}

impl CacheUsage {
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

/// The cache's own files in `dir`: a name of 64 hex digits with `ext`, or a
/// temporary file of its atomic writes (tempfile's `.tmp` prefix). Nothing
/// else is counted or removed, whatever `--cache-dir` points at.
fn cache_files(dir: &Path, ext: &str) -> (Vec<Sized>, Vec<Sized>) {
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

/// Marks a cache file as just used, so that [`prune`] keeps it over older
/// ones. (A file that cannot be marked is only pruned sooner.)
fn touch(file: &std::fs::File) {
    let _ = file.set_modified(std::time::SystemTime::now());
}

/// The cache's size limit when none is given: 2 GB, some 50 hours of
/// sessions' prepared clips.
pub const DEFAULT_CACHE_LIMIT: u64 = 2_000_000_000;

/// A leftover temporary file older than this belongs to no running export.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Keeps the cache in `dir` within `limit` bytes: when it holds more, the
/// prepared clips used longest ago are removed until it holds 90% of the
/// limit (room for the next export), then, if that is not enough, the
/// spoken phrases used longest ago (small, and what a prepared clip is made
/// again from); temporary files an export left when it was killed go once
/// they are an hour old. Returns what was removed. A clip
/// another export is reading stays readable (the file goes, not the data it
/// has open); one it looks for later is simply made again.
pub fn prune(dir: &Path, limit: u64) -> std::io::Result<CacheUsage> {
    let (phrases, left1) = cache_files(dir, ".clip");
    let (prepared, left2) = cache_files(&dir.join(PREPARED_DIR), ".prep");
    let mut removed = CacheUsage::default();
    let now = std::time::SystemTime::now();
    let mut kept_leftovers = 0;
    for (path, size, modified) in left1.iter().chain(&left2) {
        if now.duration_since(*modified).unwrap_or_default() < LEFTOVER_AGE {
            kept_leftovers += size;
            continue;
        }
        remove_if_there(path)?;
        removed.leftovers.files += 1;
        removed.leftovers.bytes += size;
    }
    let mut total = count(&phrases).bytes + count(&prepared).bytes + kept_leftovers;
    if total <= limit {
        return Ok(removed);
    }
    let room = limit / 10 * 9;
    let mut files: Vec<(&Sized, bool)> = phrases
        .iter()
        .map(|f| (f, true))
        .chain(prepared.iter().map(|f| (f, false)))
        .collect();
    files.sort_by_key(|&((_, _, modified), phrase)| (phrase, *modified));
    for ((path, size, _), phrase) in files {
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

/// What the cache in `dir` holds; an absent directory holds nothing.
pub fn usage(dir: &Path) -> CacheUsage {
    let (phrases, left1) = cache_files(dir, ".clip");
    let (prepared, left2) = cache_files(&dir.join(PREPARED_DIR), ".prep");
    CacheUsage {
        phrases: count(&phrases),
        prepared: count(&prepared),
        leftovers: FileCount {
            files: (left1.len() + left2.len()) as u64,
            bytes: count(&left1).bytes + count(&left2).bytes,
        },
    }
}

/// Removes the cache's files from `dir` (only those: see [`usage`]) and
/// the `prepared` folder if that leaves it empty; returns what was
/// removed. Safe while no export runs: one that does simply makes its
/// clips again.
pub fn clear(dir: &Path) -> std::io::Result<CacheUsage> {
    let prepared_dir = dir.join(PREPARED_DIR);
    let (phrases, left1) = cache_files(dir, ".clip");
    let (prepared, left2) = cache_files(&prepared_dir, ".prep");
    let mut removed = CacheUsage::default();
    for (files, into) in [
        (&phrases, &mut removed.phrases),
        (&prepared, &mut removed.prepared),
    ] {
        for (path, size, _) in files {
            std::fs::remove_file(path)?;
            into.files += 1;
            into.bytes += size;
        }
    }
    for (path, size, _) in left1.iter().chain(&left2) {
        std::fs::remove_file(path)?;
        removed.leftovers.files += 1;
        removed.leftovers.bytes += size;
    }
    // Only if empty: a folder holding anything else is left alone.
    let _ = std::fs::remove_dir(&prepared_dir);
    Ok(removed)
}

/// What the cache did, for the export summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Clips read from disk.
    pub hits: u64,
    /// Clips synthesised (absent, unreadable or damaged on disk).
    pub misses: u64,
    /// The first reason a clip could not be stored, if any: the cache
    /// directory is unwritable, the disk is full…
    pub warning: Option<String>,
}

/// A voice whose clips are kept on disk in `dir`.
pub struct CachedVoice<V: Voice> {
    inner: V,
    dir: PathBuf,
    identity: String,
    hits: AtomicU64,
    misses: AtomicU64,
    warning: OnceLock<String>,
}

/// File layout, little-endian: magic, format version, rate (u32), sample
/// count (u64), samples (f32 bits), [`checksum64`] of all that (u64).
/// (Format 1 ended in a SHA-256, a tenth of a cold export; its files are
/// misses and are rewritten.)
const MAGIC: &[u8; 8] = b"VINYCLIP";
const FORMAT: u32 = 2;
const HEADER: usize = 8 + 4 + 4 + 8;
const CHECKSUM: usize = 8;

impl<V: Voice> CachedVoice<V> {
    /// `inner`, with its clips kept in `dir` (created when first written).
    pub fn new(inner: V, dir: impl Into<PathBuf>) -> Self {
        let identity = inner.identity();
        CachedVoice {
            inner,
            dir: dir.into(),
            identity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            warning: OnceLock::new(),
        }
    }

    /// The directory clips are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The voice behind the cache.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// Hits, misses and the first storage problem so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            warning: self.warning.get().cloned(),
        }
    }

    /// The file that holds the clip of `text`.
    pub fn path_for(&self, text: &str) -> PathBuf {
        let mut key = Vec::with_capacity(self.identity.len() + 1 + text.len());
        key.extend_from_slice(self.identity.as_bytes());
        key.push(0);
        key.extend_from_slice(text.as_bytes());
        self.dir.join(format!("{}.clip", sha256_hex(&key)))
    }

    fn store(&self, path: &Path, clip: &Clip) {
        if let Err(reason) = write_atomically(&self.dir, path, &encode(clip)) {
            // Only the first problem is kept: they are usually all the same.
            let _ = self.warning.set(format!(
                "could not store speech in the cache {}: {reason}; speaking without it \
                 (set --cache-dir or {CACHE_DIR_ENV} to a writable directory)",
                self.dir.display()
            ));
        }
    }
}

impl<V: Voice> Voice for CachedVoice<V> {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let path = self.path_for(text);
        // Unreadable, short and damaged files are all misses: the clip is
        // spoken again and the file replaced.
        if let Some(clip) = read_clip(&path) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(clip);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let clip = self.inner.speak(text)?;
        self.store(&path, &clip);
        Ok(clip)
    }

    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        // The header is enough: a damaged body is caught when the clip is
        // spoken (and re-spoken, to the same length: voices are deterministic).
        let path = self.path_for(text);
        if let Some(found) = read_header(&path) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        let clip = self.speak(text)?;
        Ok((clip.rate, clip.samples.len() as u64))
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }
}

/// The clip in the file at `path`, marked used; `None` if it cannot be
/// read or is damaged.
fn read_clip(path: &Path) -> Option<Clip> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let clip = decode(&bytes)?;
    touch(&file);
    Some(clip)
}

/// Rate and sample count from the header of a clip file whose size matches.
fn read_header(path: &Path) -> Option<(u32, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut header = [0u8; HEADER];
    file.read_exact(&mut header).ok()?;
    if &header[..8] != MAGIC || u32::from_le_bytes(header[8..12].try_into().ok()?) != FORMAT {
        return None;
    }
    let rate = u32::from_le_bytes(header[12..16].try_into().ok()?);
    let count = u64::from_le_bytes(header[16..24].try_into().ok()?);
    let expected = (HEADER + CHECKSUM) as u64 + count.checked_mul(4)?;
    let found = (rate > 0 && size == expected).then_some((rate, count));
    if found.is_some() {
        touch(&file);
    }
    found
}

/// Prepared clips (see [`crate::render::ClipStore`]) kept in a directory,
/// written atomically like the phrase cache.
///
/// A warm export reads every prepared clip of the session, so their check
/// must cost next to nothing: like the phrase cache, a 64-bit checksum (a
/// SHA-256 took a fifth of a warm export). It guards against short and
/// damaged files, not against tampering: the keys are SHA-256 names already.
#[derive(Debug)]
pub struct DiskClipStore {
    dir: PathBuf,
}

/// Prepared-clip file layout, little-endian: magic, format version, sample
/// count (u64), samples (f32 bits), [`checksum64`] of the samples (u64; the
/// header is checked by its magic, version and the file's size).
const PREPARED_MAGIC: &[u8; 8] = b"VINYPREP";
const PREPARED_FORMAT: u32 = 2;
const PREPARED_HEADER: usize = 8 + 4 + 8;

impl DiskClipStore {
    /// A store in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskClipStore { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.prep"))
    }
}

impl crate::render::ClipStore for DiskClipStore {
    fn load(&self, key: &str) -> Option<Vec<f32>> {
        read_prepared(&self.path(key))
    }

    fn save(&self, key: &str, samples: &[f32]) {
        // A store that cannot save just makes the clip again next time.
        let _ = write_atomically(&self.dir, &self.path(key), &encode_prepared(samples));
    }

    fn contains(&self, key: &str) -> bool {
        // A file of a possible size: the checksum is read when it is loaded.
        let framing = (PREPARED_HEADER + 8) as u64;
        std::fs::metadata(self.path(key)).is_ok_and(|m| {
            m.is_file() && m.len() >= framing && (m.len() - framing).is_multiple_of(4)
        })
    }
}

fn encode_prepared(samples: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PREPARED_HEADER + 4 * samples.len() + 8);
    bytes.extend_from_slice(PREPARED_MAGIC);
    bytes.extend_from_slice(&PREPARED_FORMAT.to_le_bytes());
    bytes.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    put_samples(&mut bytes, samples);
    let checksum = checksum64(&bytes[PREPARED_HEADER..]);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The samples of the prepared-clip file at `path`, or `None` if it is not
/// a whole, undamaged one. They are read straight into their own buffer: a
/// warm export reads every clip of the session.
fn read_prepared(path: &Path) -> Option<Vec<f32>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut header = [0u8; PREPARED_HEADER];
    file.read_exact(&mut header).ok()?;
    let count = u64::from_le_bytes(header[12..20].try_into().ok()?);
    // The size must be the count's, so a damaged count cannot ask for more
    // memory than the file holds.
    let expected = count
        .checked_mul(4)?
        .checked_add((PREPARED_HEADER + 8) as u64)?;
    if &header[..8] != PREPARED_MAGIC
        || u32::from_le_bytes(header[8..12].try_into().ok()?) != PREPARED_FORMAT
        || size != expected
    {
        return None;
    }
    let mut samples = vec![0.0f32; usize::try_from(count).ok()?];
    file.read_exact(bytemuck::cast_slice_mut(&mut samples))
        .ok()?;
    let mut checksum = [0u8; 8];
    file.read_exact(&mut checksum).ok()?;
    if checksum64(bytemuck::cast_slice(&samples)).to_le_bytes() != checksum {
        return None;
    }
    from_le(&mut samples);
    touch(&file);
    Some(samples)
}

/// Appends `samples` as little-endian `f32` bits: on a little-endian
/// machine, one copy.
fn put_samples(bytes: &mut Vec<u8>, samples: &[f32]) {
    if cfg!(target_endian = "little") {
        bytes.extend_from_slice(bytemuck::cast_slice(samples));
    } else {
        bytes.extend(samples.iter().flat_map(|v| v.to_bits().to_le_bytes()));
    }
}

/// The `f32` samples in little-endian `bytes` (a multiple of 4 long).
fn get_samples(bytes: &[u8]) -> Vec<f32> {
    // A copy, aligned whatever the bytes' address.
    let mut samples = vec![0.0f32; bytes.len() / 4];
    bytemuck::cast_slice_mut::<f32, u8>(&mut samples).copy_from_slice(bytes);
    from_le(&mut samples);
    samples
}

/// Samples whose bytes were copied in as little-endian `f32` bits, made
/// native (nothing to do on a little-endian machine).
fn from_le(samples: &mut [f32]) {
    if cfg!(target_endian = "big") {
        for v in samples {
            *v = f32::from_bits(u32::from_le(v.to_bits()));
        }
    }
}

/// A fast 64-bit checksum: four lanes of multiply-rotate over 8-byte words
/// (in the manner of xxHash64), then the tail, the length and a final mix.
/// Several bytes a cycle; any flipped bit or changed length changes it
/// with near certainty.
fn checksum64(bytes: &[u8]) -> u64 {
    const P1: u64 = 0x9e37_79b1_85eb_ca87;
    const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;
    const P3: u64 = 0x1656_67b1_9e37_79f9;
    let word = |b: &[u8]| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let round = |acc: u64, v: u64| (acc ^ v.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1);
    let mut lanes = [P1, P2, P3, P1 ^ P2];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = round(*lane, word(w));
        }
    }
    let mut h = lanes
        .iter()
        .enumerate()
        .fold(bytes.len() as u64, |h, (i, &l)| {
            round(h, l.rotate_left(7 * i as u32 + 1))
        });
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        h = round(h, word(w));
    }
    for &b in words.remainder() {
        h = round(h, u64::from(b) ^ P3);
    }
    // Final avalanche (xxHash64's).
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// Writes `bytes` to a temporary file in `dir`, then renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it ({e})"))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot create a file in it ({e})"))?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write {} ({e})", file.path().display()))?;
    match file.persist(path) {
        Ok(_) => Ok(()),
        // Another export stored the same clip first (and Windows will not
        // replace a file that is open): the clip is there either way.
        Err(_) if path.is_file() => Ok(()),
        Err(e) => Err(format!(
            "cannot rename into {} ({})",
            path.display(),
            e.error
        )),
    }
}

fn encode(clip: &Clip) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + 4 * clip.samples.len() + CHECKSUM);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&clip.rate.to_le_bytes());
    bytes.extend_from_slice(&(clip.samples.len() as u64).to_le_bytes());
    put_samples(&mut bytes, &clip.samples);
    let checksum = checksum64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The clip in `bytes`, or `None` if they are not a whole, undamaged clip
/// file of this format.
fn decode(bytes: &[u8]) -> Option<Clip> {
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(CHECKSUM)?)?;
    let (header, samples) = body.split_at_checked(HEADER)?;
    if &header[..8] != MAGIC
        || u32::from_le_bytes(header[8..12].try_into().ok()?) != FORMAT
        || checksum64(body).to_le_bytes() != checksum
    {
        return None;
    }
    let rate = u32::from_le_bytes(header[12..16].try_into().ok()?);
    let count = u64::from_le_bytes(header[16..24].try_into().ok()?);
    if rate == 0 || u64::try_from(samples.len()).ok()? != count.checked_mul(4)? {
        return None;
    }
    Some(Clip {
        rate,
        samples: get_samples(samples),
    })
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::{FliteVoice, VoiceSettings};
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier};

    /// A cache file of `bytes` bytes last used `age` ago.
    fn aged(path: &Path, bytes: usize, age: std::time::Duration) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(std::time::SystemTime::now() - age)
            .unwrap();
    }

    #[test]
    fn prune_removes_the_clips_used_longest_ago_prepared_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        let name = |c: char, ext: &str| format!("{}{ext}", c.to_string().repeat(64));
        let prepared = d.join(PREPARED_DIR);
        // Phrases (old), prepared clips of several ages, leftovers, others.
        aged(&d.join(name('a', ".clip")), 100, hours(50));
        aged(&d.join(name('b', ".clip")), 100, hours(40));
        aged(&prepared.join(name('c', ".prep")), 300, hours(30));
        aged(&prepared.join(name('d', ".prep")), 300, hours(1));
        aged(&prepared.join(name('e', ".prep")), 300, hours(20));
        aged(&d.join(".tmpOLD"), 50, hours(3));
        aged(&prepared.join(".tmpNEW"), 50, hours(0));
        aged(&d.join("notes.txt"), 5000, hours(99));

        // Within the limit: only the old leftover goes.
        let removed = prune(d, 2000).unwrap();
        assert_eq!(
            removed.leftovers,
            FileCount {
                files: 1,
                bytes: 50
            }
        );
        assert_eq!(removed.total().files, 1);
        assert!(!d.join(".tmpOLD").exists());

        // 1150 bytes against a limit of 1000: down to 900, the prepared
        // clip used longest ago first (c), the phrases kept though older.
        let removed = prune(d, 1000).unwrap();
        assert_eq!(
            removed.prepared,
            FileCount {
                files: 1,
                bytes: 300
            }
        );
        assert_eq!(removed.phrases, FileCount::default());
        assert!(!prepared.join(name('c', ".prep")).exists());
        assert!(prepared.join(name('d', ".prep")).exists());
        assert!(prepared.join(name('e', ".prep")).exists());
        // Then every prepared clip (e before d), then the phrases, oldest
        // first; a fresh leftover and other people's files stay.
        let removed = prune(d, 500).unwrap();
        assert_eq!(
            removed.prepared,
            FileCount {
                files: 2,
                bytes: 600
            }
        );
        assert_eq!(removed.phrases, FileCount::default());
        let removed = prune(d, 120).unwrap();
        assert_eq!(
            removed.phrases,
            FileCount {
                files: 2,
                bytes: 200
            }
        );
        assert!(prepared.join(".tmpNEW").exists());
        assert!(d.join("notes.txt").exists());
        assert_eq!(prune(&d.join("absent"), 0).unwrap(), CacheUsage::default());
    }

    #[test]
    fn reading_a_clip_marks_it_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskClipStore::new(dir.path());
        use crate::render::ClipStore;
        store.save("k", &[0.25, -0.5]);
        let path = store.path("k");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(store.load("k"), Some(vec![0.25, -0.5]));
        let used = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(used > old + std::time::Duration::from_secs(3600));
    }

    /// A voice whose samples are awkward floats (negative zero, subnormals,
    /// full scale), that counts how often it is asked.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
    }

    impl Voice for Counting {
        fn identity(&self) -> String {
            "counting/1".to_string()
        }

        fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut samples = vec![-0.0, 1e-42, -1.0, 1.0, f32::MIN_POSITIVE, 0.1, -0.3];
            samples.extend(text.bytes().map(|b| f32::from(b) / 255.0 - 0.5));
            Ok(Clip {
                rate: 22_050,
                samples,
            })
        }
    }

    fn bits(clip: &Clip) -> Vec<u32> {
        clip.samples.iter().map(|s| s.to_bits()).collect()
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn a_cached_clip_is_bit_identical_to_a_spoken_one() {
        let dir = tempfile::tempdir().unwrap();
        let cold = CachedVoice::new(Counting::default(), dir.path());
        let spoken = cold.speak("Inhale.").unwrap();
        assert_eq!(
            cold.stats(),
            CacheStats {
                hits: 0,
                misses: 1,
                warning: None
            }
        );

        let warm = CachedVoice::new(Counting::default(), dir.path());
        let read = warm.speak("Inhale.").unwrap();
        assert_eq!(warm.inner().calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            warm.stats(),
            CacheStats {
                hits: 1,
                misses: 0,
                warning: None
            }
        );
        assert_eq!(read.rate, 22_050);
        assert_eq!(bits(&read), bits(&spoken));
        // The file is the clip and no more: header, 4 bytes a sample, checksum.
        let files = files_in(dir.path());
        assert_eq!(files.len(), 1);
        let len = std::fs::metadata(&files[0]).unwrap().len();
        assert_eq!(len, (24 + 4 * spoken.samples.len() + 8) as u64);
    }

    #[test]
    fn flite_clips_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let settings = VoiceSettings::default();
        let cold = CachedVoice::new(FliteVoice::new(&settings, &[]).unwrap(), dir.path());
        let warm = CachedVoice::new(FliteVoice::new(&settings, &[]).unwrap(), dir.path());
        let a = cold.speak("Fold forward, knees soft.").unwrap();
        let b = warm.speak("Fold forward, knees soft.").unwrap();
        assert_eq!((cold.stats().misses, warm.stats().hits), (1, 1));
        assert_eq!(a.rate, b.rate);
        assert_eq!(bits(&a), bits(&b));
    }

    #[test]
    fn keys_separate_texts_and_identities() {
        let dir = tempfile::tempdir().unwrap();
        let voice = CachedVoice::new(Counting::default(), dir.path());
        assert_ne!(voice.path_for("a"), voice.path_for("b"));
        let other = CachedVoice::new(crate::voice::TestVoice::default(), dir.path());
        assert_ne!(voice.path_for("a"), other.path_for("a"));
        // The identity and the text are separated, so they cannot run together.
        assert_eq!(
            voice.path_for("x").file_name().unwrap().to_str().unwrap(),
            format!("{}.clip", sha256_hex(b"counting/1\0x"))
        );
    }

    #[test]
    fn damaged_files_are_misses_and_are_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let voice = CachedVoice::new(Counting::default(), dir.path());
        let good = voice.speak("Exhale.").unwrap();
        let path = voice.path_for("Exhale.");
        let bytes = std::fs::read(&path).unwrap();

        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        let damage: [&[u8]; 5] = [
            &[],
            &bytes[..20],
            &bytes[..bytes.len() - 1],
            &flipped,
            b"VINYCLIP",
        ];
        for (i, damaged) in damage.into_iter().enumerate() {
            std::fs::write(&path, damaged).unwrap();
            let again = voice.speak("Exhale.").unwrap();
            assert_eq!(bits(&again), bits(&good), "damage {i}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes,
                "damage {i}: not rewritten"
            );
        }
        assert_eq!(
            voice.stats(),
            CacheStats {
                hits: 0,
                misses: 6,
                warning: None
            }
        );
        assert_eq!(voice.inner().calls.load(Ordering::SeqCst), 6);
        voice.speak("Exhale.").unwrap();
        assert_eq!(voice.stats().hits, 1);
    }

    #[test]
    fn two_writers_at_once_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let start = Arc::new(Barrier::new(2));
        let clips: Vec<Clip> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let start = Arc::clone(&start);
                    let dir = dir.path();
                    scope.spawn(move || {
                        let voice = CachedVoice::new(
                            FliteVoice::new(&VoiceSettings::default(), &[]).unwrap(),
                            dir,
                        );
                        start.wait();
                        let clip = voice.speak("Reach up, and fold.").unwrap();
                        assert_eq!(voice.stats().warning, None);
                        clip
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(bits(&clips[0]), bits(&clips[1]));
        // One clip file, no temporary files left behind, and it reads back.
        assert_eq!(files_in(dir.path()).len(), 1);
        let bytes = std::fs::read(&files_in(dir.path())[0]).unwrap();
        assert_eq!(bits(&decode(&bytes).unwrap()), bits(&clips[0]));
    }

    #[test]
    fn an_unwritable_cache_still_speaks_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let cache = file.join("clips");
        let voice = CachedVoice::new(Counting::default(), &cache);
        let clip = voice.speak("Rest.").unwrap();
        assert_eq!(
            bits(&clip),
            bits(&Counting::default().speak("Rest.").unwrap())
        );
        voice.speak("Rest.").unwrap();
        let stats = voice.stats();
        assert_eq!((stats.hits, stats.misses), (0, 2));
        let warning = stats.warning.unwrap();
        assert!(
            warning.starts_with(&format!(
                "could not store speech in the cache {}: cannot create it (",
                cache.display()
            )),
            "{warning}"
        );
        assert!(
            warning.ends_with("(set --cache-dir or VINYASA_CACHE_DIR to a writable directory)")
        );
    }

    #[test]
    fn errors_of_the_voice_are_not_cached() {
        struct Mute;
        impl Voice for Mute {
            fn identity(&self) -> String {
                "mute".into()
            }
            fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
                Err(VoiceError::Failed {
                    engine: "mute".into(),
                    text: text.into(),
                    reason: "no".into(),
                })
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let voice = CachedVoice::new(Mute, dir.path());
        assert!(voice.speak("a").is_err());
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn prepared_clips_round_trip_and_damage_is_a_miss() {
        use crate::render::ClipStore;
        let dir = tempfile::tempdir().unwrap();
        let store = DiskClipStore::new(dir.path().join("prepared"));
        assert_eq!(store.load("k"), None);
        let samples: Vec<f32> = [-0.0, 1e-42, -1.0, 1.0, 0.25]
            .into_iter()
            .chain((0..1000).map(|i| (i as f32 * 0.01).sin()))
            .collect();
        store.save("k", &samples);
        let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&store.load("k").unwrap()), bits(&samples));
        // Header, 4 bytes a sample, checksum.
        let path = dir.path().join("prepared").join("k.prep");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 20 + 4 * samples.len() + 8);
        store.save("empty", &[]);
        assert_eq!(store.load("empty"), Some(vec![]));

        for at in [0, 9, 13, 25, 2000, bytes.len() - 1] {
            for bit in [0, 3, 7] {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                std::fs::write(&path, &flipped).unwrap();
                assert_eq!(store.load("k"), None, "byte {at}, bit {bit}");
            }
        }
        for cut in [0, 7, 20, 27, bytes.len() - 8, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert_eq!(store.load("k"), None, "cut at {cut}");
        }
        // A phrase-cache file under the name is not a prepared clip.
        std::fs::write(&path, encode(&Clip { rate: 1, samples })).unwrap();
        assert_eq!(store.load("k"), None);
    }

    #[test]
    fn the_checksum_sees_every_byte_and_the_length() {
        let base: Vec<u8> = (0..100u8).collect();
        let sum = checksum64(&base);
        for at in 0..base.len() {
            let mut changed = base.clone();
            changed[at] ^= 0x10;
            assert_ne!(checksum64(&changed), sum, "byte {at}");
        }
        for len in 0..base.len() {
            assert_ne!(checksum64(&base[..len]), sum, "length {len}");
        }
        let zeros = [0u8; 64];
        assert_ne!(checksum64(&zeros[..32]), checksum64(&zeros[..33]));
        assert_ne!(checksum64(&zeros[..8]), checksum64(&zeros[..16]));
    }

    #[test]
    fn the_stats_reach_through_a_boxed_voice() {
        let dir = tempfile::tempdir().unwrap();
        let voice: Box<dyn Voice> = Box::new(CachedVoice::new(Counting::default(), dir.path()));
        voice.speak("a").unwrap();
        voice.speak("a").unwrap();
        let stats = voice.cache_stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        assert_eq!(Counting::default().cache_stats(), None);
    }
}
