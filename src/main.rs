//! The `vinyasa` binary: parse arguments, call the library, print, exit.

mod app;
mod cli;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, EngineArg, ExportArgs, SessionArgs, VoiceArgs};
use vinyasa::routine::{self, Report, Routine};
use vinyasa::{PlanOptions, Timeline};

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("vinyasa: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets glibc's allocator up for an export: hundreds of buffers of a few
/// megabytes (a clip, a mix, a block of samples) made and freed on several
/// threads. By default each thread gets its own arena, every buffer over
/// 128 KiB is mapped afresh and freed memory goes back to the kernel at
/// once, so each buffer costs page faults and zeroed pages: measured, a
/// third of a short cold export's CPU time was the kernel's. One arena
/// that keeps up to 64 MiB of freed memory and maps only buffers over
/// 32 MiB halves that, and lowers peak memory. Nothing else changes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets malloc's parameters, and is called before
    // any other thread exists; a setting it refuses is left as it was.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Plan {
            file,
            json,
            session,
            voice,
        } => {
            let Some(routine) = load(&file)? else {
                return Ok(ExitCode::FAILURE);
            };
            let routine = configure(routine, &session, &voice)?;
            let speaker = open_voice(&routine, &voice)?;
            let timeline = plan(&routine, speaker.as_ref(), &session)?;
            let mut out = io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &vinyasa::timeline::Json::new(&timeline))?;
                writeln!(out)?;
            } else {
                write!(out, "{}", vinyasa::timeline::Table(&timeline))?;
            }
            out.flush()?;
            print_warnings(&routine, &timeline);
            trim_cache(&voice)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            export: args,
            session,
            voice,
        } => {
            let code = export(&args, &session, &voice)?;
            trim_cache(&voice)?;
            Ok(code)
        }
        Command::Play {
            file,
            from,
            device,
            plain,
            sounds,
            system_voice,
            session,
            voice,
        } => {
            let code = play(
                &file,
                PlayArgs {
                    from,
                    device,
                    plain,
                    system_voice,
                },
                sounds.as_deref(),
                &session,
                &voice,
            )?;
            trim_cache(&voice)?;
            Ok(code)
        }
        Command::Voices => {
            let mut out = io::stdout().lock();
            for v in vinyasa::voice::available() {
                let name = v.name.as_deref().unwrap_or("-");
                let lang = v.language.as_deref().unwrap_or("");
                if v.installed {
                    writeln!(
                        out,
                        "{:<10} {:<14} {:<8} {}",
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
        Command::Licenses => {
            io::stdout()
                .lock()
                .write_all(vinyasa::voice::NOTICES.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache {
            clear,
            cache_dir,
            cache_limit,
        } => cache(clear, cache_dir, cache_limit),
    }
}

/// Applies the command line's cue and voice settings over the routine's.
fn configure(
    mut routine: Routine,
    session: &SessionArgs,
    voice: &VoiceArgs,
) -> anyhow::Result<Routine> {
    for c in &session.cues {
        routine.set_cue(c).map_err(anyhow::Error::msg)?;
    }
    let v = &mut routine.voice;
    if let Some(e) = voice.engine {
        v.engine = match e {
            EngineArg::Flite => vinyasa::voice::Engine::Flite,
            EngineArg::EspeakNg => vinyasa::voice::Engine::EspeakNg,
        };
        if voice.voice.is_none() {
            v.name = None;
        }
    }
    if let Some(n) = &voice.voice {
        v.name = Some(n.clone());
    }
    if let Some(x) = voice.speed {
        v.speed = x;
    }
    if let Some(x) = voice.pitch {
        v.pitch = x;
    }
    if let Some(x) = voice.volume {
        v.volume = x;
    }
    v.check()
        .map_err(|e| anyhow::anyhow!("{e} (from --speed, --pitch or --volume)"))?;
    Ok(routine)
}

/// Where phrases (and, in `prepared/`, rendered speech) are cached; `None`
/// with --no-cache.
fn cache_dir(args: &VoiceArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    args.cache_dir.clone().or_else(vinyasa::cache::default_dir)
}

/// `vinyasa cache`: what the cache holds, or `--clear` it, or bring it
/// within `--cache-limit`.
fn cache(clear: bool, dir: Option<PathBuf>, limit: Option<u64>) -> anyhow::Result<ExitCode> {
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

/// The routine's voice, behind the phrase cache unless --no-cache.
fn open_voice(routine: &Routine, args: &VoiceArgs) -> anyhow::Result<Box<dyn vinyasa::Voice>> {
    let cache = cache_dir(args);
    vinyasa::voice::open(&routine.voice, &routine.pronounce, cache.as_deref())
        .with_context(|| format!("cannot open the voice for {}", routine.file))
}

/// Loads a routine, printing its problems; `None` if it has errors.
fn load(path: &std::path::Path) -> anyhow::Result<Option<Routine>> {
    match routine::load(path) {
        Ok((routine, report)) => {
            print_report(&report);
            Ok(Some(routine))
        }
        Err(report) => {
            print_report(&report);
            Ok(None)
        }
    }
}

fn print_warnings(routine: &Routine, timeline: &Timeline) {
    for w in &timeline.warnings {
        eprintln!(
            "warning: {}:{}:{}: {}",
            routine.file, w.line, w.column, w.message
        );
    }
}

fn print_report(report: &Report) {
    if !report.diagnostics.is_empty() {
        eprint!("{report}");
    }
}

fn check(files: &[std::path::PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for path in files {
        match routine::load(path) {
            Ok((routine, report)) => {
                print_report(&report);
                let warnings = report.warnings().count();
                let note = match warnings {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!(
                    "{}: ok ({} steps{note})",
                    path.display(),
                    routine.steps.len()
                );
            }
            Err(report) => {
                print_report(&report);
                let n = report.errors().count();
                eprintln!(
                    "{}: {n} error{}",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                );
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn plan(
    routine: &Routine,
    voice: &dyn vinyasa::Voice,
    args: &SessionArgs,
) -> anyhow::Result<Timeline> {
    let options = PlanOptions {
        rate: args.rate.unwrap_or(44_100),
        level: args.level.into(),
    };
    // Phrases are spoken on every core into the cache first; without a
    // cache that would speak them twice.
    if voice.cache_stats().is_some() {
        vinyasa::plan::speak_ahead(routine, voice, &options)
            .with_context(|| format!("cannot plan {}", routine.file))?;
    }
    vinyasa::plan(routine, voice, &options).with_context(|| format!("cannot plan {}", routine.file))
}

fn export(
    args: &ExportArgs,
    session: &SessionArgs,
    voice_args: &VoiceArgs,
) -> anyhow::Result<ExitCode> {
    use vinyasa::export::{self, ExportOptions};
    let captions = match &args.captions {
        Some(list) => vinyasa::output::captions::parse_formats(list).map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    let cancel = vinyasa::Cancel::new();
    let flag = cancel.clone();
    // Ctrl-C and SIGTERM stop the render at the next block; the temporary
    // file is removed and any existing target left as it was.
    ctrlc::set_handler(move || {
        flag.cancel();
    })
    .context("cannot install the Ctrl-C handler")?;
    let options = ExportOptions {
        force: args.force,
        format: args.format,
        channels: args.channels,
        // Per routine, below.
        artist: None,
        comment: None,
        captions,
        loudness: true,
        cancel: cancel.clone(),
    };
    let targets = export::targets(&args.files, args.output.as_deref(), args.format)?;
    // Check everything before rendering anything.
    let mut routines = Vec::new();
    for (file, wav) in args.files.iter().zip(&targets) {
        let Some(routine) = load(file)? else {
            return Ok(ExitCode::FAILURE);
        };
        export::check_targets(wav, &options)?;
        routines.push((configure(routine, session, voice_args)?, wav));
    }
    for (routine, wav) in routines {
        let voice = open_voice(&routine, voice_args)?;
        // The format's own rate unless --rate says (48 kHz for Opus).
        let format = export::format_of(wav, args.format)?;
        let session = &SessionArgs {
            rate: Some(session.rate.unwrap_or(format.default_rate())),
            ..session.clone()
        };
        let timeline = plan(&routine, voice.as_ref(), session)?;
        print_warnings(&routine, &timeline);
        let palette = palette(&routine, args.sounds.as_deref())?;
        let store = cache_dir(voice_args).map(|d| vinyasa::cache::PreparedDir::in_cache(&d));
        let mut renderer = renderer(
            &routine,
            &timeline,
            voice.as_ref(),
            &palette,
            &cancel,
            store.as_ref(),
        )?;
        let bar = app::progress::ExportBar::new(wav, &timeline);
        // Tags the timeline does not carry.
        let options = ExportOptions {
            artist: routine.credit.clone(),
            comment: routine.description.clone(),
            ..options.clone()
        };
        match export::export(&timeline, &mut renderer, wav, &options, &bar) {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) if cancel.is_cancelled() => {
                eprintln!("vinyasa: {:#}", anyhow::Error::from(e));
                return Ok(ExitCode::from(130));
            }
            Err(e) => {
                return Err(
                    anyhow::Error::from(e).context(format!("cannot export {}", routine.file))
                );
            }
        }
        if let Some(stats) = voice.cache_stats()
            && let Some(warning) = stats.warning
        {
            eprintln!("note: phrase cache: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// After a command that used the cache: keep it within `--cache-limit`.
fn trim_cache(voice_args: &VoiceArgs) -> anyhow::Result<()> {
    let Some(dir) = cache_dir(voice_args) else {
        return Ok(());
    };
    let limit = voice_args
        .cache_limit
        .unwrap_or(vinyasa::cache::DEFAULT_LIMIT);
    prune_cache(&dir, limit)
}

/// Brings the cache in `dir` within `limit` bytes, saying what went.
fn prune_cache(dir: &std::path::Path, limit: u64) -> anyhow::Result<()> {
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

/// The built-in sounds, replaced by files from `--sounds DIR` (or `audio/`
/// in the current directory) and the routine's `[sounds]`.
fn palette(
    routine: &Routine,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<vinyasa::sound::Palette> {
    use vinyasa::sound::{Palette, Sound};
    let dir = dir
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("audio"));
    let overrides: Vec<(Sound, PathBuf)> = routine
        .sounds
        .iter()
        .filter_map(|(name, path)| Sound::from_name(name).map(|s| (s, path.clone())))
        .collect();
    let palette = if dir.is_dir() {
        Palette::load(&dir, &overrides)?
    } else {
        let mut p = Palette::builtin();
        for (sound, path) in &overrides {
            p = p.with_file(*sound, path)?;
        }
        p
    };
    Ok(palette)
}

/// The renderer for a planned routine, stopping when `cancel` is set.
fn renderer<'a>(
    routine: &Routine,
    timeline: &'a Timeline,
    voice: &'a dyn vinyasa::Voice,
    palette: &vinyasa::sound::Palette,
    cancel: &vinyasa::Cancel,
    store: Option<&'a vinyasa::cache::PreparedDir>,
) -> anyhow::Result<vinyasa::render::Renderer<'a>> {
    let options = vinyasa::render::RenderOptions {
        voice_volume: routine.voice.volume,
        cancel: cancel.clone(),
        store: store.map(|s| s as &dyn vinyasa::cache::PreparedStore),
        ..Default::default()
    };
    vinyasa::render::Renderer::with_options(timeline, voice, palette, options)
        .with_context(|| format!("cannot render {}", routine.file))
}

/// `vinyasa play`'s own options.
struct PlayArgs {
    from: Option<String>,
    device: String,
    plain: bool,
    system_voice: bool,
}

fn play(
    file: &std::path::Path,
    args: PlayArgs,
    sounds: Option<&std::path::Path>,
    session: &SessionArgs,
    voice_args: &VoiceArgs,
) -> anyhow::Result<ExitCode> {
    use vinyasa::play::{Ended, PlayOptions};
    let PlayArgs {
        from,
        device,
        plain,
        system_voice,
    } = args;
    if system_voice && !cfg!(feature = "system-voice") {
        anyhow::bail!(
            "this vinyasa was built without the system-voice feature: \
             cargo install --path . --features system-voice (needs libclang-dev and \
             libspeechd-dev on Linux); or drop --system-voice to use the built-in voice"
        );
    }
    let Some(routine) = load(file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let routine = configure(routine, session, voice_args)?;
    let voice = open_voice(&routine, voice_args)?;
    let timeline = plan(&routine, voice.as_ref(), session)?;
    print_warnings(&routine, &timeline);
    let palette = palette(&routine, sounds)?;
    let first_step = match &from {
        Some(given) => vinyasa::play::find_step(&timeline, given)
            .map_err(|e| anyhow::anyhow!("--from {given}: {e}"))?,
        None => 0,
    };
    let cancel = vinyasa::Cancel::new();
    let flag = cancel.clone();
    ctrlc::set_handler(move || flag.cancel()).context("cannot install the Ctrl-C handler")?;
    let store = cache_dir(voice_args).map(|d| vinyasa::cache::PreparedDir::in_cache(&d));
    // With the OS voice, the renderer plays everything but the speech.
    let rendered = if system_voice {
        std::borrow::Cow::Owned(vinyasa::play::system_voice::speech_as_silence(&timeline))
    } else {
        std::borrow::Cow::Borrowed(&timeline)
    };
    let mut renderer = renderer(
        &routine,
        &rendered,
        voice.as_ref(),
        &palette,
        &cancel,
        store.as_ref(),
    )?;
    let options = PlayOptions {
        first_step,
        device,
        cancel: cancel.clone(),
        ..Default::default()
    };
    let mut view = vinyasa::play::terminal::Screen::open(&timeline, plain, first_step);
    let played = if system_voice {
        play_system_voice(&timeline, &mut renderer, &options, &mut view)
    } else {
        vinyasa::play::play(&timeline, &mut renderer, &options, &mut view)
    };
    drop(view);
    match played {
        Ok(Ended::Finished | Ended::Quit { .. }) => Ok(ExitCode::SUCCESS),
        Ok(Ended::Interrupted { .. }) => Ok(ExitCode::from(130)),
        Err(e) => Err(anyhow::Error::from(e).context(format!("cannot play {}", routine.file))),
    }
}

#[cfg(feature = "system-voice")]
fn play_system_voice(
    timeline: &vinyasa::Timeline,
    renderer: &mut vinyasa::render::Renderer<'_>,
    options: &vinyasa::play::PlayOptions,
    view: &mut dyn vinyasa::play::View,
) -> Result<vinyasa::play::Ended, vinyasa::play::PlayError> {
    let speaker = vinyasa::play::system_voice::os_speaker()?;
    vinyasa::play::play_system_voice(timeline, renderer, options, view, speaker)
}

#[cfg(not(feature = "system-voice"))]
fn play_system_voice(
    _timeline: &vinyasa::Timeline,
    _renderer: &mut vinyasa::render::Renderer<'_>,
    _options: &vinyasa::play::PlayOptions,
    _view: &mut dyn vinyasa::play::View,
) -> Result<vinyasa::play::Ended, vinyasa::play::PlayError> {
    // Refused before planning; kept as an error rather than a panic.
    Err(vinyasa::play::PlayError::SystemVoice {
        reason: "this vinyasa was built without the system-voice feature".into(),
    })
}
