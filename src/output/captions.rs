//! Captions: the spoken words of a timeline as SRT, WebVTT or LRC, so a
//! phone's player shows the instruction being spoken.
//!
//! Every speech cue becomes one entry from its first sample to its end; cues
//! of other kinds (silence, bells, breath tones) have no words and are left
//! out. Phrases of one step split by an inline pause stay separate entries,
//! each shown while it is spoken. The exporters are pure: timeline in, text
//! out; [`stage_captions`] puts the text in a temporary file under the rule
//! of [`crate::output`], and [`write_captions`] also renames it into place.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::encode::Lyric;
use super::{OutputError, Staged};
use crate::timeline::Timeline;

/// A caption file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaptionFormat {
    /// SubRip (`.srt`): numbered entries, `HH:MM:SS,mmm` times.
    Srt,
    /// WebVTT (`.vtt`): `WEBVTT` header, `HH:MM:SS.mmm` times.
    Vtt,
    /// Lyrics (`.lrc`): `[mm:ss.xx]` lines; a line with a time and no text
    /// ends the phrase before it.
    Lrc,
}

impl CaptionFormat {
    /// Every format, in the order they are written.
    pub const ALL: [CaptionFormat; 3] =
        [CaptionFormat::Srt, CaptionFormat::Vtt, CaptionFormat::Lrc];

    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            CaptionFormat::Srt => "srt",
            CaptionFormat::Vtt => "vtt",
            CaptionFormat::Lrc => "lrc",
        }
    }

    /// The captions of `timeline` in this format.
    pub fn render(self, timeline: &Timeline) -> String {
        match self {
            CaptionFormat::Srt => srt(timeline),
            CaptionFormat::Vtt => vtt(timeline),
            CaptionFormat::Lrc => lrc(timeline),
        }
    }

    /// Where the captions of the audio file `audio` go: beside it, same
    /// stem, this format's extension.
    pub fn path_beside(self, audio: &Path) -> PathBuf {
        audio.with_extension(self.extension())
    }
}

impl fmt::Display for CaptionFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// A caption format name that is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown caption format {0:?}: use srt, vtt, lrc or all")]
pub struct UnknownCaptionFormat(pub String);

impl FromStr for CaptionFormat {
    type Err = UnknownCaptionFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "srt" => Ok(CaptionFormat::Srt),
            "vtt" | "webvtt" => Ok(CaptionFormat::Vtt),
            "lrc" => Ok(CaptionFormat::Lrc),
            _ => Err(UnknownCaptionFormat(s.into())),
        }
    }
}

/// Parses a `--captions` value: one name, a comma-separated list, or `all`.
pub fn parse_formats(list: &str) -> Result<BTreeSet<CaptionFormat>, UnknownCaptionFormat> {
    let mut set = BTreeSet::new();
    for name in list.split(',') {
        if name.trim().eq_ignore_ascii_case("all") {
            set.extend(CaptionFormat::ALL);
        } else {
            set.insert(name.parse()?);
        }
    }
    Ok(set)
}

/// Writes the captions of `timeline` in `format` to `path`: temporary file,
/// rename, no overwrite without `force`.
pub fn write_captions(
    path: &Path,
    timeline: &Timeline,
    format: CaptionFormat,
    force: bool,
) -> Result<(), OutputError> {
    stage_captions(path, timeline, format, force)?.commit()
}

/// Writes the captions of `timeline` in `format` to a temporary file beside
/// `path`, to be renamed into place by [`Staged::commit`] (or dropped, and
/// removed): how an export has its captions ready before the audio and in
/// place only after it. [`write_captions`] is this, committed at once.
pub fn stage_captions(
    path: &Path,
    timeline: &Timeline,
    format: CaptionFormat,
    force: bool,
) -> Result<Staged, OutputError> {
    let mut staged = Staged::new(path, force)?;
    std::io::Write::write_all(staged.file(), format.render(timeline).as_bytes())
        .map_err(|e| staged.error(e))?;
    Ok(staged)
}

/// One caption: its times in the unit of the format, and its text on one line.
struct Entry {
    start: u64,
    end: u64,
    text: String,
}

/// The spoken words of `timeline` ([`Lyric::from_timeline`]) with times
/// rounded to `1/per_second`.
fn entries(timeline: &Timeline, per_second: u64) -> Vec<Entry> {
    let at = |samples: u64| -> u64 {
        let rate = u128::from(timeline.rate.max(1));
        ((u128::from(samples) * u128::from(per_second) + rate / 2) / rate) as u64
    };
    Lyric::from_timeline(timeline)
        .into_iter()
        .map(|lyric| {
            let start = at(lyric.start_frame);
            // A cue shorter than the unit still shows for one unit.
            let end = at(lyric.end_frame).max(start + 1);
            Entry {
                start,
                end,
                text: lyric.text,
            }
        })
        .collect()
}

/// `HH:MM:SS` + `sep` + `mmm` from milliseconds.
fn hms_millis(ms: u64, sep: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// SubRip: numbered entries, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, the text, a
/// blank line between entries.
pub fn srt(timeline: &Timeline) -> String {
    let mut out = String::new();
    for (i, e) in entries(timeline, 1000).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}\n{} --> {}\n{}",
            i + 1,
            hms_millis(e.start, ','),
            hms_millis(e.end, ','),
            e.text
        );
    }
    out
}

/// WebVTT: the `WEBVTT` header, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` and the
/// text, with `&`, `<` and `>` escaped as the format requires.
pub fn vtt(timeline: &Timeline) -> String {
    let mut out = String::from("WEBVTT\n");
    for e in entries(timeline, 1000) {
        let text = e
            .text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let _ = writeln!(
            out,
            "\n{} --> {}\n{}",
            hms_millis(e.start, '.'),
            hms_millis(e.end, '.'),
            text
        );
    }
    out
}

/// `[mm:ss.xx]` from centiseconds; minutes go past 59 rather than adding hours.
fn lrc_time(cs: u64) -> String {
    format!("[{:02}:{:02}.{:02}]", cs / 6000, cs / 100 % 60, cs % 100)
}

/// LRC: `[ti:…]` and `[length:…]` tags, then one `[mm:ss.xx]text` line per
/// spoken cue, and an empty `[mm:ss.xx]` line where a cue ends before the
/// next begins, so the text clears when the voice stops.
pub fn lrc(timeline: &Timeline) -> String {
    let title = timeline
        .title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let secs = (u128::from(timeline.total) + u128::from(timeline.rate.max(1)) / 2)
        / u128::from(timeline.rate.max(1));
    let mut out = format!(
        "[ti:{title}]\n[length:{:02}:{:02}]\n[re:vinyasa]\n",
        secs / 60,
        secs % 60
    );
    let entries = entries(timeline, 100);
    for (i, e) in entries.iter().enumerate() {
        let _ = writeln!(out, "{}{}", lrc_time(e.start), e.text);
        let next = entries.get(i + 1).map(|n| n.start);
        if next.is_none_or(|n| n > e.end) {
            let _ = writeln!(out, "{}", lrc_time(e.end));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output::tests::names;
    use crate::timeline::testing::TimelineBuilder;
    use crate::timeline::{Bell, Cue, CueKind, Role};

    fn cue(start: u64, len: u64, step: usize, kind: CueKind, role: Role, text: &str) -> Cue {
        Cue {
            start,
            len,
            step,
            kind,
            role,
            text: text.into(),
            continued: false,
        }
    }

    /// A small session at 1000 Hz (one sample per millisecond, so the
    /// expected times can be read off the numbers) with a second timeline
    /// at 44.1 kHz for rounding.
    pub(crate) fn timeline() -> Timeline {
        let session_bell = CueKind::Bell {
            bell: Bell::Session,
        };
        TimelineBuilder::new(1000)
            .title("Mid-back\n release")
            .voice("test/66ms")
            .total(3_725_000)
            .step("Welcome", 0..10_000)
            .line(3)
            .cue(0, 4_000, session_bell, Role::SessionBell, "session bell")
            .speech(500, 2_140, Role::Say, "Welcome.  Sit comfortably.")
            // An inline pause splits the step's words into two entries.
            .silence(2_640, 2_000, Role::Pause, "pause")
            .speech(4_640, 1_360, Role::Say, "Close your\neyes.")
            .step("Cat & cow", 10_000..3_725_000)
            .line(9)
            .speech(10_000, 1_200, Role::Name, "Cat & cow")
            // Follows the one before with no gap: no blank LRC line between.
            .speech(
                11_200,
                3_005,
                Role::Instruction,
                "Arch <gently>, then round.",
            )
            .silence(14_205, 60_000, Role::Hold, "hold")
            // Past an hour: SRT/VTT hours, LRC minutes over 59.
            .speech(3_700_000, 2_500, Role::Release, "Release.")
            .silence(3_702_500, 20_000, Role::Pause, "pause")
            // Words that are only whitespace have nothing to show.
            .speech(3_722_500, 10, Role::Say, "  ")
            .build()
    }

    #[test]
    fn srt_snapshot() {
        insta::assert_snapshot!(srt(&timeline()));
    }

    #[test]
    fn vtt_snapshot() {
        insta::assert_snapshot!(vtt(&timeline()));
    }

    #[test]
    fn lrc_snapshot() {
        insta::assert_snapshot!(lrc(&timeline()));
    }

    #[test]
    fn times_round_to_the_nearest_unit() {
        let mut t = timeline();
        t.rate = 44_100;
        t.total = 44_100 * 10;
        t.cues = vec![
            // 22 samples = 0.4989 ms → 0 ms; 23 samples = 0.5215 ms → 1 ms.
            cue(22, 23, 0, CueKind::Speech, Role::Say, "a"),
            // 44_100 * 1.2345 = 54_441.45: 1.234 s by floor, 1.235 s rounded.
            cue(54_442, 441, 0, CueKind::Speech, Role::Say, "b"),
        ];
        assert_eq!(
            srt(&t),
            "1\n00:00:00,000 --> 00:00:00,001\na\n\n2\n00:00:01,235 --> 00:00:01,245\nb\n"
        );
        // A cue under one unit still shows for one.
        assert!(lrc(&t).contains("[00:00.00]a\n[00:00.01]\n"), "{}", lrc(&t));
    }

    #[test]
    fn an_empty_timeline_gives_valid_empty_files() {
        let mut t = timeline();
        t.cues.clear();
        assert_eq!(srt(&t), "");
        assert_eq!(vtt(&t), "WEBVTT\n");
        assert_eq!(
            lrc(&t),
            "[ti:Mid-back release]\n[length:62:05]\n[re:vinyasa]\n"
        );
    }

    #[test]
    fn format_names() {
        assert_eq!("SRT".parse(), Ok(CaptionFormat::Srt));
        assert_eq!("webvtt".parse(), Ok(CaptionFormat::Vtt));
        assert_eq!(
            parse_formats("all")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            CaptionFormat::ALL
        );
        assert_eq!(
            parse_formats("lrc, srt")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [CaptionFormat::Srt, CaptionFormat::Lrc]
        );
        assert_eq!(
            parse_formats("srt,ass").unwrap_err().to_string(),
            "unknown caption format \"ass\": use srt, vtt, lrc or all"
        );
        assert_eq!(
            CaptionFormat::Vtt.path_beside(Path::new("out/mid-back.wav")),
            Path::new("out/mid-back.vtt")
        );
    }

    #[test]
    fn write_captions_follows_the_overwrite_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.srt");
        write_captions(&path, &timeline(), CaptionFormat::Srt, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), srt(&timeline()));
        let err = write_captions(&path, &timeline(), CaptionFormat::Srt, false).unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }));
    }

    #[test]
    fn staged_captions_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        for format in CaptionFormat::ALL {
            let path = format.path_beside(&dir.path().join("a.wav"));
            let staged = stage_captions(&path, &timeline(), format, false).unwrap();
            assert_eq!(staged.target(), path);
            assert!(!path.exists());
            staged.commit().unwrap();
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                format.render(&timeline())
            );
        }
        assert_eq!(names(dir.path()), ["a.lrc", "a.srt", "a.vtt"]);
        // Dropped uncommitted: nothing is left, and the file there stays.
        let path = dir.path().join("a.srt");
        let staged = stage_captions(&path, &timeline(), CaptionFormat::Srt, true).unwrap();
        assert_eq!(names(dir.path()).len(), 4);
        drop(staged);
        assert_eq!(names(dir.path()), ["a.lrc", "a.srt", "a.vtt"]);
        // And an existing file is refused before anything is written.
        let err = stage_captions(&path, &timeline(), CaptionFormat::Srt, false).unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }), "{err:?}");
        assert_eq!(names(dir.path()), ["a.lrc", "a.srt", "a.vtt"]);
    }
}
