"""``python -m grader similarity SUBMISSIONS_DIR --out OUT_DIR``: the class report alone.

For a class graded elsewhere (GitHub Classroom, Gradescope) whose repositories
were downloaded: no grading, only ``OUT_DIR/similarity.html`` and
``OUT_DIR/similarity.csv`` (see :mod:`grader.classreport`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import classmatch, classreport
from ..batch import BatchError, find_submissions
from ..settings import REPO_ROOT


def threshold_type(text: str) -> float:
    """A similarity threshold: a number in (0, 1]."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value:g}")
    return value


def add_threshold(parser) -> None:
    """``--similarity-threshold``, shared with ``batch``."""
    parser.add_argument("--similarity-threshold", type=threshold_type,
                        default=classmatch.DEFAULT_THRESHOLD, metavar="X",
                        help="flag a pair whose code or prose score reaches X, from 0 to 1 "
                             f"(default {classmatch.DEFAULT_THRESHOLD:g}: see docs/INSTRUCTORS.md)")


def add_arguments(parser) -> None:
    """Options of ``similarity``."""
    parser.add_argument("submissions", type=Path,
                        help="folder holding one folder (or git checkout) per student")
    parser.add_argument("--out", type=Path, required=True, help="where the report is written")
    add_threshold(parser)
    parser.add_argument("--starter", type=Path, default=REPO_ROOT / "assignments",
                        metavar="DIR", help="the starter assignments/ whose code and template "
                                            "never count (default: this kit's)")
    parser.add_argument("-j", "--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions fingerprinted at once")


def run(args) -> int:
    """Write the report; exit 2 on bad input."""
    if not args.starter.is_dir():
        print(f"similarity: --starter {args.starter}: not a folder", file=sys.stderr)
        return 2
    try:
        submissions = find_submissions(args.submissions)
    except BatchError as exc:
        print(f"similarity: {exc}", file=sys.stderr)
        return 2
    folders = {s.student: s.assignments for s in submissions}
    try:
        report = classreport.run_report(folders, args.out,
                                        classmatch.starter_hashes(args.starter),
                                        args.similarity_threshold, jobs=max(1, args.jobs))
    except OSError as exc:
        print(f"similarity: cannot write the report in {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(classreport.summary(report, args.out))
    return 0
