"""Grading on Gradescope: what ``run_autograder`` runs for each submission.

Gradescope unpacks the autograder zip (built by ``python -m grader gradescope``)
into ``/autograder/source``, runs ``setup.sh`` once when the image is built,
then, for each submission, puts the student's files in
``/autograder/submission`` and runs ``/autograder/run_autograder``, which
calls ``python -m grader.gradescope``. This module:

1. finds the submission's ``assignments/`` folder (at the top, or one folder
   down when the student uploaded their repository folder) and copies only it
   next to the pristine kit: nothing else the student uploaded is used;
2. grades it in a child process with a time limit (``GRADER_TIMEOUT``
   seconds, default 1500);
3. writes ``/autograder/results/results.json``, always: a crash, a time-out or
   a missing folder gives zero points with the reason in ``output``.

The root (``/autograder``) comes from ``GRADESCOPE_ROOT`` so the whole path
can be tried in a temporary folder (the kit's tests do).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .rubric import TOTAL_POINTS

ROOT_VARIABLE = "GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
DEFAULT_TIMEOUT = 1500
MODULES = ("dspy_example.py", "openai_finetune.py", "huggingface_lora.py")


def find_assignments(submission: Path) -> Path | None:
    """The submitted ``assignments/`` folder, or None when there is none."""
    if (submission / "assignments").is_dir():
        return submission / "assignments"
    for child in sorted(submission.iterdir()) if submission.is_dir() else []:
        if child.is_dir() and (child / "assignments").is_dir():
            return child / "assignments"
    if any((submission / name).is_file() for name in MODULES):
        return submission  # the student uploaded the folder's files themselves
    return None


def failure_results(why: str) -> dict:
    """A results.json worth 0 points whose output says why."""
    return {
        "score": 0,
        "output": f"No points could be given: {why}.",
        "output_format": "text",
        "stdout_visibility": "visible",
        "tests": [],
    }


def grade(root: Path, timeout: float) -> dict:
    """Grade ``root/submission`` and return the results.json content."""
    from . import reports
    from .runner import grade_in_subprocess

    found = find_assignments(root / "submission")
    if found is None:
        return failure_results(
            "the submission has no assignments/ folder; upload your repository "
            "(or its assignments/ folder)")
    work = Path(tempfile.mkdtemp(prefix="gradescope-")) / "assignments"
    shutil.copytree(found, work, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    print(f"Grading {found} (copied to {work})", flush=True)
    result, output = grade_in_subprocess(str(work), timeout=timeout)
    print(output, flush=True)
    return reports.gradescope(result)


def main(environ=None) -> int:
    """Write results.json whatever happens; return 0."""
    environ = os.environ if environ is None else environ
    started = time.monotonic()
    root = Path(environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    results_file = root / "results" / "results.json"
    try:
        timeout = float(environ.get("GRADER_TIMEOUT") or DEFAULT_TIMEOUT)
        results = grade(root, timeout)
    except BaseException as exc:  # noqa: BLE001 - results.json must be written regardless
        results = failure_results(f"the autograder itself failed ({type(exc).__name__}: "
                                  f"{exc}); please tell course staff")
        print(f"autograder failure: {exc!r}", file=sys.stderr)
    results["execution_time"] = round(time.monotonic() - started)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = results_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, results_file)
    print(f"Wrote {results_file}: {results['score']:g} points (of {TOTAL_POINTS:g}, "
          "review points apart)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
