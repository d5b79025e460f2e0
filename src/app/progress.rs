//! The export's progress bar on stderr: the binary's [`Progress`].
//!
//! `mid-back.wav [=====>      ] 12:04 / 32:10  eta 9s`, counting audio
//! time; while clips are prepared the file name reads
//! `mid-back.wav: preparing clip 12/40`. Hidden when stderr is not a
//! terminal (indicatif's stderr target checks), and drawn only once there
//! is something to show, so an export refused up front draws nothing.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use vinyasa::Timeline;
use vinyasa::export::{Progress, duration};

/// The progress of one export, as a bar on stderr.
pub struct ExportBar {
    /// The file's name, the bar's message.
    name: String,
    rate: u32,
    total: u64,
    /// Made at the first report: a bar dropped unfinished draws itself.
    bar: OnceLock<ProgressBar>,
    /// Whether the message says which clip is being prepared.
    preparing: AtomicBool,
}

impl ExportBar {
    /// A bar for exporting `timeline` to `path`.
    pub fn new(path: &Path, timeline: &Timeline) -> ExportBar {
        ExportBar {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rate: timeline.rate.max(1),
            total: timeline.total,
            bar: OnceLock::new(),
            preparing: AtomicBool::new(false),
        }
    }

    fn bar(&self) -> &ProgressBar {
        self.bar.get_or_init(|| {
            let rate = self.rate;
            let audio_time = move |frames: u64| duration(frames as f64 / f64::from(rate));
            let style = ProgressStyle::with_template(
                "{msg} [{bar:32}] {audio_pos} / {audio_len}  eta {eta}",
            )
            .map(|s| {
                s.progress_chars("=> ")
                    .with_key(
                        "audio_pos",
                        move |state: &ProgressState, w: &mut dyn fmt::Write| {
                            let _ = w.write_str(&audio_time(state.pos()));
                        },
                    )
                    .with_key(
                        "audio_len",
                        move |state: &ProgressState, w: &mut dyn fmt::Write| {
                            let _ = w.write_str(&audio_time(state.len().unwrap_or(0)));
                        },
                    )
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr())
                .with_style(style);
            bar.set_message(self.name.clone());
            bar
        })
    }
}

impl Progress for ExportBar {
    fn preparing(&self, done: usize, total: usize) {
        self.preparing.store(true, Ordering::Relaxed);
        self.bar()
            .set_message(format!("{}: preparing clip {done}/{total}", self.name));
    }

    fn writing(&self, done_frames: u64, _total_frames: u64) {
        let bar = self.bar();
        if self.preparing.swap(false, Ordering::Relaxed) {
            bar.set_message(self.name.clone());
        }
        bar.set_position(done_frames);
    }

    fn finished(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
