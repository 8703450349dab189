"""Command line: ``python -m grader COMMAND`` (also installed as ``grader``).

Each command lives in ``grader/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command name -> module in grader/commands/, where the two differ.
MODULES = {"check-harness": "verify"}
# Old names still accepted: ``verify`` read too much like ``validate`` (datasets).
ALIASES = {"check-harness": ["verify"]}

COMMANDS = {
    "validate": "check dataset files against their JSON Schemas",
    "score": "grade an implementation in a subprocess and print the table",
    "regenerate": "grade the reference and rewrite the pinned reference scores",
    "record": "re-record the API cassettes (simulator or live API)",
    "batch": "grade a folder of student submissions",
    "similarity": "the class similarity report alone: who shares code or prose with whom",
    "check-harness": "tamper check: list grader files a student repository has changed "
                     "(old name: verify)",
    "assign": "write the student stubs from reference/ (--release DIR: the student release)",
    "gradescope": "build the Gradescope autograder zip (setup.sh, run_autograder, the kit)",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; return its exit code."""
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, help_text in COMMANDS.items():
        try:
            module = f"grader.commands.{MODULES.get(name, name)}"
            modules[name] = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        command = sub.add_parser(name, help=help_text, description=help_text,
                                 aliases=ALIASES.get(name, []))
        modules[name].add_arguments(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    name = next((n for n, old in ALIASES.items() if args.command in old), args.command)
    return int(modules[name].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
