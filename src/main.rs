//! The `vinyasa` binary: the app around the library's engine. It parses
//! arguments, turns them into a [`Session`], prints what the library
//! returns, draws progress, and maps errors to exit codes and to the flags
//! that fix them. Everything else is the library's.

mod app;

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

#[cfg(not(unix))]
use anyhow::Context;
use clap::Parser;

use app::cli::{Cli, Command, ExportArgs, PlayArgs, SessionArgs, VoiceArgs, VoicesAction};
use app::messages::{self, Exit};
use vinyasa::export::{self, ExportOptions};
use vinyasa::plan::{Fit, LengthGoal};
use vinyasa::routine::Report;
use vinyasa::session::{Session, SessionError};
use vinyasa::{Cancel, cache};

fn main() -> ExitCode {
    tune_allocator();
    ignore_empty_cache_env();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => messages::report(&e),
    }
}

/// An empty `VINYASA_CACHE_DIR` means "not set", as the library reads it;
/// clap would take it as an empty `--cache-dir` and refuse every command.
fn ignore_empty_cache_env() {
    if std::env::var_os(cache::DIR_ENV).is_some_and(|v| v.is_empty()) {
        // SAFETY: called first thing in `main`, before any other thread
        // exists that could read the environment.
        unsafe { std::env::remove_var(cache::DIR_ENV) };
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Plan {
            file,
            json,
            session,
            voice,
        } => {
            let code = plan(&file, json, &session, &voice)?;
            trim_cache(&voice)?;
            Ok(code)
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
            play: args,
            session,
            voice,
        } => {
            let code = play(&args, &session, &voice)?;
            trim_cache(&voice)?;
            Ok(code)
        }
        Command::Voices { action: None } => app::report::voices(),
        Command::Voices {
            action: Some(VoicesAction::Install { name, keep_voice }),
        } => app::report::install_voice(&name, keep_voice),
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
        } => app::report::cache(clear, cache_dir, cache_limit),
    }
}

/// `vinyasa check`: every problem of every file, the planner's warnings
/// (a plan at the standard level with the routine's voice, without the
/// cache), and one line per file.
fn check(files: &[std::path::PathBuf]) -> anyhow::Result<ExitCode> {
    let cancel = on_signal()?;
    let mut failed = 0;
    for path in files {
        if cancel.is_cancelled() {
            eprintln!("vinyasa: interrupted");
            return Ok(stopped());
        }
        match vinyasa::session::check(path) {
            Ok((routine, report)) => {
                print_report(&report);
                let steps = routine.steps.len();
                let mut session = Session::new(routine, report);
                session.options_mut().cache = None;
                let planned = match session.plan_cancellable(&cancel) {
                    Ok(planned) => {
                        print_warnings(&session, planned.timeline());
                        planned.timeline().warnings.len()
                    }
                    Err(_) if cancel.is_cancelled() => {
                        eprintln!("vinyasa: interrupted");
                        return Ok(stopped());
                    }
                    Err(e) => {
                        eprintln!("warning: {}: not planned: {e:#}", path.display());
                        1
                    }
                };
                let report = session.report();
                let note = match report.warnings().count() + planned {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!("{}: ok ({steps} steps{note})", path.display());
            }
            Err(report) => {
                print_report(&report);
                let n = report.errors().count();
                let s = if n == 1 { "" } else { "s" };
                eprintln!("{}: {n} error{s}", path.display());
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

/// `vinyasa plan`: the timeline as a table or JSON on stdout.
fn plan(
    file: &Path,
    json: bool,
    args: &SessionArgs,
    voice: &VoiceArgs,
) -> anyhow::Result<ExitCode> {
    let Some(session) = session(file, args, voice, None)? else {
        return Ok(ExitCode::FAILURE);
    };
    let cancel = on_signal()?;
    let planned = match session.plan_cancellable(&cancel) {
        Ok(planned) => planned,
        Err(_) if cancel.is_cancelled() => {
            eprintln!("vinyasa: interrupted");
            return Ok(stopped());
        }
        Err(e) => return Err(e.into()),
    };
    print_voice(&planned, voice);
    print_length(&planned);
    let timeline = planned.timeline();
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &vinyasa::timeline::Json::new(timeline))?;
        writeln!(out)?;
    } else {
        write!(out, "{}", vinyasa::timeline::Table(timeline))?;
    }
    out.flush()?;
    print_warnings(&session, timeline);
    Ok(ExitCode::SUCCESS)
}

/// `vinyasa export`: every routine checked and every target cleared before
/// any is rendered.
fn export(
    args: &ExportArgs,
    session_args: &SessionArgs,
    voice: &VoiceArgs,
) -> anyhow::Result<ExitCode> {
    let captions = match &args.captions {
        Some(list) => vinyasa::output::captions::parse_formats(list).map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    let options = ExportOptions {
        force: args.force,
        format: args.format,
        channels: args.channels,
        captions,
        cancel: on_signal()?,
        ..ExportOptions::default()
    };
    let targets = export::targets(&args.files, args.output.as_deref(), args.format)?;
    refuse_writing_over_an_input(&args.files, &targets)?;
    let mut sessions = Vec::new();
    for (file, target) in args.files.iter().zip(&targets) {
        let Some(mut session) = session(file, session_args, voice, args.sounds.as_deref())? else {
            return Ok(ExitCode::FAILURE);
        };
        // The format's own rate unless --rate says (48 kHz for Opus).
        if session_args.rate.is_none() {
            session.options_mut().rate = export::format_of(target, args.format)?.default_rate();
        }
        export::check_targets(target, &options)?;
        sessions.push((session, target));
    }
    for (session, target) in &sessions {
        let planned = match session.plan_cancellable(&options.cancel) {
            Ok(planned) => planned,
            Err(_) if options.cancel.is_cancelled() => {
                eprintln!("vinyasa: interrupted");
                return Ok(stopped());
            }
            Err(e) => return Err(e.into()),
        };
        print_voice(&planned, voice);
        print_length(&planned);
        print_warnings(session, planned.timeline());
        let bar = app::progress::ExportBar::new(target, planned.timeline());
        match planned.export(target, &options, &bar) {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) if options.cancel.is_cancelled() => {
                messages::report(&anyhow::Error::from(e));
                return Ok(stopped());
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(note) = planned.cache_note() {
            eprintln!(
                "note: phrase cache: {note}: see --cache-dir and {}",
                cache::DIR_ENV
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a target that is one of the routine files (`export r.wav -o
/// r.wav --force` would replace the routine with its own audio), even
/// with `--force`.
fn refuse_writing_over_an_input(
    files: &[std::path::PathBuf],
    targets: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    let inputs: Vec<_> = files
        .iter()
        .filter_map(|f| std::fs::canonicalize(f).ok())
        .collect();
    for target in targets {
        if let Ok(path) = std::fs::canonicalize(target)
            && inputs.contains(&path)
        {
            anyhow::bail!(
                "{} is a routine being exported; it cannot also be written (not even with --force): \
                 give -o another name",
                target.display()
            );
        }
    }
    Ok(())
}

/// `vinyasa play`: the session on the sound card, shown in the terminal.
fn play(
    args: &PlayArgs,
    session_args: &SessionArgs,
    voice: &VoiceArgs,
) -> anyhow::Result<ExitCode> {
    use vinyasa::play::{Ended, PlayOptions, terminal::Screen};
    if args.system_voice && !cfg!(feature = "system-voice") {
        anyhow::bail!(
            "this vinyasa was built without the system-voice feature: \
             cargo install --path . --features system-voice (needs libclang-dev and \
             libspeechd-dev on Linux); or drop --system-voice to use the built-in voice"
        );
    }
    let Some(session) = session(&args.file, session_args, voice, args.sounds.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    let cancel = on_signal()?;
    let to_play = match session.plan_to_play(&cancel) {
        Ok(to_play) => to_play,
        Err(_) if cancel.is_cancelled() => {
            eprintln!("vinyasa: interrupted");
            return Ok(stopped());
        }
        Err(e) => return Err(e.into()),
    };
    let planned = match to_play {
        vinyasa::session::ToPlay::Planned(planned) => *planned,
        vinyasa::session::ToPlay::Unfolding(unplanned) if !args.system_voice => {
            return play_unfolding(&unplanned, args, voice, cancel);
        }
        // The system voice speaks the timeline's words itself: plan first.
        vinyasa::session::ToPlay::Unfolding(_) => session.plan()?,
    };
    print_voice(&planned, voice);
    print_length(&planned);
    let timeline = planned.timeline();
    print_warnings(&session, timeline);
    let first_step = match &args.from {
        Some(given) => vinyasa::play::find_step(timeline, given)
            .map_err(|e| anyhow::anyhow!("--from {given}: {e}"))?,
        None => 0,
    };
    let options = PlayOptions {
        first_step,
        device: args.device.clone(),
        cancel,
        ..PlayOptions::default()
    };
    let mut view = Screen::open(timeline, args.plain, first_step);
    let played = if args.system_voice {
        play_system_voice(&planned, &options, &mut view)
    } else {
        planned.play(&options, &mut view)
    };
    drop(view);
    Ok(match played? {
        Ended::Finished | Ended::Quit { .. } => ExitCode::SUCCESS,
        Ended::Interrupted { .. } => stopped(),
    })
}

/// `vinyasa play` with a voice that speaks slowly and phrases not cached:
/// the session is spoken and planned while it plays (its warnings are
/// printed once it is planned, after playing).
fn play_unfolding(
    unplanned: &vinyasa::session::Unplanned<'_>,
    args: &PlayArgs,
    voice_args: &VoiceArgs,
    cancel: vinyasa::Cancel,
) -> anyhow::Result<ExitCode> {
    use vinyasa::play::{Ended, PlayOptions, terminal::Screen};
    let session = unplanned.session();
    print_voice_of(session, unplanned.voice(), voice_args);
    eprintln!(
        "{} speaks the session while it plays; later plays read it from the cache",
        unplanned.voice().label()
    );
    let (played, planned) = unplanned.unfold(&cancel, |unfolding| {
        let played = (|| {
            // Names and steps are exact in the estimate; times firm up as
            // the session is planned.
            let estimate = unfolding
                .estimate()
                .map_err(|e| anyhow::anyhow!("cannot plan {}: {e}", session.routine().file))?;
            let first_step = match &args.from {
                Some(given) => vinyasa::play::find_step(&estimate, given)
                    .map_err(|e| anyhow::anyhow!("--from {given}: {e}"))?,
                None => 0,
            };
            let options = PlayOptions {
                first_step,
                device: args.device.clone(),
                cancel: cancel.clone(),
                ..PlayOptions::default()
            };
            let mut view = Screen::open(&estimate, args.plain, first_step);
            let played = unplanned.play(unfolding, &options, &mut view);
            drop(view);
            anyhow::Ok(played?)
        })();
        (played, unfolding.latest().filter(|u| u.complete))
    });
    if let Some(planned) = planned {
        print_warnings(session, &planned.timeline);
    }
    Ok(match played? {
        Ended::Finished | Ended::Quit { .. } => ExitCode::SUCCESS,
        Ended::Interrupted { .. } => stopped(),
    })
}

#[cfg(feature = "system-voice")]
fn play_system_voice(
    planned: &vinyasa::session::Planned<'_>,
    options: &vinyasa::play::PlayOptions,
    view: &mut dyn vinyasa::play::View,
) -> Result<vinyasa::play::Ended, vinyasa::session::PlaySessionError> {
    let speaker = vinyasa::play::system_voice::os_speaker().map_err(|source| {
        vinyasa::session::PlaySessionError::Play {
            file: planned.session().routine().file.clone(),
            source,
        }
    })?;
    planned.play_with_speaker(options, view, speaker)
}

#[cfg(not(feature = "system-voice"))]
fn play_system_voice(
    _planned: &vinyasa::session::Planned<'_>,
    _options: &vinyasa::play::PlayOptions,
    _view: &mut dyn vinyasa::play::View,
) -> Result<vinyasa::play::Ended, vinyasa::session::PlaySessionError> {
    // Refused before planning; kept as an error rather than a panic.
    unreachable!("--system-voice is refused without the system-voice feature")
}

/// The one [`Cancel`] that Ctrl-C and SIGTERM set.
static STOP: OnceLock<Cancel> = OnceLock::new();
/// The signal that set [`STOP`] (SIGINT or SIGTERM); 0 before one came.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// A [`Cancel`] that Ctrl-C and SIGTERM cancel: planning stops before the
/// next phrase, renders at the next block, temporary files are removed and
/// existing targets left as they were. Installed once; later calls share it.
fn on_signal() -> anyhow::Result<Cancel> {
    if let Some(cancel) = STOP.get() {
        return Ok(cancel.clone());
    }
    let cancel = STOP.get_or_init(Cancel::new).clone();
    install_signal_handlers()?;
    Ok(cancel)
}

#[cfg(unix)]
fn install_signal_handlers() -> anyhow::Result<()> {
    extern "C" fn stop(signal: libc::c_int) {
        STOP_SIGNAL.store(signal, Ordering::Relaxed);
        if let Some(cancel) = STOP.get() {
            cancel.cancel();
        }
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let handler = stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to atomics (`STOP` is set before
        // the handler is installed, so `get` is one atomic load).
        if unsafe { libc::signal(signal, handler) } == libc::SIG_ERR {
            anyhow::bail!(
                "cannot install the Ctrl-C handler: {}",
                io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn install_signal_handlers() -> anyhow::Result<()> {
    let flag = STOP.get_or_init(Cancel::new).clone();
    ctrlc::set_handler(move || {
        STOP_SIGNAL.store(2, Ordering::Relaxed);
        flag.cancel();
    })
    .context("cannot install the Ctrl-C handler")
}

/// The exit code of a run the signal stopped: 130 after SIGINT, 143 after
/// SIGTERM, as shells report a process the signal killed.
fn stopped() -> ExitCode {
    if STOP_SIGNAL.load(Ordering::Relaxed) == 15 {
        Exit::Terminated.into()
    } else {
        Exit::Interrupted.into()
    }
}

/// Loads a routine as a session with the command line's settings, printing
/// its problems; `None` if it has errors.
fn session(
    file: &Path,
    args: &SessionArgs,
    voice: &VoiceArgs,
    sounds: Option<&Path>,
) -> anyhow::Result<Option<Session>> {
    let mut session = match Session::load(file) {
        Ok(session) => session,
        Err(SessionError::Routine(report)) => {
            print_report(&report);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    print_report(session.report());
    // The user's own voice, where the routine names none; the command line
    // still wins.
    if voice.engine.is_none()
        && voice.voice.is_none()
        && let Some(user) = vinyasa::voice::UserVoice::load()?
    {
        session.use_user_voice(&user);
    }
    let options = session.options_mut();
    options.level = args.level.map_or(vinyasa::Level::Standard, Into::into);
    // With --level, the level says how much work (the counts) and the
    // length fits the durations; alone, the length moves every range.
    options.length = args.length.map(|target| LengthGoal {
        target,
        fit: match args.level {
            Some(_) => Fit::Durations,
            None => Fit::All,
        },
    });
    options.rate = args.rate.unwrap_or(options.rate);
    if let Some(dir) = sounds
        && !dir.is_dir()
    {
        anyhow::bail!(
            "--sounds {}: no such folder; give a folder of WAV files (bell.wav, step-bell.wav, \
             inhale.wav, exhale.wav, tick.wav), or leave --sounds out",
            dir.display()
        );
    }
    options.sounds = sounds.map(Path::to_path_buf);
    options.cache = cache_dir(voice);
    for setting in &args.cues {
        session
            .set_cue(setting)
            .map_err(|e| anyhow::anyhow!("--cue {e}"))?;
    }
    session
        .set_voice(|v| {
            if let Some(engine) = voice.engine {
                v.engine = engine;
                if voice.voice.is_none() {
                    v.name = None;
                }
            }
            if let Some(name) = &voice.voice {
                v.name = Some(name.clone());
            }
            v.speed = voice.speed.unwrap_or(v.speed);
            v.pitch = voice.pitch.unwrap_or(v.pitch);
            v.volume = voice.volume.unwrap_or(v.volume);
        })
        .map_err(|e| match e {
            SessionError::Voice { source, .. } => {
                anyhow::anyhow!("{source} (from --speed, --pitch or --volume)")
            }
            other => other.into(),
        })?;
    Ok(Some(session))
}

/// Where phrases and prepared clips are cached; `None` with --no-cache.
fn cache_dir(args: &VoiceArgs) -> Option<std::path::PathBuf> {
    if args.no_cache {
        return None;
    }
    args.cache_dir.clone().or_else(cache::default_dir)
}

/// After a command that used the cache: keep it within `--cache-limit`.
fn trim_cache(args: &VoiceArgs) -> anyhow::Result<()> {
    let Some(dir) = cache_dir(args) else {
        return Ok(());
    };
    app::report::prune_cache(&dir, args.cache_limit.unwrap_or(cache::DEFAULT_LIMIT))
}

/// Says on stderr which voice speaks and where that choice came from, and
/// the settings it ignores.
fn print_voice(planned: &vinyasa::session::Planned<'_>, args: &VoiceArgs) {
    print_voice_of(planned.session(), planned.voice(), args);
}

fn print_voice_of(session: &Session, voice: &dyn vinyasa::voice::Voice, args: &VoiceArgs) {
    let routine = session.routine();
    let origin = if args.engine.is_some() || args.voice.is_some() {
        "from the command line".to_string()
    } else if routine.voice_chosen {
        format!("from the [voice] of {}", routine.file)
    } else {
        match vinyasa::voice::UserVoice::load() {
            Ok(Some(user)) => format!("your voice, set in {}", user.source),
            _ => "the default".to_string(),
        }
    };
    eprintln!("voice: {} ({origin})", voice.label());
    for warning in voice.warnings() {
        eprintln!("warning: {warning}");
    }
}

/// With --length: the length reached against the length asked, and what
/// limits it when it is out of reach.
fn print_length(planned: &vinyasa::session::Planned<'_>) {
    if let Some(report) = planned.length_report() {
        eprintln!("length: {report}");
    }
}

fn print_warnings(session: &Session, timeline: &vinyasa::Timeline) {
    for w in &timeline.warnings {
        eprintln!(
            "warning: {}:{}:{}: {}",
            session.routine().file,
            w.line,
            w.column,
            w.message
        );
    }
}

fn print_report(report: &Report) {
    if !report.diagnostics.is_empty() {
        eprint!("{report}");
    }
}
