//! The edges of a spoken clip: engines pad speech with near-silence (flite
//! about 0.2 s before each sentence), which would put every cue's voice late
//! and make the timeline's silences uneven. This trims it off and fades both
//! ends so a clip never clicks.
//!
//! The voice's volume is not applied here: the renderer sets every phrase to
//! the speech level times the volume, so a clip is the same at every volume
//! and is cached once.

use crate::sound::{db_to_amp, fade::fade_clip_ends, samples_in_ms};

/// Bumped whenever the trimming or fading changes, so voices' identities
/// change and cached clips are not reused.
pub(crate) const VERSION: u32 = 1;

/// Length of the windows whose loudness decides where speech starts and ends.
const WINDOW_MS: u32 = 5;
/// A window is speech when its RMS is within this many dB of the clip's peak…
const BELOW_PEAK_DB: f64 = 50.0;
/// …and above this absolute level. flite's padding is dither-like noise at
/// −65 to −90 dBFS per 5 ms window; speech onsets pass −60 within a few ms.
const FLOOR_DBFS: f64 = -60.0;
/// Kept on each side of the first and last speech window, so soft onsets
/// (an "s", an "h") and the decay of the last sound are not cut.
const MARGIN_MS: u32 = 10;
/// Raised-cosine fade at each end, inside the margin.
const FADE_MS: u32 = 5;

/// The part of `samples` (raw engine output at `rate` Hz) that holds speech,
/// with a short margin, clamped to −1..=1 and faded in and out. Speechless
/// input gives an empty clip.
pub(crate) fn trim_and_fade(samples: &[f32], rate: u32) -> Vec<f32> {
    let Some(speech) = speech_span(samples, rate) else {
        return Vec::new();
    };
    let mut clip: Vec<f32> = samples[speech].iter().map(|s| s.clamp(-1.0, 1.0)).collect();
    fade_clip_ends(&mut clip, samples_in_ms(FADE_MS, rate).max(1));
    clip
}

/// The range from a margin before the first speech window to a margin after
/// the last one, or `None` if no window is speech.
fn speech_span(samples: &[f32], rate: u32) -> Option<std::ops::Range<usize>> {
    let window = samples_in_ms(WINDOW_MS, rate).max(1);
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let threshold = (peak * db_to_amp(-BELOW_PEAK_DB) as f32).max(db_to_amp(FLOOR_DBFS) as f32);
    let loud = |chunk: &[f32]| {
        let power = chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len() as f32;
        power.sqrt() > threshold
    };
    let first = samples.chunks(window).position(loud)?;
    let last = samples.chunks(window).rposition(loud)?;
    let margin = samples_in_ms(MARGIN_MS, rate).max(1);
    let start = (first * window).saturating_sub(margin);
    let end = ((last + 1) * window + margin).min(samples.len());
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    /// `pad` samples of −80 dBFS noise, a 0.5 s tone at `level`, `pad` more.
    fn padded_tone(pad: usize, level: f32) -> Vec<f32> {
        let noise = |i: usize| if i.is_multiple_of(2) { 1e-4 } else { -1e-4 };
        let mut out: Vec<f32> = (0..pad).map(noise).collect();
        out.extend((0..8000).map(|i| level * (i as f32 * 0.1).sin()));
        out.extend((0..pad).map(noise));
        out
    }

    #[test]
    fn trims_to_the_sound_with_a_margin() {
        let input = padded_tone(3200, 0.5);
        let clip = trim_and_fade(&input, RATE);
        // The tone starts at sample 3200, which is a window boundary (80
        // samples): kept from 160 samples (10 ms) before to 160 after.
        assert_eq!(clip.len(), 8000 + 2 * 160);
        assert_eq!(clip[0], 0.0);
        assert_eq!(clip[clip.len() - 1], 0.0);
        // Past the fade and the margin, samples are the input's.
        assert_eq!(clip[200], input[3200 - 160 + 200]);
    }

    #[test]
    fn keeps_the_engines_level_and_clamps_to_full_scale() {
        let input = padded_tone(800, 0.5);
        let clip = trim_and_fade(&input, RATE);
        // Kept from 160 samples before the tone at 800, unscaled.
        assert_eq!(clip[1000], input[640 + 1000]);
        let hot = padded_tone(800, 3.0);
        let clip = trim_and_fade(&hot, RATE);
        let peak = clip.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert_eq!(peak, 1.0);
        assert_eq!(clip[1000], hot[640 + 1000].clamp(-1.0, 1.0));
    }

    #[test]
    fn fade_is_a_raised_cosine() {
        let input = vec![0.5f32; 1000];
        let clip = trim_and_fade(&input, RATE);
        // 80 samples (5 ms) at each end, in single precision as ever.
        assert_eq!(clip.len(), 1000);
        assert_eq!((clip[0], clip[999]), (0.0, 0.0));
        for i in 0..80 {
            let gain = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / 80.0).cos();
            assert_eq!(clip[i], 0.5 * gain, "{i}");
            assert_eq!(clip[999 - i], 0.5 * gain, "{i}");
        }
        assert!(clip[80..920].iter().all(|&s| s == 0.5));
    }

    #[test]
    fn thresholds_are_the_single_precision_ones() {
        // The decibel helper is double precision; its values round to the
        // same f32 thresholds edges v1 computed in f32, so trimming is
        // unchanged.
        assert_eq!(db_to_amp(-BELOW_PEAK_DB) as f32, 10f32.powf(-50.0 / 20.0));
        assert_eq!(db_to_amp(FLOOR_DBFS) as f32, 10f32.powf(-60.0 / 20.0));
    }

    #[test]
    fn silence_gives_an_empty_clip() {
        assert!(trim_and_fade(&[], RATE).is_empty());
        assert!(trim_and_fade(&[1e-4; 4000], RATE).is_empty());
        assert!(trim_and_fade(&[0.0; 4000], RATE).is_empty());
    }

    #[test]
    fn a_click_shorter_than_two_fades_still_ends_at_zero() {
        let clip = trim_and_fade(&[0.5; 3], RATE);
        assert_eq!(clip.len(), 3);
        assert_eq!((clip[0], clip[2]), (0.0, 0.0));
    }
}
