//! The library's `Session` gives the binary's output byte for byte: the
//! same routine, options and voice settings, exported once through
//! `vinyasa export` and once through the library, must be the same file.

use std::path::Path;

use assert_cmd::Command;
use vinyasa::Level;
use vinyasa::export::{ExportOptions, NoProgress};
use vinyasa::session::Session;

use crate::util::root;

/// Exports `routine` with the binary, then with `Session`, with the same
/// settings; returns both files' bytes.
fn both(
    routine: &Path,
    flags: &[&str],
    configure: impl FnOnce(&mut Session),
) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let by_binary = dir.path().join("binary.wav");
    let by_library = dir.path().join("library.wav");
    Command::cargo_bin("vinyasa")
        .unwrap()
        .current_dir(dir.path())
        .env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
        .env_remove("VINYASA_VOICE")
        .arg("export")
        .arg(routine)
        .arg("-o")
        .arg(&by_binary)
        .arg("--no-cache")
        .args(flags)
        .assert()
        .success();

    let mut session = Session::load(routine).unwrap();
    session.options_mut().cache = None;
    configure(&mut session);
    let planned = session.plan().unwrap();
    let mut options = ExportOptions::default();
    if flags.contains(&"--channels") {
        options.channels = 2;
    }
    // The binary ran in `dir`, where there is no audio/ folder; so does the
    // library, by naming the (missing) folder there.
    session_sounds_absent(dir.path());
    planned.export(&by_library, &options, &NoProgress).unwrap();
    (
        std::fs::read(by_binary).unwrap(),
        std::fs::read(by_library).unwrap(),
    )
}

/// Neither export may pick up replacement sounds from the test's folder.
fn session_sounds_absent(dir: &Path) {
    assert!(!dir.join("audio").exists());
    assert!(!root().join("audio").join("bell.wav").exists());
}

#[test]
fn a_session_exports_what_the_binary_exports() {
    let routine = root().join("tests/golden/short.toml");
    let (binary, library) = both(&routine, &["--rate", "16000"], |s| {
        s.options_mut().rate = 16_000;
    });
    assert!(binary.len() > 44, "an empty file");
    assert!(
        binary == library,
        "the library's WAV differs from the binary's"
    );
}

#[test]
fn options_and_voice_settings_match_their_flags() {
    let routine = root().join("tests/golden/short.toml");
    let flags = [
        "--rate",
        "22050",
        "--level",
        "deep",
        "--cue",
        "countdown=voice",
        "--volume",
        "1.5",
        "--speed",
        "1.1",
        "--channels",
        "2",
    ];
    let (binary, library) = both(&routine, &flags, |s| {
        let options = s.options_mut();
        options.rate = 22_050;
        options.level = Level::Deep;
        s.set_cue("countdown=voice").unwrap();
        s.set_voice(|v| {
            v.volume = 1.5;
            v.speed = 1.1;
        })
        .unwrap();
    });
    assert!(
        binary == library,
        "the library's WAV differs from the binary's"
    );
    // And the settings did something: the plain export is another file.
    let (plain, _) = both(&routine, &["--rate", "22050", "--channels", "2"], |s| {
        s.options_mut().rate = 22_050;
    });
    assert!(plain != binary, "the flags changed nothing");
}

#[test]
fn a_length_asked_of_a_session_matches_the_flag() {
    use vinyasa::plan::{Fit, LengthGoal};
    let routine = root().join("routines/calf-strength.toml");
    let flags = ["--rate", "16000", "--length", "7m30s", "--level", "deep"];
    let (binary, library) = both(&routine, &flags, |s| {
        let options = s.options_mut();
        options.rate = 16_000;
        options.level = Level::Deep;
        options.length = Some(LengthGoal {
            target: 450_000,
            fit: Fit::Durations,
        });
    });
    assert!(
        binary == library,
        "the library's WAV differs from the binary's"
    );
    // The planned session says how near it came, in its own samples.
    let mut session = Session::load(&routine).unwrap();
    session.options_mut().cache = None;
    session.options_mut().length = Some(LengthGoal {
        target: 450_000,
        fit: Fit::All,
    });
    let planned = session.plan().unwrap();
    let fit = planned.length().unwrap();
    assert_eq!(fit.target, 450 * 44_100);
    assert!(!fit.out_of_reach());
    let report = planned.length_report().unwrap().to_string();
    assert!(report.starts_with("7:30 for the 7:30 asked ("), "{report}");
    let off = planned.timeline().total.abs_diff(fit.target) as f64 / fit.target as f64;
    assert!(off <= 0.02, "{report}");
}
