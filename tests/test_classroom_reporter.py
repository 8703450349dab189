"""The Classroom payload held to the rules of GitHub Classroom's reporter.

classroom-resources/autograding-grading-reporter@v1 (its dist/main.js):
- the step fails ("Some tests failed." / "Some tests errored.") when the
  payload's top-level ``status`` is ``fail`` or ``error``;
- Classroom receives ``Points {sum of tests[].score}/{max_score}``, the scores
  added as JavaScript numbers, left to right from 0, without rounding.
The kit also keeps the stricter reading: a passing payload has no test whose
status is ``fail`` or ``error``.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from grader import classroom, reports
from grader.results import ERROR, FAILED, NOT_RUN, PARTIAL, REVIEW, CheckResult, GradeResult

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "grader" / "schemas" / "classroom-result.schema.json").read_text())
REFERENCE = json.loads((ROOT / "grader" / "reference_scores.json").read_text())


def step_fails(payload: dict) -> bool:
    """The reporter's rule for failing its step."""
    return payload["status"] in ("fail", "error")


def classroom_points(payload: dict) -> tuple[float, float]:
    """What the reporter sends Classroom: the JavaScript sum of scores, and max_score."""
    total = 0
    for test in payload["tests"]:
        total = total + test["score"]
    return total, payload["max_score"]


def _reference_checks() -> list[CheckResult]:
    checks = []
    for check_id, entry in REFERENCE["checks"].items():
        checks.append(CheckResult(
            id=check_id, name=entry["name"], category=entry["category"],
            approach=entry["approach"], max_points=entry["max"], points=entry["points"],
            status=entry["status"], review=entry["review"],
            message="awaiting review by course staff" if entry["review"] else ""))
    return checks


def perfect() -> GradeResult:
    return GradeResult(impl="reference", checks=_reference_checks(), complete=True)


def partial() -> GradeResult:
    result = perfect()
    for check, fraction in zip([c for c in result.checks if not c.review][:3],
                               (1 / 3, 2 / 3, 0.0), strict=True):
        check.finish(PARTIAL if fraction else FAILED, fraction)
        check.message = f"{fraction:.2f} of the records are right"
    return result


def untouched() -> GradeResult:
    result = perfect()
    for check in result.checks:
        if not check.review:
            check.finish(FAILED, 0.0)
            check.message = f"not implemented yet: {check.name}"
    return result


def crashed() -> GradeResult:
    result = perfect()
    automatic = [c for c in result.checks if not c.review]
    automatic[len(automatic) // 2].finish(ERROR, 0.0)
    automatic[len(automatic) // 2].message = "the grading process died (exit code -9)"
    for check in automatic[len(automatic) // 2 + 1:]:
        check.points, check.status, check.message = 0.0, NOT_RUN, "did not run"
    result.complete, result.note = False, "the grading process died (exit code -9)"
    return result


CASES = {"perfect": perfect, "partial": partial, "untouched": untouched, "crashed": crashed}


@pytest.mark.parametrize("case", CASES)
def test_payload_follows_the_reporters_rules(case):
    result = CASES[case]()
    payload = reports.classroom_payload(result)
    jsonschema.validate(payload, SCHEMA)
    totals = result.totals()
    earned, maximum = classroom_points(payload)
    assert earned == totals["overall"]["earned"]  # exactly, as doubles: no 77.66669999999999
    assert maximum == totals["overall"]["max"] == 100
    assert step_fails(payload) == (case != "perfect")
    failing = [t for t in payload["tests"] if t["status"] in ("fail", "error")]
    assert bool(failing) == (case != "perfect")
    reviews = [t for t in payload["tests"] if t["name"].endswith("(awaiting review)")]
    assert reviews and all(t["status"] == "pending" and t["score"] == 0 for t in reviews)
    assert sum(t["max_score"] for t in reviews) == totals["review"]["max"]
    for test, check in zip(payload["tests"], result.checks, strict=True):
        assert test["score"] == pytest.approx(check.points, abs=1e-9)
        if check.points < check.max_points and not check.review:
            assert test["message"] == check.message


def test_perfect_automatic_run_is_green_with_90_of_100():
    payload = reports.classroom_payload(perfect())
    assert not step_fails(payload)
    assert classroom_points(payload) == (90.0, 100.0)


def test_partial_total_is_exact_to_the_hundredth():
    result = partial()
    earned, _ = classroom_points(reports.classroom_payload(result))
    assert f"{earned:.2f}" == f"{result.totals()['overall']['earned']:.2f}"
    assert repr(earned) == repr(result.totals()["overall"]["earned"])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("case", ["partial", "crashed"])
def test_javascript_sums_the_scores_to_the_kit_total(case):
    result = CASES[case]()
    payload = reports.classroom_payload(result)
    script = ("const p = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "let t = 0; p.tests.forEach(({score}) => { t += score; });"
              "console.log(`${t}/${p.max_score}`);")
    out = subprocess.run(["node", "-e", script], input=json.dumps(payload), text=True,
                         capture_output=True, check=True).stdout.strip()
    assert out == f"{result.totals()['overall']['earned']:g}/100"


def test_zero_payload_is_red_and_worth_nothing():
    payload = classroom.zero_payload(classroom.CHECKOUT_FAILED)
    jsonschema.validate(payload, SCHEMA)
    assert step_fails(payload) and classroom_points(payload) == (0, 100)


def test_log_shows_every_lost_check_and_the_verdict(capsys, tmp_path):
    value = reports.classroom_output(partial())
    classroom.main({"GRADE_RESULT": value, "GRADE_OUTCOME": "success",
                    "GITHUB_OUTPUT": str(tmp_path / "out")})
    log = capsys.readouterr().out
    assert "0.33 of the records are right" in log and "0.00 of the records are right" in log
    assert "the reporter marks the job as failed" in log
    assert "REVIEW" in log


def test_workflow_fallback_without_a_checkout_is_the_zero_payload():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "classroom.yml").read_text())
    (job,) = workflow["jobs"].values()
    step = next(s for s in job["steps"] if s.get("id") == "autograding")
    (value,) = re.findall(r"result=([A-Za-z0-9+/=]+)", step["run"])
    assert value == classroom.encode(classroom.zero_payload(classroom.CHECKOUT_FAILED))
    assert json.loads(base64.b64decode(value))["tests"][0]["score"] == 0


def test_review_statuses_never_fail_the_job():
    result = perfect()
    for check in result.checks:
        if check.review:
            check.status = REVIEW
    assert reports.classroom_payload(result)["status"] == "pass"
