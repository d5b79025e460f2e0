//! The extension point for audio file formats: what an encoder is told
//! about a session before its first sample ([`StreamSpec`], [`Metadata`]),
//! how it is fed ([`Block`]s, through [`Encoder`]), and the list of formats
//! ([`Format`]).
//!
//! Adding a format is one module with a type implementing [`Encoder`] over
//! any [`Write`] (or `Write + Seek`, for a format that patches its header
//! at the end), a function that refuses streams the format cannot hold
//! (see [`Unsupported`]), and one variant of [`Format`] with its extension
//! and those two. [`super::audio`] does the rest the same way for every
//! format: rendering in blocks, the 16-bit conversion, loudness metering on
//! another thread, cancellation, and the atomic write.
//!
//! The protocol, for every encoder:
//!
//! 1. [`Encoder::new`] gets the writer, the [`StreamSpec`] and the
//!    [`Metadata`], all known before any sample is rendered, so tags that go
//!    first (ID3v2) can be written first;
//! 2. [`Encoder::write`] gets the session's blocks, front to back, exactly
//!    [`StreamSpec::total_frames`] frames in all;
//! 3. [`Encoder::finish`] writes what goes last (WAV markers, a patched
//!    header, a flushed codec delay) and gives the writer back.
//!
//! Any error stops the write; the partial output is thrown away by the
//! caller, so an encoder need not clean up after itself.

use std::io::{self, Write};
use std::path::Path;

use crate::timeline::Timeline;

/// The shape of the audio an encoder gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// Frames per second.
    pub rate: u32,
    /// Channels in the file: the session is one channel; with 2 it is
    /// written to both, each 3 dB down (see [`Block`]).
    pub channels: u16,
    /// Length of the session in frames (samples per channel).
    pub total_frames: u64,
}

impl StreamSpec {
    /// Refuses, for a format's `check`, a stream of other than 1 or 2
    /// channels, or at a rate the format does not hold (`holds`); `hint`
    /// names the rates it takes.
    pub(crate) fn mono_or_stereo_at(
        &self,
        holds: impl Fn(u32) -> bool,
        hint: &'static str,
    ) -> Result<(), Unsupported> {
        if !(1..=2).contains(&self.channels) {
            return Err(Unsupported::Channels {
                channels: self.channels,
            });
        }
        if !holds(self.rate) {
            return Err(Unsupported::Rate {
                rate: self.rate,
                hint,
            });
        }
        Ok(())
    }
}

/// What a file says about its session besides the audio: tags and
/// chapters. All of it is known before the first sample is rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The routine's title.
    pub title: String,
    /// Who the sequence comes from (the routine's `credit`), as the artist.
    pub artist: Option<String>,
    /// The album, or the encoder's name where a format has that tag.
    pub album: String,
    /// The routine's description, as a comment.
    pub comment: Option<String>,
    /// One chapter per step, in order.
    pub chapters: Vec<Chapter>,
    /// The spoken words, in order, with their times: the lyrics, for a
    /// player that shows them.
    pub lyrics: Vec<Lyric>,
}

/// A named part of the session: one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chapter {
    /// First frame.
    pub start_frame: u64,
    /// Frame after the last.
    pub end_frame: u64,
    /// What a player or editor shows for it: the step's name.
    pub title: String,
}

/// One phrase of speech: its words, on one line, and when they are spoken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lyric {
    /// First frame of the phrase.
    pub start_frame: u64,
    /// Frame after the phrase's last.
    pub end_frame: u64,
    /// The words, whitespace collapsed to single spaces; never empty.
    pub text: String,
}

/// The name the files carry as their album or encoder.
pub const ENCODER_NAME: &str = "vinyasa";

impl Metadata {
    /// What the timeline says: the title, a chapter per step, the spoken
    /// words, and [`ENCODER_NAME`] as the album. The routine's credit and
    /// description (`artist`, `comment`) are not in a timeline; whoever has
    /// the routine fills them in.
    pub fn from_timeline(timeline: &Timeline) -> Metadata {
        Metadata {
            title: timeline.title.clone(),
            artist: None,
            album: ENCODER_NAME.into(),
            comment: None,
            chapters: timeline
                .steps
                .iter()
                .map(|s| Chapter {
                    start_frame: s.start,
                    end_frame: s.end,
                    title: s.name.clone(),
                })
                .collect(),
            lyrics: Lyric::from_timeline(timeline),
        }
    }
}

impl Lyric {
    /// Every speech cue of `timeline` with words, as one line each, from
    /// its first sample to its end. Cues of other kinds (silence, bells,
    /// breath tones) have no words and are left out, as are cues whose
    /// text is only whitespace.
    pub fn from_timeline(timeline: &Timeline) -> Vec<Lyric> {
        timeline
            .speech()
            .filter_map(|cue| {
                // One line: a player wraps it.
                let text = cue.text.split_whitespace().collect::<Vec<_>>().join(" ");
                (!text.is_empty()).then(|| Lyric {
                    start_frame: cue.start,
                    end_frame: cue.end(),
                    text,
                })
            })
            .collect()
    }
}

/// A block of the session, as an encoder gets it: the same samples as
/// floats and as 16-bit integers, one channel, already at the level of each
/// channel of the file (with 2 channels, 3 dB down, so the file measures
/// as loud as the mono one).
///
/// An encoder writes whichever it works in, to each of
/// [`StreamSpec::channels`]. The 16-bit samples are what the loudness in
/// the summary is measured on.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// Full scale is ±1.0; nothing is clamped.
    pub float: &'a [f32],
    /// [`super::to_i16`] of each of `float`.
    pub pcm16: &'a [i16],
}

impl Block<'_> {
    /// Frames in the block.
    pub fn frames(&self) -> usize {
        self.pcm16.len()
    }
}

/// Writes one stream of audio in one file format into a writer `W`.
///
/// See the [module docs](self) for the order of calls. A format that
/// patches its header once the audio is written implements this for
/// `W: Write + Seek` only; the file writer's `W` is both.
pub trait Encoder<W: Write>: Sized {
    /// Starts the stream: writes whatever goes before the audio.
    fn new(out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self>;

    /// Encodes the next block.
    fn write(&mut self, block: &Block<'_>) -> io::Result<()>;

    /// Ends the stream: writes whatever goes after the audio, and gives the
    /// writer back (not flushed; the caller flushes it).
    fn finish(self) -> io::Result<W>;
}

/// A stream a format cannot hold, found before anything is rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A channel count the format does not take.
    #[error("{channels} channels are not supported")]
    Channels {
        /// The count asked for.
        channels: u16,
    },
    /// A sample rate the format does not take.
    #[error("a rate of {rate} Hz is not supported; use {hint}")]
    Rate {
        /// The rate of the samples.
        rate: u32,
        /// The rates it takes, as a user would ask for them.
        hint: &'static str,
    },
    /// More audio than the format's size fields can count.
    #[error("{bytes} bytes are over the size limit of the format")]
    TooLong {
        /// Length of the session in frames.
        frames: u64,
        /// Channels asked for.
        channels: u16,
        /// Size the file would have.
        bytes: u64,
    },
    /// A format this build of vinyasa cannot write.
    #[error("{format} files cannot be written by this build: {reason}")]
    NotInThisBuild {
        /// The format.
        format: Format,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

/// The audio file formats vinyasa knows, by extension. Not every one is in
/// every build: see [`Format::available`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// 16-bit PCM WAV with a marker (`cue ` + `labl`) per chapter.
    #[default]
    Wav,
    /// MP3 (LAME) with an ID3v2 tag: chapters, tags, lyrics; gapless
    /// (feature `mp3`).
    Mp3,
    /// Opus in Ogg, with Vorbis-comment chapters and tags; gapless
    /// (feature `opus`, on by default).
    Opus,
    /// FLAC (lossless), with Vorbis-comment chapters and tags.
    Flac,
    /// AAC in an MP4 file: known, so that asking for it gets a reason, but
    /// never built (see [`Format::available`]).
    M4a,
}

/// Before LAME: its overshoot measured +0.2 dB; 1 dB more for margin.
const MP3_CEILING_DBTP: f64 = -2.0;

/// Before opus-rs at 40 kbit/s: its overshoot measured up to +1.5 dB; at
/// −3 dBTP the limiter already reaches the breath tones, and breathwork's
/// loudness fell to −17.2 LUFS (see `super::opus`).
const OPUS_CEILING_DBTP: f64 = -2.75;

/// Why a build lacks MP3.
const NO_MP3: &str = "it was built without the `mp3` feature (LAME); \
    use .wav, or build with `--features mp3`";

/// Why a build lacks Opus.
const NO_OPUS: &str = "it was built without the `opus` feature (opus-rs, on by default); \
    use .mp3, or build with `--features opus`";

/// Why no build has M4A/AAC.
const NO_AAC: &str = "no AAC encoder that builds from crates.io alone has a licence \
    vinyasa can ship (fdk-aac's is not free); use .mp3, which every phone plays";

impl Format {
    /// Every format vinyasa knows, in the order error messages list them.
    pub const ALL: [Format; 5] = [
        Format::Wav,
        Format::Mp3,
        Format::Opus,
        Format::Flac,
        Format::M4a,
    ];

    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
            Format::Opus => "opus",
            Format::Flac => "flac",
            Format::M4a => "m4a",
        }
    }

    /// `Err` with the reason when this build cannot write the format.
    pub fn available(self) -> Result<(), Unsupported> {
        let reason = match self {
            Format::Wav | Format::Flac => return Ok(()),
            Format::Mp3 if cfg!(feature = "mp3") => return Ok(()),
            Format::Mp3 => NO_MP3,
            Format::Opus if cfg!(feature = "opus") => return Ok(()),
            Format::Opus => NO_OPUS,
            Format::M4a => NO_AAC,
        };
        Err(Unsupported::NotInThisBuild {
            format: self,
            reason,
        })
    }

    /// The extensions of every format this build writes, for messages:
    /// `.wav, .mp3`.
    pub fn list() -> String {
        let names: Vec<String> = Format::ALL
            .into_iter()
            .filter(|f| f.available().is_ok())
            .map(|f| format!(".{f}"))
            .collect();
        names.join(", ")
    }

    /// The format a file extension (any case, no dot) names.
    pub fn from_extension(extension: &str) -> Option<Format> {
        // `.aac` is what people call the files `.m4a` names.
        let extension = if extension.eq_ignore_ascii_case("aac") {
            "m4a"
        } else {
            extension
        };
        Format::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(extension))
    }

    /// The format `path`'s extension names.
    pub fn from_path(path: &Path) -> Option<Format> {
        Format::from_extension(path.extension()?.to_str()?)
    }

    /// Refuses a stream this format cannot hold, or a format this build
    /// cannot write.
    pub fn check(self, spec: &StreamSpec, metadata: &Metadata) -> Result<(), Unsupported> {
        self.available()?;
        match self {
            Format::Wav => super::wav::check(spec, metadata),
            #[cfg(feature = "mp3")]
            Format::Mp3 => super::mp3::check(spec, metadata),
            // `available` refused them.
            #[cfg(not(feature = "mp3"))]
            Format::Mp3 => Ok(()),
            #[cfg(feature = "opus")]
            Format::Opus => super::opus::check(spec, metadata),
            #[cfg(not(feature = "opus"))]
            Format::Opus => Ok(()),
            Format::Flac => super::flac::check(spec, metadata),
            Format::M4a => Ok(()),
        }
    }

    /// The true-peak ceiling, in dBTP, the session is held under before a
    /// lossy encoder gets it, so the decoded file stays under −1 dBTP
    /// (see [`super::headroom`]); `None` for lossless formats, which keep
    /// the renderer's −1 dBTP.
    pub fn ceiling_dbtp(self) -> Option<f64> {
        match self {
            Format::Wav | Format::Flac | Format::M4a => None,
            Format::Mp3 => Some(MP3_CEILING_DBTP),
            Format::Opus => Some(OPUS_CEILING_DBTP),
        }
    }

    /// Whether [`super::headroom`] finds the peaks it holds under
    /// [`Format::ceiling_dbtp`] by 4× oversampling rather than by the
    /// cubic estimate: for MP3, whose decoded peaks at low rates are the
    /// ones the cubic misses. Opus keeps the cubic, on which its ceiling
    /// was measured: with oversampled peaks opus-rs's own overshoot left
    /// calf-strength at 48 kHz at −0.97 dBTP (−1.15 with the cubic).
    pub fn oversamples_peaks(self) -> bool {
        self == Format::Mp3
    }

    /// The rate a session is rendered at for this format when none is
    /// asked for: 48 kHz for Opus, whose decoders all give 48 kHz (see
    /// `src/output/opus.rs`), else 44.1 kHz.
    pub fn default_rate(self) -> u32 {
        match self {
            Format::Opus => 48_000,
            _ => 44_100,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::captions::tests::timeline;

    #[test]
    fn metadata_takes_a_chapter_per_step_and_the_spoken_words() {
        let m = Metadata::from_timeline(&timeline());
        assert_eq!(m.title, "Mid-back\n release");
        assert_eq!((m.artist, m.comment), (None, None));
        assert_eq!(m.album, "vinyasa");
        assert_eq!(
            m.chapters,
            [
                Chapter {
                    start_frame: 0,
                    end_frame: 10_000,
                    title: "Welcome".into()
                },
                Chapter {
                    start_frame: 10_000,
                    end_frame: 3_725_000,
                    title: "Cat & cow".into()
                }
            ]
        );
        // Speech only, one line each, whitespace-only words left out.
        let lyrics: Vec<(u64, u64, &str)> = m
            .lyrics
            .iter()
            .map(|l| (l.start_frame, l.end_frame, l.text.as_str()))
            .collect();
        assert_eq!(
            lyrics,
            [
                (500, 2_640, "Welcome. Sit comfortably."),
                (4_640, 6_000, "Close your eyes."),
                (10_000, 11_200, "Cat & cow"),
                (11_200, 14_205, "Arch <gently>, then round."),
                (3_700_000, 3_702_500, "Release.")
            ]
        );
    }

    #[test]
    fn formats_are_named_by_their_extension() {
        assert_eq!(Format::from_extension("wav"), Some(Format::Wav));
        assert_eq!(Format::from_extension("WAV"), Some(Format::Wav));
        assert_eq!(Format::from_extension("mp3"), Some(Format::Mp3));
        assert_eq!(Format::from_extension("AAC"), Some(Format::M4a));
        assert_eq!(Format::from_extension("Opus"), Some(Format::Opus));
        assert_eq!(Format::from_extension("flac"), Some(Format::Flac));
        assert_eq!(Format::from_extension("ogg"), None);
        assert_eq!(Format::Opus.default_rate(), 48_000);
        assert_eq!(Format::Mp3.default_rate(), 44_100);
        assert_eq!(Format::from_path(Path::new("out/a.Wav")), Some(Format::Wav));
        assert_eq!(Format::from_path(Path::new("out/wav")), None);
        assert_eq!(Format::default(), Format::Wav);
        for f in Format::ALL {
            assert_eq!(Format::from_extension(f.extension()), Some(f));
            assert_eq!(f.to_string(), f.extension());
        }
    }

    #[test]
    fn m4a_is_known_but_refused_with_the_reason() {
        let e = Format::M4a.available().unwrap_err();
        assert_eq!(
            e.to_string(),
            "m4a files cannot be written by this build: no AAC encoder that builds from \
             crates.io alone has a licence vinyasa can ship (fdk-aac's is not free); use .mp3, \
             which every phone plays"
        );
        assert!(!Format::list().contains("m4a"));
        assert!(Format::list().starts_with(".wav"));
    }
}
