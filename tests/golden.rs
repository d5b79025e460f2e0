//! Golden audio: the export of a short routine (`tests/golden/short.toml`)
//! is pinned by hashes in `tests/golden/short.golden`, together with the
//! version keys that name cached clips: the renderer's
//! [`vinyasa::render::PREPARATION_VERSION`] and the voice's identity (which
//! holds the text and edge versions).
//!
//! The coupling is the point. A cached clip is reused whenever its key is
//! unchanged, so a change that alters rendered samples must change a key
//! too, or every user's cache keeps serving the old samples. The test fails
//!
//! * when the samples changed but neither key did: bump
//!   `PREPARATION_VERSION` (or the voice's `text::VERSION` /
//!   `edges::VERSION`, if the speech itself changed), then re-bless;
//! * when a key changed but the golden file was not re-blessed;
//! * when the WAV bytes changed with the same samples (the file format
//!   changed, which no version covers).
//!
//! Re-bless after an intended change with
//! `VINYASA_BLESS=1 cargo test golden` and commit the golden file. CI never
//! sets `VINYASA_BLESS`.
//!
//! The routine is rendered at 16 kHz, the built-in voice's own rate: no
//! resampling (whose FFTs pick CPU-specific code at run time) is involved,
//! and the loudness measurement that sets each clip's gain is bit-identical
//! with or without AVX (`sound::loudness`'s tests pin that), so the hashes
//! hold on every x86-64 machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vinyasa::render::{PREPARATION_VERSION, RenderOptions, Renderer, Samples};
use vinyasa::sound::Palette;
use vinyasa::{Level, PlanOptions};

use crate::util::{load, root};

/// The rate of the golden export: the built-in voice's own.
const RATE: u32 = 16_000;

/// The environment variable that rewrites the golden file.
const BLESS: &str = "VINYASA_BLESS";

/// What the golden file pins.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Golden {
    preparation_version: u32,
    voice: String,
    samples: u64,
    samples_sha256: String,
    wav_sha256: String,
}

impl Golden {
    fn to_text(&self) -> String {
        let mut s = String::from(
            "# Golden audio of tests/golden/short.toml at 16 kHz: see tests/golden.rs.\n\
             # Rewrite with VINYASA_BLESS=1 cargo test golden (after bumping a version key\n\
             # if the samples changed).\n",
        );
        for (key, value) in [
            ("preparation_version", self.preparation_version.to_string()),
            ("voice", self.voice.clone()),
            ("samples", self.samples.to_string()),
            ("samples_sha256", self.samples_sha256.clone()),
            ("wav_sha256", self.wav_sha256.clone()),
        ] {
            writeln!(s, "{key} = {value}").unwrap();
        }
        s
    }

    fn parse(text: &str) -> Result<Golden, String> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once(" = "))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_owned())
                .ok_or(format!("no `{key}` line"))
        };
        let number = |key: &str| {
            get(key)?
                .parse::<u64>()
                .map_err(|e| format!("`{key}`: {e}"))
        };
        Ok(Golden {
            preparation_version: u32::try_from(number("preparation_version")?)
                .map_err(|e| e.to_string())?,
            voice: get("voice")?,
            samples: number("samples")?,
            samples_sha256: get("samples_sha256")?,
            wav_sha256: get("wav_sha256")?,
        })
    }
}

/// Why `now` does not match the `pinned` golden, if it does not: the
/// coupling between rendered samples and the version keys of cached clips.
fn verdict(pinned: &Golden, now: &Golden) -> Result<(), String> {
    let keys_same =
        pinned.preparation_version == now.preparation_version && pinned.voice == now.voice;
    let samples_same = pinned.samples == now.samples && pinned.samples_sha256 == now.samples_sha256;
    let wav_same = pinned.wav_sha256 == now.wav_sha256;
    match (keys_same, samples_same, wav_same) {
        (true, true, true) => Ok(()),
        (true, false, _) => Err(format!(
            "rendered samples changed: bump PREPARATION_VERSION (stale cached clips would be \
             reused) and update tests/golden/short.golden ({BLESS}=1 cargo test golden)\n\
             pinned: {pinned:#?}\nnow: {now:#?}"
        )),
        (true, true, false) => Err(format!(
            "the WAV bytes changed while the samples did not: the file format changed; if that \
             is meant, update tests/golden/short.golden ({BLESS}=1 cargo test golden)\n\
             pinned: {pinned:#?}\nnow: {now:#?}"
        )),
        (false, ..) => Err(format!(
            "a version key of cached clips changed (preparation_version {} → {}, voice {} → {}) \
             but tests/golden/short.golden was not updated: run {BLESS}=1 cargo test golden and \
             commit it",
            pinned.preparation_version, now.preparation_version, pinned.voice, now.voice
        )),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn golden_dir() -> PathBuf {
    root().join("tests").join("golden")
}

/// The golden routine rendered through the library, into memory, as the
/// binary renders it (no cache): the voice's identity and the samples.
fn render_samples(routine: &Path) -> (String, Vec<f32>) {
    let routine = load(routine);
    let voice = vinyasa::voice::open(&routine.voice, &routine.pronounce, None).unwrap();
    let options = PlanOptions {
        rate: RATE,
        level: Level::Standard,
    };
    let timeline = vinyasa::plan(&routine, voice.as_ref(), &options).unwrap();
    let render = RenderOptions {
        voice_volume: routine.voice.volume,
        ..RenderOptions::default()
    };
    let mut renderer =
        Renderer::with_options(&timeline, voice.as_ref(), &Palette::builtin(), render).unwrap();
    let mut samples = vec![0.0f32; renderer.total() as usize];
    // Blocks of an odd size: the samples do not depend on them.
    for (k, block) in samples.chunks_mut(3001).enumerate() {
        renderer.fill(k as u64 * 3001, block).unwrap();
    }
    // No resampling at this rate: see the module docs.
    assert_eq!(
        voice.speak("Rest.").unwrap().rate,
        RATE,
        "the golden rate must be the voice's own"
    );
    (voice.identity(), samples)
}

/// The golden routine exported by the binary, uncached: the WAV's bytes.
fn export_wav(routine: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("short.wav");
    let rate = RATE.to_string();
    let out = assert_cmd::Command::cargo_bin("vinyasa")
        .unwrap()
        .env("VINYASA_CONFIG_DIR", crate::util::NO_CONFIG)
        .env_remove("VINYASA_VOICE")
        .args(["export", "--no-cache", "--rate", rate.as_str(), "-o"])
        .arg(&wav)
        .arg(routine)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&wav).unwrap()
}

#[test]
fn the_golden_routine_renders_as_pinned() {
    let routine = golden_dir().join("short.toml");
    let (voice, samples) = render_samples(&routine);
    let bits: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let now = Golden {
        preparation_version: PREPARATION_VERSION,
        voice,
        samples: samples.len() as u64,
        samples_sha256: sha256_hex(&bits),
        wav_sha256: sha256_hex(&export_wav(&routine)),
    };
    let path = golden_dir().join("short.golden");
    if std::env::var_os(BLESS).is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, now.to_text()).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} ({BLESS}=1 writes it)", path.display()));
    let pinned = Golden::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(why) = verdict(&pinned, &now) {
        panic!("{why}");
    }
}

#[test]
fn the_golden_file_reads_back() {
    let golden = Golden {
        preparation_version: 4,
        voice: "flite/x/text-v1".into(),
        samples: 12,
        samples_sha256: "ab".repeat(32),
        wav_sha256: "cd".repeat(32),
    };
    assert_eq!(Golden::parse(&golden.to_text()), Ok(golden));
    assert!(Golden::parse("voice = x\n").is_err());
}

#[test]
fn samples_may_change_only_with_a_version_key() {
    let pinned = Golden {
        preparation_version: 4,
        voice: "flite/kal16/text-v1/edges-v1".into(),
        samples: 100,
        samples_sha256: "a".repeat(64),
        wav_sha256: "b".repeat(64),
    };
    assert_eq!(verdict(&pinned, &pinned.clone()), Ok(()));
    let changed = |f: &dyn Fn(&mut Golden)| {
        let mut now = pinned.clone();
        f(&mut now);
        verdict(&pinned, &now).unwrap_err()
    };
    // Samples changed, keys not: stale cached clips would be reused.
    for why in [
        changed(&|g| g.samples_sha256 = "c".repeat(64)),
        changed(&|g| {
            g.samples = 101;
            g.wav_sha256 = "d".repeat(64);
        }),
    ] {
        assert!(
            why.starts_with("rendered samples changed: bump PREPARATION_VERSION"),
            "{why}"
        );
    }
    // A key changed (with or without the samples): the golden must follow.
    for why in [
        changed(&|g| g.preparation_version = 5),
        changed(&|g| {
            g.voice = "flite/kal16/text-v2/edges-v1".into();
            g.samples_sha256 = "c".repeat(64);
        }),
    ] {
        assert!(
            why.starts_with("a version key of cached clips changed"),
            "{why}"
        );
    }
    // Same samples in other WAV bytes: the format changed.
    assert!(changed(&|g| g.wav_sha256 = "e".repeat(64)).starts_with("the WAV bytes changed"));
}
