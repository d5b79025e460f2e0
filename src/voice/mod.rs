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
//!
//! Around them: [`CachedVoice`] keeps clips on disk, [`text`] rewrites
//! what engines misread, [`lexicon`] holds how yoga words are said, and
//! [`open`] / [`available`] are what the command line calls.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;

mod cache;
mod edges;
mod espeak;
mod flite;
pub mod lexicon;
pub mod text;

pub use cache::{CacheStats, CachedVoice};
pub use espeak::EspeakVoice;
pub use flite::FliteVoice;

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
#[derive(Debug, thiserror::Error)]
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

/// A speech engine with fixed settings.
pub trait Voice: Send + Sync {
    /// Engine, voice and every setting that changes the audio, as one stable
    /// string. Two voices with the same identity give the same samples for the
    /// same text; the clip cache is keyed by it.
    fn identity(&self) -> String;

    /// Speaks `text` (one phrase, no inline pauses) into a clip.
    fn speak(&self, text: &str) -> Result<Clip, VoiceError>;

    /// The rate and sample count `speak(text)` gives, without the samples.
    /// The planner needs only this; a cache answers it from a file header.
    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        let clip = self.speak(text)?;
        Ok((clip.rate, clip.samples.len() as u64))
    }

    /// Hits and misses of the clip cache behind this voice, if there is one:
    /// for the export summary.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }
}

impl<V: Voice + ?Sized> Voice for Box<V> {
    fn identity(&self) -> String {
        (**self).identity()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        (**self).speak(text)
    }

    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        (**self).length(text)
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
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

/// Which engine speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The built-in flite voice: pure Rust, no downloads.
    #[default]
    Flite,
    /// The `espeak-ng` program, run as a separate process when installed.
    EspeakNg,
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
    /// Gain relative to the renderer's speech level (1.0).
    pub volume: f32,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            engine: Engine::Flite,
            name: None,
            speed: 1.0,
            pitch: 1.0,
            volume: 1.0,
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

impl Engine {
    /// The name users write (`flite`, `espeak-ng`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Flite => "flite",
            Engine::EspeakNg => "espeak-ng",
        }
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
///
/// A cache directory that cannot be created or written does not fail this or
/// any later call: the voice speaks uncached and [`CacheStats::warning`] says
/// why.
pub fn open(
    settings: &VoiceSettings,
    pronunciations: &[Pronunciation],
    cache: Option<&Path>,
) -> Result<Box<dyn Voice>, VoiceError> {
    let voice: Box<dyn Voice> = match settings.engine {
        Engine::Flite => Box::new(FliteVoice::new(settings, pronunciations)?),
        Engine::EspeakNg => Box::new(EspeakVoice::new(settings, pronunciations)?),
    };
    Ok(match cache {
        Some(dir) => Box::new(CachedVoice::new(voice, dir)),
        None => voice,
    })
}

/// Every voice usable on this machine: the built-in flite voices, then
/// espeak-ng's voices if the program is installed, or one line saying it is
/// not and how to get it.
pub fn available() -> Vec<VoiceInfo> {
    let mut voices = FliteVoice::voices();
    match EspeakVoice::voices(EspeakVoice::program()) {
        Ok(found) => voices.extend(found),
        Err(e) => voices.push(VoiceInfo {
            engine: Engine::EspeakNg,
            name: None,
            language: None,
            description: match e {
                VoiceError::Unavailable { reason, .. } => reason,
                other => other.to_string(),
            },
            installed: false,
        }),
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
            .filter(|v| v.engine == Engine::EspeakNg)
            .collect();
        match espeak.as_slice() {
            [missing] if !missing.installed => {
                assert!(missing.description.contains("sudo apt install espeak-ng"));
            }
            found => assert!(found.iter().any(|v| v.name.as_deref() == Some("en-us"))),
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
