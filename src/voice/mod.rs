//! Speech engines behind one trait.
//!
//! A [`Voice`] turns text into a mono [`Clip`] at the engine's own rate. The
//! planner asks it how long each phrase is; the renderer asks it for the
//! samples. Neither sees which engine is behind it.
//!
//! [`TestVoice`] is a deterministic stand-in for tests: its clips have a
//! length that depends only on the text, so timelines planned with it can be
//! pinned exactly.

use std::fmt;

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
