//! A session's audio written to a file, in any [`Format`]: the one
//! pipeline every encoder ([`super::encode`]) is fed by.
//!
//! The samples are pulled from a [`Samples`] in blocks of [`BLOCK_FRAMES`],
//! converted to 16-bit ([`super::to_i16`]), measured (BS.1770 integrated
//! loudness and sample peak of the 16-bit samples, on a thread of its own)
//! and handed to the format's [`Encoder`] on another thread, so rendering
//! and encoding share two cores; memory does not grow with the session. What the format cannot hold (a channel count, a rate, a size)
//! is refused before the first sample is rendered.
//!
//! The file goes through the rule in [`crate::output`]: temporary file,
//! sync, rename; no overwrite without `force`; nothing left on an error or a
//! cancel.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::ScopedJoinHandle;
use std::time::Duration;

use super::encode::{Block, Encoder, Format, Metadata, StreamSpec};
use super::flac::Flac;
use super::headroom::Headroom;
#[cfg(feature = "mp3")]
use super::mp3::Mp3;
#[cfg(feature = "opus")]
use super::opus::Opus;
use super::wav::Wav;
use super::{OutputError, Staged};
use crate::Cancel;
use crate::render::Samples;
use crate::sound::loudness::Integrated;

/// Frames pulled from the renderer at a time.
pub const BLOCK_FRAMES: usize = 32_768;

/// Bytes of 16-bit audio between syncs while writing (see [`encode`]).
const SYNC_EVERY_BYTES: u64 = 16 << 20;

/// How to write a session's audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioOptions {
    /// The file format.
    pub format: Format,
    /// Channels in the file: 1, or 2 with the mono session in both.
    pub channels: u16,
    /// Replace an existing file.
    pub force: bool,
    /// Measure loudness and sample peak of what is written (on another
    /// thread); without it [`AudioSummary::loudness`] is `None`.
    pub loudness: bool,
}

impl Default for AudioOptions {
    fn default() -> Self {
        AudioOptions {
            format: Format::Wav,
            channels: 1,
            force: false,
            loudness: true,
        }
    }
}

/// What was written, measured on the file's own 16-bit samples.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioSummary {
    /// The file written.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Frames per second.
    pub rate: u32,
    /// Channels.
    pub channels: u16,
    /// Length in frames (samples per channel).
    pub frames: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Chapters that start inside the audio (one per step), each written
    /// as the format marks it (a WAV marker).
    pub chapters: usize,
    /// Loudness of what was written; `None` when not measured
    /// ([`AudioOptions::loudness`] off).
    pub loudness: Option<Loudness>,
}

/// Loudness of a file as written, on its 16-bit samples, all channels
/// together (ITU BS.1770 / EBU R128).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loudness {
    /// Integrated loudness in LUFS; `None` when nothing passes the −70 LUFS
    /// gate (silence, or less than 0.4 s of audio).
    pub lufs: Option<f64>,
    /// Highest sample in dBFS; `None` for digital silence. (The true peak,
    /// between samples, is held at or below −1 dBTP by the renderer and
    /// checked in the tests; measuring it here would cost more than the
    /// rendering.)
    pub sample_peak: Option<f64>,
}

impl AudioSummary {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate)
    }

    /// Length as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds())
    }
}

/// Renders `samples` from 0 to `samples.total()` into a file at `path` in
/// `options.format`, with `metadata`'s tags and chapters as the format
/// carries them.
///
/// Everything that can be checked is checked before the first sample is
/// rendered: what the format can hold ([`Format::check`]) and the
/// overwrite rule. `cancel` is read once per block; when it is set the
/// write stops with [`OutputError::Cancelled`]. `progress` is called after
/// each block with the number of frames written so far.
pub fn write_audio(
    path: &Path,
    samples: &mut dyn Samples,
    metadata: &Metadata,
    options: &AudioOptions,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<AudioSummary, OutputError> {
    let spec = StreamSpec {
        rate: samples.rate(),
        channels: options.channels,
        total_frames: samples.total(),
    };
    options
        .format
        .check(&spec, metadata)
        .map_err(|e| OutputError::unsupported(path, e))?;
    // Refuses an existing target (without `force`) before rendering.
    let mut staged = Staged::new(path, options.force)?;
    // A second handle, for syncing what is written while writing goes on.
    let syncer = staged.file().try_clone().ok();
    let stream = Stream {
        path,
        spec,
        metadata,
        loudness: options.loudness,
        cancel,
    };
    // A lossy format's headroom (see `super::headroom`).
    let mut limited;
    let samples: &mut dyn Samples = match options.format.ceiling_dbtp() {
        Some(ceiling) => {
            limited = Headroom::new(samples, ceiling, options.format.oversamples_peaks());
            &mut limited
        }
        None => samples,
    };
    let loudness = {
        let out = BufWriter::with_capacity(1 << 16, staged.file());
        let (mut out, loudness) = match options.format {
            Format::Wav => encode::<_, Wav<_>>(out, samples, &stream, progress, syncer)?,
            #[cfg(feature = "mp3")]
            Format::Mp3 => encode::<_, Mp3<_>>(out, samples, &stream, progress, syncer)?,
            #[cfg(feature = "opus")]
            Format::Opus => encode::<_, Opus<_>>(out, samples, &stream, progress, syncer)?,
            #[cfg(not(feature = "opus"))]
            Format::Opus => unreachable!("checked: not in this build"),
            Format::Flac => encode::<_, Flac<_>>(out, samples, &stream, progress, syncer)?,
            // Refused by `check` above.
            #[cfg(not(feature = "mp3"))]
            Format::Mp3 => unreachable!("checked: not in this build"),
            Format::M4a => unreachable!("checked: not in this build"),
        };
        out.flush().map_err(|e| write_error(path, e))?;
        loudness
    };
    let bytes = staged
        .file()
        .metadata()
        .map_err(|e| write_error(path, e))?
        .len();
    staged.commit()?;
    Ok(AudioSummary {
        path: path.into(),
        format: options.format,
        rate: spec.rate,
        channels: spec.channels,
        frames: spec.total_frames,
        bytes,
        chapters: metadata
            .chapters
            .iter()
            .filter(|c| c.start_frame < spec.total_frames)
            .count(),
        loudness,
    })
}

/// One stream to encode: what it is and what it is for.
struct Stream<'a> {
    /// The file, for errors.
    path: &'a Path,
    spec: StreamSpec,
    metadata: &'a Metadata,
    /// Whether to measure loudness.
    loudness: bool,
    cancel: &'a Cancel,
}

fn write_error(path: &Path, source: io::Error) -> OutputError {
    OutputError::Write {
        path: path.into(),
        source,
    }
}

/// Blocks rendered ahead of the encoder at most: enough to even out the
/// two threads' pace, a few hundred kilobytes.
const QUEUED_BLOCKS: usize = 4;

/// Encodes the whole stream with `E` into `out` (positioned at its start),
/// syncing `syncer` (a handle to the file `out` writes to) as it goes, and
/// gives `out` back with the loudness, if measured.
///
/// Three threads beside this one, which renders: the encoder, fed the
/// rendered blocks through a short queue in order (so its output is what
/// one thread would write); the meter; and a sync of what has been
/// written. Rendering and encoding, the two costly parts, run on two cores
/// at once. Returning early (an error, a cancel) drops the senders, which
/// ends the other threads before the scope joins them; the encoder is then
/// not finished.
fn encode<W: Write + Send, E: Encoder<W>>(
    out: W,
    samples: &mut dyn Samples,
    stream: &Stream<'_>,
    progress: &mut dyn FnMut(u64),
    syncer: Option<File>,
) -> Result<(W, Option<Loudness>), OutputError> {
    std::thread::scope(|scope| {
        let meter = stream.loudness.then(|| Meter::spawn(scope, &stream.spec));
        // The file is synced before it is renamed into place; syncing it as
        // it grows, on a thread that only waits for the disk, leaves that
        // last sync little to do. (A failure here shows in that last sync.)
        let (sync, ticks) = sync_channel::<()>(1);
        if let Some(file) = syncer {
            scope.spawn(move || {
                for () in ticks {
                    let _ = file.sync_data();
                }
            });
        }
        let (to_encoder, queued) = sync_channel::<ToEncoder>(QUEUED_BLOCKS);
        let (give_back, spent) = channel::<Slot>();
        let (spec, metadata) = (stream.spec, stream.metadata);
        let encoder = scope.spawn(move || {
            encode_blocks::<W, E>(out, &spec, metadata, queued, give_back, move || {
                // A sync still running will pick this data up too.
                let _ = sync.try_send(());
            })
        });
        let rendered = render_blocks(
            samples,
            stream,
            progress,
            meter.as_ref(),
            &to_encoder,
            spent,
        );
        if rendered.is_ok() {
            // Fails only if the encoder failed: its error is joined below.
            let _ = to_encoder.send(ToEncoder::End);
        }
        drop(to_encoder);
        let encoded = encoder
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A render error or a cancel comes first: the encoder stopped for it.
        rendered?;
        let out = encoded.map_err(|e| write_error(stream.path, e))?;
        let loudness = meter.map(|meter| {
            let m = meter.finish();
            Loudness {
                lufs: m.lufs().filter(|l| l.is_finite()),
                sample_peak: m.sample_peak(),
            }
        });
        Ok((out, loudness))
    })
}

/// A rendered block on its way to the encoder thread; it comes back to be
/// filled again, so the buffers are made once.
struct Slot {
    /// Full scale ±1.0 (3 dB down in stereo: see [`render_blocks`]).
    float: Vec<f32>,
    /// [`super::to_i16`] of each of `float`.
    pcm16: Vec<i16>,
}

/// What the encoder thread is sent.
enum ToEncoder {
    Block(Slot),
    /// Every block was sent: finish the file.
    End,
}

/// The render loop: render, convert and queue for the encoder, block by
/// block, and feed the meter a copy. Stops early, with `Ok`, if the encoder
/// has stopped (its error is the one to report).
fn render_blocks(
    samples: &mut dyn Samples,
    stream: &Stream<'_>,
    progress: &mut dyn FnMut(u64),
    meter: Option<&Meter<'_>>,
    to_encoder: &SyncSender<ToEncoder>,
    spent: Receiver<Slot>,
) -> Result<(), OutputError> {
    let Stream { path, spec, .. } = *stream;
    let stereo = spec.channels == 2;
    // The same signal in two channels counts twice in BS.1770 (+3 dB):
    // 1/√2 keeps a stereo file at the loudness of the mono one.
    let scale = std::f32::consts::FRAC_1_SQRT_2;
    let mut pos = 0u64;
    while pos < spec.total_frames {
        if stream.cancel.is_cancelled() {
            return Err(OutputError::Cancelled { path: path.into() });
        }
        let n = (spec.total_frames - pos).min(BLOCK_FRAMES as u64) as usize;
        let Slot {
            mut float,
            mut pcm16,
        } = spent.try_recv().unwrap_or_else(|_| Slot {
            float: Vec::with_capacity(BLOCK_FRAMES),
            pcm16: Vec::with_capacity(BLOCK_FRAMES),
        });
        float.resize(n, 0.0);
        samples
            .fill(pos, &mut float)
            .map_err(|e| OutputError::from_render(path, e))?;
        pcm16.clear();
        if stereo {
            pcm16.extend(float.iter_mut().map(|x| {
                *x *= scale;
                super::to_i16(*x)
            }));
        } else {
            pcm16.extend(float.iter().map(|&x| super::to_i16(x)));
        }
        if let Some(meter) = meter {
            let mut copy = meter.buffer();
            copy.clear();
            copy.extend_from_slice(&pcm16);
            meter.feed(copy);
        }
        if to_encoder
            .send(ToEncoder::Block(Slot { float, pcm16 }))
            .is_err()
        {
            return Ok(());
        }
        pos += n as u64;
        progress(pos);
    }
    Ok(())
}

/// The encoder thread: start the encoder, encode each block queued, sync
/// now and then, and finish the file at [`ToEncoder::End`]. If the queue
/// closes before it (the render loop stopped), the encoder is left
/// unfinished: the file will not be kept.
fn encode_blocks<W: Write, E: Encoder<W>>(
    out: W,
    spec: &StreamSpec,
    metadata: &Metadata,
    queued: Receiver<ToEncoder>,
    give_back: Sender<Slot>,
    sync: impl Fn(),
) -> io::Result<W> {
    let mut encoder = E::new(out, spec, metadata)?;
    let frame_bytes = 2 * u64::from(spec.channels);
    let mut unsynced = 0;
    for message in queued {
        let slot = match message {
            ToEncoder::Block(slot) => slot,
            ToEncoder::End => return encoder.finish(),
        };
        encoder.write(&Block {
            float: &slot.float,
            pcm16: &slot.pcm16,
        })?;
        unsynced += slot.pcm16.len() as u64 * frame_bytes;
        if unsynced >= SYNC_EVERY_BYTES {
            sync();
            unsynced = 0;
        }
        // The render loop may be gone (an error): then the slot just drops.
        let _ = give_back.send(slot);
    }
    Err(io::Error::other("the render loop stopped before the end"))
}

/// A BS.1770 meter ([`Integrated`]) on its own thread, measuring the mono
/// signal as written (16-bit).
///
/// Stereo files carry the mono signal twice; metering it once as dual mono
/// gives exactly the BS.1770 figure of the two channels (the energy counted
/// twice, gating included) at half the cost.
struct Meter<'scope> {
    blocks: Option<SyncSender<Vec<i16>>>,
    /// Blocks the meter is done with, to be filled again.
    spent: Receiver<Vec<i16>>,
    thread: ScopedJoinHandle<'scope, Integrated>,
}

impl<'scope> Meter<'scope> {
    fn spawn<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        spec: &StreamSpec,
    ) -> Meter<'scope> {
        // Blocks in flight keep both threads busy; memory stays bounded
        // (4 MB). The meter takes 6.6 s of samples at a time, so a queue
        // shorter than that would stop the writer while it works.
        let (tx, rx) = sync_channel::<Vec<i16>>(64);
        let (give_back, spent) = channel::<Vec<i16>>();
        let (rate, dual) = (spec.rate, spec.channels == 2);
        let thread = scope.spawn(move || {
            let mut m = Integrated::new(rate, dual);
            for block in rx {
                m.add_pcm16(&block);
                // The writer may be gone (an error): then the block just drops.
                let _ = give_back.send(block);
            }
            m
        });
        Meter {
            blocks: Some(tx),
            spent,
            thread,
        }
    }

    /// A block buffer: one the meter has finished with, or a new one.
    fn buffer(&self) -> Vec<i16> {
        self.spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK_FRAMES))
    }

    fn feed(&self, block: Vec<i16>) {
        if let Some(tx) = &self.blocks {
            let _ = tx.send(block);
        }
    }

    fn finish(mut self) -> Integrated {
        self.blocks = None;
        match self.thread.join() {
            Ok(m) => m,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output::encode::{Chapter, Lyric};
    use crate::output::tests::names;
    use crate::output::to_i16;
    use crate::render::RenderError;
    use std::io::Cursor;

    /// A test signal: `f(i)` for sample i, `total` samples at `rate`.
    pub(crate) struct Signal<F: FnMut(u64) -> f32> {
        pub rate: u32,
        pub total: u64,
        pub f: F,
        /// Fails at the fill call with this index (0-based), if any.
        pub fail_at: Option<usize>,
        /// Cancels this flag at the fill call with this index, if any.
        pub cancel_at: Option<(usize, Cancel)>,
        pub calls: usize,
    }

    impl<F: FnMut(u64) -> f32> Signal<F> {
        pub(crate) fn new(rate: u32, total: u64, f: F) -> Self {
            Signal {
                rate,
                total,
                f,
                fail_at: None,
                cancel_at: None,
                calls: 0,
            }
        }
    }

    impl<F: FnMut(u64) -> f32> Samples for Signal<F> {
        fn rate(&self) -> u32 {
            self.rate
        }
        fn total(&self) -> u64 {
            self.total
        }
        fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
            let call = self.calls;
            self.calls += 1;
            if self.fail_at == Some(call) {
                return Err(RenderError::Voice(crate::voice::VoiceError::Failed {
                    engine: "test".into(),
                    text: "block".into(),
                    reason: format!("fails at block {call}"),
                }));
            }
            if let Some((at, flag)) = &self.cancel_at
                && *at == call
            {
                flag.cancel();
            }
            for (i, o) in out.iter_mut().enumerate() {
                let n = start + i as u64;
                *o = if n < self.total { (self.f)(n) } else { 0.0 };
            }
            Ok(())
        }
    }

    pub(crate) fn sine(rate: u32, total: u64, amp: f32) -> Signal<impl FnMut(u64) -> f32> {
        Signal::new(rate, total, move |n| {
            amp * (std::f32::consts::TAU * 440.0 * n as f32 / rate as f32).sin()
        })
    }

    /// Encodes `samples` with `E` into memory, measuring loudness, as
    /// [`write_audio`] does into a file.
    pub(crate) fn encode_vec<E: Encoder<Cursor<Vec<u8>>>>(
        samples: &mut dyn Samples,
        metadata: &Metadata,
        channels: u16,
    ) -> (Vec<u8>, Option<Loudness>) {
        let stream = Stream {
            path: Path::new("t"),
            spec: StreamSpec {
                rate: samples.rate(),
                channels,
                total_frames: samples.total(),
            },
            metadata,
            loudness: true,
            cancel: &Cancel::new(),
        };
        let out = Cursor::new(Vec::new());
        let (out, loudness) = encode::<_, E>(out, samples, &stream, &mut |_| {}, None).unwrap();
        (out.into_inner(), loudness)
    }

    /// What a [`Fake`] encoder was given, kept in its own output.
    #[derive(Debug, Default, PartialEq)]
    struct Seen {
        spec: Option<StreamSpec>,
        metadata: Option<Metadata>,
        floats: Vec<Vec<f32>>,
        pcm16: Vec<Vec<i16>>,
        finished: bool,
    }

    /// An encoder that writes nothing of a format, only what it was told:
    /// the spec and metadata as text, then each block's 16-bit samples.
    struct Fake<W> {
        out: W,
        seen: Seen,
        /// Fails the write of this block (0-based), if any.
        fail_at: Option<usize>,
    }

    /// Blocks a [`Fake`] fails at, set before it is made by the pipeline.
    static FAKE_FAILS_AT: std::sync::Mutex<Option<usize>> = std::sync::Mutex::new(None);

    impl<W: Write> Encoder<W> for Fake<W> {
        fn new(mut out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self> {
            // What goes first, written first.
            writeln!(out, "{} {} {}", spec.rate, spec.channels, spec.total_frames)?;
            writeln!(out, "{}", metadata.title)?;
            Ok(Fake {
                out,
                seen: Seen {
                    spec: Some(*spec),
                    metadata: Some(metadata.clone()),
                    ..Seen::default()
                },
                fail_at: *FAKE_FAILS_AT.lock().unwrap(),
            })
        }

        fn write(&mut self, block: &Block<'_>) -> io::Result<()> {
            assert_eq!(block.float.len(), block.frames());
            if self.fail_at == Some(self.seen.pcm16.len()) {
                return Err(io::Error::other("disk full"));
            }
            self.out.write_all(bytemuck::cast_slice(block.pcm16))?;
            self.seen.floats.push(block.float.to_vec());
            self.seen.pcm16.push(block.pcm16.to_vec());
            Ok(())
        }

        fn finish(mut self) -> io::Result<W> {
            self.seen.finished = true;
            SEEN.lock().unwrap().replace(self.seen);
            writeln!(self.out, "end")?;
            Ok(self.out)
        }
    }

    /// What the last [`Fake`] to finish was given (the pipeline owns the
    /// encoder, so this is how a test looks at it).
    static SEEN: std::sync::Mutex<Option<Seen>> = std::sync::Mutex::new(None);

    /// The tests that use [`Fake`] share its statics: one at a time.
    static FAKE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn metadata() -> Metadata {
        Metadata {
            title: "Two steps".into(),
            artist: Some("A teacher".into()),
            album: "vinyasa".into(),
            comment: Some("For the back.".into()),
            chapters: vec![
                Chapter {
                    start_frame: 0,
                    end_frame: 40_000,
                    title: "One".into(),
                },
                Chapter {
                    start_frame: 40_000,
                    end_frame: 100_000,
                    title: "Two".into(),
                },
            ],
            lyrics: vec![Lyric {
                start_frame: 100,
                end_frame: 9_000,
                text: "Breathe in.".into(),
            }],
        }
    }

    #[test]
    fn an_encoder_gets_the_metadata_first_then_exactly_every_block() {
        let _one = FAKE.lock().unwrap_or_else(|e| e.into_inner());
        let total = 2 * BLOCK_FRAMES as u64 + 1_234;
        for channels in [1, 2] {
            let f = |n: u64| (n % 300) as f32 / 250.0 - 0.6;
            let mut s = Signal::new(8_000, total, f);
            let (bytes, loudness) = encode_vec::<Fake<_>>(&mut s, &metadata(), channels);
            let seen = SEEN.lock().unwrap().take().unwrap();
            let spec = StreamSpec {
                rate: 8_000,
                channels,
                total_frames: total,
            };
            assert_eq!(seen.spec, Some(spec));
            assert_eq!(seen.metadata, Some(metadata()));
            assert!(seen.finished);
            // Blocks of BLOCK_FRAMES, front to back, the last one short.
            let sizes: Vec<usize> = seen.pcm16.iter().map(Vec::len).collect();
            assert_eq!(sizes, [BLOCK_FRAMES, BLOCK_FRAMES, 1_234]);
            // The float and 16-bit views are the same samples, 3 dB down
            // per channel in stereo.
            let scale = if channels == 2 {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let floats: Vec<f32> = seen.floats.concat();
            let want: Vec<f32> = (0..total).map(|n| f(n) * scale).collect();
            assert_eq!(floats, want);
            let pcm16: Vec<i16> = seen.pcm16.concat();
            let want: Vec<i16> = want.iter().map(|&x| to_i16(x)).collect();
            assert_eq!(pcm16, want);
            // The output is what the encoder wrote, in order.
            let head = format!("8000 {channels} {total}\nTwo steps\n");
            assert_eq!(&bytes[..head.len()], head.as_bytes());
            assert_eq!(
                &bytes[head.len()..bytes.len() - 4],
                bytemuck::cast_slice::<i16, u8>(&pcm16)
            );
            assert_eq!(&bytes[bytes.len() - 4..], b"end\n");
            assert!(loudness.unwrap().lufs.is_some());
        }
    }

    #[test]
    fn an_encoder_error_stops_the_render_and_leaves_nothing() {
        let _one = FAKE.lock().unwrap_or_else(|e| e.into_inner());
        *FAKE_FAILS_AT.lock().unwrap() = Some(1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.fake");
        let mut s = sine(8_000, 20 * BLOCK_FRAMES as u64, 0.5);
        let mut staged = Staged::new(&path, false).unwrap();
        let stream = Stream {
            path: &path,
            spec: StreamSpec {
                rate: 8_000,
                channels: 1,
                total_frames: s.total,
            },
            metadata: &metadata(),
            loudness: true,
            cancel: &Cancel::new(),
        };
        let out = BufWriter::new(staged.file());
        let err = encode::<_, Fake<_>>(out, &mut s, &stream, &mut |_| {}, None)
            .err()
            .unwrap();
        *FAKE_FAILS_AT.lock().unwrap() = None;
        assert!(matches!(err, OutputError::Write { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("cannot write {}", path.display()));
        // The block that failed was the second; rendering, on its own
        // thread, stopped within the queue's length of it.
        assert!(s.calls >= 2, "{}", s.calls);
        assert!(s.calls <= 2 + QUEUED_BLOCKS + 1, "{}", s.calls);
        drop(staged);
        assert!(names(dir.path()).is_empty());
    }

    /// A disk that is full after `room` bytes (ENOSPC, as `/dev/full`).
    struct Full {
        inner: Cursor<Vec<u8>>,
        room: u64,
    }

    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.inner.position() + b.len() as u64 > self.room {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.inner.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl std::io::Seek for Full {
        fn seek(&mut self, to: std::io::SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    /// What encoding 4 blocks with `E` onto a disk with `room` bytes gives.
    fn onto_full_disk<E: Encoder<BufWriter<Full>>>(room: u64) -> Result<(), OutputError> {
        let mut s = sine(16_000, 4 * BLOCK_FRAMES as u64, 0.5);
        let stream = Stream {
            path: Path::new("full"),
            spec: StreamSpec {
                rate: 16_000,
                channels: 1,
                total_frames: s.total,
            },
            metadata: &metadata(),
            loudness: true,
            cancel: &Cancel::new(),
        };
        let out = BufWriter::new(Full {
            inner: Cursor::new(Vec::new()),
            room,
        });
        let (mut out, _) = encode::<_, E>(out, &mut s, &stream, &mut |_| {}, None)?;
        out.flush().map_err(|e| write_error(Path::new("full"), e))
    }

    #[test]
    fn a_full_disk_mid_encode_is_a_write_error_in_every_format() {
        // Mid-file: after the header, before the end, for each encoder. The
        // pipeline then drops the temporary file (see the test above).
        let full = |r: Result<(), OutputError>| match r {
            Err(OutputError::Write { source, .. }) => source.raw_os_error() == Some(28),
            other => panic!("{other:?}"),
        };
        assert!(full(onto_full_disk::<Wav<_>>(100_000)));
        assert!(full(onto_full_disk::<crate::output::flac::Flac<_>>(20_000)));
        #[cfg(feature = "mp3")]
        assert!(full(onto_full_disk::<Mp3<_>>(30_000)));
        #[cfg(feature = "opus")]
        assert!(full(onto_full_disk::<Opus<_>>(10_000)));
        // With room, the same succeed.
        assert!(onto_full_disk::<crate::output::flac::Flac<_>>(u64::MAX / 2).is_ok());
    }

    fn write(
        path: &Path,
        samples: &mut dyn Samples,
        metadata: &Metadata,
        force: bool,
        cancel: &Cancel,
    ) -> Result<AudioSummary, OutputError> {
        write_audio(
            path,
            samples,
            metadata,
            &AudioOptions {
                force,
                ..AudioOptions::default()
            },
            cancel,
            &mut |_| {},
        )
    }

    fn chapters(at: &[(u64, &str)]) -> Metadata {
        Metadata {
            chapters: at
                .iter()
                .map(|&(start_frame, title)| Chapter {
                    start_frame,
                    end_frame: start_frame + 1,
                    title: title.into(),
                })
                .collect(),
            ..Metadata::default()
        }
    }

    #[test]
    fn writes_a_file_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(44_100, 44_100 * 2 + 5, 0.5);
        let mut seen = vec![];
        let sum = write_audio(
            &path,
            &mut s,
            &chapters(&[(0, "One"), (44_100, "Two"), (44_100 * 3, "past the end")]),
            &AudioOptions::default(),
            &Cancel::new(),
            &mut |n| seen.push(n),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(sum.bytes, bytes.len() as u64);
        assert_eq!(sum.frames, 44_100 * 2 + 5);
        assert_eq!(sum.chapters, 2);
        assert_eq!(sum.format, Format::Wav);
        assert_eq!((sum.rate, sum.channels), (44_100, 1));
        assert!((sum.seconds() - 2.0 - 5.0 / 44_100.0).abs() < 1e-12);
        // A −6.02 dBFS sine at 440 Hz peaks at −6.02 dBFS; in mono its mean square
        // is −9.03 dB, the K-filter's gain at 440 Hz is +0.01 dB (from the
        // BS.1770 coefficients), and the −0.691 dB offset applies: −9.71 LUFS.
        let loudness = sum.loudness.unwrap();
        let tp = loudness.sample_peak.unwrap();
        assert!((tp - -6.02).abs() < 0.05, "{tp}");
        let lufs = loudness.lufs.unwrap();
        assert!((lufs - -9.71).abs() < 0.05, "{lufs}");
        assert_eq!(seen.last(), Some(&sum.frames));
        assert_eq!(
            seen.len(),
            sum.frames.div_ceil(BLOCK_FRAMES as u64) as usize
        );
        assert_eq!(
            crate::output::wav::tests::read_markers(&bytes),
            [(0, "One".to_string()), (44_100, "Two".to_string())]
        );
        assert_eq!(names(dir.path()), ["s.wav"]);
    }

    #[test]
    fn refusal_leaves_the_existing_file_byte_identical_and_renders_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let old: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(&path, &old).unwrap();
        let mut s = sine(8_000, 80_000, 0.5);
        let err = write(&path, &mut s, &Metadata::default(), false, &Cancel::new()).unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }), "{err:?}");
        assert_eq!(s.calls, 0, "refused before rendering");
        assert_eq!(std::fs::read(&path).unwrap(), old);
        assert_eq!(names(dir.path()), ["s.wav"]);
    }

    #[test]
    fn what_the_format_cannot_hold_is_refused_before_rendering_or_creating_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let refuse = |rate: u32, channels: u16| {
            let mut s = sine(rate, 10, 0.3);
            let options = AudioOptions {
                channels,
                ..AudioOptions::default()
            };
            let never = Cancel::new();
            let e = write_audio(
                &path,
                &mut s,
                &Metadata::default(),
                &options,
                &never,
                &mut |_| {},
            )
            .unwrap_err();
            assert_eq!(s.calls, 0);
            assert!(names(dir.path()).is_empty());
            e.to_string().replace(&path.display().to_string(), "x.wav")
        };
        assert_eq!(
            refuse(8_000, 0),
            "cannot write x.wav with 0 channels: use 1 (mono) or 2 (stereo)"
        );
        assert_eq!(
            refuse(8_000, 3),
            "cannot write x.wav with 3 channels: use 1 (mono) or 2 (stereo)"
        );
        assert_eq!(
            refuse(4_000, 1),
            "cannot write x.wav at 4000 Hz: use a rate from 8000 to 384000 Hz"
        );
    }

    #[test]
    fn loudness_can_be_left_unmeasured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(8_000, 3 * BLOCK_FRAMES as u64, 0.5);
        let options = AudioOptions {
            loudness: false,
            ..AudioOptions::default()
        };
        let never = Cancel::new();
        let sum = write_audio(
            &path,
            &mut s,
            &Metadata::default(),
            &options,
            &never,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(sum.loudness, None);
        assert_eq!(sum.frames, 3 * BLOCK_FRAMES as u64);
        // The same bytes as with the meter on (the 16-bit block is reused
        // without it).
        let measured = dir.path().join("m.wav");
        let mut s = sine(8_000, 3 * BLOCK_FRAMES as u64, 0.5);
        write(&measured, &mut s, &Metadata::default(), false, &never).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&measured).unwrap()
        );
    }

    #[test]
    fn force_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        std::fs::write(&path, b"old").unwrap();
        let mut s = sine(8_000, 100, 0.5);
        write(&path, &mut s, &Metadata::default(), true, &Cancel::new()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 44 + 200);
    }

    #[test]
    fn a_render_error_mid_file_leaves_nothing() {
        for existing in [None, Some(b"precious".to_vec())] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.wav");
            if let Some(old) = &existing {
                std::fs::write(&path, old).unwrap();
            }
            let mut s = sine(8_000, 10 * BLOCK_FRAMES as u64, 0.5);
            s.fail_at = Some(4);
            let err = write(
                &path,
                &mut s,
                &Metadata::default(),
                existing.is_some(),
                &Cancel::new(),
            )
            .unwrap_err();
            assert!(matches!(err, OutputError::Render { .. }), "{err:?}");
            assert_eq!(s.calls, 5);
            match &existing {
                None => assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path())),
                Some(old) => {
                    assert_eq!(names(dir.path()), ["s.wav"]);
                    assert_eq!(&std::fs::read(&path).unwrap(), old);
                }
            }
        }
    }

    #[test]
    fn a_cancel_mid_file_leaves_nothing() {
        let cancel = Cancel::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(8_000, 10 * BLOCK_FRAMES as u64, 0.5);
        s.cancel_at = Some((3, cancel.clone()));
        let err = write(&path, &mut s, &Metadata::default(), false, &cancel).unwrap_err();
        assert!(matches!(err, OutputError::Cancelled { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("cancelled; {} was not written", path.display())
        );
        // Checked before each block: the flag set during block 3 stops block 4.
        assert_eq!(s.calls, 4);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn an_interrupted_renderer_counts_as_a_cancel() {
        struct Quits;
        impl Samples for Quits {
            fn rate(&self) -> u32 {
                8_000
            }
            fn total(&self) -> u64 {
                100_000
            }
            fn fill(&mut self, _: u64, _: &mut [f32]) -> Result<(), RenderError> {
                Err(RenderError::Cancelled)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let err = write(
            &path,
            &mut Quits,
            &Metadata::default(),
            false,
            &Cancel::new(),
        )
        .unwrap_err();
        assert!(matches!(err, OutputError::Cancelled { .. }), "{err:?}");
        assert!(names(dir.path()).is_empty());
    }
}
