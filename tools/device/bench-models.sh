#!/usr/bin/env bash
# Model benchmarks on the device (run ON the device after tools/device/run.sh setup; carry [".gl", ".device", ".official"]):
# ours (WebGPU) vs the official PyTorch modules in the same call, results in $OUT/bench-models.json.
#   bash tools/device/bench-models.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT" /tmp/amodal3r-bench
source tools/device/lib.sh
device_setup /dev/null
B=.device/bundle/bench-main.mjs
R=/tmp/amodal3r-bench
LOG="$OUT/bench-models.log"
START=$(date +%s)
run() { # run NAME SECONDS CMD...: stdout -> $R/NAME.out
  local name=$1 lim=$2
  shift 2
  device_step "$name" "$lim" "$R/$name.out" "$@"
  # Append this step's JSON right away, so a call cut off by its limit still returns every finished step.
  device_json record "$name" "$R/$name.out" $? >>"$OUT/bench-models.jsonl"
}
run official 200 python3 tools/bench_official.py --iters 10
run ssflow-f16 100 node $B ss-flow --json --precision f16 --iters 10 --stage
run dinov2-f16 50 node $B dinov2 --json --precision f16 --iters 5
run dinov2-f32 60 node $B dinov2 --json --iters 3
run matmul 80 node $B matmul --json
run attention 60 node $B attention --json
run ssflow-f32 60 node $B ss-flow --json --precision f32 --iters 2
cat "$OUT/bench-models.jsonl"
