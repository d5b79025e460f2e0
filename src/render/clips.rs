//! Prepared clips: every cue made once at its planned length, gain and
//! ceiling, and the mixes of overlap groups; the recent ones kept in memory
//! ([`PreparedClips`]), the sounds shared while preparing on all cores
//! ([`SharedSounds`]).

use std::sync::{Arc, Mutex};

use super::gain::set_speech_power;
use super::{Part, RenderError, Renderer, SPEECH_FADE_IN_SECONDS, SPEECH_FADE_OUT_SECONDS};
use crate::sound::palette::Sound;
use crate::sound::{fade, limit, resample, rotation, samples_in};

/// What a prepared clip is: equal keys give equal samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PreparedKey {
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

/// A prepared clip, shared between the memory cache and the block being
/// made. (A `Vec` behind the `Arc`, not a slice: a clip loaded or made as a
/// `Vec` is shared without copying it.)
pub(super) type Prepared = Arc<Vec<f32>>;

struct Entry {
    key: PreparedKey,
    samples: Prepared,
    last_used: u64,
}

/// Prepared clips in memory, least recently used dropped first, within a
/// budget of samples.
#[derive(Default)]
pub(super) struct PreparedClips {
    entries: Vec<Entry>,
    /// Samples held.
    pub(super) held: usize,
    budget: usize,
    /// Counts fills: clips used by the current fill are never dropped.
    clock: u64,
}

impl PreparedClips {
    /// An empty cache that holds up to `budget` samples (more while one
    /// fill needs more).
    pub(super) fn new(budget: usize) -> PreparedClips {
        PreparedClips {
            budget,
            ..PreparedClips::default()
        }
    }

    /// Starts a fill: what it uses is kept through it.
    pub(super) fn next_fill(&mut self) {
        self.clock += 1;
    }

    pub(super) fn get(&mut self, key: &PreparedKey) -> Option<Prepared> {
        let clock = self.clock;
        self.entries.iter_mut().find(|e| &e.key == key).map(|e| {
            e.last_used = clock;
            Arc::clone(&e.samples)
        })
    }

    pub(super) fn insert(&mut self, key: PreparedKey, samples: Prepared) {
        self.held += samples.len();
        self.entries.push(Entry {
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

/// Sound clips [`Renderer::prepare`]'s threads share: the same breath tone
/// under many phrases is made once. Up to [`SHARED_SOUNDS_SAMPLES`] in all;
/// past that, clips are made each time.
#[derive(Default)]
pub(super) struct SharedSounds(Mutex<(Vec<(PreparedKey, Prepared)>, usize)>);

/// Samples [`SharedSounds`] holds at most (8 MB of `f32`): a session's few
/// distinct breath tones and bells many times over.
pub(super) const SHARED_SOUNDS_SAMPLES: usize = 2 << 20;

impl SharedSounds {
    /// The clip under `key`, made by `make` if it is not held (two threads
    /// may both make it; they make the same samples).
    pub(super) fn get_or_make(
        &self,
        key: PreparedKey,
        make: impl FnOnce() -> Result<Vec<f32>, RenderError>,
    ) -> Result<Prepared, RenderError> {
        let held = |clips: &(Vec<(PreparedKey, Prepared)>, usize)| {
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
        if held(&clips).is_none() && clips.1 + clip.len() <= SHARED_SOUNDS_SAMPLES {
            clips.1 += clip.len();
            clips.0.push((key, Arc::clone(&clip)));
        }
        Ok(clip)
    }
}

impl Renderer<'_> {
    /// The key of the cue at `index`'s clip: equal keys, equal samples.
    pub(super) fn cue_key(&self, index: usize) -> PreparedKey {
        let cue = &self.timeline.cues[index];
        match Sound::for_cue(cue.kind) {
            Some(sound) => PreparedKey::Sound {
                sound,
                len: cue.len,
            },
            None => PreparedKey::Speech {
                text: cue.text.clone(),
                len: cue.len,
            },
        }
    }

    /// Makes the clip of the cue at `index` (a phrase from the store when it
    /// has it; nothing from memory).
    pub(super) fn make_cue_clip(&self, index: usize) -> Result<Vec<f32>, RenderError> {
        self.check_cancel()?;
        let cue = &self.timeline.cues[index];
        let len = usize::try_from(cue.len).unwrap_or(usize::MAX);
        match Sound::for_cue(cue.kind) {
            Some(sound) => {
                let gain = self.gains.sound[sound as usize];
                let mut x = self.bank.render(sound, len);
                x.iter_mut().for_each(|v| *v *= gain);
                limit::limit(&mut x, self.gains.source_ceiling, self.timeline.rate);
                Ok(x)
            }
            None => self.stored_speech_clip(&cue.text, len),
        }
    }

    /// Speaks `text` into exactly `len` samples at the output rate, at the
    /// speech power, peaks limited.
    pub(super) fn speech_clip(&self, text: &str, len: usize) -> Result<Vec<f32>, RenderError> {
        let rate = self.timeline.rate;
        // As a batch of one so that the voice sees the stop flag: flite
        // gives up a long phrase at once rather than finish it.
        let mut clip = crate::voice::one(|done| {
            self.voice.speak_batch(&[text], &self.cancel, done);
        })
        .ok_or(RenderError::Cancelled)??;
        // At the voice's own rate: fewer samples, same effect.
        rotation::rotate(&mut clip.samples, clip.rate.max(1));
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
        // The spoken part, not any padding.
        set_speech_power(
            body,
            rate,
            self.gains.speech_power,
            self.gains.source_ceiling,
        );
        Ok(x)
    }

    /// The prepared clip of overlap group `k`, starting at the group's
    /// start, from memory, the store, or made now. A group of one cue is
    /// that cue's clip (kept by content, so a repeated phrase is made once);
    /// the clips of a larger group are mixed and limited together, so cues
    /// that sound at once never add up past the ceiling.
    fn group_clip(&mut self, k: usize) -> Result<Prepared, RenderError> {
        let key = match self.groups.groups[k].cues.as_slice() {
            [one] => self.cue_key(*one),
            _ => PreparedKey::Group(k),
        };
        if let Some(samples) = self.clips.get(&key) {
            return Ok(samples);
        }
        let samples = Arc::new(self.stored_or_mixed_group(k)?);
        self.clips.insert(key, Arc::clone(&samples));
        Ok(samples)
    }

    /// Group `k`'s clip from the store, or mixed now and saved there. The
    /// store keeps every group's clip (a lone phrase is kept under its own
    /// key by `stored_speech_clip`), so a second export only adds.
    fn stored_or_mixed_group(&mut self, k: usize) -> Result<Vec<f32>, RenderError> {
        let stored = match self.store {
            Some(store) if self.lone_phrase(k).is_none() => Some((store, self.group_store_key(k))),
            _ => None,
        };
        let group = &self.groups.groups[k];
        let most = (group.end - group.start) as usize;
        if let Some((store, name)) = &stored
            && let Some(samples) = store.load(name).filter(|s| s.len() <= most)
        {
            return Ok(samples);
        }
        let mixed = self.mix_group_keeping_members(k)?;
        if let Some((store, name)) = stored {
            store.save(&name, &mixed);
        }
        Ok(mixed)
    }

    /// Group `k`'s mix, its members kept in memory too: the same breath
    /// tone or bell under many phrases is made once. (The cache is moved
    /// out while `mix_group` borrows the renderer, and back after.)
    fn mix_group_keeping_members(&mut self, k: usize) -> Result<Vec<f32>, RenderError> {
        let mut members = std::mem::take(&mut self.clips);
        let mixed = self.mix_group(k, |i| {
            let key = self.cue_key(i);
            if let Some(clip) = members.get(&key) {
                return Ok(clip);
            }
            let clip = Arc::new(self.make_cue_clip(i)?);
            members.insert(key, Arc::clone(&clip));
            Ok(clip)
        });
        self.clips = members;
        mixed
    }

    /// Group `k`'s clip and the part of it that falls in `start .. end`.
    /// `None` when nothing of it sounds there (the clip may be shorter than
    /// its group: it was trimmed of trailing silence).
    pub(super) fn group_part(
        &mut self,
        k: usize,
        start: u64,
        end: u64,
    ) -> Result<Option<Part>, RenderError> {
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
