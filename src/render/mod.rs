//! The renderer: timeline → one stream of samples.
//!
//! [`Renderer`] implements [`Samples`]: any range of the session, in any
//! order, in blocks of any size, always the same samples. Export writes it
//! front to back; the live player renders ahead and seeks on a skip.
//!
//! How a block is made: every cue is prepared as one clip of exactly its
//! planned length (speech: spoken, resampled to the output rate, cut or
//! padded, faded, set to its gain and peak-limited; sounds: from the
//! palette, at their gain). Cues that sound at the same time (a breath tone
//! under a phrase, a bell under a step's name) form an overlap group, mixed
//! and limited as one clip so they never add up past the peak ceiling. The
//! clips of the groups overlapping the block are added at their planned
//! samples, and the sum goes through a sample-local soft clipper as a last
//! guard. A clip depends on the timeline alone, never on the block that
//! asked for it, so no sample does either. Clips are made on demand and
//! only a few near the play position are kept, so memory does not grow with
//! the session.
//!
//! Making clips is most of the work, so they can be kept between runs in a
//! [`PreparedStore`] (on disk: [`crate::cache::PreparedDir`]), each under a
//! key naming everything it depends on. [`Renderer::prepare`] makes every
//! clip a session needs into the store on all cores before an export
//! writes; the writing then only reads them back.
//!
//! The session gain that lands the export on −16 LUFS is decided in
//! [`Renderer::new`] from the timeline alone ([`crate::sound::gain`]), so
//! the first block can be played at once.
//!
//! The parts: `gain` decides the gain of every clip; `groups` joins cues
//! into overlap groups and mixes them; `clips` makes prepared clips and
//! keeps the recent ones in memory; `store` names them for the
//! [`PreparedStore`] and fills it ahead ([`Renderer::prepare`]).

mod clips;
mod gain;
mod groups;
mod store;

use std::ops::Range;
use std::sync::Arc;

use crate::cache::PreparedStore;
use crate::cancel::Cancel;
use crate::sound::gain::Gains;
use crate::sound::limit;
use crate::sound::palette::{Palette, PaletteError, Sound, SoundBank};
use crate::sound::resample::ResampleError;
use crate::timeline::{CueKind, Lane, RATES, Timeline};
use crate::voice::Voice;
use clips::PreparedClips;
use gain::ClipGains;
use groups::{Groups, cues_where};

pub use store::{PREPARATION_VERSION, speech_key};

/// Why samples could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The voice failed on a phrase.
    #[error(transparent)]
    Voice(#[from] crate::voice::VoiceError),
    /// Rendering was cancelled (Ctrl-C, the player quit).
    #[error("cancelled")]
    Cancelled,
    /// A sound file of the palette could not be used.
    #[error(transparent)]
    Palette(#[from] PaletteError),
    /// A speech clip could not be resampled to the output rate.
    #[error("speech {text:?}: {source}")]
    Resample {
        /// The phrase.
        text: String,
        /// What went wrong.
        source: ResampleError,
    },
    /// The timeline's rate is outside what the renderer supports.
    #[error(
        "cannot render at {rate} Hz: the output rate must be between {} and {} Hz",
        RATES.start(),
        RATES.end()
    )]
    Rate {
        /// The rate asked for.
        rate: u32,
    },
}

/// A session as random-access mono samples at a fixed rate.
///
/// `fill` is deterministic: the samples at a position do not depend on the
/// block sizes used or on the order positions are asked for, so export and
/// live playback give the same samples.
pub trait Samples {
    /// Samples per second.
    fn rate(&self) -> u32;
    /// Length of the session in samples.
    fn total(&self) -> u64;
    /// Writes samples `start .. start + out.len()` into `out`; positions at or
    /// past `total()` are zero.
    fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError>;

    /// Does ahead, on every core, the work `fill` would do on the way (see
    /// [`Renderer::prepare`]); `progress` is told how many of how many
    /// pieces are done. The samples are the same with or without it. By
    /// default there is nothing to do.
    fn prepare(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<(), RenderError> {
        let _ = progress;
        Ok(())
    }
}

/// Fade-in put on every speech clip. Voices trim and fade their own clips;
/// this is the guarantee for any voice.
pub const SPEECH_FADE_IN_SECONDS: f64 = 0.003;
/// Fade-out put on every speech clip.
pub const SPEECH_FADE_OUT_SECONDS: f64 = 0.008;

/// Samples of prepared clips kept in memory by default (16 MB of `f32`): a
/// few minutes at 44.1 kHz, plenty for the clips around the play position.
pub const DEFAULT_CACHE_SAMPLES: usize = 4 << 20;

/// The gain of every clip of a session, decided from its whole timeline
/// ([`Renderer::levels`]). A session played while it is still planned
/// renders each prefix of its timeline with the levels of one whole
/// timeline ([`RenderOptions::levels`]), so the samples of a prefix do not
/// change as it grows.
#[derive(Clone, Debug)]
pub struct Levels(ClipGains);

impl Levels {
    /// The session gain and the loudness it is expected to give.
    pub fn gains(&self) -> &Gains {
        &self.0.session
    }
}

/// Settings of a [`Renderer`] beyond the timeline, voice and palette.
#[derive(Clone)]
pub struct RenderOptions<'a> {
    /// Speech gain relative to the renderer's speech level (the voice
    /// setting `volume`): above 1 the voice stands further over the bells and
    /// tones, below 1 it sits closer. The session still lands on −16 LUFS.
    pub voice_volume: f32,
    /// Once cancelled, a fill or [`Renderer::prepare`] stops early with
    /// [`RenderError::Cancelled`] (Ctrl-C, the player quitting).
    pub cancel: Cancel,
    /// Most samples of prepared clips to keep in memory between fills.
    pub cache_samples: usize,
    /// Where to keep prepared clips between runs, if anywhere.
    pub store: Option<&'a dyn PreparedStore>,
    /// The levels to render at, decided from another timeline; `None`
    /// decides them from the timeline rendered (as an export does). See
    /// [`Levels`].
    pub levels: Option<Levels>,
}

impl std::fmt::Debug for RenderOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("voice_volume", &self.voice_volume)
            .field("cancel", &self.cancel)
            .field("cache_samples", &self.cache_samples)
            .field("store", &self.store.is_some())
            .field("levels", &self.levels.as_ref().map(Levels::gains))
            .finish()
    }
}

impl Default for RenderOptions<'_> {
    fn default() -> Self {
        RenderOptions {
            voice_volume: 1.0,
            cancel: Cancel::new(),
            cache_samples: DEFAULT_CACHE_SAMPLES,
            store: None,
            levels: None,
        }
    }
}

/// The timeline a [`Renderer`] renders: borrowed, or shared with the
/// planner that is still extending it.
enum Rendered<'a> {
    Borrowed(&'a Timeline),
    Shared(Arc<Timeline>),
}

impl std::ops::Deref for Rendered<'_> {
    type Target = Timeline;

    fn deref(&self) -> &Timeline {
        match self {
            Rendered::Borrowed(timeline) => timeline,
            Rendered::Shared(timeline) => timeline,
        }
    }
}

/// Renders a [`Timeline`] into samples at its rate: see the module docs.
pub struct Renderer<'a> {
    timeline: Rendered<'a>,
    voice: &'a dyn Voice,
    bank: SoundBank,
    groups: Groups,
    gains: ClipGains,
    /// The prepared clips near the play position.
    clips: PreparedClips,
    cancel: Cancel,
    store: Option<&'a dyn PreparedStore>,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("title", &self.timeline.title)
            .field("voice", &self.voice)
            .field("gains", &self.gains.session)
            .finish_non_exhaustive()
    }
}

impl<'a> Renderer<'a> {
    /// A renderer for `timeline`, speaking with `voice`, sounding `palette`,
    /// with default options.
    pub fn new(
        timeline: &'a Timeline,
        voice: &'a dyn Voice,
        palette: &Palette,
    ) -> Result<Self, RenderError> {
        Renderer::with_options(timeline, voice, palette, RenderOptions::default())
    }

    /// A renderer with `options`. Cheap: it makes no speech; it reads the
    /// timeline, prepares the palette at the output rate and decides the
    /// session gain.
    pub fn with_options(
        timeline: &'a Timeline,
        voice: &'a dyn Voice,
        palette: &Palette,
        options: RenderOptions<'a>,
    ) -> Result<Self, RenderError> {
        Renderer::of(Rendered::Borrowed(timeline), voice, palette, options)
    }

    /// As [`Renderer::with_options`], for a timeline the renderer keeps a
    /// share of: a prefix of a session still being planned
    /// ([`crate::plan::plan_unfolding`]), rendered with the [`Levels`] of
    /// the whole session in `options`.
    pub fn shared(
        timeline: Arc<Timeline>,
        voice: &'a dyn Voice,
        palette: &Palette,
        options: RenderOptions<'a>,
    ) -> Result<Self, RenderError> {
        Renderer::of(Rendered::Shared(timeline), voice, palette, options)
    }

    fn of(
        timeline: Rendered<'a>,
        voice: &'a dyn Voice,
        palette: &Palette,
        options: RenderOptions<'a>,
    ) -> Result<Self, RenderError> {
        let rate = timeline.rate;
        // The planner checks the same range; a hand-made timeline may not.
        if !RATES.contains(&rate) {
            return Err(RenderError::Rate { rate });
        }
        let bank = palette.at_rate(rate)?;
        let speech = cues_where(&timeline, |c| c.kind == CueKind::Speech);
        let sounds = cues_where(&timeline, |c| {
            c.lane() == Lane::Sound && Sound::for_cue(c.kind).is_some()
        });
        let gains = match options.levels {
            Some(Levels(gains)) => gains,
            None => ClipGains::decide(&timeline, &bank, &speech, &sounds, options.voice_volume),
        };
        Ok(Renderer {
            groups: Groups::new(&timeline, [&speech, &sounds], rate),
            timeline,
            voice,
            bank,
            gains,
            clips: PreparedClips::new(options.cache_samples),
            cancel: options.cancel,
            store: options.store,
        })
    }

    /// The session gain and the loudness it is expected to give.
    pub fn gains(&self) -> &Gains {
        &self.gains.session
    }

    /// The gain of every clip, to render another timeline at: see
    /// [`Levels`].
    pub fn levels(&self) -> Levels {
        Levels(self.gains.clone())
    }

    /// Where this renderer's samples stop being final when its timeline is
    /// a prefix of a session still being planned, with no cue to come
    /// starting before `frontier` ([`crate::plan::Prefix::frontier`]): a
    /// cue to come can join an overlap group that sounds past the frontier,
    /// and the group's mix then changes from its start. Before the sample
    /// returned, every timeline that extends this one renders the same
    /// samples (at the same [`Levels`]).
    pub fn settled_before(&self, frontier: u64) -> u64 {
        self.groups
            .groups
            .iter()
            .filter(|g| g.end > frontier)
            .map(|g| g.start)
            .fold(frontier, u64::min)
    }

    fn check_cancel(&self) -> Result<(), RenderError> {
        if self.cancel.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
        Ok(())
    }

    /// Writes each group's part into `live` (the block from `start` to
    /// `end`), zeros between: for groups that do not overlap one another, so
    /// each sample is one clip's or silence.
    fn copy_apart(
        &mut self,
        groups: &[usize],
        start: u64,
        end: u64,
        live: &mut [f32],
    ) -> Result<(), RenderError> {
        let mut done = 0;
        for &k in groups {
            if let Some((clip, range, at)) = self.group_part(k, start, end)? {
                live[done..at].fill(0.0);
                done = at + range.len();
                // `+ 0.0` as the sum onto silence would: −0 becomes +0.
                for (d, s) in live[at..done].iter_mut().zip(&clip[range]) {
                    *d = s + 0.0;
                }
            }
        }
        live[done..].fill(0.0);
        Ok(())
    }

    /// Adds each group's part into `live` (the block from `start` to `end`)
    /// and bends what went over the knee under the mix ceiling.
    fn mix_overlapping(
        &mut self,
        groups: &[usize],
        start: u64,
        end: u64,
        live: &mut [f32],
    ) -> Result<(), RenderError> {
        live.fill(0.0);
        for &k in groups {
            if let Some((clip, range, at)) = self.group_part(k, start, end)? {
                for (d, s) in live[at..at + range.len()].iter_mut().zip(&clip[range]) {
                    *d += s;
                }
            }
        }
        soft_clip_over_knee(live, self.gains.source_ceiling, self.gains.mix_ceiling);
        Ok(())
    }
}

/// Soft-clips `mix` under `ceiling` where it goes over `knee`.
///
/// Every clip is limited to the knee, so the clipper has work only where
/// clips overlap: a chunk whose loudest sample is under the knee (compared
/// as bits, which order like magnitudes and vectorize) is what the clipper
/// would give back unchanged.
fn soft_clip_over_knee(mix: &mut [f32], knee: f32, ceiling: f32) {
    let knee_bits = knee.to_bits();
    for chunk in mix.chunks_mut(1024) {
        let loudest = chunk
            .iter()
            .fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
        if loudest > knee_bits {
            for v in chunk.iter_mut() {
                *v = limit::soft_clip(*v, knee, ceiling);
            }
        }
    }
}

impl Samples for Renderer<'_> {
    fn rate(&self) -> u32 {
        self.timeline.rate
    }

    fn total(&self) -> u64 {
        self.timeline.total
    }

    fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
        self.check_cancel()?;
        let end = (start.saturating_add(out.len() as u64)).min(self.timeline.total);
        // Past the end: silence.
        let live_len = end.saturating_sub(start) as usize;
        out[live_len..].fill(0.0);
        if start >= end {
            return Ok(());
        }
        let live = &mut out[..(end - start) as usize];
        self.clips.next_fill();
        let groups: Vec<usize> = self.groups.overlapping(start, end).collect();
        // Groups do not overlap one another (but for the pieces of one too
        // long to hold), and every clip is limited to the knee: unless two
        // of this block's groups overlap, each sample is one clip's or
        // silence, and none can be over the knee.
        if self.groups.any_overlap(&groups) {
            self.mix_overlapping(&groups, start, end, live)
        } else {
            self.copy_apart(&groups, start, end, live)
        }
    }

    fn prepare(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<(), RenderError> {
        Renderer::prepare(self, progress)
    }
}

/// The part of a clip that falls in a block: the clip, the range in it, and
/// where that range starts in the block.
type Part = (clips::Prepared, Range<usize>, usize);

/// Copies mono samples into `channels` interleaved channels (the same
/// signal in each): `out` must hold `mono.len() × channels` samples.
///
/// # Panics
///
/// If `out` has the wrong length or `channels` is 0.
pub fn interleave(mono: &[f32], channels: u16, out: &mut [f32]) {
    let channels = usize::from(channels);
    assert!(channels > 0, "interleave: zero channels");
    assert_eq!(
        out.len(),
        mono.len() * channels,
        "interleave: output length"
    );
    for (frame, &v) in out.chunks_exact_mut(channels).zip(mono) {
        frame.fill(v);
    }
}

/// Fills `out` with interleaved frames from `start_frame` on: the session
/// duplicated into `channels` channels (0 is taken as 1; a trailing partial
/// frame is zeroed). `scratch` is reused between calls to hold the mono
/// block.
pub fn fill_interleaved(
    samples: &mut dyn Samples,
    start_frame: u64,
    channels: u16,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) -> Result<(), RenderError> {
    let channels = channels.max(1);
    let frames = out.len() / usize::from(channels);
    scratch.resize(frames, 0.0);
    samples.fill(start_frame, scratch)?;
    let (whole, rest) = out.split_at_mut(frames * usize::from(channels));
    interleave(scratch, channels, whole);
    rest.fill(0.0);
    Ok(())
}

#[cfg(test)]
mod tests;
