#!/usr/bin/env bash
# Benchmark `vinyasa export` with a Piper voice against the bare Piper
# program speaking the same phrases, side by side in one run.
#
#   scripts/bench_piper.sh [--runs N] [--no-build] [ROUTINE…]   (default: routines/childs-pose.toml)
#
# Needs Piper: `vinyasa voices install joe` (or VINYASA_PIPER_PYTHON). For
# each routine, with /usr/bin/time (wall seconds; peak RSS of the largest
# process, Piper's Python included):
#   cold   `vinyasa export R --engine piper --cache-dir EMPTY` (median of --runs)
#   bare   `python -m piper -m MODEL -d DIR` on the routine's distinct phrases
#          (one WAV per phrase, the model loaded once; median of --runs)
#   warm   the export again with the cache the cold run filled (median of --runs)
#   flite  a warm export with the built-in voice, for comparison
set -euo pipefail

runs=3 build=1 routines=()
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n 2,15p "$0"; exit 0 ;;
    *) routines+=("$1") ;;
    esac
    shift
done
[ ${#routines[@]} -gt 0 ] || routines=(routines/childs-pose.toml)

# shellcheck source=scripts/piper_bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/piper_bench_env.sh"

# One timed run: prints "wall peak_kb".
timed() {
    local t=$work/time
    /usr/bin/time -f '%e %M' -o "$t" "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    cat "$t"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '| routine | phrases | bare piper | cold export | cold / bare | warm export | warm flite | peak memory (cold) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for r in "${routines[@]}"; do
    name=$(basename "$r" .toml)
    "$bin" plan --json "$r" --no-cache 2>/dev/null |
        python3 -c 'import json, sys
seen = []
for c in json.load(sys.stdin)["cues"]:
    if c["kind"]["type"] == "speech" and c["text"] not in seen:
        seen.append(c["text"])
print("\n".join(seen))' >"$work/phrases.txt"
    n=$(wc -l <"$work/phrases.txt")
    bare=() cold=() warm=() flite=() peak=0
    for i in $(seq "$runs"); do
        rm -rf "$work/bare" "$work/cache"
        bare+=("$(timed "$python" -m piper -m "$model" -d "$work/bare" -i "$work/phrases.txt" | cut -d' ' -f1)")
        read -r wall kb < <(timed "$bin" export "$r" --engine piper --cache-dir "$work/cache" -o "$work/out.wav" --force)
        cold+=("$wall")
        [ "$kb" -gt "$peak" ] && peak=$kb
    done
    for i in $(seq "$runs"); do
        warm+=("$(timed "$bin" export "$r" --engine piper --cache-dir "$work/cache" -o "$work/out.wav" --force | cut -d' ' -f1)")
        "$bin" export "$r" --engine flite --cache-dir "$work/cache" -o "$work/flite.wav" --force 2>/dev/null
        flite+=("$(timed "$bin" export "$r" --engine flite --cache-dir "$work/cache" -o "$work/flite.wav" --force | cut -d' ' -f1)")
    done
    b=$(printf '%s\n' "${bare[@]}" | median)
    c=$(printf '%s\n' "${cold[@]}" | median)
    w=$(printf '%s\n' "${warm[@]}" | median)
    f=$(printf '%s\n' "${flite[@]}" | median)
    printf '| %s | %s | %.2f s | %.2f s | %.2f× | %.2f s | %.2f s | %d MB |\n' \
        "$name" "$n" "$b" "$c" "$(awk -v c="$c" -v b="$b" 'BEGIN { print c / b }')" "$w" "$f" $((peak / 1024))
done
