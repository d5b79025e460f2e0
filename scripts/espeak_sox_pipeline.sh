#!/usr/bin/env bash
# The reference pipeline, as people build it by hand today: the espeak-ng
# program speaks each phrase to its own WAV file, then sox joins the clips
# with silence so each one starts at its planned time.
#
#   scripts/espeak_sox_pipeline.sh PHRASES TOTAL_SECONDS RATE OUT.wav
#
# PHRASES has one phrase a line: its start in seconds, a tab, its text (what
# scripts/phrases.py writes from `vinyasa plan --json`). The output is a
# 16-bit mono WAV at RATE lasting TOTAL_SECONDS, like `vinyasa export`'s.
#
# It is written the plain way on purpose, to be a fair reference: one
# espeak-ng process per phrase, one sox per clip to put the silence before
# it, one sox to join everything and convert to the output rate. It does less
# than vinyasa (no bells, breath tones, fades or loudness), which only
# favours it. The arithmetic is in whole samples with bash integers, so no
# process is spent on it.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 PHRASES TOTAL_SECONDS RATE OUT.wav" >&2
    exit 2
fi
phrases=$1 total=$2 rate=$3 out=$4

# Seconds written as decimals ("12.554014") to whole microseconds.
micros() {
    local whole=${1%%.*} frac=
    [ "$whole" = "$1" ] || frac=${1#*.}
    frac=${frac}000000
    echo $((10#${whole:-0} * 1000000 + 10#${frac:0:6}))
}

work=$(mktemp -d "$(dirname "$out")/pipeline.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=0          # clips so far
pos=0        # samples written so far, at the clips' rate
clip_rate=   # espeak-ng's rate, read from the first clip
segments=()
while IFS=$'\t' read -r start text; do
    n=$((n + 1))
    clip=$work/clip$n.wav
    espeak-ng -w "$clip" -- "$text"
    [ -n "$clip_rate" ] || clip_rate=$(soxi -r "$clip")
    at=$(($(micros "$start") * clip_rate / 1000000))
    # A clip that ran past the next start pushes that one later.
    pad=$((at > pos ? at - pos : 0))
    sox "$clip" "$work/seg$n.wav" pad "${pad}s"
    pos=$((pos + pad + $(soxi -s "$clip")))
    segments+=("$work/seg$n.wav")
done <"$phrases"

if [ "$n" -eq 0 ]; then
    echo "$0: $phrases has no phrases" >&2
    exit 1
fi
end=$(($(micros "$total") * clip_rate / 1000000))
tail=$((end > pos ? end - pos : 0))
sox "${segments[@]}" -r "$rate" "$out" pad 0 "${tail}s"
