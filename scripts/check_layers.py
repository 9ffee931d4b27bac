#!/usr/bin/env python3
"""Layer check: fails when a file under src/ includes or calls a file of a higher layer.

The layers, lowest first, are the folders of src/ in LAYERS; files directly in src/ (main.c, worker.c)
compose everything and sit on top. A file may include and call its own folder and lower ones; circles
are allowed only inside a folder. Includes are read from the sources; calls and data references from
the object files of a build (nm), so a call through a macro or an inline function is seen too.

usage: scripts/check_layers.py [BUILD_DIR]      (default: build; run `make` first)
"""
import collections
import os
import re
import subprocess
import sys

LAYERS = ["base", "proto", "auth", "sql", "policy", "config", "prepared", "io", "cluster",
          "backend", "pool", "frontend", "session", "admin", ""]
RANK = {name: i for i, name in enumerate(LAYERS)}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder(path):
    """The layer of a path relative to src/ ("" for files directly in src/)."""
    return path.split("/")[0] if "/" in path else ""


def sources():
    """Every .c and .h under src/, relative to src/."""
    out = []
    for d, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "src")))
    return sorted(out)


def check_folders(files):
    """Every folder must be a known layer."""
    return [f"src/{f}: folder {folder(f)!r} is not a layer in {LAYERS}" for f in files if folder(f) not in RANK]


def include_violations(files):
    """Includes of a higher layer, or of a path that is not under src/."""
    bad = []
    for f in files:
        with open(os.path.join(ROOT, "src", f)) as fh:
            text = fh.read()
        for target in INCLUDE.findall(text):
            if not os.path.exists(os.path.join(ROOT, "src", target)):
                if not os.path.exists(os.path.join(ROOT, "src", os.path.dirname(f), target)):
                    bad.append(f"src/{f} includes \"{target}\", which is not a path under src/")
                continue
            if RANK.get(folder(target), -1) > RANK.get(folder(f), -1):
                bad.append(f"src/{f} includes {target}: {folder(f) or 'src'} may not include {folder(target)}")
    return bad


def symbols(build):
    """(defined: symbol -> source path, used: source path -> set of symbols) from the build's objects."""
    objdir = os.path.join(ROOT, build, "obj")
    defined, used = {}, collections.defaultdict(set)
    for d, _, files in os.walk(objdir):
        for f in files:
            if not f.endswith(".o"):
                continue
            obj = os.path.join(d, f)
            src = os.path.relpath(obj, objdir)[:-2] + ".c"
            if not os.path.exists(os.path.join(ROOT, "src", src)):
                continue   # an object left over from a file that moved or was removed
            nm = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
            for line in nm.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in "TDBRCVW":
                    defined[parts[2]] = src
                elif len(parts) == 2 and parts[0] == "U":
                    used[src].add(parts[1])
    return defined, used


def call_violations(build):
    """Functions and data of a higher layer used by an object file."""
    defined, used = symbols(build)
    if not defined:
        sys.exit(f"check_layers: no object files under {build}/obj (run make first)")
    bad = collections.defaultdict(set)
    for src, syms in used.items():
        for s in syms:
            target = defined.get(s)
            if target and target != src and RANK.get(folder(target), -1) > RANK.get(folder(src), -1):
                bad[(src, target)].add(s)
    return [f"src/{src} calls {', '.join(sorted(s))} in src/{target}: "
            f"{folder(src) or 'src'} may not call {folder(target)}" for (src, target), s in sorted(bad.items())]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    files = sources()
    bad = check_folders(files) + include_violations(files) + call_violations(build)
    for line in bad:
        print(line)
    print(f"check_layers: {len(files)} files in {len(LAYERS) - 1} layers, {len(bad)} upward dependencies")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
