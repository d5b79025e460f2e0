//! The transport: what plays, from where, paused or not, how loud.
//!
//! rodio's [`Player`] is the player: one [`StepSource`] per step is queued
//! on it, and pausing, skipping to the next step and the volume are its
//! controls. Going back (or starting at `--from`) starts a new *run*: a
//! fresh `Player` queued from that step, swapped in under the [`Feed`]. The
//! queue cannot rewind, and a new queue is immediate where `Player::clear`
//! would wait on the sound thread.
//!
//! A session still being planned grows while it plays ([`Transport::grow`]):
//! each step is queued as soon as it begins to be planned, and the end of
//! the session is queued once it is planned to its end.
//!
//! Nothing here touches a device: the output pulls samples from the
//! [`Feed`], and so do the tests.

use std::sync::{Arc, Mutex};

use rodio::Player;
use rodio::queue::SourcesQueueOutput;

use super::ahead::{Ahead, UNKNOWN_END};
use super::system_voice::Gate;

/// Within this many seconds of a step's start, "back" goes to the step
/// before instead of restarting this one (as in music players).
pub(crate) const BACK_GRACE_SECONDS: u64 = 2;

/// Volume steps for `+` and `-`, as factors on the rendered level.
pub(crate) const VOLUME_STEP: f32 = 0.1;
/// Loudest setting: +6 dB over the rendered level (samples are clipped).
pub(crate) const VOLUME_MAX: f32 = 2.0;

/// The stream the output pulls, shared with the transport so that a new run
/// can be swapped in.
#[derive(Clone)]
pub(crate) struct Feed {
    queue: Arc<Mutex<SourcesQueueOutput>>,
    ahead: Ahead,
    /// With the OS voice: sequences it and holds the stream while it speaks.
    gate: Option<Gate>,
}

impl Feed {
    /// Fills `out` with the next samples and returns how many there are:
    /// all of `out`, or fewer once the session has ended. While paused the
    /// samples are silence.
    pub(crate) fn fill(&self, out: &mut [f32]) -> usize {
        if self.ahead.ended() {
            return 0;
        }
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(gate) = &self.gate {
            let ahead = &self.ahead;
            return gate.fill(out, &|| ahead.position(), &mut || queue.next(), &|| {
                ahead.ended()
            });
        }
        for (filled, sample) in out.iter_mut().enumerate() {
            *sample = queue.next().unwrap_or(0.0);
            // The end marker yields nothing: the queue's filler silence came
            // in its place and is not part of the session.
            if self.ahead.ended() {
                return filled;
            }
        }
        out.len()
    }
}

/// Where each step starts and ends, in samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Steps(pub(crate) Vec<(u64, u64)>);

impl Steps {
    /// The step holding `position` (the last step at or past the end).
    pub(crate) fn at(&self, position: u64) -> usize {
        self.0
            .iter()
            .rposition(|&(start, _)| start <= position)
            .unwrap_or(0)
    }

    /// Where "back" goes from `position`: the start of the current step, or
    /// of the one before within [`BACK_GRACE_SECONDS`] of the start.
    pub(crate) fn back_from(&self, position: u64, rate: u32) -> usize {
        let current = self.at(position);
        let Some(&(start, _)) = self.0.get(current) else {
            return 0;
        };
        if current > 0 && position < start + BACK_GRACE_SECONDS * u64::from(rate) {
            current - 1
        } else {
            current
        }
    }
}

/// What a run has queued: its steps up to (not including) `steps`, and
/// whether the end marker.
#[derive(Default)]
struct Queued {
    steps: usize,
    end: bool,
}

impl Queued {
    /// Queues on `player` the steps known and not queued yet, and the end
    /// marker once the session is `complete`.
    fn queue(&mut self, ahead: &Ahead, steps: &Steps, complete: bool, player: &Player, run: u64) {
        while self.steps < steps.0.len() {
            let (start, _) = steps.0[self.steps];
            player.append(ahead.source_of_step(self.steps, start, run));
            self.steps += 1;
        }
        if complete && !self.end {
            player.append(ahead.end_of_session(run));
            self.end = true;
        }
    }
}

/// The transport controls of one playback.
pub(crate) struct Transport {
    ahead: Ahead,
    steps: Steps,
    /// The current run.
    generation: u64,
    /// Whether the steps are all the session's, with their ends.
    complete: bool,
    /// What the current run has queued.
    queued: Queued,
    player: Player,
    feed: Feed,
    paused: bool,
    volume: f32,
}

impl Transport {
    /// A transport queued from step `first`, playing, at `volume`.
    pub(crate) fn new(ahead: Ahead, steps: Steps, first: usize, volume: f32) -> Transport {
        Transport::growing(ahead, steps, true, first, volume)
    }

    /// A transport of a session planned so far as `steps` (the last of
    /// them still being planned, unless `complete`).
    pub(crate) fn growing(
        ahead: Ahead,
        steps: Steps,
        complete: bool,
        first: usize,
        volume: f32,
    ) -> Transport {
        let (player, queue) = Player::new();
        let mut transport = Transport {
            complete,
            queued: Queued::default(),
            feed: Feed {
                queue: Arc::new(Mutex::new(queue)),
                ahead: ahead.clone(),
                gate: None,
            },
            ahead,
            steps,
            generation: 0,
            player,
            paused: false,
            volume: if volume.is_finite() {
                volume.clamp(0.0, VOLUME_MAX)
            } else {
                1.0
            },
        };
        transport.start_at(first);
        transport
    }

    /// Puts `gate` between the queue and the output (before [`Transport::feed`]).
    pub(crate) fn set_gate(&mut self, gate: Gate) {
        self.feed.gate = Some(gate);
    }

    /// The stream to pull samples from.
    pub(crate) fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// The session has been planned further: `steps` so far, all of them
    /// if `complete`. The steps new to the current run are queued on it.
    pub(crate) fn grow(&mut self, steps: Steps, complete: bool) {
        self.steps = steps;
        self.complete = complete;
        self.ahead.set_ends(self.ends());
        self.queued.queue(
            &self.ahead,
            &self.steps,
            complete,
            &self.player,
            self.generation,
        );
    }

    /// Each step's end as the sources learn it.
    fn ends(&self) -> Vec<u64> {
        let last = self.steps.0.len().saturating_sub(1);
        self.steps
            .0
            .iter()
            .enumerate()
            .map(|(i, &(_, end))| {
                if i == last && !self.complete {
                    UNKNOWN_END
                } else {
                    end
                }
            })
            .collect()
    }

    /// Starts a new run at the start of step `first` (clamped to the last),
    /// keeping the pause state and volume.
    pub(crate) fn start_at(&mut self, first: usize) {
        let first = first.min(self.steps.0.len().saturating_sub(1));
        let start = self.steps.0.get(first).map_or(0, |&(start, _)| start);
        let generation = self.ahead.new_run(start);
        self.generation = generation;
        let (player, queue) = Player::new();
        self.ahead.set_ends(self.ends());
        self.queued = Queued {
            steps: first,
            end: false,
        };
        self.queued
            .queue(&self.ahead, &self.steps, self.complete, &player, generation);
        player.set_volume(self.volume);
        if self.paused {
            player.pause();
        }
        let old_queue = std::mem::replace(
            &mut *self
                .feed
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            queue,
        );
        // Drop the old run outside the lock.
        drop(old_queue);
        self.player = player;
    }

    /// Pauses or resumes; true if now paused. The queue gives silence while
    /// paused, so the device keeps running and nothing underruns.
    pub(crate) fn toggle_pause(&mut self) -> bool {
        self.paused = !self.paused;
        if self.paused {
            self.player.pause();
        } else {
            self.player.play();
        }
        self.paused
    }

    /// Whether paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// Skips to the start of the next step; past the last step the session
    /// ends. Takes effect within 5 ms of sound (rodio's control period).
    pub(crate) fn next_step(&mut self) {
        self.player.skip_one();
    }

    /// Restarts the current step, or goes back one step near its start.
    pub(crate) fn back(&mut self) {
        let target = self.steps.back_from(self.position(), self.ahead.rate());
        self.start_at(target);
    }

    /// Changes the volume by `steps` × [`VOLUME_STEP`]; returns the new volume.
    pub(crate) fn change_volume(&mut self, steps: i32) -> f32 {
        // Rounded to the step so repeated presses land on round figures.
        let volume =
            ((self.volume + steps as f32 * VOLUME_STEP) / VOLUME_STEP).round() * VOLUME_STEP;
        self.volume = volume.clamp(0.0, VOLUME_MAX);
        self.player.set_volume(self.volume);
        self.volume
    }

    /// The volume factor.
    pub(crate) fn volume(&self) -> f32 {
        self.volume
    }

    /// Session position just past the last sample handed to the output.
    pub(crate) fn position(&self) -> u64 {
        self.ahead.position()
    }

    /// The step being played.
    pub(crate) fn step(&self) -> usize {
        self.steps.at(self.position())
    }

    /// True once every step has been handed to the output.
    pub(crate) fn finished(&self) -> bool {
        // The marker is missed only if skipped itself (two skips pressed
        // on the last step); the player's count covers that. While the
        // session is still being planned, an empty queue waits for more.
        self.ahead.ended() || (self.complete && self.player.empty())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ahead::tests::{Ramp, spawn};
    use super::*;

    const RATE: u32 = 1000;

    /// Four steps of 3 s each at 1000 Hz.
    fn transport(first: usize) -> Transport {
        let ahead = spawn(Box::new(Ramp {
            rate: RATE,
            total: 12_000,
        }));
        let steps = Steps(vec![(0, 3000), (3000, 6000), (6000, 9000), (9000, 12_000)]);
        Transport::new(ahead, steps, first, 1.0)
    }

    fn pull(feed: &Feed, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; n];
        let filled = feed.fill(&mut out);
        out.truncate(filled);
        out
    }

    fn ramp(range: std::ops::Range<u64>) -> Vec<f32> {
        range.map(Ramp::at).collect()
    }

    /// rodio applies controls every 5 ms of sound: 5 samples at 1000 Hz.
    const CONTROL_PERIOD: usize = 5;

    #[test]
    fn plays_every_step_back_to_back_then_silence() {
        let transport = transport(0);
        let feed = transport.feed();
        // Exactly the session, and nothing after it.
        assert_eq!(pull(&feed, 12_500), ramp(0..12_000));
        assert!(transport.finished());
        assert_eq!(transport.position(), 12_000);
        assert_eq!(pull(&feed, 600), Vec::<f32>::new());
    }

    #[test]
    fn from_a_step_starts_at_its_first_sample() {
        let transport = transport(2);
        assert_eq!(transport.position(), 6000);
        assert_eq!(transport.step(), 2);
        assert_eq!(pull(&transport.feed(), 7000), ramp(6000..12_000));
        assert!(transport.finished());
    }

    #[test]
    fn pause_gives_silence_and_resume_continues_where_it_stopped() {
        let mut transport = transport(0);
        let feed = transport.feed();
        assert_eq!(pull(&feed, 1000), ramp(0..1000));
        assert!(transport.toggle_pause());
        // The pause lands at the next control point, within 5 samples.
        let during = pull(&feed, 500);
        let heard = during.iter().position(|&s| s == 0.0).unwrap();
        assert!(heard <= CONTROL_PERIOD, "paused after {heard} samples");
        assert_eq!(during[..heard], ramp(1000..1000 + heard as u64)[..]);
        assert!(during[heard..].iter().all(|&s| s == 0.0));
        let paused_at = transport.position();
        assert_eq!(paused_at, 1000 + heard as u64);

        assert!(!transport.toggle_pause());
        let after = pull(&feed, 600);
        // The control point can fall a few samples into the silence.
        let resumed = after.iter().position(|&s| s != 0.0).unwrap();
        assert!(resumed <= CONTROL_PERIOD, "resumed after {resumed} samples");
        assert_eq!(
            after[resumed..],
            ramp(paused_at..paused_at + (600 - resumed) as u64)[..]
        );
    }

    #[test]
    fn next_jumps_to_the_next_steps_first_sample() {
        let mut transport = transport(0);
        let feed = transport.feed();
        assert_eq!(pull(&feed, 1000), ramp(0..1000));
        transport.next_step();
        let out = pull(&feed, 2000);
        let jump = (0..out.len()).find(|&i| out[i] == Ramp::at(3000)).unwrap();
        assert!(jump <= CONTROL_PERIOD, "skipped after {jump} samples");
        assert_eq!(out[..jump], ramp(1000..1000 + jump as u64)[..]);
        assert_eq!(out[jump..], ramp(3000..3000 + (2000 - jump) as u64)[..]);
        assert_eq!(transport.step(), 1);
    }

    #[test]
    fn next_on_the_last_step_ends_the_session() {
        let mut transport = transport(3);
        let feed = transport.feed();
        pull(&feed, 100);
        transport.next_step();
        let out = pull(&feed, 100);
        assert!(
            out.len() <= CONTROL_PERIOD,
            "{} samples after the skip",
            out.len()
        );
        assert_eq!(out, ramp(9100..9100 + out.len() as u64));
        assert!(transport.finished());
    }

    #[test]
    fn back_restarts_the_step_after_its_first_two_seconds() {
        let mut transport = transport(0);
        let feed = transport.feed();
        pull(&feed, 5500); // 2.5 s into step 1
        transport.back();
        assert_eq!(transport.position(), 3000);
        // The new run plays from its first sample on the next pull.
        assert_eq!(pull(&feed, 1000), ramp(3000..4000));
    }

    #[test]
    fn back_near_a_steps_start_goes_to_the_step_before() {
        let mut transport = transport(0);
        let feed = transport.feed();
        pull(&feed, 4500); // 1.5 s into step 1
        transport.back();
        assert_eq!(transport.step(), 0);
        assert_eq!(pull(&feed, 1000), ramp(0..1000));
    }

    #[test]
    fn back_while_paused_stays_paused() {
        let mut transport = transport(0);
        let feed = transport.feed();
        pull(&feed, 4000);
        transport.toggle_pause();
        transport.back();
        assert!(pull(&feed, 500).iter().all(|&s| s == 0.0));
        transport.toggle_pause();
        let out = pull(&feed, 600);
        let resumed = out.iter().position(|&s| s != 0.0).unwrap();
        assert!(resumed <= CONTROL_PERIOD);
        assert_eq!(out[resumed..], ramp(0..(600 - resumed) as u64)[..]);
    }

    #[test]
    fn volume_scales_the_samples_in_steps() {
        let mut transport = transport(0);
        let feed = transport.feed();
        pull(&feed, 100);
        assert_eq!(transport.change_volume(-5), 0.5);
        let out = pull(&feed, 600);
        let scaled: Vec<f32> = ramp(100 + 10..700).iter().map(|s| s * 0.5).collect();
        assert_eq!(out[10..], scaled[..]);
        assert_eq!(transport.change_volume(100), VOLUME_MAX);
        assert_eq!(transport.change_volume(-100), 0.0);
        assert!((transport.change_volume(3) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn steps_at_and_back_from() {
        let steps = Steps(vec![(0, 3000), (3000, 6000), (6000, 9000)]);
        assert_eq!(steps.at(0), 0);
        assert_eq!(steps.at(2999), 0);
        assert_eq!(steps.at(3000), 1);
        assert_eq!(steps.at(9000), 2);
        // 2 s at 1000 Hz is 2000 samples.
        assert_eq!(steps.back_from(4999, RATE), 0);
        assert_eq!(steps.back_from(5000, RATE), 1);
        assert_eq!(steps.back_from(100, RATE), 0);
        assert_eq!(steps.back_from(6500, RATE), 1);
        assert_eq!(steps.back_from(8500, RATE), 2);
    }
}
