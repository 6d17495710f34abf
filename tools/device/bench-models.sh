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
}
run official 240 python3 tools/bench_official.py --iters 10
run ssflow-f16 120 node $B ss-flow --json --precision f16 --iters 10 --stage
run ssflow-f32 120 node $B ss-flow --json --precision f32 --iters 3
run dinov2-f32 90 node $B dinov2 --json --iters 5
run dinov2-f16 90 node $B dinov2 --json --precision f16 --iters 5
run matmul 120 node $B matmul --json
run attention 120 node $B attention --json
python3 - "$R" "$OUT/bench-models.json" <<'PY'
import json, os, sys
res = {}
for f in sorted(os.listdir(sys.argv[1])):
    text = open(os.path.join(sys.argv[1], f)).read()
    i = text.rfind("\n{")  # Dawn may print shader warnings on stdout before the JSON
    j = text[i + 1:] if i >= 0 else text[text.find("{"):]
    try:
        res[f[:-4]] = json.loads(j)
    except Exception:
        res[f[:-4]] = {"raw": text[-3000:]}
json.dump(res, open(sys.argv[2], "w"), indent=1)
print(json.dumps(res, indent=1)[:12000])
PY
