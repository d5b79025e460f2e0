//! How yoga words are said, for the built-in voice's lexicon.
//!
//! flite's dictionary has none of these words, and its letter-to-sound
//! rules read them as English: "ujjayi" comes out "uh-jah-ee", "asana" as
//! "ah-SAN-uh", "om" as "um", "hatha" with the "th" of "that". Each entry
//! below was checked against flite's own reading (`Engine::phones`) and is
//! here because that reading was wrong (or unstressed); the pronunciations are the
//! anglicised ones yoga teachers use in English (stress on the next-to-last
//! syllable of a pose name: "shuh-VAH-suh-nuh").
//!
//! Phones are flite's ARPAbet: vowels take stress `1` (stressed) or `0`;
//! `ax` is the unstressed schwa. A routine's `[pronounce]` table can add or
//! override words with the same notation.

/// Built-in pronunciations: (word, phones). Words are lowercase and single.
pub const YOGA_WORDS: &[(&str, &str)] = &[
    // Breath, sounds and ideas.
    ("ahimsa", "ax hh ih1 m s aa0"),
    ("bandha", "b aa1 n d ax"),
    ("bhramari", "b r aa0 m aa1 r iy0"),
    ("chakra", "ch aa1 k r ax"),
    ("hatha", "hh aa1 t ax"),
    ("kapalabhati", "k aa0 p ax l ax b aa1 t iy0"),
    ("mudra", "m uw1 d r ax"),
    ("nadi", "n aa1 d iy0"),
    ("namaskar", "n ax m ax s k aa1 r"),
    ("namaste", "n aa1 m ax s t ey0"),
    ("om", "ow1 m"),
    ("prana", "p r aa1 n ax"),
    ("pranayama", "p r aa0 n ax y aa1 m ax"),
    ("shanti", "sh aa1 n t iy0"),
    ("shodhana", "sh ow1 d ax n ax"),
    ("surya", "s uh1 r y ax"),
    ("ujjayi", "uw0 jh ay1 iy0"),
    ("vinyasa", "v ih0 n y aa1 s ax"),
    // Words that name parts of poses.
    ("adho", "aa1 d ow0"),
    ("ardha", "aa1 r d ax"),
    ("baddha", "b aa1 d ax"),
    ("eka", "ey1 k ax"),
    ("janu", "jh aa1 n uw0"),
    ("mukha", "m uw1 k ax"),
    ("parivrtta", "p aa0 r iy0 v r ih1 t ax"),
    ("salamba", "s aa0 l aa1 m b ax"),
    ("setu", "s ey1 t uw0"),
    ("supta", "s uw1 p t ax"),
    ("upavistha", "uw0 p ax v iy1 sh t ax"),
    ("utthita", "uw0 t iy1 t ax"),
    // Poses.
    ("asana", "aa1 s ax n ax"),
    ("anjaneyasana", "aa0 n jh ax n ey0 aa1 s ax n ax"),
    ("balasana", "b aa0 l aa1 s ax n ax"),
    ("bhujangasana", "b uw0 jh aa0 ng g aa1 s ax n ax"),
    ("bitilasana", "b iy0 t iy0 l aa1 s ax n ax"),
    ("chaturanga", "ch aa0 t ax r aa1 ng g ax"),
    ("dandasana", "d aa0 n d aa1 s ax n ax"),
    ("dhanurasana", "d aa0 n uw0 r aa1 s ax n ax"),
    ("garudasana", "g aa0 r uw0 d aa1 s ax n ax"),
    ("gomukhasana", "g ow0 m uw0 k aa1 s ax n ax"),
    ("halasana", "hh aa0 l aa1 s ax n ax"),
    ("kapotasana", "k aa0 p ow0 t aa1 s ax n ax"),
    ("konasana", "k ow0 n aa1 s ax n ax"),
    ("malasana", "m aa0 l aa1 s ax n ax"),
    ("marjaryasana", "m aa0 r jh aa0 r iy0 aa1 s ax n ax"),
    ("matsyasana", "m aa0 t s iy0 aa1 s ax n ax"),
    ("navasana", "n aa0 v aa1 s ax n ax"),
    ("parsvakonasana", "p aa0 r sh v ax k ow0 n aa1 s ax n ax"),
    (
        "paschimottanasana",
        "p aa0 sh ih0 m ow0 t aa0 n aa1 s ax n ax",
    ),
    ("sarvangasana", "s aa0 r v aa0 ng g aa1 s ax n ax"),
    ("savasana", "sh ax v aa1 s ax n ax"),
    ("shavasana", "sh ax v aa1 s ax n ax"),
    ("sirsasana", "sh ih0 r sh aa1 s ax n ax"),
    ("sukhasana", "s uw0 k aa1 s ax n ax"),
    ("svanasana", "sh v aa0 n aa1 s ax n ax"),
    ("tadasana", "t aa0 d aa1 s ax n ax"),
    ("trikonasana", "t r ih0 k ow0 n aa1 s ax n ax"),
    ("ustrasana", "uw0 sh t r aa1 s ax n ax"),
    ("utkatasana", "uw0 t k ax t aa1 s ax n ax"),
    ("uttanasana", "uw0 t aa0 n aa1 s ax n ax"),
    ("virabhadrasana", "v ih0 r ax b ax d r aa1 s ax n ax"),
    ("vrikshasana", "v r ih0 k sh aa1 s ax n ax"),
    ("vrksasana", "v r ih0 k sh aa1 s ax n ax"),
];

/// English words flite's `kal16` says so that listeners hear another word:
/// (word, phones). flite's own dictionary has them right on paper, but the
/// diphones of this small voice blur the vowel ("release" comes out as
/// "relays", "floor" as "flower", "sun" as "sin"), so each entry leans on
/// a longer or clearer vowel.
///
/// Each was chosen by its samples: sentences from routines, spoken with and
/// without the entry and transcribed by an outside recogniser (Whisper,
/// `faster-whisper` with a small English model), on sentences written for
/// the choice and again on sentences held out from it
/// (`scripts/flite_words.py`). The listed words were heard right in 27 of
/// 42 tuning sentences with these entries and 17 without, and in 10 of 14
/// held-out sentences against 7; the word error over all spoken phrases
/// fell from 15.9% to 14.0% on mid-back, 21.6% to 20.4% on sun-salutation
/// and 7.1% to 6.0% on childs-pose. "release" ends on one `s`: a doubled
/// one was heard a little more often but its hiss overshot the MP3 peak
/// limit. "mat" and "two" were already heard right (5 and 6 of 6) and are
/// not here; no spelling of "lat" did better than flite's own (see that
/// script's notes).
pub const CLEARER_WORDS: &[(&str, &str)] = &[
    ("floor", "f l ao1 ao0 r"),
    ("release", "r ih0 l ih1 iy0 s"),
    ("salutation", "s ae1 l y uw0 t ey1 sh ax n"),
    ("sun", "s aa1 n"),
    ("widen", "w ay1 d d n n"),
];

/// The phones in flite's spelling: lowercase (the CMU dictionary writes
/// `UW1`), and secondary stress `2`, which flite's lexicon does not have,
/// read as unstressed `0`, as flite's own dictionary build does.
pub fn flite_phones(phones: &str) -> String {
    phones
        .split_whitespace()
        .map(|phone| {
            let phone = phone.to_ascii_lowercase();
            match phone.strip_suffix('2') {
                Some(vowel) => format!("{vowel}0"),
                None => phone,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercase_single_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (word, phones) in YOGA_WORDS.iter().chain(CLEARER_WORDS) {
            assert!(word.chars().all(|c| c.is_ascii_lowercase()), "{word}");
            assert!(seen.insert(word), "{word} twice");
            assert_eq!(flite_phones(phones), *phones, "{word}");
        }
    }

    #[test]
    fn cmu_spelling_is_accepted() {
        assert_eq!(flite_phones(" UW1  JH AY2 IY0 "), "uw1 jh ay0 iy0");
    }
}
