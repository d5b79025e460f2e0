//! Rewrites a phrase before an engine reads it: the abbreviations and
//! shorthand that routines use and engines misread, respellings from the
//! routine's `[pronounce]` table, and accented letters the built-in voice
//! would drop.
//!
//! Every function here is pure and conservative: a word is rewritten only
//! when the pattern is unambiguous in a routine ("30s" after a number is
//! seconds, "x8" is eight times); anything else passes through unchanged,
//! whitespace included.

use super::Pronunciation;

/// Bumped whenever a rewrite here changes, so voices' identities change and
/// cached clips of the old reading are not reused.
pub(crate) const VERSION: u32 = 1;

/// The longest word, in characters, that an engine is given. Longer runs
/// without a space are split: flite reads a word by splitting it one
/// character at a time, recursively, so its time grows with the square of
/// the word's length and a word of 5,000 emoji overflowed the stack.
/// Routines are refused a longer word (`routine`), so this only guards
/// text that did not come through a routine.
pub const MAX_WORD_CHARS: usize = 100;

/// `text` with a space put into every run of more than [`MAX_WORD_CHARS`]
/// non-space characters, so no word is longer; other text is unchanged.
pub fn bound_words(text: &str) -> std::borrow::Cow<'_, str> {
    let mut run = 0;
    if text.chars().all(|c| {
        run = if c.is_whitespace() { 0 } else { run + 1 };
        run <= MAX_WORD_CHARS
    }) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + text.len() / MAX_WORD_CHARS);
    let mut run = 0;
    for c in text.chars() {
        if c.is_whitespace() {
            run = 0;
        } else if run == MAX_WORD_CHARS {
            out.push(' ');
            run = 1;
        } else {
            run += 1;
        }
        out.push(c);
    }
    out.into()
}

/// `text` without control characters other than whitespace: espeak-ng
/// obeys some (U+0001) as embedded commands, and no engine should hear
/// them. Other text is unchanged.
pub fn strip_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unwanted = |c: char| c.is_control() && !c.is_whitespace();
    if !text.chars().any(unwanted) {
        return text.into();
    }
    text.chars()
        .filter(|&c| !unwanted(c))
        .collect::<String>()
        .into()
}

/// Expands English shorthand that speech engines misread:
///
/// * `5 min`, `5min`, `2 mins` → `5 minutes`, `2 minutes` (`1 minute`);
///   `mins` and `secs` anywhere → `minutes`, `seconds`.
/// * `30 sec`, `30s`, `30secs` → `30 seconds`; `1m30s` → `1 minute 30 seconds`;
///   `2 hrs` → `2 hours`. A bare `s` counts only after numbers of up to three
///   digits, so `1990s` stays a decade.
/// * `x8`, `8x`, `x 8`, `8 x`, `×8` → `8 times`.
/// * `3-5`, `3–5` → `3 to 5` (two numbers only: `4-7-8` stays a rhythm),
///   with a unit after it: `45-60s` → `45 to 60 seconds`.
/// * `&` → `and`; `e.g.` → `for example`; `i.e.` → `that is`;
///   `etc.` → `et cetera`; `approx.` → `approximately`; `vs.` → `versus`.
///
/// An abbreviation's full stop is dropped unless it also ends the sentence
/// (last word, or the next word is capitalised).
pub fn normalize(text: &str) -> String {
    let chunks = split_chunks(text);
    let mut out = String::with_capacity(text.len() + 16);
    // The previous chunk was a bare number (and whether it was exactly 1),
    // so a unit word after it can be expanded.
    let mut after_number: Option<bool> = None;
    // An `x` was dropped before this number: say "times" after it.
    let mut times_pending = false;

    for (i, chunk) in chunks.iter().enumerate() {
        if !times_pending {
            out.push_str(chunk.space);
        }
        let (lead, core, trail) = split_punctuation(chunk.word);
        let next_word = chunks.get(i + 1).map(|c| c.word);
        let mut expansion = expand(core, after_number, next_word);
        after_number = None;

        if times_pending {
            times_pending = false;
            if let Some(n) = bare_number(core) {
                expansion = Some(Expansion::plain(format!(
                    "{n} {}",
                    plural(n == "1", "time")
                )));
            }
        }
        let Some(expansion) = expansion else {
            out.push_str(chunk.word);
            after_number = (trail.is_empty())
                .then(|| bare_number(core).map(|n| n == "1"))
                .flatten();
            continue;
        };
        if expansion.times_next {
            times_pending = true;
            // The `x` disappears; its space goes before the number instead
            // of the number's own.
            continue;
        }

        out.push_str(lead);
        out.push_str(&capitalise_like(core, &expansion.text));
        let trail = match trail.strip_prefix('.') {
            Some(rest) if expansion.takes_period => {
                if ends_sentence(rest, next_word) {
                    out.push('.');
                }
                rest
            }
            _ => trail,
        };
        out.push_str(trail);
        after_number = expansion.number_one.filter(|_| trail.is_empty());
    }
    out
}

/// Replaces every whole-word, case-insensitive occurrence of a respelled
/// word with its respelling, in one pass (a respelling is never respelled
/// again). Longer words win where two start at the same place, so
/// "adho mukha" can be respelled apart from "adho". Pronunciations without
/// a respelling are skipped.
pub fn respell(text: &str, pronunciations: &[Pronunciation]) -> String {
    let mut words: Vec<(Vec<char>, &str)> = pronunciations
        .iter()
        .filter_map(|p| {
            let respelling = p.respell.as_deref()?;
            let word: Vec<char> = p.word.trim().chars().flat_map(char::to_lowercase).collect();
            (!word.is_empty()).then_some((word, respelling))
        })
        .collect();
    if words.is_empty() {
        return text.to_string();
    }
    words.sort_by_key(|(word, _)| std::cmp::Reverse(word.len()));

    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    'scan: while let Some(c) = rest.chars().next() {
        if !prev.is_some_and(char::is_alphanumeric) {
            for (word, respelling) in &words {
                if let Some(end) = match_lowercase(rest, word)
                    && !rest[end..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric)
                {
                    out.push_str(respelling);
                    prev = rest[..end].chars().next_back();
                    rest = &rest[end..];
                    continue 'scan;
                }
            }
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Spells accented Latin letters and Sanskrit transliteration (IAST) in
/// plain ASCII, which is all the built-in voice reads: it silently drops any
/// other letter, so "Śavāsana" would lose its first sound. `ś` and `ṣ` become
/// `sh`, `ṛ` becomes `ri`, typographic quotes and dashes become ASCII; other
/// characters pass through.
pub fn fold_to_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let lower = c.to_lowercase().next().unwrap_or(c);
        let Some(plain) = fold_letter(lower) else {
            out.push(c);
            continue;
        };
        if c.is_uppercase() {
            let mut letters = plain.chars();
            if let Some(first) = letters.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(letters.as_str());
            }
        } else {
            out.push_str(plain);
        }
    }
    out
}

fn fold_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ḍ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ḥ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ḷ' => "l",
        'ṃ' | 'ṁ' => "m",
        'ñ' | 'ń' | 'ň' | 'ṅ' | 'ṇ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ṛ' | 'ṝ' => "ri",
        'ś' | 'ṣ' | 'š' | 'ş' => "sh",
        'ß' => "ss",
        'ť' | 'ṭ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        '\u{2018}' | '\u{2019}' => "'",
        '\u{201C}' | '\u{201D}' => "\"",
        '\u{2013}' => "-",
        _ => return None,
    })
}

/// A word and the whitespace before it.
struct Chunk<'a> {
    space: &'a str,
    word: &'a str,
}

fn split_chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let word_start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        let after = &rest[word_start..];
        let word_len = after.find(char::is_whitespace).unwrap_or(after.len());
        chunks.push(Chunk {
            space: &rest[..word_start],
            word: &after[..word_len],
        });
        rest = &after[word_len..];
    }
    chunks
}

const LEADING: &[char] = &['(', '[', '{', '"', '\'', '\u{201C}', '\u{2018}'];
const TRAILING: &[char] = &[
    '.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'', '\u{201D}', '\u{2019}',
];

/// `("(", "e.g", ".,")` for `(e.g.,`. The core keeps inner punctuation.
fn split_punctuation(word: &str) -> (&str, &str, &str) {
    let core_start = word.len() - word.trim_start_matches(LEADING).len();
    let (lead, rest) = word.split_at(core_start);
    let core = rest.trim_end_matches(TRAILING);
    (lead, core, &rest[core.len()..])
}

/// What a word becomes.
struct Expansion {
    text: String,
    /// Its full stop, if it has one, belongs to the abbreviation.
    takes_period: bool,
    /// It ends in a bare number (`Some(true)` if that number is 1), so a unit
    /// word after it is expanded.
    number_one: Option<bool>,
    /// It is an `x` before a number: drop it and say "times" after the number.
    times_next: bool,
}

impl Expansion {
    fn plain(text: String) -> Self {
        Expansion {
            text,
            takes_period: false,
            number_one: None,
            times_next: false,
        }
    }

    fn abbreviation(text: &str) -> Self {
        Expansion {
            takes_period: true,
            ..Expansion::plain(text.to_string())
        }
    }
}

/// A unit written after a number: its words and whether it is an
/// abbreviation that may carry a full stop.
struct Unit {
    singular: &'static str,
    abbreviation: bool,
}

fn unit(word: &str) -> Option<Unit> {
    let (singular, abbreviation) = match word {
        "min" | "mins" => ("minute", true),
        "sec" | "secs" => ("second", true),
        "s" => ("second", false),
        "hr" | "hrs" => ("hour", true),
        "x" | "×" => ("time", false),
        _ => return None,
    };
    Some(Unit {
        singular,
        abbreviation,
    })
}

fn plural(one: bool, singular: &str) -> String {
    if one {
        singular.to_string()
    } else {
        format!("{singular}s")
    }
}

/// The expansion of one word's core, or `None` to leave it alone: the
/// first of the rewrites below that applies.
fn expand(core: &str, after_number: Option<bool>, next_word: Option<&str>) -> Option<Expansion> {
    let lower = core.to_lowercase();
    ampersand(core)
        .or_else(|| abbreviation(&lower))
        .or_else(|| unit_word(&lower, after_number))
        .or_else(|| repetitions(&lower, next_word))
        .or_else(|| {
            let (first, rest) = leading_number(&lower)?;
            if rest.is_empty() {
                return None;
            }
            number_range(first, rest)
                .or_else(|| minutes_and_seconds(first, rest))
                .or_else(|| number_and_unit(first, rest))
        })
}

/// "&" → "and".
fn ampersand(core: &str) -> Option<Expansion> {
    (core == "&").then(|| Expansion::plain("and".to_string()))
}

/// "e.g", "i.e", "etc", "approx", "vs" (lowercase, without the full stop).
fn abbreviation(lower: &str) -> Option<Expansion> {
    let text = match lower {
        "e.g" => "for example",
        "i.e" => "that is",
        "etc" => "et cetera",
        "approx" => "approximately",
        "vs" => "versus",
        _ => return None,
    };
    Some(Expansion::abbreviation(text))
}

/// A unit word after a number ("5 min", "30 s", "8 x"), and "mins" and
/// "secs" anywhere.
fn unit_word(lower: &str, after_number: Option<bool>) -> Option<Expansion> {
    if let Some(one) = after_number
        && let Some(unit) = unit(lower)
    {
        return Some(Expansion {
            takes_period: unit.abbreviation,
            ..Expansion::plain(plural(one, unit.singular))
        });
    }
    match lower {
        "mins" => Some(Expansion::abbreviation("minutes")),
        "secs" => Some(Expansion::abbreviation("seconds")),
        _ => None,
    }
}

/// "x8", "×8": a count of repetitions; a lone "x" before a number ("x 8")
/// is dropped and "times" said after the number.
fn repetitions(lower: &str, next_word: Option<&str>) -> Option<Expansion> {
    let count = lower
        .strip_prefix('x')
        .or_else(|| lower.strip_prefix('×'))?;
    if let Some(n) = bare_integer(count) {
        return Some(Expansion::plain(format!(
            "{n} {}",
            plural(n == "1", "time")
        )));
    }
    let before_number = next_word.is_some_and(|w| bare_integer(split_punctuation(w).1).is_some());
    (count.is_empty() && before_number).then(|| Expansion {
        times_next: true,
        ..Expansion::plain(String::new())
    })
}

/// "3-5", "3–5" and "45-60s": the number `first`, then `rest`.
fn number_range(first: &str, rest: &str) -> Option<Expansion> {
    let after_dash = rest.strip_prefix(['-', '–'])?;
    let (second, unit_text) = leading_number(after_dash)?;
    if unit_text.is_empty() {
        return Some(Expansion {
            number_one: Some(false),
            ..Expansion::plain(format!("{first} to {second}"))
        });
    }
    let unit = unit_after(second, unit_text)?;
    Some(Expansion {
        takes_period: unit.abbreviation,
        ..Expansion::plain(format!(
            "{first} to {second} {}",
            plural(false, unit.singular)
        ))
    })
}

/// "1m30s".
fn minutes_and_seconds(first: &str, rest: &str) -> Option<Expansion> {
    let seconds = rest.strip_prefix('m')?;
    let (second, "s") = leading_number(seconds)? else {
        return None;
    };
    Some(Expansion::plain(format!(
        "{first} {} {second} {}",
        plural(first == "1", "minute"),
        plural(second == "1", "second")
    )))
}

/// "30s", "5min", "8x": a number with its unit written straight after it.
fn number_and_unit(first: &str, rest: &str) -> Option<Expansion> {
    let unit = unit_after(first, rest)?;
    Some(Expansion {
        takes_period: unit.abbreviation,
        ..Expansion::plain(format!("{first} {}", plural(first == "1", unit.singular)))
    })
}

/// The unit written straight after `number`, except a bare `s` after a
/// number of four digits or more: "1990s" is a decade, not seconds.
fn unit_after(number: &str, unit_text: &str) -> Option<Unit> {
    if unit_text == "s" && number.len() > 3 {
        return None;
    }
    unit(unit_text)
}

/// `("1.5", "min")` for `1.5min`: digits, optionally a decimal part, then
/// the rest. `None` if the text does not start with a digit.
fn leading_number(text: &str) -> Option<(&str, &str)> {
    let int_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if int_end == 0 {
        return None;
    }
    let mut end = int_end;
    if let Some(fraction) = text[int_end..].strip_prefix('.') {
        let digits = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if digits > 0 {
            end = int_end + 1 + digits;
        }
    }
    Some(text.split_at(end))
}

/// The word if it is a number and nothing else.
fn bare_number(core: &str) -> Option<&str> {
    leading_number(core).and_then(|(n, rest)| rest.is_empty().then_some(n))
}

fn bare_integer(core: &str) -> Option<&str> {
    (!core.is_empty() && core.chars().all(|c| c.is_ascii_digit())).then_some(core)
}

/// Whether a full stop followed by `rest` and then `next_word` ends a
/// sentence: nothing follows, or the next word starts with a capital.
fn ends_sentence(rest: &str, next_word: Option<&str>) -> bool {
    if !rest.is_empty() {
        // "etc.," or "min.)": the other mark carries the pause.
        return false;
    }
    match next_word {
        None => true,
        Some(word) => word
            .trim_start_matches(LEADING)
            .chars()
            .next()
            .is_some_and(char::is_uppercase),
    }
}

/// The expansion with a capital first letter if the word it replaces had one
/// ("E.g." → "For example").
fn capitalise_like(original: &str, expansion: &str) -> String {
    let starts_upper = original.chars().next().is_some_and(char::is_uppercase);
    let mut chars = expansion.chars();
    match chars.next() {
        Some(first) if starts_upper => first.to_uppercase().chain(chars).collect(),
        _ => expansion.to_string(),
    }
}

/// The byte length of the prefix of `text` whose lowercase is `word`.
fn match_lowercase(text: &str, word: &[char]) -> Option<usize> {
    let mut matched = 0;
    for (at, c) in text.char_indices() {
        if matched == word.len() {
            return Some(at);
        }
        for lower in c.to_lowercase() {
            if word.get(matched) != Some(&lower) {
                return None;
            }
            matched += 1;
        }
    }
    (matched == word.len()).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> String {
        normalize(text)
    }

    #[test]
    fn minutes() {
        assert_eq!(n("Hold for 5 min."), "Hold for 5 minutes.");
        assert_eq!(n("Hold 1 min, then rest"), "Hold 1 minute, then rest");
        assert_eq!(n("Rest 2 mins."), "Rest 2 minutes.");
        assert_eq!(n("Rest 5min"), "Rest 5 minutes");
        assert_eq!(n("a few mins"), "a few minutes");
        assert_eq!(
            n("Hold 5 min. Then release."),
            "Hold 5 minutes. Then release."
        );
        assert_eq!(n("Hold 5 min. then release"), "Hold 5 minutes then release");
        assert_eq!(n("(about 2 min.)"), "(about 2 minutes)");
    }

    #[test]
    fn seconds() {
        assert_eq!(n("30s"), "30 seconds");
        assert_eq!(n("Hold 30s."), "Hold 30 seconds.");
        assert_eq!(n("Hold 30 s."), "Hold 30 seconds.");
        assert_eq!(n("Hold 1 sec"), "Hold 1 second");
        assert_eq!(n("Hold 10 secs, breathe"), "Hold 10 seconds, breathe");
        assert_eq!(n("Hold 1.5secs"), "Hold 1.5 seconds");
        assert_eq!(n("1m30s"), "1 minute 30 seconds");
        assert_eq!(n("Hold 1m1s."), "Hold 1 minute 1 second.");
        assert_eq!(n("2 hrs"), "2 hours");
    }

    #[test]
    fn repetitions() {
        assert_eq!(n("x8"), "8 times");
        assert_eq!(n("8x"), "8 times");
        assert_eq!(n("Repeat ×8."), "Repeat 8 times.");
        assert_eq!(n("Repeat x 8."), "Repeat 8 times.");
        assert_eq!(n("x 8"), "8 times");
        assert_eq!(n("Repeat 8 x."), "Repeat 8 times.");
        assert_eq!(n("Once more, 1x"), "Once more, 1 time");
        assert_eq!(n("Repeat X8"), "Repeat 8 times");
    }

    #[test]
    fn ranges() {
        assert_eq!(n("3-5 breaths"), "3 to 5 breaths");
        assert_eq!(n("3–5 breaths"), "3 to 5 breaths");
        assert_eq!(n("45-60s"), "45 to 60 seconds");
        assert_eq!(n("Hold 3-5 min."), "Hold 3 to 5 minutes.");
        assert_eq!(n("2-3x"), "2 to 3 times");
    }

    #[test]
    fn symbols_and_latin_abbreviations() {
        assert_eq!(n("you & me"), "you and me");
        assert_eq!(n("e.g. a block"), "for example a block");
        assert_eq!(n("E.g., a block"), "For example, a block");
        assert_eq!(n("a strap (i.e. a belt)"), "a strap (that is a belt)");
        assert_eq!(n("blocks, straps, etc."), "blocks, straps, et cetera.");
        assert_eq!(n("blocks etc. Then rest"), "blocks et cetera. Then rest");
        assert_eq!(n("blocks, etc., then"), "blocks, et cetera, then");
        assert_eq!(n("approx. 3 breaths"), "approximately 3 breaths");
        assert_eq!(n("effort vs. ease"), "effort versus ease");
    }

    #[test]
    fn leaves_everything_else_alone() {
        for text in [
            "",
            "Inhale. Exhale.",
            "2nd side",
            "4-7-8 breathing",
            "the 1990s",
            "Minute by minute",
            "mind the sec",
            "x-ray vision",
            "box breath",
            "5 - 3",
            "3-step flow",
            "Step 3, s",
            "A mix of 2 and x",
            "Ujjayi. Breathe & relax!",
        ] {
            let expected = text.replace(" & ", " and ");
            assert_eq!(n(text), expected, "{text:?}");
        }
    }

    #[test]
    fn keeps_whitespace() {
        assert_eq!(n("  a  &\n\tb "), "  a  and\n\tb ");
        assert_eq!(n("5\nmin"), "5\nminutes");
    }

    fn say(word: &str, respell: &str) -> Pronunciation {
        Pronunciation {
            word: word.to_string(),
            respell: Some(respell.to_string()),
            phones: None,
        }
    }

    #[test]
    fn respells_whole_words_case_insensitively() {
        let list = [say("ujjayi", "oo-JYE-ee"), say("om", "ohm")];
        assert_eq!(
            respell("Ujjayi breath. UJJAYI, ujjayis, om, Om! mom", &list),
            "oo-JYE-ee breath. oo-JYE-ee, ujjayis, ohm, ohm! mom"
        );
        assert_eq!(respell("Ujjayi's", &list), "oo-JYE-ee's");
    }

    #[test]
    fn respells_phrases_longest_first_and_only_once() {
        let list = [
            say("adho", "AH-doh"),
            say("adho mukha", "AH-doh MOO-kuh"),
            say("a", "adho"),
        ];
        assert_eq!(
            respell("Adho Mukha, adho, a dog", &list),
            "AH-doh MOO-kuh, AH-doh, adho dog"
        );
    }

    #[test]
    fn respell_skips_entries_without_respelling() {
        let list = [Pronunciation {
            word: "ujjayi".into(),
            respell: None,
            phones: Some("uw0 jh ay1 iy0".into()),
        }];
        assert_eq!(respell("Ujjayi", &list), "Ujjayi");
    }

    #[test]
    fn bounds_words_in_linear_time() {
        assert_eq!(bound_words("a few words"), "a few words");
        let word = "🙏".repeat(250);
        let text = format!("x {word}.");
        let bounded = bound_words(&text);
        let words: Vec<usize> = bounded.split(' ').map(|w| w.chars().count()).collect();
        assert_eq!(words, [1, 100, 100, 51]);
        assert_eq!(bounded.replace(' ', ""), format!("x{word}."));
    }

    #[test]
    fn strips_control_characters() {
        assert_eq!(strip_controls("Breathe in."), "Breathe in.");
        assert_eq!(strip_controls("a\u{1}b\u{1b}[2Jc\nd\u{7f}"), "ab[2Jc\nd");
    }

    #[test]
    fn folds_iast_and_accents() {
        assert_eq!(fold_to_ascii("Śavāsana"), "Shavasana");
        assert_eq!(fold_to_ascii("Vṛkṣāsana"), "Vrikshasana");
        assert_eq!(fold_to_ascii("prāṇāyāma"), "pranayama");
        assert_eq!(fold_to_ascii("café – don’t"), "cafe - don't");
        assert_eq!(fold_to_ascii("🙏 ok"), "🙏 ok");
    }
}
