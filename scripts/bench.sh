#!/usr/bin/env bash
# Benchmark `vinyasa export` against the pipeline people build by hand today
# (the espeak-ng program per phrase, sox joining the clips with silence), side
# by side in one run, on the three routines in routines/ and on generated
# 30-minute and 2-hour routines.
#
#   scripts/bench.sh            # everything (a few minutes on 2 cores)
#   scripts/bench.sh --quick    # without the 2-hour pipeline run
#   scripts/bench.sh --piper    # also the Piper voice (scripts/bench_piper.sh)
#
# For each routine it measures, with /usr/bin/time (wall seconds, peak RSS):
#   vinyasa cold   `vinyasa export R -o OUT.wav --cache-dir EMPTY`
#                  (the median of --cold-runs runs, each from an empty cache)
#   vinyasa warm   the same again with the cache the cold run filled
#                  (the median of --warm-runs runs)
#   pipeline       scripts/espeak_sox_pipeline.sh on the phrases and start
#                  times of `vinyasa plan --json R` (the median of
#                  --cold-runs runs; one on the 2-hour routine)
# and prints one table, then the issue's targets with the figures beside them.
# Peak memory is the largest single process's peak RSS (for the pipeline,
# the largest of bash, espeak-ng and sox). Figures move with the machine's
# load: run it on a quiet machine and compare within one run.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [--quick] [--minutes N] [--cold-runs N] [--warm-runs N] [--keep DIR] [--no-build]

  --quick        skip the reference pipeline on the 2-hour routine (its slowest part)
  --minutes N    length of the long generated routine (default 120)
  --cold-runs N  cold exports, and pipeline runs, per routine; the median is shown
                 (default 3; the 2-hour pipeline runs once)
  --warm-runs N  warm exports per routine; the median is shown (default 3)
  --keep DIR     keep the routines, WAV files and logs in DIR (default: a temporary
                 directory, removed at the end)
  --no-build     use the vinyasa binary already built (skip `cargo build --release`)
  --piper        also measure the Piper voice joe on the same routines, the long ones
                 included (scripts/bench_piper.sh: cold and warm export against the bare
                 Piper program, peak memory), and play's time to first sound from a cold
                 cache (scripts/bench_first_sound.sh); needs `vinyasa voices install joe`
EOF
}

quick=0 minutes=120 cold_runs=3 warm_runs=3 keep= build=1 piper=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --minutes) minutes=${2:?--minutes needs a number}; shift ;;
    --cold-runs) cold_runs=${2:?--cold-runs needs a number}; shift ;;
    --warm-runs) warm_runs=${2:?--warm-runs needs a number}; shift ;;
    --keep) keep=${2:?--keep needs a directory}; shift ;;
    --no-build) build=0 ;;
    --piper) piper=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $minutes in '' | *[!0-9]*) echo "bench.sh: --minutes takes whole minutes, got '$minutes'" >&2; exit 2 ;; esac
case $warm_runs in '' | *[!0-9]* | 0) echo "bench.sh: --warm-runs takes a count of 1 or more, got '$warm_runs'" >&2; exit 2 ;; esac
case $cold_runs in '' | *[!0-9]* | 0) echo "bench.sh: --cold-runs takes a count of 1 or more, got '$cold_runs'" >&2; exit 2 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scripts=$root/scripts
cd "$root"

say() { printf '%s\n' "$*" >&2; }

# --- What the benchmark needs -------------------------------------------------

need_packages=()
command -v espeak-ng >/dev/null || need_packages+=(espeak-ng)
{ command -v sox >/dev/null && command -v soxi >/dev/null; } || need_packages+=(sox)
[ -x /usr/bin/time ] || need_packages+=(time)
if [ ${#need_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "bench.sh: installing ${need_packages[*]} (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "${need_packages[@]}" >&2 ||
            { apt-get update -q >&2 && apt-get install -y -q "${need_packages[@]}" >&2; }
    else
        say "bench.sh: missing ${need_packages[*]}; install them and run again, e.g."
        say "    sudo apt-get install ${need_packages[*]}"
        exit 1
    fi
fi
command -v python3 >/dev/null || { say "bench.sh: needs python3 (apt-get install python3)"; exit 1; }

if [ "$build" -eq 1 ]; then
    say "bench.sh: cargo build --release"
    cargo build --release --quiet >&2
fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
vinyasa=$target_dir/release/vinyasa
[ -x "$vinyasa" ] || { say "bench.sh: no binary at $vinyasa; run without --no-build"; exit 1; }

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/vinyasa-bench.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
results=$work/results.tsv
: >"$results"

# --- Measuring ------------------------------------------------------------------

# measure LOG CMD…: run CMD under /usr/bin/time, its output in LOG; prints
# "wall_seconds peak_kb cpu_seconds".
measure() {
    local log=$1 t
    shift
    t=$(mktemp "$work/time.XXXXXX")
    if ! /usr/bin/time -f '%e %M %U %S' -o "$t" "$@" >"$log" 2>&1; then
        say "bench.sh: failed: $*"
        say "--- $log:"
        tail -n 20 "$log" >&2
        exit 1
    fi
    awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$t"
    rm -f "$t"
}

# middle RUN…: the median run by wall time ("wall_s peak_kb cpu_s"), with
# its own memory and CPU figures (the slower of the middle two if even).
middle() { printf '%s\n' "$@" | sort -g | sed -n "$(($# / 2 + 1))p"; }

bench_routine() {
    local name=$1 routine=$2 run_pipeline=$3
    local out=$work/out/$name cache=$work/cache/$name
    mkdir -p "$out"
    say "bench.sh: $name"

    # The pipeline's input: every spoken phrase and its start, from the plan
    # (not timed; planning fills its own cache, not the one measured below).
    local plan total rate phrases distinct
    "$vinyasa" plan --json --cache-dir "$work/plan-cache" "$routine" >"$out/plan.json" 2>"$out/plan.log"
    read -r total rate phrases distinct < <(python3 "$scripts/phrases.py" "$out/phrases.tsv" <"$out/plan.json")

    # Every run writes a new file, as the pipeline does: the previous WAV is
    # deleted first, untimed. (Replacing it with --force would add the
    # filesystem's time to free it, ~0.2 s for 154 MB on an ext4 mounted
    # with `discard` as here, which is not the export's work.)
    local cold warm pipeline i runs
    runs=()
    for ((i = 0; i < cold_runs; i++)); do
        rm -rf "$cache" && mkdir -p "$cache"
        rm -f "$out/vinyasa.wav"
        runs+=("$(measure "$out/cold.log" "$vinyasa" export "$routine" -o "$out/vinyasa.wav" --cache-dir "$cache")")
    done
    cold=$(middle "${runs[@]}")
    runs=()
    for ((i = 0; i < warm_runs; i++)); do
        rm -f "$out/vinyasa.wav"
        runs+=("$(measure "$out/warm.log" "$vinyasa" export "$routine" -o "$out/vinyasa.wav" --cache-dir "$cache")")
    done
    warm=$(middle "${runs[@]}")

    if [ "$run_pipeline" -gt 0 ]; then
        runs=()
        for ((i = 0; i < run_pipeline; i++)); do
            runs+=("$(measure "$out/pipeline.log" "$scripts/espeak_sox_pipeline.sh" \
                "$out/phrases.tsv" "$total" "$rate" "$out/pipeline.wav")")
        done
        pipeline=$(middle "${runs[@]}")
    else
        pipeline="- - -"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$total" "$rate" "$phrases" "$distinct" \
        "$cold" "$warm" "$pipeline" "$out" >>"$results"
}

say "bench.sh: generating the long routines in $work"
"$scripts/long_routine.py" --minutes 30 -o "$work/long-30min.toml"
"$scripts/long_routine.py" --minutes "$minutes" -o "$work/long-${minutes}min.toml"
for r in "$work/long-30min.toml" "$work/long-${minutes}min.toml"; do
    "$vinyasa" check "$r" >&2
done

load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
# CPU time stolen by the hypervisor (other guests) while the benchmark runs:
# figures taken under heavy steal are slower than the code.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat 2>/dev/null || echo "0 0"; }
read -r ticks0 steal0 < <(cpu_ticks)
for r in childs-pose seven-stretches mid-back; do
    bench_routine "$r" "routines/$r.toml" "$cold_runs"
done
bench_routine long-30min "$work/long-30min.toml" "$cold_runs"
bench_routine "long-${minutes}min" "$work/long-${minutes}min.toml" $((quick ? 0 : 1))

read -r ticks1 steal1 < <(cpu_ticks)
steal=$(awk -v t=$((ticks1 - ticks0)) -v s=$((steal1 - steal0)) 'BEGIN { printf "%.0f%%", (t > 0 ? 100 * s / t : 0) }')
python3 "$scripts/bench_table.py" "$results" \
    --machine "$(nproc) cores, load $load at start, $steal of CPU time stolen by the host during the run; $("$vinyasa" --version), espeak-ng $(espeak-ng --version | sed -n 's/.*speech: *\([^ ]*\).*/\1/p'), sox $(sox --version | sed 's/.*SoX v//')" \
    --cold-runs "$cold_runs" --warm-runs "$warm_runs"
if [ "$piper" -eq 1 ]; then
    printf '\nWith the Piper voice joe (scripts/bench_piper.sh, median of %s runs):\n\n' "$cold_runs"
    "$scripts/bench_piper.sh" --no-build --runs "$cold_runs" \
        routines/childs-pose.toml routines/mid-back.toml \
        "$work/long-30min.toml" "$work/long-${minutes}min.toml"
    printf '\nTime to first sound of `play` with joe from a cold cache (scripts/bench_first_sound.sh):\n\n'
    "$scripts/bench_first_sound.sh" --no-build --runs "$cold_runs" --minutes "$minutes"
fi
[ -z "$keep" ] || say "bench.sh: files kept in $work"
