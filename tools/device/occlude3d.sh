#!/usr/bin/env bash
# occlude3d benchmark on the device (bench/occlude3d.ts through tools/device/entries/occlude3d.ts). It writes PNGs
# with sharp, which the device image lacks: prepare.sh packs sharp and its prebuilt libvips into .device/sharp.tar.xz
# (node_modules/... paths), unpacked here next to the carried webgpu package.
#   here:    bash tools/device/prepare.sh
#   device:  run(command="bash tools/device/occlude3d.sh [bench args]", kind="nvidia-h100-x1",
#                carry=[".gl", ".device"], timeout_s=600)
# Bench args (bench/occlude3d.ts): --faces 10000,100000,1000000 --views 4,150 --resolution 512 --no-write --cpu
# Results: $OUT/occlude3d.json (figures) and $OUT/occlude3d.log (stderr: one line per run with its phases).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
mkdir -p "$OUT"
bash tools/device/run.sh # node, Dawn and the Vulkan loaders; links node_modules -> /tmp/amodal3r-dev/node_modules
[ -f .device/sharp.tar.xz ] || { echo "occlude3d.sh: .device/sharp.tar.xz missing: run tools/device/prepare.sh here" >&2; exit 3; }
source tools/device/lib.sh
device_unpack_sharp
bash tools/device/run.sh node .device/bundle/tools-device-entries-occlude3d.mjs "$@" >"$OUT/occlude3d.json" 2> >(tee "$OUT/occlude3d.log" >&2)
cat "$OUT/occlude3d.json"
