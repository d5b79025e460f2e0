//! Speech engines behind one trait.
//!
//! A [`Voice`] turns text into a mono [`Clip`] at the engine's own rate. The
//! planner asks it how long each phrase is; the renderer asks it for the
//! samples. Neither sees which engine is behind it.
//!
//! [`TestVoice`] is a deterministic stand-in for tests: its clips have a
//! length that depends only on the text, so timelines planned with it can be
//! pinned exactly.
//!
//! The engines:
//!
//! * [`FliteVoice`]: the built-in voice (flite-rs, `kal16`), always there.
//! * [`EspeakVoice`]: the `espeak-ng` program, run as a subprocess when it
//!   is installed, for other languages and voices.
//! * [`PiperVoice`]: Piper's neural voices, the `piper-tts` program run as
//!   one subprocess per voice (`vinyasa voices install joe` sets it up).
//!
//! [`UserVoice`] is the user's own choice of voice (`VINYASA_VOICE` or the
//! config file), used where a routine names none.
//!
//! [`ENGINES`] lists them: a new engine is a module implementing [`Voice`]
//! with its [`EngineEntry`], plus one line there. [`open`], [`available`]
//! and the routine's `engine = "…"` all read that list.
//!
//! Around them: [`CachedVoice`] keeps clips on disk, [`text`] rewrites
//! what engines misread, [`lexicon`] holds how yoga words are said, and
//! [`open`] / [`available`] are what the command line calls.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use crate::Cancel;

mod cache;
mod cached_batch;
mod edges;
mod espeak;
mod flite;
pub mod lexicon;
pub mod piper;
pub mod preference;
pub mod text;

pub use cache::{CacheStats, CachedVoice};
pub use espeak::{EspeakVoice, UnknownVoice};
pub use flite::FliteVoice;
pub use piper::PiperVoice;
pub use preference::{UserVoice, VoiceSource};

/// The licence notices of what is built into the binary, for `vinyasa
/// licenses`: the top-level NOTICE, flite-rs's third-party terms (the
/// CMU/Edinburgh voice and model data) and the Apache License, LAME's
/// notice and licence (the MP3 encoder, `licenses/LAME.md`), then every
/// other crate's licence (`licenses/THIRD-PARTY.md`, written by
/// `scripts/third_party.py`).
pub const NOTICES: &str = concat!(
    include_str!("../../NOTICE"),
    "\n==== licenses/flite-rs-NOTICE ====\n\n",
    include_str!("../../licenses/flite-rs-NOTICE"),
    "\n==== licenses/flite-rs-THIRD-PARTY-LICENSES.md ====\n\n",
    include_str!("../../licenses/flite-rs-THIRD-PARTY-LICENSES.md"),
    "\n==== licenses/flite-rs-LICENSE ====\n\n",
    include_str!("../../licenses/flite-rs-LICENSE"),
    "\n==== licenses/LAME.md ====\n\n",
    include_str!("../../licenses/LAME.md"),
    "\n==== licenses/lame-COPYING ====\n\n",
    include_str!("../../licenses/lame-COPYING"),
    "\n==== licenses/THIRD-PARTY.md ====\n\n",
    include_str!("../../licenses/THIRD-PARTY.md"),
);

/// Mono samples in `-1.0..=1.0` at `rate` Hz.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Samples per second.
    pub rate: u32,
    /// The samples, mono.
    pub samples: Vec<f32>,
}

impl Clip {
    /// Length of this clip once resampled to `rate`: the number of samples
    /// the planner reserves and the renderer produces for it.
    pub fn len_at(&self, rate: u32) -> u64 {
        len_at(self.samples.len() as u64, self.rate, rate)
    }
}

/// `samples` at `from` Hz, counted at `to` Hz, rounded up.
pub fn len_at(samples: u64, from: u32, to: u32) -> u64 {
    (u128::from(samples) * u128::from(to)).div_ceil(u128::from(from)) as u64
}

/// Why a voice could not speak.
#[derive(Clone, Debug, thiserror::Error)]
pub enum VoiceError {
    /// The engine's program or library is not on this machine.
    #[error("{engine} is not available: {reason}")]
    Unavailable {
        /// The engine asked for.
        engine: String,
        /// What is missing and how to get it.
        reason: String,
    },
    /// A setting or a pronunciation this engine cannot use.
    #[error("{what}: {reason}")]
    Invalid {
        /// The value, named as the user wrote it (`voice speed 9`,
        /// `pronunciation of "ujjayi"`).
        what: String,
        /// Why it is refused and what would be accepted.
        reason: String,
    },
    /// The engine ran but failed on this text.
    #[error("{engine} could not speak {text:?}: {reason}")]
    Failed {
        /// The engine.
        engine: String,
        /// The text it was given.
        text: String,
        /// What went wrong.
        reason: String,
    },
}

/// What a batch reports for each of its texts: the text's index in the
/// batch, and its result. Called from any thread, possibly at once.
pub type Done<'a, T> = &'a (dyn Fn(usize, Result<T, VoiceError>) + Sync);

/// A speech engine with fixed settings.
///
/// The contract every voice keeps:
///
/// * **Deterministic.** The same text gives the same samples, bit for bit,
///   on every call, alone or in a batch, on any thread: the planner, the
///   renderer and the cache all count on it (an engine that samples
///   randomly fixes its seed).
/// * **Thread safe.** Every method takes `&self` and may be called from
///   many threads at once.
/// * **Batches are an optimisation, never a change.** [`Voice::speak_batch`]
///   gives for each text exactly what [`Voice::speak`] gives; only when and
///   in which order the results arrive differ.
pub trait Voice: Send + Sync {
    /// Engine, voice and every setting that changes the audio, as one stable
    /// string. Two voices with the same identity give the same samples for the
    /// same text; the clip cache is keyed by it.
    fn identity(&self) -> String;

    /// Engine and voice for a person (`flite kal16`, `piper
    /// en_US-joe-medium`): what `plan`, `export` and `play` say spoke.
    fn label(&self) -> String {
        self.identity()
    }

    /// Settings this voice cannot honour and ignores (Piper has no pitch),
    /// to be shown as warnings rather than heard as nothing.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Speaks `text` (one phrase, no inline pauses) into a clip.
    fn speak(&self, text: &str) -> Result<Clip, VoiceError>;

    /// The rate and sample count `speak(text)` gives, without the samples.
    /// The planner needs only this; a cache answers it from a file header.
    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        let clip = self.speak(text)?;
        Ok((clip.rate, clip.samples.len() as u64))
    }

    /// Speaks every text of `texts`, calling `done(i, speak(texts[i]))`
    /// once for each index as its clip is ready (streaming: the first
    /// clips can be used while the rest are spoken).
    ///
    /// * Calls come from any thread, in any order, possibly at once.
    /// * Texts are started in the order given: put the longest first and the
    ///   threads finish together. A text may appear more than once; each
    ///   index is reported.
    /// * An error for one text does not stop the others; a caller that
    ///   wants to stop sets `cancel`. Once `cancel` is set, texts not yet
    ///   started are left out (no call for them).
    /// * When it returns, every call has been made.
    ///
    /// The default speaks one text at a time on every core. An engine that
    /// is faster with many texts at once (one run of a program that loads a
    /// model first) overrides it; a cache overrides it to answer what it
    /// holds and send the rest to its engine as one batch.
    fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
        each_text(texts, cancel, |i| done(i, self.speak(texts[i])));
    }

    /// As [`Voice::speak_batch`], reporting what [`Voice::length`] gives
    /// instead of the clips: what the planner asks for every phrase of a
    /// routine before placing them.
    ///
    /// The default asks [`Voice::length`] one text at a time on every core;
    /// engines need not override it (without a cache a length costs a
    /// whole clip anyway). A cache overrides it to answer hits from its
    /// headers and speak the misses as one [`Voice::speak_batch`] of its
    /// engine.
    fn length_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, (u32, u64)>) {
        each_text(texts, cancel, |i| done(i, self.length(texts[i])));
    }

    /// Hits and misses of the clip cache behind this voice, if there is one:
    /// for the export summary.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    /// Whether speaking `texts` would keep a listener waiting: some of them
    /// are not spoken yet (nor cached) and the engine takes seconds to get
    /// going and speaks at a few times real time (a neural voice). `play`
    /// then plans the session as its phrases arrive instead of speaking
    /// them all first. Engines that speak a session in moments keep the
    /// default, false.
    fn speaks_slowly(&self, texts: &[&str]) -> bool {
        let _ = texts;
        false
    }
}

/// Runs `work(i)` for every index of `texts` on every core, taking them in
/// order and starting none once `cancel` is set.
fn each_text(texts: &[&str], cancel: &Cancel, work: impl Fn(usize) + Sync) {
    // `each` stops at the first error; cancelling is the only one, and the
    // caller knows it set the flag.
    let _ = crate::cores::each(texts.len(), |i| {
        if cancel.is_cancelled() {
            return Err(());
        }
        work(i);
        Ok(())
    });
}

/// The one report of a batch of one text (`batch` is given the `done` to
/// call), or `None` if the batch left it out because it was cancelled.
pub(crate) fn one<T: Send>(batch: impl FnOnce(Done<'_, T>)) -> Option<Result<T, VoiceError>> {
    let mut report = std::sync::Mutex::new(None);
    batch(&|_, result| {
        *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    });
    report.get_mut().unwrap_or_else(|p| p.into_inner()).take()
}

/// How often [`unless_cancelled`] looks at its flag: a stop is seen within
/// this, far below what a person notices.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Runs `work` on a thread of its own and waits for its result, giving up
/// with `None` within [`CANCEL_POLL`] once `cancel` is set.
///
/// For an engine that runs in this process and cannot be stopped inside one
/// phrase (flite takes seconds over a long one): Ctrl-C must not wait for it.
/// A thread given up on finishes its phrase unseen (its result is dropped)
/// or dies with the process; it writes nothing, so it leaves nothing behind.
pub(crate) fn unless_cancelled<T: Send + 'static>(
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    // Shared so that the work can still be done here if no thread is had.
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(work)));
    let taken = std::sync::Arc::clone(&slot);
    // As deep as the main thread's: text expansion recurses.
    let spawned = std::thread::Builder::new()
        .name("vinyasa-speech".into())
        .stack_size(8 << 20)
        .spawn(move || {
            let work = taken.lock().unwrap_or_else(|p| p.into_inner()).take();
            // The receiver is gone if the caller gave up: nothing to do.
            let _ = send.send(work.map(|work| work()));
        });
    let Ok(worker) = spawned else {
        // No thread to be had: speak here, uninterruptibly, rather than fail.
        let work = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        return work.map(|work| work());
    };
    loop {
        match receive.recv_timeout(CANCEL_POLL) {
            Ok(result) => return result,
            Err(RecvTimeoutError::Timeout) if !cancel.is_cancelled() => {}
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => {
                // The work panicked: as if it had run on this thread.
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
                return None;
            }
        }
    }
}

impl<V: Voice + ?Sized> Voice for Box<V> {
    fn identity(&self) -> String {
        (**self).identity()
    }

    fn label(&self) -> String {
        (**self).label()
    }

    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        (**self).speak(text)
    }

    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        (**self).length(text)
    }

    fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
        (**self).speak_batch(texts, cancel, done)
    }

    fn length_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, (u32, u64)>) {
        (**self).length_batch(texts, cancel, done)
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
    }

    fn speaks_slowly(&self, texts: &[&str]) -> bool {
        (**self).speaks_slowly(texts)
    }
}

impl fmt::Debug for dyn Voice + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identity())
    }
}

/// A deterministic voice for tests: each character lasts `ms_per_char`
/// milliseconds of a quiet 220 Hz tone at 16 kHz, so a phrase's length is a
/// pure function of its text.
#[derive(Clone, Debug)]
pub struct TestVoice {
    /// Milliseconds of audio per character of text.
    pub ms_per_char: u32,
}

impl Default for TestVoice {
    fn default() -> Self {
        // About the pace of a calm speaker: 15 characters a second.
        TestVoice { ms_per_char: 66 }
    }
}

impl TestVoice {
    /// Sample rate of its clips.
    pub const RATE: u32 = 16_000;
}

impl Voice for TestVoice {
    fn identity(&self) -> String {
        format!("test/{}ms", self.ms_per_char)
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let chars = text.chars().count().max(1) as u64;
        let n = chars * u64::from(self.ms_per_char) * u64::from(Self::RATE) / 1000;
        let samples = (0..n)
            .map(|i| {
                let t = i as f32 / Self::RATE as f32;
                0.25 * (std::f32::consts::TAU * 220.0 * t).sin()
            })
            .collect();
        Ok(Clip {
            rate: Self::RATE,
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_at_rounds_up() {
        assert_eq!(len_at(16_000, 16_000, 44_100), 44_100);
        assert_eq!(len_at(1, 16_000, 44_100), 3); // 2.756 → 3
        assert_eq!(len_at(0, 16_000, 44_100), 0);
        assert_eq!(len_at(160, 16_000, 48_000), 480);
    }

    /// The samples of `speak(text)` for each index a batch reported, and
    /// how many reports came for each.
    fn batch(voice: &dyn Voice, texts: &[&str], cancel: &Cancel) -> Vec<Vec<Result<Clip, String>>> {
        let got = std::sync::Mutex::new(vec![Vec::new(); texts.len()]);
        voice.speak_batch(texts, cancel, &|i, r| {
            got.lock().unwrap()[i].push(r.map_err(|e| e.to_string()));
        });
        got.into_inner().unwrap()
    }

    #[test]
    fn a_batch_reports_each_text_once_as_speak_gives_it() {
        let voice = TestVoice::default();
        let texts = ["Inhale.", "Exhale slowly.", "Inhale.", "", "Rest"];
        let got = batch(&voice, &texts, &Cancel::new());
        for (text, reports) in texts.iter().zip(&got) {
            assert_eq!(reports, &[Ok(voice.speak(text).unwrap())], "{text}");
        }
        let lengths = std::sync::Mutex::new(vec![None; texts.len()]);
        voice.length_batch(&texts, &Cancel::new(), &|i, r| {
            assert!(lengths.lock().unwrap()[i].replace(r.unwrap()).is_none());
        });
        let expected: Vec<_> = texts
            .iter()
            .map(|t| Some(voice.length(t).unwrap()))
            .collect();
        assert_eq!(lengths.into_inner().unwrap(), expected);
        // A box forwards batches to what it holds.
        let boxed: Box<dyn Voice> = Box::new(voice);
        assert_eq!(batch(&boxed, &texts, &Cancel::new()), got);
    }

    #[test]
    fn a_batch_goes_on_past_an_error_and_stops_when_cancelled() {
        struct Picky;
        impl Voice for Picky {
            fn identity(&self) -> String {
                "picky".into()
            }
            fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
                match text {
                    "bad" => Err(VoiceError::Failed {
                        engine: "picky".into(),
                        text: text.into(),
                        reason: "no".into(),
                    }),
                    _ => TestVoice::default().speak(text),
                }
            }
        }
        let got = batch(&Picky, &["bad", "good"], &Cancel::new());
        assert_eq!(
            got[0],
            [Err("picky could not speak \"bad\": no".to_string())]
        );
        assert!(got[1][0].is_ok());
        let cancel = Cancel::new();
        cancel.cancel();
        let texts = vec!["Breathe."; 100];
        assert!(batch(&Picky, &texts, &cancel).iter().all(Vec::is_empty));
    }

    #[test]
    fn test_voice_length_depends_only_on_text() {
        let v = TestVoice::default();
        let a = v.speak("Inhale.").unwrap();
        let b = v.speak("Exhale.").unwrap();
        assert_eq!(a.samples.len(), 7 * 66 * 16);
        assert_eq!(a.samples.len(), b.samples.len());
        // 7392 samples at 16 kHz are 20374.2 at 44.1 kHz: rounded up.
        assert_eq!(a.len_at(44_100), 20_375);
    }
}

/// One speech engine, as the rest of vinyasa knows it: its name, whether
/// it is there, how to open it and which voices it has. Each engine's
/// module defines its entry; [`ENGINES`] lists them.
///
/// What the cache keys a clip by is not here: it is the opened voice's
/// [`Voice::identity`], which names the engine and every setting that
/// changes its samples.
#[derive(Debug)]
pub struct EngineEntry {
    /// The name users write in `[voice] engine` and `--engine`.
    pub name: &'static str,
    /// Other names accepted for it (`espeak` for `espeak-ng`).
    pub aliases: &'static [&'static str],
    /// Built into vinyasa, so always available; otherwise a separate
    /// program that may not be installed.
    pub built_in: bool,
    /// The voice the settings ask for, with the routine's pronunciations;
    /// [`VoiceError::Unavailable`] when the engine is not on this machine.
    pub open: OpenVoice,
    /// The voices it can speak with here, for `vinyasa voices`;
    /// [`VoiceError::Unavailable`] (saying how to install it) when it is not
    /// on this machine.
    pub voices: fn() -> Result<Vec<VoiceInfo>, VoiceError>,
}

/// How an [`EngineEntry`] opens a voice: with the settings and the
/// routine's pronunciations.
pub type OpenVoice = fn(&VoiceSettings, &[Pronunciation]) -> Result<Box<dyn Voice>, VoiceError>;

/// Every speech engine, the default first. Adding one is a module with a
/// [`Voice`] and its [`EngineEntry`], and one line here.
pub static ENGINES: &[&EngineEntry] = &[&flite::ENGINE, &espeak::ENGINE, &piper::ENGINE];

/// Which engine speaks: one of [`ENGINES`].
#[derive(Clone, Copy)]
pub struct Engine(&'static EngineEntry);

impl Engine {
    /// The built-in flite voice: pure Rust, no downloads, English only.
    pub const FLITE: Engine = Engine(&flite::ENGINE);
    /// The `espeak-ng` program, when it is installed.
    pub const ESPEAK: Engine = Engine(&espeak::ENGINE);

    /// The engine called `name` or one of its aliases.
    pub fn named(name: &str) -> Option<Engine> {
        Engine::all().find(|e| e.0.name == name || e.0.aliases.contains(&name))
    }

    /// Every engine, in the order of [`ENGINES`].
    pub fn all() -> impl Iterator<Item = Engine> {
        ENGINES.iter().map(|&entry| Engine(entry))
    }

    /// Every engine's name, as users write it.
    pub fn names() -> Vec<&'static str> {
        Engine::all().map(Engine::name).collect()
    }

    /// The engines for a message: `"flite" (built in) and "espeak-ng"`,
    /// and with `installs`, `"espeak-ng" (if installed)` for each engine
    /// that is a separate program.
    pub fn listing(installs: bool) -> String {
        let items: Vec<String> = Engine::all()
            .map(|e| match (e.0.built_in, installs) {
                (true, _) => format!("\"{}\" (built in)", e.name()),
                (false, true) => format!("\"{}\" (if installed)", e.name()),
                (false, false) => format!("\"{}\"", e.name()),
            })
            .collect();
        match items.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// The name users write (`flite`, `espeak-ng`).
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Its entry in [`ENGINES`].
    pub fn entry(self) -> &'static EngineEntry {
        self.0
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine(ENGINES[0])
    }
}

impl PartialEq for Engine {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Engine {}

impl std::hash::Hash for Engine {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Engine({:?})", self.name())
    }
}

impl serde::Serialize for Engine {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Voice settings, from the routine's `[voice]` table and the command line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VoiceSettings {
    /// The engine.
    pub engine: Engine,
    /// The engine's voice name (`kal16` for flite, e.g. `en-us` for espeak-ng);
    /// `None` for the engine's default.
    pub name: Option<String>,
    /// Speaking rate relative to the engine's clear default (1.0).
    pub speed: f32,
    /// Pitch relative to the voice's own (1.0).
    pub pitch: f32,
    /// Gain relative to the renderer's speech level (1.0). Only the renderer
    /// applies it ([`crate::render::RenderOptions::voice_volume`]); engines
    /// ignore it, so their clips and identities are the same at every volume.
    pub volume: f32,
    /// The routine's `language` (a BCP 47 tag), when known: an engine that
    /// knows its voices' languages picks one of it and refuses another.
    pub language: Option<String>,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            engine: Engine::default(),
            name: None,
            speed: 1.0,
            pitch: 1.0,
            volume: 1.0,
            language: None,
        }
    }
}

/// How to say one word, from the routine's `[pronounce]` table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pronunciation {
    /// The word as written in the routine's text (matched case-insensitively).
    pub word: String,
    /// A respelling in plain letters that any engine reads right
    /// (`"oo-JYE-ee"`), if given.
    pub respell: Option<String>,
    /// CMU/ARPAbet phones for flite's lexicon (`"uw1 jh ay1 iy0"`), if given.
    pub phones: Option<String>,
}

impl Pronunciation {
    /// The error for an entry with neither a respelling nor phones, which
    /// no engine can use.
    fn says_nothing(&self) -> VoiceError {
        VoiceError::Invalid {
            what: format!("pronunciation of {:?}", self.word),
            reason: "gives neither a respelling nor phones".to_string(),
        }
    }
}

impl VoiceSettings {
    /// Speeds an engine is asked for: slower than a quarter or faster than
    /// four times its clear default is no longer speech anyone can follow.
    pub const SPEED: RangeInclusive<f32> = 0.25..=4.0;
    /// Pitches relative to the voice's own: an octave either way.
    pub const PITCH: RangeInclusive<f32> = 0.5..=2.0;
    /// Gains: from silent to four times (+12 dB) the speech level.
    pub const VOLUME: RangeInclusive<f32> = 0.0..=4.0;

    /// Refuses a speed, pitch or volume outside its range (or not a number),
    /// naming the setting, the value and the range.
    pub fn check(&self) -> Result<(), VoiceError> {
        let settings = [
            ("speed", self.speed, Self::SPEED),
            ("pitch", self.pitch, Self::PITCH),
            ("volume", self.volume, Self::VOLUME),
        ];
        for (name, value, range) in settings {
            if !range.contains(&value) {
                return Err(VoiceError::Invalid {
                    what: format!("voice {name} {value}"),
                    reason: format!(
                        "must be between {} and {} (1 is the voice's own)",
                        range.start(),
                        range.end()
                    ),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of `vinyasa voices`: a voice usable on this machine, or an engine
/// that is not installed and how to get it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VoiceInfo {
    /// The engine.
    pub engine: Engine,
    /// What to pass as the voice name (`kal16`, `en-us`); `None` when the
    /// engine is not installed.
    pub name: Option<String>,
    /// Language code (`en-us`), when known.
    pub language: Option<String>,
    /// A few words for a person: `US English, male, 16 kHz (built in)`, or
    /// what is missing and how to install it.
    pub description: String,
    /// Whether it can speak now.
    pub installed: bool,
}

/// The voice the settings ask for, with the routine's pronunciations, behind
/// the clip cache in `cache` if given (see [`crate::cache::default_dir`]).
/// The engine is opened through its [`EngineEntry`].
///
/// A cache directory that cannot be created or written does not fail this or
/// any later call: the voice speaks uncached and [`CacheStats::warning`] says
/// why.
pub fn open(
    settings: &VoiceSettings,
    pronunciations: &[Pronunciation],
    cache: Option<&Path>,
) -> Result<Box<dyn Voice>, VoiceError> {
    let voice = (settings.engine.entry().open)(settings, pronunciations)?;
    Ok(match cache {
        Some(dir) => Box::new(CachedVoice::new(voice, dir)),
        None => voice,
    })
}

/// Every voice usable on this machine, engine by engine in the order of
/// [`ENGINES`]; an engine that is not installed gives one line saying so
/// and how to get it.
pub fn available() -> Vec<VoiceInfo> {
    let mut voices = Vec::new();
    for engine in Engine::all() {
        match (engine.entry().voices)() {
            Ok(found) => voices.extend(found),
            Err(e) => voices.push(VoiceInfo {
                engine,
                name: None,
                language: None,
                description: match e {
                    VoiceError::Unavailable { reason, .. } => reason,
                    other => other.to_string(),
                },
                installed: false,
            }),
        }
    }
    voices
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn opens_the_built_in_voice_behind_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let settings = VoiceSettings::default();
        let plain = open(&settings, &[], None).unwrap();
        assert_eq!(plain.cache_stats(), None);
        let cached = open(&settings, &[], Some(dir.path())).unwrap();
        assert_eq!(cached.identity(), plain.identity());
        assert_eq!(
            cached.speak("Rest.").unwrap(),
            plain.speak("Rest.").unwrap()
        );
        assert_eq!(cached.cache_stats().unwrap().misses, 1);
    }

    #[test]
    fn lists_the_built_in_voice_first_and_espeak_either_way() {
        let voices = available();
        assert_eq!(voices[0].name.as_deref(), Some("kal16"));
        assert!(voices[0].installed);
        let espeak: Vec<&VoiceInfo> = voices
            .iter()
            .filter(|v| v.engine.name() == "espeak-ng")
            .collect();
        match espeak.as_slice() {
            [missing] if !missing.installed => {
                assert!(missing.description.contains("sudo apt install espeak-ng"));
            }
            found => assert!(found.iter().any(|v| v.name.as_deref() == Some("en-us"))),
        }
    }

    #[test]
    fn engines_are_found_by_name_or_alias_and_listed_in_order() {
        assert_eq!(Engine::default(), Engine::FLITE);
        assert_eq!(Engine::named("flite"), Some(Engine::FLITE));
        let espeak = Engine::named("espeak-ng").unwrap();
        assert_eq!(Engine::named("espeak"), Some(espeak));
        assert_eq!(espeak.to_string(), "espeak-ng");
        assert_eq!(Engine::named("Flite"), None);
        assert_eq!(Engine::names(), ["flite", "espeak-ng", "piper"]);
        assert_eq!(
            Engine::listing(true),
            r#""flite" (built in), "espeak-ng" (if installed) and "piper" (if installed)"#
        );
        assert_eq!(
            Engine::listing(false),
            r#""flite" (built in), "espeak-ng" and "piper""#
        );
        // No name stands for two engines.
        let mut all: Vec<&str> = ENGINES
            .iter()
            .flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied()))
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn every_engine_opens_through_its_entry_or_says_it_is_missing() {
        for engine in Engine::all() {
            let settings = VoiceSettings {
                engine,
                ..VoiceSettings::default()
            };
            match open(&settings, &[], None) {
                Ok(voice) => assert!(!voice.speak("Rest.").unwrap().samples.is_empty()),
                Err(VoiceError::Unavailable { engine: name, .. }) => {
                    assert!(!engine.entry().built_in);
                    assert_eq!(name, engine.name());
                }
                Err(other) => panic!("{engine}: {other}"),
            }
        }
    }

    #[test]
    fn notices_carry_the_voice_data_terms() {
        assert!(NOTICES.starts_with("vinyasa\n"));
        assert!(NOTICES.contains("Carnegie Mellon University"));
        assert!(NOTICES.contains("| symphonia | "));
        assert!(NOTICES.contains("University of Edinburgh"));
        assert!(NOTICES.contains("Apache License"));
        assert!(NOTICES.contains("LAME 3.100"));
        assert!(NOTICES.contains("GNU LIBRARY GENERAL PUBLIC LICENSE"));
    }
}
