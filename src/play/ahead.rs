//! Rendering ahead of the listener, and the sources the player queues.
//!
//! A session can last hours; rendering all of it before the first sound is
//! out of the question. One background thread owns the [`Samples`] and
//! renders fixed blocks a few seconds ahead of wherever the sound is being
//! pulled from; [`StepSource`]s, one per step, hand those blocks to the
//! rodio player. The thread follows the listener: skipping or going back
//! moves the window, and blocks outside it are dropped.
//!
//! Because [`Samples::fill`] is deterministic, blocks rendered here are the
//! same samples `export` writes, whatever order they are asked for in.
//!
//! A session still being planned ([`Unrolled`]) grows while it plays: only
//! its settled samples are rendered, a step's end is learnt when the step
//! is planned, and a source that reaches what is settled gives silence
//! (without moving the session's position) until more is.

use std::collections::BTreeMap;
use std::num::NonZero;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rodio::Source;

use crate::render::{RenderError, Samples};

/// Seconds per rendered block: small enough that the first one is ready at
/// once, large enough that the lock is taken rarely.
const BLOCK_SECONDS: f64 = 0.25;
/// Blocks rendered ahead of the one being played (8 s): room for a slow
/// phrase to be synthesised without the sound running dry.
const WINDOW_BLOCKS: u64 = 32;
/// Silence a source gives at a time while it waits for its session to be
/// planned further (10 ms).
const WAIT_SILENCE_SECONDS: f64 = 0.01;
/// A step whose end is not planned yet.
pub(crate) const UNKNOWN_END: u64 = u64::MAX;

/// What the render thread renders from: samples, and how far they are
/// final.
pub(crate) trait Unrolled: Send {
    /// Samples final so far, and whether that is the session's end; the
    /// render thread wants them up to `wanted` (the end of its window).
    fn extent(&mut self, wanted: u64) -> Result<(u64, bool), RenderError>;
    /// The samples: final up to the extent last given.
    fn samples(&mut self) -> &mut dyn Samples;
}

/// A whole session's samples: final to the end.
pub(crate) struct Whole<'s>(pub(crate) &'s mut (dyn Samples + Send));

impl Unrolled for Whole<'_> {
    fn extent(&mut self, _wanted: u64) -> Result<(u64, bool), RenderError> {
        Ok((self.0.total(), true))
    }

    fn samples(&mut self) -> &mut dyn Samples {
        self.0
    }
}

/// The render-ahead cache, shared by the render thread and the sources.
#[derive(Clone)]
pub(crate) struct Ahead {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a block arrives, the wanted block moves, or the cache
    /// closes or fails.
    changed: Condvar,
    rate: u32,
    /// Samples final so far (the session's length once `complete`).
    ready: AtomicU64,
    /// Whether the session is planned to its end.
    complete: AtomicBool,
    block_len: u64,
    /// The current run of the player; sources of older runs stop at once.
    generation: AtomicU64,
    /// Session position just past the last sample handed to the player.
    position: AtomicU64,
    /// The run whose [`EndOfSession`] was reached (0: none yet).
    ended: AtomicU64,
}

#[derive(Default)]
struct State {
    blocks: BTreeMap<u64, Arc<[f32]>>,
    /// The block the player is in; the window starts here.
    wanted: u64,
    closed: bool,
    /// Each step's end, [`UNKNOWN_END`] while it is being planned.
    ends: Vec<u64>,
    /// Set once by the render thread, then taken by the player to report.
    failure: Option<RenderError>,
    failed: bool,
}

/// Why a source stops before its end.
enum Stop {
    /// Superseded (a new run started) or closed (quit).
    Cancelled,
    /// The renderer failed; the error waits in the cache.
    Failed,
}

impl Ahead {
    /// A cache for a session of `total` samples at `rate`; nothing renders
    /// until [`Ahead::render`] runs on a thread of its own.
    pub(crate) fn new(rate: u32, total: u64) -> Ahead {
        Ahead::growing(rate, total, true)
    }

    /// A cache for a session with `ready` samples final so far, all of it
    /// if `complete`.
    pub(crate) fn growing(rate: u32, ready: u64, complete: bool) -> Ahead {
        Ahead {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                rate,
                ready: AtomicU64::new(ready),
                complete: AtomicBool::new(complete),
                block_len: ((f64::from(rate) * BLOCK_SECONDS) as u64).max(1),
                generation: AtomicU64::new(0),
                position: AtomicU64::new(0),
                ended: AtomicU64::new(0),
            }),
        }
    }

    /// The render thread's work: fills the window ahead of the wanted
    /// block, nearest first, and sleeps when it is full. Returns when the
    /// cache is closed or `samples` fails.
    pub(crate) fn render(&self, samples: &mut dyn Unrolled) {
        render_ahead(&self.shared, samples);
    }

    /// The steps' ends as planned so far ([`UNKNOWN_END`] for one being
    /// planned).
    pub(crate) fn set_ends(&self, ends: Vec<u64>) {
        self.lock().ends = ends;
        self.shared.changed.notify_all();
    }

    /// The end of step `step`, if it is planned.
    fn end_of(&self, step: usize) -> u64 {
        self.lock().ends.get(step).copied().unwrap_or(UNKNOWN_END)
    }

    /// Samples per second.
    pub(crate) fn rate(&self) -> u32 {
        self.shared.rate
    }

    /// Session position just past the last sample handed to the player.
    pub(crate) fn position(&self) -> u64 {
        self.shared.position.load(Ordering::Relaxed)
    }

    /// Starts a new run at `position`: sources made before this call stop
    /// yielding samples (and stop waiting for blocks) at once.
    pub(crate) fn new_run(&self, position: u64) -> u64 {
        let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.position.store(position, Ordering::Relaxed);
        let mut state = self.lock();
        state.wanted = position / self.shared.block_len;
        drop(state);
        self.shared.changed.notify_all();
        generation
    }

    /// A source for samples `start..end` of the session in run `generation`.
    #[cfg(test)]
    pub(crate) fn source(&self, start: u64, end: u64, generation: u64) -> StepSource {
        self.step_source(None, start, end, generation)
    }

    /// A source for step `step` from `start`, whose end is learnt when it
    /// is planned ([`Ahead::set_ends`]).
    pub(crate) fn source_of_step(&self, step: usize, start: u64, generation: u64) -> StepSource {
        self.step_source(Some(step), start, self.end_of(step), generation)
    }

    fn step_source(
        &self,
        step: Option<usize>,
        start: u64,
        end: u64,
        generation: u64,
    ) -> StepSource {
        let end = if self.shared.complete.load(Ordering::SeqCst) {
            end.min(self.shared.ready.load(Ordering::SeqCst))
        } else {
            end
        };
        StepSource {
            ahead: self.clone(),
            generation,
            next: start,
            end,
            step,
            silence: 0,
            start,
            block: None,
            rate: NonZero::new(self.shared.rate).unwrap_or(NonZero::<u32>::MIN),
        }
    }

    /// The marker queued after a run's last step.
    pub(crate) fn end_of_session(&self, generation: u64) -> EndOfSession {
        EndOfSession {
            ahead: self.clone(),
            generation,
            rate: NonZero::new(self.shared.rate).unwrap_or(NonZero::<u32>::MIN),
        }
    }

    /// True once the current run's last step has been handed out in full
    /// (or skipped).
    pub(crate) fn ended(&self) -> bool {
        let generation = self.shared.generation.load(Ordering::SeqCst);
        self.shared.ended.load(Ordering::SeqCst) == generation
    }

    /// Stops the render thread and every waiting source.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_all();
    }

    /// Whether the renderer failed.
    pub(crate) fn failed(&self) -> bool {
        self.lock().failed
    }

    /// The renderer's error, once.
    pub(crate) fn take_failure(&self) -> Option<RenderError> {
        self.lock().failure.take()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// The block holding `position`, waiting for the render thread if needed.
    fn block(&self, position: u64, generation: u64) -> Result<(u64, Arc<[f32]>), Stop> {
        let shared = &self.shared;
        let index = position / shared.block_len;
        let mut state = self.lock();
        if state.wanted != index {
            state.wanted = index;
            shared.changed.notify_all();
        }
        loop {
            if shared.generation.load(Ordering::SeqCst) != generation || state.closed {
                return Err(Stop::Cancelled);
            }
            if let Some(block) = state.blocks.get(&index) {
                return Ok((index * shared.block_len, Arc::clone(block)));
            }
            if state.failed {
                return Err(Stop::Failed);
            }
            // The timeout only bounds how long a missed wake-up could
            // cost; every change is signalled.
            state = shared
                .changed
                .wait_timeout(state, Duration::from_millis(200))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }
}

/// Locks, carrying on past a poisoned lock: the state is a cache of
/// immutable blocks and flags, valid whatever a panicking holder was doing.
fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// See [`Ahead::render`].
fn render_ahead(shared: &Shared, source: &mut dyn Unrolled) {
    let block_len = shared.block_len;
    loop {
        let wanted = lock(&shared.state).wanted;
        let (ready, complete) = match source.extent((wanted + WINDOW_BLOCKS) * block_len) {
            Ok(extent) => extent,
            Err(error) => return fail(shared, error),
        };
        let grown = shared.ready.swap(ready, Ordering::SeqCst) != ready
            || shared.complete.swap(complete, Ordering::SeqCst) != complete;
        if grown {
            shared.changed.notify_all();
        }
        // Whole blocks of what is final; the last, short one at the end.
        let blocks = if complete {
            ready.div_ceil(block_len)
        } else {
            ready / block_len
        };
        let index = {
            let mut state = lock(&shared.state);
            loop {
                if state.closed {
                    return;
                }
                let first = state.wanted;
                let last = (first + WINDOW_BLOCKS).min(blocks);
                if let Some(index) = (first..last).find(|i| !state.blocks.contains_key(i)) {
                    break Some(index);
                }
                if !complete {
                    // Planning goes on: look again soon.
                    drop(
                        shared
                            .changed
                            .wait_timeout(state, Duration::from_millis(50))
                            .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    );
                    break None;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let Some(index) = index else {
            continue;
        };
        let start = index * block_len;
        let len = block_len.min(ready - start) as usize;
        let mut block = vec![0.0; len];
        let result = source.samples().fill(start, &mut block);
        let mut state = lock(&shared.state);
        match result {
            Ok(()) => {
                state.blocks.insert(index, block.into());
                // Keep one block behind the listener (a source may still be
                // finishing it) and the window ahead; drop the rest.
                let keep = state.wanted.saturating_sub(1)..state.wanted + WINDOW_BLOCKS;
                state.blocks.retain(|i, _| keep.contains(i));
            }
            Err(error) => {
                drop(state);
                return fail(shared, error);
            }
        }
        drop(state);
        shared.changed.notify_all();
    }
}

/// Records the renderer's failure for the player.
fn fail(shared: &Shared, error: RenderError) {
    let mut state = lock(&shared.state);
    state.failure = Some(error);
    state.failed = true;
    drop(state);
    shared.changed.notify_all();
}

/// One step's samples as a rodio [`Source`], pulled from the cache.
///
/// It ends early, without a gap in the queue's bookkeeping, if its run is
/// superseded or the renderer fails.
pub(crate) struct StepSource {
    ahead: Ahead,
    generation: u64,
    start: u64,
    next: u64,
    /// [`UNKNOWN_END`] until the step is planned.
    end: u64,
    /// The step, when its end is learnt as it is planned.
    step: Option<usize>,
    /// Samples of silence still to give while waiting for the session to
    /// be planned further.
    silence: usize,
    block: Option<(u64, Arc<[f32]>)>,
    rate: NonZero<u32>,
}

impl StepSource {
    /// Samples to give before the next decision: the rest of the step, or
    /// of what is final of it, or a stretch of silence while waiting.
    fn remaining(&self) -> usize {
        if self.silence > 0 {
            return self.silence;
        }
        if self.next >= self.end {
            return 0;
        }
        let shared = &self.ahead.shared;
        let limit = if shared.complete.load(Ordering::SeqCst) {
            self.end
        } else {
            self.end.min(shared.ready.load(Ordering::SeqCst))
        };
        if limit > self.next {
            (limit - self.next) as usize
        } else {
            self.wait_len()
        }
    }

    fn wait_len(&self) -> usize {
        ((f64::from(self.rate.get()) * WAIT_SILENCE_SECONDS) as usize).max(1)
    }

    /// Learns the step's end once it is planned.
    fn learn_end(&mut self) {
        if self.end == UNKNOWN_END
            && let Some(step) = self.step
        {
            self.end = self.ahead.end_of(step);
            let shared = &self.ahead.shared;
            if shared.complete.load(Ordering::SeqCst) {
                self.end = self.end.min(shared.ready.load(Ordering::SeqCst));
            }
        }
    }
}

impl Iterator for StepSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.silence > 0 {
            self.silence -= 1;
            return Some(0.0);
        }
        self.learn_end();
        if self.next >= self.end {
            return None;
        }
        let shared = &self.ahead.shared;
        if shared.generation.load(Ordering::Relaxed) != self.generation {
            self.end = self.next;
            return None;
        }
        let covered = matches!(&self.block, Some((start, block))
            if (*start..*start + block.len() as u64).contains(&self.next));
        if !covered
            && !shared.complete.load(Ordering::SeqCst)
            && self.next >= shared.ready.load(Ordering::SeqCst)
        {
            // The listener has caught up with the planning: silence, the
            // session's position held, until more is final.
            self.silence = self.wait_len() - 1;
            return Some(0.0);
        }
        if !covered {
            match self.ahead.block(self.next, self.generation) {
                Ok(block) => self.block = Some(block),
                Err(Stop::Cancelled | Stop::Failed) => {
                    self.end = self.next;
                    return None;
                }
            }
        }
        let (start, block) = self.block.as_ref()?;
        let sample = block[(self.next - start) as usize];
        self.next += 1;
        shared.position.store(self.next, Ordering::Relaxed);
        Some(sample)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.end == UNKNOWN_END {
            (self.remaining(), None)
        } else {
            (self.remaining(), Some(self.remaining()))
        }
    }
}

impl Source for StepSource {
    /// The whole rest of the step is one span: the queue needs the true
    /// remaining length, or it pads the end of each step with silence.
    fn current_span_len(&self) -> Option<usize> {
        Some(self.remaining())
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        (self.end != UNKNOWN_END).then(|| {
            Duration::from_secs_f64((self.end - self.start) as f64 / f64::from(self.rate.get()))
        })
    }
}

/// An empty source queued after a run's last step: reaching it marks the
/// end of the session exactly, so the output can stop after the last sample
/// instead of playing the queue's silence until someone notices.
pub(crate) struct EndOfSession {
    ahead: Ahead,
    generation: u64,
    rate: NonZero<u32>,
}

impl Iterator for EndOfSession {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        let shared = &self.ahead.shared;
        // A superseded run's sources end early and reach their marker too.
        if shared.generation.load(Ordering::SeqCst) == self.generation {
            shared.ended.store(self.generation, Ordering::SeqCst);
        }
        None
    }
}

impl Source for EndOfSession {
    fn current_span_len(&self) -> Option<usize> {
        Some(0)
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A cache with its render thread running on `samples`.
    pub(crate) fn spawn(mut samples: Box<dyn Samples + Send>) -> Ahead {
        let ahead = Ahead::new(samples.rate(), samples.total());
        let worker = ahead.clone();
        std::thread::spawn(move || worker.render(&mut Whole(samples.as_mut())));
        ahead
    }

    /// A deterministic session: every sample differs from its neighbours and
    /// none is zero, so gaps and jumps show.
    pub(crate) struct Ramp {
        pub(crate) rate: u32,
        pub(crate) total: u64,
    }

    impl Ramp {
        pub(crate) fn at(position: u64) -> f32 {
            0.25 + (position % 1000) as f32 / 4000.0
        }
    }

    impl Samples for Ramp {
        fn rate(&self) -> u32 {
            self.rate
        }
        fn total(&self) -> u64 {
            self.total
        }
        fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
            for (i, s) in out.iter_mut().enumerate() {
                let p = start + i as u64;
                *s = if p < self.total { Self::at(p) } else { 0.0 };
            }
            Ok(())
        }
    }

    /// Fails at `fail_at` and after.
    struct Failing {
        fail_at: u64,
    }

    impl Samples for Failing {
        fn rate(&self) -> u32 {
            1000
        }
        fn total(&self) -> u64 {
            10_000
        }
        fn fill(&mut self, start: u64, out: &mut [f32]) -> Result<(), RenderError> {
            if start + out.len() as u64 > self.fail_at {
                return Err(RenderError::Cancelled);
            }
            out.fill(0.5);
            Ok(())
        }
    }

    #[test]
    fn a_source_yields_exactly_its_range() {
        let ahead = spawn(Box::new(Ramp {
            rate: 1000,
            total: 5000,
        }));
        let generation = ahead.new_run(1234);
        let source = ahead.source(1234, 3210, generation);
        assert_eq!(source.current_span_len(), Some(1976));
        let got: Vec<f32> = source.collect();
        let want: Vec<f32> = (1234..3210).map(Ramp::at).collect();
        assert_eq!(got, want);
        assert_eq!(ahead.position(), 3210);
        ahead.close();
    }

    #[test]
    fn a_source_stops_past_the_session_end() {
        let ahead = spawn(Box::new(Ramp {
            rate: 1000,
            total: 500,
        }));
        let generation = ahead.new_run(0);
        assert_eq!(ahead.source(400, 900, generation).count(), 100);
        ahead.close();
    }

    #[test]
    fn a_new_run_stops_the_old_sources() {
        let ahead = spawn(Box::new(Ramp {
            rate: 1000,
            total: 5000,
        }));
        let old = ahead.new_run(0);
        let mut source = ahead.source(0, 5000, old);
        assert_eq!(source.next(), Some(Ramp::at(0)));
        ahead.new_run(3000);
        assert_eq!(source.next(), None);
        assert_eq!(source.current_span_len(), Some(0));
        assert_eq!(ahead.position(), 3000);
        ahead.close();
    }

    #[test]
    fn a_render_failure_ends_the_source_and_is_reported_once() {
        let ahead = spawn(Box::new(Failing { fail_at: 600 }));
        let generation = ahead.new_run(0);
        // Blocks are 250 samples at 1000 Hz: the first two render, the
        // third (500..750) fails.
        assert_eq!(ahead.source(0, 10_000, generation).count(), 500);
        assert!(ahead.failed());
        assert!(matches!(ahead.take_failure(), Some(RenderError::Cancelled)));
        assert!(ahead.take_failure().is_none());
        ahead.close();
    }
}
