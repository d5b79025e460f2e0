//! Headroom for lossy codecs: the session's peaks brought further down,
//! just before a lossy encoder gets them.
//!
//! The renderer holds true peaks at or under −1 dBTP, which a lossless file
//! keeps. A lossy codec does not: it drops and requantizes parts of the
//! spectrum, and the decoded wave overshoots the original's peaks (measured
//! on `routines/mid-back.toml`, true peak after decoding with ffmpeg, from a
//! −1 dBTP source: −1.6 dBTP for LAME at 64 kbit/s, −0.8 for libopus's
//! `opusenc` at 32 kbit/s, +1.6 for opus-rs at 32 kbit/s, and at
//! 40 kbit/s, the rate vinyasa uses, still up to 1.5 dB over its input's
//! peaks). So a lossy
//! format asks for a lower ceiling ([`super::encode::Format::ceiling_dbtp`])
//! and [`Headroom`] holds the session under it with the renderer's own
//! look-ahead limiter ([`crate::sound::limit::Limiter`]). Only the brief
//! peaks of consonants and bell strikes are touched: on that routine the
//! loudness moved by 0.1 dB for MP3 (−2 dBTP) and 0.6 dB for Opus
//! (−2.75 dBTP).
//!
//! For MP3 the limiter finds the peaks by 4× oversampling
//! ([`Limiter::true_peak`]), not by the cubic between two samples. At a
//! low rate an "s" has its energy near half the rate, where the cubic
//! misses the peaks between samples by up to 2 dB: a sibilant-heavy
//! routine (the test
//! `sibilants_at_low_rates_decode_under_the_true_peak_ceiling`) rendered at
//! 16 kHz, when the renderer too judged its parts' peaks by the cubic, had
//! a true peak of +0.3 dBTP by ffmpeg with every sample and cubic point at
//! −1.8 dBFS, and its MP3 decoded at −0.5 dBTP (11.025 kHz
//! −0.5, 8 kHz −0.7, 22.05 kHz −1.4, 44.1 kHz −2.0); at 8 and 16 kHz
//! `routines/` decoded as high as −0.3 dBTP (mid-back at 16 kHz). LAME's
//! low-pass and quantisation did not cause it: the decoded MP3's peak was
//! under that of the wave it was given. With the oversampled peaks the
//! sibilant routine's MP3 decodes at −2.0 to −2.3 dBTP at every MP3 rate
//! from 8 to 48 kHz, loudness unchanged (−16.2 LUFS; −15.8 at 8 kHz);
//! `routines/`, mono, at every MP3 rate, at −1.2 (seven-stretches at
//! 32 kHz, as before) to −2.3 dBTP and −15.9 to −16.6 LUFS; with
//! `--channels 2`, each channel 3 dB down, −4.2 to −5.4 dBTP. The filters
//! run only where a peak could reach the ceiling. (These figures were
//! measured while the renderer judged its parts by the cubic; it now holds
//! them by true peaks too, see `crate::sound::limit`.) Opus keeps the cubic
//! (see [`super::encode::Format::oversamples_peaks`]); the sibilant
//! routine decodes at −1.6 dBTP from Opus at 16 kHz.
//!
//! The limiter looks ahead and remembers its recovery, so each block is
//! limited with `LOOK_AHEAD_SECONDS` of the next and `CONTEXT_SECONDS`
//! of the previous around it: the renderer is asked for samples that much
//! ahead, still front to back, and memory stays flat. The result depends on
//! the block sizes asked for, which the pipeline keeps fixed, so exports
//! stay byte-identical.

use crate::render::{RenderError, Samples};
use crate::sound::limit::Limiter;

/// How far past a block the limiter sees: more than its attack window.
const LOOK_AHEAD_SECONDS: f64 = 0.01;

/// How much of what came before a block the limiter is run over again, so
/// its gain recovers across the block's start as it would have without the
/// edge (five of its 40 ms time constants).
const CONTEXT_SECONDS: f64 = 0.2;

/// `inner`'s samples with every peak held under a ceiling: see the
/// [module docs](self). Filled front to back only.
pub struct Headroom<'a> {
    inner: &'a mut dyn Samples,
    /// Linear.
    ceiling: f32,
    /// Whether the limiter finds the peaks by oversampling (see the
    /// [module docs](self)).
    oversampled: bool,
    /// Samples rendered past the last one given out, from `pos`.
    ahead: Vec<f32>,
    /// Samples before `pos` (as rendered), the limiter's history.
    context: Vec<f32>,
    /// The next sample to give out.
    pos: u64,
    look_ahead: usize,
    context_len: usize,
    /// The limiter's input and output.
    work: Vec<f32>,
    limited: Vec<f32>,
}

impl<'a> Headroom<'a> {
    /// `inner` held under `ceiling_dbtp` (dB), its peaks found by 4×
    /// oversampling when `oversampled`, else by a cubic estimate.
    pub fn new(inner: &'a mut dyn Samples, ceiling_dbtp: f64, oversampled: bool) -> Self {
        let rate = f64::from(inner.rate());
        Headroom {
            ceiling: 10f64.powf(ceiling_dbtp / 20.0) as f32,
            oversampled,
            ahead: Vec::new(),
            context: Vec::new(),
            pos: 0,
            look_ahead: (LOOK_AHEAD_SECONDS * rate).ceil() as usize,
            context_len: (CONTEXT_SECONDS * rate).ceil() as usize,
            work: Vec::new(),
            limited: Vec::new(),
            inner,
        }
    }
}

impl Samples for Headroom<'_> {
    fn rate(&self) -> u32 {
        self.inner.rate()
    }

    fn total(&self) -> u64 {
        self.inner.total()
    }

    fn prepare(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<(), RenderError> {
        self.inner.prepare(progress)
    }

    fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
        assert_eq!(start, self.pos, "Headroom is filled front to back");
        let total = self.inner.total();
        // Render what the block and its look-ahead need, within the session.
        let want = (out.len() + self.look_ahead).min(total.saturating_sub(start) as usize);
        if self.ahead.len() < want {
            let have = self.ahead.len();
            self.ahead.resize(want, 0.0);
            self.inner
                .fill(start + have as u64, &mut self.ahead[have..])?;
        }
        self.work.clear();
        self.work.extend_from_slice(&self.context);
        self.work.extend_from_slice(&self.ahead);
        self.limited.resize(self.work.len(), 0.0);
        let rate = self.inner.rate();
        let limiter = if self.oversampled {
            Limiter::true_peak(&self.work, rate, self.ceiling)
        } else {
            Limiter::new(&self.work, rate)
        };
        limiter.apply(&self.work, 1.0, self.ceiling, &mut self.limited);
        // Past the end of the session: zeros, as `Samples` promises.
        let given = out.len().min(self.ahead.len());
        let from = self.context.len();
        out[..given].copy_from_slice(&self.limited[from..from + given]);
        out[given..].fill(0.0);
        // The history: the last `context_len` samples before the new `pos`.
        let keep = self
            .context_len
            .min(self.work.len() - (self.ahead.len() - given));
        let end = from + given;
        self.context.clear();
        self.context
            .extend_from_slice(&self.work[end - keep.min(end)..end]);
        self.ahead.drain(..given);
        self.pos += out.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::audio::tests::Signal;

    #[test]
    fn peaks_are_held_under_the_ceiling_and_quiet_parts_pass_unchanged() {
        // A quiet tone with a loud burst across a block edge.
        let f = |n: u64| {
            let x = (n as f32 * 0.05).sin();
            if (9_900..10_150).contains(&n) {
                0.95 * x
            } else {
                0.1 * x
            }
        };
        for oversampled in [false, true] {
            let mut inner = Signal::new(8_000, 30_000, f);
            let mut h = Headroom::new(&mut inner, -6.0, oversampled);
            let mut got = vec![0.0; 30_500];
            for (i, block) in got.chunks_mut(10_000).enumerate() {
                h.fill(i as u64 * 10_000, block).unwrap();
            }
            let ceiling = 10f32.powf(-6.0 / 20.0);
            assert!(got.iter().all(|x| x.abs() <= ceiling + 1e-6));
            // Far from the burst (the gain back to 1 after the release), the
            // samples are untouched; past the end, zeros.
            for n in (0..9_000).chain(16_000..30_000) {
                assert_eq!(got[n], f(n as u64), "sample {n}");
            }
            assert!(got[30_000..].iter().all(|&x| x == 0.0));
            // The burst is still there, brought down, not cut out.
            let loudest = got[9_900..10_150].iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(loudest > 0.8 * ceiling, "{loudest}");
        }
    }
}
