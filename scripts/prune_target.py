#!/usr/bin/env python3
"""Removes the test binaries of earlier builds from a target's deps folder.

  cargo build ... --message-format=json | prune_target.py TARGET/debug/deps

cargo never removes them, and each is hundreds of megabytes: over a day of builds they filled
the machine's disk. Kept: every file the build on stdin names (its artifacts, fresh or not).
Only executables without an extension are candidates (proc-macro libraries have one).
"""

import json
import os
import sys

deps = os.path.realpath(sys.argv[1])
keep = set()
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-artifact":
        keep.update(os.path.realpath(f) for f in message.get("filenames", []))
        if message.get("executable"):
            keep.add(os.path.realpath(message["executable"]))
if not keep:
    sys.exit("no artifacts listed: nothing removed")
freed = 0
for name in os.listdir(deps):
    path = os.path.join(deps, name)
    if "." in name or not os.path.isfile(path) or not os.access(path, os.X_OK) or path in keep:
        continue
    freed += os.path.getsize(path)
    os.remove(path)
print(f"stale test binaries removed: {freed / 1e9:.1f} GB")
