//! Prepared clips on disk: the renderer's finished clips (speech at the
//! output rate and gain, sounds, mixes of overlap groups), each under a key
//! the renderer makes from everything the clip depends on.

use std::path::{Path, PathBuf};

use super::file::{checksum64, from_le, open_regular, put_samples, touch, write_atomically};
use super::{PREPARED_DIR, PREPARED_EXT};

/// Keeps prepared clips between runs, so rendering a routine again skips
/// speaking, resampling, synthesizing, mixing and limiting.
///
/// A key names everything the clip depends on (the renderer's keys are
/// SHA-256 hex); a store gives back exactly the samples saved under it, or
/// nothing.
pub trait PreparedStore: Send + Sync {
    /// The samples saved under `key`, if any.
    fn load(&self, key: &str) -> Option<Vec<f32>>;
    /// Saves `samples` under `key`. A store that cannot save just drops them:
    /// the clip is made again next time.
    fn save(&self, key: &str, samples: &[f32]);
    /// Whether `load(key)` would probably give samples, found cheaply (a
    /// damaged entry may still be a miss when loaded).
    fn contains(&self, key: &str) -> bool {
        self.load(key).is_some()
    }
}

/// The [`PreparedStore`] of a cache directory: one file per clip in its
/// `prepared` folder, written atomically like the phrases.
///
/// A warm export reads every prepared clip of the session, so their check
/// must cost next to nothing: a 64-bit checksum (a SHA-256 took a fifth of
/// a warm export). It guards against short and damaged files, not against
/// tampering: the keys are SHA-256 names already.
#[derive(Debug)]
pub struct PreparedDir {
    dir: PathBuf,
}

/// Prepared-clip file layout, little-endian: magic, format version, key
/// (u64: the [`checksum64`] of the key, so a file under another key's name
/// is a miss), sample count (u64), samples (f32 bits), [`checksum64`] of
/// the samples (u64; the header is checked by its magic, version, key and
/// the file's size). Format 2 had no key; its files are misses.
const MAGIC: &[u8; 8] = b"VINYPREP";
const FORMAT: u32 = 3;
const HEADER: usize = 8 + 4 + 8 + 8;
const CHECKSUM: usize = 8;

impl PreparedDir {
    /// The prepared clips of the cache directory `cache_dir` (their folder
    /// is created when first written).
    pub fn in_cache(cache_dir: &Path) -> PreparedDir {
        PreparedDir {
            dir: cache_dir.join(PREPARED_DIR),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{PREPARED_EXT}"))
    }
}

impl PreparedStore for PreparedDir {
    fn load(&self, key: &str) -> Option<Vec<f32>> {
        read(&self.path(key), key)
    }

    fn save(&self, key: &str, samples: &[f32]) {
        // A store that cannot save just makes the clip again next time.
        let _ = write_atomically(&self.dir, &self.path(key), &encode(key, samples));
    }

    fn contains(&self, key: &str) -> bool {
        // A file of a possible size: the checksum is read when it is loaded.
        let framing = (HEADER + CHECKSUM) as u64;
        std::fs::metadata(self.path(key)).is_ok_and(|m| {
            m.is_file() && m.len() >= framing && (m.len() - framing).is_multiple_of(4)
        })
    }
}

fn encode(key: &str, samples: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + 4 * samples.len() + CHECKSUM);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&checksum64(key.as_bytes()).to_le_bytes());
    bytes.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    put_samples(&mut bytes, samples);
    let checksum = checksum64(&bytes[HEADER..]);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The samples of the prepared-clip file at `path`, marked used, or `None`
/// if it is not a whole, undamaged one. They are read straight into their
/// own buffer: a warm export reads every clip of the session.
fn read(path: &Path, key: &str) -> Option<Vec<f32>> {
    use std::io::Read;
    let mut file = open_regular(path)?;
    let size = file.metadata().ok()?.len();
    let mut header = [0u8; HEADER];
    file.read_exact(&mut header).ok()?;
    let count = u64::from_le_bytes(header[20..28].try_into().ok()?);
    // The size must be the count's, so a damaged count cannot ask for more
    // memory than the file holds.
    let expected = count
        .checked_mul(4)?
        .checked_add((HEADER + CHECKSUM) as u64)?;
    if &header[..8] != MAGIC
        || u32::from_le_bytes(header[8..12].try_into().ok()?) != FORMAT
        || u64::from_le_bytes(header[12..20].try_into().ok()?) != checksum64(key.as_bytes())
        || size != expected
    {
        return None;
    }
    let mut samples = vec![0.0f32; usize::try_from(count).ok()?];
    file.read_exact(bytemuck::cast_slice_mut(&mut samples))
        .ok()?;
    let mut checksum = [0u8; CHECKSUM];
    file.read_exact(&mut checksum).ok()?;
    if checksum64(bytemuck::cast_slice(&samples)).to_le_bytes() != checksum {
        return None;
    }
    from_le(&mut samples);
    touch(&file);
    Some(samples)
}
