#!/usr/bin/env bash
# Model benchmarks on the device (run ON the device after tools/device/run.sh setup; carry [".gl", ".device", ".official"]):
# ours (WebGPU) vs the official PyTorch modules in the same call, results in $OUT/bench-models.json.
#   bash tools/device/bench-models.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT" /tmp/amodal3r-bench
bash tools/device/run.sh >/dev/null 2>&1
export PATH="/tmp/amodal3r-dev/bin:$PATH" XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
B=.device/bundle/bench-main.mjs
R=/tmp/amodal3r-bench
LOG="$OUT/bench-models.log"
run() { # run NAME SECONDS CMD...: stdout -> $R/NAME.out
  local name=$1 lim=$2; shift 2
  echo "=== $name: $*" >>"$LOG"
  timeout -k 5 "$lim" "$@" >"$R/$name.out" 2>>"$LOG"
  echo "=== $name exit $?" >>"$LOG"
  # Append this step's JSON (the last object on stdout: Dawn may print shader warnings first) right away, so a
  # call cut off by its limit still returns every finished step.
  python3 - "$name" "$R/$name.out" >>"$OUT/bench-models.jsonl" <<'PY'
import json, sys
text = open(sys.argv[2]).read()
i = text.rfind("\n{")
j = text[i + 1:] if i >= 0 else text[text.find("{"):]
try:
    print(json.dumps({"step": sys.argv[1], "result": json.loads(j)}))
except Exception:
    print(json.dumps({"step": sys.argv[1], "raw": text[-2000:]}))
PY
}
run official 200 python3 tools/bench_official.py --iters 10
run ssflow-f16 100 node $B ss-flow --json --precision f16 --iters 10 --stage
run dinov2-f16 50 node $B dinov2 --json --precision f16 --iters 5
run dinov2-f32 60 node $B dinov2 --json --iters 3
run matmul 80 node $B matmul --json
run attention 60 node $B attention --json
run ssflow-f32 60 node $B ss-flow --json --precision f32 --iters 2
cat "$OUT/bench-models.jsonl"
