#!/usr/bin/env bash
# Builds what a device call carries (run HERE, in the repo root; idempotent, fast when nothing changed):
#   .gl/       the 7 Vulkan/GL loader debs the device image lacks (Debian bookworm, amd64)
#   .device/   node.xz (stripped /usr/bin/node), webgpu/{index.js,package.json,dist/linux-x64/dawn.node.xz},
#              ort/ort-wasm-simd-threaded.asyncify.wasm.xz (onnxruntime-web's WebGPU build, for js-frameworks),
#              bundle/*.mjs (esbuild bundles of ENTRIES; `webgpu` and `sharp` stay external)
# Then: run(command="bash tools/device/session.sh", kind="nvidia-h100-x1", carry=[".gl", ".device"]); see docs/device.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# Entry points to bundle (add yours here; tools/device/entries/*.ts are picked up automatically).
# Bundle name = path with '/' -> '-' and .ts -> .mjs, e.g. bench/main.ts -> .device/bundle/bench-main.mjs.
ENTRIES=(
  bench/main.ts
  bench/js-frameworks.ts
  src/models/slat-decoder-gs.test.ts
  src/models/slat-decoder-mesh.test.ts
  src/models/slat-decoder-rf.test.ts
)
for f in tools/device/entries/*.ts; do [ -e "$f" ] && ENTRIES+=("$f"); done

DEV=.device
mkdir -p "$DEV/webgpu/dist/linux-x64" "$DEV/bundle" "$DEV/ort" .gl

# newer SRC DST: true when DST is missing or older than SRC.
newer() { [ ! -e "$2" ] || [ "$1" -nt "$2" ]; }

# 1. node: the one running here (x86-64, glibc >= 2.28), stripped, xz'd (~22 MB).
NODE_BIN=$(command -v node)
if newer "$NODE_BIN" "$DEV/node.xz"; then
  echo "prepare: node $(node --version) -> $DEV/node.xz"
  strip -o /tmp/amodal3r-node.stripped "$NODE_BIN"
  xz -T0 -9e -c /tmp/amodal3r-node.stripped >"$DEV/node.xz.tmp" && mv "$DEV/node.xz.tmp" "$DEV/node.xz"
  rm -f /tmp/amodal3r-node.stripped
fi

# 2. webgpu (Dawn): index.js needs only node builtins; dawn.node needs glibc 2.34 (device has 2.39).
WG=node_modules/webgpu
[ -f "$WG/dist/linux-x64/dawn.node" ] || { echo "prepare: run npm ci first ($WG missing)" >&2; exit 1; }
cp -u "$WG/index.js" "$WG/package.json" "$DEV/webgpu/"
if newer "$WG/dist/linux-x64/dawn.node" "$DEV/webgpu/dist/linux-x64/dawn.node.xz"; then
  echo "prepare: dawn.node -> xz"
  xz -T0 -9 -c "$WG/dist/linux-x64/dawn.node" >"$DEV/webgpu/dist/linux-x64/dawn.node.xz"
fi

# 3. onnxruntime-web's wasm for its WebGPU EP (asyncify build; ~27 MB raw).
ORT_WASM=node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm
if [ -f "$ORT_WASM" ]; then
  if newer "$ORT_WASM" "$DEV/ort/ort-wasm-simd-threaded.asyncify.wasm.xz"; then
    echo "prepare: ort wasm -> xz"
    xz -T0 -9 -c "$ORT_WASM" >"$DEV/ort/ort-wasm-simd-threaded.asyncify.wasm.xz"
  fi
  # With env.wasm.wasmPaths set to a folder, ort also imports its Emscripten glue from there (H100 run
  # 2026-11-27: ERR_MODULE_NOT_FOUND for ort-wasm-simd-threaded.asyncify.mjs), so carry it too (53 KB).
  cp -u "${ORT_WASM%.wasm}.mjs" "$DEV/ort/"
else
  echo "prepare: onnxruntime-web not installed; js-frameworks' ort cases will fail on the device" >&2
fi

# 4. Vulkan/GL loaders (per /work/.library/device/README.md). Carrying libvulkan1 alone finds no driver.
if [ "$(ls .gl/*.deb 2>/dev/null | wc -l)" -lt 7 ]; then
  echo "prepare: downloading loader debs into .gl/"
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# 4b. sharp + its linux-x64 libvips (image decoding, PNG/GIF frames) for the pipeline benchmark and the CLI bundle
#     (tools/device/bench-pipeline.sh unpacks it next to webgpu); ~6.7 MB xz'd.
SHARP_PKGS=(node_modules/sharp node_modules/@img/sharp-linux-x64 node_modules/@img/sharp-libvips-linux-x64
  node_modules/@img/colour node_modules/detect-libc node_modules/semver)
if newer node_modules/sharp/package.json "$DEV/sharp.tar.xz"; then
  echo "prepare: sharp -> $DEV/sharp.tar.xz"
  tar -cf - "${SHARP_PKGS[@]}" | xz -T0 -6 >"$DEV/sharp.tar.xz.tmp" && mv "$DEV/sharp.tar.xz.tmp" "$DEV/sharp.tar.xz"
fi

# 5. Bundles (always rebuilt: esbuild takes about a second each).
rm -f "$DEV"/bundle/*.mjs
for e in "${ENTRIES[@]}"; do
  [ -f "$e" ] || { echo "prepare: skip missing entry $e" >&2; continue; }
  out="$DEV/bundle/$(echo "${e%.ts}" | tr '/' '-').mjs"
  npx esbuild "$e" --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --external:sharp --log-level=error --outfile="$out" \
    --banner:js="import { createRequire as __amodal3rRequire } from 'node:module'; const require = __amodal3rRequire(import.meta.url);"
done

total=$(du -cb .gl "$DEV" | tail -1 | cut -f1)
echo "prepare: carry .gl + $DEV = $((total / 1024 / 1024)) MiB (limit 64 MiB with the tracked tree)"
ls "$DEV/bundle"
