#!/usr/bin/env python3
"""Turn `vinyasa plan --json` into the reference pipeline's input.

    vinyasa plan --json ROUTINE | scripts/phrases.py PHRASES

Writes PHRASES, one spoken phrase a line: its start in seconds, a tab, its
text (the cues with kind.type == "speech", in time order). Prints
"TOTAL_SECONDS RATE PHRASES DISTINCT_PHRASES" on stdout for scripts/espeak_sox_pipeline.sh.
"""

import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: vinyasa plan --json ROUTINE | scripts/phrases.py PHRASES")
    try:
        plan = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        sys.exit("phrases.py: stdin is not `vinyasa plan --json` output: {}".format(e))
    if plan.get("schema") != "vinyasa.plan/1":
        sys.exit("phrases.py: expected schema vinyasa.plan/1, got {!r}".format(
            plan.get("schema")))
    speech = sorted(
        (c for c in plan["cues"] if c["kind"]["type"] == "speech"),
        key=lambda c: c["start"])
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        for cue in speech:
            # One line per phrase: a tab or newline in the text would split it.
            text = " ".join(cue["text"].split())
            f.write("{:.6f}\t{}\n".format(cue["start_seconds"], text))
    distinct = len({cue["text"] for cue in speech})
    print("{:.6f} {} {} {}".format(plan["total_seconds"], plan["rate"], len(speech), distinct))


if __name__ == "__main__":
    main()
