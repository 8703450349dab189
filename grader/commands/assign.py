"""``python -m grader assign``: write the student stubs from the reference solutions.

``assignments/`` is generated from ``reference/`` (see :mod:`grader.assign`
for the solution markers): the same signatures and docstrings, each solution
replaced by ``raise NotImplementedError("TODO: ...")``. The student's own
files (``ANALYSIS.md``, ``metrics_extra.py``, ``enhancement.py``,
``data/``) are written only where missing.

- ``--check``: write nothing; exit 1 and name the files that differ.
- ``--release DIR``: build the student release in the new folder ``DIR``
  (``--archive`` also packs it as ``DIR.zip``): the kit without
  ``reference/``, ``tests/``, ``bench/`` and the instructors' files, with
  fresh stubs. Publish it as the Classroom template repository.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .. import assign


def add_arguments(parser) -> None:
    """Options of ``assign``."""
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when assignments/ differs from the reference")
    parser.add_argument("--release", metavar="DIR", type=Path,
                        help="build the student release (no solutions, no kit tests) in DIR")
    parser.add_argument("--archive", action="store_true",
                        help="with --release: also write DIR.zip")


def run(args) -> int:
    """Generate, check or release; exit 1 on drift (``--check``) or a malformed marker."""
    try:
        if args.release is not None:
            files = assign.build_release(args.release)
            print(f"assign: student release written to {args.release} ({len(files)} files)")
            if args.archive:
                archive = shutil.make_archive(str(args.release), "zip", root_dir=args.release)
                print(f"assign: archive {archive}")
            return 0
        if args.check:
            stale = assign.drift()
            for name in stale:
                print(f"assignments/{name}: differs from what `python -m grader assign` "
                      f"writes from reference/{name}", file=sys.stderr)
            if not stale:
                print("assign: assignments/ matches reference/")
            return 1 if stale else 0
        changed = assign.write_assignments()
        print(f"assign: {len(changed)} file(s) written" + (f": {', '.join(changed)}"
                                                         if changed else " (up to date)"))
        return 0
    except (assign.MarkerError, FileExistsError) as exc:
        print(f"assign: {exc}", file=sys.stderr)
        return 1
