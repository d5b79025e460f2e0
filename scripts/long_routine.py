#!/usr/bin/env python3
"""Write a long, valid vinyasa routine (about 2 hours by default) for benchmarks.

The routine is built from cycles of six steps that use every kind of step the
format has: a hold on both sides, a hold counted in breaths with on_inhale and
on_exhale phrases, a breath-led flow with rounds, counted reps with a tempo, a
hold repeated with rests, and a rest with sparse prompts. Each cycle opens its
instructions with its own set number, so long instructions are not repeated
word for word (a real two-hour class does not say the same paragraph twelve
times), while the short words ("Release.", "Lift.") repeat as they do in life.

The output is deterministic: the same arguments give the same file.

    scripts/long_routine.py                   # ~120 minutes to stdout
    scripts/long_routine.py --minutes 30 -o /tmp/half-hour.toml

Check the result with `vinyasa check FILE`; `vinyasa plan FILE` gives its
exact length for the voice that will speak it.
"""

import argparse
import json
import sys

# Seconds each kind of step lasts in a cycle, measured with `vinyasa plan`
# (flite voice, level standard); used only to choose where to stop so the
# session comes close to the wanted length. Flows differ by variant.
SIDE_SECONDS, BREATH_SECONDS, REPS_SECONDS, REPEATED_SECONDS, REST_SECONDS = (
    120.0, 137.0, 91.0, 178.0, 137.0)
FLOW_SECONDS = [98.0, 177.0, 97.0]
# The welcome and closing steps together.
FRAME_SECONDS = 35.0
# The format limits a session to 4 hours; the estimate can be a minute short.
MAX_MINUTES = 235

NUMBERS = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    "seventeen", "eighteen", "nineteen", "twenty", "twenty-one", "twenty-two",
    "twenty-three", "twenty-four", "twenty-five", "twenty-six", "twenty-seven",
    "twenty-eight", "twenty-nine", "thirty",
]

# Each kind of step has a few variants; cycle n takes variant n mod len.
SIDE_HOLDS = [
    ("Lat stretch", ["right arm", "left arm"],
     "Stand beside a door frame and grip it with one hand. "
     "Sink your hips back until you feel the side of your back lengthen."),
    ("Low lunge", ["right leg forward", "left leg forward"],
     "Step one foot forward between your hands and lower the back knee. "
     "Let your hips sink forward and down, keeping the front knee over the ankle."),
    ("Seated twist", True,
     "Sit tall with your legs crossed. "
     "Place one hand behind you and the other on the opposite knee, and turn gently."),
    ("Figure four", ["right ankle", "left ankle"],
     "Lie on your back and cross one ankle over the opposite knee. "
     "Draw both legs toward you until you feel the outer hip open."),
]

BREATH_HOLDS = [
    ("Breathing into the back",
     "Sit comfortably and close your eyes. Let the breath slow down on its own.",
     ["Feel the ribs widen as you breathe in.",
      "Breathe into the back of the ribs.",
      "Let the breath reach the tight places."],
     ["Let the shoulders drop.", "Soften the belly."]),
    ("Sphinx",
     "Lie on your front and come up onto your forearms, elbows under your shoulders.",
     ["Lengthen through the crown of the head.",
      "Breathe into the lower back.",
      "Let the chest open forward."],
     ["Let the legs grow heavy.", "Relax the jaw."]),
    ("Supported bridge",
     "Lie on your back, lift your hips and slide a block under your sacrum.",
     ["Feel the front of the hips open.",
      "Breathe into the belly.",
      "Let the breath spread across the chest."],
     ["Let the back of the shoulders melt.", "Release the buttocks."]),
]

FLOWS = [
    ("Cat-cow",
     "Come onto all fours, hands under your shoulders and knees under your hips.",
     [("inhale", "Lift your head and tailbone.", "Lift."),
      ("exhale", "Round your back up toward the ceiling.", "Round.")]),
    ("Mini suns",
     "Stand with your feet together and your palms together at your chest.",
     [("inhale", "Reach both arms up.", "Reach up."),
      ("exhale", "Bend your knees and fold down.", "Fold."),
      ("inhale", "Roll up slowly.", "Roll up."),
      ("exhale", "Hands back to your chest.", "Hands to chest.")]),
    ("Thread the needle flow",
     "Come onto all fours with your knees under your hips.",
     [("inhale", "Open one arm up toward the ceiling.", "Open."),
      ("exhale", "Thread that arm under the other one.", "Thread.")]),
]

REPS = [
    ("Shoulder blade squeeze",
     "Sit or stand tall, arms by your sides.",
     [("Breathe in and squeeze your shoulder blades together.", "Squeeze.", "5s"),
      ("Let go, and relax.", "Relax.", "2s")]),
    ("Pelvic tilt",
     "Lie on your back with your knees bent and your feet flat.",
     [("Press your lower back into the floor.", "Press.", "4s"),
      ("Let the back return to neutral.", "Release.", "2s")]),
]

REPEATED_HOLDS = [
    ("Downward-facing dog",
     "Come onto your hands and knees, walk your hands forward, and lift your hips up and back.",
     "Lower your knees and rest.", "Lift your hips up and back again."),
    ("Deep squat",
     "Stand with your feet wide and sink into a squat as deep as is comfortable.",
     "Stand up and rest.", "Sink back down into your squat."),
    ("Plank",
     "Come onto your hands and toes, with a long line from head to heels.",
     "Lower your knees and rest.", "Lift back into your plank."),
]

RESTS = [
    ("Rest on the back",
     "Lie flat on your back and let your whole body be heavy.",
     ["Let the floor take your weight.", "Feel the breath move the belly.", "Just rest."]),
    ("Child's pose",
     "Kneel, sit your hips back toward your heels and fold forward.",
     ["Let the forehead rest.", "Feel the back widen as you breathe.", "Nothing to do now."]),
]


def q(text):
    """A TOML basic string (JSON's escapes are valid TOML for this text)."""
    return json.dumps(text)


def step(n, name, say, body):
    """A [[step]] table of cycle n; its instructions open with the set number."""
    set_words = "Set {}.".format(NUMBERS[n % len(NUMBERS)].capitalize())
    return "[[step]]\nname = {}\nsay = {}\n{}".format(
        q(name), q("{} {}".format(set_words, say)), body)


def strings(items):
    return "[{}]".format(", ".join(q(i) for i in items))


def cycle_steps(n):
    """Cycle n (0-based): six steps, each as (TOML, estimated seconds)."""
    out = []

    name, sides, say = SIDE_HOLDS[n % len(SIDE_HOLDS)]
    sides = "true" if sides is True else strings(sides)
    body = "hold = \"45s\"\nsides = {}\n".format(sides)
    out.append((step(n, name, say, body), SIDE_SECONDS))

    name, say, inhales, exhales = BREATH_HOLDS[n % len(BREATH_HOLDS)]
    body = "breaths = \"10-14\"\non_inhale = {}\non_exhale = {}\n".format(
        strings(inhales), strings(exhales))
    out.append((step(n, name, say, body), BREATH_SECONDS))

    name, say, moves = FLOWS[n % len(FLOWS)]
    flow = "".join(
        "  {{ {} = {}, then = {} }},\n".format(breath, q(words), q(then))
        for breath, words, then in moves)
    body = "flow = [\n{}]\nrounds = \"6-10\"\ncues = {{ breath = \"both\" }}\n".format(flow)
    out.append((step(n, name, say, body), FLOW_SECONDS[n % len(FLOWS)]))

    name, say, moves = REPS[n % len(REPS)]
    flow = "".join(
        "  {{ say = {}, then = {}, time = {} }},\n".format(q(words), q(then), q(time))
        for words, then, time in moves)
    body = "flow = [\n{}]\nrounds = \"5-8\"\ncount = true\n".format(flow)
    out.append((step(n, name, say, body), REPS_SECONDS))

    name, say, rest_say, again = REPEATED_HOLDS[n % len(REPEATED_HOLDS)]
    body = ("hold = \"30-45s\"\nrepeat = 3\nrest = \"15s\"\nrest_say = {}\n"
            "again = {}\n".format(q(rest_say), q(again)))
    out.append((step(n, name, say, body), REPEATED_SECONDS))

    name, say, prompts = RESTS[n % len(RESTS)]
    body = ("hold = \"2 min\"\nprompts = {}\n"
            "cues = {{ halfway = false, remaining = false, countdown = \"off\" }}\n"
            "release = \"Slowly come back to the breath.\"\n".format(strings(prompts)))
    out.append((step(n, name, say, body), REST_SECONDS))
    return out


def routine(minutes):
    """The routine's TOML: whole cycles, then steps of the next cycle, for as
    long as each step brings the estimated length closer to `minutes`."""
    target = minutes * 60.0
    steps, seconds, n = [], FRAME_SECONDS, 0
    while True:
        for text, estimate in cycle_steps(n):
            if abs(seconds + estimate - target) >= abs(seconds - target):
                break
            steps.append(text)
            seconds += estimate
        else:
            n += 1
            continue
        break
    header = (
        "# Generated by scripts/long_routine.py --minutes {}: a benchmark routine\n"
        "# of {} steps. Do not edit; generate it again.\n\n"
        "title = {}\n"
        "description = \"A long generated session for benchmarks.\"\n"
        "language = \"en\"\n"
        "transition = \"3s\"\n\n"
        "[breath]\ninhale = \"4s\"\nexhale = \"6s\"\n\n"
        "[cues]\nbreath = \"tone\"\nbells = \"steps\"\n".format(
            minutes, len(steps) + 2, q("Long practice ({} minutes)".format(minutes))))
    welcome = (
        "[[step]]\nname = \"Welcome\"\n"
        "say = \"Welcome to this long practice. [1s] Move slowly, and rest whenever you need to.\"\n"
        "pause = \"1s\"\n")
    closing = (
        "[[step]]\nname = \"Closing\"\n"
        "say = \"Roll onto your side and press yourself up to sitting. [2s] "
        "Thank you for practising.\"\n")
    return "\n".join([header, welcome] + steps + [closing])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=120,
                        help="about how long the session should last (default 120)")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")
    args = parser.parse_args()
    if not 1 <= args.minutes <= MAX_MINUTES:
        parser.error("--minutes must be between 1 and {} (a session lasts at most 4 hours), "
                     "got {}".format(MAX_MINUTES, args.minutes))
    text = routine(args.minutes)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
