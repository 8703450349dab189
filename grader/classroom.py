"""The last word of the GitHub Classroom workflow: always hand the reporter a result.

``.github/workflows/classroom.yml`` runs ``python -m grader score``, which
writes the ``result`` output itself (partial credit per check). If that step
never got that far (the kit failed to install, the step hit its time limit,
the runner was cancelled), there is no result, and the classroom reporter
would fail without recording anything. This step, run with ``if: always()``,
passes the grading step's result through unchanged when there is one, and
otherwise emits a valid zero-point result whose message says why.

Inputs (environment): ``GRADE_RESULT`` (the grading step's ``result``
output), ``GRADE_OUTCOME``, ``INSTALL_OUTCOME`` and ``SETUP_OUTCOME`` (the
steps' outcomes). Output: ``result=...`` appended to ``$GITHUB_OUTPUT``; a
note appended to ``$GITHUB_STEP_SUMMARY`` when the run produced no result.
It also prints, in the job log, every check with its points, the message of
each check that lost points, and whether the reporter will pass the job (the
reporter itself counts only passed checks and hides most messages).

When even the checkout failed, this module is not there: the workflow then
writes :data:`CHECKOUT_FAILED` itself (a kit test keeps the two equal).

Standard library only, so it works even when installing the kit failed.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from .rubric import TOTAL_POINTS


def decode(value: str) -> dict | None:
    """The payload inside a base64 ``result`` value, or None when it is not one."""
    try:
        payload = json.loads(base64.b64decode(value.strip(), validate=True))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("tests"), list):
        return None
    if "max_score" not in payload:
        return None
    return payload


def encode(payload: dict) -> str:
    """Base64 JSON, as the reporter reads it."""
    return base64.b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode()


def reason(grade_outcome: str, install_outcome: str, setup_outcome: str = "") -> str:
    """Why there is no result, in words a student understands."""
    if setup_outcome and setup_outcome not in ("success", ""):
        return ("Python 3.11 could not be set up on the runner (see the 'Set up Python' "
                "step of the workflow log), so nothing was graded")
    if install_outcome and install_outcome not in ("success", ""):
        return ("the kit could not be installed (see the 'Install the kit' step of the "
                "workflow log), so nothing was graded")
    if grade_outcome == "cancelled":
        return ("the grading step was stopped: it ran past its time limit or the run was "
                "cancelled; the checks that did not finish earn 0")
    if grade_outcome == "skipped":
        return "the grading step did not run"
    return "the grading run crashed before it could report (see the 'Grade' step's log)"


def zero_payload(why: str) -> dict:
    """A valid classroom result worth 0 points that says why."""
    return {
        "version": 1,
        "status": "error",
        "max_score": TOTAL_POINTS,
        "tests": [{
            "name": "grading run",
            "status": "error",
            "score": 0,
            "max_score": TOTAL_POINTS,
            "message": f"No points could be given: {why}.",
            "test_code": "python -m grader score",
            "filename": "",
            "line_no": 0,
            "execution_time": "0s",
        }],
    }


CHECKOUT_FAILED = ("the submission could not be checked out (see the 'Check out' step "
                   "of the workflow log), so nothing was graded")


def log_lines(payload: dict) -> list[str]:
    """What the job log shows: each check, its points, and why it lost any."""
    lines = []
    for test in payload["tests"]:
        mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}.get(test["status"], "REVIEW")
        lines.append(f"{mark:<6} {test['name']}  {test['score']:.2f} / "
                     f"{test.get('max_score', 0):g}")
        if test["status"] != "pass" and test.get("message"):
            lines.extend(f"         {line}" for line in test["message"].splitlines())
    total = 0.0
    for test in payload["tests"]:  # summed as the reporter sums, left to right
        total += test["score"]
    lines.append(f"Points sent to GitHub Classroom: {total}/{payload['max_score']:g}")
    if payload["status"] == "pass":
        lines.append("Every automatic point is earned: the job passes.")
    else:
        lines.append("Not every automatic point is earned (or grading did not finish): "
                     "the reporter marks the job as failed.")
    return lines


def main(environ=None) -> int:
    """Write the ``result`` output; return 0 (this step must never fail the job itself)."""
    environ = os.environ if environ is None else environ
    given = environ.get("GRADE_RESULT", "")
    payload = decode(given) if given else None
    if payload is not None:
        value, note = given.strip(), None
    else:
        why = reason(environ.get("GRADE_OUTCOME", ""), environ.get("INSTALL_OUTCOME", ""),
                     environ.get("SETUP_OUTCOME", ""))
        value, note = encode(zero_payload(why)), why
        payload = decode(value)
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(f"result={value}\n")
    else:
        print(f"result={value}")
    print("\n".join(log_lines(payload)))
    if note:
        print(f"grading produced no result: {note}; reporting 0 points", file=sys.stderr)
        if environ.get("GITHUB_STEP_SUMMARY"):
            with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(f"## Grading result\n\n**Score: 0 / {TOTAL_POINTS:g}**: {note}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
