//! A session planned while it plays ([`unfold`]): its phrases spoken in the
//! order they are heard, as one batch of the voice on a thread of its own,
//! and the planner following them on another, publishing each prefix of the
//! timeline it reaches ([`Unfolded`]).
//!
//! With a voice that takes minutes to speak a long session (Piper), the
//! first sound then waits for the first phrases only. The planner is causal
//! ([`super::plan_unfolding`]), so every prefix is the start of the timeline
//! planned at once, cue for cue.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{PlanError, PlanOptions, plan, plan_unfolding};
use crate::cancel::Cancel;
use crate::routine::Routine;
use crate::timeline::Timeline;
use crate::voice::{Clip, TestVoice, Voice, VoiceError};

/// How far a session is planned.
#[derive(Clone, Debug)]
pub struct Unfolded {
    /// The timeline so far (the whole one once `complete`).
    pub timeline: Arc<Timeline>,
    /// No cue to come starts before this sample ([`super::Prefix::frontier`];
    /// the session's end once `complete`).
    pub frontier: u64,
    /// Whether the session is planned to its end.
    pub complete: bool,
    /// Prefixes published so far: it grows with every new one.
    pub version: u64,
}

/// The shared state of one [`unfold`].
pub struct Unfolding<'r> {
    routine: &'r Routine,
    options: PlanOptions,
    state: Mutex<State>,
    changed: Condvar,
    /// Stops the speaking and the planning: set when the caller's flag is,
    /// or when the caller's work is done.
    stop: Cancel,
}

#[derive(Default)]
struct State {
    /// Lengths the batch has reported, by text.
    lengths: HashMap<String, Result<(u32, u64), VoiceError>>,
    /// The texts the batch was given.
    asked: HashSet<String>,
    /// Every text of the batch has been reported (or it was stopped).
    spoken: bool,
    latest: Option<Unfolded>,
    failure: Option<PlanError>,
}

/// Speaks and plans `routine` with `voice` in the background while `run`
/// works with what is planned so far; returns what `run` returns, once the
/// background work has stopped. `run` ending stops the speaking and the
/// planning, and so does `cancel`.
///
/// The phrases are found by planning with the test voice first (a few
/// milliseconds), and given to [`Voice::length_batch`] in the order they
/// are first heard; a phrase the real plan places that the test plan did
/// not is asked of the voice alone when it comes (after the batch, with an
/// engine that speaks one batch at a time).
pub fn unfold<R>(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    cancel: &Cancel,
    run: impl FnOnce(&Unfolding<'_>) -> R,
) -> R {
    let unfolding = Unfolding {
        routine,
        options: options.clone(),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        stop: Cancel::new(),
    };
    let texts = heard_order(routine, options);
    unfolding.lock().asked = texts.iter().cloned().collect();
    let unfolding = &unfolding;
    std::thread::scope(|scope| {
        scope.spawn(move || unfolding.speak(voice, &texts));
        scope.spawn(move || unfolding.plan(voice));
        scope.spawn(move || {
            // Passes the caller's Ctrl-C on to the work in the background.
            while !unfolding.stop.is_cancelled() {
                if cancel.is_cancelled() {
                    unfolding.stop();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let result = run(unfolding);
        unfolding.stop();
        result
    })
}

/// Every distinct phrase the planner asks its voice for when it plans the
/// routine with the test voice, in the order it asks: the order they are
/// heard, and also the phrases it measures and then places otherwise (a
/// flow's words before their count is added). What [`unfold`] gives its
/// voice.
pub fn heard_order(routine: &Routine, options: &PlanOptions) -> Vec<String> {
    let asked = Asked(Mutex::default());
    if plan(routine, &asked, options).is_err() {
        return Vec::new(); // the real plan will report it
    }
    asked.0.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// The test voice, noting each text it is asked to measure, once.
struct Asked(Mutex<Vec<String>>);

impl Voice for Asked {
    fn identity(&self) -> String {
        TestVoice::default().identity()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let mut asked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !asked.iter().any(|t| t == text) {
            asked.push(text.to_owned());
        }
        drop(asked);
        TestVoice::default().speak(text)
    }
}

impl Unfolding<'_> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.stop.cancel();
        self.changed.notify_all();
    }

    /// The speaking thread: one batch, each length kept as it arrives.
    fn speak(&self, voice: &dyn Voice, texts: &[String]) {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        voice.length_batch(&texts, &self.stop, &|i, result| {
            self.lock().lengths.insert(texts[i].to_owned(), result);
            self.changed.notify_all();
        });
        self.lock().spoken = true;
        self.changed.notify_all();
    }

    /// The planning thread: each prefix published as the planner reaches
    /// a phrase it has not measured, then the whole timeline.
    fn plan(&self, voice: &dyn Voice) {
        let waiting = Waiting {
            voice,
            unfolding: self,
        };
        let mut version = 0;
        let publish = |unfolded: Unfolded| {
            self.lock().latest = Some(unfolded);
            self.changed.notify_all();
        };
        let result = plan_unfolding(
            self.routine,
            &waiting,
            &self.options,
            &self.stop,
            &mut |prefix| {
                version += 1;
                publish(Unfolded {
                    timeline: Arc::new(prefix.timeline()),
                    frontier: prefix.frontier(),
                    complete: false,
                    version,
                });
            },
        );
        match result {
            Ok(timeline) => publish(Unfolded {
                frontier: timeline.total,
                timeline: Arc::new(timeline),
                complete: true,
                version: version + 1,
            }),
            Err(error) => {
                let error = if self.stop.is_cancelled() {
                    PlanError::Cancelled
                } else {
                    error
                };
                self.lock().failure = Some(error);
                self.changed.notify_all();
            }
        }
    }

    /// How far the session is planned, if it has begun.
    pub fn latest(&self) -> Option<Unfolded> {
        self.lock().latest.clone()
    }

    /// Why planning stopped, once (it failed, or was stopped).
    pub fn take_failure(&self) -> Option<PlanError> {
        self.lock().failure.take()
    }

    /// Waits until `ready` accepts what is planned, planning fails (its
    /// error, returned once) or the work is stopped ([`PlanError::Cancelled`]).
    pub fn wait_for(&self, ready: impl Fn(&Unfolded) -> bool) -> Result<Unfolded, PlanError> {
        let mut state = self.lock();
        loop {
            if let Some(latest) = state.latest.as_ref().filter(|u| ready(u)) {
                return Ok(latest.clone());
            }
            if let Some(error) = state.failure.take() {
                return Err(error);
            }
            if self.stop.is_cancelled() {
                return Err(PlanError::Cancelled);
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The whole session as well as it can be known now: exact where its
    /// phrases have been spoken (so up to the frontier, the timeline that
    /// will be), and elsewhere each phrase as long as the test voice would
    /// say it, scaled by how the phrases spoken so far compare with it.
    pub fn estimate(&self) -> Result<Timeline, PlanError> {
        let known: HashMap<String, (u32, u64)> = self
            .lock()
            .lengths
            .iter()
            .filter_map(|(text, result)| Some((text.clone(), result.as_ref().ok().copied()?)))
            .collect();
        plan(self.routine, &Estimate::new(known), &self.options)
    }
}

/// The voice the planning thread asks: a length the batch has reported,
/// waiting for it if the batch has yet to; the voice itself for a text the
/// batch was not given.
struct Waiting<'u, 'r> {
    voice: &'u dyn Voice,
    unfolding: &'u Unfolding<'r>,
}

impl Voice for Waiting<'_, '_> {
    fn identity(&self) -> String {
        self.voice.identity()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        self.voice.speak(text)
    }

    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        let u = self.unfolding;
        let mut state = u.lock();
        loop {
            if let Some(result) = state.lengths.get(text) {
                return result.clone();
            }
            if state.spoken || !state.asked.contains(text) {
                drop(state);
                return self.voice.length(text);
            }
            if u.stop.is_cancelled() {
                return Err(VoiceError::Failed {
                    engine: self.voice.label(),
                    text: text.to_owned(),
                    reason: "it was stopped".into(),
                });
            }
            state = u
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// Lengths for [`Unfolding::estimate`]: the known ones, and the test
/// voice's scaled to the known ones for the rest.
struct Estimate {
    known: HashMap<String, (u32, u64)>,
    /// Seconds spoken per second the test voice gives the same texts.
    scale: f64,
}

impl Estimate {
    fn new(known: HashMap<String, (u32, u64)>) -> Estimate {
        let (mut spoken, mut test) = (0.0, 0.0);
        for (text, &(rate, samples)) in &known {
            spoken += samples as f64 / f64::from(rate.max(1));
            test += Estimate::test_seconds(text);
        }
        Estimate {
            known,
            scale: if spoken > 0.0 && test > 0.0 {
                spoken / test
            } else {
                1.0
            },
        }
    }

    fn test_seconds(text: &str) -> f64 {
        let voice = TestVoice::default();
        text.chars().count().max(1) as f64 * f64::from(voice.ms_per_char) / 1000.0
    }
}

impl Voice for Estimate {
    fn identity(&self) -> String {
        "estimate".into()
    }

    /// Silence as long as the estimate (the planner asks only lengths).
    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let (rate, samples) = self.length(text)?;
        Ok(Clip {
            rate,
            samples: vec![0.0; samples as usize],
        })
    }

    fn length(&self, text: &str) -> Result<(u32, u64), VoiceError> {
        if let Some(&known) = self.known.get(text) {
            return Ok(known);
        }
        let rate = TestVoice::RATE;
        let seconds = Estimate::test_seconds(text) * self.scale;
        Ok((rate, (seconds * f64::from(rate)).round().max(1.0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routine;

    /// The test voice, slowed down: each phrase takes `delay` to speak, as
    /// one batch in the order given, as Piper's program does.
    struct Slow {
        delay: Duration,
        spoken: Mutex<Vec<String>>,
    }

    impl Voice for Slow {
        fn identity(&self) -> String {
            TestVoice::default().identity()
        }

        fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
            std::thread::sleep(self.delay);
            self.spoken.lock().unwrap().push(text.to_owned());
            TestVoice::default().speak(text)
        }

        fn length_batch(
            &self,
            texts: &[&str],
            cancel: &Cancel,
            done: crate::voice::Done<'_, (u32, u64)>,
        ) {
            for (i, text) in texts.iter().enumerate() {
                if cancel.is_cancelled() {
                    return;
                }
                done(i, self.length(text));
            }
        }
    }

    fn routine() -> Routine {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routines/mid-back.toml");
        routine::load(&path).unwrap().0
    }

    #[test]
    fn the_unfolded_timeline_is_the_one_planned_at_once_and_begins_before_all_is_spoken() {
        let routine = routine();
        let options = PlanOptions::default();
        let at_once = plan(&routine, &TestVoice::default(), &options).unwrap();
        let voice = Slow {
            delay: Duration::from_millis(5),
            spoken: Mutex::default(),
        };
        let phrases = heard_order(&routine, &options).len();
        let (first, last, estimate) = unfold(&routine, &voice, &options, &Cancel::new(), |u| {
            let first = u.wait_for(|_| true).unwrap();
            let spoken_then = voice.spoken.lock().unwrap().len();
            let estimate = u.estimate().unwrap();
            let last = u.wait_for(|u| u.complete).unwrap();
            ((first, spoken_then), last, estimate)
        });
        // Playing could begin with a phrase or two spoken, not all.
        assert!(first.1 < phrases / 2, "{} of {phrases} spoken", first.1);
        assert!(!first.0.complete);
        assert_eq!(*last.timeline, at_once);
        assert_eq!(last.frontier, at_once.total);
        // The estimate is exact up to the frontier it was made at (at
        // least), and names every step.
        assert_eq!(estimate.steps.len(), at_once.steps.len());
        let before = |t: &Timeline| -> Vec<_> {
            t.cues
                .iter()
                .filter(|c| c.start < first.0.frontier)
                .cloned()
                .collect()
        };
        assert_eq!(before(&estimate), before(&at_once));
        // Each phrase was spoken once, in the order it is heard.
        let spoken = voice.spoken.lock().unwrap().clone();
        assert_eq!(spoken, heard_order(&routine, &options));
    }

    #[test]
    fn stopping_the_caller_stops_the_speaking() {
        let routine = routine();
        let voice = Slow {
            delay: Duration::from_millis(20),
            spoken: Mutex::default(),
        };
        let cancel = Cancel::new();
        let failure = unfold(&routine, &voice, &PlanOptions::default(), &cancel, |u| {
            u.wait_for(|_| true).unwrap();
            cancel.cancel();
            u.wait_for(|u| u.complete).unwrap_err()
        });
        assert!(matches!(failure, PlanError::Cancelled), "{failure:?}");
        let phrases = heard_order(&routine, &PlanOptions::default()).len();
        assert!(voice.spoken.lock().unwrap().len() < phrases);
    }
}
