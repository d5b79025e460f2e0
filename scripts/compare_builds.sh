#!/usr/bin/env bash
# Compares two vinyasa binaries side by side in one run: cold exports (empty
# cache) and warm exports (the cache the cold run filled) of each routine,
# interleaved so that the machine's load falls on both alike. Prints the
# median wall time, the median CPU time (user + sys) and the largest peak
# RSS of each. Used for "no speed regression" checks of a refactor:
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
#   cargo build --release
#   scripts/compare_builds.sh /tmp/old/target/release/vinyasa target/release/vinyasa \
#       routines/childs-pose.toml routines/mid-back.toml
#
# Options: --runs N (default 5).
set -euo pipefail
runs=5
if [ "${1:-}" = --runs ]; then runs=${2:?--runs needs a count}; shift 2; fi
old=${1:?usage: compare_builds.sh [--runs N] OLD_BINARY NEW_BINARY ROUTINE...}
new=${2:?usage: compare_builds.sh [--runs N] OLD_BINARY NEW_BINARY ROUTINE...}
shift 2
[ $# -gt 0 ] || { echo "compare_builds.sh: name at least one routine" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for routine in "$@"; do
    log=$work/$(basename "$routine" .toml).log
    for _ in $(seq "$runs"); do
        for who in old new; do
            bin=$old; [ $who = new ] && bin=$new
            rm -rf "$work/cache-$who" "$work/out-$who.wav"
            for kind in cold warm; do
                /usr/bin/time -o "$work/time" -f "$who $kind %e %U %S %M" \
                    "$bin" export "$routine" -o "$work/out-$who.wav" --cache-dir "$work/cache-$who" \
                    >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
                cat "$work/time" >>"$log"
                rm -f "$work/out-$who.wav"
            done
        done
    done
    python3 - "$log" "$(basename "$routine")" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for kind in ("cold", "warm"):
    for who in ("old", "new"):
        r = [x for x in rows if x[0] == who and x[1] == kind]
        wall = statistics.median(float(x[2]) for x in r)
        cpu = statistics.median(float(x[3]) + float(x[4]) for x in r)
        peak = max(int(x[5]) for x in r) / 1024
        print(f"{sys.argv[2]:24} {kind} {who}: wall {wall:.2f} s  cpu {cpu:.2f} s  peak {peak:.0f} MB  (median of {len(r)})")
PY
done
