#!/usr/bin/env bash
# One device call that measures everything (run ON the device; see docs/device.md):
#   run(command="bash tools/device/session.sh [EXTRA...]", kind="nvidia-h100-x1", timeout_s=420,
#       carry=[".gl", ".device"])
# (a) adapter dump, (c) tools/bench_torch.py, (b) bench matmul + attention (robustness off), (d)
# bench/js-frameworks.ts (tfjs / onnxruntime-web), (b') bench matmul + attention with robustness on, (e) each EXTRA argument as a shell command (run through
# tools/device/run.sh, so `node` is the carried one), e.g. 'node .device/bundle/tools-device-entries-parity.mjs'.
# Every step has its own time limit (STEP_TIMEOUT, default 150 s; JSF_TIMEOUT for (d)); a failing step is
# recorded and the next one runs. Results: $OUT/session.json (all JSON) and $OUT/session.log (all output).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amodal3r-out}"
RES=/tmp/amodal3r-dev/results
mkdir -p "$OUT" "$RES"
LOG="$OUT/session.log"
: >"$LOG"
STEP_TIMEOUT="${STEP_TIMEOUT:-150}"
START=$(date +%s)

bash tools/device/run.sh 2>&1 | tee -a "$LOG" || { echo "session: setup failed" | tee -a "$LOG"; }

MERGE=/tmp/amodal3r-dev/merge.py
cat >"$MERGE" <<'PY'
import json, os, sys, time
res, out, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
summary = len(sys.argv) > 4
steps = {}
for f in sorted(os.listdir(res)):
    name, ext = os.path.splitext(f)
    if ext != ".json":
        continue
    text = open(os.path.join(res, f)).read()
    st = open(os.path.join(res, name + ".status")).read().split() if os.path.exists(os.path.join(res, name + ".status")) else ["?", "?"]
    try:
        data = json.loads(text)
    except ValueError:
        # Dawn writes shader-compiler warnings to fd 1 as well: take the last top-level JSON object.
        data = None
        at = text.rfind("\n{")
        while at >= 0 and data is None:
            try:
                data = json.loads(text[at + 1:])
            except ValueError:
                at = text.rfind("\n{", 0, at)
        if data is None:
            data = {"raw": text[-4000:]}
    steps[name] = {"exit": st[0], "seconds": st[1], "result": data}
smi = open(os.path.join(res, "nvidia-smi.txt")).read().strip() if os.path.exists(os.path.join(res, "nvidia-smi.txt")) else ""
json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nvidiaSmi": smi,
           "totalSeconds": int(time.time()) - start, "steps": steps}, open(out, "w"), indent=1)

if not summary:
    sys.exit(0)

def fig(r):
    if not isinstance(r, dict): return str(r)
    ms = r.get("medianMs", r.get("ms"))
    tf = r.get("tflops", r.get("tflopsMedian"))
    s = f"{ms:.3f} ms" if isinstance(ms, (int, float)) else ""
    if isinstance(tf, (int, float)): s += f" {tf:.1f} TF/s"
    if r.get("error"): s += " ERROR " + str(r["error"])[:120]
    return s

print(f"\n==== summary ({smi})")
for name, st in steps.items():
    r = st["result"]
    print(f"-- {name}: exit {st['exit']}, {st['seconds']} s")
    if name == "adapter" and isinstance(r, dict) and r.get("ok"):
        a = r["adapter"]; q = r.get("timestampQuantization", [])
        print(f"   {a['vendor']} {a['device']} | {a['description']} | features {r['context']['features']}")
        for p in q: print(f"   timestamps {p.get('flags', [''])[-1]}: quantum {p.get('commonPow2Ns')} ns, distinct {p.get('distinct')}")
        continue
    rows = r.get("results") if isinstance(r, dict) else None
    if isinstance(rows, list):
        for x in rows:
            print(f"   {str(x.get('id', x.get('name', '?'))):34s} {fig(x)}")
    elif isinstance(r, dict) and "raw" not in r:
        # our benches: {tflops: {case: x}, ms: {case: y}} or lists of {variant, dtype, ms, tflops}
        if isinstance(r.get("tflops"), dict):
            for k, v in r["tflops"].items():
                print(f"   {k:34s} {fig({'ms': (r.get('ms') or {}).get(k), 'tflops': v})}")
        def walk(o, path):
            if isinstance(o, dict):
                if isinstance(o.get("tflops"), (int, float)):
                    label = " ".join(str(o[k]) for k in ("id", "name", "variant", "dtype") if k in o) or path
                    print(f"   {label[:34]:34s} {fig(o)}"); return
                for k, v in o.items():
                    if k != "tflops": walk(v, f"{path}.{k}" if path else k)
            elif isinstance(o, list):
                for i, v in enumerate(o): walk(v, f"{path}[{i}]")
        walk(r, "")
    else:
        print("   " + json.dumps(r)[-300:])
PY
# merge [--summary]: (re)writes $OUT/session.json from the steps so far, so a call cut off by its limit still returns them.
merge() { python3 "$MERGE" "$RES" "$OUT/session.json" "$START" "$@"; }

# step NAME CMD...: stdout -> $RES/NAME.json, stderr -> log; status -> $RES/NAME.status
step() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "=== $name: $* ($(( t0 - START )) s into the session)" | tee -a "$LOG"
  timeout -k 5 "$STEP_TIMEOUT" bash tools/device/run.sh "$@" >"$RES/$name.json" 2> >(tee -a "$LOG" >&2)
  local rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" >"$RES/$name.status"
  echo "=== $name: exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
  merge
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader || true; } >"$RES/nvidia-smi.txt" 2>&1
step adapter node .device/bundle/tools-device-entries-adapter.mjs
step torch python3 tools/bench_torch.py
B=.device/bundle/bench-main.mjs
step bench-matmul node $B matmul --json
step bench-attention node $B attention --json
STEP_TIMEOUT="${JSF_TIMEOUT:-200}" step js-frameworks node .device/bundle/bench-js-frameworks.mjs --json --timeout 45
step bench-matmul-robust node $B matmul --json --robust
step bench-attention-robust node $B attention --json --robust
i=0
for extra in "$@"; do
  i=$((i + 1))
  step "extra$i" bash -c "$extra"
done

merge --summary
echo "session: results in $OUT/session.json, log in $OUT/session.log"
