#!/usr/bin/env bash
# Full-size pipeline benchmark on the device (run ON the device; prepare here first with
# `bash tools/fixtures/official.sh && bash tools/device/prepare.sh`), ours vs the official PyTorch pipeline on the
# same random full-size model directory. At full size the steps do not fit one 600 s command, so two calls:
#   run(command="ONLY='make official' bash tools/device/bench-pipeline.sh", kind="nvidia-h100-x1", timeout_s=600,
#       carry=[".gl", ".device", ".official"])
#   (copy official.json from that call's files to docs/measurements/<date>-h100-pipeline-official.json, then)
#   run(command="ONLY=ours OFFICIAL_JSON=docs/measurements/<date>-h100-pipeline-official.json bash tools/device/bench-pipeline.sh",
#       kind="nvidia-h100-x1", timeout_s=600, carry=[".gl", ".device", ".official"])
# Both on the same warm machine kind; ours rewrites the model if the machine is fresh (seed 0: the same weights).
# Steps (each with its own limit; a failed step is logged and the next one runs):
#   1. make-test-model --config full into /tmp/amodal3r-full (WebGPU calibration of the SS decoder bias):
#      $OUT/make-test-model.json
#   2. the official pipeline (tools/bench_pipeline_official.py, RUNS_OFFICIAL runs): $OUT/official.json
#   3. ours (bench/pipeline.ts through its device entry, RUNS_OURS runs, with the official JSON for the ratios):
#      $OUT/ours.json
# Environment: CONFIG (full), RUNS_OFFICIAL (2), RUNS_OURS (2), SS_STEPS / SLAT_STEPS (12), FRAMES (30),
# T_MAKE / T_OFFICIAL / T_OURS (step limits in s), ONLY (steps to run, default "make official ours").
# Estimates at full size: make 2-4 min (single-threaded generation: 2 min of CPU here), official 1-2 min, ours
# 2-4 min for 2 runs (plus the make when the model is missing).
# The log is $OUT/bench-pipeline.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT"
LOG="$OUT/bench-pipeline.log"
: >"$LOG"
CONFIG="${CONFIG:-full}"
MODEL="/tmp/amodal3r-$CONFIG"
STEPS=(--ss-steps "${SS_STEPS:-12}" --slat-steps "${SLAT_STEPS:-12}")
source tools/device/lib.sh
device_setup "$LOG" sharp
B=.device/bundle
START=$(date +%s)
step() { # step NAME SECONDS CMD...: all of stdout -> $OUT/NAME.out, its last JSON object -> $OUT/NAME.json
  local name=$1 lim=$2
  shift 2
  device_step "$name" "$lim" "$OUT/$name.out" "$@"
  device_json save "$OUT/$name.out" "$OUT/$name.json" || true # no JSON: the log and NAME.out say why
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$LOG" 2>&1
ONLY="${ONLY:-make official ours}"
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if want make && [ ! -f "$MODEL/pipeline.json" ]; then
  step make-test-model "${T_MAKE:-300}" node "$B/tools-device-entries-cli.mjs" make-test-model --config "$CONFIG" \
    --out "$MODEL" --device webgpu --json
fi
want official && step official "${T_OFFICIAL:-240}" python3 tools/bench_pipeline_official.py --model "$MODEL" \
  --runs "${RUNS_OFFICIAL:-2}" "${STEPS[@]}" --ply "$OUT/official-gaussians.ply"
[ -n "${OFFICIAL_JSON:-}" ] && [ ! -f "$OUT/official.json" ] && cp "$OFFICIAL_JSON" "$OUT/official.json"
CMP=(); [ -s "$OUT/official.json" ] && CMP=(--official "$OUT/official.json")
want ours && step ours "${T_OURS:-420}" node "$B/tools-device-entries-bench-pipeline.mjs" --config "$CONFIG" \
  --model "$MODEL" --runs "${RUNS_OURS:-2}" "${STEPS[@]}" --frames "${FRAMES:-30}" "${CMP[@]}"
rm -f "$OUT/official-gaussians.ply"  # 40 MB at full size; its size is in official.json
tail -c 6000 "$LOG"
for f in make-test-model official ours; do [ -f "$OUT/$f.json" ] && { echo "--- $f"; tail -c 4000 "$OUT/$f.json"; }; done
