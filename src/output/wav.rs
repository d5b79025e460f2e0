//! The WAV writer: a session's samples → a 16-bit PCM WAV file with one
//! marker per step.
//!
//! The samples are pulled from a [`Samples`] in blocks of [`BLOCK_FRAMES`],
//! converted to 16-bit ([`super::to_i16`]), measured (BS.1770 integrated
//! loudness and sample peak, of exactly what is written, on a second
//! thread) and written; memory does not grow with the session. The length
//! is known before the first sample, so the file is written front to back
//! in one pass: the canonical 44-byte header with its final sizes, the
//! samples, then a `cue ` chunk (one cue point per marker) and a
//! `LIST`/`adtl` chunk (one `labl` per marker) so editors show where each
//! step starts. (hound, which reads every file in the tests, wrote the
//! samples one call each and needed a seek back to patch its sizes.)
//!
//! The file goes through the rule in [`crate::output`]: temporary file,
//! sync, rename; no overwrite without `force`; nothing left on an error or a
//! cancel.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::ScopedJoinHandle;

use crate::sound::loudness::Integrated;
use std::time::Duration;

use super::{OutputError, Staged};
use crate::render::Samples;
use crate::timeline::StepSpan;

/// Frames pulled from the renderer at a time.
pub const BLOCK_FRAMES: usize = 32_768;

/// Bytes written between syncs while writing (see [`write_wav`]).
const SYNC_EVERY_BYTES: usize = 16 << 20;

/// Size of the file before the samples (RIFF, `fmt ` as PCMWAVEFORMAT,
/// `data` header) for 1 or 2 channels at 16 bits.
const HEADER_BYTES: u64 = 44;

/// A labelled position in the file: where a step starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Frame the marker points at.
    pub sample: u64,
    /// What an editor shows for it.
    pub label: String,
}

impl Marker {
    /// One marker per step, at its first sample, labelled with its name.
    pub fn from_steps(steps: &[StepSpan]) -> Vec<Marker> {
        steps
            .iter()
            .map(|s| Marker {
                sample: s.start,
                label: s.name.clone(),
            })
            .collect()
    }
}

/// How to write a WAV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavOptions {
    /// Channels in the file: 1, or 2 with the mono session in both.
    pub channels: u16,
    /// Replace an existing file.
    pub force: bool,
    /// Measure loudness and true peak of what is written (on two extra
    /// threads); without it [`WavSummary::loudness`] is `None`.
    pub loudness: bool,
}

impl Default for WavOptions {
    fn default() -> Self {
        WavOptions {
            channels: 1,
            force: false,
            loudness: true,
        }
    }
}

/// What was written, measured on the file's own 16-bit samples.
#[derive(Clone, Debug, PartialEq)]
pub struct WavSummary {
    /// The file written.
    pub path: PathBuf,
    /// Frames per second.
    pub rate: u32,
    /// Channels.
    pub channels: u16,
    /// Length in frames (samples per channel).
    pub frames: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Markers written (one per step).
    pub markers: usize,
    /// Loudness of what was written; `None` when not measured
    /// ([`WavOptions::loudness`] off).
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

impl WavSummary {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate)
    }

    /// Length as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds())
    }
}

/// Renders `samples` from 0 to `samples.total()` into a 16-bit PCM WAV at
/// `path`, with `markers` as `cue `/`labl` chunks.
///
/// Everything that can be checked is checked before the first sample is
/// rendered: the channel count, the rate, the 4 GiB size limit, and the
/// overwrite rule. `cancel` is read once per block; when it is set the write
/// stops with [`OutputError::Cancelled`]. `progress` is called after each
/// block with the number of frames written so far.
///
/// Markers at or past the end of the audio are left out: they point nowhere.
pub fn write_wav(
    path: &Path,
    samples: &mut dyn Samples,
    markers: &[Marker],
    options: &WavOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<WavSummary, OutputError> {
    let plan = Plan::new(path, samples, markers, options)?;
    // Refuses an existing target (without `force`) before rendering.
    let mut staged = Staged::new(path, options.force)?;
    // A second handle, for syncing what is written while writing goes on.
    let syncer = staged.file().try_clone().ok();
    let written = {
        let mut out = BufWriter::with_capacity(1 << 16, staged.file());
        let written = encode(&mut out, path, samples, &plan, cancel, progress, syncer)?;
        out.flush().map_err(|e| write_error(path, e))?;
        written
    };
    staged.commit()?;
    Ok(WavSummary {
        path: path.into(),
        rate: plan.rate,
        channels: plan.channels,
        frames: plan.frames,
        bytes: written.bytes,
        markers: plan.markers.len(),
        loudness: written.loudness,
    })
}

/// What the file will hold, checked before anything is rendered.
struct Plan {
    rate: u32,
    channels: u16,
    frames: u64,
    /// Markers that point inside the audio, as (frame, label).
    markers: Vec<(u32, Vec<u8>)>,
    /// Whether to measure loudness.
    loudness: bool,
}

impl Plan {
    fn new(
        path: &Path,
        samples: &dyn Samples,
        markers: &[Marker],
        options: &WavOptions,
    ) -> Result<Plan, OutputError> {
        let channels = options.channels;
        if !(1..=2).contains(&channels) {
            // More would need WAVE_FORMAT_EXTENSIBLE (which Python's `wave`
            // and some players reject) to carry copies of one mono signal.
            return Err(OutputError::Channels {
                path: path.into(),
                channels,
            });
        }
        let rate = samples.rate();
        if !(8_000..=384_000).contains(&rate) {
            return Err(OutputError::Rate {
                path: path.into(),
                rate,
            });
        }
        let frames = samples.total();
        let markers: Vec<(u32, Vec<u8>)> = markers
            .iter()
            .filter(|m| m.sample < frames)
            .map(|m| {
                // NUL ends a label; keep whatever the name has before one.
                let label = m.label.split('\0').next().unwrap_or_default();
                // Fits: frames < 2^31 once the size check below passes.
                (m.sample as u32, label.as_bytes().to_vec())
            })
            .collect();
        let data = u128::from(frames) * u128::from(channels) * 2;
        let bytes = u128::from(HEADER_BYTES) + data + marker_chunks_len(&markers) as u128;
        // The RIFF size field (file size − 8) is 32 bits.
        if bytes - 8 > u128::from(u32::MAX) {
            return Err(OutputError::TooLong {
                path: path.into(),
                frames,
                channels,
                bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
            });
        }
        Ok(Plan {
            rate,
            channels,
            frames,
            markers,
            loudness: options.loudness,
        })
    }
}

impl Plan {
    /// Size of the `data` chunk's samples.
    fn data_bytes(&self) -> u64 {
        self.frames * u64::from(self.channels) * 2
    }

    /// Size of the whole file.
    fn bytes(&self) -> u64 {
        HEADER_BYTES + self.data_bytes() + marker_chunks_len(&self.markers)
    }
}

/// What [`encode`] measured.
struct Written {
    bytes: u64,
    loudness: Option<Loudness>,
}

fn write_error(path: &Path, source: io::Error) -> OutputError {
    OutputError::Write {
        path: path.into(),
        source,
    }
}

/// Writes the whole file into `out` (positioned at its start).
fn encode<W: Write>(
    out: &mut W,
    path: &Path,
    samples: &mut dyn Samples,
    plan: &Plan,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
    syncer: Option<File>,
) -> Result<Written, OutputError> {
    // The meter runs on its own thread, fed the same 16-bit blocks that are
    // written, so measuring costs the writer little wall time when a core is
    // free. Returning early (an error, a cancel) drops the sender, which ends
    // the meter thread before the scope joins it.
    std::thread::scope(|scope| {
        let meter = plan.loudness.then(|| Meter::spawn(scope, plan));
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
        let sync = move || {
            // A sync still running will pick this data up too.
            let _ = sync.try_send(());
        };
        let beside = Beside {
            meter: meter.as_ref(),
            sync: &sync,
        };
        let bytes = write_samples(out, path, samples, plan, cancel, progress, &beside)?;
        let loudness = meter.map(|meter| {
            let m = meter.finish();
            Loudness {
                lufs: m.lufs().filter(|l| l.is_finite()),
                sample_peak: m.sample_peak(),
            }
        });
        Ok(Written { bytes, loudness })
    })
}

/// What works beside the sample loop: the meter, and a sync of what has
/// been written so far.
#[derive(Clone, Copy)]
struct Beside<'a, 'scope> {
    meter: Option<&'a Meter<'scope>>,
    sync: &'a dyn Fn(),
}

/// The sample loop: header, then render, convert, meter, write; then the
/// marker chunks. Every size is known before the first sample, so the file
/// is written front to back in one pass.
fn write_samples<W: Write>(
    out: &mut W,
    path: &Path,
    samples: &mut dyn Samples,
    plan: &Plan,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
    beside: &Beside<'_, '_>,
) -> Result<u64, OutputError> {
    let Beside { meter, sync } = *beside;
    let write = |out: &mut W, bytes: &[u8]| out.write_all(bytes).map_err(|e| write_error(path, e));
    let channels = usize::from(plan.channels);
    write(out, &header(plan))?;
    // The same signal in two channels counts twice in BS.1770 (+3 dB):
    // 1/√2 keeps a stereo file at the loudness of the mono one.
    let scale = if channels == 2 {
        std::f32::consts::FRAC_1_SQRT_2
    } else {
        1.0
    };
    let mut block = vec![0.0f32; BLOCK_FRAMES];
    // Interleaved or byte-swapped samples, when the block cannot be written
    // as it is.
    let mut frames: Vec<i16> = Vec::new();
    let mut pos = 0u64;
    let mut unsynced = 0;
    while pos < plan.frames {
        if cancel.load(Ordering::Relaxed) {
            return Err(OutputError::Cancelled { path: path.into() });
        }
        let n = (plan.frames - pos).min(BLOCK_FRAMES as u64) as usize;
        let block = &mut block[..n];
        samples
            .fill(pos, block)
            .map_err(|e| OutputError::from_render(path, e))?;
        let mut mono = meter.map_or_else(Vec::new, Meter::buffer);
        mono.clear();
        mono.extend(block.iter().map(|&x| super::to_i16(x * scale)));
        let data: &[i16] = if channels == 2 {
            frames.clear();
            frames.extend(mono.iter().flat_map(|&s| [s.to_le(), s.to_le()]));
            &frames
        } else if cfg!(target_endian = "little") {
            &mono
        } else {
            frames.clear();
            frames.extend(mono.iter().map(|&s| s.to_le()));
            &frames
        };
        write(out, bytemuck::cast_slice(data))?;
        unsynced += 2 * data.len();
        if unsynced >= SYNC_EVERY_BYTES {
            sync();
            unsynced = 0;
        }
        if let Some(meter) = meter {
            meter.feed(mono);
        }
        pos += n as u64;
        progress(pos);
    }
    let markers = marker_chunks(&plan.markers);
    write(out, &markers)?;
    Ok(plan.bytes())
}

/// The RIFF header, the `fmt ` chunk (PCMWAVEFORMAT: 16-bit integer PCM)
/// and the `data` chunk's header, with the sizes of the finished file.
fn header(plan: &Plan) -> [u8; HEADER_BYTES as usize] {
    let channels = u32::from(plan.channels);
    let data = plan.data_bytes();
    let mut h = Vec::with_capacity(HEADER_BYTES as usize);
    h.extend_from_slice(b"RIFF");
    // Fit: `Plan::new` refused files past the 32-bit size fields.
    put_u32(&mut h, (plan.bytes() - 8) as u32);
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"fmt ");
    put_u32(&mut h, 16);
    h.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h.extend_from_slice(&plan.channels.to_le_bytes());
    put_u32(&mut h, plan.rate);
    put_u32(&mut h, plan.rate * channels * 2); // bytes per second
    h.extend_from_slice(&(plan.channels * 2).to_le_bytes()); // bytes per frame
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    put_u32(&mut h, data as u32);
    h.try_into().expect("a WAV header is 44 bytes")
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
    fn spawn<'env>(scope: &'scope std::thread::Scope<'scope, 'env>, plan: &Plan) -> Meter<'scope> {
        // Blocks in flight keep both threads busy; memory stays bounded
        // (4 MB). The meter takes 6.6 s of samples at a time, so a queue
        // shorter than that would stop the writer while it works.
        let (tx, rx) = sync_channel::<Vec<i16>>(64);
        let (give_back, spent) = channel::<Vec<i16>>();
        let (rate, dual) = (plan.rate, plan.channels == 2);
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

/// Bytes [`marker_chunks`] makes for `markers`.
fn marker_chunks_len(markers: &[(u32, Vec<u8>)]) -> u64 {
    if markers.is_empty() {
        return 0;
    }
    let cue = 8 + 4 + 24 * markers.len() as u64;
    let list = 8 + 4 + markers.iter().map(|(_, l)| labl_len(l)).sum::<u64>();
    cue + list
}

/// A `labl` sub-chunk with its header and pad byte.
fn labl_len(label: &[u8]) -> u64 {
    let size = 4 + label.len() as u64 + 1;
    8 + size + (size & 1)
}

/// The `cue ` and `LIST`/`adtl` chunks for `markers` (nothing when there
/// are none): one cue point and one `labl` per marker.
fn marker_chunks(markers: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut chunks = Vec::with_capacity(marker_chunks_len(markers) as usize);
    if markers.is_empty() {
        return chunks;
    }
    chunks.extend_from_slice(b"cue ");
    put_u32(&mut chunks, 4 + 24 * markers.len() as u32);
    put_u32(&mut chunks, markers.len() as u32);
    for (i, (frame, _)) in markers.iter().enumerate() {
        put_u32(&mut chunks, i as u32 + 1); // cue point id, from 1
        put_u32(&mut chunks, *frame); // position in play order
        chunks.extend_from_slice(b"data"); // the chunk it points into
        put_u32(&mut chunks, 0); // chunk start (no wavl)
        put_u32(&mut chunks, 0); // block start (PCM)
        put_u32(&mut chunks, *frame); // sample offset in frames
    }

    let list_size = 4 + markers.iter().map(|(_, l)| labl_len(l)).sum::<u64>();
    chunks.extend_from_slice(b"LIST");
    put_u32(&mut chunks, list_size as u32);
    chunks.extend_from_slice(b"adtl");
    for (i, (_, label)) in markers.iter().enumerate() {
        let size = 4 + label.len() as u32 + 1;
        chunks.extend_from_slice(b"labl");
        put_u32(&mut chunks, size);
        put_u32(&mut chunks, i as u32 + 1);
        chunks.extend_from_slice(label);
        chunks.push(0);
        if size % 2 == 1 {
            chunks.push(0); // chunks start on even offsets; the pad is not counted
        }
    }
    debug_assert_eq!(chunks.len() as u64, marker_chunks_len(markers));
    chunks
}

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output::tests::names;
    use crate::output::to_i16;
    use crate::render::RenderError;
    use std::io::Cursor;
    use std::sync::Arc;

    /// A test signal: `f(i)` for sample i, `total` samples at `rate`.
    pub(crate) struct Signal<F: FnMut(u64) -> f32> {
        pub rate: u32,
        pub total: u64,
        pub f: F,
        /// Fails at the fill call with this index (0-based), if any.
        pub fail_at: Option<usize>,
        /// Sets this flag at the fill call with this index, if any.
        pub cancel_at: Option<(usize, Arc<AtomicBool>)>,
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
                flag.store(true, Ordering::Relaxed);
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

    /// The chunks of a RIFF/WAVE file, as (id, body), checking the layout.
    pub(crate) fn chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(&bytes[0..4], b"RIFF");
        let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff, bytes.len() - 8, "RIFF size");
        assert_eq!(&bytes[8..12], b"WAVE");
        let mut out = Vec::new();
        let mut at = 12;
        while at < bytes.len() {
            let id: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            out.push((id, bytes[at + 8..at + 8 + size].to_vec()));
            at += 8 + size + (size & 1);
        }
        assert_eq!(at, bytes.len(), "chunks end exactly at the end of the file");
        out
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// The markers of a file, read back from its `cue ` and `labl` chunks.
    pub(crate) fn read_markers(bytes: &[u8]) -> Vec<Marker> {
        let chunks = chunks(bytes);
        let Some((_, cue)) = chunks.iter().find(|(id, _)| id == b"cue ") else {
            return vec![];
        };
        let n = u32_at(cue, 0) as usize;
        assert_eq!(cue.len(), 4 + 24 * n);
        let (_, list) = chunks.iter().find(|(id, _)| id == b"LIST").unwrap();
        assert_eq!(&list[0..4], b"adtl");
        let mut labels = std::collections::HashMap::new();
        let mut at = 4;
        while at < list.len() {
            assert_eq!(&list[at..at + 4], b"labl");
            let size = u32_at(list, at + 4) as usize;
            let id = u32_at(list, at + 8);
            let text = &list[at + 12..at + 8 + size];
            assert_eq!(text.last(), Some(&0), "label is NUL-terminated");
            labels.insert(
                id,
                String::from_utf8(text[..text.len() - 1].to_vec()).unwrap(),
            );
            at += 8 + size + (size & 1);
        }
        (0..n)
            .map(|i| {
                let p = &cue[4 + 24 * i..4 + 24 * (i + 1)];
                let id = u32_at(p, 0);
                assert_eq!(u32_at(p, 4), u32_at(p, 20), "position = sample offset");
                assert_eq!(&p[8..12], b"data");
                Marker {
                    sample: u64::from(u32_at(p, 20)),
                    label: labels[&id].clone(),
                }
            })
            .collect()
    }

    fn opts(channels: u16) -> WavOptions {
        WavOptions {
            channels,
            ..WavOptions::default()
        }
    }

    fn plan_for(samples: &dyn Samples, markers: &[Marker], channels: u16) -> Plan {
        Plan::new(Path::new("t.wav"), samples, markers, &opts(channels)).unwrap()
    }

    /// Encodes into memory.
    fn encode_vec(
        samples: &mut dyn Samples,
        markers: &[Marker],
        channels: u16,
    ) -> (Vec<u8>, Written) {
        let plan = plan_for(samples, markers, channels);
        let mut out = Cursor::new(Vec::new());
        let never = AtomicBool::new(false);
        let w = encode(
            &mut out,
            Path::new("t.wav"),
            samples,
            &plan,
            &never,
            &mut |_| {},
            None,
        )
        .unwrap();
        (out.into_inner(), w)
    }

    fn marker(sample: u64, label: &str) -> Marker {
        Marker {
            sample,
            label: label.into(),
        }
    }

    #[test]
    fn conversion_rounds_and_clamps() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(-0.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32767);
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-2.0), -32768);
        // 16383.5 exactly: a tie, to the even neighbour.
        assert_eq!(to_i16(0.5), 16384);
        assert_eq!(to_i16(-0.5), -16384);
        assert_eq!(to_i16(0.49 / 32767.0), 0);
        assert_eq!(to_i16(0.51 / 32767.0), 1);
        assert_eq!(to_i16(-0.51 / 32767.0), -1);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(f32::INFINITY), 32767);
        assert_eq!(to_i16(f32::NEG_INFINITY), -32768);
        // Ties go to even: 2.5 → 2, 3.5 → 4.
        assert_eq!(to_i16(2.5 / 32767.0), 2);
        assert_eq!(to_i16(3.5 / 32767.0), 4);
        // Every step of a slow ramp is rounded to its nearest integer.
        for i in -40_000..40_000 {
            let x = i as f32 / 40_000.0;
            let exact = f64::from(x * 32767.0);
            let got = f64::from(to_i16(x));
            assert!((got - exact).abs() <= 0.5, "{x}: {got} vs {exact}");
        }
    }

    #[test]
    fn exact_frame_count_across_block_edges() {
        for total in [
            0,
            1,
            BLOCK_FRAMES as u64 - 1,
            BLOCK_FRAMES as u64,
            3 * BLOCK_FRAMES as u64 + 17,
        ] {
            let mut s = Signal::new(8_000, total, |n| (n % 100) as f32 / 1000.0);
            let (bytes, w) = encode_vec(&mut s, &[], 1);
            assert_eq!(w.bytes, bytes.len() as u64);
            assert_eq!(bytes.len() as u64, HEADER_BYTES + 2 * total);
            let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
            assert_eq!(u64::from(r.duration()), total);
            let got: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
            let want: Vec<i16> = (0..total)
                .map(|n| to_i16((n % 100) as f32 / 1000.0))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn stereo_duplicates_the_mono_signal_3_db_down() {
        let mut s = Signal::new(8_000, 5000, |n| n as f32 / 5000.0 - 0.5);
        let (bytes, _) = encode_vec(&mut s, &[], 2);
        let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(r.spec().channels, 2);
        assert_eq!(r.duration(), 5000);
        let got: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(got.len(), 10_000);
        for (n, pair) in got.chunks_exact(2).enumerate() {
            let want = to_i16((n as f32 / 5000.0 - 0.5) * std::f32::consts::FRAC_1_SQRT_2);
            assert_eq!(pair, [want, want], "frame {n}");
        }
    }

    #[test]
    fn silence_round_trips_as_zeros() {
        let mut s = Signal::new(44_100, 44_100, |_| 0.0);
        let (bytes, w) = encode_vec(&mut s, &[], 1);
        let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert!(r.into_samples::<i16>().all(|s| s.unwrap() == 0));
        assert_eq!(
            w.loudness,
            Some(Loudness {
                lufs: None,
                sample_peak: None
            })
        );
        // And values too small for one step stay zero: no dither.
        let mut s = Signal::new(44_100, 1000, |n| if n % 2 == 0 { 1e-5 } else { -1e-5 });
        let (bytes, _) = encode_vec(&mut s, &[], 1);
        let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert!(r.into_samples::<i16>().all(|s| s.unwrap() == 0));
    }

    #[test]
    fn loudness_of_a_known_tone() {
        // BS.1770's −0.691 dB offset cancels the K-filter's gain near 1 kHz,
        // so a sine's loudness per channel is its mean square: peak − 3.01 dB.
        // A −20 dBFS sine is −23.0 LUFS in mono; in two channels the energies
        // would add (+3 dB, EBU Tech 3341 case 1), so stereo is written 3 dB
        // down per channel.
        let tone = |channels| {
            let amp = 10f32.powf(-20.0 / 20.0);
            let rate = 48_000;
            let mut s = Signal::new(rate, u64::from(rate) * 20, move |n| {
                amp * (std::f32::consts::TAU * 997.0 * n as f32 / rate as f32).sin()
            });
            encode_vec(&mut s, &[], channels).1
        };
        let (mono, stereo) = (tone(1), tone(2));
        let (mono, stereo) = (mono.loudness.unwrap(), stereo.loudness.unwrap());
        let (mono_lufs, stereo_lufs) = (mono.lufs.unwrap(), stereo.lufs.unwrap());
        assert!((mono_lufs - -23.0).abs() < 0.1, "{mono_lufs}");
        // Stereo carries the signal 3 dB down in each channel, so it
        // measures as loud as mono.
        assert!((stereo_lufs - -23.0).abs() < 0.1, "{stereo_lufs}");
        // A sine's sample peak at 48 kHz is (within 16-bit rounding) its peak.
        let (mono_peak, stereo_peak) = (mono.sample_peak.unwrap(), stereo.sample_peak.unwrap());
        assert!((mono_peak - -20.0).abs() < 0.05, "{mono_peak}");
        assert!((stereo_peak - -23.01).abs() < 0.05, "{stereo_peak}");
    }

    #[test]
    fn markers_are_in_the_file_at_their_samples() {
        let markers = [
            marker(0, "Welcome"),
            marker(1000, "Cat–cow"), // non-ASCII, odd byte length
            marker(4500, "Child's pose"),
            marker(5000, "past the end"), // dropped
        ];
        let mut s = sine(8_000, 5000, 0.3);
        let (bytes, w) = encode_vec(&mut s, &markers, 1);
        assert_eq!(w.bytes, bytes.len() as u64);
        assert_eq!(read_markers(&bytes), markers[..3]);
        let ids: Vec<[u8; 4]> = chunks(&bytes).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [*b"fmt ", *b"data", *b"cue ", *b"LIST"]);
        // hound still reads the audio, all of it.
        let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(r.duration(), 5000);
    }

    #[test]
    fn labels_stop_at_a_nul_and_even_lengths_get_no_pad() {
        let markers = [marker(0, "ab\0cd"), marker(1, "abc")];
        let mut s = sine(8_000, 10, 0.3);
        let (bytes, _) = encode_vec(&mut s, &markers, 1);
        let got = read_markers(&bytes);
        assert_eq!(got, [marker(0, "ab"), marker(1, "abc")]);
        let (_, list) = chunks(&bytes)
            .into_iter()
            .find(|(id, _)| id == b"LIST")
            .unwrap();
        // adtl + labl(8 + 4 + "ab\0" = 7, padded to 8) + labl(8 + 4 + "abc\0" = 8)
        assert_eq!(list.len(), 4 + (8 + 7 + 1) + (8 + 8));
    }

    #[test]
    fn from_steps_takes_starts_and_names() {
        let steps = [
            StepSpan {
                index: 0,
                name: "Welcome".into(),
                start: 0,
                end: 10,
                line: 3,
            },
            StepSpan {
                index: 1,
                name: "Mountain".into(),
                start: 10,
                end: 30,
                line: 9,
            },
        ];
        assert_eq!(
            Marker::from_steps(&steps),
            [marker(0, "Welcome"), marker(10, "Mountain")]
        );
    }

    #[test]
    fn bad_channels_and_rates_are_refused_before_rendering() {
        let s = sine(8_000, 10, 0.3);
        let p = Path::new("x.wav");
        let e = Plan::new(p, &s, &[], &opts(0)).err().unwrap();
        assert_eq!(
            e.to_string(),
            "cannot write x.wav with 0 channels: use 1 (mono) or 2 (stereo)"
        );
        assert!(Plan::new(p, &s, &[], &opts(3)).is_err());
        let s = sine(4_000, 10, 0.3);
        let e = Plan::new(p, &s, &[], &opts(1)).err().unwrap();
        assert_eq!(
            e.to_string(),
            "cannot write x.wav at 4000 Hz: use a rate from 8000 to 384000 Hz"
        );
    }

    #[test]
    fn over_4_gib_is_refused_before_rendering() {
        // Exactly at the limit passes; one more frame does not.
        let max_frames = (u64::from(u32::MAX) + 8 - HEADER_BYTES) / 4;
        let s = Signal::new(48_000, max_frames, |_| 0.0);
        assert!(Plan::new(Path::new("x.wav"), &s, &[], &opts(2)).is_ok());
        let s = Signal::new(48_000, max_frames + 1, |_| 0.0);
        let e = Plan::new(Path::new("x.wav"), &s, &[], &opts(2))
            .err()
            .unwrap();
        assert!(matches!(e, OutputError::TooLong { .. }), "{e:?}");
        // Markers count towards the limit.
        let s = Signal::new(48_000, max_frames, |_| 0.0);
        assert!(Plan::new(Path::new("x.wav"), &s, &[marker(0, "a")], &opts(2)).is_err());
    }

    fn write(
        path: &Path,
        samples: &mut dyn Samples,
        markers: &[Marker],
        force: bool,
        cancel: &AtomicBool,
    ) -> Result<WavSummary, OutputError> {
        write_wav(
            path,
            samples,
            markers,
            &WavOptions {
                force,
                ..WavOptions::default()
            },
            cancel,
            &mut |_| {},
        )
    }

    #[test]
    fn writes_a_file_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(44_100, 44_100 * 2 + 5, 0.5);
        let never = AtomicBool::new(false);
        let mut seen = vec![];
        let sum = write_wav(
            &path,
            &mut s,
            &[marker(0, "One"), marker(44_100, "Two")],
            &WavOptions::default(),
            &never,
            &mut |n| seen.push(n),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(sum.bytes, bytes.len() as u64);
        assert_eq!(sum.frames, 44_100 * 2 + 5);
        assert_eq!(sum.markers, 2);
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
            read_markers(&bytes),
            [marker(0, "One"), marker(44_100, "Two")]
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
        let err = write(&path, &mut s, &[], false, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }), "{err:?}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(s.calls, 0, "refused before rendering");
        assert_eq!(std::fs::read(&path).unwrap(), old);
        assert_eq!(names(dir.path()), ["s.wav"]);
    }

    #[test]
    fn loudness_can_be_left_unmeasured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(8_000, 8_000, 0.5);
        let options = WavOptions {
            loudness: false,
            ..WavOptions::default()
        };
        let never = AtomicBool::new(false);
        let sum = write_wav(&path, &mut s, &[], &options, &never, &mut |_| {}).unwrap();
        assert_eq!(sum.loudness, None);
        assert_eq!(sum.frames, 8_000);
    }

    #[test]
    fn force_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        std::fs::write(&path, b"old").unwrap();
        let mut s = sine(8_000, 100, 0.5);
        write(&path, &mut s, &[], true, &AtomicBool::new(false)).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap().len() as u64,
            HEADER_BYTES + 200
        );
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
                &[],
                existing.is_some(),
                &AtomicBool::new(false),
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
        let cancel = Arc::new(AtomicBool::new(false));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(8_000, 10 * BLOCK_FRAMES as u64, 0.5);
        s.cancel_at = Some((3, Arc::clone(&cancel)));
        let err = write(&path, &mut s, &[], false, &cancel).unwrap_err();
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
        let err = write(&path, &mut Quits, &[], false, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(err, OutputError::Cancelled { .. }), "{err:?}");
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn python_wave_reads_the_file_with_markers() {
        let Ok(status) = std::process::Command::new("python3")
            .arg("--version")
            .status()
        else {
            eprintln!("python3 not found; skipped");
            return;
        };
        assert!(status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut s = sine(22_050, 12_345, 0.5);
        write(
            &path,
            &mut s,
            &[marker(0, "A"), marker(6000, "Bee")],
            false,
            &AtomicBool::new(false),
        )
        .unwrap();
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, wave\n\
                 w = wave.open(sys.argv[1])\n\
                 d = w.readframes(w.getnframes())\n\
                 print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes(), len(d))",
            )
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1 2 22050 12345 24690"
        );
    }
}
