"""``python -m grader validate PATH... [--schema NAME] [--max-errors N]``.

Checks JSON Lines dataset files against the kit's JSON Schemas. For each file
it prints one ``path:line: pointer: message`` line per problem (at most
``--max-errors``, then ``... and N more problems``), then a summary line
``path: N records, M valid`` (or ``path: ERROR: why`` when the file cannot be
read). Exit status: 0 when every file is valid, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys

from grader.validate import SCHEMA_NAMES, validate_file


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON Lines files to check")
    parser.add_argument("--schema", choices=SCHEMA_NAMES,
                        help="the format of every file (default: inferred from each file's "
                             "name, then from its first record)")
    parser.add_argument("--max-errors", type=_count, default=20, metavar="N",
                        help="problems printed per file before the rest are only counted "
                             "(default: 20)")


def run(args: argparse.Namespace) -> int:
    """Validate every file; print problems and summaries; return the exit status."""
    out = sys.stdout
    if hasattr(out, "reconfigure"):  # a record may hold text the terminal cannot encode
        out.reconfigure(errors="backslashreplace")
    try:
        return _validate_all(args, out)
    except BrokenPipeError:  # output piped into `head` and cut short: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - let interpreter exit quietly
        return 1


def _validate_all(args: argparse.Namespace, out) -> int:
    all_ok = True
    for path in args.paths:
        report = validate_file(path, schema=args.schema, max_problems=args.max_errors)
        all_ok = all_ok and report.ok
        for problem in report.problems:
            if not (problem.line == 0 and problem.message == report.error):  # said below
                print(problem, file=out)
        if report.truncated:
            print(f"... and {report.truncated} more problems", file=out)
        if report.error is not None:
            print(f"{report.path}: ERROR: {report.error}", file=out)
        else:
            print(f"{report.path}: {report.records} records, {report.valid} valid", file=out)
    return 0 if all_ok else 1
