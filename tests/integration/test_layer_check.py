"""The layer check CI runs (scripts/check_layers.py): the tree passes it, and it fails on an upward
include or an upward call, naming the file, the layers and the symbol."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("PGR_BUILD_DIR", "build")


def run_check(root):
    """Run the check in root (a copy of the tree); returns (exit status, output)."""
    r = subprocess.run([sys.executable, os.path.join(root, "scripts", "check_layers.py"), BUILD],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def tree(tmp_path):
    """A copy of scripts/check_layers.py, src/ and the build's object files."""
    objs = os.path.join(REPO, BUILD, "obj")
    if not os.path.isdir(objs):
        pytest.fail(f"no object files in {objs}: build first (make)")
    os.makedirs(tmp_path / "scripts")
    shutil.copy(os.path.join(REPO, "scripts", "check_layers.py"), tmp_path / "scripts")
    shutil.copytree(os.path.join(REPO, "src"), tmp_path / "src")
    shutil.copytree(objs, tmp_path / BUILD / "obj")
    return tmp_path


def test_the_tree_keeps_the_layer_rule(tree):
    rc, out = run_check(str(tree))
    assert rc == 0, out
    assert "0 upward dependencies" in out


def test_an_upward_include_fails_the_check(tree):
    with open(tree / "src" / "base" / "iobuf.c", "a") as f:
        f.write('\n#include "frontend/client.h"\n')
    rc, out = run_check(str(tree))
    assert rc == 1, out
    assert "src/base/iobuf.c includes frontend/client.h: base may not include frontend" in out


def test_an_upward_call_fails_the_check(tree):
    # A file in base/ that calls the frontend's client_close: compiled into the build's objects.
    src = tree / "src" / "base" / "stray.c"
    src.write_text("/* A stray call upward. */\nstruct client;\n"
                   "void client_close(struct client *cl, const char *sqlstate, const char *msg);\n"
                   "void stray(struct client *cl);\n"
                   "void stray(struct client *cl) { client_close(cl, 0, 0); }\n")
    subprocess.run(["cc", "-c", "-o", str(tree / BUILD / "obj" / "base" / "stray.o"), str(src)], check=True)
    rc, out = run_check(str(tree))
    assert rc == 1, out
    assert "src/base/stray.c calls client_close in src/frontend/client.c: base may not call frontend" in out


def test_a_folder_that_is_not_a_layer_fails_the_check(tree):
    os.makedirs(tree / "src" / "misc")
    (tree / "src" / "misc" / "x.c").write_text("/* Not in any layer. */\n")
    rc, out = run_check(str(tree))
    assert rc == 1 and "folder 'misc' is not a layer" in out, out
