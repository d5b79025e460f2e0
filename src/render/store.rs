//! The renderer's side of the [`PreparedStore`]: the key each prepared clip
//! is kept under, and [`Renderer::prepare`], which fills the store on all
//! cores before an export writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::clips::{PreparedKey, SharedSounds};
use super::{RenderError, Renderer};
use crate::cache::PreparedStore;
use crate::sound::palette::Sound;
use crate::timeline::{Cue, CueKind};

/// Version of clip preparation (speech: resampling, phase rotation, fades,
/// gain, limiting; sounds: synthesis, gain, limiting; the mixing and
/// limiting of overlap groups): part of every [`PreparedStore`] key, raised
/// whenever a change would give other samples, so stale clips are never
/// used. The golden-audio test (`tests/golden.rs`) fails when the samples
/// change and this does not.
pub const PREPARATION_VERSION: u32 = 5;

/// A [`PreparedStore`] key: the hex SHA-256 of `parts`, each
/// length-prefixed so no two different lists join into one string.
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

/// The [`PreparedStore`] key of a prepared speech clip: a SHA-256 (hex) of
/// the preparation version, the voice's identity, the text, the output
/// rate, the clip's planned length and its power.
pub fn speech_key(voice: &str, text: &str, rate: u32, len: u64, power: f64) -> String {
    store_key(&[
        format!("vinyasa speech v{PREPARATION_VERSION}"),
        voice.to_owned(),
        rate.to_string(),
        len.to_string(),
        format!("{:016x}", power.to_bits()),
        text.to_owned(),
    ])
}

impl Renderer<'_> {
    /// The [`PreparedStore`] key of group `k`'s clip: every member's own key
    /// and offset, the rate and the ceiling the mix is limited to.
    pub(super) fn group_store_key(&self, k: usize) -> String {
        let group = &self.groups.groups[k];
        let rate = self.timeline.rate;
        let mut parts = vec![
            format!("vinyasa group v{PREPARATION_VERSION}"),
            rate.to_string(),
            format!("{:08x}", self.gains.source_ceiling.to_bits()),
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
                    self.gains.sound[sound as usize].to_bits()
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
    pub(super) fn lone_phrase(&self, k: usize) -> Option<&Cue> {
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
            self.gains.speech_power,
        )
    }

    /// Prepares every clip the session needs (speaking, resampling, gains,
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
        let done = AtomicUsize::new(0);
        let sounds = SharedSounds::default();
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
        store: &dyn PreparedStore,
        sounds: &SharedSounds,
    ) -> Result<(), RenderError> {
        self.check_cancel()?;
        let clip = match self.lone_phrase(k) {
            Some(cue) => {
                let len = usize::try_from(cue.len).unwrap_or(usize::MAX);
                self.speech_clip(&cue.text, len)?
            }
            None => self.mix_group(k, |i| match self.cue_key(i) {
                key @ PreparedKey::Sound { .. } => {
                    sounds.get_or_make(key, || self.make_cue_clip(i))
                }
                _ => self.make_cue_clip(i).map(Arc::new),
            })?,
        };
        store.save(key, &clip);
        Ok(())
    }

    /// [`Renderer::speech_clip`], from the store when it has it.
    pub(super) fn stored_speech_clip(
        &self,
        text: &str,
        len: usize,
    ) -> Result<Vec<f32>, RenderError> {
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
}
