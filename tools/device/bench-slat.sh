#!/usr/bin/env bash
# Stage-2 benchmark on the device, ours (WebGPU) and the official PyTorch modules in the SAME call
# (run ON the device; carry [".gl", ".device", ".official"]; prepare here first:
#  bash tools/fixtures/official.sh && bash tools/device/prepare.sh):
#   run(command="bash tools/device/bench-slat.sh", kind="nvidia-h100-x1", timeout_s=600,
#       carry=[".gl",".device",".official"])
# Steps (each with its own limit; a failed step is recorded and the next runs), JSON lines appended to
# $OUT/bench-slat.jsonl as each finishes, stderr in $OUT/bench-slat.log:
#   official-f16  python3 tools/bench_slat_official.py --precision fp16 --profile  (flow CFG step, GS/mesh+FlexiCubes/RF)
#   ours-f16-flow node bench-main.mjs slat --json --precision f16 --profile --only flow,conv  (+ conv fused vs im2col)
#   ours-f16-dec  node bench-main.mjs slat --json --precision f16 --profile --only gs,rf
#   ours-f16-mesh node bench-main.mjs slat --json --precision f16 --profile --only mesh   (1.3M voxels at 256^3)
# and, only when named in SLAT_STEPS (a second call: they do not fit the 600 s with the above):
#   ours-f32, official-f32   flow + GS decoder in fp32 (TF32 off on the PyTorch side)
#   run(command="SLAT_STEPS='ours-f32 official-f32' bash tools/device/bench-slat.sh", ...)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT" /tmp/amodal3r-bench
source tools/device/lib.sh
device_setup /dev/null
B=.device/bundle/bench-main.mjs
R=/tmp/amodal3r-bench
LOG="$OUT/bench-slat.log"
START=$(date +%s)
step() { # step NAME SECONDS CMD...: stdout -> $R/NAME.out; its JSON (or, cut off, the last progress line) -> jsonl
  local name=$1 lim=$2
  shift 2
  case " ${SLAT_STEPS:-official-f16 ours-f16-flow ours-f16-dec ours-f16-mesh} " in *" $name "*) ;; *) return ;; esac
  device_step "$name" "$lim" "$R/$name.out" "$@"
  device_json record "$name" "$R/$name.out" $? >>"$OUT/bench-slat.jsonl"
}
# Limits are upper bounds summing to < 600 s with the setup; a step that ends early leaves the time to the next.
step official-f16 150 python3 tools/bench_slat_official.py --precision fp16 --iters 5 --profile
step ours-f16-flow 130 node "$B" slat --json --precision f16 --iters 3 --profile --only flow,conv
step ours-f16-dec 100 node "$B" slat --json --precision f16 --iters 3 --profile --only gs,rf
step ours-f16-mesh 180 node "$B" slat --json --precision f16 --iters 2 --profile --only mesh
step ours-f32 250 node "$B" slat --json --precision f32 --iters 2 --only flow,gs,conv
step official-f32 150 python3 tools/bench_slat_official.py --precision fp32 --iters 3 --only flow,gs
tail -c 6000 "$LOG"
cat "$OUT/bench-slat.jsonl"
