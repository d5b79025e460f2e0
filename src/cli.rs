//! The command line: clap types only. The library never sees them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    },
}

/// Options that shape a session, shared by plan, export and play.
#[derive(Debug, Args, Clone)]
pub struct SessionArgs {
    /// Where ranges such as "15-30s" are taken.
    #[arg(long, value_enum, default_value_t = LevelArg::Standard)]
    pub level: LevelArg,
    /// Override an automatic cue, as in [cues]: e.g. --cue halfway=off,
    /// --cue breath=both, --cue countdown=tick, --cue remaining=30s,10s.
    #[arg(long = "cue", value_name = "KEY=VALUE")]
    pub cues: Vec<String>,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = 44_100, value_name = "HZ")]
    pub rate: u32,
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
