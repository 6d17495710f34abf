#!/usr/bin/env python3
"""The JSON a device step printed, for the device scripts (tools/device/lib.sh calls it).

Our Node entries and the official modules print other lines on stdout before their JSON (Dawn's shader-compiler
warnings, the official code's progress prints), so a step's result is the LAST top-level object of its stdout: the
text from the last line that starts with "{" (pretty-printed JSON indents every inner brace), or from the first "{"
when no line starts with one.

  device_json.py record NAME STDOUT_FILE EXIT
      one line {"step": NAME, "exit": EXIT, "result": obj}; when stdout has no complete object (a step cut off by
      its limit), "partial": the last one-line object it printed (the benches print one after each case), or "raw":
      the last 2,000 characters.
  device_json.py save STDOUT_FILE DEST
      the object, indented, to DEST (temp + rename); exit 1 and DEST untouched when there is none.

Only the standard library: the device image's python3 runs it before anything is installed.
"""

import json
import os
import sys

RAW_TAIL_CHARS = 2000


def last_object(text):
    """The last top-level JSON object of `text`, or None."""
    i = text.rfind("\n{")
    tail = text[i + 1:] if i >= 0 else text[text.find("{"):] if "{" in text else ""
    try:
        return json.loads(tail)
    except ValueError:
        return None


def last_line_object(text):
    """The last line that is a whole JSON object (a one-line progress record), or None."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def record(name, path, code):
    text = open(path, errors="replace").read()
    line = {"step": name, "exit": code}
    obj = last_object(text)
    if obj is not None:
        line["result"] = obj
    else:
        partial = last_line_object(text)
        if partial is not None:
            line["partial"] = partial
        else:
            line["raw"] = text[-RAW_TAIL_CHARS:]
    print(json.dumps(line))


def save(path, dest):
    obj = last_object(open(path, errors="replace").read())
    if obj is None:
        return 1  # no JSON: the step's log and stdout file say why
    with open(dest + ".tmp", "w") as f:
        f.write(json.dumps(obj, indent=1) + "\n")
    os.replace(dest + ".tmp", dest)
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == "record":
        try:
            code = int(argv[3])
        except ValueError:
            sys.exit(f"device_json.py record: EXIT must be a number, got {argv[3]!r}")
        record(argv[1], argv[2], code)
        return 0
    if len(argv) == 3 and argv[0] == "save":
        return save(argv[1], argv[2])
    print(__doc__.strip(), file=sys.stderr if argv not in (["-h"], ["--help"]) else sys.stdout)
    return 0 if argv in (["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
