#!/usr/bin/env bash
# End-to-end check against the official pipeline at a larger size on the device (issue #10; run ON the device,
# prepare here first with `bash tools/fixtures/official.sh && bash tools/device/prepare.sh`):
#   run(command="bash tools/device/e2e-official.sh", kind="nvidia-h100-x1", timeout_s=600,
#       carry=[".gl", ".device", ".official"])
# Steps (each with its own limit; a failed step is logged and the next one runs):
#   1. model: tools/fixtures/official_model_dir.py --size device (official classes: DINOv2 depth 2, flows 256 wide /
#      2 blocks, SS decoder [32,16,8], SLAT decoders 256 / 2 blocks; f32) calibrated to VOXELS (2000) voxels;
#   2. official: tools/official_dump.py on CUDA (fp32, TF32 off), mug example, seed 1, SS_STEPS / SLAT_STEPS (12),
#      --dump-steps;
#   3. ours: `amodal3r reconstruct --view-order given --seed 1 --dump --dump-steps` on WebGPU (f32);
#   4. compare ours vs official: $OUT/e2e-compare.json (+ .txt);
#   5. ours again with the official --coords and --noise-slat (stage 2 and decoders without stage-1 flips):
#      $OUT/e2e-compare-injected.json (+ .txt).
# Locally (CPU torch, our CPU backend, ci size) for a dry run: LOCAL=1 SIZE=ci DEVICE=cpu VOXELS=150 SS_STEPS=2
# SLAT_STEPS=2 T_MODEL=400 T_OFFICIAL=400 T_OURS=400 OUT=/tmp/e2e-out bash tools/device/e2e-official.sh (the loaded 2-core box
# needed 2-3 min per step)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT"
LOG="$OUT/e2e-official.log"
: >"$LOG"
W=${WORK:-/tmp/amodal3r-e2e}
rm -rf "$W"
mkdir -p "$W"
SIZE=${SIZE:-device}
DEVICE=${DEVICE:-cuda}
source tools/device/lib.sh
if [ -z "${LOCAL:-}" ]; then
  device_setup "$LOG" sharp
  CLI=(node .device/bundle/tools-device-entries-cli.mjs)
  OURS_DEVICE=webgpu
  PY=python3
else
  CLI=(node bin/amodal3r.mjs)
  OURS_DEVICE=cpu
  PY=${PYTHON:-/usr/bin/python3}
fi
START=$(date +%s)
step() { # step NAME SECONDS CMD...: stdout and stderr -> the log
  device_step "$1" "$2" "$LOG" "${@:3}"
}
IN=(--image assets/examples/mug.png --mask assets/examples/mug_mask.png)
RUN=(--seed 1 --ss-steps "${SS_STEPS:-12}" --ss-cfg 7.5 --slat-steps "${SLAT_STEPS:-12}" --slat-cfg 3)
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$LOG" 2>&1
step model "${T_MODEL:-120}" "$PY" tools/fixtures/official_model_dir.py --size "$SIZE" --voxels "${VOXELS:-2000}" \
  --out "$W/model"
step official "${T_OFFICIAL:-150}" "$PY" tools/official_dump.py --model "$W/model" "${IN[@]}" "${RUN[@]}" --dump-steps \
  --device "$DEVICE" --out "$W/official"
OURS=("${CLI[@]}" reconstruct "${IN[@]}" "${RUN[@]}" --model "$W/model" --view-order given --formats ply,glb
  --device "$OURS_DEVICE" --precision f32 --json)
step ours "${T_OURS:-150}" "${OURS[@]}" --out "$W/ours-out" --dump "$W/ours" --dump-steps
TOL=(--rtol "${RTOL:-1e-4}" --iou "${IOU:-0.99}")
"${CLI[@]}" compare "$W/ours" "$W/official" "${TOL[@]}" >"$OUT/e2e-compare.txt" 2>>"$LOG"
echo "compare exit $?" >>"$OUT/e2e-compare.txt"
"${CLI[@]}" compare "$W/ours" "$W/official" "${TOL[@]}" --json >"$OUT/e2e-compare.json" 2>>"$LOG"
step ours-injected "${T_OURS:-150}" "${OURS[@]}" --out "$W/inj-out" --dump "$W/inj" \
  --coords "$W/official/ss_decode.safetensors" --noise-slat "$W/official/stage2.safetensors"
INJ=(--ignore encode --ignore stage1 --ignore ss_decode)
for i in $(seq 0 $(( ${SLAT_STEPS:-12} - 1 ))); do INJ+=(--ignore "stage2/step_$(printf %02d "$i")"); done
"${CLI[@]}" compare "$W/inj" "$W/official" "${TOL[@]}" "${INJ[@]}" >"$OUT/e2e-compare-injected.txt" 2>>"$LOG"
echo "compare exit $?" >>"$OUT/e2e-compare-injected.txt"
"${CLI[@]}" compare "$W/inj" "$W/official" "${TOL[@]}" "${INJ[@]}" --json >"$OUT/e2e-compare-injected.json" 2>>"$LOG"
tail -c 5000 "$LOG"
cat "$OUT/e2e-compare.txt" "$OUT/e2e-compare-injected.txt"
