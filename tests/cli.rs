//! The binary's exit codes and messages.

use assert_cmd::Command;

use crate::util::root;

fn vinyasa() -> Command {
    let mut cmd = Command::cargo_bin("vinyasa").unwrap();
    cmd.current_dir(root());
    // Keep the tests' phrase cache out of the user's.
    cmd.env("VINYASA_CACHE_DIR", root().join("target/test-clip-cache"));
    // And the user's own voice out of the tests.
    cmd.env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
        .env_remove("VINYASA_VOICE");
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_clean_routines_exits_zero() {
    let (code, out, err) = output(vinyasa().args([
        "check",
        "routines/childs-pose.toml",
        "routines/seven-stretches.toml",
        "routines/mid-back.toml",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.contains("routines/mid-back.toml: ok (8 steps)"),
        "{out}"
    );
}

#[test]
fn the_example_routines_check_with_no_warning() {
    let (code, out, err) = output(vinyasa().args([
        "check",
        "routines/breathwork.toml",
        "routines/calf-strength.toml",
        "routines/sun-salutation.toml",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "the planner or the check warned");
    assert_eq!(
        out,
        "routines/breathwork.toml: ok (4 steps)\nroutines/calf-strength.toml: ok (3 steps)\nroutines/sun-salutation.toml: ok (3 steps)\n"
    );
}

#[test]
fn check_shows_the_planners_warnings_with_their_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plank.toml");
    std::fs::write(
        &file,
        "title = \"Plank\"\n[[step]]\nname = \"Plank\"\nhold = \"20s\"\nrepeat = 3\nprompts = [\"Keep breathing.\"]\ncues = { remaining = false }\n",
    )
    .unwrap();
    let (code, out, err) = output(vinyasa().arg("check").arg(&file));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("plank.toml: ok (1 steps, 1 warning)\n"),
        "{out}"
    );
    // Said once, though each of the three rounds drops it.
    assert_eq!(err.matches("warning: ").count(), 1, "{err}");
    assert!(
        err.contains("plank.toml:6:12: step \"Plank\": \"Keep breathing.\"")
            && err.contains("it would overlap \"Halfway.\""),
        "{err}"
    );
}

#[test]
fn check_reports_every_broken_file_and_exits_one() {
    let (code, out, err) = output(vinyasa().args([
        "check",
        "routines/mid-back.toml",
        "tests/broken/02-unknown-step-key.toml",
        "tests/broken/39-many-problems.toml",
    ]));
    assert_eq!(code, 1);
    assert!(out.contains("mid-back.toml: ok"), "{out}");
    assert!(
        err.contains("tests/broken/02-unknown-step-key.toml:6:1: unknown key `repeats`"),
        "{err}"
    );
    assert!(err.contains("did you mean `repeat`?"), "{err}");
    assert!(
        err.contains("tests/broken/39-many-problems.toml: 7 errors"),
        "{err}"
    );
}

#[test]
fn check_missing_file_names_it() {
    let (code, _, err) = output(vinyasa().args(["check", "routines/nope.toml"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("routines/nope.toml:1:1: cannot read the file"),
        "{err}"
    );
}

#[test]
fn voices_and_licenses() {
    let (code, out, _) = output(vinyasa().arg("voices"));
    assert_eq!(code, 0);
    assert!(out.starts_with("flite      kal16"), "{out}");
    let (code, out, _) = output(vinyasa().arg("licenses"));
    assert_eq!(code, 0);
    assert!(out.contains("flite"), "{out}");
}

#[test]
fn bad_voice_settings_are_refused() {
    let (code, _, err) = output(vinyasa().args(["plan", "routines/mid-back.toml", "--speed", "0"]));
    assert_eq!(code, 1);
    assert!(err.contains("speed"), "{err}");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(output(vinyasa().arg("check")).0, 2);
    assert_eq!(
        output(vinyasa().args(["plan", "routines/mid-back.toml", "--level", "hard"])).0,
        2
    );
    assert_eq!(output(&mut vinyasa()).0, 2);
}

#[test]
fn plan_prints_a_table_and_json() {
    let (code, out, err) = output(vinyasa().args(["plan", "routines/seven-stretches.toml"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Seven stretches for back pain\n"), "{out}");
    assert!(out.contains("Switch sides. Left arm."), "{out}");
    let (code, out, err) = output(vinyasa().args([
        "plan",
        "routines/seven-stretches.toml",
        "--json",
        "--level",
        "gentle",
    ]));
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["schema"], "vinyasa.plan/1");
    assert_eq!(json["level"], "gentle");
}

#[test]
fn plan_refuses_a_broken_routine_and_a_bad_cue() {
    let (code, _, err) = output(vinyasa().args(["plan", "tests/broken/08-zero-hold.toml"]));
    assert_eq!(code, 1);
    assert!(err.contains("08-zero-hold.toml:5:8"), "{err}");
    let (code, _, err) =
        output(vinyasa().args(["plan", "routines/mid-back.toml", "--cue", "halfwya=off"]));
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `halfway`?"), "{err}");
}

#[test]
fn cue_overrides_change_the_plan() {
    let (_, with, _) = output(vinyasa().args(["plan", "routines/seven-stretches.toml"]));
    let (code, without, err) = output(vinyasa().args([
        "plan",
        "routines/seven-stretches.toml",
        "--cue",
        "halfway=off",
        "--cue",
        "countdown=tick",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(with.contains("“Halfway.”") && !without.contains("“Halfway.”"));
    assert!(with.contains("“Three.”") && !without.contains("“Three.”"));
    assert!(without.contains("tick 3"));
}

#[test]
fn cache_shows_what_it_holds_and_clears_only_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wav = dir.path().join("s.wav");
    let (code, _, err) = output(vinyasa().env("VINYASA_CACHE_DIR", &cache).args([
        "export",
        "routines/childs-pose.toml",
        "-o",
        wav.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    // Someone else's file in the same folder, and one in `prepared/`.
    std::fs::write(cache.join("notes.txt"), "mine").unwrap();
    std::fs::write(cache.join("prepared").join("keep.me"), "mine").unwrap();

    let (code, out, err) = output(vinyasa().args(["cache", "--cache-dir"]).arg(&cache));
    assert_eq!(code, 0, "{err}");
    let files = |line: &str| -> u64 {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(line))
            .unwrap();
        row.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    // One clip per distinct phrase; prepared speech, sounds and mixes.
    assert_eq!(files("phrases"), 24, "{out}");
    assert!(files("prepared") > 25, "{out}");
    assert_eq!(
        files("total"),
        files("phrases") + files("prepared"),
        "{out}"
    );

    let (code, out, err) = output(
        vinyasa()
            .args(["cache", "--clear", "--cache-dir"])
            .arg(&cache),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("removed "), "{out}");
    let (_, after, _) = output(vinyasa().args(["cache", "--cache-dir"]).arg(&cache));
    assert!(after.contains("total           0 files"), "{after}");
    assert_eq!(std::fs::read(cache.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read(cache.join("prepared").join("keep.me")).unwrap(),
        b"mine"
    );

    // An export after a clear makes what it needs again, to the same bytes.
    let again = dir.path().join("again.wav");
    let (code, _, err) = output(vinyasa().env("VINYASA_CACHE_DIR", &cache).args([
        "export",
        "routines/childs-pose.toml",
        "-o",
        again.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&wav).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn the_cache_stays_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wav = dir.path().join("s.wav");
    // A limit under one session's clips: after the export, the prepared
    // clips used longest ago go until 90% of it is left.
    let (code, _, err) = output(
        vinyasa()
            .env("VINYASA_CACHE_DIR", &cache)
            .env("VINYASA_CACHE_LIMIT", "20M")
            .args(["export", "routines/childs-pose.toml", "-o"])
            .arg(&wav),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: cache: removed "), "{err}");
    assert!(err.contains("to stay within 20 MB"), "{err}");
    let size: u64 = walk(&cache)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(size <= 18_000_000, "{size} bytes left");
    // Within the limit, nothing is said.
    let again = dir.path().join("again.wav");
    let (code, _, err) = output(
        vinyasa()
            .env("VINYASA_CACHE_DIR", &cache)
            .args(["export", "routines/childs-pose.toml", "-o"])
            .arg(&again),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("note: cache"), "{err}");
    assert_eq!(std::fs::read(&wav).unwrap(), std::fs::read(&again).unwrap());
    // A size that is not one is refused with the way to write one.
    let (code, _, err) = output(
        vinyasa()
            .args(["cache", "--cache-limit", "2X", "--cache-dir"])
            .arg(&cache),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use K, M or G, e.g. 500M or 2G"), "{err}");
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn an_empty_cache_dir_variable_is_unset_and_a_missing_sounds_folder_an_error() {
    let (code, out, err) = output(vinyasa().env("VINYASA_CACHE_DIR", "").args([
        "plan",
        "--no-cache",
        "routines/childs-pose.toml",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Child's pose"), "{out}");
    let (code, _, err) = output(vinyasa().args([
        "export",
        "routines/childs-pose.toml",
        "--sounds",
        "/nonexistent",
        "-o",
        "/nonexistent/x.wav",
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("--sounds /nonexistent: no such folder"),
        "{err}"
    );
}

#[test]
fn export_refuses_to_write_over_its_own_routine_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let routine = dir.path().join("r.wav");
    let text = std::fs::read_to_string(root().join("routines/childs-pose.toml")).unwrap();
    std::fs::write(&routine, &text).unwrap();
    let (code, _, err) = output(
        vinyasa()
            .current_dir(dir.path())
            .args(["export", "r.wav", "-o", "r.wav", "--force"]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("r.wav is a routine being exported"), "{err}");
    assert_eq!(std::fs::read_to_string(&routine).unwrap(), text);
}

#[test]
fn a_bad_length_is_one_error_naming_the_flag_the_value_and_the_fix() {
    for (given, says) in [
        ("0", "\"0\": it has no unit; give a length such as 15m"),
        (
            "0s",
            "\"0s\": a session must last more than zero; give a length such as 15m",
        ),
        ("-5m", "\"-5m\": it is negative; give a length such as 15m"),
        (
            "soon",
            "\"soon\": it is not a duration; give a length such as 15m",
        ),
        (
            "9h",
            "\"9h\": over the 4h a session may last; give 4h or less",
        ),
        (
            "10-20m",
            "\"10-20m\": a length is one duration, not a range",
        ),
    ] {
        for command in ["plan", "export", "play"] {
            let flag = format!("--length={given}");
            let (code, out, err) =
                output(vinyasa().args([command, "routines/mid-back.toml", &flag]));
            assert_eq!(code, 2, "{command} {flag}: {err}");
            assert!(out.is_empty(), "{out}");
            assert!(
                err.contains(&format!(
                    "invalid value '{given}' for '--length <DURATION>': {says}"
                )),
                "{command} {flag}: {err}"
            );
        }
    }
}

#[test]
fn plan_to_a_length_reports_it_and_carries_it_in_the_json() {
    let (code, out, err) =
        output(vinyasa().args(["plan", "routines/mid-back.toml", "--length", "20 min"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("length: 20:00 for the 20:00 asked (+0.0%)\n"),
        "{err}"
    );
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains(" · ranges fitted to 20:00 · "),
        "{out}"
    );
    let (code, out, err) = output(vinyasa().args([
        "plan",
        "routines/mid-back.toml",
        "--length",
        "1h30m",
        "--level",
        "gentle",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let length = &json["length"];
    assert_eq!(length["target_seconds"], 5400.0);
    assert_eq!(length["reached"], json["total"]);
    assert_eq!(length["longest"], json["total"]);
    assert_eq!(length["counts"], "gentle");
    assert_eq!(length["limits"].as_array().unwrap().len(), 2);
    assert_eq!(length["limits"][0]["written"], "\"3-5 min\"");
    assert!(
        err.contains("the longest this routine can be at the gentle level is ")
            && err.contains("\n  routines/mid-back.toml:101: \"Final rest\" hold = \"5-8 min\"\n"),
        "{err}"
    );
    // Without --length, no "length" in the document and no line.
    let (_, out, err) = output(vinyasa().args(["plan", "routines/mid-back.toml", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json.get("length").is_none());
    assert!(!err.contains("length:"), "{err}");
}

#[test]
fn export_to_a_length_writes_the_length_it_reports() {
    let dir = root().join("target/test-export-length");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("calf.wav");
    let (code, _, err) = output(vinyasa().args([
        "export",
        "routines/calf-strength.toml",
        "--length",
        "6m30s",
        "--rate",
        "16000",
        "-o",
        wav.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    // Which second it lands on follows the voice's phrase lengths; the
    // file's own length is checked against the report below.
    assert!(
        err.contains("length: 6:") && err.contains(" for the 6:30 asked ("),
        "{err}"
    );
    let (_, out, _) = output(vinyasa().args([
        "plan",
        "routines/calf-strength.toml",
        "--length",
        "6m30s",
        "--rate",
        "16000",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let samples = hound::WavReader::open(&wav).unwrap().duration();
    assert_eq!(json["length"]["reached"], u64::from(samples));
    let off = (f64::from(samples) / 16_000.0 - 390.0).abs() / 390.0;
    assert!(off <= 0.02, "{samples} samples");
}
