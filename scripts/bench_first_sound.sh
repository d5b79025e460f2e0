#!/usr/bin/env bash
# Time to first sound of `vinyasa play` with a Piper voice from a cold cache,
# on the generated 2-hour routine, side by side with what speaking every
# phrase first (the way `play` worked before, and `export` still does)
# takes. No sound card needed: `play` plays into an ALSA file device.
#
#   scripts/bench_first_sound.sh [--minutes N] [--runs N] [--full] [--no-build]
#
# Needs Piper: `vinyasa voices install joe` (or VINYASA_PIPER_PYTHON).
# For each of --runs runs (the median is shown), each from an empty cache:
#   speak first   `vinyasa plan R --engine piper --cache-dir EMPTY`: every
#                 phrase spoken and the session planned, before any sound
#   first sound   `vinyasa play R --engine piper --cache-dir EMPTY`: seconds
#                 from its start until the first sample that is not zero
#                 reaches the device; then it is stopped (SIGTERM)
#   bare piper    `python -m piper -m MODEL -f OUT.wav` speaking the
#                 session's first phrase alone: Piper's own start and first
#                 clip, the floor under the first sound
# With --full, one more cold `play` runs to the end of the session (the file
# device takes sound faster than real time, so it lasts about as long as
# the speaking), for its peak memory (the largest process, Piper's Python
# included) and its wall time.
set -euo pipefail

minutes=120 runs=3 full=0 build=1
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=${2:?--minutes needs a number}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --full) full=1 ;;
    --no-build) build=0 ;;
    -h | --help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "bench_first_sound.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=scripts/piper_bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/piper_bench_env.sh"

routine=$work/long-${minutes}min.toml
scripts/long_routine.py --minutes "$minutes" -o "$routine"
mkdir -p "$work/home"
printf 'pcm.!default { type file; slave.pcm "null"; file "%s"; format "raw" }\n' \
    "$work/device.raw" >"$work/home/.asoundrc"

# first_sound: seconds until the device gets a sample that is not zero.
first_sound() {
    rm -rf "$work/cache" "$work/device.raw"
    HOME=$work/home python3 - "$bin" "$routine" "$work/cache" "$work/device.raw" <<'EOF'
import os, signal, subprocess, sys, time
bin, routine, cache, raw = sys.argv[1:]
start = time.monotonic()
play = subprocess.Popen([bin, "play", routine, "--engine", "piper", "--plain",
                         "--cache-dir", cache],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
heard, seen = None, 0
while heard is None and play.poll() is None:
    try:
        with open(raw, "rb") as f:
            f.seek(seen)
            data = f.read()
        if any(data):
            heard = time.monotonic() - start
        seen += len(data)
    except FileNotFoundError:
        pass
    time.sleep(0.005)
play.send_signal(signal.SIGTERM)
_, err = play.communicate()
if heard is None:
    sys.exit("no sound reached the device:\n" + err.decode())
print(f"{heard:.2f}")
EOF
}

speak_first() {
    rm -rf "$work/cache"
    /usr/bin/time -f '%e' -o "$work/time" "$bin" plan "$routine" --engine piper \
        --cache-dir "$work/cache" >/dev/null 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
    cat "$work/time"
}

bare_first() {
    local first
    first=$("$bin" plan --json --engine flite --no-cache "$routine" 2>/dev/null |
        python3 -c 'import json, sys; print(next(c["text"] for c in json.load(sys.stdin)["cues"] if c["kind"]["type"] == "speech"))')
    echo "$first" | /usr/bin/time -f '%e' -o "$work/time" "$python" -m piper -m "$model" \
        -f "$work/first.wav" >/dev/null 2>&1
    cat "$work/time"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

before=() after=() bare=()
for _ in $(seq "$runs"); do
    before+=("$(speak_first)")
    after+=("$(first_sound)")
    bare+=("$(bare_first)")
done
b=$(printf '%s\n' "${before[@]}" | median)
a=$(printf '%s\n' "${after[@]}" | median)
p=$(printf '%s\n' "${bare[@]}" | median)

printf '| routine | speak every phrase first (before) | first sound of `play` (now) | bare piper, first phrase | target |\n'
printf '|---|---|---|---|---|\n'
printf '| %s min generated, cold cache, Piper | %.2f s | %.2f s | %.2f s | < 2 s |\n' \
    "$minutes" "$b" "$a" "$p"
echo "runs: before ${before[*]}; now ${after[*]}; bare ${bare[*]} (median of $runs); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$full" = 1 ]; then
    rm -rf "$work/cache" "$work/device.raw"
    HOME=$work/home /usr/bin/time -f '%e %M' -o "$work/time" "$bin" play "$routine" \
        --engine piper --plain --cache-dir "$work/cache" >/dev/null 2>"$work/log" ||
        { cat "$work/log" >&2; exit 1; }
    read -r wall kb <"$work/time"
    echo "a whole cold play to the end: ${wall} s, peak memory $((kb / 1024)) MB (largest process)"
fi
