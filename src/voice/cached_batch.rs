//! How a clip cache forwards a batch: what it holds is answered from its
//! store, and everything else goes to its engine as ONE batch, so an engine
//! that runs a program and loads a model pays for that once per export, not
//! once per phrase.
//!
//! The cache itself ([`super::CachedVoice`]) offers its store through
//! [`ClipLookup`] and calls [`speak_batch`] and [`length_batch`] from its
//! [`Voice`] methods of the same names.

use std::collections::HashMap;

use super::{Clip, Done, Voice, VoiceError};
use crate::Cancel;

/// What a clip cache must offer to forward a batch.
pub(crate) trait ClipLookup: Sync {
    /// The engine behind the cache.
    fn engine(&self) -> &dyn Voice;

    /// The stored clip of `text`, counted as a hit; `None` if it is not
    /// stored (or is damaged: then it is spoken and stored again).
    fn hit(&self, text: &str) -> Option<Clip>;

    /// The rate and sample count of the stored clip of `text`, counted as a
    /// hit, read without the samples; `None` as for [`ClipLookup::hit`].
    fn hit_length(&self, text: &str) -> Option<(u32, u64)>;

    /// The engine was asked for `text` (a miss): count it, and store the
    /// clip if it spoke.
    fn spoken(&self, text: &str, result: &Result<Clip, VoiceError>);
}

/// [`Voice::speak_batch`] through `cache`: hits from its store, on every
/// core, reported as they are read; then the misses, each distinct text
/// once and in the order given, as one batch of its engine, each stored and
/// reported (to every index that asked for it) as it arrives.
pub(crate) fn speak_batch(
    cache: &impl ClipLookup,
    texts: &[&str],
    cancel: &Cancel,
    done: Done<'_, Clip>,
) {
    forward(cache, texts, cancel, |i| cache.hit(texts[i]), done, Ok);
}

/// [`Voice::length_batch`] through `cache`: as [`speak_batch`], but a hit
/// reads only the stored clip's header.
pub(crate) fn length_batch(
    cache: &impl ClipLookup,
    texts: &[&str],
    cancel: &Cancel,
    done: Done<'_, (u32, u64)>,
) {
    forward(
        cache,
        texts,
        cancel,
        |i| cache.hit_length(texts[i]),
        done,
        |clip| Ok((clip.rate, clip.samples.len() as u64)),
    );
}

/// Answers what `hit` finds, then speaks the rest as one batch of the
/// engine, storing each clip and reporting `report(clip)`.
fn forward<T>(
    cache: &impl ClipLookup,
    texts: &[&str],
    cancel: &Cancel,
    hit: impl Fn(usize) -> Option<T> + Sync,
    done: Done<'_, T>,
    report: impl Fn(Clip) -> Result<T, VoiceError> + Sync,
) {
    let missed = std::sync::Mutex::new(Vec::new());
    super::each_text(texts, cancel, |i| match hit(i) {
        Some(found) => done(i, Ok(found)),
        None => missed.lock().unwrap_or_else(|e| e.into_inner()).push(i),
    });
    let mut missed = missed.into_inner().unwrap_or_else(|e| e.into_inner());
    // The threads found them in any order: back to the caller's.
    missed.sort_unstable();
    // Each distinct text once, to every index that asked for it.
    let mut askers: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    for &i in &missed {
        let askers = askers.entry(texts[i]).or_default();
        if askers.is_empty() {
            distinct.push(texts[i]);
        }
        askers.push(i);
    }
    if distinct.is_empty() || cancel.is_cancelled() {
        return;
    }
    cache.engine().speak_batch(&distinct, cancel, &|k, result| {
        cache.spoken(distinct[k], &result);
        let indices = &askers[distinct[k]];
        let (last, others) = indices.split_last().expect("a missed text has an asker");
        for &i in others {
            done(i, result.clone().and_then(&report));
        }
        done(*last, result.and_then(&report));
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::voice::TestVoice;

    /// An engine that records every batch it is given, failing on "bad".
    #[derive(Default)]
    struct Batching {
        batches: Mutex<Vec<Vec<String>>>,
        singles: AtomicUsize,
    }

    impl Voice for Batching {
        fn identity(&self) -> String {
            "batching".into()
        }

        fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
            self.singles.fetch_add(1, Ordering::SeqCst);
            if text == "bad" {
                return Err(VoiceError::Failed {
                    engine: "batching".into(),
                    text: text.into(),
                    reason: "no".into(),
                });
            }
            TestVoice::default().speak(text)
        }

        fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
            let batch = texts.iter().map(|t| t.to_string()).collect();
            self.batches.lock().unwrap().push(batch);
            // Reported last first: a streaming engine's order is its own.
            for (i, text) in texts.iter().enumerate().rev() {
                if !cancel.is_cancelled() {
                    done(i, self.speak(text));
                }
            }
        }
    }

    /// A cache in memory, counting what it is asked.
    #[derive(Default)]
    struct Memory {
        engine: Batching,
        clips: Mutex<HashMap<String, Clip>>,
        hits: AtomicUsize,
        misses: AtomicUsize,
    }

    impl ClipLookup for Memory {
        fn engine(&self) -> &dyn Voice {
            &self.engine
        }

        fn hit(&self, text: &str) -> Option<Clip> {
            let clip = self.clips.lock().unwrap().get(text).cloned()?;
            self.hits.fetch_add(1, Ordering::SeqCst);
            Some(clip)
        }

        fn hit_length(&self, text: &str) -> Option<(u32, u64)> {
            self.hit(text)
                .map(|clip| (clip.rate, clip.samples.len() as u64))
        }

        fn spoken(&self, text: &str, result: &Result<Clip, VoiceError>) {
            self.misses.fetch_add(1, Ordering::SeqCst);
            if let Ok(clip) = result {
                self.clips.lock().unwrap().insert(text.into(), clip.clone());
            }
        }
    }

    fn reports<T: Clone + Send>(
        run: impl FnOnce(Done<'_, T>),
        n: usize,
    ) -> Vec<Vec<Result<T, String>>> {
        let got = Mutex::new(vec![Vec::new(); n]);
        run(&|i, r| got.lock().unwrap()[i].push(r.map_err(|e| e.to_string())));
        got.into_inner().unwrap()
    }

    #[test]
    fn hits_come_from_the_store_and_misses_go_to_the_engine_as_one_batch() {
        let cache = Memory::default();
        let voice = TestVoice::default();
        cache
            .clips
            .lock()
            .unwrap()
            .insert("Rest.".into(), voice.speak("Rest.").unwrap());
        let texts = ["Inhale.", "Rest.", "Exhale.", "Inhale.", "bad"];
        let got = reports(|done| speak_batch(&cache, &texts, &Cancel::new(), done), 5);
        // One batch of the distinct misses, in the caller's order.
        assert_eq!(
            *cache.engine.batches.lock().unwrap(),
            [["Inhale.", "Exhale.", "bad"]]
        );
        assert_eq!(cache.engine.singles.load(Ordering::SeqCst), 3);
        // Every index once, as speak gives it; "Inhale." to both askers.
        for (text, got) in texts.iter().zip(&got) {
            let expected = match *text {
                "bad" => Err("batching could not speak \"bad\": no".to_string()),
                _ => Ok(voice.speak(text).unwrap()),
            };
            assert_eq!(got, &[expected], "{text}");
        }
        assert_eq!(cache.hits.load(Ordering::SeqCst), 1);
        assert_eq!(cache.misses.load(Ordering::SeqCst), 3);
        // What spoke is stored; the error is not.
        let mut stored: Vec<String> = cache.clips.lock().unwrap().keys().cloned().collect();
        stored.sort();
        assert_eq!(stored, ["Exhale.", "Inhale.", "Rest."]);

        // Warm: lengths from the store, nothing more for the engine but the
        // one text it could not speak.
        let lengths = reports(|done| length_batch(&cache, &texts, &Cancel::new(), done), 5);
        assert_eq!(cache.engine.batches.lock().unwrap().len(), 2);
        assert_eq!(cache.engine.batches.lock().unwrap()[1], ["bad"]);
        for (text, got) in texts.iter().zip(&lengths) {
            if *text != "bad" {
                assert_eq!(got, &[Ok(voice.length(text).unwrap())], "{text}");
            }
        }
    }

    #[test]
    fn a_full_store_asks_the_engine_nothing_and_a_cancel_stops_it() {
        let cache = Memory::default();
        let texts = ["Inhale.", "Exhale."];
        let cold = reports(|done| length_batch(&cache, &texts, &Cancel::new(), done), 2);
        assert!(cold.iter().all(|r| r.len() == 1 && r[0].is_ok()));
        let warm = reports(|done| speak_batch(&cache, &texts, &Cancel::new(), done), 2);
        assert!(warm.iter().all(|r| r.len() == 1 && r[0].is_ok()));
        assert_eq!(cache.engine.batches.lock().unwrap().len(), 1);

        let cancel = Cancel::new();
        cancel.cancel();
        let none = reports(|done| speak_batch(&cache, &["Rest."], &cancel, done), 1);
        assert!(none[0].is_empty());
        assert_eq!(cache.engine.batches.lock().unwrap().len(), 1);
    }
}
