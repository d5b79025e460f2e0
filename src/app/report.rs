//! What the binary prints for the commands that are reports, not
//! sessions: `vinyasa voices` and `vinyasa cache`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// `vinyasa voices`: every engine's voices, or why an engine is missing.
pub fn voices() -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    for v in vinyasa::voice::available() {
        let name = v.name.as_deref().unwrap_or("-");
        let lang = v.language.as_deref().unwrap_or("");
        if v.installed {
            writeln!(
                out,
                "{:<10} {:<18} {:<8} {}",
                v.engine.to_string(),
                name,
                lang,
                v.description
            )?;
        } else {
            writeln!(
                out,
                "{:<10} (not installed) {}",
                v.engine.to_string(),
                v.description
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vinyasa voices install NAME`: Piper and the voice in the private
/// environment, then (unless `keep_voice`, or the user already chose a
/// voice) the user's voice.
pub fn install_voice(name: &str, keep_voice: bool) -> anyhow::Result<ExitCode> {
    use vinyasa::voice::{Engine, UserVoice, piper};
    let installed = piper::install(name, &|step| eprintln!("{step}"))?;
    let voices: Vec<&str> = installed.voices.iter().map(|m| m.name.as_str()).collect();
    eprintln!(
        "installed Piper {} with {} in {}",
        installed.piper,
        voices.join(", "),
        installed.venv.display()
    );
    for model in &installed.voices {
        println!(
            "{:<10} {:<18} {:<8} {}",
            "piper",
            model.name,
            model.language,
            model.description()
        );
    }
    let piper = Engine::named("piper").expect("piper is an engine");
    let current = UserVoice::load().ok().flatten();
    match current {
        _ if keep_voice => eprintln!(
            "use it with `--engine piper --voice {}`, or set VINYASA_VOICE=piper:{}",
            voices[0], voices[0]
        ),
        Some(user) if !(user.engine == piper && user.name.as_deref() == Some(voices[0])) => {
            eprintln!(
                "your voice stays {} {} (set in {}); use this one with `--engine piper --voice {}`",
                user.engine,
                user.name.as_deref().unwrap_or("(default)"),
                user.source,
                voices[0]
            );
        }
        _ => {
            let path = UserVoice::save(piper, Some(voices[0]))
                .context("cannot save your voice setting")?;
            eprintln!(
                "{} is now your voice for every routine whose [voice] names none (saved in {}); `--engine flite` speaks with the built-in voice",
                voices[0],
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vinyasa cache`: what the cache holds, or `--clear` it, or bring it
/// within `--cache-limit`.
pub fn cache(clear: bool, dir: Option<PathBuf>, limit: Option<u64>) -> anyhow::Result<ExitCode> {
    use vinyasa::cache::FileCount;
    use vinyasa::export::size;
    let Some(dir) = dir.or_else(vinyasa::cache::default_dir) else {
        anyhow::bail!("this system has no cache directory; give one with --cache-dir");
    };
    let mut out = io::stdout().lock();
    let line = |what: &str, n: FileCount| {
        format!("  {what:<10}{:>7} files  {:>8}", n.files, size(n.bytes))
    };
    if clear {
        let gone = vinyasa::cache::clear(&dir)
            .with_context(|| format!("cannot clear the cache {}", dir.display()))?;
        let total = gone.total();
        writeln!(
            out,
            "removed {} files ({}) from {}",
            total.files,
            size(total.bytes),
            dir.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(limit) = limit {
        prune_cache(&dir, limit)?;
    }
    let usage = vinyasa::cache::usage(&dir);
    writeln!(out, "cache: {}", dir.display())?;
    writeln!(out, "{}", line("phrases", usage.phrases))?;
    writeln!(out, "{}", line("prepared", usage.prepared))?;
    if usage.leftovers.files > 0 {
        writeln!(out, "{}", line("leftovers", usage.leftovers))?;
    }
    writeln!(out, "{}", line("total", usage.total()))?;
    writeln!(
        out,
        "  limit     {:>22}",
        size(limit.unwrap_or(vinyasa::cache::DEFAULT_LIMIT))
    )?;
    writeln!(
        out,
        "(`vinyasa cache --clear` empties it; exports make what they need again)"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Brings the cache in `dir` within `limit` bytes, saying what went.
pub fn prune_cache(dir: &std::path::Path, limit: u64) -> anyhow::Result<()> {
    use vinyasa::export::size;
    let removed = vinyasa::cache::prune(dir, limit)
        .with_context(|| format!("cannot trim the cache {}", dir.display()))?;
    let gone = removed.total();
    if gone.files > 0 {
        eprintln!(
            "note: cache: removed {} files ({}) used longest ago or left by killed exports, to stay within {}",
            gone.files,
            size(gone.bytes),
            size(limit)
        );
    }
    Ok(())
}
