//! `vinyasa export` to compressed formats, checked by an outside reader
//! (ffprobe and ffmpeg, Debian's `ffmpeg` package): duration, chapters at
//! the steps' starts, tags, the exact decoded length, and loudness and true
//! peak after decoding. These tests need ffmpeg and fail, saying so, when
//! it is missing; CI installs it (.ci/run).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::root;

/// A short routine with a credit and a description, so every tag is
/// there, and a non-ASCII step name.
const ROUTINE: &str = r#"title = "Formats"
description = "Two short steps, for the format tests."
credit = "The test suite"
language = "en"

[cues]
bells = "session"

[[step]]
name = "Sit"
say = "Sit tall, and breathe slowly."
hold = "3s"

[[step]]
name = "Rest – à deux"
say = "Rest now."
hold = "2s"
"#;

/// The formats this build writes, besides WAV, each with a rate the test
/// renders at (Opus also at 48 kHz, its default, which decoders give).
fn formats() -> Vec<(&'static str, u32)> {
    let mut f = vec![("mp3", 16_000), ("flac", 16_000)];
    if cfg!(feature = "opus") {
        f.extend([("opus", 16_000), ("opus", 48_000)]);
    }
    f
}

fn vinyasa() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vinyasa").unwrap();
    cmd.current_dir(root());
    cmd.env("VINYASA_CACHE_DIR", root().join("target/test-clip-cache"));
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-formats").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("formats.toml"), ROUTINE).unwrap();
    dir
}

fn run(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails the test, saying what to install, when ffmpeg is missing: these
/// checks must not pass by being skipped.
fn need_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let found = Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is not installed: the format tests read the files with an outside \
             decoder; install it (Debian: apt-get install ffmpeg)"
        );
    }
}

fn export(dir: &Path, file: &str, rate: u32, extra: &[&str]) -> PathBuf {
    export_routine(dir, "formats.toml", file, rate, extra)
}

/// `routine` (a file in `dir`) exported to `file` in `dir`.
fn export_routine(dir: &Path, routine: &str, file: &str, rate: u32, extra: &[&str]) -> PathBuf {
    let out = dir.join(file);
    let rate = rate.to_string();
    let mut args = vec!["export", "--rate", &rate, "-o"];
    let out_s = out.to_str().unwrap().to_string();
    args.push(&out_s);
    let routine = dir.join(routine);
    let routine_s = routine.to_str().unwrap().to_string();
    args.push(&routine_s);
    args.extend_from_slice(extra);
    let (code, err) = run(vinyasa().args(&args));
    assert_eq!(code, 0, "{err}");
    out
}

fn plan(dir: &Path, rate: u32) -> Value {
    let routine = dir.join("formats.toml");
    let out = vinyasa()
        .args(["plan", "--json", "--rate", &rate.to_string()])
        .arg(&routine)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn probe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json"])
        .args(["-show_format", "-show_streams", "-show_chapters"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Frames per channel ffmpeg decodes from `path`, at its output rate.
fn decoded_frames(path: &Path, channels: u64) -> u64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len() as u64 / 2 / channels
}

/// Integrated loudness (LUFS) and true peak (dBTP) of the decoded file, by
/// ffmpeg's ebur128 filter.
fn loudness(path: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = text.rsplit("Summary:").next().unwrap();
    let value = |key: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {summary}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (value("I:"), value("Peak:"))
}

/// `path`, decoded by ffmpeg, measures −16 LUFS ±1 with its true peak at
/// or under −1 dBTP; `what` names it in a failure.
fn assert_level(path: &Path, what: &str) {
    let (lufs, peak) = loudness(path);
    assert!((lufs - -16.0).abs() <= 1.0, "{what}: {lufs} LUFS");
    assert!(peak <= -1.0, "{what}: true peak {peak} dBTP");
}

/// A tag of the file whose name starts with `key`, whatever its case (ID3
/// gives lower case, Vorbis comments upper), from the container's tags or,
/// for Ogg, the stream's.
fn tag(probe: &Value, key: &str) -> Option<String> {
    let key = key.to_ascii_lowercase();
    [&probe["format"]["tags"], &probe["streams"][0]["tags"]]
        .into_iter()
        .filter_map(Value::as_object)
        .flatten()
        .find(|(k, _)| k.to_ascii_lowercase().starts_with(&key))
        .and_then(|(_, v)| v.as_str().map(String::from))
}

#[test]
fn each_format_has_the_plans_length_chapters_tags_and_loudness() {
    need_ffmpeg();
    let dir = scratch("each");
    for (ext, rate) in formats() {
        let plan = plan(&dir, rate);
        let total = plan["total"].as_u64().unwrap();
        let name = format!("{ext}-{rate}");
        let path = export(&dir, &format!("{name}.{ext}"), rate, &["--captions", "srt"]);
        assert!(dir.join(format!("{name}.srt")).exists(), "{ext}: captions");
        let p = probe(&path);
        // Decoders give Opus at 48 kHz: the same time, 48000/rate times the frames.
        let out_rate: u64 = p["streams"][0]["sample_rate"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let want = total * out_rate / u64::from(rate);
        assert_eq!(decoded_frames(&path, 1), want, "{ext}: decoded length");
        let number = |v: &Value| v.as_str().map_or(0.0, |s| s.parse::<f64>().unwrap());
        let duration = number(&p["format"]["duration"]) - number(&p["format"]["start_time"]);
        let seconds = total as f64 / f64::from(rate);
        // ffprobe's MP3 duration is a count of whole frames, delay aside:
        // within one frame (1152 samples); the decoded samples above are exact.
        assert!(
            (duration - seconds).abs() <= 1152.0 / f64::from(rate),
            "{ext}: duration {duration} vs {seconds}"
        );

        // One chapter per step, at its start (within one 1152-sample MP3
        // frame), named after it.
        let chapters = p["chapters"].as_array().unwrap();
        let steps = plan["steps"].as_array().unwrap();
        assert_eq!(chapters.len(), steps.len(), "{ext}: chapters");
        for (c, s) in chapters.iter().zip(steps) {
            assert_eq!(c["tags"]["title"], s["name"], "{ext}");
            let start: f64 = c["start_time"].as_str().unwrap().parse().unwrap();
            let step = s["start"].as_u64().unwrap() as f64 / f64::from(rate);
            assert!(
                (start - step).abs() <= 1152.0 / f64::from(rate),
                "{ext}: chapter {c} starts at {start}, its step at {step}"
            );
        }
        assert_eq!(tag(&p, "title").as_deref(), Some("Formats"), "{ext}");
        assert_eq!(
            tag(&p, "artist").as_deref(),
            Some("The test suite"),
            "{ext}"
        );
        assert_eq!(tag(&p, "album").as_deref(), Some("vinyasa"), "{ext}");
        assert_eq!(
            tag(&p, "comment").as_deref(),
            Some("Two short steps, for the format tests."),
            "{ext}"
        );
        // ID3's is `lyrics-eng`.
        let lyrics = tag(&p, "lyrics");
        assert!(
            lyrics
                .as_deref()
                .is_some_and(|l| l.contains("Sit tall, and breathe slowly.")),
            "{ext}: lyrics {lyrics:?}"
        );

        assert_level(&path, ext);
    }
}

/// Sibilants: "s" sounds, whose energy sits near half of a low rate, where
/// the peaks between samples are largest.
const HISS: &str = r#"title = "Hiss"
language = "en"

[pronounce]
release = { phones = "r ih0 l ih1 iy0 s s" }
hiss = { phones = "hh ih1 s s s s" }

[[step]]
name = "Hiss"
say = "Release. Hiss. Sss, cease, release the stress. Shhh. Hush."
hold = "3s"

[[step]]
name = "Again"
say = "Release. Hiss, hiss, hiss. Release."
hold = "2s"
"#;

#[test]
fn sibilants_at_low_rates_decode_under_the_true_peak_ceiling() {
    need_ffmpeg();
    let dir = scratch("hiss");
    std::fs::write(dir.join("hiss.toml"), HISS).unwrap();
    let mut cases = vec![
        ("mp3", 16_000, "1"),
        ("mp3", 11_025, "1"),
        ("mp3", 16_000, "2"),
    ];
    if cfg!(feature = "opus") {
        cases.push(("opus", 16_000, "1"));
    }
    for (ext, rate, channels) in cases {
        let name = format!("hiss-{rate}-{channels}.{ext}");
        let path = export_routine(&dir, "hiss.toml", &name, rate, &["--channels", channels]);
        assert_level(&path, &name);
    }
}

/// The renderer's own ceiling, on what a lossless file keeps: its limiters
/// find true peaks by oversampling, so an "s" near half a low rate (whose
/// peaks between samples a cubic estimate missed, +0.3 dBTP at 16 kHz and
/// +0.6 at 11.025 kHz) stays under −1 dBTP.
#[test]
fn sibilants_at_low_rates_stay_under_the_true_peak_ceiling_in_lossless_files() {
    need_ffmpeg();
    let dir = scratch("hiss-lossless");
    std::fs::write(dir.join("hiss.toml"), HISS).unwrap();
    for (ext, rate) in [("wav", 16_000), ("wav", 11_025), ("flac", 16_000)] {
        let name = format!("hiss-{rate}.{ext}");
        let path = export_routine(&dir, "hiss.toml", &name, rate, &[]);
        assert_level(&path, &name);
    }
}

#[test]
fn stereo_second_exports_and_refusals() {
    need_ffmpeg();
    let dir = scratch("stereo");
    for (ext, rate) in formats() {
        let total = plan(&dir, rate)["total"].as_u64().unwrap();
        let a = export(&dir, &format!("a-{rate}.{ext}"), rate, &["--channels", "2"]);
        let p = probe(&a);
        assert_eq!(p["streams"][0]["channels"], 2, "{ext}");
        let out_rate: u64 = p["streams"][0]["sample_rate"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            decoded_frames(&a, 2),
            total * out_rate / u64::from(rate),
            "{ext}"
        );
        assert_level(&a, &format!("{ext} stereo"));
        // The same export again gives the same bytes.
        let b = export(&dir, &format!("b-{rate}.{ext}"), rate, &["--channels", "2"]);
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{ext}"
        );
        // No overwrite without --force, and the file is left as it was.
        let before = std::fs::read(&a).unwrap();
        let (code, err) = run(vinyasa()
            .args(["export", "--rate", &rate.to_string(), "-o"])
            .arg(&a)
            .arg(dir.join("formats.toml")));
        assert_ne!(code, 0);
        assert!(err.contains("--force"), "{err}");
        assert!(std::fs::read(&a).unwrap() == before);
        // --format names the format of a made-up name.
        let out = dir.join(format!("named-{rate}"));
        let (code, err) = run(vinyasa()
            .args(["export", "--rate", &rate.to_string(), "--format", ext, "-o"])
            .arg(format!("{}/", out.display()))
            .arg(dir.join("formats.toml")));
        assert_eq!(code, 0, "{err}");
        assert!(out.join(format!("formats.{ext}")).exists(), "{ext}");
    }
}

#[test]
fn unknown_and_missing_formats_are_refused_with_the_list() {
    let dir = scratch("unknown");
    let (code, err) = run(vinyasa()
        .args(["export", "-o"])
        .arg(dir.join("s.ogg"))
        .arg(dir.join("formats.toml")));
    assert_ne!(code, 0);
    assert!(
        err.contains("s.ogg: name a file ending in .wav, .mp3") && err.contains(".flac"),
        "{err}"
    );
    let (code, err) = run(vinyasa()
        .args(["export", "-o"])
        .arg(dir.join("s.m4a"))
        .arg(dir.join("formats.toml")));
    assert_ne!(code, 0);
    assert!(
        err.contains("m4a files cannot be written by this build"),
        "{err}"
    );
    let (code, err) = run(vinyasa().args(["export", "--format", "aiff", "x.toml"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown format \"aiff\"; use one of .wav, .mp3"),
        "{err}"
    );
    // Nothing was written.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["formats.toml"]);
}
