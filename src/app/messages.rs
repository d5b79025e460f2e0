//! How the binary ends: exit codes, and errors printed as one line with
//! their causes (`vinyasa: cannot export x.toml: …`).

use std::io;
use std::process::ExitCode;

/// Exit codes beyond success (0) and failure (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Stopped by Ctrl-C (SIGINT), as shells report it: 128 + 2.
    Interrupted,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Interrupted => ExitCode::from(130),
        }
    }
}

/// Prints `error` with its causes on stderr; a broken pipe (`| head`) is
/// no failure.
pub fn report(error: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    eprintln!("vinyasa: {error:#}");
    ExitCode::FAILURE
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
