//! Durations, counts and ranges as people write them.
//!
//! Durations: `30s`, `30 s`, `30 sec`, `45 seconds`, `1m30s`, `1 min 30 s`,
//! `5 min`, `1h`, `2.5s`. Ranges: `15-30s`, `15s-30s`, `3-5 min`, `15–30 s`
//! (an en dash works too); the unit of the upper end applies to a bare lower
//! end. Counts: `8`, `8-12`.
//!
//! A range stays a range in the model and is resolved when the routine is
//! planned: by the [`Level`] chosen, or at a [`Position`] found to meet a
//! length asked for (a level is one of three positions).

use super::Level;

/// Milliseconds: every duration in a routine is a whole number of them.
pub type Millis = u64;

/// A value that may have been written as a range `lo-hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span<T> {
    /// The low end (the only value when not a range).
    pub lo: T,
    /// The high end (equal to `lo` when not a range).
    pub hi: T,
}

impl<T: Copy> Span<T> {
    /// A single value.
    pub fn one(v: T) -> Self {
        Span { lo: v, hi: v }
    }
}

/// Where in a range a value is taken: from the low end ([`Position::LOW`])
/// to the high end ([`Position::HIGH`]), in millionths of the range. The
/// levels are three positions (gentle the low end, standard the middle, deep
/// the high end); a length asked for is met by searching between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u32);

impl Position {
    /// Millionths of a range: the high end.
    const WHOLE: u32 = 1_000_000;
    /// The low end of every range.
    pub const LOW: Position = Position(0);
    /// The middle of every range.
    pub const MIDDLE: Position = Position(Self::WHOLE / 2);
    /// The high end of every range.
    pub const HIGH: Position = Position(Self::WHOLE);

    /// The position `millionths` of the way from the low end to the high
    /// end (at most a million).
    pub fn from_millionths(millionths: u32) -> Position {
        Position(millionths.min(Self::WHOLE))
    }

    /// How far from the low end, in millionths of the range.
    pub fn millionths(self) -> u32 {
        self.0
    }

    /// The position halfway between `self` and `other` (rounded down).
    pub fn midpoint(self, other: Position) -> Position {
        Position(u32::midpoint(self.0, other.0))
    }
}

impl From<Level> for Position {
    fn from(level: Level) -> Position {
        match level {
            Level::Gentle => Position::LOW,
            Level::Standard => Position::MIDDLE,
            Level::Deep => Position::HIGH,
        }
    }
}

impl Span<Millis> {
    /// The duration at `level`: the low end, the middle rounded to a whole
    /// second (half up), or the high end.
    pub fn at(&self, level: Level) -> Millis {
        self.at_position(level.into())
    }

    /// The duration at `position`: the low end at [`Position::LOW`], the
    /// high end at [`Position::HIGH`], and between them the point that far
    /// along rounded to a whole second (half up), kept within the range.
    pub fn at_position(&self, position: Position) -> Millis {
        if position == Position::LOW || self.lo == self.hi {
            return self.lo;
        }
        if position == Position::HIGH {
            return self.hi;
        }
        // In millionths of a millisecond, so that the rounding is exact.
        let whole = u128::from(Position::WHOLE);
        let at =
            u128::from(self.lo) * whole + u128::from(position.0) * u128::from(self.hi - self.lo);
        let second = 1_000 * whole;
        let rounded = ((at + second / 2) / second * 1_000) as Millis;
        rounded.clamp(self.lo, self.hi)
    }
}

impl Span<u32> {
    /// The count at `level`: the low end, the middle rounded half up, or the
    /// high end.
    pub fn at(&self, level: Level) -> u32 {
        self.at_position(level.into())
    }

    /// The count at `position`: the point that far along the range, rounded
    /// half up to a whole count.
    pub fn at_position(&self, position: Position) -> u32 {
        let whole = u64::from(Position::WHOLE);
        let along = (u64::from(position.0) * u64::from(self.hi - self.lo) + whole / 2) / whole;
        self.lo + along as u32
    }
}

/// Why a quantity could not be read; the message says what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError {
    /// What is wrong.
    pub message: String,
    /// How to write it instead.
    pub help: String,
}

fn err(message: impl Into<String>, help: impl Into<String>) -> QuantityError {
    QuantityError {
        message: message.into(),
        help: help.into(),
    }
}

const DURATION_HELP: &str =
    "write a duration with a unit, like \"30s\", \"1m30s\", \"5 min\", or a range like \"15-30s\"";

/// Parses a duration or a duration range.
pub fn parse_duration_span(text: &str) -> Result<Span<Millis>, QuantityError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(err("the duration is empty", DURATION_HELP));
    }
    if t.starts_with('-') {
        return Err(err(
            format!("{text:?} is negative"),
            "durations count forward from zero; write a positive duration like \"30s\"",
        ));
    }
    match split_range(t) {
        Some((a, b)) => {
            let hi = parse_duration(b, None)?;
            let unit = trailing_unit(b);
            let lo = parse_duration(a, unit)?;
            if lo > hi {
                return Err(err(
                    format!("the range {text:?} runs backwards"),
                    format!(
                        "write the shorter duration first: \"{}-{}\"",
                        format_millis(hi),
                        format_millis(lo)
                    ),
                ));
            }
            Ok(Span { lo, hi })
        }
        None => parse_duration(t, None).map(Span::one),
    }
}

/// Parses a count or a count range such as `8-12`.
pub fn parse_count_span(text: &str) -> Result<Span<u32>, QuantityError> {
    let t = text.trim();
    let help = "write a whole number like \"8\" or a range like \"8-12\"";
    let one = |s: &str| -> Result<u32, QuantityError> {
        let s = s.trim();
        let s = s.strip_suffix("times").unwrap_or(s).trim_end();
        let s = s.strip_suffix('x').unwrap_or(s).trim_end();
        if s.starts_with('-') {
            return Err(err(format!("{text:?} is negative"), help));
        }
        s.parse::<u32>()
            .map_err(|_| err(format!("{text:?} is not a count"), help))
    };
    let span = match split_range(t) {
        Some((a, b)) => Span {
            lo: one(a)?,
            hi: one(b)?,
        },
        None => Span::one(one(t)?),
    };
    if span.lo > span.hi {
        return Err(err(
            format!("the range {text:?} runs backwards"),
            format!("write the smaller end first: \"{}-{}\"", span.hi, span.lo),
        ));
    }
    Ok(span)
}

/// Splits `a-b` / `a–b` / `a to b` into its ends, if it is a range.
fn split_range(t: &str) -> Option<(&str, &str)> {
    for sep in ["–", "—", " to ", "-"] {
        if let Some(i) = t.find(sep)
            && i > 0
        {
            return Some((&t[..i], &t[i + sep.len()..]));
        }
    }
    None
}

/// The unit word at the end of `s`, if any (`"30s"` → `"s"`).
fn trailing_unit(s: &str) -> Option<&str> {
    let s = s.trim_end();
    let start = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
        .map_or(0, |i| i + 1);
    let unit = &s[start..];
    (!unit.is_empty()).then_some(unit)
}

fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        _ => return None,
    })
}

/// Parses one duration such as `1m30s`; `default_unit` applies to a bare
/// number (the lower end of a range).
fn parse_duration(text: &str, default_unit: Option<&str>) -> Result<Millis, QuantityError> {
    let s = text.trim();
    let mut total: f64 = 0.0;
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(err(
                format!("{:?} is not a duration", text.trim()),
                DURATION_HELP,
            ));
        }
        let number: f64 = rest[..num_end].parse().map_err(|_| {
            err(
                format!("{:?} is not a number", &rest[..num_end]),
                DURATION_HELP,
            )
        })?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = rest[unit_end..].trim_start();
        let unit = if unit.is_empty() {
            match default_unit {
                Some(u) if rest.is_empty() => u,
                _ => {
                    return Err(err(
                        format!("{:?} has no unit", text.trim()),
                        format!(
                            "add a unit: \"{}s\" for seconds or \"{} min\" for minutes",
                            number, number
                        ),
                    ));
                }
            }
        } else {
            unit
        };
        let Some(ms) = unit_millis(unit) else {
            return Err(err(
                format!("unknown unit {unit:?} in {:?}", text.trim()),
                "use s, sec, seconds, m, min, minutes, h or hours",
            ));
        };
        total += number * ms as f64;
        parts += 1;
        // Allow "1 min 30 s" and "1m30s", and an "and" between parts.
        rest = rest.strip_prefix("and").unwrap_or(rest).trim_start();
    }
    if parts == 0 {
        return Err(err("the duration is empty", DURATION_HELP));
    }
    Ok(total.round() as Millis)
}

/// Formats milliseconds for people: `30s`, `1m30s`, `5m`, `1h2m`, `2.5s`.
pub fn format_millis(ms: Millis) -> String {
    if !ms.is_multiple_of(1000) {
        return format!("{}s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || out.is_empty() {
        out += &format!("{s}s");
    }
    out
}

const PATTERN_HELP: &str = "write the phases in seconds joined by dashes: \"4-6\" (in, out), \"4-7-8\" (in, hold, out) or \"4-4-4-4\" (in, hold, out, hold)";

/// Parses a breath pattern in the compact form: seconds joined by dashes,
/// `"4-6"` (inhale, exhale), `"4-7-8"` (inhale, hold, exhale) or
/// `"4-4-4-4"` (inhale, hold, exhale, hold). Returns the four phases
/// (inhale, hold in, exhale, hold out), a missing hold as zero. The phases'
/// lengths are checked by the caller.
pub fn parse_breath_pattern(text: &str) -> Result<[Millis; 4], QuantityError> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(err(format!("{text:?} starts with a minus"), PATTERN_HELP));
    }
    let parts: Vec<&str> = t.split(['-', '\u{2013}']).map(str::trim).collect();
    if !(2..=4).contains(&parts.len()) {
        return Err(err(
            format!("{text:?} has {} phases, not 2, 3 or 4", parts.len()),
            PATTERN_HELP,
        ));
    }
    let mut ms = Vec::new();
    for part in &parts {
        let number = part
            .strip_suffix("sec")
            .or_else(|| part.strip_suffix('s'))
            .unwrap_or(part)
            .trim();
        if number.is_empty() {
            return Err(err(
                format!("{text:?} has an empty phase (a negative number?)"),
                PATTERN_HELP,
            ));
        }
        let seconds: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0 && !number.starts_with('+'))
            .ok_or_else(|| {
                err(
                    format!("{part:?} in {text:?} is not a number of seconds"),
                    PATTERN_HELP,
                )
            })?;
        let m = seconds * 1000.0;
        if (m - m.round()).abs() > 1e-6 {
            return Err(err(
                format!("{part:?} in {text:?} is finer than a millisecond"),
                PATTERN_HELP,
            ));
        }
        ms.push(m.round() as Millis);
    }
    Ok(match ms.as_slice() {
        [i, o] => [*i, 0, *o, 0],
        [i, h, o] => [*i, *h, *o, 0],
        [i, h, o, h2] => [*i, *h, *o, *h2],
        _ => unreachable!("2 to 4 parts"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breath_patterns_in_the_compact_form() {
        assert_eq!(parse_breath_pattern("4-7-8"), Ok([4_000, 7_000, 8_000, 0]));
        assert_eq!(parse_breath_pattern("4-4-4-4"), Ok([4_000; 4]));
        assert_eq!(parse_breath_pattern("4-6"), Ok([4_000, 0, 6_000, 0]));
        assert_eq!(
            parse_breath_pattern("3.5s-0-5.5s"),
            Ok([3_500, 0, 5_500, 0])
        );
        for bad in ["4", "4-4-4-4-4", "-4-4", "4--4", "4-x-8", "4-1.0001-8", ""] {
            assert!(parse_breath_pattern(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_breath_pattern("4--4").unwrap_err().message,
            "\"4--4\" has an empty phase (a negative number?)"
        );
    }

    fn d(s: &str) -> Span<Millis> {
        parse_duration_span(s).unwrap()
    }

    #[test]
    fn durations_as_people_write_them() {
        assert_eq!(d("30s"), Span::one(30_000));
        assert_eq!(d("30 s"), Span::one(30_000));
        assert_eq!(d("30 sec"), Span::one(30_000));
        assert_eq!(d("45 seconds"), Span::one(45_000));
        assert_eq!(d("1m30s"), Span::one(90_000));
        assert_eq!(d("1 min 30 s"), Span::one(90_000));
        assert_eq!(d("1 minute and 30 seconds"), Span::one(90_000));
        assert_eq!(d("5 min"), Span::one(300_000));
        assert_eq!(d("1h"), Span::one(3_600_000));
        assert_eq!(d("2.5s"), Span::one(2_500));
        assert_eq!(d("500ms"), Span::one(500));
    }

    #[test]
    fn ranges_keep_both_ends() {
        assert_eq!(
            d("15-30s"),
            Span {
                lo: 15_000,
                hi: 30_000
            }
        );
        assert_eq!(
            d("15s-30s"),
            Span {
                lo: 15_000,
                hi: 30_000
            }
        );
        assert_eq!(
            d("3-5 min"),
            Span {
                lo: 180_000,
                hi: 300_000
            }
        );
        assert_eq!(
            d("15–30 s"),
            Span {
                lo: 15_000,
                hi: 30_000
            }
        );
        assert_eq!(
            d("3 to 5 min"),
            Span {
                lo: 180_000,
                hi: 300_000
            }
        );
        assert_eq!(
            d("45s-1m"),
            Span {
                lo: 45_000,
                hi: 60_000
            }
        );
    }

    #[test]
    fn bad_durations_say_why() {
        let e = parse_duration_span("30").unwrap_err();
        assert_eq!(e.message, "\"30\" has no unit");
        assert!(e.help.contains("\"30s\""), "{}", e.help);
        let e = parse_duration_span("30-15s").unwrap_err();
        assert!(e.message.contains("backwards"));
        assert_eq!(e.help, "write the shorter duration first: \"15s-30s\"");
        let e = parse_duration_span("5 mins and change").unwrap_err();
        assert!(e.message.contains("not a duration"), "{}", e.message);
        assert!(
            parse_duration_span("-5s")
                .unwrap_err()
                .message
                .contains("negative")
        );
        assert!(
            parse_duration_span("10 parsecs")
                .unwrap_err()
                .message
                .contains("unknown unit")
        );
        assert!(parse_duration_span("").is_err());
        assert!(parse_duration_span("s").is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count_span("8").unwrap(), Span::one(8));
        assert_eq!(parse_count_span("8-12").unwrap(), Span { lo: 8, hi: 12 });
        assert_eq!(parse_count_span("5 to 8").unwrap(), Span { lo: 5, hi: 8 });
        assert_eq!(parse_count_span("3x").unwrap(), Span::one(3));
        assert!(
            parse_count_span("12-8")
                .unwrap_err()
                .message
                .contains("backwards")
        );
        assert!(parse_count_span("lots").is_err());
        assert!(parse_count_span("-3").is_err());
    }

    #[test]
    fn levels_resolve_ranges() {
        let r = d("15-30s");
        assert_eq!(r.at(Level::Gentle), 15_000);
        assert_eq!(r.at(Level::Standard), 23_000); // 22.5 s rounds half up
        assert_eq!(r.at(Level::Deep), 30_000);
        assert_eq!(d("3-5 min").at(Level::Standard), 240_000);
        assert_eq!(d("2.5s").at(Level::Standard), 2_500);
        let c = parse_count_span("5-8").unwrap();
        assert_eq!(
            (
                c.at(Level::Gentle),
                c.at(Level::Standard),
                c.at(Level::Deep)
            ),
            (5, 7, 8)
        );
    }

    #[test]
    fn levels_are_positions() {
        // The rules the levels had before positions existed, for every
        // range up to 20 (counts) and 0 to 90 s in half seconds (durations).
        for lo in 0..=20u32 {
            for hi in lo..=20 {
                let c = Span { lo, hi };
                assert_eq!(c.at(Level::Gentle), lo);
                assert_eq!(c.at(Level::Standard), (lo + hi).div_ceil(2));
                assert_eq!(c.at(Level::Deep), hi);
            }
        }
        for lo in (0..=90_000u64).step_by(500) {
            for hi in (lo..=90_000).step_by(1_500) {
                let d: Span<Millis> = Span { lo, hi };
                let mid = if lo == hi {
                    lo
                } else {
                    ((lo + hi) / 2 + 500) / 1000 * 1000
                };
                assert_eq!(d.at(Level::Gentle), lo);
                assert_eq!(d.at(Level::Standard), mid.clamp(lo, hi), "{lo}-{hi}");
                assert_eq!(d.at(Level::Deep), hi);
            }
        }
    }

    #[test]
    fn positions_between_the_levels() {
        let d: Span<Millis> = Span {
            lo: 30_000,
            hi: 60_000,
        };
        let at = |m| d.at_position(Position::from_millionths(m));
        assert_eq!(at(0), 30_000);
        assert_eq!(at(1), 30_000);
        assert_eq!(at(100_000), 33_000);
        assert_eq!(at(116_666), 33_000); // 33.49998 s
        assert_eq!(at(116_667), 34_000); // 33.50001 s
        assert_eq!(at(999_999), 60_000);
        assert_eq!(at(2_000_000), 60_000);
        // The ends are kept exactly, even finer than a second.
        let fine: Span<Millis> = Span {
            lo: 2_500,
            hi: 7_500,
        };
        assert_eq!(fine.at_position(Position::LOW), 2_500);
        assert_eq!(fine.at_position(Position::from_millionths(1)), 3_000);
        assert_eq!(fine.at_position(Position::from_millionths(999_999)), 7_000);
        assert_eq!(fine.at_position(Position::HIGH), 7_500);
        let c = Span { lo: 5u32, hi: 8 };
        let n = |m| c.at_position(Position::from_millionths(m));
        assert_eq!(
            (n(0), n(166_666), n(166_667), n(500_000), n(1_000_000)),
            (5, 5, 6, 7, 8)
        );
        // Monotone: further along is never less.
        let mut last = (0, 0);
        for m in (0..=1_000_000).step_by(997) {
            let now = (at(m), n(m));
            assert!(now.0 >= last.0 && now.1 >= last.1);
            last = now;
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_millis(30_000), "30s");
        assert_eq!(format_millis(90_000), "1m30s");
        assert_eq!(format_millis(300_000), "5m");
        assert_eq!(format_millis(3_720_000), "1h2m");
        assert_eq!(format_millis(2_500), "2.5s");
        assert_eq!(format_millis(0), "0s");
    }
}
