//! Spoken phrases on disk: one file per phrase, named by the SHA-256 of the
//! voice's identity and the text, holding the voice's rate and its exact
//! samples. [`crate::voice::CachedVoice`] keeps its clips here.

use std::path::{Path, PathBuf};

use super::PHRASE_EXT;
use super::file::{
    checksum64, get_samples, open_regular, put_samples, sha256_hex, touch, write_atomically,
};

/// File layout, little-endian: magic, format version, key (u64: the
/// [`checksum64`] of the file's name, so a file copied or renamed over
/// another phrase's is a miss, not the wrong words), rate (u32), sample
/// count (u64), samples (f32 bits), [`checksum64`] of all that (u64).
/// (Format 1 ended in a SHA-256, a tenth of a cold export; format 2 had no
/// key; their files are misses and are rewritten.)
const MAGIC: &[u8; 8] = b"VINYCLIP";
const FORMAT: u32 = 3;
const HEADER: usize = 8 + 4 + 8 + 4 + 8;
const CHECKSUM: usize = 8;

/// The spoken phrases of a cache directory.
#[derive(Debug)]
pub(crate) struct Phrases {
    dir: PathBuf,
}

impl Phrases {
    /// The phrases kept in the cache directory `dir` (created when first
    /// written).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Phrases {
        Phrases { dir: dir.into() }
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds what the voice of `identity` said for `text`.
    /// The identity and the text are separated by a NUL, so they cannot run
    /// together.
    pub(crate) fn path_for(&self, identity: &str, text: &str) -> PathBuf {
        let mut key = Vec::with_capacity(identity.len() + 1 + text.len());
        key.extend_from_slice(identity.as_bytes());
        key.push(0);
        key.extend_from_slice(text.as_bytes());
        self.dir.join(format!("{}{PHRASE_EXT}", sha256_hex(&key)))
    }

    /// Writes the phrase file at `path` (from [`Phrases::path_for`])
    /// atomically; the error says why it could not be, for a warning.
    pub(crate) fn write(&self, path: &Path, rate: u32, samples: &[f32]) -> Result<(), String> {
        let key =
            key_of(path).ok_or_else(|| format!("{} is not a phrase file name", path.display()))?;
        write_atomically(&self.dir, path, &encode(key, rate, samples))
    }

    /// The rate and samples in the phrase file at `path`, marked used; `None`
    /// if it cannot be read or is damaged.
    pub(crate) fn read(path: &Path) -> Option<(u32, Vec<f32>)> {
        use std::io::Read;
        let mut file = open_regular(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let clip = decode(key_of(path)?, &bytes)?;
        touch(&file);
        Some(clip)
    }

    /// Rate and sample count from the header of the phrase file at `path`,
    /// marked used, if its size matches them (the body is checked when it is
    /// read).
    pub(crate) fn read_length(path: &Path) -> Option<(u32, u64)> {
        use std::io::Read;
        let mut file = open_regular(path)?;
        let size = file.metadata().ok()?.len();
        let mut header = [0u8; HEADER];
        file.read_exact(&mut header).ok()?;
        if &header[..8] != MAGIC
            || u32::from_le_bytes(header[8..12].try_into().ok()?) != FORMAT
            || u64::from_le_bytes(header[12..20].try_into().ok()?) != key_of(path)?
        {
            return None;
        }
        let rate = u32::from_le_bytes(header[20..24].try_into().ok()?);
        let count = u64::from_le_bytes(header[24..32].try_into().ok()?);
        let expected = (HEADER + CHECKSUM) as u64 + count.checked_mul(4)?;
        let found = (rate > 0 && size == expected).then_some((rate, count));
        if found.is_some() {
            touch(&file);
        }
        found
    }
}

/// The key a phrase file at `path` must hold: the checksum of its name
/// (itself the SHA-256 of the voice's identity and the text).
fn key_of(path: &Path) -> Option<u64> {
    Some(checksum64(path.file_stem()?.to_str()?.as_bytes()))
}

/// The bytes of a phrase file.
pub(super) fn encode(key: u64, rate: u32, samples: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + 4 * samples.len() + CHECKSUM);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&key.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    put_samples(&mut bytes, samples);
    let checksum = checksum64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The rate and samples in `bytes`, or `None` if they are not a whole,
/// undamaged phrase file of this format.
fn decode(key: u64, bytes: &[u8]) -> Option<(u32, Vec<f32>)> {
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(CHECKSUM)?)?;
    let (header, samples) = body.split_at_checked(HEADER)?;
    if &header[..8] != MAGIC
        || u32::from_le_bytes(header[8..12].try_into().ok()?) != FORMAT
        || u64::from_le_bytes(header[12..20].try_into().ok()?) != key
        || checksum64(body).to_le_bytes() != checksum
    {
        return None;
    }
    let rate = u32::from_le_bytes(header[20..24].try_into().ok()?);
    let count = u64::from_le_bytes(header[24..32].try_into().ok()?);
    if rate == 0 || u64::try_from(samples.len()).ok()? != count.checked_mul(4)? {
        return None;
    }
    Some((rate, get_samples(samples)))
}
