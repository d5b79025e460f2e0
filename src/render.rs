//! The renderer: timeline → one stream of samples.
//!
//! [`Renderer`] implements [`Samples`]: any range of the session, in any
//! order, in blocks of any size, always the same samples. Export writes it
//! front to back; the live player renders ahead and seeks on a skip.
//!
//! How a block is made: every cue is prepared as one clip of exactly its
//! planned length (speech: spoken, resampled to the output rate, cut or
//! padded, faded, set to its level and peak-limited; sounds: from the
//! palette, at their level). Cues that sound at the same time (a breath tone
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
//! [`ClipStore`] (on disk: [`crate::voice::DiskClipStore`]), each under a
//! key naming everything it depends on. [`Renderer::prepare`] makes every
//! clip a session needs into the store on all cores before an export
//! writes; the writing then only reads them back.
//!
//! The session gain that lands the export on −16 LUFS is decided in
//! [`Renderer::new`] from the timeline alone ([`crate::sound::level`]), so
//! the first block can be played at once.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sound::level::{self, Levels, Part, Shape};
use crate::sound::palette::{Palette, PaletteError, Sound, SoundBank};
use crate::sound::resample::{self, ResampleError};
use crate::sound::{db_to_amp, fade, limit, loudness, phase, samples_in};
use crate::timeline::{Cue, CueKind, Lane, Timeline};
use crate::voice::Voice;

/// Why samples could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The voice failed on a phrase.
    #[error(transparent)]
    Voice(#[from] crate::voice::VoiceError),
    /// Rendering was interrupted (Ctrl-C, the player quit).
    #[error("interrupted")]
    Interrupted,
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
        "cannot render at {rate} Hz: the output rate must be between {} and {} Hz (--rate)",
        MIN_RATE,
        MAX_RATE
    )]
    Rate {
        /// The rate asked for.
        rate: u32,
    },
}

/// Lowest output rate: the bells and K-weighting need some room above 4 kHz.
pub const MIN_RATE: u32 = 8_000;
/// Highest output rate.
pub const MAX_RATE: u32 = 384_000;

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

/// Most make-up gain a limited speech clip gets to win back the energy its
/// peaks took, in dB.
const MAKEUP_MAX_DB: f64 = 6.0;
/// Rounds of limiting and make-up gain for one clip.
const MAKEUP_ROUNDS: usize = 6;
/// A limited clip within this power ratio (0.1 dB) of its level is done.
const MAKEUP_TOLERANCE: f64 = 1.023;

/// Samples of prepared clips kept by default (16 MB of `f32`): a few
/// minutes at 44.1 kHz, plenty for the clips around the play position.
pub const DEFAULT_CACHE_SAMPLES: usize = 4 << 20;

/// Keeps prepared clips between runs (on disk, say): speech, sounds and the
/// mixes of overlap groups, so rendering a routine again skips speaking,
/// resampling, synthesizing, mixing and limiting.
///
/// A key names everything the clip depends on (see [`speech_key`]); a store
/// gives back exactly the samples saved under it, or nothing.
pub trait ClipStore: Send + Sync {
    /// The samples saved under `key`, if any.
    fn load(&self, key: &str) -> Option<Vec<f32>>;
    /// Saves `samples` under `key`. A store that cannot save just drops them:
    /// the clip is made again next time.
    fn save(&self, key: &str, samples: &[f32]);
    /// Whether `load(key)` would probably give samples, found cheaply (a
    /// damaged entry may still be a miss when loaded).
    fn contains(&self, key: &str) -> bool {
        self.load(key).is_some()
    }
}

/// Version of clip preparation (speech: resampling, phase, fades, level,
/// limiting; sounds: synthesis, level, limiting; the mixing and limiting of
/// overlap groups): part of every [`ClipStore`] key, raised whenever a change
/// would give other samples, so stale clips are never used.
pub const PREPARATION_VERSION: u32 = 4;

/// A [`ClipStore`] key: the hex SHA-256 of `parts`, each length-prefixed so
/// no two different lists join into one string.
fn store_key<S: AsRef<str>>(parts: &[S]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        let part = part.as_ref();
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The [`ClipStore`] key of a prepared speech clip: a SHA-256 (hex) of the
/// preparation version, the voice's identity, the text, the output rate, the
/// clip's planned length and its level.
pub fn speech_key(voice: &str, text: &str, rate: u32, len: u64, level: f64) -> String {
    store_key(&[
        format!("vinyasa speech v{PREPARATION_VERSION}"),
        voice.to_owned(),
        rate.to_string(),
        len.to_string(),
        format!("{:016x}", level.to_bits()),
        text.to_owned(),
    ])
}

/// Settings of a [`Renderer`] beyond the timeline, voice and palette.
#[derive(Clone, Copy)]
pub struct RenderOptions<'a> {
    /// Speech gain relative to the renderer's speech level (the voice
    /// setting `volume`): above 1 the voice stands further over the bells and
    /// tones, below 1 it sits closer. The session still lands on −16 LUFS.
    pub voice_volume: f32,
    /// Set to stop a fill early with [`RenderError::Interrupted`] (Ctrl-C,
    /// the player quitting).
    pub interrupt: Option<&'a AtomicBool>,
    /// Most samples of prepared clips to keep between fills.
    pub cache_samples: usize,
    /// Where to keep prepared clips between runs, if anywhere.
    pub store: Option<&'a dyn ClipStore>,
}

impl std::fmt::Debug for RenderOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("voice_volume", &self.voice_volume)
            .field("interrupt", &self.interrupt)
            .field("cache_samples", &self.cache_samples)
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl Default for RenderOptions<'_> {
    fn default() -> Self {
        RenderOptions {
            voice_volume: 1.0,
            interrupt: None,
            cache_samples: DEFAULT_CACHE_SAMPLES,
            store: None,
        }
    }
}

/// What a prepared clip is: equal keys give equal samples.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ClipKey {
    Speech {
        text: String,
        len: u64,
    },
    Sound {
        sound: Sound,
        len: u64,
    },
    /// The mix of an overlap group, by its index.
    Group(usize),
}

/// A prepared clip, shared between the cache and the block being made. (A
/// `Vec` behind the `Arc`, not a slice: a clip loaded or made as a `Vec`
/// is shared without copying it.)
type Clip = Arc<Vec<f32>>;

struct CacheEntry {
    key: ClipKey,
    samples: Clip,
    last_used: u64,
}

/// Prepared clips, least recently used dropped first.
#[derive(Default)]
struct ClipCache {
    entries: Vec<CacheEntry>,
    held: usize,
    budget: usize,
    /// Counts fills: clips used by the current fill are never dropped.
    clock: u64,
}

impl ClipCache {
    fn get(&mut self, key: &ClipKey) -> Option<Clip> {
        let clock = self.clock;
        self.entries.iter_mut().find(|e| &e.key == key).map(|e| {
            e.last_used = clock;
            Arc::clone(&e.samples)
        })
    }

    fn insert(&mut self, key: ClipKey, samples: Clip) {
        self.held += samples.len();
        self.entries.push(CacheEntry {
            key,
            samples,
            last_used: self.clock,
        });
        while self.held > self.budget {
            let Some((i, _)) = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.last_used < self.clock)
                .min_by_key(|(_, e)| e.last_used)
            else {
                break;
            };
            let gone = self.entries.swap_remove(i);
            self.held -= gone.samples.len();
        }
    }
}

/// Indices of the cues that `keep` selects and that last at least a
/// sample, sorted by start.
fn cues_where(timeline: &Timeline, keep: impl Fn(&Cue) -> bool) -> Vec<usize> {
    let mut cues: Vec<usize> = (0..timeline.cues.len())
        .filter(|&i| timeline.cues[i].len > 0 && keep(&timeline.cues[i]))
        .collect();
    cues.sort_by_key(|&i| timeline.cues[i].start);
    cues
}

/// Longest overlap group mixed and limited as one clip; a longer chain of
/// overlapping cues (unheard of in a real plan) is left to the soft clipper.
const GROUP_MAX_SECONDS: f64 = 60.0;

/// Cues that sound at the same time, mixed and limited together.
#[derive(Debug)]
struct Group {
    start: u64,
    end: u64,
    /// Indices into the timeline's cues.
    cues: Vec<usize>,
}

/// The sounding cues in overlap groups, sorted by start.
struct Groups {
    groups: Vec<Group>,
    /// The longest group, which bounds how far back an overlapping one can
    /// start.
    longest: u64,
}

impl Groups {
    /// Joins the sounding cues of both lanes into groups of cues that
    /// overlap (directly or through one another). Cues that merely touch
    /// (one ends where the next starts) stay apart.
    fn new(timeline: &Timeline, lanes: [&[usize]; 2], rate: u32) -> Self {
        let mut cues: Vec<usize> = lanes.concat();
        cues.sort_by_key(|&i| (timeline.cues[i].start, i));
        let mut groups: Vec<Group> = Vec::new();
        for i in cues {
            let c = &timeline.cues[i];
            match groups.last_mut() {
                Some(g) if c.start < g.end => {
                    g.end = g.end.max(c.end());
                    g.cues.push(i);
                }
                _ => groups.push(Group {
                    start: c.start,
                    end: c.end(),
                    cues: vec![i],
                }),
            }
        }
        // A group too long to hold goes back to single cues.
        let most = samples_in(GROUP_MAX_SECONDS, rate) as u64;
        let groups: Vec<Group> = groups
            .into_iter()
            .flat_map(|g| {
                if g.end - g.start <= most {
                    vec![g]
                } else {
                    g.cues
                        .iter()
                        .map(|&i| Group {
                            start: timeline.cues[i].start,
                            end: timeline.cues[i].end(),
                            cues: vec![i],
                        })
                        .collect()
                }
            })
            .collect();
        let longest = groups.iter().map(|g| g.end - g.start).max().unwrap_or(0);
        Groups { groups, longest }
    }

    /// Indices of the groups overlapping `start .. end`.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = usize> + '_ {
        let earliest = start.saturating_sub(self.longest);
        let first = self.groups.partition_point(|g| g.start < earliest);
        (first..self.groups.len())
            .take_while(move |&k| self.groups[k].start < end)
            .filter(move |&k| self.groups[k].end > start)
    }
}

/// Renders a [`Timeline`] into samples at its rate: see the module docs.
pub struct Renderer<'a> {
    timeline: &'a Timeline,
    voice: &'a dyn Voice,
    bank: SoundBank,
    groups: Groups,
    /// K-weighted mean square each speech clip is set to, session gain
    /// included.
    speech_power: f64,
    /// Gain of each sound over its palette level (the session gain, or less
    /// where the sound reached its limit allowance), by `Sound as usize`.
    sound_gain: [f32; 5],
    levels: Levels,
    source_ceiling: f32,
    mix_ceiling: f32,
    cache: ClipCache,
    interrupt: Option<&'a AtomicBool>,
    store: Option<&'a dyn ClipStore>,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("title", &self.timeline.title)
            .field("voice", &self.voice)
            .field("levels", &self.levels)
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
        let rate = timeline.rate;
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(RenderError::Rate { rate });
        }
        let bank = palette.at_rate(rate)?;
        let speech = cues_where(timeline, |c| c.kind == CueKind::Speech);
        let sounds = cues_where(timeline, |c| {
            c.lane() == Lane::Sound && Sound::for_cue(c.kind).is_some()
        });

        let volume = f64::from(options.voice_volume.max(0.0));
        let speech_power = loudness::lufs_to_power(level::SPEECH_LUFS) * volume * volume;
        let source_ceiling = db_to_amp(level::SOURCE_CEILING_DBFS);

        // The loudness prediction: speech as its level over its cue, each
        // sound as its measured profile.
        // A thread a sound: each profile renders and measures its sound.
        let profiles: [Option<level::Profile>; 5] = Sound::each_on_a_thread(|sound| {
            let longest = sounds
                .iter()
                .map(|&i| &timeline.cues[i])
                .filter(|c| Sound::for_cue(c.kind) == Some(sound))
                .map(|c| c.len)
                .max()?;
            Some(bank.profile(sound, usize::try_from(longest).unwrap_or(usize::MAX)))
        });
        let speech_parts = speech.iter().map(|&i| {
            let c = &timeline.cues[i];
            Part {
                group: 0,
                start: c.start,
                len: c.len,
                shape: Shape::Uniform(speech_power),
            }
        });
        let sound_parts = sounds.iter().filter_map(|&i| {
            let c = &timeline.cues[i];
            let sound = Sound::for_cue(c.kind)?;
            Some(Part {
                group: 1 + sound as usize,
                start: c.start,
                len: c.len,
                shape: Shape::Profile(profiles[sound as usize].as_ref()?),
            })
        });
        let mut caps = [f64::INFINITY; level::GROUPS];
        // The cap is on the speech's final level, whatever the voice volume.
        caps[0] = db_to_amp(level::SPEECH_MAX_BOOST_DB) / volume.max(1e-3);
        for sound in Sound::ALL {
            let peak = bank.peak(sound);
            if peak > 0.0 {
                caps[1 + sound as usize] =
                    source_ceiling / peak * db_to_amp(sound.limit_allowance_db());
            }
        }
        let levels = level::decide(timeline.total, rate, speech_parts.chain(sound_parts), caps);

        let mut sound_gain = [0.0f32; 5];
        for sound in Sound::ALL {
            sound_gain[sound as usize] = db_to_amp(levels.group_gain_db[1 + sound as usize]) as f32;
        }
        Ok(Renderer {
            timeline,
            voice,
            bank,
            groups: Groups::new(timeline, [&speech, &sounds], rate),
            speech_power: speech_power * db_to_amp(2.0 * levels.group_gain_db[0]),
            sound_gain,
            levels,
            source_ceiling: source_ceiling as f32,
            mix_ceiling: db_to_amp(level::MIX_CEILING_DBFS) as f32,
            cache: ClipCache {
                entries: Vec::new(),
                held: 0,
                budget: options.cache_samples,
                clock: 0,
            },
            interrupt: options.interrupt,
            store: options.store,
        })
    }

    /// The session gain and the loudness it is expected to give.
    pub fn levels(&self) -> &Levels {
        &self.levels
    }

    fn check_interrupt(&self) -> Result<(), RenderError> {
        match self.interrupt {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(RenderError::Interrupted),
            _ => Ok(()),
        }
    }

    /// The cache key of the cue at `index`: equal keys, equal samples.
    fn cue_key(&self, index: usize) -> ClipKey {
        let cue = &self.timeline.cues[index];
        match Sound::for_cue(cue.kind) {
            Some(sound) => ClipKey::Sound {
                sound,
                len: cue.len,
            },
            None => ClipKey::Speech {
                text: cue.text.clone(),
                len: cue.len,
            },
        }
    }

    /// Makes the clip of the cue at `index` (no cache).
    fn make_cue_clip(&self, index: usize) -> Result<Vec<f32>, RenderError> {
        self.check_interrupt()?;
        let cue = &self.timeline.cues[index];
        let len = usize::try_from(cue.len).unwrap_or(usize::MAX);
        match Sound::for_cue(cue.kind) {
            Some(sound) => {
                let gain = self.sound_gain[sound as usize];
                let mut x = self.bank.render(sound, len);
                x.iter_mut().for_each(|v| *v *= gain);
                limit::limit(&mut x, self.source_ceiling, self.timeline.rate);
                Ok(x)
            }
            None => self.stored_speech_clip(&cue.text, len),
        }
    }

    /// The prepared clip of overlap group `k`, starting at the group's
    /// start, from the cache or made now. A group of one cue is that cue's
    /// clip (cached by content, so a repeated phrase is made once); the
    /// clips of a larger group are mixed and limited together, so cues that
    /// sound at once never add up past the ceiling.
    fn group_clip(&mut self, k: usize) -> Result<Clip, RenderError> {
        let group = &self.groups.groups[k];
        let key = match group.cues.as_slice() {
            [one] => self.cue_key(*one),
            _ => ClipKey::Group(k),
        };
        if let Some(samples) = self.cache.get(&key) {
            return Ok(samples);
        }
        // The store keeps every group's clip (a lone phrase is kept under its
        // own key by `stored_speech_clip`), so a second export only adds.
        let stored = match self.store {
            Some(store) if self.lone_phrase(k).is_none() => Some((store, self.group_store_key(k))),
            _ => None,
        };
        let most = (group.end - group.start) as usize;
        if let Some((store, name)) = &stored
            && let Some(samples) = store.load(name).filter(|s| s.len() <= most)
        {
            let samples = Arc::new(samples);
            self.cache.insert(key, Arc::clone(&samples));
            return Ok(samples);
        }
        // Members are kept too: the same breath tone or bell under many
        // phrases is made once. (The cache is moved out while `mix_group`
        // borrows the renderer, and back after.)
        let mut members = std::mem::take(&mut self.cache);
        let mixed = self.mix_group(k, |i| {
            let key = self.cue_key(i);
            if let Some(clip) = members.get(&key) {
                return Ok(clip);
            }
            let clip = Arc::new(self.make_cue_clip(i)?);
            members.insert(key, Arc::clone(&clip));
            Ok(clip)
        });
        self.cache = members;
        let samples = Arc::new(mixed?);
        if let Some((store, name)) = stored {
            store.save(&name, &samples);
        }
        self.cache.insert(key, Arc::clone(&samples));
        Ok(samples)
    }

    /// The [`ClipStore`] key of group `k`'s clip: every member's own key
    /// and offset, the rate and the ceiling the mix is limited to.
    fn group_store_key(&self, k: usize) -> String {
        let group = &self.groups.groups[k];
        let rate = self.timeline.rate;
        let mut parts = vec![
            format!("vinyasa group v{PREPARATION_VERSION}"),
            rate.to_string(),
            format!("{:08x}", self.source_ceiling.to_bits()),
        ];
        for &i in &group.cues {
            let cue = &self.timeline.cues[i];
            parts.push((cue.start - group.start).to_string());
            parts.push(match Sound::for_cue(cue.kind) {
                Some(sound) => format!(
                    "{} {} {} {:08x}",
                    sound.name(),
                    self.bank.identity(sound),
                    cue.len,
                    self.sound_gain[sound as usize].to_bits()
                ),
                None => self.speech_store_key(&cue.text, cue.len),
            });
        }
        store_key(&parts)
    }

    /// The store key of what group `k`'s clip is kept under: a lone
    /// phrase's own [`speech_key`], or [`Renderer::group_store_key`].
    fn stored_key(&self, k: usize) -> String {
        match self.lone_phrase(k) {
            Some(cue) => self.speech_store_key(&cue.text, cue.len),
            None => self.group_store_key(k),
        }
    }

    /// The phrase that is group `k`'s only cue, if it is one: kept in the
    /// store as speech, under its own key.
    fn lone_phrase(&self, k: usize) -> Option<&Cue> {
        match self.groups.groups[k].cues.as_slice() {
            [one] => Some(&self.timeline.cues[*one]).filter(|c| c.kind == CueKind::Speech),
            _ => None,
        }
    }

    fn speech_store_key(&self, text: &str, len: u64) -> String {
        speech_key(
            &self.voice.identity(),
            text,
            self.timeline.rate,
            len,
            self.speech_power,
        )
    }

    /// Prepares every clip the session needs (speaking, resampling, levels,
    /// limiting, mixing the groups) into the store, on all cores, so that
    /// rendering afterwards only reads them back: what a cold export spends
    /// most of its time on, spread over the machine. Clips already stored
    /// are left alone, so a warm export pays a file lookup per clip. Without
    /// a store it does nothing: there is nowhere to keep the clips, and
    /// `fill` makes them as it goes. The samples are the same either way.
    ///
    /// `progress(done, all)` is called after each clip, from any thread.
    pub fn prepare(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<(), RenderError> {
        let Some(store) = self.store else {
            return Ok(());
        };
        // One piece of work per distinct clip, the longest first: the
        // threads finish together.
        let mut seen = std::collections::HashSet::new();
        let mut work: Vec<(usize, String)> = (0..self.groups.groups.len())
            .map(|k| (k, self.stored_key(k)))
            .filter(|(_, key)| seen.insert(key.clone()))
            .filter(|(_, key)| !store.contains(key))
            .collect();
        let groups = &self.groups.groups;
        work.sort_by_key(|&(k, _)| std::cmp::Reverse(groups[k].end - groups[k].start));
        let done = std::sync::atomic::AtomicUsize::new(0);
        let sounds = SoundClips::default();
        crate::cores::each(work.len(), |i| {
            let (k, key) = &work[i];
            self.prepare_group(*k, key, store, &sounds)?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, work.len());
            Ok(())
        })
    }

    /// Makes group `k`'s clip and saves it under `key` (see
    /// [`Renderer::prepare`]); its sounds come from `sounds` when made
    /// before.
    fn prepare_group(
        &self,
        k: usize,
        key: &str,
        store: &dyn ClipStore,
        sounds: &SoundClips,
    ) -> Result<(), RenderError> {
        self.check_interrupt()?;
        let clip = match self.lone_phrase(k) {
            Some(cue) => {
                let len = usize::try_from(cue.len).unwrap_or(usize::MAX);
                self.speech_clip(&cue.text, len)?
            }
            None => self.mix_group(k, |i| match self.cue_key(i) {
                key @ ClipKey::Sound { .. } => sounds.get_or_make(key, || self.make_cue_clip(i)),
                _ => self.make_cue_clip(i).map(Arc::new),
            })?,
        };
        store.save(key, &clip);
        Ok(())
    }

    /// The mix of group `k`'s members (each from `clip`), limited, with
    /// trailing silence cut: past a clip's end it adds nothing.
    fn mix_group(
        &self,
        k: usize,
        mut clip: impl FnMut(usize) -> Result<Clip, RenderError>,
    ) -> Result<Vec<f32>, RenderError> {
        let group = &self.groups.groups[k];
        let mut mix = match group.cues.as_slice() {
            [one] => clip(*one)?.to_vec(),
            cues => {
                let mut mix = vec![0.0f32; (group.end - group.start) as usize];
                for &i in cues {
                    let at = (self.timeline.cues[i].start - group.start) as usize;
                    for (m, c) in mix[at..].iter_mut().zip(clip(i)?.iter()) {
                        *m += c;
                    }
                }
                limit::limit(&mut mix, self.source_ceiling, self.timeline.rate);
                mix
            }
        };
        let end = mix
            .iter()
            .rposition(|&v| v != 0.0)
            .map_or(0, |last| last + 1);
        mix.truncate(end);
        mix.shrink_to_fit();
        Ok(mix)
    }

    /// [`Renderer::speech_clip`], from the store when it has it.
    fn stored_speech_clip(&self, text: &str, len: usize) -> Result<Vec<f32>, RenderError> {
        let Some(store) = self.store else {
            return self.speech_clip(text, len);
        };
        let key = self.speech_store_key(text, len as u64);
        if let Some(samples) = store.load(&key).filter(|s| s.len() == len) {
            return Ok(samples);
        }
        let samples = self.speech_clip(text, len)?;
        store.save(&key, &samples);
        Ok(samples)
    }

    /// Speaks `text` into exactly `len` samples at the output rate, at the
    /// speech level, peaks limited.
    fn speech_clip(&self, text: &str, len: usize) -> Result<Vec<f32>, RenderError> {
        let rate = self.timeline.rate;
        let mut clip = self.voice.speak(text)?;
        // At the voice's own rate: fewer samples, same effect.
        phase::rotate(&mut clip.samples, clip.rate.max(1));
        let resampled = resample::resample(&clip.samples, clip.rate, rate).map_err(|source| {
            RenderError::Resample {
                text: text.to_owned(),
                source,
            }
        })?;
        let content = resampled.len().min(len);
        let mut x = resample::fit(resampled, len, rate);
        let body = &mut x[..content];
        fade::fade_edges(
            body,
            samples_in(SPEECH_FADE_IN_SECONDS, rate),
            samples_in(SPEECH_FADE_OUT_SECONDS, rate),
        );
        // Set the spoken part (not any padding) to the speech level with its
        // peaks under the ceiling. Limiting takes energy with the peaks (a
        // lot, for buzzy synthetic speech), so the gain is corrected until
        // the limited clip has its level: the loudness prediction counts on it.
        let power = loudness::mean_power(body, rate);
        if self.speech_power <= 0.0 {
            // Voice volume 0: the phrases keep their time, in silence.
            body.fill(0.0);
        } else if power > 0.0 {
            let original = body.to_vec();
            let limiter = limit::Limiter::new(&original, rate);
            let target = self.speech_power;
            let mut gain = (target / power).sqrt();
            let most = gain * db_to_amp(MAKEUP_MAX_DB);
            // Secant steps on log power against log gain.
            let mut last: Option<(f64, f64)> = None;
            for _ in 0..MAKEUP_ROUNDS {
                let reduction = limiter.apply(&original, gain as f32, self.source_ceiling, body);
                let got = loudness::mean_power(body, rate);
                let miss = (target / got).ln();
                if miss.abs() <= MAKEUP_TOLERANCE.ln() || (miss > 0.0 && gain >= most) {
                    break;
                }
                // Unlimited, power goes with the square of the gain; once the
                // limiter works, more slowly: measured from the last step.
                let slope = match last {
                    Some((g0, p0)) if (gain.ln() - g0).abs() > 1e-9 => {
                        ((got.ln() - p0) / (gain.ln() - g0)).clamp(0.1, 2.0)
                    }
                    _ if reduction < 0.0 => 1.0,
                    _ => 2.0,
                };
                last = Some((gain.ln(), got.ln()));
                gain = (gain.ln() + miss / slope).exp().min(most);
            }
        }
        Ok(x)
    }

    /// Group `k`'s clip and the part of it that falls in `start .. end`:
    /// the range in the clip and where that range starts in a block from
    /// `start`. `None` when nothing of it sounds there (the clip may be
    /// shorter than its group: it was trimmed of trailing silence).
    fn group_part(
        &mut self,
        k: usize,
        start: u64,
        end: u64,
    ) -> Result<Option<(Clip, Range<usize>, usize)>, RenderError> {
        let clip = self.group_clip(k)?;
        let group_start = self.groups.groups[k].start;
        let from = group_start.max(start);
        let to = (group_start + clip.len() as u64).min(end);
        if from >= to {
            return Ok(None);
        }
        let range = (from - group_start) as usize..(to - group_start) as usize;
        Ok(Some((clip, range, (from - start) as usize)))
    }
}

/// Sound clips [`Renderer::prepare`]'s threads share: the same breath tone
/// under many phrases is made once. Up to [`SOUND_CLIPS_SAMPLES`] in all;
/// past that, clips are made each time.
#[derive(Default)]
struct SoundClips(std::sync::Mutex<(Vec<(ClipKey, Clip)>, usize)>);

/// Samples [`SoundClips`] holds at most (8 MB of `f32`): a session's few
/// distinct breath tones and bells many times over.
const SOUND_CLIPS_SAMPLES: usize = 2 << 20;

impl SoundClips {
    /// The clip under `key`, made by `make` if it is not held (two threads
    /// may both make it; they make the same samples).
    fn get_or_make(
        &self,
        key: ClipKey,
        make: impl FnOnce() -> Result<Vec<f32>, RenderError>,
    ) -> Result<Clip, RenderError> {
        let held = |clips: &(Vec<(ClipKey, Clip)>, usize)| {
            clips
                .0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, c)| Arc::clone(c))
        };
        if let Some(clip) = held(&self.0.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(clip);
        }
        let clip = Arc::new(make()?);
        let mut clips = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if held(&clips).is_none() && clips.1 + clip.len() <= SOUND_CLIPS_SAMPLES {
            clips.1 += clip.len();
            clips.0.push((key, Arc::clone(&clip)));
        }
        Ok(clip)
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
        self.check_interrupt()?;
        let end = (start.saturating_add(out.len() as u64)).min(self.timeline.total);
        // Past the end: silence.
        let live_len = end.saturating_sub(start) as usize;
        out[live_len..].fill(0.0);
        if start >= end {
            return Ok(());
        }
        let live = &mut out[..(end - start) as usize];
        self.cache.clock += 1;
        let groups: Vec<usize> = self.groups.overlapping(start, end).collect();
        // Groups do not overlap one another (but for the pieces of one too
        // long to hold), and every clip is limited to the knee: unless two
        // of this block's groups overlap, each sample is one clip's or
        // silence, and none can be over the knee.
        let overlap = groups.windows(2).any(|w| {
            let (a, b) = (&self.groups.groups[w[0]], &self.groups.groups[w[1]]);
            b.start < a.end
        });
        if !overlap {
            // One pass: each clip's part in place, zeros between.
            let mut done = 0;
            for &k in &groups {
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
            return Ok(());
        }
        live.fill(0.0);
        for &k in &groups {
            if let Some((clip, range, at)) = self.group_part(k, start, end)? {
                for (d, s) in live[at..at + range.len()].iter_mut().zip(&clip[range]) {
                    *d += s;
                }
            }
        }
        let (knee, ceiling) = (self.source_ceiling, self.mix_ceiling);
        // Every clip is limited to the knee, so the clipper has work only
        // where clips overlap: a chunk whose loudest sample is under the knee
        // (compared as bits, which order like magnitudes and vectorize) is
        // what the clipper would give back unchanged.
        let knee_bits = knee.to_bits();
        for chunk in live.chunks_mut(1024) {
            let loudest = chunk
                .iter()
                .fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
            if loudest > knee_bits {
                for v in chunk.iter_mut() {
                    *v = limit::soft_clip(*v, knee, ceiling);
                }
            }
        }
        Ok(())
    }

    fn prepare(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<(), RenderError> {
        Renderer::prepare(self, progress)
    }
}

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
