//! `play` end to end, headless: a child process plays into an ALSA `file`
//! device set up by the test (an `.asoundrc` under a temporary HOME), and
//! the samples that reached the device are compared with the session's.
//!
//! The child is this test binary again, running the ignored test `child`
//! with its settings in the environment: ALSA reads its configuration once
//! per process, from `$HOME`, so each device needs a process of its own.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};
use vinyasa::Cancel;
use vinyasa::play::terminal::Screen;
use vinyasa::play::{Ended, PlayOptions, find_step, play};
use vinyasa::render::{RenderError, Samples};
use vinyasa::routine::Level;
use vinyasa::timeline::{Cue, CueKind, Role, StepSpan, Timeline};

const RATE: u32 = 16_000;
/// Three steps: 1.5 s, 2 s and 1.25 s.
const STEPS: [(&str, u64, u64); 3] = [
    ("Welcome", 0, 24_000),
    ("Cat-cow", 24_000, 56_000),
    ("Child's pose", 56_000, 76_000),
];
const TOTAL: u64 = 76_000;

/// A deterministic stand-in for the renderer: no two neighbouring samples
/// alike, never zero, every value exact in f32.
struct Session {
    rate: u32,
    total: u64,
    /// Time each `fill` takes, to slow the session below real time.
    delay: std::time::Duration,
}

fn sample_at(position: u64) -> f32 {
    let hashed = position.wrapping_mul(2_654_435_761) % 4096;
    (hashed as f32 - 2047.5) / 4096.0
}

impl Samples for Session {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
        std::thread::sleep(self.delay);
        for (i, s) in out.iter_mut().enumerate() {
            let p = start + i as u64;
            *s = if p < self.total { sample_at(p) } else { 0.0 };
        }
        Ok(())
    }
}

fn timeline(rate: u32, total: u64) -> Timeline {
    let mut steps: Vec<StepSpan> = STEPS
        .iter()
        .enumerate()
        .map(|(index, &(name, start, end))| StepSpan {
            index,
            name: name.into(),
            start,
            end,
            line: 1 + 5 * index,
        })
        .collect();
    // Longer sessions (measurements) stretch the last step.
    if let Some(last) = steps.last_mut() {
        last.end = total;
    }
    let cue = |start: u64, end: u64, step: usize, kind: CueKind, role: Role, text: &str| Cue {
        start,
        len: end - start,
        step,
        kind,
        role,
        text: text.into(),
        continued: false,
    };
    use CueKind::{Silence, Speech};
    let cues = vec![
        cue(0, 8000, 0, Speech, Role::Name, "Welcome."),
        cue(
            8000,
            20_000,
            0,
            Speech,
            Role::Say,
            "Settle in and close your eyes.",
        ),
        cue(20_000, 24_000, 0, Silence, Role::Pause, ""),
        cue(24_000, 30_000, 1, Speech, Role::Name, "Cat-cow."),
        cue(30_000, 36_000, 1, Speech, Role::Side, "Right side first."),
        cue(36_000, 42_000, 1, Silence, Role::Hold, ""),
        cue(42_000, 44_000, 1, Speech, Role::Halfway, "Halfway."),
        cue(44_000, 50_000, 1, Silence, Role::Hold, ""),
        cue(50_000, 56_000, 1, Speech, Role::Release, "Release."),
        cue(56_000, 62_000, 2, Speech, Role::Name, "Child's pose."),
        cue(62_000, total, 2, Silence, Role::Hold, ""),
    ];
    Timeline {
        title: "Test session".into(),
        rate,
        total,
        level: Level::Standard,
        voice: "test".into(),
        steps,
        cues,
        warnings: vec![],
        length: None,
    }
}

/// The child: plays the test session with settings from the environment,
/// prints the error and exits 2 on failure, 3 on quit (`q` in a terminal),
/// 130 on Ctrl-C.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    // For measuring: another rate and length (step positions stay).
    let rate = std::env::var("VINYASA_TEST_RATE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(RATE);
    let total = std::env::var("VINYASA_TEST_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(TOTAL, |s| s * u64::from(rate));
    let delay = std::env::var("VINYASA_TEST_RENDER_DELAY_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_millis);
    let cancel = Cancel::new();
    let flag = cancel.clone();
    ctrlc::set_handler(move || flag.cancel()).unwrap();
    let timeline = timeline(rate, total);
    let first_step = std::env::var("VINYASA_TEST_FROM")
        .ok()
        .map_or(0, |given| find_step(&timeline, &given).unwrap());
    let options = PlayOptions {
        first_step,
        device: std::env::var("VINYASA_TEST_DEVICE").unwrap_or_else(|_| "default".into()),
        cancel,
        ..PlayOptions::default()
    };
    let mut session = Session { rate, total, delay };
    // The binary's view: with no terminal, one plain line per step.
    let mut view = Screen::open(&timeline, false, first_step);
    match play(&timeline, &mut session, &options, &mut view) {
        Ok(Ended::Finished) => {}
        Ok(Ended::Interrupted { .. }) => std::process::exit(130),
        Ok(Ended::Quit { .. }) => std::process::exit(3),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    }
}

/// Runs the child with `asoundrc` as its ALSA configuration.
fn run_child(home: &Path, asoundrc: &str, env: &[(&str, &str)]) -> Output {
    child_command(home, asoundrc, env).output().unwrap()
}

fn child_command(home: &Path, asoundrc: &str, env: &[(&str, &str)]) -> Command {
    std::fs::write(home.join(".asoundrc"), asoundrc).unwrap();
    // "child" when this file is a test crate of its own, "play::child"
    // when it is a module of a combined test binary.
    let name = match module_path!().split_once("::") {
        Some((_crate, path)) => format!("{path}::child"),
        None => "child".to_owned(),
    };
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            &name,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ALSA_CONFIG_PATH");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn file_device(out: &Path) -> String {
    format!(
        "pcm.!default {{ type file; slave.pcm \"null\"; file \"{}\"; format \"raw\" }}\n",
        out.display()
    )
}

fn captured(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Checks that the device received exactly `start..TOTAL` of the session.
fn assert_played(output: &Output, raw: &Path, start: u64) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed: {stderr}");
    let got = captured(raw);
    let want: Vec<f32> = (start..TOTAL).map(sample_at).collect();
    assert_eq!(got.len(), want.len(), "samples at the device");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "first difference at session sample {}: {} instead of {}",
            start + i as u64,
            got[i],
            want[i]
        );
    }
}

#[test]
fn the_device_receives_exactly_the_session() {
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("out.raw");
    let output = run_child(home.path(), &file_device(&raw), &[]);
    assert_played(&output, &raw, 0);
    // Without a terminal: one plain line per step, then the closing line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    // (libtest's "test …child ... " shares the first line.)
    let lines: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_once("child ... ").map_or(l, |(_, rest)| rest))
        .filter(|l| l.starts_with('[') || l.starts_with("Finished"))
        .collect();
    assert_eq!(
        lines,
        [
            "[1/3] Welcome (0:01 at 0:00 of 0:04)",
            "[2/3] Cat-cow (0:02 at 0:01 of 0:04)",
            "[3/3] Child's pose (0:01 at 0:03 of 0:04)",
            "Finished \"Test session\" (0:04).",
        ]
    );
}

#[test]
fn from_a_step_number_or_name_starts_at_its_first_sample() {
    for from in ["2", "cat-cow"] {
        let home = tempfile::tempdir().unwrap();
        let raw = home.path().join("out.raw");
        let output = run_child(
            home.path(),
            &file_device(&raw),
            &[("VINYASA_TEST_FROM", from)],
        );
        assert_played(&output, &raw, 24_000);
    }
}

#[test]
fn no_device_is_one_plain_error_and_a_failing_exit() {
    let home = tempfile::tempdir().unwrap();
    // A default device on a sound card that does not exist (ALSA also
    // prints "ALSA lib confmisc.c:…Cannot get card index" for this one).
    let output = run_child(
        home.path(),
        "pcm.!default { type hw; card \"VinyasaNoCard\" }\n",
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [
            "error: cannot open the sound device \"default\": No such device; \
             check that a sound card or sound server is available, \
             or write the session to a WAV file with `vinyasa export`"
        ]
    );
    // ALSA's own diagnostics are silenced.
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
}

#[test]
fn an_unknown_device_name_is_a_plain_error() {
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("out.raw");
    let output = run_child(
        home.path(),
        &file_device(&raw),
        &[("VINYASA_TEST_DEVICE", "nosuchdevice")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: cannot open the sound device \"nosuchdevice\": No such file or directory;"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
}

#[test]
fn a_device_failing_mid_session_is_one_plain_error() {
    let home = tempfile::tempdir().unwrap();
    // The file device's writes fail with ENOSPC, which ALSA reports as EIO.
    let output = run_child(home.path(), &file_device(Path::new("/dev/full")), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [
            "error: the sound device stopped during playback: Input/output error; \
             write the session to a WAV file with `vinyasa export` instead"
        ]
    );
}

#[test]
fn ctrl_c_stops_the_sound_and_what_played_was_the_session() {
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("out.raw");
    // 10 minutes rendered at about 1/5 of real time: Ctrl-C comes long
    // before the end.
    let mut child = child_command(
        home.path(),
        &file_device(&raw),
        &[
            ("VINYASA_TEST_SECONDS", "600"),
            ("VINYASA_TEST_RENDER_DELAY_MS", "50"),
        ],
    )
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Wait for sound to reach the device (not a timing assertion: the
    // wait ends as soon as it has).
    while std::fs::metadata(&raw).map_or(0, |m| m.len()) < 4 * u64::from(RATE) {
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let got = captured(&raw);
    assert!(
        got.len() < 600 * RATE as usize / 2,
        "{} samples played",
        got.len()
    );
    let want: Vec<f32> = (0..got.len() as u64).map(sample_at).collect();
    assert!(
        got == want,
        "what reached the device is not the session's start"
    );
}

/// The binary end to end: what `vinyasa play` sends to the device is what
/// `vinyasa export` writes, sample for sample (the WAV holds the same
/// samples rounded to 16 bits).
/// A scratch folder `target/NAME` whose ALSA configuration (through `HOME`)
/// makes the default device a file; returns the folder, that file, and a
/// runner of the binary there that asserts success and gives (stdout,
/// stderr).
fn play_to_a_file(
    name: &str,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    impl Fn(&[&str]) -> (String, String),
) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("device.raw");
    std::fs::write(dir.join(".asoundrc"), file_device(&raw)).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vinyasa");
    let home = dir.clone();
    let run = move |args: &[&str]| {
        let out = Command::new(&bin)
            .current_dir(&root)
            .env("HOME", &home)
            .env("VINYASA_CACHE_DIR", root.join("target/test-clip-cache"))
            .env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
            .env_remove("VINYASA_VOICE")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("ALSA_CONFIG_PATH")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    (dir, raw, run)
}

#[test]
fn the_binary_plays_exactly_what_it_exports() {
    let (dir, raw, run) = play_to_a_file("test-play-cli");
    let wav = dir.join("childs-pose.wav");
    let (lines, _) = run(&["play", "routines/childs-pose.toml"]);
    // Without a terminal: one plain line per step.
    assert!(lines.contains("Child's pose"), "{lines}");
    run(&[
        "export",
        "routines/childs-pose.toml",
        "-o",
        wav.to_str().unwrap(),
    ]);
    let played = captured(&raw);
    let exported: Vec<i16> = hound::WavReader::open(&wav)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(played.len(), exported.len(), "samples at the device");
    // The one conversion both use (its rounding is tested on its own).
    let to_i16 = vinyasa::output::to_i16;
    if let Some(i) = (0..played.len()).find(|&i| to_i16(played[i]) != exported[i]) {
        panic!(
            "sample {i}: played {} but exported {}",
            played[i], exported[i]
        );
    }
}

/// `vinyasa play --length` plays the session `export --length` writes, and
/// says the length it reached.
#[test]
fn play_to_a_length_plays_what_export_to_that_length_writes() {
    let (dir, raw, run) = play_to_a_file("test-play-length");
    let wav = dir.join("childs-pose.wav");
    let (_, said) = run(&["play", "routines/childs-pose.toml", "--length", "5m"]);
    assert!(said.contains("length: 5:00 for the 5:00 asked ("), "{said}");
    run(&[
        "export",
        "routines/childs-pose.toml",
        "--length",
        "5m",
        "-o",
        wav.to_str().unwrap(),
    ]);
    let played = captured(&raw);
    let exported = hound::WavReader::open(&wav).unwrap().duration() as usize;
    assert_eq!(played.len(), exported, "samples at the device");
    let off = (exported as f64 / 44_100.0 - 300.0).abs() / 300.0;
    assert!(off <= 0.02, "{exported} samples");
}
