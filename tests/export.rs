//! `vinyasa export`, checked by its samples: length and cue onsets against
//! the plan, digital silence where silence is planned, loudness, clicks,
//! determinism, and the file-safety rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{SEEDS, root};

fn vinyasa() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vinyasa").unwrap();
    cmd.current_dir(root());
    cmd.env("VINYASA_CACHE_DIR", root().join("target/test-clip-cache"));
    cmd.env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
        .env_remove("VINYASA_VOICE");
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-export").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan_json(routine: &str) -> Value {
    let (code, out, err) = run(vinyasa().args(["plan", "--json", routine]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples = r.samples::<i16>().map(Result::unwrap).collect();
    (spec, samples)
}

/// Sample ranges covered by sound-lane cues (bells, breath tones, ticks).
fn sound_ranges(plan: &Value) -> Vec<(u64, u64)> {
    plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["lane"] == "sound")
        .map(|c| {
            let s = c["start"].as_u64().unwrap();
            (s, s + c["len"].as_u64().unwrap())
        })
        .collect()
}

fn covered(ranges: &[(u64, u64)], a: u64, b: u64) -> bool {
    ranges.iter().any(|&(s, e)| s < b && a < e)
}

#[test]
fn exports_match_their_plans_sample_for_sample() {
    let dir = scratch("seeds");
    for name in SEEDS {
        let routine = format!("routines/{name}");
        let plan = plan_json(&routine);
        let wav = dir.join(name.replace(".toml", ".wav"));
        let (code, _, err) = run(vinyasa().args(["export", &routine, "-o"]).arg(&wav));
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("LUFS"), "summary: {err}");
        let (spec, x) = read_wav(&wav);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 44_100, 16)
        );
        // The file is exactly as long as the plan.
        assert_eq!(x.len() as u64, plan["total"].as_u64().unwrap(), "{name}");

        let sounds = sound_ranges(&plan);
        let rate = 44_100u64;
        for c in plan["cues"].as_array().unwrap() {
            let start = c["start"].as_u64().unwrap();
            let len = c["len"].as_u64().unwrap();
            let (s, e) = (start as usize, (start + len) as usize);
            match c["kind"]["type"].as_str().unwrap() {
                // Planned silence is digital silence unless a sound plays over it.
                "silence" if !covered(&sounds, start, start + len) => {
                    assert!(
                        x[s..e].iter().all(|&v| v == 0),
                        "{name}: noise in silence {c}"
                    );
                }
                "speech" => {
                    // Nothing sounds just before the words unless a bell or
                    // tone is planned there, and the voice starts at its sample.
                    let before = start.saturating_sub(rate / 100);
                    if !covered(&sounds, before, start) {
                        assert!(
                            x[before as usize..s].iter().all(|&v| v == 0),
                            "{name}: sound before {c}"
                        );
                    }
                    let first = &x[s..(s + rate as usize / 20).min(e)];
                    assert!(
                        first.iter().any(|&v| v.unsigned_abs() > 100),
                        "{name}: no voice at the start of {c}"
                    );
                }
                _ => {}
            }
        }
        // No clicks: every sound starts and ends at (near) zero where
        // nothing else is sounding.
        let cues = plan["cues"].as_array().unwrap();
        let sounding = |at: u64, me: &Value| {
            cues.iter().any(|o| {
                let s = o["start"].as_u64().unwrap();
                o != me
                    && o["kind"]["type"] != "silence"
                    && s <= at
                    && at < s + o["len"].as_u64().unwrap()
            })
        };
        for c in cues.iter().filter(|c| c["kind"]["type"] != "silence") {
            let start = c["start"].as_u64().unwrap();
            let end = start + c["len"].as_u64().unwrap() - 1;
            for at in [start, end] {
                if !sounding(at, c) {
                    let v = x[at as usize].unsigned_abs();
                    assert!(v < 300, "{name}: an edge of {v} at sample {at} of {c}");
                }
            }
        }
        // Loudness, measured independently of the renderer.
        let mut meter =
            ebur128::EbuR128::new(1, 44_100, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK).unwrap();
        meter.add_frames_i16(&x).unwrap();
        let lufs = meter.loudness_global().unwrap();
        let tp = 20.0 * meter.true_peak(0).unwrap().log10();
        assert!((lufs + 16.0).abs() <= 1.0, "{name}: {lufs:.2} LUFS");
        assert!(tp <= -1.0, "{name}: true peak {tp:.2} dBTP");
    }
}

#[test]
fn exports_are_deterministic_cold_or_warm() {
    let dir = scratch("determinism");
    let cache = dir.join("cache");
    let export = |out: &str| {
        let (code, _, err) = run(vinyasa()
            .env("VINYASA_CACHE_DIR", &cache)
            .args(["export", "routines/childs-pose.toml", "-o"])
            .arg(dir.join(out)));
        assert_eq!(code, 0, "{err}");
        std::fs::read(dir.join(out)).unwrap()
    };
    let cold = export("cold.wav");
    let warm = export("warm.wav");
    assert!(cold == warm, "a warm export differs from the cold one");
    // And without the cache at all.
    let (code, _, err) = run(vinyasa()
        .args(["export", "routines/childs-pose.toml", "--no-cache", "-o"])
        .arg(dir.join("none.wav")));
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(dir.join("none.wav")).unwrap() == cold);
}

#[test]
fn an_existing_file_is_not_overwritten_without_force() {
    let dir = scratch("overwrite");
    let wav = dir.join("mine.wav");
    std::fs::write(&wav, b"precious").unwrap();
    let (code, _, err) = run(vinyasa()
        .args(["export", "routines/childs-pose.toml", "-o"])
        .arg(&wav));
    assert_ne!(code, 0);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&wav).unwrap(), b"precious");
    let (code, _, err) = run(vinyasa()
        .args(["export", "routines/childs-pose.toml", "--force", "-o"])
        .arg(&wav));
    assert_eq!(code, 0, "{err}");
    assert_ne!(std::fs::read(&wav).unwrap(), b"precious");
    assert_eq!(entries(&dir), ["mine.wav"]);
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_interrupted_export_leaves_no_file() {
    let dir = scratch("interrupt");
    // A long session so the export is still running when interrupted.
    let routine = dir.join("long.toml");
    std::fs::write(
        &routine,
        "title = \"Long\"\n[[step]]\nname = \"Sit\"\nsay = \"Sit.\"\nhold = \"3h\"\n",
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vinyasa");
    let child = Command::new(bin)
        .current_dir(&dir)
        .env("VINYASA_CACHE_DIR", dir.join("cache"))
        .env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
        .env_remove("VINYASA_VOICE")
        .args(["export", "long.toml", "-o", "long.wav"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary file exists, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !entries(&dir).iter().any(|e| e.ends_with(".tmp")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no temporary file appeared: {:?}",
            entries(&dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let listing: Vec<String> = entries(&dir).into_iter().filter(|e| e != "cache").collect();
    assert_eq!(
        listing,
        ["long.toml"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn captions_and_markers_follow_the_plan() {
    let dir = scratch("captions");
    let plan = plan_json("routines/mid-back.toml");
    let wav = dir.join("mid-back.wav");
    let (code, _, err) = run(vinyasa()
        .args([
            "export",
            "routines/mid-back.toml",
            "--captions",
            "all",
            "-o",
        ])
        .arg(&wav));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        entries(&dir),
        [
            "mid-back.lrc",
            "mid-back.srt",
            "mid-back.vtt",
            "mid-back.wav"
        ]
    );
    let first = plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"]["type"] == "speech")
        .unwrap();
    let ms = (first["start_seconds"].as_f64().unwrap() * 1000.0).round() as u64;
    let srt = std::fs::read_to_string(dir.join("mid-back.srt")).unwrap();
    let stamp = format!("00:00:{:02},{:03} --> ", ms / 1000, ms % 1000);
    assert!(
        srt.starts_with(&format!("1\n{stamp}")),
        "{stamp} not first in:\n{}",
        &srt[..200]
    );
    assert!(srt.contains(first["text"].as_str().unwrap()));
    // One `cue ` point per step.
    let bytes = std::fs::read(&wav).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"cue ")
        .expect("no cue chunk");
    let count = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
    assert_eq!(count as usize, plan["steps"].as_array().unwrap().len());
}

#[test]
fn several_routines_go_to_a_directory() {
    let dir = scratch("several");
    let out = dir.join("phone");
    let (code, _, err) = run(vinyasa()
        .args([
            "export",
            "routines/childs-pose.toml",
            "routines/seven-stretches.toml",
            "-o",
        ])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert_eq!(entries(&out), ["childs-pose.wav", "seven-stretches.wav"]);
}

/// K-weighted loudness (LUFS, gated as BS.1770) of the samples of `x` in
/// `ranges`, joined; and how many of them reach full scale.
fn loudness_of(x: &[i16], ranges: &[(u64, u64)]) -> (f64, usize) {
    let joined: Vec<i16> = ranges
        .iter()
        .flat_map(|&(s, e)| x[s as usize..e as usize].iter().copied())
        .collect();
    let mut meter = ebur128::EbuR128::new(1, 44_100, ebur128::Mode::I).unwrap();
    meter.add_frames_i16(&joined).unwrap();
    let clipped = joined
        .iter()
        .filter(|v| v.unsigned_abs() >= i16::MAX as u16)
        .count();
    (meter.loudness_global().unwrap(), clipped)
}

/// The parts of the cues of `kind` where no cue of the other lane sounds.
fn alone(plan: &Value, kind: &str) -> Vec<(u64, u64)> {
    let cues = plan["cues"].as_array().unwrap();
    let range = |c: &Value| {
        let s = c["start"].as_u64().unwrap();
        (s, s + c["len"].as_u64().unwrap())
    };
    let mine: Vec<&Value> = cues.iter().filter(|c| c["kind"]["type"] == kind).collect();
    let mut parts: Vec<(u64, u64)> = mine.iter().map(|c| range(c)).collect();
    let others = cues
        .iter()
        .filter(|c| c["lane"] != mine[0]["lane"] && c["kind"]["type"] != "silence");
    for (os, oe) in others.map(range) {
        parts = parts
            .into_iter()
            .flat_map(|(s, e)| {
                if oe <= s || e <= os {
                    vec![(s, e)]
                } else {
                    [(s, os), (oe, e)]
                        .into_iter()
                        .filter(|(a, b)| a < b)
                        .collect()
                }
            })
            .collect();
    }
    parts
}

/// The samples of `x` in `ranges`, joined.
fn joined(x: &[i16], ranges: &[(u64, u64)]) -> Vec<f64> {
    ranges
        .iter()
        .flat_map(|&(s, e)| x[s as usize..e as usize].iter().map(|&v| f64::from(v)))
        .collect()
}

#[test]
fn the_voice_volume_is_applied_once() {
    // Speech stands over the bells by the volume (20·log10 2 = 6 dB more at
    // volume 2), is never clipped, and the session still measures −16 LUFS.
    // (Speech itself ends up about 2 dB softer at volume 2 than at 1: the
    // quieter bells and breath tones pull the integrated loudness down less,
    // so the session gain that brings it to −16 LUFS is smaller.)
    let dir = scratch("volume");
    let routine = "routines/childs-pose.toml";
    let plan = plan_json(routine);
    let speech = alone(&plan, "speech");
    let bells = alone(&plan, "bell");
    let seconds = |r: &[(u64, u64)]| r.iter().map(|(s, e)| e - s).sum::<u64>() / 44_100;
    assert!(seconds(&speech) > 30 && seconds(&bells) > 4);
    let mut balance = Vec::new();
    let mut spoken = Vec::new();
    for volume in ["1", "2", "0.5", "4"] {
        let wav = dir.join(format!("{volume}.wav"));
        let (code, _, err) = run(vinyasa()
            .args(["export", routine, "--no-cache", "--volume", volume, "-o"])
            .arg(&wav));
        assert_eq!(code, 0, "{err}");
        let (_, x) = read_wav(&wav);
        let mut meter = ebur128::EbuR128::new(1, 44_100, ebur128::Mode::I).unwrap();
        meter.add_frames_i16(&x).unwrap();
        let session = meter.loudness_global().unwrap();
        let (voice, clipped) = loudness_of(&x, &speech);
        let (bell, _) = loudness_of(&x, &bells);
        println!(
            "volume {volume}: session {session:.2} LUFS, speech {voice:.2}, bells {bell:.2}, \
             speech over bells {:.2} dB",
            voice - bell
        );
        assert!(
            (session + 16.0).abs() <= 0.5,
            "volume {volume}: {session:.2} LUFS"
        );
        assert_eq!(clipped, 0, "volume {volume}: clipped speech samples");
        balance.push(voice - bell);
        spoken.push(joined(&x, &speech));
    }
    let louder = balance[1] - balance[0];
    let softer = balance[0] - balance[2];
    assert!((louder - 6.02).abs() < 0.5, "volume 2: {louder:.2} dB more");
    assert!(
        (softer - 6.02).abs() < 0.5,
        "volume 0.5: {softer:.2} dB less"
    );
    // At volume 4 the speech is the same as at 2 but for its level and
    // limiting: the voice no longer scales it past full scale first, which
    // clipped it (a residual of −33 dB; −52 dB without).
    let (two, four) = (&spoken[1], &spoken[3]);
    let scale = two.iter().zip(four).map(|(a, b)| a * b).sum::<f64>()
        / four.iter().map(|b| b * b).sum::<f64>();
    let residual = two
        .iter()
        .zip(four)
        .map(|(a, b)| (a - scale * b).powi(2))
        .sum::<f64>();
    let residual_db = 10.0 * (residual / two.iter().map(|a| a * a).sum::<f64>()).log10();
    println!("speech at volume 4 against volume 2: residual {residual_db:.1} dB");
    assert!(
        residual_db < -45.0,
        "speech distorted at volume 4: {residual_db:.1} dB"
    );
}
