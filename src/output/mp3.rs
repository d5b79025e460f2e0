//! The MP3 encoder: a session → an MPEG-1/2 Layer III file, encoded by LAME
//! (`mp3lame-encoder`, LGPL-3.0, built from the C sources bundled in
//! `mp3lame-sys`), behind an ID3v2.3 tag with the chapters and tags a phone
//! shows.
//!
//! The file, front to back:
//!
//! 1. the ID3v2.3 tag, written by the `id3` crate before the first sample
//!    (everything in it is known then): `TIT2` title, `TPE1` the routine's
//!    credit, `TALB` and `TSSE` "vinyasa", `COMM` the description, `USLT`
//!    the spoken words one phrase a line, `SYLT` the same words with their
//!    times, and one `CHAP` per step (`TIT2` inside it; times in
//!    milliseconds of the decoded audio) under one ordered top-level
//!    `CTOC`;
//! 2. LAME's Xing/Info frame with its LAME extension, which carries the
//!    encoder delay and the padding, so a gapless decoder (ffmpeg, Apple's,
//!    Android's MediaExtractor, foobar2000, Rockbox) gives back exactly the
//!    session's frames. LAME puts a blank frame of the right size there
//!    when it starts and fills it in only at the end, so [`Mp3::finish`]
//!    seeks back to write it: this encoder needs `Write + Seek`;
//! 3. the audio, constant bit rate.
//!
//! Defaults (see [`bit_rate`]): 64 kbit/s for mono, LAME's own quality
//! setting, the session's rate (never resampled by LAME).

use std::io::{self, Seek, SeekFrom, Write};

use id3::frame::{
    Chapter as Chap, Comment, Lyrics, SynchronisedLyrics, SynchronisedLyricsType, TableOfContents,
    TimestampFormat,
};
use id3::{Frame, Tag, TagLike, Version};
use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushGap, Mode, MonoPcm};

use super::encode::{Block, ENCODER_NAME, Encoder, Metadata, StreamSpec, Unsupported};

/// The rates an MP3 can have (MPEG-1, 2 and 2.5).
pub const RATES: [u32; 9] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

/// What to say about a rate MP3 cannot have.
const RATE_HINT: &str =
    "an MP3 rate: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000";

/// The constant bit rate for `channels`, in kbit/s.
///
/// Speech with bells and breath tones: at 64 kbit/s mono LAME keeps
/// everything up to about 14.5 kHz at 44.1 kHz (its low-pass at that rate),
/// past what a voice or a bell's partials need, for 480 kB a minute (29 MB
/// for an hour). A lower rate makes LAME cut more of the bell's shimmer; a
/// higher one grows the file for nothing a phone speaker plays. Two
/// channels carry one signal twice: joint stereo codes the second as a
/// silent side channel, but LAME sets its low-pass by the bit rate per
/// channel, so stereo gets 96 kbit/s to keep the same bandwidth.
pub fn bit_rate(channels: u16) -> u32 {
    if channels == 2 { 96 } else { 64 }
}

fn lame_bit_rate(channels: u16) -> Bitrate {
    if channels == 2 {
        Bitrate::Kbps96
    } else {
        Bitrate::Kbps64
    }
}

/// Refuses what an MP3 cannot hold: other than 1 or 2 channels, or a rate
/// MPEG audio does not have.
pub(crate) fn check(spec: &StreamSpec, _metadata: &Metadata) -> Result<(), Unsupported> {
    spec.mono_or_stereo_at(|rate| RATES.contains(&rate), RATE_HINT)
}

/// Writes an MP3 into `W`: see the [module docs](self).
pub struct Mp3<W> {
    out: W,
    lame: mp3lame_encoder::Encoder,
    stereo: bool,
    /// Where the Xing/LAME frame goes: right after the ID3v2 tag.
    info_frame_at: u64,
    /// Encoded bytes of the current block.
    buffer: Vec<u8>,
}

fn lame_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("the MP3 encoder (LAME) failed to {what}: {e}"))
}

impl<W: Write + Seek> Encoder<W> for Mp3<W> {
    fn new(mut out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self> {
        check(spec, metadata).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stereo = spec.channels == 2;
        let setup = |e: mp3lame_encoder::BuildError| lame_error("start", e);
        let mut lame = Builder::new().ok_or_else(|| lame_error("start", "out of memory"))?;
        lame.set_num_channels(spec.channels as u8).map_err(setup)?;
        lame.set_sample_rate(spec.rate).map_err(setup)?;
        // LAME would pick a lower rate for a low bit rate and resample; the
        // file keeps the session's rate, so frames and times stay exact.
        lame.set_output_sample_rate(std::num::NonZeroU32::new(spec.rate))
            .map_err(setup)?;
        lame.set_brate(lame_bit_rate(spec.channels))
            .map_err(setup)?;
        lame.set_mode(if stereo {
            Mode::JointStereo
        } else {
            Mode::Mono
        })
        .map_err(setup)?;
        // The Xing/LAME frame: the gapless (delay and padding) information.
        lame.set_to_write_vbr_tag(true).map_err(setup)?;
        let lame = lame.build().map_err(setup)?;

        let tag = id3_tag(spec, metadata);
        let mut bytes = Vec::new();
        tag.write_to(&mut bytes, Version::Id3v23)
            .map_err(|e| io::Error::other(format!("cannot write the ID3 tag: {e}")))?;
        out.write_all(&bytes)?;
        Ok(Mp3 {
            out,
            lame,
            stereo,
            info_frame_at: bytes.len() as u64,
            buffer: Vec::new(),
        })
    }

    fn write(&mut self, block: &Block<'_>) -> io::Result<()> {
        let pcm = block.pcm16;
        self.buffer.clear();
        self.buffer
            .reserve(mp3lame_encoder::max_required_buffer_size(pcm.len()));
        let encoded = if self.stereo {
            self.lame.encode_to_vec(
                DualPcm {
                    left: pcm,
                    right: pcm,
                },
                &mut self.buffer,
            )
        } else {
            self.lame.encode_to_vec(MonoPcm(pcm), &mut self.buffer)
        };
        encoded.map_err(|e| lame_error("encode", e))?;
        self.out.write_all(&self.buffer)
    }

    fn finish(mut self) -> io::Result<W> {
        self.buffer.clear();
        // The last frames; LAME's docs ask for at least 7200 bytes here.
        self.buffer.reserve(7200);
        self.lame
            .flush_to_vec::<FlushGap>(&mut self.buffer)
            .map_err(|e| lame_error("finish", e))?;
        self.out.write_all(&self.buffer)?;
        // Now LAME knows the frame count, the padding and the music's CRC.
        let mut info = Vec::with_capacity(self.lame.lame_tag_size());
        if self.lame.lame_tag_encode_to_vec(&mut info).is_none() {
            return Err(lame_error("write its Xing/LAME frame", "no frame"));
        }
        self.out.seek(SeekFrom::Start(self.info_frame_at))?;
        self.out.write_all(&info)?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(self.out)
    }
}

/// Milliseconds from the start of the decoded audio to `frame`, rounded
/// to nearest: the unit of `CHAP` and `SYLT` times.
fn ms(frame: u64, rate: u32) -> u32 {
    let ms = (u128::from(frame) * 1000 + u128::from(rate) / 2) / u128::from(rate);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// The ID3v2 tag for a session: see the [module docs](self).
fn id3_tag(spec: &StreamSpec, metadata: &Metadata) -> Tag {
    let mut tag = Tag::new();
    tag.set_title(metadata.title.as_str());
    if let Some(artist) = &metadata.artist {
        tag.set_artist(artist.as_str());
    }
    tag.set_album(metadata.album.as_str());
    tag.add_frame(Frame::text("TSSE", ENCODER_NAME));
    if let Some(comment) = &metadata.comment {
        tag.add_frame(Comment {
            lang: "eng".into(),
            description: String::new(),
            text: comment.clone(),
        });
    }
    if !metadata.lyrics.is_empty() {
        let text: Vec<&str> = metadata.lyrics.iter().map(|l| l.text.as_str()).collect();
        tag.add_frame(Lyrics {
            lang: "eng".into(),
            description: String::new(),
            text: text.join("\n"),
        });
        tag.add_frame(SynchronisedLyrics {
            lang: "eng".into(),
            timestamp_format: TimestampFormat::Ms,
            content_type: SynchronisedLyricsType::Lyrics,
            description: String::new(),
            content: metadata
                .lyrics
                .iter()
                .map(|l| (ms(l.start_frame, spec.rate), l.text.clone()))
                .collect(),
        });
    }
    let chapters: Vec<_> = metadata
        .chapters
        .iter()
        .filter(|c| c.start_frame < spec.total_frames)
        .collect();
    if !chapters.is_empty() {
        let ids: Vec<String> = (1..=chapters.len()).map(|i| format!("chp{i}")).collect();
        tag.add_frame(TableOfContents {
            element_id: "toc".into(),
            top_level: true,
            ordered: true,
            elements: ids.clone(),
            frames: Vec::new(),
        });
        for (chapter, id) in chapters.into_iter().zip(ids) {
            tag.add_frame(Chap {
                element_id: id,
                start_time: ms(chapter.start_frame, spec.rate),
                end_time: ms(chapter.end_frame.min(spec.total_frames), spec.rate),
                // No byte offsets: players go by the times.
                start_offset: u32::MAX,
                end_offset: u32::MAX,
                frames: vec![Frame::text("TIT2", chapter.title.as_str())],
            });
        }
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::audio::tests::{Signal, encode_vec};
    use crate::output::encode::{Chapter, Lyric};

    fn metadata() -> Metadata {
        Metadata {
            title: "Two steps".into(),
            artist: Some("A teacher".into()),
            album: "vinyasa".into(),
            comment: Some("For the back.".into()),
            chapters: vec![
                Chapter {
                    start_frame: 0,
                    end_frame: 8_000,
                    title: "One".into(),
                },
                Chapter {
                    start_frame: 8_000,
                    end_frame: 16_000,
                    title: "Two – à deux".into(),
                },
            ],
            lyrics: vec![
                Lyric {
                    start_frame: 100,
                    end_frame: 4_000,
                    text: "Breathe in.".into(),
                },
                Lyric {
                    start_frame: 8_800,
                    end_frame: 12_000,
                    text: "Breathe out.".into(),
                },
            ],
        }
    }

    fn tone(total: u64) -> Signal<impl FnMut(u64) -> f32> {
        Signal::new(16_000, total, |n| {
            0.3 * (std::f32::consts::TAU * 330.0 * n as f32 / 16_000.0).sin()
        })
    }

    #[test]
    fn the_tag_has_the_chapters_lyrics_and_tags() {
        let (bytes, _) = encode_vec::<Mp3<_>>(&mut tone(16_000), &metadata(), 1);
        let tag = Tag::read_from2(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(tag.version(), Version::Id3v23);
        assert_eq!(tag.title(), Some("Two steps"));
        assert_eq!(tag.artist(), Some("A teacher"));
        assert_eq!(tag.album(), Some("vinyasa"));
        assert_eq!(
            tag.get("TSSE").and_then(|f| f.content().text()),
            Some("vinyasa")
        );
        let comments: Vec<&str> = tag.comments().map(|c| c.text.as_str()).collect();
        assert_eq!(comments, ["For the back."]);
        let lyrics: Vec<&str> = tag.lyrics().map(|l| l.text.as_str()).collect();
        assert_eq!(lyrics, ["Breathe in.\nBreathe out."]);
        let synced: Vec<_> = tag.synchronised_lyrics().collect();
        assert_eq!(synced.len(), 1);
        assert_eq!(
            synced[0].content,
            [(6, "Breathe in.".to_string()), (550, "Breathe out.".into())]
        );
        let chapters: Vec<(u32, u32, &str)> = tag
            .chapters()
            .map(|c| {
                let title = c.frames.iter().find(|f| f.id() == "TIT2").unwrap();
                (c.start_time, c.end_time, title.content().text().unwrap())
            })
            .collect();
        assert_eq!(chapters, [(0, 500, "One"), (500, 1000, "Two – à deux")]);
        let toc: Vec<_> = tag.tables_of_contents().collect();
        assert_eq!(toc.len(), 1);
        assert!(toc[0].top_level && toc[0].ordered);
        assert_eq!(toc[0].elements, ["chp1", "chp2"]);
    }

    #[test]
    fn the_info_frame_follows_the_tag_and_counts_the_frames() {
        for channels in [1, 2] {
            let total = 16_000 * 3 + 77;
            let (bytes, _) = encode_vec::<Mp3<_>>(&mut tone(total), &metadata(), channels);
            // ID3v2 size: 10 bytes of header plus a 28-bit syncsafe size.
            assert_eq!(&bytes[..3], b"ID3");
            let size = bytes[6..10]
                .iter()
                .fold(0usize, |n, &b| (n << 7) | usize::from(b));
            let frame = &bytes[10 + size..];
            assert_eq!(frame[0], 0xFF, "a frame sync right after the tag");
            // The Xing header says "Info" for CBR; LAME's extension follows.
            let info = frame
                .windows(4)
                .position(|w| w == b"Info")
                .expect("an Info header");
            assert!(info < 40, "{info}");
            let lame = &frame[info + 120..info + 124];
            assert_eq!(lame, b"LAME");
            // Delay and padding: 12 bits each, after the 9-byte version
            // string and 12 more bytes of the extension.
            let d = &frame[info + 120 + 21..info + 120 + 24];
            let delay = (u32::from(d[0]) << 4) | (u32::from(d[1]) >> 4);
            let padding = ((u32::from(d[1]) & 0xF) << 8) | u32::from(d[2]);
            // Frames of music (the Xing header's count, itself left out)
            // × 576 samples at 16 kHz (MPEG-2) = delay + the audio + padding.
            let frames = u32::from_be_bytes(frame[info + 8..info + 12].try_into().unwrap());
            assert_eq!(
                u64::from(frames) * 576,
                u64::from(delay) + total + u64::from(padding),
                "frames {frames}, delay {delay}, padding {padding}"
            );
        }
    }

    #[test]
    fn rates_and_channels_an_mp3_cannot_hold_are_refused() {
        let spec = |rate, channels| StreamSpec {
            rate,
            channels,
            total_frames: 10,
        };
        let m = Metadata::default();
        assert_eq!(check(&spec(44_100, 1), &m), Ok(()));
        assert_eq!(check(&spec(8_000, 2), &m), Ok(()));
        assert!(matches!(
            check(&spec(96_000, 1), &m),
            Err(Unsupported::Rate { rate: 96_000, .. })
        ));
        assert_eq!(
            check(&spec(44_100, 3), &m),
            Err(Unsupported::Channels { channels: 3 })
        );
    }

    #[test]
    fn the_same_session_gives_the_same_bytes() {
        let a = encode_vec::<Mp3<_>>(&mut tone(20_000), &metadata(), 1).0;
        let b = encode_vec::<Mp3<_>>(&mut tone(20_000), &metadata(), 1).0;
        assert!(a == b);
    }
}
