//! The renderer: timeline → one stream of samples.
//!
//! (Interface fixed here so the writer and the player can be built against
//! it; the implementation arrives with the export issue.)

/// Why samples could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The voice failed on a phrase.
    #[error(transparent)]
    Voice(#[from] crate::voice::VoiceError),
    /// Rendering was interrupted (Ctrl-C, the player quit).
    #[error("interrupted")]
    Interrupted,
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
}
