//! The FLAC encoder: a session → a lossless 16-bit FLAC file (`flacenc`,
//! pure Rust), with its tags and chapters as Vorbis comments
//! ([`super::vorbis`]).
//!
//! The file is `fLaC`, the `STREAMINFO` block, the `VORBIS_COMMENT` block,
//! then frames of [`BLOCK_SIZE`] samples (the last one shorter), each
//! encoded as soon as its samples arrive. `STREAMINFO` holds the MD5 of the
//! samples and the smallest and largest frame sizes, known only at the end,
//! so [`Flac::finish`] seeks back and writes it again (same size): this
//! encoder needs `Write + Seek`. The length is in it from the start.

use std::io::{self, Seek, SeekFrom, Write};

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, MetadataBlockData, Stream, StreamInfo};
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};

use super::encode::{Block, Encoder, Metadata, StreamSpec, Unsupported};
use super::vorbis;

/// Samples per channel in a frame: the reference encoder's default at
/// 44.1/48 kHz.
pub const BLOCK_SIZE: usize = 4096;

/// Refuses what this FLAC writer cannot hold: other than 1 or 2 channels,
/// or a rate outside 8–384 kHz (as WAV).
pub(crate) fn check(spec: &StreamSpec, _metadata: &Metadata) -> Result<(), Unsupported> {
    spec.mono_or_stereo_at(
        |rate| (8_000..=384_000).contains(&rate),
        "a rate from 8000 to 384000 Hz",
    )
}

/// Writes a FLAC into `W`: see the [module docs](self).
pub struct Flac<W> {
    out: W,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    channels: usize,
    /// `STREAMINFO` as first written: rate, channels, bits, block sizes
    /// and the length.
    head: StreamInfo,
    /// The Vorbis comments, to write the header again.
    comments: Vec<u8>,
    /// Frame sizes seen so far.
    seen: StreamInfo,
    frame: FrameBuf,
    context: Context,
    /// Interleaved samples waiting for a full frame.
    pending: Vec<i32>,
    sink: MemSink<u8>,
}

fn flac_error(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("the FLAC encoder failed: {e:?}"))
}

/// `fLaC`, `STREAMINFO` and the comments (block type 4).
fn header(info: &StreamInfo, comments: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = Stream::with_stream_info(info.clone());
    stream.add_metadata_block(MetadataBlockData::new_unknown(4, comments).map_err(flac_error)?);
    let mut sink = MemSink::<u8>::new();
    stream.write(&mut sink).map_err(flac_error)?;
    Ok(sink.into_inner())
}

impl<W: Write + Seek> Flac<W> {
    /// Encodes and writes one frame of `self.pending[..frames * channels]`.
    fn frame(&mut self, frames: usize) -> io::Result<()> {
        let samples = &self.pending[..frames * self.channels];
        if frames != BLOCK_SIZE {
            // The last frame only.
            self.frame.resize(frames);
        }
        self.frame.fill_interleaved(samples).map_err(flac_error)?;
        self.context.fill_interleaved(samples).map_err(flac_error)?;
        let number = self.context.current_frame_number().unwrap_or_default();
        let frame = flacenc::encode_fixed_size_frame(&self.config, &self.frame, number, &self.head)
            .map_err(flac_error)?;
        self.seen.update_frame_info(&frame);
        self.sink.clear();
        frame.write(&mut self.sink).map_err(flac_error)?;
        self.out.write_all(self.sink.as_slice())?;
        self.pending.drain(..frames * self.channels);
        Ok(())
    }
}

impl<W: Write + Seek> Encoder<W> for Flac<W> {
    fn new(mut out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self> {
        check(spec, metadata).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let channels = usize::from(spec.channels);
        let mut config = flacenc::config::Encoder::default();
        config.block_size = BLOCK_SIZE;
        let config = config.into_verified().map_err(|(_, e)| flac_error(e))?;
        let mut head = StreamInfo::new(spec.rate as usize, channels, 16).map_err(flac_error)?;
        head.set_block_sizes(BLOCK_SIZE, BLOCK_SIZE)
            .map_err(flac_error)?;
        head.set_total_samples(spec.total_frames as usize);
        // Unknown (0) until the end.
        head.set_frame_sizes(0, 0).map_err(flac_error)?;
        let seen = StreamInfo::new(spec.rate as usize, channels, 16).map_err(flac_error)?;
        let comments = vorbis::block(&vorbis::comments(spec, metadata));
        out.write_all(&header(&head, &comments)?)?;
        Ok(Flac {
            out,
            config,
            channels,
            head,
            comments,
            seen,
            frame: FrameBuf::with_size(channels, BLOCK_SIZE).map_err(flac_error)?,
            context: Context::new(16, channels),
            pending: Vec::with_capacity(2 * BLOCK_SIZE * channels),
            sink: MemSink::new(),
        })
    }

    fn write(&mut self, block: &Block<'_>) -> io::Result<()> {
        for chunk in block.pcm16.chunks(BLOCK_SIZE) {
            if self.channels == 2 {
                self.pending
                    .extend(chunk.iter().flat_map(|&s| [i32::from(s), i32::from(s)]));
            } else {
                self.pending.extend(chunk.iter().map(|&s| i32::from(s)));
            }
            while self.pending.len() >= BLOCK_SIZE * self.channels {
                self.frame(BLOCK_SIZE)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        let rest = self.pending.len() / self.channels;
        if rest > 0 {
            self.frame(rest)?;
        }
        let mut info = self.head.clone();
        if self.seen.max_frame_size() > 0 {
            info.set_frame_sizes(self.seen.min_frame_size(), self.seen.max_frame_size())
                .map_err(flac_error)?;
        }
        info.set_md5_digest(&self.context.md5_digest());
        let header = header(&info, &self.comments)?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(self.out)
    }
}
