//! The binary's [`View`]: what the listener sees and presses while a
//! session plays (feature `terminal`, which brings crossterm).
//!
//! In a terminal: a full-screen view (title, step and side, the words being
//! spoken, time left in the hold, a progress bar, what comes next) and
//! single-key controls. Without one (piped, run from a script, no
//! controlling terminal) it prints one plain line per step and takes no keys.
//!
//! What to show at a position is worked out by `Now::at`, from the
//! timeline alone, so it is tested without a terminal.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, execute, queue};

use super::{Action, Ended, Status, View};
use crate::timeline::{CueKind, Lane, Role, Timeline};

/// Spoken words stay on screen this long after they end, so a short phrase
/// does not flash past.
const WORDS_LINGER_SECONDS: f64 = 1.0;

/// The key bindings.
fn action(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c' | 'C')).then_some(Action::Interrupt);
    }
    Some(match key.code {
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('n' | 'N') | KeyCode::Right => Action::Next,
        KeyCode::Char('p' | 'P') | KeyCode::Left => Action::Back,
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
        // '=' is '+' without shift on most layouts.
        KeyCode::Char('+' | '=') | KeyCode::Up => Action::VolumeUp,
        KeyCode::Char('-' | '_') | KeyCode::Down => Action::VolumeDown,
        _ => return None,
    })
}

/// What is happening at one position of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Now<'a> {
    /// Index into the timeline's steps (0 if it has none).
    step: usize,
    /// The step's name.
    step_name: &'a str,
    /// The words that started the current side or round ("Left side."),
    /// if the step has sides and one has started.
    side: Option<&'a str>,
    /// The words being spoken (or just spoken).
    words: Option<&'a str>,
    /// Samples left in the hold being held.
    hold_left: Option<u64>,
    /// The next step's name; none on the last step.
    next: Option<&'a str>,
}

/// Roles that belong to a hold: the silent stretches, and what is spoken or
/// sounded inside one. A hold is a run of these around `Hold` cues.
fn in_hold(role: Role) -> bool {
    matches!(
        role,
        Role::Hold
            | Role::Phrase
            | Role::Halfway
            | Role::Remaining
            | Role::Countdown
            | Role::Breath
    )
}

impl<'a> Now<'a> {
    /// What is happening at `position` of `timeline`.
    fn at(timeline: &'a Timeline, position: u64) -> Now<'a> {
        let step = timeline
            .steps
            .iter()
            .rposition(|s| s.start <= position)
            .unwrap_or(0);
        let step_name = timeline.steps.get(step).map_or("", |s| s.name.as_str());
        let next = timeline.steps.get(step + 1).map(|s| s.name.as_str());

        // Cues are sorted by start: everything up to here has begun.
        let begun = timeline.cues.partition_point(|c| c.start <= position);
        let voice: Vec<_> = timeline.cues[..begun]
            .iter()
            .filter(|c| c.step == step && c.lane() == Lane::Voice)
            .collect();

        let side = voice
            .iter()
            .rev()
            .find(|c| c.role == Role::Side && c.kind == CueKind::Speech)
            .map(|c| c.text.as_str());

        let linger = (WORDS_LINGER_SECONDS * f64::from(timeline.rate)) as u64;
        let words = voice
            .iter()
            .rev()
            .find(|c| c.kind == CueKind::Speech)
            .filter(|c| position < c.end() + linger)
            .map(|c| c.text.as_str());

        // The hold around the current voice cue: extend over neighbouring
        // hold cues of the step, and count down to the end of the last.
        let hold_left = voice
            .last()
            .filter(|c| position < c.end() && in_hold(c.role))
            .and_then(|_| {
                let later = timeline.cues[begun..]
                    .iter()
                    .filter(|c| c.step == step && c.lane() == Lane::Voice)
                    .take_while(|c| in_hold(c.role));
                let earlier = voice.iter().rev().take_while(|c| in_hold(c.role)).copied();
                let span: Vec<_> = earlier.chain(later).collect();
                let has_hold = span.iter().any(|c| c.role == Role::Hold);
                let end = span.iter().map(|c| c.end()).max()?;
                has_hold.then(|| end - position)
            });

        Now {
            step,
            step_name,
            side,
            words,
            hold_left,
            next,
        }
    }
}

/// Formats samples as `m:ss` (or `h:mm:ss`), rounding up so that a hold
/// shows "0:01" until its last sample, never "0:00" while still running.
pub fn minutes(samples: u64, rate: u32, round_up: bool) -> String {
    let rate = u64::from(rate.max(1));
    let seconds = if round_up {
        samples.div_ceil(rate)
    } else {
        samples / rate
    };
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A progress bar `width` cells wide.
fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        ((u128::from(done.min(total)) * width as u128) / u128::from(total)) as usize
    };
    format!("{}{}", "━".repeat(filled), "─".repeat(width - filled))
}

/// Breaks `text` into lines of at most `width` characters, at most `max`
/// lines; words longer than a line are cut.
fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(width).collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            let keep: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = keep + "…";
        }
    }
    lines
}

/// Where the session is shown: a terminal, or plain lines.
pub enum Screen<'a> {
    Terminal(TerminalScreen<'a>),
    Plain(PlainLog<'a>),
}

impl<'a> Screen<'a> {
    /// A full-screen view if stdin and stdout are a terminal that can be
    /// put in raw mode; plain lines otherwise, or if `plain` is asked for.
    /// Playback starts at step `first`.
    pub fn open(timeline: &'a Timeline, plain: bool, first: usize) -> Screen<'a> {
        if !plain && io::stdin().is_terminal() && io::stdout().is_terminal() {
            // Fails with ENXIO when there is no controlling terminal.
            if terminal::enable_raw_mode().is_ok() {
                let mut screen = TerminalScreen {
                    timeline: Cow::Borrowed(timeline),
                    estimated: false,
                    entered: true,
                };
                if screen.enter().is_ok() {
                    return Screen::Terminal(screen);
                }
                // Dropping `screen` restores the terminal.
            }
        }
        Screen::Plain(PlainLog::new(timeline, first))
    }
}

impl View for Screen<'_> {
    fn show(&mut self, status: &Status) -> io::Result<()> {
        match self {
            Screen::Terminal(screen) => screen.draw(status),
            Screen::Plain(log) => log.show(status),
        }
    }

    fn poll(&mut self, timeout: Duration) -> io::Result<Option<Action>> {
        match self {
            Screen::Terminal(_) => {
                if !event::poll(timeout)? {
                    return Ok(None);
                }
                match event::read()? {
                    Event::Key(key) => Ok(action(&key)),
                    _ => Ok(None),
                }
            }
            Screen::Plain(_) => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }

    /// Restores the terminal and prints one closing line.
    fn close(&mut self, ended: &Ended) {
        let timeline = match self {
            Screen::Terminal(screen) => {
                screen.leave();
                &*screen.timeline
            }
            Screen::Plain(log) => &*log.timeline,
        };
        let mut stdout = io::stdout().lock();
        // A closed stdout (`| head`) is no reason to fail the session.
        let _ = writeln!(stdout, "{}", closing_line(timeline, ended)).and_then(|()| stdout.flush());
    }

    /// Shows the new estimate from the next redraw on.
    fn replan(&mut self, timeline: &Timeline, complete: bool) {
        let (shown, estimated) = match self {
            Screen::Terminal(screen) => (&mut screen.timeline, &mut screen.estimated),
            Screen::Plain(log) => (&mut log.timeline, &mut log.estimated),
        };
        *shown = Cow::Owned(timeline.clone());
        *estimated = !complete;
    }
}

/// The full-screen view. Dropping it restores the terminal, also when the
/// player unwinds from a panic.
pub struct TerminalScreen<'a> {
    timeline: Cow<'a, Timeline>,
    /// Whether the timeline is an estimate (its session still being
    /// planned): its length is shown as approximate.
    estimated: bool,
    /// Whether the terminal is still in raw mode on the alternate screen.
    entered: bool,
}

impl TerminalScreen<'_> {
    fn enter(&mut self) -> io::Result<()> {
        execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(ClearType::All)
        )
    }

    fn draw(&mut self, status: &Status) -> io::Result<()> {
        let timeline = &*self.timeline;
        let (columns, rows) = terminal::size().unwrap_or((80, 24));
        let width = usize::from(columns).saturating_sub(2).max(10);
        let now = Now::at(timeline, status.position);
        let rate = timeline.rate;

        let mut lines: Vec<(String, bool)> = Vec::new();
        lines.push((clip(&timeline.title, width), true));
        lines.push((String::new(), false));
        let mut step = format!(
            "Step {} of {}: {}",
            now.step + 1,
            timeline.steps.len().max(1),
            now.step_name
        );
        if let Some(side) = now.side {
            step.push_str(" · ");
            step.push_str(side);
        }
        lines.push((clip(&step, width), true));
        lines.push((String::new(), false));
        let words = now
            .words
            .map(|w| wrap(&format!("“{w}”"), width, 3))
            .unwrap_or_default();
        for i in 0..3 {
            lines.push((words.get(i).cloned().unwrap_or_default(), false));
        }
        lines.push((
            now.hold_left
                .map(|left| format!("Hold: {} left", minutes(left, rate, true)))
                .unwrap_or_default(),
            false,
        ));
        lines.push((String::new(), false));
        let clocks = format!(
            " {} / {}{}",
            minutes(status.position, rate, false),
            if self.estimated { "~" } else { "" },
            minutes(timeline.total, rate, false)
        );
        let bar_width = width.saturating_sub(clocks.chars().count()).max(1);
        lines.push((
            bar(status.position, timeline.total, bar_width) + &clocks,
            false,
        ));
        lines.push((
            clip(
                &format!("Next: {}", now.next.unwrap_or("the end of the session")),
                width,
            ),
            false,
        ));
        lines.push((String::new(), false));
        let state = if status.paused { "Paused" } else { "Playing" };
        lines.push((
            format!("{state} · volume {:.0}%", status.volume * 100.0),
            status.paused,
        ));
        lines.push((
            clip(
                "space pause · n/→ next step · p/← back · +/- volume · q quit",
                width,
            ),
            false,
        ));

        let mut out = io::stdout().lock();
        for (row, (text, bold)) in lines.iter().enumerate().take(usize::from(rows)) {
            queue!(
                out,
                cursor::MoveTo(0, row as u16),
                terminal::Clear(ClearType::CurrentLine),
                Print(" ")
            )?;
            if *bold {
                queue!(
                    out,
                    SetAttribute(Attribute::Bold),
                    Print(text),
                    SetAttribute(Attribute::Reset)
                )?;
            } else {
                queue!(out, Print(text))?;
            }
        }
        queue!(
            out,
            cursor::MoveTo(0, lines.len() as u16),
            terminal::Clear(ClearType::FromCursorDown)
        )?;
        out.flush()
    }
}

impl TerminalScreen<'_> {
    /// Restores the terminal, once.
    fn leave(&mut self) {
        if std::mem::replace(&mut self.entered, false) {
            // Best effort: nothing useful can be done if the terminal is gone.
            let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
            let _ = terminal::disable_raw_mode();
        }
    }
}

impl Drop for TerminalScreen<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars()
            .take(width.saturating_sub(1))
            .collect::<String>()
            + "…"
    }
}

/// The line left on the terminal when playback ends.
fn closing_line(timeline: &Timeline, ended: &Ended) -> String {
    let rate = timeline.rate;
    let total = minutes(timeline.total, rate, false);
    match ended {
        Ended::Finished => format!("Finished \"{}\" ({total}).", timeline.title),
        Ended::Quit { step, position } | Ended::Interrupted { step, position } => {
            let name = timeline.steps.get(*step).map_or("", |s| s.name.as_str());
            format!(
                "Stopped at {} of {total}, in step {} ({name}); `--from {}` starts there again.",
                minutes(*position, rate, false),
                step + 1,
                step + 1
            )
        }
    }
}

/// One plain line per step, for logs and pipes.
pub struct PlainLog<'a> {
    timeline: Cow<'a, Timeline>,
    /// As [`TerminalScreen`]'s.
    estimated: bool,
    /// The first step not printed yet.
    unshown: usize,
}

impl<'a> PlainLog<'a> {
    fn new(timeline: &'a Timeline, first: usize) -> PlainLog<'a> {
        PlainLog {
            timeline: Cow::Borrowed(timeline),
            estimated: false,
            unshown: first,
        }
    }

    fn show(&mut self, status: &Status) -> io::Result<()> {
        if self.timeline.steps.is_empty() {
            return Ok(());
        }
        let step = Now::at(&self.timeline, status.position).step;
        // Every step gets its line, also one shorter than a redraw
        // interval (or all of them, when a device takes sound faster than
        // real time).
        if step < self.unshown {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        for index in std::mem::replace(&mut self.unshown, step + 1)..=step {
            // A closed stdout (`| head`) is no reason to stop the sound.
            let _ = writeln!(
                stdout,
                "{}",
                plain_line(&self.timeline, index, self.estimated)
            );
        }
        let _ = stdout.flush();
        Ok(())
    }
}

/// The plain line for step `index`: number, name, and where it sits.
/// The session's length `~`-marked when `estimated`.
fn plain_line(timeline: &Timeline, index: usize, estimated: bool) -> String {
    let Some(step) = timeline.steps.get(index) else {
        return String::new();
    };
    let rate = timeline.rate;
    format!(
        "[{}/{}] {} ({} at {} of {}{})",
        index + 1,
        timeline.steps.len(),
        step.name,
        minutes(step.end - step.start, rate, false),
        minutes(step.start, rate, false),
        if estimated { "~" } else { "" },
        minutes(timeline.total, rate, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::testing::TimelineBuilder;

    const RATE: u32 = 100;

    /// Two steps at 100 Hz: "Twist" (0–30 s) with a right and a left hold
    /// of 10 s, and "Rest" (30–40 s).
    fn timeline() -> Timeline {
        TimelineBuilder::new(RATE)
            .title("Twists")
            .step("Twist", 0..3000)
            .speech(0, 100, Role::Name, "Twist.")
            .speech(100, 100, Role::Side, "Right side first.")
            .silence(200, 400, Role::Hold, "")
            .cue(
                300,
                10,
                CueKind::Tick,
                Role::Breath,
                "a tick on the sound lane",
            )
            .speech(600, 100, Role::Halfway, "Halfway.")
            .silence(700, 500, Role::Hold, "")
            .speech(1200, 100, Role::Release, "Release.")
            .speech(1300, 100, Role::Side, "Now the left side.")
            .silence(1400, 1000, Role::Hold, "")
            .silence(2400, 600, Role::Transition, "")
            .step("Rest", 3000..4000)
            .line(11)
            .speech(3000, 200, Role::Name, "Rest.")
            .silence(3200, 800, Role::Rest, "")
            .build()
    }

    #[test]
    fn now_follows_steps_sides_words_and_holds() {
        let t = timeline();
        let now = Now::at(&t, 50);
        assert_eq!(
            now,
            Now {
                step: 0,
                step_name: "Twist",
                side: None,
                words: Some("Twist."),
                hold_left: None,
                next: Some("Rest"),
            }
        );
        let now = Now::at(&t, 150);
        assert_eq!(now.side, Some("Right side first."));
        assert_eq!(now.words, Some("Right side first."));
        // The first hold runs 200..1200 across the "Halfway." phrase.
        assert_eq!(Now::at(&t, 250).hold_left, Some(950));
        // Words linger 1 s (100 samples) after they end, then clear.
        assert_eq!(Now::at(&t, 250).words, Some("Right side first."));
        assert_eq!(Now::at(&t, 300).words, None);
        assert_eq!(Now::at(&t, 650).hold_left, Some(550));
        assert_eq!(Now::at(&t, 650).words, Some("Halfway."));
        assert_eq!(Now::at(&t, 1199).hold_left, Some(1));
        assert_eq!(Now::at(&t, 1200).hold_left, None);
        let now = Now::at(&t, 1500);
        assert_eq!(now.side, Some("Now the left side."));
        assert_eq!(now.hold_left, Some(900));
        assert_eq!(Now::at(&t, 2500).hold_left, None);
        let now = Now::at(&t, 3100);
        assert_eq!(
            (now.step, now.step_name, now.side, now.next),
            (1, "Rest", None, None)
        );
        // Past the end: still the last step.
        assert_eq!(Now::at(&t, 9999).step, 1);
    }

    #[test]
    fn minutes_round_as_asked() {
        assert_eq!(minutes(0, RATE, true), "0:00");
        assert_eq!(minutes(1, RATE, true), "0:01");
        assert_eq!(minutes(1, RATE, false), "0:00");
        assert_eq!(minutes(6000, RATE, false), "1:00");
        assert_eq!(minutes(100 * 3725, RATE, false), "1:02:05");
    }

    #[test]
    fn bar_fills_in_proportion() {
        assert_eq!(bar(0, 100, 4), "────");
        assert_eq!(bar(50, 100, 4), "━━──");
        assert_eq!(bar(99, 100, 4), "━━━─");
        assert_eq!(bar(100, 100, 4), "━━━━");
        assert_eq!(bar(500, 100, 4), "━━━━");
        assert_eq!(bar(0, 0, 2), "━━");
    }

    #[test]
    fn wrap_breaks_at_words_and_marks_a_cut() {
        assert_eq!(wrap("breathe in slowly", 10, 3), ["breathe in", "slowly"]);
        assert_eq!(wrap("a b c d e f", 3, 2), ["a b", "c …"]);
        assert_eq!(wrap("", 10, 3), Vec::<String>::new());
        assert_eq!(wrap("unbreakable", 4, 3), ["unbr"]);
    }

    #[test]
    fn plain_lines_name_the_step_and_its_place() {
        let t = timeline();
        assert_eq!(
            plain_line(&t, 0, false),
            "[1/2] Twist (0:30 at 0:00 of 0:40)"
        );
        assert_eq!(
            plain_line(&t, 1, false),
            "[2/2] Rest (0:10 at 0:30 of 0:40)"
        );
        // A session still being planned has an estimated length.
        assert_eq!(
            plain_line(&t, 1, true),
            "[2/2] Rest (0:10 at 0:30 of ~0:40)"
        );
    }

    #[test]
    fn keys() {
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert_eq!(action(&key(KeyCode::Char(' '))), Some(Action::TogglePause));
        assert_eq!(action(&key(KeyCode::Right)), Some(Action::Next));
        assert_eq!(action(&key(KeyCode::Char('p'))), Some(Action::Back));
        assert_eq!(action(&key(KeyCode::Esc)), Some(Action::Quit));
        assert_eq!(action(&key(KeyCode::Char('+'))), Some(Action::VolumeUp));
        assert_eq!(action(&key(KeyCode::Char('-'))), Some(Action::VolumeDown));
        assert_eq!(action(&key(KeyCode::Char('x'))), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(&ctrl_c), Some(Action::Interrupt));
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(action(&release), None);
    }

    #[test]
    fn closing_lines() {
        let t = timeline();
        assert_eq!(
            closing_line(&t, &Ended::Finished),
            "Finished \"Twists\" (0:40)."
        );
        assert_eq!(
            closing_line(
                &t,
                &Ended::Quit {
                    step: 1,
                    position: 3450
                }
            ),
            "Stopped at 0:34 of 0:40, in step 2 (Rest); `--from 2` starts there again."
        );
    }
}
