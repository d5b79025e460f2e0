//! How the binary ends: exit codes, and errors printed as one line with
//! their causes (`vinyasa: cannot export x.toml: …`), followed by the flag
//! that fixes them. The library's errors are typed and name no flag; this
//! is where a variant meets the command line.

use std::io;
use std::process::ExitCode;

use vinyasa::export::ExportError;
use vinyasa::output::OutputError;
use vinyasa::plan::PlanError;
use vinyasa::render::RenderError;
use vinyasa::voice::VoiceError;

/// Exit codes beyond success (0) and failure (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Stopped by Ctrl-C (SIGINT), as shells report it: 128 + 2.
    Interrupted,
    /// Stopped by SIGTERM, as shells report it: 128 + 15.
    Terminated,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Interrupted => ExitCode::from(130),
            Exit::Terminated => ExitCode::from(143),
        }
    }
}

/// Prints `error` with its causes on stderr; a broken pipe (`| head`) is
/// no failure.
pub fn report(error: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    match flag_hint(error) {
        Some(hint) => eprintln!("vinyasa: {error:#}; {hint}"),
        None => eprintln!("vinyasa: {error:#}"),
    }
    ExitCode::FAILURE
}

/// The command-line flag that fixes `error`, if one does.
fn flag_hint(error: &anyhow::Error) -> Option<&'static str> {
    let output = |e: &OutputError| match e {
        OutputError::Exists { .. } => Some("pass --force to overwrite it"),
        OutputError::TooLong { .. } => Some("see --rate and --channels"),
        OutputError::Rate { .. } => Some("see --rate"),
        _ => None,
    };
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<OutputError>() {
            return output(e);
        }
        // Transparent: the chain skips the output error inside.
        match cause.downcast_ref::<ExportError>() {
            Some(ExportError::Output(e)) => return output(e),
            Some(ExportError::FormatMismatch { .. }) => return Some("see --format"),
            _ => {}
        }
        if let Some(PlanError::TooLong { .. }) = cause.downcast_ref::<PlanError>() {
            return Some("see --level");
        }
        if let Some(RenderError::Rate { .. }) = cause.downcast_ref::<RenderError>() {
            return Some("see --rate");
        }
        if let Some(VoiceError::Unavailable { .. }) = cause.downcast_ref::<VoiceError>() {
            return Some("the built-in voice is --engine flite");
        }
        #[cfg(feature = "play")]
        if let Some(vinyasa::play::PlayError::SystemVoice { .. }) =
            cause.downcast_ref::<vinyasa::play::PlayError>()
        {
            return Some("drop --system-voice to use the built-in voice");
        }
        None
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_meet_the_flags_that_fix_them() {
        let exists = || OutputError::Exists {
            path: "s.wav".into(),
        };
        let direct = anyhow::Error::from(exists());
        assert_eq!(flag_hint(&direct), Some("pass --force to overwrite it"));
        let wrapped = anyhow::Error::from(ExportError::Output(exists())).context("cannot export");
        assert_eq!(flag_hint(&wrapped), Some("pass --force to overwrite it"));
        let missing = anyhow::Error::from(VoiceError::Unavailable {
            engine: "espeak-ng".into(),
            reason: "not found".into(),
        });
        assert_eq!(
            flag_hint(&missing),
            Some("the built-in voice is --engine flite")
        );
        assert_eq!(flag_hint(&anyhow::anyhow!("anything else")), None);
    }
}
