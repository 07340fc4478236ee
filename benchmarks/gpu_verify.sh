#!/usr/bin/env bash
# `torchlint verify --device all` on every fixtures/train script, on a machine with an NVIDIA GPU:
# the CUDA before/after table (optimizer steps/s, host-device syncs per step) and the verdicts, then
# the verify test suite with TORCHLINT_VERIFY_DEVICE=all.
#
# Run from anywhere in the repository: `bash benchmarks/gpu_verify.sh`. It needs a python3 with
# CUDA torch; libcst, click and pathspec (and pytest) come from .whl/ when python3 lacks them
# (see benchmarks/fetch_gpu_wheels.sh). It writes into $OUT (default ./gpu-verify-out):
# verify.json (a list: one `--output-format json` result per script), table.md, pytest.txt.
# STEPS (default 200) sets --steps; REPEATS (default 0) sets --repeats: with 5 or more the table's
# steps/s is the median over interleaved pairs of runs with a 95% interval, not one run each.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-verify-out}"
STEPS="${STEPS:-200}"
REPEATS="${REPEATS:-0}"
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if python3 -c "import libcst, click, pathspec, pytest" 2>/dev/null; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "python3 lacks libcst/click/pathspec and .whl/ is empty: run benchmarks/fetch_gpu_wheels.sh" >&2
    exit 2
fi

python3 - <<'PY'
import platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"python {platform.python_version()}, torch {torch.__version__}, {gpu}")
PY

status=0
run() {  # run NAME ARGS...: one verification, its JSON kept for the table
    local name=$1
    shift
    python3 -m torchlint verify "$@" --device all --steps "$STEPS" --repeats "$REPEATS" \
        --output-format json -o "$work/$name.json"
    local rc=$?
    echo "$name: exit $rc"
    [ "$rc" -eq 0 ] || status=1
}
for script in fixtures/train/*.py; do
    run "$(basename "$script" .py)" "$script" --unsafe-fixes
done
# TL101's display-only suggestion (no per-batch .item()) applied by hand.
run mlp_classifier_no_item fixtures/train/mlp_classifier.py \
    --fixed fixtures/train/manual/mlp_classifier_no_item.py

python3 - "$work" "$OUT/verify.json" <<'PY'
import json, pathlib, sys
results = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]
pathlib.Path(sys.argv[2]).write_text(json.dumps(results, indent=1))
PY
echo
echo "Command: STEPS=$STEPS bash benchmarks/gpu_verify.sh (torchlint verify SCRIPT --device all --steps $STEPS)"
echo
python3 -m torchlint.runtime.report "$work"/*.json | tee "$OUT/table.md"

echo
# pytest-xdist, where installed, spreads the tests over the cores (each run uses one thread).
parallel=()
python3 -c "import xdist" 2>/dev/null && parallel=(-n 8)
TORCHLINT_VERIFY_DEVICE=all python3 -m pytest -q -p no:cacheprovider "${parallel[@]}" \
    tests/test_verify.py >"$OUT/pytest.txt" 2>&1
rc=$?
tail -n 3 "$OUT/pytest.txt"
[ "$rc" -eq 0 ] || status=1
exit $status
