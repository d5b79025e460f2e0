//! The operating system's voice for live playback (`play --system-voice`).
//!
//! The OS voice (speech-dispatcher on Linux, AVFoundation on macOS,
//! WinRT/SAPI on Windows, through the `tts` crate with the cargo feature
//! `system-voice`) speaks only to the sound card: it gives no samples, so
//! it cannot go through the renderer. Instead the renderer plays the
//! session with every speech cue turned into silence of the same length
//! ([`speech_as_silence`]; bells, breath tones and ticks stay, including
//! those under speech), and a gate between the player's queue and the
//! output sequences the voice against that stream:
//!
//! * when the stream reaches a speech cue's first sample, the OS voice is
//!   asked to speak the cue's words, and the stream plays on through the
//!   cue's planned length (so a breath tone under a phrase keeps going);
//! * if the words are still being spoken when the stream reaches the cue's
//!   end, the stream holds there (silence, the position does not move)
//!   until the voice reports the utterance's end, then carries on. So a
//!   hold never starts before its instructions have been said, and the
//!   planned timing is kept whenever the OS voice is as quick as the plan.
//! * a voice that cannot report ends (`tts::Features::utterance_callbacks`)
//!   is given the planned length and never held for.
//!
//! The planner still measures speech with the built-in voice, so cue
//! lengths (and the session's length, if the OS voice is no slower) are
//! those of the plan.
//!
//! The voice itself is behind the [`Speaker`] trait so that the sequencing
//! is tested without a speech server; `os_speaker` (feature
//! `system-voice`) is the real one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::timeline::{CueKind, Timeline};

use super::PlayError;

/// The session with every speech cue replaced by silence of the same start
/// and length: what the renderer plays while the OS voice speaks.
/// Everything else (steps, sound-lane cues, length) is unchanged.
pub fn speech_as_silence(timeline: &Timeline) -> Timeline {
    let mut silent = timeline.clone();
    for cue in &mut silent.cues {
        if cue.kind == CueKind::Speech {
            cue.kind = CueKind::Silence;
        }
    }
    silent
}

/// An utterance as the speaker identifies it (to match the end reports).
pub type UtteranceKey = u64;

/// A voice that speaks text aloud by itself (the OS voice, or a fake in
/// tests). It is used from the playback thread only.
pub trait Speaker {
    /// Starts speaking `text` after anything already queued; returns the
    /// utterance's key if the voice gives one (its end will be reported
    /// with that key), or `None`.
    fn speak(&mut self, text: &str) -> Result<Option<UtteranceKey>, String>;

    /// Stops speaking at once and drops anything queued.
    fn stop(&mut self) -> Result<(), String>;

    /// Asks the voice to report each utterance's end to `ends`. Returns
    /// false if it cannot: playback then gives each phrase its planned
    /// length and does not wait for it.
    fn report_ends(&mut self, ends: UtteranceEnds) -> bool;
}

/// Where a [`Speaker`] reports utterance ends; callable from any thread.
#[derive(Clone)]
pub struct UtteranceEnds {
    state: Arc<Mutex<GateState>>,
}

impl UtteranceEnds {
    /// The utterance `key` has been spoken to its end.
    pub fn ended(&self, key: UtteranceKey) {
        lock(&self.state).ended(key);
    }
}

/// What the gate asks of the voice, done on the playback thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    /// Speak speech cue number `.0` (an index into [`GateState::cues`]).
    Speak(usize),
    /// Stop speaking.
    Stop,
}

/// A speech cue: where it starts and ends, and its words.
#[derive(Clone, Debug)]
struct SpeechCue {
    start: u64,
    end: u64,
    text: String,
}

/// The speech cue being spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    cue: usize,
    key: Option<UtteranceKey>,
}

/// How many recent end reports are kept for matching (an end can arrive
/// before `speak` has returned the utterance's key).
const RECENT_ENDS: usize = 16;

struct GateState {
    cues: Vec<SpeechCue>,
    /// The first speech cue not yet reached.
    next: usize,
    /// Session position after the last sample pulled (`None`: nothing yet).
    last: Option<u64>,
    pending: Option<Pending>,
    /// Whether the voice reports ends; if not, the stream never holds.
    waits: bool,
    recent_ends: VecDeque<UtteranceKey>,
    requests: Vec<Request>,
}

fn lock(state: &Mutex<GateState>) -> MutexGuard<'_, GateState> {
    // Plain data whatever a panicking holder was doing.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GateState {
    /// The position moved other than by one sample (a skip or a new run):
    /// the cue being spoken is left, and cues are counted from `at`.
    fn jumped(&mut self, at: u64) {
        if self.pending.take().is_some() {
            self.requests.push(Request::Stop);
        }
        self.next = self.cues.partition_point(|c| c.start < at);
    }

    fn holding(&self, position: u64) -> bool {
        self.waits
            && self
                .pending
                .is_some_and(|p| position >= self.cues[p.cue].end)
    }

    /// One sample for the output: pulled with `pull` (which moves the
    /// session position read by `position`), or silence while holding.
    fn sample(&mut self, position: &dyn Fn() -> u64, pull: &mut dyn FnMut() -> Option<f32>) -> f32 {
        let before = position();
        match self.last {
            None => self.jumped(before),
            Some(last) if last != before => self.jumped(before),
            Some(_) => {}
        }
        self.last = Some(before);
        if self.holding(before) {
            return 0.0;
        }
        let sample = pull().unwrap_or(0.0);
        let after = position();
        if after != before {
            // The sample just pulled is the one at `after - 1`.
            let at = after - 1;
            if at != before {
                self.jumped(at);
            }
            self.last = Some(after);
            if self.cues.get(self.next).is_some_and(|c| c.start == at) {
                self.pending = Some(Pending {
                    cue: self.next,
                    key: None,
                });
                self.requests.push(Request::Speak(self.next));
                self.next += 1;
            }
        }
        sample
    }

    fn ended(&mut self, key: UtteranceKey) {
        if self.recent_ends.len() == RECENT_ENDS {
            self.recent_ends.pop_front();
        }
        self.recent_ends.push_back(key);
        if self.pending.is_some_and(|p| p.key == Some(key)) {
            self.pending = None;
        }
    }

    /// Speech cue `cue` is being spoken as utterance `key`.
    fn spoken(&mut self, cue: usize, key: Option<UtteranceKey>) {
        let Some(pending) = &mut self.pending else {
            return;
        };
        if pending.cue != cue {
            return;
        }
        match key {
            // An end that came before `speak` returned.
            Some(key) if self.recent_ends.contains(&key) => self.pending = None,
            Some(key) => pending.key = Some(key),
            // Unmatchable: give it the planned length.
            None => self.pending = None,
        }
    }
}

/// Sits between the player's queue and the output: notes where speech cues
/// start and holds the stream at a cue's end while its words are spoken.
#[derive(Clone)]
pub(crate) struct Gate {
    state: Arc<Mutex<GateState>>,
}

impl Gate {
    /// A gate for the speech cues of `timeline` (the session as planned,
    /// speech included).
    fn new(timeline: &Timeline) -> Gate {
        let cues = timeline
            .cues
            .iter()
            .filter(|c| c.kind == CueKind::Speech)
            .map(|c| SpeechCue {
                start: c.start,
                end: c.end(),
                text: c.text.clone(),
            })
            .collect();
        Gate {
            state: Arc::new(Mutex::new(GateState {
                cues,
                next: 0,
                last: None,
                pending: None,
                waits: false,
                recent_ends: VecDeque::new(),
                requests: Vec::new(),
            })),
        }
    }

    /// Fills `out` (stopping early if `stop` says so after a sample; returns
    /// how many were filled), pulling from `pull` except while holding.
    pub(crate) fn fill(
        &self,
        out: &mut [f32],
        position: &dyn Fn() -> u64,
        pull: &mut dyn FnMut() -> Option<f32>,
        stop: &dyn Fn() -> bool,
    ) -> usize {
        let mut state = lock(&self.state);
        for (filled, sample) in out.iter_mut().enumerate() {
            *sample = state.sample(position, pull);
            if stop() {
                return filled;
            }
        }
        out.len()
    }
}

/// The OS voice driven by a [`Gate`]: [`SystemVoice::service`] runs the
/// gate's requests on the playback thread.
pub(crate) struct SystemVoice {
    gate: Gate,
    speaker: Box<dyn Speaker>,
}

impl SystemVoice {
    /// Sequences `speaker` against the speech cues of `timeline`.
    pub(crate) fn new(timeline: &Timeline, mut speaker: Box<dyn Speaker>) -> SystemVoice {
        let gate = Gate::new(timeline);
        let waits = speaker.report_ends(UtteranceEnds {
            state: gate.state.clone(),
        });
        lock(&gate.state).waits = waits;
        SystemVoice { gate, speaker }
    }

    /// The gate to put between the queue and the output.
    pub(crate) fn gate(&self) -> Gate {
        self.gate.clone()
    }

    /// Speaks the cues the stream has reached, stops what it has left.
    pub(crate) fn service(&mut self) -> Result<(), PlayError> {
        let requests = std::mem::take(&mut lock(&self.gate.state).requests);
        for request in requests {
            match request {
                Request::Speak(cue) => self.speak(cue)?,
                Request::Stop => self.speaker.stop().map_err(lost)?,
            }
        }
        Ok(())
    }

    fn speak(&mut self, cue: usize) -> Result<(), PlayError> {
        // Not under the lock: the voice may report an end from its own
        // thread while `speak` waits for the speech server.
        let text = lock(&self.gate.state).cues[cue].text.clone();
        let key = self.speaker.speak(&text).map_err(lost)?;
        lock(&self.gate.state).spoken(cue, key);
        Ok(())
    }

    /// Playback paused or resumed: the voice stops on pause, and says the
    /// interrupted phrase again from its start on resume.
    pub(crate) fn paused(&mut self, paused: bool) -> Result<(), PlayError> {
        self.service()?;
        if paused {
            return self.speaker.stop().map_err(lost);
        }
        let pending = lock(&self.gate.state).pending;
        match pending {
            Some(pending) => self.speak(pending.cue),
            None => Ok(()),
        }
    }

    /// The listener moved (next step, back): stop speaking and release the
    /// stream so the move takes effect; cues are counted from wherever the
    /// stream goes.
    pub(crate) fn moved(&mut self) -> Result<(), PlayError> {
        lock(&self.gate.state).pending = None;
        self.service()?;
        self.speaker.stop().map_err(lost)
    }

    /// Stops the voice at once (quit, error, end).
    pub(crate) fn silence(&mut self) {
        // Best effort on the way out: the session is over either way.
        let _ = self.speaker.stop();
    }
}

fn lost(reason: String) -> PlayError {
    PlayError::SystemVoice { reason }
}

/// The operating system's voice (speech-dispatcher on Linux).
///
/// Fails with [`PlayError::SystemVoice`] if it cannot be reached (on Linux:
/// speech-dispatcher not installed or not running).
#[cfg(feature = "system-voice")]
pub fn os_speaker() -> Result<Box<dyn Speaker>, PlayError> {
    os::TtsSpeaker::new().map(|s| Box::new(s) as Box<dyn Speaker>)
}

#[cfg(feature = "system-voice")]
mod os {
    use std::hash::{DefaultHasher, Hash, Hasher};

    use super::{PlayError, Speaker, UtteranceEnds, UtteranceKey};

    /// [`Speaker`] over the `tts` crate.
    pub(super) struct TtsSpeaker {
        tts: tts::Tts,
    }

    /// A key for a `tts` utterance id. Its Debug text is the one form every
    /// platform has (on macOS the id is an object pointer with no `Eq`).
    fn key(id: &tts::UtteranceId) -> UtteranceKey {
        let mut hasher = DefaultHasher::new();
        format!("{id:?}").hash(&mut hasher);
        hasher.finish()
    }

    impl TtsSpeaker {
        pub(super) fn new() -> Result<TtsSpeaker, PlayError> {
            let tts = tts::Tts::default().map_err(|e| PlayError::SystemVoice {
                reason: format!("cannot reach it ({e})"),
            })?;
            Ok(TtsSpeaker { tts })
        }
    }

    impl Speaker for TtsSpeaker {
        fn speak(&mut self, text: &str) -> Result<Option<UtteranceKey>, String> {
            self.tts
                .speak(text, false)
                .map(|id| id.as_ref().map(key))
                .map_err(|e| format!("cannot speak \"{text}\" ({e})"))
        }

        fn stop(&mut self) -> Result<(), String> {
            if !self.tts.supported_features().stop {
                return Ok(());
            }
            self.tts
                .stop()
                .map(|_| ())
                .map_err(|e| format!("cannot stop speaking ({e})"))
        }

        fn report_ends(&mut self, ends: UtteranceEnds) -> bool {
            self.tts.supported_features().utterance_callbacks
                && self
                    .tts
                    .on_utterance_end(Some(Box::new(move |id| ends.ended(key(&id)))))
                    .is_ok()
        }
    }

    impl Drop for TtsSpeaker {
        fn drop(&mut self) {
            // Queued phrases would otherwise go on after vinyasa exits.
            let _ = self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::testing::TimelineBuilder;
    use crate::timeline::{Bell, Phase, Role};

    /// 100 samples: speech at 10..30 ("One.") with a breath tone under it,
    /// silence, speech at 50..60 ("Two."), a bell at 60.., speech 80..90.
    fn timeline() -> Timeline {
        let inhale = CueKind::Breath {
            phase: Phase::Inhale,
        };
        TimelineBuilder::new(100)
            .title("T")
            .step("A", 0..50)
            .step("B", 50..100)
            .line(5)
            .in_step(0)
            .speech(10, 20, Role::Say, "One.")
            .cue(10, 20, inhale, Role::Say, "inhale")
            .silence(30, 20, Role::Say, "hold")
            .speech(50, 10, Role::Say, "Two.")
            .cue(60, 5, CueKind::Bell { bell: Bell::Step }, Role::Say, "bell")
            .speech(80, 10, Role::Say, "Three.")
            .build()
    }

    #[test]
    fn speech_becomes_silence_of_the_same_span_and_nothing_else_changes() {
        let t = timeline();
        let silent = speech_as_silence(&t);
        assert_eq!(silent.cues.len(), t.cues.len());
        for (a, b) in t.cues.iter().zip(&silent.cues) {
            assert_eq!(
                (a.start, a.len, &a.text, a.role),
                (b.start, b.len, &b.text, b.role)
            );
            let want = if a.kind == CueKind::Speech {
                CueKind::Silence
            } else {
                a.kind
            };
            assert_eq!(b.kind, want);
        }
        assert_eq!(
            (silent.total, silent.rate, &silent.steps),
            (t.total, t.rate, &t.steps)
        );
    }

    /// What the fake voice was asked, in order.
    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Said {
        Speak(String, u64),
        Stop,
    }

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<Said>>>);

    struct FakeSpeaker {
        log: Log,
        next_key: u64,
        reports: bool,
    }

    impl Speaker for FakeSpeaker {
        fn speak(&mut self, text: &str) -> Result<Option<UtteranceKey>, String> {
            self.next_key += 1;
            self.log
                .0
                .lock()
                .unwrap()
                .push(Said::Speak(text.into(), self.next_key));
            Ok(Some(self.next_key))
        }
        fn stop(&mut self) -> Result<(), String> {
            self.log.0.lock().unwrap().push(Said::Stop);
            Ok(())
        }
        fn report_ends(&mut self, _ends: UtteranceEnds) -> bool {
            self.reports
        }
    }

    /// A stream standing in for the player: sample `p` is `p + 1` (never
    /// zero), the position is the next sample's index.
    struct Stream {
        position: std::cell::Cell<u64>,
        total: u64,
    }

    impl Stream {
        fn pull(&self) -> Option<f32> {
            let p = self.position.get();
            (p < self.total).then(|| {
                self.position.set(p + 1);
                (p + 1) as f32
            })
        }
    }

    struct Rig {
        voice: SystemVoice,
        log: Log,
        stream: Stream,
        ends: UtteranceEnds,
    }

    fn rig(reports: bool) -> Rig {
        let log = Log::default();
        let voice = SystemVoice::new(
            &timeline(),
            Box::new(FakeSpeaker {
                log: log.clone(),
                next_key: 0,
                reports,
            }),
        );
        let ends = UtteranceEnds {
            state: voice.gate.state.clone(),
        };
        Rig {
            voice,
            log,
            stream: Stream {
                position: 0.into(),
                total: 100,
            },
            ends,
        }
    }

    impl Rig {
        /// Pulls `n` samples through the gate, then lets the voice act.
        fn play(&mut self, n: usize) -> Vec<f32> {
            let mut out = vec![0.0; n];
            let stream = &self.stream;
            let filled = self.voice.gate().fill(
                &mut out,
                &|| stream.position.get(),
                &mut || stream.pull(),
                &|| false,
            );
            assert_eq!(filled, n);
            self.voice.service().unwrap();
            out
        }

        fn said(&self) -> Vec<Said> {
            std::mem::take(&mut *self.log.0.lock().unwrap())
        }
    }

    fn samples(range: std::ops::Range<u64>) -> Vec<f32> {
        range.map(|p| (p + 1) as f32).collect()
    }

    #[test]
    fn speaks_at_the_cue_start_and_plays_on_under_it() {
        let mut r = rig(true);
        assert_eq!(r.play(10), samples(0..10));
        assert_eq!(r.said(), []);
        // The cue's first sample is pulled: speak.
        assert_eq!(r.play(1), samples(10..11));
        assert_eq!(r.said(), [Said::Speak("One.".into(), 1)]);
        // The stream (the breath tone) goes on through the cue's length.
        assert_eq!(r.play(19), samples(11..30));
        assert_eq!(r.said(), []);
    }

    #[test]
    fn holds_at_the_cue_end_until_the_utterance_ends() {
        let mut r = rig(true);
        r.play(30);
        assert_eq!(r.said(), [Said::Speak("One.".into(), 1)]);
        // Still speaking at the cue's end: silence, position held.
        assert_eq!(r.play(40), vec![0.0; 40]);
        assert_eq!(r.stream.position.get(), 30);
        // Another utterance's end does not release it.
        r.ends.ended(7);
        assert_eq!(r.play(5), vec![0.0; 5]);
        r.ends.ended(1);
        assert_eq!(r.play(20), samples(30..50));
        assert_eq!(r.said(), []);
        assert_eq!(r.play(1), samples(50..51));
        assert_eq!(r.said(), [Said::Speak("Two.".into(), 2)]);
    }

    #[test]
    fn an_utterance_done_early_keeps_the_planned_timing() {
        let mut r = rig(true);
        r.play(15);
        r.ends.ended(1);
        assert_eq!(r.play(40), samples(15..55));
        assert_eq!(
            r.said(),
            [Said::Speak("One.".into(), 1), Said::Speak("Two.".into(), 2)]
        );
    }

    #[test]
    fn an_end_reported_before_speak_returns_still_counts() {
        let mut r = rig(true);
        r.play(10);
        // The fake's next key is 1; its end arrives before `speak` returns.
        r.ends.ended(1);
        r.play(1);
        assert_eq!(r.play(19), samples(11..30));
        assert_eq!(r.play(5), samples(30..35));
    }

    #[test]
    fn a_voice_without_end_reports_gets_the_planned_length() {
        let mut r = rig(false);
        assert_eq!(r.play(60), samples(0..60));
        assert_eq!(
            r.said(),
            [Said::Speak("One.".into(), 1), Said::Speak("Two.".into(), 2)]
        );
    }

    #[test]
    fn a_jump_stops_the_voice_and_counts_cues_from_there() {
        let mut r = rig(true);
        r.play(12);
        r.said();
        // A skip to step B (position 50), as the player's queue does it.
        r.stream.position.set(50);
        assert_eq!(r.play(1), samples(50..51));
        assert_eq!(r.said(), [Said::Stop, Said::Speak("Two.".into(), 2)]);
        // Back to the start of step A: "One." is spoken again.
        r.stream.position.set(0);
        r.play(11);
        assert_eq!(r.said(), [Said::Stop, Said::Speak("One.".into(), 3)]);
    }

    #[test]
    fn landing_inside_a_phrase_does_not_speak_half_of_it() {
        let mut r = rig(true);
        r.stream.position.set(20);
        assert_eq!(r.play(30), samples(20..50));
        assert_eq!(r.said(), []);
    }

    #[test]
    fn moving_while_held_releases_the_stream() {
        let mut r = rig(true);
        r.play(35);
        assert_eq!(r.stream.position.get(), 30);
        r.voice.moved().unwrap();
        assert_eq!(r.said(), [Said::Speak("One.".into(), 1), Said::Stop]);
        assert_eq!(r.play(5), samples(30..35));
    }

    #[test]
    fn pause_stops_the_voice_and_resume_says_the_phrase_again() {
        let mut r = rig(true);
        r.play(15);
        r.voice.paused(true).unwrap();
        r.voice.paused(false).unwrap();
        assert_eq!(
            r.said(),
            [
                Said::Speak("One.".into(), 1),
                Said::Stop,
                Said::Speak("One.".into(), 2)
            ]
        );
        // Held until the repeat ends, not the first (stopped) utterance.
        r.play(15);
        r.ends.ended(1);
        assert_eq!(r.play(3), vec![0.0; 3]);
        r.ends.ended(2);
        assert_eq!(r.play(3), samples(30..33));
    }

    #[test]
    fn through_the_player_the_stream_holds_at_the_cue_end_then_plays_on() {
        use super::super::ahead::tests::{Ramp, spawn};
        use super::super::transport::{Steps, Transport};
        let ahead = spawn(Box::new(Ramp {
            rate: 100,
            total: 100,
        }));
        let log = Log::default();
        let voice = SystemVoice::new(
            &timeline(),
            Box::new(FakeSpeaker {
                log: log.clone(),
                next_key: 0,
                reports: true,
            }),
        );
        let ends = UtteranceEnds {
            state: voice.gate.state.clone(),
        };
        let mut voice = voice;
        let mut transport = Transport::new(ahead.clone(), Steps(vec![(0, 50), (50, 100)]), 0, 1.0);
        transport.set_gate(voice.gate());
        let feed = transport.feed();
        let pull = |n: usize| {
            let mut out = vec![0.0; n];
            let filled = feed.fill(&mut out);
            out.truncate(filled);
            out
        };
        let ramp = |r: std::ops::Range<u64>| r.map(Ramp::at).collect::<Vec<f32>>();
        assert_eq!(pull(30), ramp(0..30));
        voice.service().unwrap();
        assert_eq!(
            std::mem::take(&mut *log.0.lock().unwrap()),
            [Said::Speak("One.".into(), 1)]
        );
        assert_eq!(pull(20), vec![0.0; 20]);
        assert_eq!(transport.position(), 30);
        ends.ended(1);
        // Then on, each phrase ending just in time ("Two." 50..60, "Three."
        // 80..90): every sample of the session after the hold, then the end.
        assert_eq!(pull(30), ramp(30..60));
        voice.service().unwrap();
        ends.ended(2);
        assert_eq!(pull(30), ramp(60..90));
        voice.service().unwrap();
        ends.ended(3);
        assert_eq!(pull(200), ramp(90..100));
        assert!(transport.finished());
        ahead.close();
    }
}
