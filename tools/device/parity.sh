#!/usr/bin/env bash
# One device call for parity (run ON the device; carry [".gl", ".device", ".official"]):
#   run(command="bash tools/device/parity.sh", kind="nvidia-h100-x1", timeout_s=600, carry=[".gl",".device",".official"])
# 1. small fixtures that need the device's Python packages (committed afterwards): PyTorch 2.x RNG dumps,
#    a safetensors file written by Python's `safetensors`, a tiny HF-layout DINOv2 (transformers);
# 2. full-size official fixtures (DINOv2-L/14-reg, stage-1 flow, SS decoder, 12-step stage) into /tmp/fx;
# 3. our full-size parity run against them (WebGPU on the H100): $OUT/parity.json; the SLAT decoders f32 and f16
#    against the official fp32 and fp16 outputs: $OUT/parity-slat-dec.json, plus the decoder node:test files.
# Only the decoders (fixtures fp32 + fp16 on CUDA, then ours):
#   run(command="SKIP_SMALL=1 SKIP_DEC_TESTS=1 PARITY_FIXTURES=slat_dec:slat_dec bash tools/device/parity.sh",
#       kind="nvidia-h100-x1", timeout_s=600, carry=[".gl",".device",".official"])
# Prepare here first: bash tools/fixtures/official.sh && bash tools/device/prepare.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT"
LOG="$OUT/parity.log"
: >"$LOG"
source tools/device/lib.sh
device_setup "$LOG"
START=$(date +%s)
step() { # step NAME SECONDS CMD...: stdout and stderr -> the log; a failure is logged and the next step runs
  device_step "$1" "$2" "$LOG" "${@:3}" || true
}
if [ -z "${SKIP_SMALL:-}" ]; then
  step torch_rng 60 python3 tools/fixtures/torch_rng.py --out "$OUT/torch_rng"
  step safetensors 30 python3 tools/fixtures/safetensors_fixture.py "$OUT/python_written.safetensors"
  step dinov2_hf 60 python3 tools/fixtures/dinov2_hf.py --out "$OUT/dinov2_hf"
fi
for s in ${PARITY_FIXTURES:-dinov2_reg:dinov2 ss_flow:ss_flow ss_dec:ss_dec ss_stage:ss_stage slat_flow:slat_flow slat_dec:slat_dec}; do
  # slat_dec runs six full-size decoders (fp32 + the fp16 twins) through the Python conv/attention shims.
  lim=150; [ "${s%%:*}" = slat_dec ] && lim=240
  step "${s%%:*}" "$lim" python3 "tools/fixtures/${s%%:*}.py" --size full --device cuda --out "/tmp/fx/${s##*:}"
done
timeout -k 5 "${PARITY_TIMEOUT:-330}" node .device/bundle/tools-device-entries-parity-full.mjs /tmp/fx >"$OUT/parity.json" 2>>"$LOG"
echo "=== parity exit $? ($(( $(date +%s) - START )) s)" >>"$LOG"
# The SLAT decoders, f32 and f16, against the official fp32 and fp16 (use_fp16=True twins) outputs: figures only.
if [ -d /tmp/fx/slat_dec/full ]; then
  timeout -k 5 200 node .device/bundle/tools-device-entries-parity-slat-dec.mjs /tmp/fx/slat_dec/full \
    >"$OUT/parity-slat-dec.json" 2>>"$LOG"
  echo "=== parity-slat-dec exit $? ($(( $(date +%s) - START )) s)" >>"$LOG"
  # The official fixture itself (manifest + outputs, ~100 MB at full size) is not copied back; its fp16 record is
  # in parity-slat-dec.json (fp16_manifest).
fi
# The SLAT decoder parity tests run unchanged on the device against the full-size fixture (node:test bundles;
# they include full-size CPU-backend runs, so SKIP_DEC_TESTS=1 leaves them out when the call is short of time).
if [ -d /tmp/fx/slat_dec/full ] && [ -z "${SKIP_DEC_TESTS:-}" ]; then
  for t in gs mesh rf; do
    SLAT_DEC_FIXTURE=/tmp/fx/slat_dec/full timeout -k 5 150 node ".device/bundle/src-models-slat-decoder-$t.test.mjs" >>"$OUT/slat-dec.log" 2>&1
    echo "=== slat-dec $t exit $? ($(( $(date +%s) - START )) s)" >>"$LOG"
  done
fi
tail -c 20000 "$LOG"
cat "$OUT/parity.json"
[ -f "$OUT/parity-slat-dec.json" ] && cat "$OUT/parity-slat-dec.json"
