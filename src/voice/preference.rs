//! The user's own voice: the engine and voice that speak every routine
//! whose `[voice]` table names none, so a natural voice, once installed,
//! is heard without editing routines. A routine's `[voice]` and the
//! command line still win.
//!
//! It comes from `VINYASA_VOICE` (`piper`, `piper:en_US-joe-medium`,
//! `flite`), else from the `[voice]` table of `config.toml` in the
//! platform's config directory (`~/.config/vinyasa/config.toml` on Linux;
//! `VINYASA_CONFIG_DIR` moves it):
//!
//! ```toml
//! [voice]
//! engine = "piper"
//! name = "en_US-joe-medium"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Engine, VoiceError};

/// The environment variable that sets the user's voice, as
/// `ENGINE` or `ENGINE:VOICE`.
pub const VOICE_ENV: &str = "VINYASA_VOICE";
/// The environment variable moving the config directory.
pub const CONFIG_ENV: &str = "VINYASA_CONFIG_DIR";

/// The config directory: `VINYASA_CONFIG_DIR`, or the platform's config
/// directory + `vinyasa` (`~/.config/vinyasa` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os(CONFIG_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::config_dir().map(|d| d.join("vinyasa")),
    }
}

/// The config file, `config.toml` in [`config_dir`].
pub fn config_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.toml"))
}

/// Where a user's voice was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceSource {
    /// `VINYASA_VOICE`.
    Env,
    /// The config file.
    File(PathBuf),
}

impl fmt::Display for VoiceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoiceSource::Env => write!(f, "{VOICE_ENV}"),
            VoiceSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The user's choice of voice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserVoice {
    /// The engine.
    pub engine: Engine,
    /// Its voice; `None` for the engine's default (for Piper: the first
    /// installed voice of the routine's language).
    pub name: Option<String>,
    /// Where it was set.
    pub source: VoiceSource,
}

impl UserVoice {
    /// `VINYASA_VOICE` if set, else the config file's `[voice]`, else
    /// `None`. A bad value is an error naming where it was set.
    pub fn load() -> Result<Option<UserVoice>, VoiceError> {
        if let Some(spec) = std::env::var_os(VOICE_ENV).filter(|s| !s.is_empty()) {
            let spec = spec.to_string_lossy();
            let (engine, name) = parse_spec(&spec).map_err(|reason| VoiceError::Invalid {
                what: format!("{VOICE_ENV}={spec:?}"),
                reason,
            })?;
            return Ok(Some(UserVoice {
                engine,
                name,
                source: VoiceSource::Env,
            }));
        }
        match config_file() {
            Some(path) if path.is_file() => Self::read(&path),
            _ => Ok(None),
        }
    }

    /// The `[voice]` table of the config file at `path`, if it has one.
    pub fn read(path: &Path) -> Result<Option<UserVoice>, VoiceError> {
        let invalid = |reason: String| VoiceError::Invalid {
            what: format!("the settings file {}", path.display()),
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot be read ({e})")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(format!("is not valid TOML: {}", e.message())))?;
        let Some(voice) = table.get("voice") else {
            return Ok(None);
        };
        let voice = voice
            .as_table()
            .ok_or_else(|| invalid("`voice` must be a table: [voice]".into()))?;
        if let Some(key) = voice
            .keys()
            .find(|k| !["engine", "name"].contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "[voice] has an unknown key `{key}`; it takes `engine` and `name`"
            )));
        }
        let engine_name = voice
            .get("engine")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| invalid("[voice] needs `engine = \"…\"`".into()))?;
        let engine = Engine::named(engine_name).ok_or_else(|| {
            invalid(format!(
                "[voice] engine {engine_name:?} is not an engine; the engines are {}",
                Engine::listing(true)
            ))
        })?;
        let name = match voice.get("name") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| invalid("[voice] name must be a string".into()))?
                    .to_string(),
            ),
        };
        Ok(Some(UserVoice {
            engine,
            name,
            source: VoiceSource::File(path.to_path_buf()),
        }))
    }

    /// Writes `engine` and `name` as the `[voice]` of the config file,
    /// keeping the rest of it; returns the file's path.
    pub fn save(engine: Engine, name: Option<&str>) -> std::io::Result<PathBuf> {
        let path = config_file()
            .ok_or_else(|| std::io::Error::other("this system has no config directory"))?;
        let mut table: toml::Table = match std::fs::read_to_string(&path) {
            Ok(text) => text.parse().map_err(|e: toml::de::Error| {
                std::io::Error::other(format!(
                    "{} is not valid TOML: {}",
                    path.display(),
                    e.message()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(e),
        };
        let mut voice = toml::Table::new();
        voice.insert("engine".into(), engine.name().into());
        if let Some(name) = name {
            voice.insert("name".into(), name.into());
        }
        table.insert("voice".into(), voice.into());
        let text = toml::to_string(&table).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = crate::atomic::AtomicFile::new(&path)?;
        std::io::Write::write_all(file.file(), text.as_bytes())?;
        file.commit(
            crate::atomic::Overwrite::Replace,
            crate::atomic::Durability::Synced,
        )?;
        Ok(path)
    }
}

/// `ENGINE` or `ENGINE:VOICE`.
fn parse_spec(spec: &str) -> Result<(Engine, Option<String>), String> {
    let (engine, name) = match spec.split_once(':') {
        Some((e, n)) if !n.trim().is_empty() => (e.trim(), Some(n.trim().to_string())),
        Some((e, _)) => (e.trim(), None),
        None => (spec.trim(), None),
    };
    let engine = Engine::named(engine).ok_or_else(|| {
        format!(
            "{engine:?} is not an engine; write ENGINE or ENGINE:VOICE (`piper:en_US-joe-medium`); \
             the engines are {}",
            Engine::listing(true)
        )
    })?;
    Ok((engine, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_engine_and_voice_from_a_spec() {
        let piper = Engine::named("piper").unwrap();
        assert_eq!(parse_spec("piper").unwrap(), (piper, None));
        assert_eq!(
            parse_spec("piper:en_US-joe-medium").unwrap(),
            (piper, Some("en_US-joe-medium".into()))
        );
        assert_eq!(parse_spec("flite:").unwrap(), (Engine::FLITE, None));
        let err = parse_spec("pipr:joe").unwrap_err();
        assert!(err.starts_with("\"pipr\" is not an engine"), "{err}");
    }

    #[test]
    fn reads_the_config_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[voice]\nengine = \"piper\"\nname = \"joe\"\n").unwrap();
        let v = UserVoice::read(&path).unwrap().unwrap();
        assert_eq!(v.engine.name(), "piper");
        assert_eq!(v.name.as_deref(), Some("joe"));
        assert_eq!(v.source, VoiceSource::File(path.clone()));
        std::fs::write(&path, "# nothing\n").unwrap();
        assert_eq!(UserVoice::read(&path).unwrap(), None);
        for (text, message) in [
            (
                "[voice]\nengine = \"nope\"\n",
                "engine \"nope\" is not an engine",
            ),
            ("[voice]\nname = \"joe\"\n", "needs `engine"),
            (
                "[voice]\nengine = \"flite\"\nspeed = 2\n",
                "unknown key `speed`",
            ),
            ("[voice\n", "is not valid TOML"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = UserVoice::read(&path).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
            assert!(err.starts_with("the settings file "), "{err}");
        }
    }
}
