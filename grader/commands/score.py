"""``grader score``: grade an implementation in a subprocess and print the table.

Exit status is 0 whatever the score (a low score is not an error); 2 for a
usage error. With ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` set (GitHub
Actions), the classroom payload and the Markdown summary are written here,
exactly once, even when the grading run itself crashed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import reports
from ..results import write_json
from ..runner import grade_in_subprocess
from ..seam import NAMED


def add_arguments(parser) -> None:
    """Declare the command's options."""
    parser.add_argument("--impl", default="assignments",
                        help="assignments (default), reference, or a directory")
    parser.add_argument("--json", metavar="PATH", help="write the full result as JSON")
    parser.add_argument("--gradescope", metavar="PATH", help="write Gradescope results.json")
    parser.add_argument("--reviews", metavar="CSV", help="review points: check,points[,comment]")
    parser.add_argument("--timeout", type=float, default=900,
                        help="stop the whole run after this many seconds (default 900)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show pytest's output")


def run(args) -> int:
    """Grade, print the table, write the requested reports; exit 0."""
    if args.impl not in NAMED and not Path(args.impl).is_dir():
        print(f"grader score: --impl {args.impl!r} is not 'reference', 'assignments' "
              "or a directory", file=sys.stderr)
        return 2
    if args.reviews and not Path(args.reviews).is_file():
        print(f"grader score: --reviews {args.reviews}: no such file", file=sys.stderr)
        return 2
    extra = [f"--reviews={Path(args.reviews).resolve()}"] if args.reviews else []
    impl = args.impl if args.impl in NAMED else str(Path(args.impl).resolve())
    json_path = Path(args.json).resolve() if args.json else None
    result, output = grade_in_subprocess(impl, json_path, timeout=args.timeout,
                                         extra_args=extra, echo=args.verbose)
    if json_path:
        write_json(json_path, result.to_dict())
    if args.gradescope:
        write_json(Path(args.gradescope), reports.gradescope(result))
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(f"result={reports.classroom_output(result)}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(reports.markdown(result))
    lost = [c for c in result.checks if c.points < c.max_points and not c.review]
    for check in lost:
        symbol = reports.SYMBOL.get(check.status, "✗")
        print(f"{symbol} {check.name} ({check.points:g}/{check.max_points:g}): {check.message}")
    if lost:
        print()
    print(f"Graded {result.impl}  (kit {result.kit_version}, checks {result.checks_hash})")
    print(reports.table(result))
    return 0
