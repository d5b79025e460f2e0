//! The edges of a spoken clip: engines pad speech with near-silence (flite
//! about 0.2 s before each sentence), which would put every cue's voice late
//! and make the timeline's silences uneven. This trims it off, applies the
//! voice's gain, and fades both ends so a clip never clicks.

/// Bumped whenever the trimming or fading changes, so voices' identities
/// change and cached clips are not reused.
pub(crate) const VERSION: u32 = 1;

/// Length of the windows whose loudness decides where speech starts and ends.
const WINDOW_MS: u32 = 5;
/// A window is speech when its RMS is within this many dB of the clip's peak…
const BELOW_PEAK_DB: f32 = 50.0;
/// …and above this absolute level. flite's padding is dither-like noise at
/// −65 to −90 dBFS per 5 ms window; speech onsets pass −60 within a few ms.
const FLOOR_DBFS: f32 = -60.0;
/// Kept on each side of the first and last speech window, so soft onsets
/// (an "s", an "h") and the decay of the last sound are not cut.
const MARGIN_MS: u32 = 10;
/// Raised-cosine fade at each end, inside the margin.
const FADE_MS: u32 = 5;

/// The part of `samples` (raw engine output at `rate` Hz) that holds speech,
/// with a short margin, multiplied by `gain`, clamped to −1..=1, and faded
/// in and out. Speechless input gives an empty clip.
pub(crate) fn trim_and_fade(samples: &[f32], rate: u32, gain: f32) -> Vec<f32> {
    let Some(speech) = speech_span(samples, rate) else {
        return Vec::new();
    };
    let mut clip: Vec<f32> = samples[speech]
        .iter()
        .map(|s| (s * gain).clamp(-1.0, 1.0))
        .collect();
    fade_ends(&mut clip, samples_in(FADE_MS, rate));
    clip
}

/// Sample count of `ms` milliseconds at `rate`, at least one.
fn samples_in(ms: u32, rate: u32) -> usize {
    ((u64::from(rate) * u64::from(ms) / 1000) as usize).max(1)
}

/// The range from a margin before the first speech window to a margin after
/// the last one, or `None` if no window is speech.
fn speech_span(samples: &[f32], rate: u32) -> Option<std::ops::Range<usize>> {
    let window = samples_in(WINDOW_MS, rate);
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let threshold = (peak * db_to_gain(-BELOW_PEAK_DB)).max(db_to_gain(FLOOR_DBFS));
    let loud = |chunk: &[f32]| {
        let power = chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len() as f32;
        power.sqrt() > threshold
    };
    let first = samples.chunks(window).position(loud)?;
    let last = samples.chunks(window).rposition(loud)?;
    let margin = samples_in(MARGIN_MS, rate);
    let start = (first * window).saturating_sub(margin);
    let end = ((last + 1) * window + margin).min(samples.len());
    Some(start..end)
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Multiplies the first and last `len` samples by a raised-cosine ramp that
/// is exactly 0 at the outermost sample. A clip shorter than two fades is
/// faded over half its length from each end.
fn fade_ends(clip: &mut [f32], len: usize) {
    let len = len.min(clip.len() / 2);
    let n = clip.len();
    for i in 0..len {
        let gain = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / len as f32).cos();
        clip[i] *= gain;
        clip[n - 1 - i] *= gain;
    }
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
        let clip = trim_and_fade(&input, RATE, 1.0);
        // The tone starts at sample 3200, which is a window boundary (80
        // samples): kept from 160 samples (10 ms) before to 160 after.
        assert_eq!(clip.len(), 8000 + 2 * 160);
        assert_eq!(clip[0], 0.0);
        assert_eq!(clip[clip.len() - 1], 0.0);
        // Past the fade and the margin, samples are the input's.
        assert_eq!(clip[200], input[3200 - 160 + 200]);
    }

    #[test]
    fn applies_gain_and_clamps() {
        let input = padded_tone(800, 0.5);
        let clip = trim_and_fade(&input, RATE, 3.0);
        let peak = clip.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert_eq!(peak, 1.0);
        let quiet = trim_and_fade(&input, RATE, 0.5);
        // Kept from 160 samples before the tone at 800.
        assert_eq!(quiet[1000], input[640 + 1000] * 0.5);
    }

    #[test]
    fn fade_is_a_raised_cosine() {
        let mut clip = vec![1.0f32; 1000];
        fade_ends(&mut clip, 80);
        assert_eq!(clip[0], 0.0);
        assert_eq!(clip[999], 0.0);
        assert!((clip[40] - 0.5).abs() < 1e-6);
        assert!((clip[959] - clip[40]).abs() < 1e-6);
        assert!(clip.windows(2).take(80).all(|w| w[1] >= w[0]));
        assert_eq!(clip[80], 1.0);
        assert_eq!(clip[919], 1.0);
    }

    #[test]
    fn silence_gives_an_empty_clip() {
        assert!(trim_and_fade(&[], RATE, 1.0).is_empty());
        assert!(trim_and_fade(&[1e-4; 4000], RATE, 1.0).is_empty());
        assert!(trim_and_fade(&[0.0; 4000], RATE, 1.0).is_empty());
    }

    #[test]
    fn a_click_shorter_than_two_fades_still_ends_at_zero() {
        let clip = trim_and_fade(&[0.5; 3], RATE, 1.0);
        assert_eq!(clip.len(), 3);
        assert_eq!((clip[0], clip[2]), (0.0, 0.0));
    }
}
