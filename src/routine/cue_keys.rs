//! The cue keys: one table of the keys of `[cues]`, of a step's
//! `cues = { … }` and of a cue setting given as `KEY=VALUE`, each with what
//! its value may be and the field of [`Cues`] it sets. The parser,
//! [`Routine::set_cue`](super::Routine::set_cue) and the error messages all
//! read it; a new cue is a field of [`Cues`] and a row here.

use super::parse::suggest;
use super::quantity::{Millis, parse_duration_span};
use super::{Bells, BreathCue, Countdown, Cues, HoldSound, NameCue};

/// One key of `[cues]`.
pub(super) struct CueKey {
    /// The key as written.
    pub(super) name: &'static str,
    /// What its value may be, and the field it sets.
    takes: Takes,
}

/// What a cue key's value may be.
enum Takes {
    /// `true` or `false`.
    Flag(fn(&mut Cues) -> &mut bool),
    /// Whole seconds (before a hold's end): one, or a list; `true` for the
    /// default, `false` for none.
    Seconds(fn(&mut Cues) -> &mut Vec<Millis>),
    /// One word of a list; `true` and `false` stand for two of them.
    Word(&'static dyn Choice),
}

/// Every cue key, in the order the README and the messages list them.
const TABLE: &[CueKey] = &[
    CueKey {
        name: "name",
        takes: Takes::Word(&Words {
            words: &[
                ("auto", NameCue::Unannounced),
                ("always", NameCue::Always),
                ("off", NameCue::Off),
            ],
            on_off: (NameCue::Unannounced, NameCue::Off),
            field: |c| &mut c.name,
        }),
    },
    CueKey::flag("next", |c| &mut c.next),
    CueKey::flag("halfway", |c| &mut c.halfway),
    CueKey {
        name: "remaining",
        takes: Takes::Seconds(|c| &mut c.remaining),
    },
    CueKey {
        name: "countdown",
        takes: Takes::Word(&Words {
            words: &[
                ("voice", Countdown::Voice),
                ("tick", Countdown::Tick),
                ("off", Countdown::Off),
            ],
            on_off: (Countdown::Voice, Countdown::Off),
            field: |c| &mut c.countdown,
        }),
    },
    CueKey::flag("release", |c| &mut c.release),
    CueKey::flag("switch", |c| &mut c.switch),
    CueKey {
        name: "bells",
        takes: Takes::Word(&Words {
            words: &[
                ("session", Bells::Session),
                ("steps", Bells::Steps),
                ("off", Bells::Off),
            ],
            on_off: (Bells::Session, Bells::Off),
            field: |c| &mut c.bells,
        }),
    },
    CueKey {
        name: "breath",
        takes: Takes::Word(&Words {
            words: &[
                ("voice", BreathCue::Voice),
                ("tone", BreathCue::Tone),
                ("both", BreathCue::Both),
                ("none", BreathCue::None),
            ],
            on_off: (BreathCue::Tone, BreathCue::None),
            field: |c| &mut c.breath,
        }),
    },
    CueKey {
        name: "hold_sound",
        takes: Takes::Word(&Words {
            words: &[("tone", HoldSound::Tone), ("silence", HoldSound::Silence)],
            on_off: (HoldSound::Tone, HoldSound::Silence),
            field: |c| &mut c.hold_sound,
        }),
    },
];

/// The keys of `[cues]`, of a step's `cues = { … }` and of `--cue KEY=VALUE`.
pub const CUE_KEYS: &[&str] = &names();

/// The names of [`TABLE`], in order.
const fn names() -> [&'static str; TABLE.len()] {
    let mut out = [""; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        out[i] = TABLE[i].name;
        i += 1;
    }
    out
}

/// A cue value from TOML or the command line.
pub(super) enum CueValue {
    Bool(bool),
    Str(String),
    List(Vec<String>),
}

impl CueKey {
    const fn flag(name: &'static str, field: fn(&mut Cues) -> &mut bool) -> Self {
        CueKey {
            name,
            takes: Takes::Flag(field),
        }
    }

    /// The key named `name`, if it is one.
    pub(super) fn find(name: &str) -> Option<&'static CueKey> {
        TABLE.iter().find(|k| k.name == name)
    }

    /// Whether the key takes a list of values.
    pub(super) fn takes_list(&self) -> bool {
        matches!(self.takes, Takes::Seconds(_))
    }

    /// Whether `word` is one of the key's words (so that `--cue bells=off`
    /// is the word "off", not `false`).
    fn has_word(&self, word: &str) -> bool {
        match self.takes {
            Takes::Word(choice) => choice.names().contains(&word),
            Takes::Flag(_) | Takes::Seconds(_) => false,
        }
    }

    /// Sets the cue in `cues`; the error is "what; fix".
    pub(super) fn set(&self, cues: &mut Cues, value: CueValue) -> Result<(), String> {
        let key = self.name;
        match self.takes {
            Takes::Flag(field) => {
                *field(cues) = match value {
                    CueValue::Bool(b) => b,
                    CueValue::Str(s) => {
                        return Err(format!(
                            "`{key} = \"{s}\"` must be true or false; write `{key} = true` or `{key} = false` without quotes"
                        ));
                    }
                    CueValue::List(_) => {
                        return Err(format!(
                            "`{key}` must be true or false; write `{key} = false`"
                        ));
                    }
                };
            }
            Takes::Seconds(field) => *field(cues) = seconds(key, value, field)?,
            Takes::Word(choice) => choice.set(cues, key, value)?,
        }
        Ok(())
    }
}

/// The whole seconds of a [`Takes::Seconds`] key, longest first; `true` is
/// the field's default.
fn seconds(
    key: &str,
    value: CueValue,
    field: fn(&mut Cues) -> &mut Vec<Millis>,
) -> Result<Vec<Millis>, String> {
    let list = match value {
        CueValue::Bool(false) => Vec::new(),
        CueValue::Bool(true) => return Ok(field(&mut Cues::default()).clone()),
        CueValue::Str(s) => vec![s],
        CueValue::List(l) => l,
    };
    let mut out = Vec::new();
    for s in list {
        let d =
            parse_duration_span(&s).map_err(|e| format!("`{key}`: {}; {}", e.message, e.help))?;
        if d.lo != d.hi || d.lo < 1_000 || d.lo % 1_000 != 0 || d.lo > 600_000 {
            return Err(format!(
                "`{key} = \"{s}\"` must be whole seconds from 1s to 10 min; write e.g. \"10s\" or [\"30s\", \"10s\"]"
            ));
        }
        out.push(d.lo);
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    Ok(out)
}

/// A [`Takes::Word`] key's words, whatever type they stand for.
trait Choice {
    /// The words, in order.
    fn names(&self) -> Vec<&'static str>;
    /// Sets the field from a word or `true`/`false`; the error is "what; fix".
    fn set(&self, cues: &mut Cues, key: &str, value: CueValue) -> Result<(), String>;
}

/// The words of a choice, the values they stand for, and its field.
struct Words<T: 'static> {
    words: &'static [(&'static str, T)],
    /// What `true` and `false` stand for.
    on_off: (T, T),
    field: fn(&mut Cues) -> &mut T,
}

impl<T: Copy> Choice for Words<T> {
    fn names(&self) -> Vec<&'static str> {
        self.words.iter().map(|(n, _)| *n).collect()
    }

    fn set(&self, cues: &mut Cues, key: &str, value: CueValue) -> Result<(), String> {
        let quoted = || {
            self.names()
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        *(self.field)(cues) = match value {
            CueValue::Bool(true) => self.on_off.0,
            CueValue::Bool(false) => self.on_off.1,
            CueValue::Str(s) => match self.words.iter().find(|(n, _)| n.eq_ignore_ascii_case(&s)) {
                Some((_, v)) => *v,
                None => {
                    let hint = suggest(&s, &self.names())
                        .map_or(String::new(), |n| format!("did you mean \"{n}\"? "));
                    return Err(format!(
                        "`{key} = \"{s}\"` is not a choice; {hint}use {}",
                        quoted()
                    ));
                }
            },
            CueValue::List(_) => {
                return Err(format!("`{key}` takes one value; use {}", quoted()));
            }
        };
        Ok(())
    }
}

/// Applies `KEY=VALUE` from the command line: `true`/`on`/`yes` and
/// `false`/`off`/`no` are true and false (unless they are one of the key's
/// words), a list key splits its value at commas.
pub(super) fn apply_cue_setting(cues: &mut Cues, key: &str, value: &str) -> Result<(), String> {
    let Some(cue) = CueKey::find(key) else {
        let hint =
            suggest(key, CUE_KEYS).map_or(String::new(), |s| format!("did you mean `{s}`? "));
        return Err(format!(
            "unknown cue `{key}`: {hint}the cues are {}",
            CUE_KEYS.join(", ")
        ));
    };
    let lower = value.to_ascii_lowercase();
    let v = match lower.as_str() {
        "true" | "on" | "yes" => CueValue::Bool(true),
        "false" | "off" | "no" if !cue.has_word("off") => CueValue::Bool(false),
        _ if cue.takes_list() => {
            CueValue::List(value.split(',').map(|s| s.trim().to_string()).collect())
        }
        _ => CueValue::Str(value.to_string()),
    };
    cue.set(cues, v)
        .map_err(|e| format!("{key}={value}: {}", e.replace("; ", ": ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cue_settings_from_the_command_line() {
        let mut c = Cues::default();
        apply_cue_setting(&mut c, "halfway", "off").unwrap();
        assert!(!c.halfway);
        apply_cue_setting(&mut c, "breath", "both").unwrap();
        assert_eq!(c.breath, BreathCue::Both);
        apply_cue_setting(&mut c, "remaining", "10s,30s").unwrap();
        assert_eq!(c.remaining, vec![30_000, 10_000]);
        apply_cue_setting(&mut c, "countdown", "off").unwrap();
        assert_eq!(c.countdown, Countdown::Off);
        let e = apply_cue_setting(&mut c, "halfwya", "off").unwrap_err();
        assert!(e.contains("did you mean `halfway`"), "{e}");
        let e = apply_cue_setting(&mut c, "bells", "loud").unwrap_err();
        assert!(e.contains("\"session\", \"steps\", \"off\""), "{e}");
    }

    #[test]
    fn the_table_names_every_cue_once_in_order() {
        assert_eq!(
            CUE_KEYS,
            [
                "name",
                "next",
                "halfway",
                "remaining",
                "countdown",
                "release",
                "switch",
                "bells",
                "breath",
                "hold_sound"
            ]
        );
    }

    #[test]
    fn on_and_off_reach_every_field_of_the_cues() {
        let mut on = Cues::default();
        let mut off = Cues::default();
        for key in CUE_KEYS {
            apply_cue_setting(&mut off, key, "false")
                .or_else(|_| apply_cue_setting(&mut off, key, "off"))
                .unwrap();
            apply_cue_setting(&mut on, key, "on").unwrap();
        }
        assert_eq!(on, Cues::default());
        assert_eq!(
            off,
            Cues {
                name: NameCue::Off,
                next: false,
                halfway: false,
                remaining: vec![],
                countdown: Countdown::Off,
                release: false,
                switch: false,
                bells: Bells::Off,
                breath: BreathCue::None,
                hold_sound: HoldSound::Silence,
            }
        );
    }

    #[test]
    fn off_is_a_word_where_a_key_has_it_and_false_elsewhere() {
        let mut c = Cues::default();
        apply_cue_setting(&mut c, "breath", "no").unwrap();
        assert_eq!(c.breath, BreathCue::None);
        let e = apply_cue_setting(&mut c, "countdown", "false").unwrap_err();
        assert_eq!(
            e,
            "countdown=false: `countdown = \"false\"` is not a choice: use \"voice\", \"tick\", \"off\""
        );
        let e = apply_cue_setting(&mut c, "release", "maybe").unwrap_err();
        assert_eq!(
            e,
            "release=maybe: `release = \"maybe\"` must be true or false: write `release = true` or `release = false` without quotes"
        );
        apply_cue_setting(&mut c, "name", "always").unwrap();
        assert_eq!(c.name, NameCue::Always);
        let e = apply_cue_setting(&mut c, "remaining", "3.5s").unwrap_err();
        assert!(
            e.starts_with("remaining=3.5s: `remaining = \"3.5s\"` must be whole seconds"),
            "{e}"
        );
    }
}
