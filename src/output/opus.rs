//! The Opus encoder: a session → Opus in an Ogg file (`.opus`, RFC 7845),
//! encoded by `opus-rs` (a pure-Rust port of libopus) and framed by the
//! `ogg` crate, with its tags and chapters as Vorbis comments
//! ([`super::vorbis`]).
//!
//! opus-rs 0.1 overshoots the source's peaks more than libopus, most at low
//! bit rates: at 32 kbit/s, 2.5 dB of headroom ([`super::headroom`]) still
//! left `routines/mid-back.toml` at −0.3 dBTP after decoding, and the 3.25
//! dB it would need took breathwork's breath tones (and its loudness, to
//! −18.3 LUFS) down with the peaks. At 40 kbit/s with 2.75 dB every routine
//! in `routines/` decodes (ffmpeg) at −15.8 to −16.6 LUFS and −1.2 dBTP or
//! under, mono and stereo.
//!
//! Opus codes 8, 12, 16, 24 or 48 kHz, and every decoder gives 48 kHz.
//! vinyasa renders the session at 48 kHz for an `.opus` file (the
//! default rate for it), rather than resampling: a resampler would blur
//! the exact frame counts the timeline is built on and cost a pass over
//! every sample; rendering at 48 kHz costs the same as at 44.1.
//! The other Opus rates are taken too (a decoder then gives 48 kHz, the
//! same length in time).
//!
//! The stream: an `OpusHead` page, `OpusTags` page(s), then 20 ms packets.
//! The encoder's look-ahead (4 ms of delay compensation and 2.5 ms of
//! overlap: [`PRE_SKIP`] at 48 kHz) is written as the pre-skip, so a
//! decoder drops it, and the last page's granule position ends the stream
//! at exactly the session's length: enough packets are encoded to cover
//! the look-ahead, and the decoder trims what is past the end.

use std::io::{self, Write};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus_rs::{Application, OpusEncoder};

use super::encode::{Block, Encoder, Metadata, StreamSpec, Unsupported};
use super::vorbis;

/// The rates Opus codes.
pub const RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// The rate an Opus session is rendered at when none is asked for.
pub const RATE: u32 = 48_000;

/// Samples at 48 kHz a decoder drops at the start: the encoder's
/// look-ahead (libopus's `OPUS_GET_LOOKAHEAD` for the audio application:
/// rate/400 + rate/250, the same 6.5 ms at every rate).
pub const PRE_SKIP: u16 = 312;

/// The Ogg stream's serial number. Fixed so a second export is
/// byte-identical; a file holds one stream, so it need not be random.
const SERIAL: u32 = 0x7679_6e79; // "vyny"

/// The bit rate, in kbit/s, mono or stereo: 300 kB a minute.
///
/// From 32 kbit/s mono, Opus codes speech and bells as fullband (up to
/// 20 kHz) without audible loss; 40 is taken because opus-rs overshoots
/// less there, so less headroom keeps the decoded peaks under −1 dBTP
/// (see the [module docs](self)). Stereo carries one signal twice, which
/// Opus's mid/side coding saves: it needs no more.
pub const BIT_RATE: u32 = 40;

/// Refuses what an Opus file cannot hold: other than 1 or 2 channels, or a
/// rate Opus does not code.
pub(crate) fn check(spec: &StreamSpec, _metadata: &Metadata) -> Result<(), Unsupported> {
    spec.mono_or_stereo_at(
        |rate| RATES.contains(&rate),
        "an Opus rate: 48000 (the default for .opus), 24000, 16000, 12000 or 8000",
    )
}

/// Writes an Ogg Opus file into `W`: see the [module docs](self).
pub struct Opus<W: Write> {
    ogg: PacketWriter<'static, W>,
    opus: OpusEncoder,
    channels: usize,
    /// Samples per channel in a packet (20 ms).
    frame: usize,
    /// 48 kHz samples per input sample.
    scale: u64,
    /// The session's length, in 48 kHz samples.
    total_48k: u64,
    /// Interleaved samples waiting for a full packet.
    pending: Vec<f32>,
    /// Packets written.
    packets: u64,
    /// The last packet, held back so it can end the stream.
    held: Option<Vec<u8>>,
    /// Packet bytes.
    buffer: Vec<u8>,
}

fn opus_error(what: &str, e: &str) -> io::Error {
    io::Error::other(format!("the Opus encoder failed to {what}: {e}"))
}

impl<W: Write> Opus<W> {
    /// Writes the packet held back (not the last one), then holds `packet`.
    fn push(&mut self, packet: Vec<u8>) -> io::Result<()> {
        if let Some(previous) = self.held.replace(packet) {
            self.packets += 1;
            let granule = self.packets * self.frame as u64 * self.scale;
            self.ogg
                .write_packet(previous, SERIAL, PacketWriteEndInfo::NormalPacket, granule)?;
        }
        Ok(())
    }

    /// Encodes one packet of `self.pending[..frame * channels]`.
    fn encode(&mut self) -> io::Result<()> {
        let n = self.frame * self.channels;
        let len = self
            .opus
            .encode(&self.pending[..n], self.frame, &mut self.buffer)
            .map_err(|e| opus_error("encode", e))?;
        let packet = self.buffer[..len].to_vec();
        self.pending.drain(..n);
        self.push(packet)
    }
}

impl<W: Write> Encoder<W> for Opus<W> {
    fn new(out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self> {
        check(spec, metadata).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let channels = usize::from(spec.channels);
        let mut opus = OpusEncoder::new(spec.rate as i32, channels, Application::Audio)
            .map_err(|e| opus_error("start", e))?;
        opus.bitrate_bps = BIT_RATE as i32 * 1000;
        // At its default (9) opus-rs 0.1.40 left isolated spikes in speech
        // (one 8.7 dB over the source at 34.6 s of mid-back); at 5 none
        // were found, and it is faster.
        opus.complexity = 5;
        let scale = u64::from(48_000 / spec.rate);

        let mut ogg = PacketWriter::new(out);
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(spec.channels as u8);
        head.extend_from_slice(&PRE_SKIP.to_le_bytes());
        head.extend_from_slice(&spec.rate.to_le_bytes()); // the input's rate
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0: mono or stereo
        ogg.write_packet(head, SERIAL, PacketWriteEndInfo::EndPage, 0)?;
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&vorbis::block(&vorbis::comments(spec, metadata)));
        ogg.write_packet(tags, SERIAL, PacketWriteEndInfo::EndPage, 0)?;

        let frame = spec.rate as usize / 50;
        Ok(Opus {
            ogg,
            opus,
            channels,
            frame,
            scale,
            total_48k: spec.total_frames * scale,
            pending: Vec::with_capacity(2 * frame * channels),
            packets: 0,
            held: None,
            // RFC 6716: at most 1275 bytes of data in one frame's packet.
            buffer: vec![0; 1500],
        })
    }

    fn write(&mut self, block: &Block<'_>) -> io::Result<()> {
        for chunk in block.float.chunks(self.frame) {
            if self.channels == 2 {
                self.pending.extend(chunk.iter().flat_map(|&s| [s, s]));
            } else {
                self.pending.extend_from_slice(chunk);
            }
            while self.pending.len() >= self.frame * self.channels {
                self.encode()?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        // Silence past the end until the packets cover the session plus the
        // look-ahead; the decoder trims it by the last granule position.
        let needed = self.total_48k + u64::from(PRE_SKIP);
        let per_packet = self.frame as u64 * self.scale;
        loop {
            let encoded = (self.packets + u64::from(self.held.is_some())) * per_packet;
            let buffered = (self.pending.len() / self.channels) as u64 * self.scale;
            if encoded >= needed && buffered == 0 {
                break;
            }
            self.pending.resize(self.frame * self.channels, 0.0);
            self.encode()?;
        }
        let last = self.held.take().unwrap_or_default();
        self.ogg
            .write_packet(last, SERIAL, PacketWriteEndInfo::EndStream, needed)?;
        Ok(self.ogg.into_inner())
    }
}
