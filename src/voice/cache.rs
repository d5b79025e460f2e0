//! A voice behind the on-disk phrase cache: a second export of a routine
//! synthesises nothing and gives the same bytes.
//!
//! [`CachedVoice`] wraps any [`Voice`]; where and how its clips are kept
//! (one file per phrase, exact samples, checksummed, written atomically) is
//! [`crate::cache`]'s. The cache never fails a voice: if it cannot be
//! written, clips are spoken uncached and [`CacheStats::warning`] says why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cached_batch::{self, ClipLookup};
use super::{Clip, Done, Voice, VoiceError};
use crate::Cancel;
use crate::cache::Phrases;
/// The voices' identities hash their settings the way the cache names files.
pub(crate) use crate::cache::sha256_hex;

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
    phrases: Phrases,
    identity: String,
    hits: AtomicU64,
    misses: AtomicU64,
    warning: OnceLock<String>,
}

impl<V: Voice> CachedVoice<V> {
    /// `inner`, with its clips kept in `dir` (created when first written).
    pub fn new(inner: V, dir: impl Into<PathBuf>) -> Self {
        let identity = inner.identity();
        CachedVoice {
            inner,
            phrases: Phrases::new(dir),
            identity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            warning: OnceLock::new(),
        }
    }

    /// The directory clips are kept in.
    pub fn dir(&self) -> &Path {
        self.phrases.dir()
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
        self.phrases.path_for(&self.identity, text)
    }

    fn store(&self, path: &Path, clip: &Clip) {
        if let Err(reason) = self.phrases.write(path, clip.rate, &clip.samples) {
            // Only the first problem is kept: they are usually all the same.
            let _ = self.warning.set(format!(
                "could not store speech in the cache {}: {reason}; speaking without it \
                 (choose a writable cache directory)",
                self.dir().display(),
            ));
        }
    }
}

impl<V: Voice> Voice for CachedVoice<V> {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn label(&self) -> String {
        self.inner.label()
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let path = self.path_for(text);
        // Unreadable, short and damaged files are all misses: the clip is
        // spoken again and the file replaced.
        if let Some((rate, samples)) = Phrases::read(&path) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Clip { rate, samples });
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
        if let Some(found) = Phrases::read_length(&path) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        let clip = self.speak(text)?;
        Ok((clip.rate, clip.samples.len() as u64))
    }

    fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
        cached_batch::speak_batch(self, texts, cancel, done);
    }

    fn length_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, (u32, u64)>) {
        cached_batch::length_batch(self, texts, cancel, done);
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }

    /// Asks the engine about the texts not stored (not counted as hits or
    /// misses: nothing is spoken or read).
    fn speaks_slowly(&self, texts: &[&str]) -> bool {
        // An engine that is quick anyway needs no look in the store.
        if !self.inner.speaks_slowly(texts) {
            return false;
        }
        let missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|text| Phrases::read_length(&self.path_for(text)).is_none())
            .collect();
        !missing.is_empty() && self.inner.speaks_slowly(&missing)
    }
}

/// What a batch needs of the cache: hits from disk, misses to the engine
/// as one batch.
impl<V: Voice> ClipLookup for CachedVoice<V> {
    fn engine(&self) -> &dyn Voice {
        &self.inner
    }

    fn hit(&self, text: &str) -> Option<Clip> {
        let (rate, samples) = Phrases::read(&self.path_for(text))?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Clip { rate, samples })
    }

    fn hit_length(&self, text: &str) -> Option<(u32, u64)> {
        let found = Phrases::read_length(&self.path_for(text))?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    fn spoken(&self, text: &str, result: &Result<Clip, VoiceError>) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        if let Ok(clip) = result {
            self.store(&self.path_for(text), clip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::{FliteVoice, VoiceSettings};
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier};

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
        assert_eq!(len, (32 + 4 * spoken.samples.len() + 8) as u64);
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
            format!("{}.clip", crate::cache::sha256_hex(b"counting/1\0x"))
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
        let (rate, samples) = Phrases::read(&files_in(dir.path())[0]).unwrap();
        assert_eq!(bits(&Clip { rate, samples }), bits(&clips[0]));
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
        assert!(warning.ends_with("(choose a writable cache directory)"));
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
    fn the_stats_reach_through_a_boxed_voice() {
        let dir = tempfile::tempdir().unwrap();
        let voice: Box<dyn Voice> = Box::new(CachedVoice::new(Counting::default(), dir.path()));
        voice.speak("a").unwrap();
        voice.speak("a").unwrap();
        let stats = voice.cache_stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        assert_eq!(Counting::default().cache_stats(), None);
    }

    /// A voice that speaks whole batches itself, counting them.
    #[derive(Default)]
    struct Batching {
        voice: Counting,
        batches: std::sync::Mutex<Vec<Vec<String>>>,
    }

    impl Voice for Batching {
        fn identity(&self) -> String {
            "batching/1".to_string()
        }

        fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
            self.voice.speak(text)
        }

        fn speak_batch(&self, texts: &[&str], _cancel: &Cancel, done: Done<'_, Clip>) {
            let batch = texts.iter().map(|t| t.to_string()).collect();
            self.batches.lock().unwrap().push(batch);
            for (i, text) in texts.iter().enumerate() {
                done(i, self.voice.speak(text));
            }
        }
    }

    #[test]
    fn a_batch_sends_the_misses_to_the_engine_as_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let cached = CachedVoice::new(Batching::default(), dir.path());
        cached.speak("Exhale.").unwrap();
        let texts = ["Inhale.", "Exhale.", "Hold.", "Inhale."];
        let got = std::sync::Mutex::new(vec![None; texts.len()]);
        cached.speak_batch(&texts, &Cancel::new(), &|i, clip| {
            got.lock().unwrap()[i] = Some(clip.unwrap());
        });
        // "Exhale." was a hit; the two other texts went as one batch, once each.
        let batches = cached.inner().batches.lock().unwrap().clone();
        assert_eq!(
            batches,
            vec![vec!["Inhale.".to_string(), "Hold.".to_string()]]
        );
        for (text, clip) in texts.iter().zip(got.into_inner().unwrap()) {
            let clip = clip.expect("every index is reported");
            assert_eq!(bits(&clip), bits(&cached.inner().speak(text).unwrap()));
        }
        // The second time everything is on disk.
        cached.length_batch(&texts, &Cancel::new(), &|_, length| {
            length.unwrap();
        });
        assert_eq!(cached.inner().batches.lock().unwrap().len(), 1);
        assert_eq!(cached.stats().misses, 1 + 2);
    }
}
