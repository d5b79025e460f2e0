//! The Piper program, run as a separate Python process: Piper and the
//! espeak-ng inside it are GPL-3.0, so vinyasa never links them; it talks to
//! them through pipes.
//!
//! [`Worker`] is one long-running process with the model loaded once: a
//! small driver (our own few lines of Python, [`DRIVER`]) reads one phrase
//! per line on stdin as JSON and answers each, in order, with `ok N` and N
//! bytes of 16-bit samples, or `err MESSAGE`. A reader thread turns the
//! answers into [`Frame`]s, so a caller waits with a timeout: a process
//! that hangs is killed, one that crashes is reported with its last words.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bumped when the driver changes what it sends for a phrase.
pub(super) const DRIVER_VERSION: u32 = 1;

/// The driver: loads the voice, then answers phrase by phrase. Sentences of
/// one phrase are joined with `sentence_silence` seconds of silence.
pub(super) const DRIVER: &str = r#"
import json, sys
out = sys.stdout.buffer
model, config, length, noise, noise_w, speaker, silence = sys.argv[1:8]
try:
    from piper import PiperVoice, SynthesisConfig
except Exception as e:
    sys.stderr.write("vinyasa: cannot import piper: %s\n" % e)
    sys.exit(3)
try:
    voice = PiperVoice.load(model, config_path=config)
except Exception as e:
    sys.stderr.write("vinyasa: cannot load the model: %s: %s\n" % (type(e).__name__, str(e).replace("\n", " ")))
    sys.exit(4)
syn = SynthesisConfig(speaker_id=int(speaker) if speaker else None, length_scale=float(length),
                      noise_scale=float(noise), noise_w_scale=float(noise_w))
gap = bytes(int(voice.config.sample_rate * float(silence)) * 2)
out.write(b"ready %d\n" % voice.config.sample_rate)
out.flush()
for line in sys.stdin.buffer:
    try:
        text = json.loads(line)
        audio = gap.join(c.audio_int16_bytes for c in voice.synthesize(text, syn))
    except Exception as e:
        message = ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")
        out.write(b"err " + message.encode("utf-8", "replace") + b"\n")
        out.flush()
        continue
    out.write(b"ok %d\n" % len(audio))
    out.write(audio)
    out.flush()
"#;

/// What the Python that runs Piper reports about itself: the piper-tts
/// version (None if not installed) and its site-packages folder, where the
/// PyPI voice packages put their models.
pub(super) const PROBE: &str = r#"
import json, sysconfig
try:
    from importlib.metadata import version
    piper = version("piper-tts")
except Exception:
    piper = None
print(json.dumps({"piper": piper, "purelib": sysconfig.get_paths()["purelib"]}))
"#;

/// One answer of the driver.
#[derive(Debug)]
pub(super) enum Frame {
    /// The model is loaded; its sample rate.
    Ready(u32),
    /// A phrase's samples.
    Clip(Vec<i16>),
    /// A phrase failed; the process goes on.
    Failed(String),
    /// The process closed its output (it exited or crashed), or sent
    /// something that is not an answer.
    Closed(String),
}

/// A running driver with its model loaded.
pub(super) struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Frame>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// The model's sample rate, from its `ready` line.
    pub rate: u32,
}

/// Why a worker could not start or answer.
#[derive(Debug)]
pub(super) enum WorkerError {
    /// It could not be started at all.
    Spawn(std::io::Error),
    /// It exited (or closed its output) with these last words.
    Exited(String),
    /// It gave no answer in time and was killed.
    Hung(Duration),
}

impl Worker {
    /// Starts `python` on the driver with `args` and waits up to `timeout`
    /// for the model to load.
    pub fn start(python: &Path, args: &[String], timeout: Duration) -> Result<Worker, WorkerError> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(DRIVER)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(WorkerError::Spawn)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr_pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut lines = stderr.lock().unwrap_or_else(|e| e.into_inner());
                    if lines.len() == 20 {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            });
        }
        let (tx, frames) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let frame = read_frame(&mut reader);
                let closed = matches!(frame, Frame::Closed(_));
                if tx.send(frame).is_err() || closed {
                    break;
                }
            }
        });
        let mut worker = Worker {
            child,
            stdin: None,
            frames,
            stderr,
            rate: 0,
        };
        worker.stdin = worker.child.stdin.take();
        match worker.next(timeout)? {
            Frame::Ready(rate) => {
                worker.rate = rate;
                Ok(worker)
            }
            Frame::Closed(why) => Err(WorkerError::Exited(worker.last_words(&why))),
            other => Err(WorkerError::Exited(format!(
                "it answered {other:?} before loading the model"
            ))),
        }
    }

    /// A writer for its input, for another thread: phrases are written
    /// while answers are read, or a long batch would fill both pipes.
    pub fn take_input(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Gives the input back after a batch.
    pub fn restore_input(&mut self, stdin: ChildStdin) {
        self.stdin = Some(stdin);
    }

    /// The next answer, waiting at most `timeout`; a hang kills the process.
    pub fn next(&mut self, timeout: Duration) -> Result<Frame, WorkerError> {
        match self.frames.recv_timeout(timeout) {
            Ok(Frame::Closed(why)) => Err(WorkerError::Exited(self.last_words(&why))),
            Ok(frame) => Ok(frame),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(WorkerError::Hung(timeout))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(WorkerError::Exited(self.last_words("its output closed")))
            }
        }
    }

    /// How it ended: its exit status and the last line it wrote to stderr
    /// (a Python traceback's last line is the error).
    fn last_words(&mut self, why: &str) -> String {
        // Give it a moment to exit and its stderr to be read.
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    self.kill();
                    break None;
                }
            }
        };
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let last = stderr
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string());
        let status = status.map_or_else(|| "it was stopped".to_string(), |s| format!("{s}"));
        match last {
            Some(last) => format!("{why}, {status}: {last}"),
            None => format!("{why}, {status}"),
        }
    }

    /// Stops the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing its input ends the driver's loop; kill it in case it
        // is stuck.
        self.stdin = None;
        self.kill();
    }
}

/// One answer from the driver's output.
fn read_frame(reader: &mut impl BufRead) -> Frame {
    let mut header = Vec::new();
    match reader.read_until(b'\n', &mut header) {
        Ok(0) => return Frame::Closed("it exited".to_string()),
        Ok(_) => {}
        Err(e) => return Frame::Closed(format!("its output could not be read ({e})")),
    }
    let header = String::from_utf8_lossy(&header);
    let header = header.trim_end_matches(['\n', '\r']);
    let (word, rest) = header.split_once(' ').unwrap_or((header, ""));
    match word {
        "ready" => match rest.parse() {
            Ok(rate) => Frame::Ready(rate),
            Err(_) => Frame::Closed(format!("it sent {header:?}")),
        },
        "err" => Frame::Failed(rest.to_string()),
        "ok" => {
            let Ok(len) = rest.parse::<usize>() else {
                return Frame::Closed(format!("it sent {header:?}"));
            };
            if len % 2 != 0 {
                return Frame::Closed(format!("it sent an odd byte count ({len})"));
            }
            let mut bytes = vec![0u8; len];
            if let Err(e) = reader.read_exact(&mut bytes) {
                return Frame::Closed(format!("it stopped in the middle of a clip ({e})"));
            }
            Frame::Clip(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            )
        }
        _ => Frame::Closed(format!(
            "it sent {:?}, which is not an answer",
            header.chars().take(200).collect::<String>()
        )),
    }
}

/// Runs `program` with `args`, its stdin closed, killing it after
/// `timeout`: for short questions (the probe, `pip`), never through a shell.
pub(super) fn run(
    program: &Path,
    args: &[&std::ffi::OsStr],
    envs: &[(&str, &str)],
    timeout: Duration,
) -> std::io::Result<Option<Output>> {
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(status.map(|status| Output {
        status,
        stdout,
        stderr,
    }))
}

/// The Python inside a virtual environment.
pub(super) fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_driver_answers() {
        let mut bytes = b"ready 22050\nok 4\n".to_vec();
        bytes.extend_from_slice(&[0x01, 0x00, 0xff, 0xff]);
        bytes.extend_from_slice(b"err ValueError: no\nok 0\nok 3\nabc");
        let mut reader = &bytes[..];
        assert!(matches!(read_frame(&mut reader), Frame::Ready(22_050)));
        assert!(matches!(read_frame(&mut reader), Frame::Clip(ref s) if s == &[1, -1]));
        assert!(matches!(read_frame(&mut reader), Frame::Failed(ref m) if m == "ValueError: no"));
        assert!(matches!(read_frame(&mut reader), Frame::Clip(ref s) if s.is_empty()));
        assert!(matches!(read_frame(&mut reader), Frame::Closed(ref m) if m.contains("odd")));
        let mut cut: &[u8] = b"ok 8\n\x01\x02";
        assert!(
            matches!(read_frame(&mut cut), Frame::Closed(ref m) if m.contains("middle of a clip"))
        );
        let mut chatter: &[u8] = b"Traceback (most recent call last):\n";
        assert!(
            matches!(read_frame(&mut chatter), Frame::Closed(ref m) if m.contains("not an answer"))
        );
        let mut end: &[u8] = b"";
        assert!(matches!(read_frame(&mut end), Frame::Closed(_)));
    }
}
