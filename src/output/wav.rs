//! The WAV encoder: a session → a 16-bit PCM WAV file with one marker per
//! chapter (step).
//!
//! The length is known before the first sample, so the file is written
//! front to back in one pass, with no seek: the canonical 44-byte header
//! with its final sizes, the samples, then a `cue ` chunk (one cue point
//! per chapter) and a `LIST`/`adtl` chunk (one `labl` per chapter) so
//! editors show where each step starts. (hound, which reads every file in
//! the tests, wrote the samples one call each and needed a seek back to
//! patch its sizes.) The format has no place for the other tags.

use std::io::{self, Write};

use super::encode::{Block, Encoder, Metadata, StreamSpec, Unsupported};

/// Size of the file before the samples (RIFF, `fmt ` as PCMWAVEFORMAT,
/// `data` header) for 1 or 2 channels at 16 bits.
const HEADER_BYTES: u64 = 44;

/// Writes a WAV into `W`: see the [module docs](self).
pub struct Wav<W> {
    out: W,
    channels: u16,
    /// The cue points, written at the end.
    markers: Vec<(u32, Vec<u8>)>,
    /// Interleaved or byte-swapped samples, when a block cannot be written
    /// as it is.
    frames: Vec<i16>,
}

/// What the file will hold, checked before anything is rendered.
struct Layout {
    rate: u32,
    channels: u16,
    frames: u64,
    /// Chapters that start inside the audio, as (frame, label): markers at
    /// or past the end point nowhere and are left out.
    markers: Vec<(u32, Vec<u8>)>,
}

/// Refuses what a WAV cannot hold: other than 1 or 2 channels, a rate
/// outside 8–384 kHz, or more than the 4 GiB its 32-bit sizes count.
pub(crate) fn check(spec: &StreamSpec, metadata: &Metadata) -> Result<(), Unsupported> {
    Layout::new(spec, metadata).map(drop)
}

impl Layout {
    fn new(spec: &StreamSpec, metadata: &Metadata) -> Result<Layout, Unsupported> {
        let channels = spec.channels;
        if !(1..=2).contains(&channels) {
            // More would need WAVE_FORMAT_EXTENSIBLE (which Python's `wave`
            // and some players reject) to carry copies of one mono signal.
            return Err(Unsupported::Channels { channels });
        }
        let rate = spec.rate;
        if !(8_000..=384_000).contains(&rate) {
            return Err(Unsupported::Rate {
                rate,
                hint: "a rate from 8000 to 384000 Hz",
            });
        }
        let frames = spec.total_frames;
        let markers: Vec<(u32, Vec<u8>)> = metadata
            .chapters
            .iter()
            .filter(|c| c.start_frame < frames)
            .map(|c| {
                // NUL ends a label; keep whatever the name has before one.
                let label = c.title.split('\0').next().unwrap_or_default();
                // Fits: frames < 2^31 once the size check below passes.
                (c.start_frame as u32, label.as_bytes().to_vec())
            })
            .collect();
        let data = u128::from(frames) * u128::from(channels) * 2;
        let bytes = u128::from(HEADER_BYTES) + data + marker_chunks_len(&markers) as u128;
        // The RIFF size field (file size − 8) is 32 bits.
        if bytes - 8 > u128::from(u32::MAX) {
            return Err(Unsupported::TooLong {
                frames,
                channels,
                bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
            });
        }
        Ok(Layout {
            rate,
            channels,
            frames,
            markers,
        })
    }

    /// Size of the `data` chunk's samples.
    fn data_bytes(&self) -> u64 {
        self.frames * u64::from(self.channels) * 2
    }

    /// Size of the whole file.
    fn bytes(&self) -> u64 {
        HEADER_BYTES + self.data_bytes() + marker_chunks_len(&self.markers)
    }

    /// The RIFF header, the `fmt ` chunk (PCMWAVEFORMAT: 16-bit integer
    /// PCM) and the `data` chunk's header, with the sizes of the finished
    /// file.
    fn header(&self) -> [u8; HEADER_BYTES as usize] {
        let channels = u32::from(self.channels);
        let data = self.data_bytes();
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.extend_from_slice(b"RIFF");
        // Fit: `Layout::new` refused files past the 32-bit size fields.
        put_u32(&mut h, (self.bytes() - 8) as u32);
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(b"fmt ");
        put_u32(&mut h, 16);
        h.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
        h.extend_from_slice(&self.channels.to_le_bytes());
        put_u32(&mut h, self.rate);
        put_u32(&mut h, self.rate * channels * 2); // bytes per second
        h.extend_from_slice(&(self.channels * 2).to_le_bytes()); // bytes per frame
        h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        h.extend_from_slice(b"data");
        put_u32(&mut h, data as u32);
        h.try_into().expect("a WAV header is 44 bytes")
    }
}

impl<W: Write> Encoder<W> for Wav<W> {
    fn new(mut out: W, spec: &StreamSpec, metadata: &Metadata) -> io::Result<Self> {
        let layout = Layout::new(spec, metadata)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        out.write_all(&layout.header())?;
        Ok(Wav {
            out,
            channels: layout.channels,
            markers: layout.markers,
            frames: Vec::new(),
        })
    }

    fn write(&mut self, block: &Block<'_>) -> io::Result<()> {
        let mono = block.pcm16;
        let data: &[i16] = if self.channels == 2 {
            self.frames.clear();
            self.frames
                .extend(mono.iter().flat_map(|&s| [s.to_le(), s.to_le()]));
            &self.frames
        } else if cfg!(target_endian = "little") {
            mono
        } else {
            self.frames.clear();
            self.frames.extend(mono.iter().map(|&s| s.to_le()));
            &self.frames
        };
        self.out.write_all(bytemuck::cast_slice(data))
    }

    fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&marker_chunks(&self.markers))?;
        Ok(self.out)
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
    use crate::Cancel;
    use crate::output::audio::tests::{Signal, sine};
    use crate::output::audio::{self, AudioOptions, BLOCK_FRAMES, Loudness, write_audio};
    use crate::output::encode::Chapter;
    use crate::output::to_i16;
    use crate::render::Samples;
    use std::io::Cursor;

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

    /// The markers of a file, as (frame, label), read back from its `cue `
    /// and `labl` chunks.
    pub(crate) fn read_markers(bytes: &[u8]) -> Vec<(u64, String)> {
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
                (u64::from(u32_at(p, 20)), labels[&id].clone())
            })
            .collect()
    }

    fn chapters(markers: &[(u64, String)]) -> Metadata {
        Metadata {
            chapters: markers
                .iter()
                .map(|(start_frame, title)| Chapter {
                    start_frame: *start_frame,
                    end_frame: start_frame + 1,
                    title: title.clone(),
                })
                .collect(),
            ..Metadata::default()
        }
    }

    fn spec(samples: &dyn Samples, channels: u16) -> StreamSpec {
        StreamSpec {
            rate: samples.rate(),
            channels,
            total_frames: samples.total(),
        }
    }

    /// Encodes into memory with `markers` as chapters, and checks that the
    /// file is the size its header (and the 4 GiB check) counted on.
    fn encode_vec(
        samples: &mut dyn Samples,
        markers: &[(u64, String)],
        channels: u16,
    ) -> (Vec<u8>, Option<Loudness>) {
        let metadata = chapters(markers);
        let layout = Layout::new(&spec(samples, channels), &metadata).unwrap();
        let (bytes, loudness) = audio::tests::encode_vec::<Wav<_>>(samples, &metadata, channels);
        assert_eq!(layout.bytes(), bytes.len() as u64);
        (bytes, loudness)
    }

    fn marker(sample: u64, label: &str) -> (u64, String) {
        (sample, label.into())
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
            let (bytes, _) = encode_vec(&mut s, &[], 1);
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
        let (bytes, loudness) = encode_vec(&mut s, &[], 1);
        let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert!(r.into_samples::<i16>().all(|s| s.unwrap() == 0));
        assert_eq!(
            loudness,
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
        let (mono, stereo) = (mono.unwrap(), stereo.unwrap());
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
        let (bytes, _) = encode_vec(&mut s, &markers, 1);
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

    fn spec_of(rate: u32, channels: u16, total_frames: u64) -> StreamSpec {
        StreamSpec {
            rate,
            channels,
            total_frames,
        }
    }

    #[test]
    fn bad_channels_and_rates_are_refused() {
        let none = Metadata::default();
        assert_eq!(
            check(&spec_of(8_000, 0, 10), &none),
            Err(Unsupported::Channels { channels: 0 })
        );
        assert_eq!(
            check(&spec_of(8_000, 3, 10), &none),
            Err(Unsupported::Channels { channels: 3 })
        );
        assert_eq!(
            check(&spec_of(4_000, 1, 10), &none),
            Err(Unsupported::Rate {
                rate: 4_000,
                hint: "a rate from 8000 to 384000 Hz"
            })
        );
        assert_eq!(
            check(&spec_of(384_001, 1, 10), &none),
            Err(Unsupported::Rate {
                rate: 384_001,
                hint: "a rate from 8000 to 384000 Hz"
            })
        );
        assert_eq!(check(&spec_of(8_000, 2, 10), &none), Ok(()));
        assert_eq!(check(&spec_of(384_000, 1, 10), &none), Ok(()));
        // And the encoder refuses them too, if asked without a check.
        let e = Wav::new(Vec::new(), &spec_of(8_000, 3, 10), &none)
            .err()
            .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn over_4_gib_is_refused() {
        // Exactly at the limit passes; one more frame does not.
        let max_frames = (u64::from(u32::MAX) + 8 - HEADER_BYTES) / 4;
        let none = Metadata::default();
        assert_eq!(check(&spec_of(48_000, 2, max_frames), &none), Ok(()));
        let e = check(&spec_of(48_000, 2, max_frames + 1), &none).unwrap_err();
        assert_eq!(
            e,
            Unsupported::TooLong {
                frames: max_frames + 1,
                channels: 2,
                bytes: HEADER_BYTES + 4 * (max_frames + 1)
            }
        );
        assert_eq!(
            crate::output::OutputError::unsupported(std::path::Path::new("x.wav"), e).to_string(),
            format!(
                "cannot write x.wav: {} frames at 2 channel(s) are {} bytes, over the WAV \
                 format's 4 GiB limit; use a lower rate, mono, or a shorter routine",
                max_frames + 1,
                HEADER_BYTES + 4 * (max_frames + 1)
            )
        );
        // Markers count towards the limit.
        let one = chapters(&[marker(0, "a")]);
        assert!(check(&spec_of(48_000, 2, max_frames), &one).is_err());
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
        write_audio(
            &path,
            &mut s,
            &chapters(&[marker(0, "A"), marker(6000, "Bee")]),
            &AudioOptions::default(),
            &Cancel::new(),
            &mut |_| {},
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
