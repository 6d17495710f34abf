# shellcheck shell=bash
# Shared by the device scripts (bench-models.sh, bench-slat.sh, bench-pipeline.sh, e2e-official.sh, parity.sh,
# occlude3d.sh), sourced from the repo root after `cd`: the setup every device call does and one way to run a
# step under a time limit. Each script keeps its own step wrapper (what it does with the step's stdout differs:
# a JSON line per step, NAME.json, or only the log).
#
# The caller sets LOG (the log file) and START (`date +%s` when its clock starts) before calling device_step.
# Notes: the "last JSON object of stdout" Python was a heredoc repeated in three scripts; it is now
# tools/device/device_json.py, a file that `--help` and a local run can check.

DEVICE_HOME=/tmp/amodal3r-dev

# device_setup SETUP_LOG [sharp]: node, Dawn and the Vulkan loaders (tools/device/run.sh; its output appended to
# SETUP_LOG, /dev/null to drop it) on PATH for this shell; with `sharp`, also sharp for PNG/GIF writes.
device_setup() {
  bash tools/device/run.sh >>"$1" 2>&1
  export PATH="$DEVICE_HOME/bin:$PATH" XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
  [ "${2:-}" = sharp ] && device_unpack_sharp
  return 0
}

# device_unpack_sharp: sharp (image decoding, PNG/GIF frames) is not in the device image; prepare.sh packs it with
# its prebuilt libvips into .device/sharp.tar.xz (node_modules/... paths), unpacked next to the carried webgpu.
device_unpack_sharp() {
  if [ ! -d "$DEVICE_HOME/node_modules/sharp" ] && [ -f .device/sharp.tar.xz ]; then
    python3 -c 'import lzma,sys,tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])' \
      .device/sharp.tar.xz "$DEVICE_HOME"
  fi
}

# device_step NAME SECONDS STDOUT CMD...: CMD under `timeout -k 5 SECONDS`, its stdout to the file STDOUT
# (overwritten; when STDOUT is $LOG, stdout and stderr are both appended there) and stderr appended to $LOG, between
# two log lines with the seconds since START. Returns CMD's exit status (124/137: cut off by the limit).
device_step() {
  local name=$1 lim=$2 out=$3
  shift 3
  echo "=== $name: $* ($(($(date +%s) - START)) s)" >>"$LOG"
  if [ "$out" = "$LOG" ]; then
    timeout -k 5 "$lim" "$@" >>"$LOG" 2>&1
  else
    timeout -k 5 "$lim" "$@" >"$out" 2>>"$LOG"
  fi
  local rc=$?
  echo "=== $name exit $rc ($(($(date +%s) - START)) s)" >>"$LOG"
  return $rc
}

# device_json record NAME STDOUT_FILE EXIT | device_json save STDOUT_FILE DEST: see tools/device/device_json.py.
device_json() {
  python3 tools/device/device_json.py "$@"
}
