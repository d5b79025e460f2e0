# Sourced by scripts/bench_piper.sh and scripts/bench_first_sound.sh (with
# `build` set to 1 or 0): the release binary, a scratch folder removed on
# exit, and the Python and model the piper engine uses for the voice joe.
# Sets root, bin, work, model and python; runs from the repository root.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
[ "$build" = 1 ] && cargo build --release --quiet
bin=$target/release/vinyasa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VINYASA_CONFIG_DIR=$work/config

model=$("$bin" voices | awk '$1 == "piper" && $2 == "en_US-joe-medium" { for (i = 3; i <= NF; i++) if ($i ~ /\.onnx$/) print $i }')
[ -n "$model" ] || { echo "$(basename "$0"): no Piper voice en_US-joe-medium; run \`vinyasa voices install joe\`" >&2; exit 1; }
python=${VINYASA_PIPER_PYTHON:-${VINYASA_DATA_DIR:-$HOME/.local/share/vinyasa}/piper/bin/python}
