"""``grader gradescope OUT.zip``: build the autograder zip Gradescope asks for.

The zip holds, at its top level, Gradescope's two entry points and the kit:

- ``setup.sh``: run once when Gradescope builds the image (Ubuntu 22.04, whose
  Python is 3.10): installs Python 3.11, a CPU-only torch and the kit into
  ``/autograder/venv``;
- ``run_autograder``: run for each submission; grades only the submission's
  ``assignments/`` with the pristine kit (``python -m grader.gradescope``) and
  always leaves ``/autograder/results/results.json``, even when Python itself
  cannot start;
- the kit: exactly the student release (:func:`grader.assign.build_release`:
  the kit without solutions, the kit's tests, benchmarks and instructor-only
  files, with ``assignments/`` generated from ``reference/``), so what Gradescope
  grades with and what students receive follow one rule.
"""

from __future__ import annotations

import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from ..assign import build_release
from ..seam import REPO_ROOT

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image
# (Ubuntu 22.04). Installs Python 3.11, CPU-only torch and the course kit.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends software-properties-common
add-apt-repository -y ppa:deadsnakes/ppa
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev
python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# The CPU build of the pinned torch first: the default wheel carries CUDA (gigabytes).
/autograder/venv/bin/pip install "torch==TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -e /autograder/source
/autograder/venv/bin/python -c "import grader, torch; print('kit ready, torch', torch.__version__)"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades only the submission's
# assignments/ folder with the pristine kit and always leaves results.json.
# GRADESCOPE_ROOT (default /autograder) and KIT_PYTHON let the kit's tests run
# it in a temporary folder; GRADER_TIMEOUT (seconds, default 1500) bounds grading.
set -u
ROOT="${GRADESCOPE_ROOT:-/autograder}"
PYTHON="${KIT_PYTHON:-$ROOT/venv/bin/python}"
RESULTS="$ROOT/results/results.json"
export GRADESCOPE_ROOT="$ROOT"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT/source" || true
# The grading run stops itself at GRADER_TIMEOUT; this outer limit catches a hung Python.
timeout --kill-after=30 "$(( ${GRADER_TIMEOUT:-1500} + 120 ))" "$PYTHON" -m grader.gradescope
status=$?
if [ ! -s "$RESULTS" ]; then
  why="the autograder could not run (exit status $status); please tell course staff"
  printf '{"score": 0, "output": "No points could be given: %s.", %s}\\n' "$why" \\
    '"output_format": "text", "stdout_visibility": "visible", "tests": []' > "$RESULTS"
fi
exit 0
"""


def add_arguments(parser) -> None:
    """Declare the command's options."""
    parser.add_argument("out", metavar="OUT.zip", help="where to write the autograder zip")


def _torch_version() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip().strip(",").strip('"')
        if line.startswith("torch=="):
            return line.split("==", 1)[1].split('"')[0]
    raise SystemExit("grader gradescope: pyproject.toml pins no torch version")


def _add(archive: zipfile.ZipFile, name: str, text: str, executable: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build(out: Path, root: Path = REPO_ROOT) -> Path:
    """Write the autograder zip, the student release and the two entry points; return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        kit = Path(tmp) / "kit"
        files = build_release(kit, root)
        with zipfile.ZipFile(out, "w") as archive:
            _add(archive, "setup.sh", SETUP_SH.replace("TORCH_VERSION", _torch_version()), True)
            _add(archive, "run_autograder", RUN_AUTOGRADER, True)
            for name in files:
                archive.write(kit / name, name)
    return out


def run(args) -> int:
    """Build the zip and say what to do with it."""
    if not args.out.endswith(".zip"):
        print(f"grader gradescope: {args.out}: the output must be a .zip file", file=sys.stderr)
        return 2
    out = build(Path(args.out))
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    print(f"Wrote {out} ({count} files, {out.stat().st_size / 1e6:.1f} MB).")
    print("Upload it as the autograder of a Gradescope programming assignment "
          "(Ubuntu 22.04 base image); see docs/INSTRUCTORS.md, 'Gradescope'.")
    return 0
