//! The `vinyasa` binary: parse arguments, call the library, print, exit.

mod cli;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, SessionArgs};
use vinyasa::routine::{self, Report, Routine};
use vinyasa::{PlanOptions, Timeline};

fn main() -> ExitCode {
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
        } => {
            let Some(routine) = load(&file)? else {
                return Ok(ExitCode::FAILURE);
            };
            let timeline = plan(&routine, &session)?;
            let mut out = io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &vinyasa::timeline::Json::new(&timeline))?;
                writeln!(out)?;
            } else {
                write!(out, "{}", vinyasa::timeline::Table(&timeline))?;
            }
            out.flush()?;
            for w in &timeline.warnings {
                eprintln!(
                    "warning: {}:{}:{}: {}",
                    routine.file, w.line, w.column, w.message
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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

fn plan(routine: &Routine, args: &SessionArgs) -> anyhow::Result<Timeline> {
    let mut routine = routine.clone();
    for c in &args.cues {
        routine.set_cue(c).map_err(anyhow::Error::msg)?;
    }
    let voice = vinyasa::voice::TestVoice::default();
    let options = PlanOptions {
        rate: args.rate,
        level: args.level.into(),
    };
    vinyasa::plan(&routine, &voice, &options)
        .with_context(|| format!("cannot plan {}", routine.file))
}
