#!/usr/bin/env bash
# Runs ON the device machine (from the repo root of the carried tree). Sets up node + Dawn + the Vulkan loaders
# once per machine, then runs the given command with them on PATH:
#   bash tools/device/run.sh node .device/bundle/bench-main.mjs matmul --json
#   bash tools/device/run.sh            # setup only
# Needs carry [".gl", ".device"] built by tools/device/prepare.sh. See docs/device.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=/tmp/amodal3r-dev

unxz_to() { # unxz_to SRC.xz DST (python's lzma when xz is missing)
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$1" "$2"; fi
}

if [ ! -f "$R/.ready" ]; then
  [ -f .device/node.xz ] || { echo "run.sh: .device/node.xz missing: run tools/device/prepare.sh here and carry .device" >&2; exit 3; }
  # The image lacks the Vulkan/GL loaders; all 7 debs are needed (libvulkan1 alone finds no driver).
  if ! { ldconfig -p | grep -q "libvulkan.so.1" && ldconfig -p | grep -q libGLdispatch; }; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  mkdir -p "$R/bin" "$R/node_modules/webgpu/dist/linux-x64" "$R/ort"
  unxz_to .device/node.xz "$R/bin/node" && chmod +x "$R/bin/node"
  cp .device/webgpu/index.js .device/webgpu/package.json "$R/node_modules/webgpu/"
  unxz_to .device/webgpu/dist/linux-x64/dawn.node.xz "$R/node_modules/webgpu/dist/linux-x64/dawn.node"
  if [ -f .device/ort/ort-wasm-simd-threaded.asyncify.wasm.xz ]; then
    unxz_to .device/ort/ort-wasm-simd-threaded.asyncify.wasm.xz "$R/ort/ort-wasm-simd-threaded.asyncify.wasm"
    cp .device/ort/*.mjs "$R/ort/" 2>/dev/null || true
  fi
  touch "$R/.ready"
fi
# Bundles import `webgpu` as a bare specifier, resolved from the bundle's folder upwards: give the tree a
# node_modules holding only the carried package (node_modules is never carried).
[ -e node_modules ] || ln -s "$R/node_modules" node_modules
export PATH="$R/bin:$PATH" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" ORT_WASM_DIR="$R/ort" PYTHONUNBUFFERED=1
if [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
[ $# -eq 0 ] || "$@"
