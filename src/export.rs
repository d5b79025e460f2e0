//! `vinyasa export`, library side: where each routine's files go, and one
//! session written as an audio file (a [`Format`]: WAV by default, or what
//! the file's extension or [`ExportOptions::format`] names) with its
//! chapters, tags and captions, telling a [`Progress`] how far it is, and a
//! one-line summary.
//!
//! The command line is parsed elsewhere, and progress is drawn elsewhere;
//! this module takes plain values.
//! Every file goes through the rule of [`crate::output`]: all targets are
//! checked before anything is rendered, each file is written beside its
//! target and renamed when complete, and an error or a cancel leaves no
//! file and no temporary file behind.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::Cancel;
use crate::output::audio::{AudioOptions, AudioSummary, write_audio};
use crate::output::captions::{CaptionFormat, stage_captions};
use crate::output::encode::{Format, Metadata};
use crate::output::{OutputError, check_target};
use crate::render::Samples;
use crate::timeline::Timeline;

/// How to export one session.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Replace existing files.
    pub force: bool,
    /// The audio format (`--format`); `None` goes by the file's extension,
    /// and to WAV where a name is made up ([`targets`]).
    pub format: Option<Format>,
    /// Channels in the file: 1, or 2 with the mono session in both.
    pub channels: u16,
    /// Who the routine comes from (its `credit`), tagged as the artist
    /// where the format has tags; a timeline does not carry it.
    pub artist: Option<String>,
    /// The routine's description, tagged as the comment.
    pub comment: Option<String>,
    /// Caption files to write beside the audio.
    pub captions: BTreeSet<CaptionFormat>,
    /// Measure the loudness of the file as it is written, for the summary.
    pub loudness: bool,
    /// Cancelled from another thread (a Ctrl-C handler) to stop the export;
    /// it is read once per block of samples.
    pub cancel: Cancel,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            force: false,
            format: None,
            channels: 1,
            artist: None,
            comment: None,
            captions: BTreeSet::new(),
            loudness: true,
            cancel: Cancel::new(),
        }
    }
}

/// Why an export did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing a file failed (or was refused, or cancelled).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// No routine was given.
    #[error("no routine to export: name one or more routine files")]
    NoRoutines,
    /// A routine path with no file name to name the output after.
    #[error("cannot name the output after {}: give a routine file, or -o FILE.wav", routine.display())]
    NoStem {
        /// The routine path.
        routine: PathBuf,
    },
    /// An audio file whose extension names no format vinyasa writes (and
    /// no `--format` was given).
    #[error(
        "{}: name a file ending in {} (for example {}) or a directory",
        output.display(),
        Format::list(),
        output.with_extension("wav").display()
    )]
    UnknownFormat {
        /// The file named.
        output: PathBuf,
    },
    /// The file's extension and `--format` disagree.
    #[error(
        "{} is not named as a .{format} file, but the format {format} was asked for: name it {}",
        output.display(),
        output.with_extension(format.extension()).display()
    )]
    FormatMismatch {
        /// The file named.
        output: PathBuf,
        /// The format asked for.
        format: Format,
    },
    /// `-o` names a file but several routines were given.
    #[error(
        "-o {} is a file, but {count} routines were given: with several routines, -o must name a directory",
        output.display()
    )]
    OutputIsFile {
        /// The `-o` value.
        output: PathBuf,
        /// How many routines.
        count: usize,
    },
    /// The `-o` directory could not be created.
    #[error("cannot create the output directory {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Two routines would write the same file.
    #[error(
        "{} and {} would both be written to {}: export them one at a time with -o",
        first.display(),
        second.display(),
        target.display()
    )]
    SameTarget {
        /// The shared output.
        target: PathBuf,
        /// The first routine.
        first: PathBuf,
        /// The second routine.
        second: PathBuf,
    },
    /// Two outputs of one export are the same file (a WAV named `x.srt`
    /// with SRT captions).
    #[error("{} would be both the audio and the {format} captions: name the audio .wav", path.display())]
    CaptionsClash {
        /// The path.
        path: PathBuf,
        /// The caption format.
        format: CaptionFormat,
    },
    /// The samples do not match the timeline (a wiring bug, caught before
    /// markers and captions end up at the wrong times).
    #[error(
        "the audio for {} is {samples_total} samples at {samples_rate} Hz, but its timeline is \
         {timeline_total} samples at {timeline_rate} Hz",
        path.display()
    )]
    Mismatch {
        /// The WAV target.
        path: PathBuf,
        /// Rate of the samples.
        samples_rate: u32,
        /// Length of the samples.
        samples_total: u64,
        /// Rate of the timeline.
        timeline_rate: u32,
        /// Length of the timeline.
        timeline_total: u64,
    },
}

/// The audio file each routine is exported to, in `format` (`--format`)
/// or else the format `-o FILE`'s extension names, WAV where a name is made
/// up. `EXT` below is the format's extension.
///
/// * One routine: `-o FILE.EXT`, or `-o DIR` (an existing directory, or any
///   path ending in `/`) for `DIR/<stem>.EXT`, or by default `<stem>.EXT` in
///   the current directory, where `<stem>` is the routine's file name
///   without its extension.
/// * Several routines: `-o DIR` (created if missing) for `DIR/<stem>.EXT`
///   each, or by default `<stem>.EXT` each in the current directory.
///
/// A file whose extension names no format this build writes is refused,
/// with the list of those that it does ([`ExportError::UnknownFormat`]), as
/// is one that disagrees with `format`. A directory named by `-o` that does
/// not exist is created here. Nothing else is touched; the overwrite rule
/// is checked when writing ([`check_targets`] checks it up front).
pub fn targets(
    routines: &[PathBuf],
    output: Option<&Path>,
    format: Option<Format>,
) -> Result<Vec<PathBuf>, ExportError> {
    if routines.is_empty() {
        return Err(ExportError::NoRoutines);
    }
    let made_up = format.unwrap_or_default();
    let names = routines
        .iter()
        .map(|r| match r.file_stem() {
            Some(stem) if !stem.is_empty() => {
                let mut name = stem.to_os_string();
                name.push(".");
                name.push(made_up.extension());
                Ok(PathBuf::from(name))
            }
            _ => Err(ExportError::NoStem { routine: r.clone() }),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let dir = match output {
        None => None,
        Some(out) => {
            let is_dir = out.is_dir() || ends_with_separator(out);
            if routines.len() == 1 && !is_dir {
                format_of(out, format)?;
                return Ok(vec![out.into()]);
            }
            let names_a_file =
                out.exists() && !out.is_dir() || !is_dir && Format::from_path(out).is_some();
            if names_a_file {
                return Err(ExportError::OutputIsFile {
                    output: out.into(),
                    count: routines.len(),
                });
            }
            std::fs::create_dir_all(out).map_err(|source| ExportError::CreateDir {
                dir: out.into(),
                source,
            })?;
            Some(out)
        }
    };

    let paths: Vec<PathBuf> = names
        .into_iter()
        .map(|n| match dir {
            Some(d) => d.join(n),
            None => n,
        })
        .collect();
    for (i, p) in paths.iter().enumerate() {
        if let Some(j) = paths[..i].iter().position(|q| q == p) {
            return Err(ExportError::SameTarget {
                target: p.clone(),
                first: routines[j].clone(),
                second: routines[i].clone(),
            });
        }
    }
    Ok(paths)
}

/// The format of the audio file `path`: `format` if given (and then the
/// extension must agree), else the one its extension names, which this
/// build must write.
pub fn format_of(path: &Path, format: Option<Format>) -> Result<Format, ExportError> {
    match (Format::from_path(path), format) {
        (Some(named), Some(asked)) if named != asked => Err(ExportError::FormatMismatch {
            output: path.into(),
            format: asked,
        }),
        (None, Some(asked)) => Err(ExportError::FormatMismatch {
            output: path.into(),
            format: asked,
        }),
        (Some(named), _) => {
            // Known but not built (M4A, or MP3 without its feature): the
            // reason, not the list.
            named
                .available()
                .map_err(|e| OutputError::unsupported(path, e))?;
            Ok(named)
        }
        (None, None) => Err(ExportError::UnknownFormat {
            output: path.into(),
        }),
    }
}

fn ends_with_separator(p: &Path) -> bool {
    p.as_os_str()
        .to_string_lossy()
        .chars()
        .last()
        .is_some_and(std::path::is_separator)
}

/// The caption files written beside `wav`, in order.
pub fn caption_paths(wav: &Path, options: &ExportOptions) -> Vec<(CaptionFormat, PathBuf)> {
    options
        .captions
        .iter()
        .map(|&f| (f, f.path_beside(wav)))
        .collect()
}

/// Checks every file an export to `wav` would write (the WAV and its
/// captions) against the overwrite rule. Call it for every routine before
/// rendering any, so a refusal comes before minutes of work.
pub fn check_targets(wav: &Path, options: &ExportOptions) -> Result<(), ExportError> {
    check_target(wav, options.force)?;
    for (format, path) in caption_paths(wav, options) {
        if path == wav {
            return Err(ExportError::CaptionsClash { path, format });
        }
        check_target(&path, options.force)?;
    }
    Ok(())
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    /// The audio file.
    pub audio: AudioSummary,
    /// The caption files, in the order of [`CaptionFormat`].
    pub captions: Vec<PathBuf>,
}

/// Told how far an export is, to show it. Every method does nothing by
/// default; [`NoProgress`] is the one that shows nothing.
///
/// [`preparing`](Progress::preparing) is called from several threads at
/// once (clips are prepared on every core), hence `&self` and `Sync`.
pub trait Progress: Sync {
    /// `done` of `total` clips are prepared (spoken, resampled, mixed)
    /// before the samples are written.
    fn preparing(&self, done: usize, total: usize) {
        let _ = (done, total);
    }

    /// `done_frames` of `total_frames` are written.
    fn writing(&self, done_frames: u64, total_frames: u64) {
        let _ = (done_frames, total_frames);
    }

    /// The export is over, written or not: nothing more will be reported.
    fn finished(&self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Writes `timeline`'s session, rendered by `samples`, to `wav` in its
/// format ([`format_of`]) with one chapter per step and the tags the
/// format has, and its captions beside it, telling `progress` how far it
/// is.
///
/// All targets are checked first; the captions are staged (written to
/// temporary files) before the audio is rendered and renamed into place
/// after the WAV, so an error or a cancel during rendering leaves nothing.
pub fn export(
    timeline: &Timeline,
    samples: &mut dyn Samples,
    wav: &Path,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportSummary, ExportError> {
    if samples.rate() != timeline.rate || samples.total() != timeline.total {
        return Err(ExportError::Mismatch {
            path: wav.into(),
            samples_rate: samples.rate(),
            samples_total: samples.total(),
            timeline_rate: timeline.rate,
            timeline_total: timeline.total,
        });
    }
    check_targets(wav, options)?;
    let format = format_of(wav, options.format)?;
    let metadata = Metadata {
        artist: options.artist.clone(),
        comment: options.comment.clone(),
        ..Metadata::from_timeline(timeline)
    };

    let staged = caption_paths(wav, options)
        .into_iter()
        .map(|(format, path)| stage_captions(&path, timeline, format, options.force))
        .collect::<Result<Vec<_>, _>>()?;

    // The clips first, on every core; then the samples, front to back.
    let written = samples
        .prepare(&|done, all| progress.preparing(done, all))
        .map_err(|e| OutputError::from_render(wav, e))
        .and_then(|()| {
            write_audio(
                wav,
                samples,
                &metadata,
                &AudioOptions {
                    format,
                    channels: options.channels,
                    force: options.force,
                    loudness: options.loudness,
                },
                &options.cancel,
                &mut |frames| progress.writing(frames, timeline.total),
            )
        });
    progress.finished();
    let audio = written?;

    let mut captions = Vec::new();
    for file in staged {
        captions.push(file.target().to_path_buf());
        file.commit()?;
    }
    Ok(ExportSummary { audio, captions })
}

impl fmt::Display for ExportSummary {
    /// `wrote mid-back.wav: 32:10 (1 ch, 44.1 kHz, 170 MB), -16.1 LUFS,
    /// -1.4 dBTP`, then `; captions: mid-back.srt, mid-back.vtt` if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.audio;
        write!(
            f,
            "wrote {}: {} ({} ch, {}, {})",
            w.path.display(),
            duration(w.seconds()),
            w.channels,
            rate(w.rate),
            size(w.bytes)
        )?;
        if let Some(l) = w.loudness {
            match l.lufs {
                Some(lufs) => write!(f, ", {lufs:.1} LUFS")?,
                None => write!(f, ", too quiet or short to measure loudness")?,
            }
            match l.sample_peak {
                Some(peak) => write!(f, ", peak {peak:.1} dBFS")?,
                None => write!(f, ", silent")?,
            }
        }
        if !self.captions.is_empty() {
            let names: Vec<String> = self
                .captions
                .iter()
                .map(|p| {
                    p.file_name()
                        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
                })
                .collect();
            write!(f, "; captions: {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// `m:ss` or `h:mm:ss`, to the nearest second.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `44.1 kHz`, `48 kHz`, `22.05 kHz`.
fn rate(hz: u32) -> String {
    let khz = format!("{:.3}", f64::from(hz) / 1000.0);
    let khz = khz.trim_end_matches('0').trim_end_matches('.');
    format!("{khz} kHz")
}

/// Decimal units, as file managers show them: `812 B`, `4.2 kB`, `170 MB`.
/// A size as people read it: `812 B`, `4.2 kB`, `170 MB` (powers of 1000).
pub fn size(bytes: u64) -> String {
    let units = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in units {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    // One decimal only where it carries information; 9.96 would print as
    // "10.0", so decide on the rounded value.
    if (v * 10.0).round() < 100.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::audio::Loudness;
    use crate::output::audio::tests::Signal;
    use crate::output::captions;
    use crate::output::tests::names;
    use crate::output::wav::tests::{chunks, read_markers};

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn one_routine_defaults_to_its_stem_in_the_current_directory() {
        let t = targets(&paths(&["routines/mid-back.toml"]), None, None).unwrap();
        assert_eq!(t, paths(&["mid-back.wav"]));
        let t = targets(&paths(&["routines/mid-back.toml"]), None, Some(Format::Mp3)).unwrap();
        assert_eq!(t, paths(&["mid-back.mp3"]));
    }

    #[test]
    fn one_routine_with_o_file() {
        let t = targets(
            &paths(&["a.toml"]),
            Some(Path::new("out/Session.WAV")),
            None,
        )
        .unwrap();
        assert_eq!(t, paths(&["out/Session.WAV"]));
        let t = targets(&paths(&["a.toml"]), Some(Path::new("out/s.mp3")), None).unwrap();
        assert_eq!(t, paths(&["out/s.mp3"]));
        let e = targets(
            &paths(&["a.toml"]),
            Some(Path::new("out/session.ogg")),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "out/session.ogg: name a file ending in {} (for example out/session.wav) or a \
                 directory",
                Format::list()
            )
        );
        assert!(
            Format::list().starts_with(".wav, .mp3"),
            "{}",
            Format::list()
        );
        let e = targets(&paths(&["a.toml"]), Some(Path::new("session")), None).unwrap_err();
        assert!(matches!(e, ExportError::UnknownFormat { .. }), "{e:?}");
        let e = targets(
            &paths(&["a.toml"]),
            Some(Path::new("s.wav")),
            Some(Format::Mp3),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "s.wav is not named as a .mp3 file, but the format mp3 was asked for: name it s.mp3"
        );
        let e = targets(&paths(&["a.toml"]), Some(Path::new("s.m4a")), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot write s.m4a: m4a files cannot be written by this build: "),
            "{e}"
        );
    }

    #[test]
    fn one_routine_with_o_directory() {
        let dir = tempfile::tempdir().unwrap();
        let t = targets(&paths(&["x/flow.toml"]), Some(dir.path()), None).unwrap();
        assert_eq!(t, [dir.path().join("flow.wav")]);
        // A trailing slash names a directory, created if missing.
        let new = format!("{}/new/", dir.path().display());
        let t = targets(&paths(&["flow.toml"]), Some(Path::new(&new)), None).unwrap();
        assert_eq!(t, [dir.path().join("new").join("flow.wav")]);
        assert!(dir.path().join("new").is_dir());
    }

    #[test]
    fn several_routines_go_to_a_directory_created_if_missing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exports");
        let routines = paths(&["r/mid-back.toml", "r/morning.toml", "other/sleep.toml"]);
        let t = targets(&routines, Some(&out), None).unwrap();
        assert_eq!(
            t,
            [
                out.join("mid-back.wav"),
                out.join("morning.wav"),
                out.join("sleep.wav")
            ]
        );
        assert!(out.is_dir());
        // Without -o: the current directory.
        assert_eq!(
            targets(&routines, None, None).unwrap(),
            paths(&["mid-back.wav", "morning.wav", "sleep.wav"])
        );
    }

    #[test]
    fn several_routines_refuse_a_file_for_o() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("taken");
        std::fs::write(&file, b"x").unwrap();
        let routines = paths(&["a.toml", "b.toml"]);
        let e = targets(&routines, Some(&file), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "-o {} is a file, but 2 routines were given: with several routines, -o must name a directory",
                file.display()
            )
        );
        // A .wav name that does not exist yet is a file too, not a directory to create.
        let wav = dir.path().join("both.wav");
        let e = targets(&routines, Some(&wav), None).unwrap_err();
        assert!(
            matches!(e, ExportError::OutputIsFile { count: 2, .. }),
            "{e:?}"
        );
        assert!(!wav.exists());
    }

    #[test]
    fn two_routines_with_one_stem_are_refused() {
        let e = targets(&paths(&["a/flow.toml", "b/flow.toml"]), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a/flow.toml and b/flow.toml would both be written to flow.wav: export them one at a time with -o"
        );
        assert!(matches!(
            targets(&[], None, None),
            Err(ExportError::NoRoutines)
        ));
        assert!(matches!(
            targets(&paths(&[".."]), None, None),
            Err(ExportError::NoStem { .. })
        ));
    }

    #[test]
    fn formats() {
        assert_eq!(duration(1930.4), "32:10");
        assert_eq!(duration(59.5), "1:00");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(rate(44_100), "44.1 kHz");
        assert_eq!(rate(48_000), "48 kHz");
        assert_eq!(rate(22_050), "22.05 kHz");
        assert_eq!(size(812), "812 B");
        assert_eq!(size(4_200), "4.2 kB");
        assert_eq!(size(9_960), "10 kB");
        assert_eq!(size(170_226_044), "170 MB");
        assert_eq!(size(1_270_000_000), "1.3 GB");
    }

    fn summary(loudness: Option<Loudness>, captions: Vec<PathBuf>) -> ExportSummary {
        ExportSummary {
            audio: AudioSummary {
                path: "mid-back.wav".into(),
                format: Format::Wav,
                rate: 44_100,
                channels: 1,
                frames: 44_100 * 1930 + 100,
                bytes: 170_226_044,
                chapters: 12,
                loudness,
            },
            captions,
        }
    }

    #[test]
    fn summary_line() {
        let l = Loudness {
            lufs: Some(-16.07),
            sample_peak: Some(-1.44),
        };
        assert_eq!(
            summary(Some(l), vec![]).to_string(),
            "wrote mid-back.wav: 32:10 (1 ch, 44.1 kHz, 170 MB), -16.1 LUFS, peak -1.4 dBFS"
        );
        assert_eq!(
            summary(Some(l), paths(&["out/mid-back.srt", "out/mid-back.vtt"])).to_string(),
            "wrote mid-back.wav: 32:10 (1 ch, 44.1 kHz, 170 MB), -16.1 LUFS, peak -1.4 dBFS; \
             captions: mid-back.srt, mid-back.vtt"
        );
        assert_eq!(
            summary(None, vec![]).to_string(),
            "wrote mid-back.wav: 32:10 (1 ch, 44.1 kHz, 170 MB)"
        );
        let silent = Loudness {
            lufs: None,
            sample_peak: None,
        };
        assert_eq!(
            summary(Some(silent), vec![]).to_string(),
            "wrote mid-back.wav: 32:10 (1 ch, 44.1 kHz, 170 MB), too quiet or short to measure \
             loudness, silent"
        );
    }

    /// Frames of [`short`]: four blocks of the writer and a bit.
    const SHORT: u64 = 4 * crate::output::audio::BLOCK_FRAMES as u64 + 1_000;

    /// A short timeline at 8 kHz whose samples are a ramp.
    fn short() -> (Timeline, Signal<impl FnMut(u64) -> f32>) {
        let mut t = captions::tests::timeline();
        t.rate = 8_000;
        t.total = SHORT;
        t.steps[0].end = 8_000;
        t.steps[1].start = 8_000;
        t.steps[1].end = SHORT;
        t.cues.truncate(2);
        t.cues[1].start = 100;
        t.cues[1].len = 4_000;
        let s = Signal::new(8_000, SHORT, |n| (n % 200) as f32 / 400.0);
        (t, s)
    }

    fn options(captions: &[CaptionFormat]) -> ExportOptions {
        ExportOptions {
            captions: captions.iter().copied().collect(),
            ..ExportOptions::default()
        }
    }

    #[test]
    fn writes_wav_markers_and_captions() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("s.wav");
        let (t, mut s) = short();
        let sum = export(&t, &mut s, &wav, &options(&CaptionFormat::ALL), &NoProgress).unwrap();
        assert_eq!(sum.audio.frames, SHORT);
        assert_eq!(
            sum.captions,
            [
                dir.path().join("s.srt"),
                dir.path().join("s.vtt"),
                dir.path().join("s.lrc")
            ]
        );
        assert_eq!(names(dir.path()), ["s.lrc", "s.srt", "s.vtt", "s.wav"]);
        let bytes = std::fs::read(&wav).unwrap();
        assert_eq!(
            read_markers(&bytes),
            [(0, "Welcome".into()), (8_000, "Cat & cow".into())]
        );
        assert_eq!(chunks(&bytes).len(), 4);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.srt")).unwrap(),
            "1\n00:00:00,013 --> 00:00:00,513\nWelcome. Sit comfortably.\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.lrc")).unwrap(),
            captions::lrc(&t)
        );
    }

    #[test]
    fn an_existing_caption_refuses_the_export_before_rendering() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("s.wav");
        std::fs::write(dir.path().join("s.vtt"), b"mine").unwrap();
        let (t, mut s) = short();
        let e = export(
            &t,
            &mut s,
            &wav,
            &options(&[CaptionFormat::Srt, CaptionFormat::Vtt]),
            &NoProgress,
        )
        .unwrap_err();
        assert!(
            matches!(e, ExportError::Output(OutputError::Exists { ref path }) if path.ends_with("s.vtt")),
            "{e:?}"
        );
        assert_eq!(s.calls, 0);
        assert_eq!(names(dir.path()), ["s.vtt"]);
        assert_eq!(std::fs::read(dir.path().join("s.vtt")).unwrap(), b"mine");
    }

    #[test]
    fn a_cancel_leaves_no_wav_no_captions_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("s.wav");
        let (t, mut s) = short();
        let o = options(&CaptionFormat::ALL);
        // As a Ctrl-C handler would, while the third block renders.
        s.cancel_at = Some((2, o.cancel.clone()));
        let e = export(&t, &mut s, &wav, &o, &NoProgress).unwrap_err();
        assert!(
            matches!(e, ExportError::Output(OutputError::Cancelled { .. })),
            "{e:?}"
        );
        assert_eq!(s.calls, 3);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn a_render_error_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("s.wav");
        let (t, mut s) = short();
        s.fail_at = Some(3);
        let e = export(&t, &mut s, &wav, &options(&CaptionFormat::ALL), &NoProgress).unwrap_err();
        assert!(
            matches!(e, ExportError::Output(OutputError::Render { .. })),
            "{e:?}"
        );
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn samples_that_do_not_match_the_timeline_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // The caption test timeline is at 1000 Hz; these samples are at 8 kHz.
        let t = captions::tests::timeline();
        let mut s = Signal::new(8_000, t.total, |_| 0.0);
        let e = export(
            &t,
            &mut s,
            &dir.path().join("s.wav"),
            &options(&[]),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, ExportError::Mismatch { .. }), "{e:?}");
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_wav_named_like_its_captions_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (t, mut s) = short();
        let path = dir.path().join("s.srt");
        let e = export(
            &t,
            &mut s,
            &path,
            &options(&[CaptionFormat::Srt]),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, ExportError::CaptionsClash { .. }), "{e:?}");
    }

    /// A [`Progress`] that writes down what it is told.
    #[derive(Default)]
    struct Recorded {
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl Progress for Recorded {
        fn preparing(&self, done: usize, total: usize) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("preparing {done}/{total}"));
        }
        fn writing(&self, done_frames: u64, total_frames: u64) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("writing {done_frames}/{total_frames}"));
        }
        fn finished(&self) {
            self.calls.lock().unwrap().push("finished".into());
        }
    }

    #[test]
    fn progress_is_told_each_block_then_that_it_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let (t, mut s) = short();
        let progress = Recorded::default();
        export(
            &t,
            &mut s,
            &dir.path().join("s.wav"),
            &options(&[]),
            &progress,
        )
        .unwrap();
        let block = crate::output::audio::BLOCK_FRAMES as u64;
        let mut want: Vec<String> = (1..=4)
            .map(|b| format!("writing {}/{SHORT}", b * block))
            .collect();
        want.push(format!("writing {SHORT}/{SHORT}"));
        want.push("finished".into());
        assert_eq!(*progress.calls.lock().unwrap(), want);

        // A failed export is over too.
        let (t, mut s) = short();
        s.fail_at = Some(1);
        let progress = Recorded::default();
        export(
            &t,
            &mut s,
            &dir.path().join("f.wav"),
            &options(&[]),
            &progress,
        )
        .unwrap_err();
        assert_eq!(
            *progress.calls.lock().unwrap(),
            [format!("writing {block}/{SHORT}"), "finished".into()]
        );
    }
}
