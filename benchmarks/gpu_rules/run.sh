#!/usr/bin/env bash
# The performance rules measured: for each rule a training script of realistic size with the
# anti-pattern, and the same script with that rule's fix alone (torchlint's, through
# `torchlint check --fix --unsafe-fixes --select CODE` on a copy, where the rule fixes; else the
# checked-in SCRIPT.fixed.py, by hand), compared by `torchlint verify --fixed` with interleaved,
# repeated runs and 95% bootstrap intervals. Writes $OUT/table.md (the Markdown table),
# $OUT/results.json (every verify result, samples included) and $OUT/log.txt.
#
#   bash benchmarks/gpu_rules/run.sh                 # every rule (TL502 only with 2+ GPUs)
#   bash benchmarks/gpu_rules/run.sh TL101 TL108     # some rules
#
# Needs a python3 with CUDA torch; libcst, click and pathspec come from .whl/ when it lacks them
# (benchmarks/fetch_gpu_wheels.sh). STEPS (30: optimizer steps per run, the first tenth not
# timed), REPEATS (5: timing pairs after the verdict's pair), BUDGET (150: seconds of timing pairs
# per rule), DEVICE (cuda). GPU_RULES_SIZE=small shrinks the models (a CPU smoke test: DEVICE=cpu).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-rules-out}"
STEPS="${STEPS:-30}"
REPEATS="${REPEATS:-5}"
BUDGET="${BUDGET:-150}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if python3 -c "import libcst, click, pathspec" 2>/dev/null; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "python3 lacks libcst/click/pathspec and .whl/ is empty: run benchmarks/fetch_gpu_wheels.sh" >&2
    exit 2
fi

# rule, script, who fixes it (torchlint: its fix alone; hand: SCRIPT.fixed.py)
RULES="
TL101 tl101_item_lm.py hand
TL102 tl102_empty_cache_resnet.py torchlint
TL103 tl103_create_then_move_lm.py torchlint
TL104 tl104_host_sync_lm.py hand
TL105 tl105_invariant_transfer_lm.py torchlint
TL106 tl106_dataloader_resnet.py hand
TL107 tl107_zero_grad_lm.py torchlint
TL108 tl108_anomaly_lm.py torchlint
TL109 tl109_conv_bias_resnet.py hand
TL501 tl501_hardcoded_cuda_lm.py torchlint
TL502 tl502_data_parallel_resnet.py hand
"
wanted=" $* "
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
python3 - <<'PY' | tee "$OUT/log.txt"
import platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"python {platform.python_version()}, torch {torch.__version__}, {gpu} x{torch.cuda.device_count()}")
PY
echo "STEPS=$STEPS REPEATS=$REPEATS BUDGET=$BUDGET DEVICE=$DEVICE" | tee -a "$OUT/log.txt"
mkdir -p "$work/json" "$work/fixed"
status=0
merge() {  # results.json and table.md from the rules done so far (a cut-off run keeps them)
    python3 - "$work/json" "$OUT/results.json" <<'PY'
import json, pathlib, sys
results = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]
pathlib.Path(sys.argv[2]).write_text(json.dumps(results, indent=1))
PY
    python3 benchmarks/gpu_rules/table.py "$OUT/results.json" "$DEVICE" >"$OUT/table.md"
}
while read -r code script how; do
    [ -n "$code" ] || continue
    [ "$#" -eq 0 ] || [[ "$wanted" == *" $code "* ]] || continue
    path=benchmarks/gpu_rules/$script
    if [ "$code" = TL502 ] && [ "$gpus" -lt 2 ]; then
        echo "$code: not run: $gpus GPU(s) here, DataParallel against DDP needs 2 or more" | tee -a "$OUT/log.txt"
        printf '{"rule": "TL502", "script": "%s", "not_run": "needs 2 or more GPUs; %s here"}\n' \
            "$path" "$gpus" >"$work/json/$code.json"
        merge
        continue
    fi
    if [ "$how" = torchlint ]; then
        fixed=$work/fixed/$script
        cp "$path" "$fixed"
        python3 -m torchlint check --fix --unsafe-fixes --no-cache --select "$code" "$fixed" \
            >>"$OUT/log.txt" 2>&1 </dev/null
    else
        fixed=${path%.py}.fixed.py
    fi
    started=$(date +%s)
    python3 -m torchlint verify "$path" --fixed "$fixed" --device "$DEVICE" --steps "$STEPS" \
        --repeats "$REPEATS" --time-budget "$BUDGET" --output-format json -o "$work/json/$code.tmp" </dev/null
    rc=$?
    python3 - "$work/json/$code.tmp" "$work/json/$code.json" "$code" "$how" <<'PY'
import json, sys
payload = json.load(open(sys.argv[1]))
payload["rule"], payload["fixed_by"] = sys.argv[3], sys.argv[4]
json.dump(payload, open(sys.argv[2], "w"))
PY
    rm -f "$work/json/$code.tmp"
    echo "$code: verify exit $rc, $(($(date +%s) - started)) s" | tee -a "$OUT/log.txt"
    [ "$rc" -eq 0 ] || status=1
    merge
done <<<"$RULES"

echo
echo "Command: STEPS=$STEPS REPEATS=$REPEATS BUDGET=$BUDGET bash benchmarks/gpu_rules/run.sh $*"
echo
cat "$OUT/table.md"
exit $status
