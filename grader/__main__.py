"""Command line: ``python -m grader COMMAND`` (also installed as ``grader``).

Each command lives in ``grader/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "validate": "check dataset files against their JSON Schemas",
    "score": "grade an implementation in a subprocess and print the table",
    "regenerate": "grade the reference and rewrite the pinned reference scores",
    "record": "re-record the API cassettes (simulator or live API)",
    "batch": "grade a folder of student submissions",
    "verify": "list grader files a student repository has changed",
    "gradescope": "build the Gradescope autograder zip (setup.sh, run_autograder, the kit)",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; return its exit code."""
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, help_text in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"grader.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"grader.commands.{name}":
                raise
            continue
        command = sub.add_parser(name, help=help_text, description=help_text)
        modules[name].add_arguments(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
