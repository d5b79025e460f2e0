//! What every cache file shares: samples as little-endian `f32` bits, the
//! 64-bit checksum, marking a file used, and the atomic write.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`: the cache's file names.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Marks a cache file as just used, so that [`super::prune`] keeps it over
/// older ones. (A file that cannot be marked is only pruned sooner.)
/// The file at `path` opened for reading if it is a regular file: a FIFO
/// put in the cache would block the read forever, a device never end.
pub(super) fn open_regular(path: &Path) -> Option<std::fs::File> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)?;
    std::fs::File::open(path).ok()
}

pub(super) fn touch(file: &std::fs::File) {
    let _ = file.set_modified(std::time::SystemTime::now());
}

/// Appends `samples` as little-endian `f32` bits: on a little-endian
/// machine, one copy.
pub(super) fn put_samples(bytes: &mut Vec<u8>, samples: &[f32]) {
    if cfg!(target_endian = "little") {
        bytes.extend_from_slice(bytemuck::cast_slice(samples));
    } else {
        bytes.extend(samples.iter().flat_map(|v| v.to_bits().to_le_bytes()));
    }
}

/// The `f32` samples in little-endian `bytes` (a multiple of 4 long).
pub(super) fn get_samples(bytes: &[u8]) -> Vec<f32> {
    // A copy, aligned whatever the bytes' address.
    let mut samples = vec![0.0f32; bytes.len() / 4];
    bytemuck::cast_slice_mut::<f32, u8>(&mut samples).copy_from_slice(bytes);
    from_le(&mut samples);
    samples
}

/// Samples whose bytes were copied in as little-endian `f32` bits, made
/// native (nothing to do on a little-endian machine).
pub(super) fn from_le(samples: &mut [f32]) {
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
pub(super) fn checksum64(bytes: &[u8]) -> u64 {
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

/// Writes `bytes` to a temporary file in `dir`, then renames it to `path`;
/// the error says what failed, for a warning.
pub(super) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
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
