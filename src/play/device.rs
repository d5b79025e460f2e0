//! The sound device: a thread that pulls the [`Feed`] and plays it.
//!
//! On Linux the device is ALSA's, reached through [`super::alsa`]; a writer
//! thread pulls 10 ms at a time and blocks on the device, which paces it.
//! Elsewhere rodio's own output (cpal) pulls the feed from its callback.
//!
//! The player's main loop never blocks on this thread: it polls
//! [`Device::check`], which reports a failed device, and a device that has
//! stopped taking samples, as errors instead of hanging.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PlayError;
use super::transport::Feed;

/// A write that has not returned after this long means the device is stuck
/// (a sound server that froze, a device that vanished without an error).
const STALL: Duration = Duration::from_secs(5);

/// How long to wait for the device to open or to play out its last samples.
const PATIENCE: Duration = Duration::from_secs(5);

/// State shared with the output thread.
struct Shared {
    /// Stop now: discard what the device holds.
    stop: AtomicBool,
    /// The session is over: play out what the device holds, then stop.
    #[cfg(target_os = "linux")]
    finish: AtomicBool,
    /// Set by the output thread when it has closed the device.
    closed: AtomicBool,
    /// The first error of the output thread.
    failure: Mutex<Option<PlayError>>,
    /// Milliseconds since `epoch` when the current device call began, or 0
    /// between calls.
    busy_since: AtomicU64,
    epoch: Instant,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            #[cfg(target_os = "linux")]
            finish: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            failure: Mutex::new(None),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn fail(&self, error: PlayError) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failure.get_or_insert(error);
    }

    fn take_failure(&self) -> Option<PlayError> {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Runs one device call, recording that it is in progress.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn busy<T>(&self, call: impl FnOnce() -> T) -> T {
        // +1: 0 means idle, and a call may start in the epoch's first ms.
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.busy_since.store(now, Ordering::SeqCst);
        let result = call();
        self.busy_since.store(0, Ordering::SeqCst);
        result
    }

    fn stalled(&self) -> bool {
        let since = self.busy_since.load(Ordering::SeqCst);
        since != 0 && self.epoch.elapsed().as_millis() as u64 + 1 - since > STALL.as_millis() as u64
    }

    /// Waits up to `PATIENCE` for the output thread to close the device.
    fn wait_closed(&self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while !self.closed.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// A running sound output.
pub(crate) struct Device {
    shared: Arc<Shared>,
    #[cfg(not(target_os = "linux"))]
    device: Option<cpal_output::CpalDevice>,
}

impl Device {
    /// Reports a failed or stuck device.
    pub(crate) fn check(&self) -> Result<(), PlayError> {
        if let Some(error) = self.shared.take_failure() {
            return Err(error);
        }
        if self.shared.stalled() {
            return Err(PlayError::DeviceLost {
                reason: format!("it took no sound for {} seconds", STALL.as_secs()),
            });
        }
        Ok(())
    }

    /// Stops the sound at once.
    pub(crate) fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.close_device();
        // Bounded: a device stuck in a call is left to the process exit.
        self.shared.wait_closed();
    }
}

#[cfg(target_os = "linux")]
impl Device {
    /// Opens `device` for mono samples at `rate` and starts playing `feed`.
    /// Returns once the device is open (or failed to open).
    pub(crate) fn start(feed: Feed, rate: u32, device: &str) -> Result<Device, PlayError> {
        let shared = Arc::new(Shared::new());
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let device_name = device.to_owned();
        std::thread::Builder::new()
            .name("vinyasa-sound".into())
            .spawn(move || {
                // The device must live on this thread (see alsa.rs, invariant 3).
                let output = super::alsa::AlsaOutput::open(&device_name, rate);
                let output = match output {
                    Ok(output) => {
                        let _ = opened_tx.send(Ok(()));
                        output
                    }
                    Err(error) => {
                        thread_shared.closed.store(true, Ordering::SeqCst);
                        let _ = opened_tx.send(Err(error));
                        return;
                    }
                };
                write_loop(output, &feed, rate, &thread_shared);
                thread_shared.closed.store(true, Ordering::SeqCst);
            })
            .map_err(|source| PlayError::Thread {
                what: "sound",
                source,
            })?;
        match opened_rx.recv_timeout(PATIENCE) {
            Ok(Ok(())) => Ok(Device { shared }),
            Ok(Err(error)) => Err(error),
            Err(_) => {
                shared.stop.store(true, Ordering::SeqCst);
                Err(PlayError::NoDevice {
                    device: device.to_owned(),
                    reason: format!("it did not open within {} seconds", PATIENCE.as_secs()),
                })
            }
        }
    }

    /// Lets the device play out its last samples, then closes it.
    pub(crate) fn finish(self) -> Result<(), PlayError> {
        self.shared.finish.store(true, Ordering::SeqCst);
        if !self.shared.wait_closed() {
            return Err(PlayError::DeviceLost {
                reason: format!(
                    "it did not finish playing within {} seconds",
                    PATIENCE.as_secs()
                ),
            });
        }
        self.shared.take_failure().map_or(Ok(()), Err)
    }

    /// The writer thread closes the device itself when it sees `stop`.
    fn close_device(&mut self) {}
}

/// The writer thread's loop: 10 ms chunks from the feed into the device
/// until told to finish or stop, or the device fails.
#[cfg(target_os = "linux")]
fn write_loop(mut output: super::alsa::AlsaOutput, feed: &Feed, rate: u32, shared: &Shared) {
    let mut chunk = vec![0.0; (rate as usize / 100).max(1)];
    loop {
        // Checked before pulling, so that every chunk pulled is written.
        // `finish` only matters when the end marker was skipped; normally
        // the feed itself reports the end (below).
        if shared.stop.load(Ordering::SeqCst) {
            return; // Dropping `output` discards the buffered sound.
        }
        if shared.finish.load(Ordering::SeqCst) {
            if let Err(error) = shared.busy(|| output.drain()) {
                shared.fail(error);
            }
            return;
        }
        let filled = feed.fill(&mut chunk);
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if filled > 0
            && let Err(error) = shared.busy(|| output.write(&chunk[..filled]))
        {
            shared.fail(error);
            return;
        }
        if filled < chunk.len() {
            // The session's last sample is written: play it out.
            if let Err(error) = shared.busy(|| output.drain()) {
                shared.fail(error);
            }
            return;
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Device {
    /// Opens the default output device and starts playing `feed` at `rate`
    /// (rodio converts to the device's rate and channels).
    pub(crate) fn start(feed: Feed, rate: u32, device: &str) -> Result<Device, PlayError> {
        let shared = Arc::new(Shared::new());
        let device = cpal_output::CpalDevice::open(feed, rate, device, &shared)?;
        Ok(Device {
            shared,
            device: Some(device),
        })
    }

    /// Lets the device play out its last samples, then closes it.
    pub(crate) fn finish(mut self) -> Result<(), PlayError> {
        // cpal has no drain: the feed's remaining sound is in the device's
        // buffer (about 50 ms); wait that out with a margin.
        std::thread::sleep(Duration::from_millis(300));
        self.close_device();
        self.shared.take_failure().map_or(Ok(()), Err)
    }

    fn close_device(&mut self) {
        self.device = None;
        self.shared.closed.store(true, Ordering::SeqCst);
    }
}

/// rodio's own output, for macOS, Windows and the BSDs. Not tested here:
/// the project's machines are Linux.
#[cfg(not(target_os = "linux"))]
mod cpal_output {
    use std::num::NonZero;
    use std::sync::Arc;
    use std::time::Duration;

    use rodio::{DeviceSinkBuilder, MixerDeviceSink, Source};

    use super::super::PlayError;
    use super::super::transport::Feed;
    use super::Shared;

    /// An open device with the feed added to its mixer; dropping it stops
    /// the sound.
    pub(super) struct CpalDevice {
        _sink: MixerDeviceSink,
    }

    impl CpalDevice {
        pub(super) fn open(
            feed: Feed,
            rate: u32,
            device: &str,
            shared: &Arc<Shared>,
        ) -> Result<CpalDevice, PlayError> {
            let no_device = |reason: String| PlayError::NoDevice {
                device: device.to_owned(),
                reason,
            };
            if device != "default" {
                return Err(no_device(
                    "only the default device can be chosen on this system".into(),
                ));
            }
            let on_error = {
                let shared = Arc::clone(shared);
                move |error: rodio::cpal::Error| {
                    shared.fail(PlayError::DeviceLost {
                        reason: error.to_string(),
                    })
                }
            };
            let mut sink = DeviceSinkBuilder::from_default_device()
                .map_err(|error| no_device(error.to_string()))?
                .with_error_callback(on_error)
                .open_sink_or_fallback()
                .map_err(|error| no_device(error.to_string()))?;
            sink.log_on_drop(false);
            sink.mixer().add(FeedSource::new(feed, rate));
            Ok(CpalDevice { _sink: sink })
        }
    }

    /// The feed as an endless mono source, pulled 10 ms at a time.
    struct FeedSource {
        feed: Feed,
        rate: NonZero<u32>,
        chunk: Vec<f32>,
        next: usize,
    }

    impl FeedSource {
        fn new(feed: Feed, rate: u32) -> FeedSource {
            let len = (rate as usize / 100).max(1);
            FeedSource {
                feed,
                rate: NonZero::new(rate).unwrap_or(NonZero::<u32>::MIN),
                chunk: vec![0.0; len],
                next: len,
            }
        }
    }

    impl Iterator for FeedSource {
        type Item = f32;

        fn next(&mut self) -> Option<f32> {
            if self.next == self.chunk.len() {
                let filled = self.feed.fill(&mut self.chunk);
                self.chunk[filled..].fill(0.0);
                self.next = 0;
            }
            let sample = self.chunk[self.next];
            self.next += 1;
            Some(sample)
        }
    }

    impl Source for FeedSource {
        fn current_span_len(&self) -> Option<usize> {
            None
        }
        fn channels(&self) -> rodio::ChannelCount {
            NonZero::<u16>::MIN
        }
        fn sample_rate(&self) -> rodio::SampleRate {
            self.rate
        }
        fn total_duration(&self) -> Option<Duration> {
            None
        }
    }
}
