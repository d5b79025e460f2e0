#!/usr/bin/env bash
# Benchmark the compressed formats, side by side in one run:
#
#  1. on routines/mid-back.toml (20 minutes): for each format, vinyasa's
#     export to it against the export to WAV (so the difference is the
#     encoder's cost), and the reference encoder from Debian (`lame`, `flac`,
#     `opusenc`) on that WAV with the same settings; the file sizes; and
#     loudness and true peak after decoding (ffmpeg's ebur128);
#  2. on a generated 2-hour routine (scripts/long_routine.py): the MP3
#     export against the WAV export plus `lame` on that WAV (the issue's
#     target: the MP3 export costs at most the two together).
#
#   scripts/bench_formats.sh [--runs N] [--minutes N] [--no-build]
#
# Exports run with a warm phrase cache (filled first, untimed), so the
# figures are rendering and encoding, not speech synthesis. Times are the
# median of --runs (default 3) wall-clock runs of /usr/bin/time.
set -euo pipefail

runs=3 minutes=120 build=1
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=${2:?}; shift ;;
    --minutes) minutes=${2:?}; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench_formats.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
need=()
command -v lame >/dev/null || need+=(lame)
command -v flac >/dev/null || need+=(flac)
command -v opusenc >/dev/null || need+=(opus-tools)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
    else
        echo "bench_formats.sh: install ${need[*]} first" >&2; exit 1
    fi
fi
[ "$build" -eq 0 ] || cargo build --release --quiet >&2
vinyasa=${CARGO_TARGET_DIR:-$root/target}/release/vinyasa
work=$(mktemp -d "${TMPDIR:-/tmp}/vinyasa-formats.XXXXXX")
trap 'rm -rf "$work"' EXIT
export VINYASA_CACHE_DIR=$work/cache

# median_time CMD…: median wall seconds of $runs runs of CMD; files named
# out.* in the work directory are removed before each.
median_time() {
    local i times=()
    for ((i = 0; i < runs; i++)); do
        rm -f "$work"/out.*
        /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>&1
        times+=("$(cat "$work/t")")
    done
    printf '%s\n' "${times[@]}" | sort -g | sed -n "$((runs / 2 + 1))p"
}

loud() { ffmpeg -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 |
    awk '/Summary/ { s = 1 } s && /I:/ { i = $2 } s && /Peak:/ { p = $2 } END { printf "%s LUFS, %s dBTP", i, p }'; }

formats=(mp3 flac)
"$vinyasa" export --format opus routines/mid-back.toml -o "$work/probe.opus" >/dev/null 2>&1 && formats+=(opus)

r=routines/mid-back.toml
"$vinyasa" export "$r" -o "$work/ref.wav" >/dev/null 2>&1          # fills the cache
"$vinyasa" export "$r" --rate 48000 -o "$work/ref48.wav" >/dev/null 2>&1
echo "## mid-back (19:46), warm cache, median of $runs"
echo
echo "| format | file | size | export | export − WAV export | reference encoder on the WAV | decoded |"
echo "|---|---|---|---|---|---|---|"
wav_t=$(median_time "$vinyasa" export "$r" -o "$work/out.wav")
echo "| wav | 16-bit | $(stat -c %s "$work/ref.wav" | numfmt --to=si) | ${wav_t} s | – | – | $(loud "$work/ref.wav") |"
for f in "${formats[@]}"; do
    rate=44100 src=$work/ref.wav
    [ "$f" = opus ] && rate=48000 src=$work/ref48.wav
    [ "$f" = opus ] && wav_f=$(median_time "$vinyasa" export "$r" --rate 48000 -o "$work/out.wav") || wav_f=$wav_t
    t=$(median_time "$vinyasa" export "$r" -o "$work/out.$f")
    "$vinyasa" export "$r" -o "$work/keep.$f" >/dev/null 2>&1
    case $f in
    mp3) ref="lame -b 64 -m m"; rt=$(median_time lame --silent -b 64 -m m "$src" "$work/out.ref") ;;
    flac) ref="flac -5"; rt=$(median_time flac --silent -5 -f "$src" -o "$work/out.ref") ;;
    opus) ref="opusenc --bitrate 40"; rt=$(median_time opusenc --quiet --bitrate 40 "$src" "$work/out.ref") ;;
    esac
    echo "| $f | ${rate} Hz | $(stat -c %s "$work/keep.$f" | numfmt --to=si) | ${t} s | $(awk -v a="$t" -v b="$wav_f" 'BEGIN { printf "%.2f", a - b }') s | \`$ref\` ${rt} s | $(loud "$work/keep.$f") |"
done

echo
echo "## a generated ${minutes}-minute routine, warm cache, median of $runs"
scripts/long_routine.py --minutes "$minutes" -o "$work/long.toml"
"$vinyasa" export "$work/long.toml" -o "$work/long.wav" >/dev/null 2>&1
wav_t=$(median_time "$vinyasa" export "$work/long.toml" -o "$work/out.wav")
mp3_t=$(median_time "$vinyasa" export "$work/long.toml" -o "$work/out.mp3")
lame_t=$(median_time lame --silent -b 64 -m m "$work/long.wav" "$work/out.ref")
echo
echo "| WAV export | MP3 export | lame on the WAV | WAV export + lame | target met |"
echo "|---|---|---|---|---|"
awk -v w="$wav_t" -v m="$mp3_t" -v l="$lame_t" 'BEGIN {
    printf "| %s s | %s s | %s s | %.2f s | %s |\n", w, m, l, w + l, (m <= w + l ? "yes" : "no") }'
echo
echo "($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end; $("$vinyasa" --version); $(lame --version | head -1); $(flac --version); $(opusenc --version | head -1))"
