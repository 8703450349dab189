"""The subprocess runner and `grader score`: a result always comes back."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from grader import rubric
from grader.__main__ import main
from grader.runner import grade_in_subprocess

SCHEMAS = Path(__file__).resolve().parent.parent / "grader" / "schemas"


def harness(tmp_path: Path, overrides: dict[str, str]) -> Path:
    """A minimal harness: conftest, pyproject and grader/checks holding the full budget."""
    root = tmp_path / "harness"
    checks = root / "checks"
    checks.mkdir(parents=True)
    (root / "conftest.py").write_text("pytest_plugins = ['grader.plugin']\n")
    (root / "pytest.ini").write_text("[pytest]\ntimeout = 30\ngrader_checks = checks\n")
    (root / "impl").mkdir()
    (root / "impl" / "__init__.py").write_text("")
    lines = ["import pytest", ""]
    for category, approach in rubric.cells():
        points = rubric.budget(category, approach)
        if points:
            name = f"test_{category}_{approach or 'cross'}"
            body = textwrap.indent(textwrap.dedent(overrides.get(name, "pass")), "    ")
            lines += [f"@pytest.mark.rubric({category!r}, {approach!r}, points={points})",
                      f"def {name}(impl):", f"    '''Message {name}.'''", body, ""]
    (checks / "test_all.py").write_text("\n".join(lines))
    return root


def test_a_child_that_exits_mid_run_still_yields_a_valid_result(tmp_path):
    root = harness(tmp_path, {"test_analysis_dspy": "import os\nos._exit(3)"})
    result, _ = grade_in_subprocess(root / "impl", tmp_path / "r.json", cwd=root, timeout=120,
                                    checks="checks")
    data = result.to_dict()
    jsonschema.validate(data, json.loads((SCHEMAS / "grade-result.schema.json").read_text()))
    assert data["complete"] is False
    assert "exit code 3" in data["note"]
    assert data["totals"]["overall"]["earned"] == rubric.CATEGORY_POINTS["technical"]
    assert all(c["detail"] for c in data["checks"] if c["status"] == "not_run")


def test_a_run_past_its_time_limit_is_stopped_and_reported(tmp_path):
    root = harness(tmp_path, {"test_analysis_openai": "import time\ntime.sleep(600)"})
    result, _ = grade_in_subprocess(root / "impl", tmp_path / "r.json", cwd=root, timeout=15,
                                    checks="checks")
    assert result.complete is False
    assert "stopped after 15 s" in result.note
    earned = {c.name: c.points for c in result.checks}
    assert earned["test_technical_dspy"] == rubric.budget("technical", "dspy")
    assert earned["test_analysis_openai"] == 0


def test_score_rejects_an_unknown_implementation(capsys):
    assert main(["score", "--impl", "/no/such/dir"]) == 2
    assert "is not 'reference', 'assignments' or a directory" in capsys.readouterr().err


def test_score_rejects_a_missing_reviews_file(capsys):
    assert main(["score", "--reviews", "/no/such.csv"]) == 2


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert main(["no-such-command"]) == 2


def test_score_writes_every_report_with_the_same_numbers(tmp_path, monkeypatch, capsys):
    root = harness(tmp_path, {"test_technical_lora": "assert False, 'nope'"})
    monkeypatch.chdir(root)
    import grader.commands.score as score

    monkeypatch.setattr(score, "grade_in_subprocess",
                        lambda impl, path, **kw: grade_in_subprocess(impl, path, cwd=root,
                                                                     checks="checks", **kw))
    out, gh, summary = tmp_path / "out.json", tmp_path / "gh", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(gh))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = main(["score", "--impl", str(root / "impl"), "--json", str(out),
                 "--gradescope", str(tmp_path / "gs.json")])
    assert code == 0  # a low score is not an error
    expected = 100 - rubric.budget("technical", "lora")
    data = json.loads(out.read_text())
    assert data["totals"]["overall"]["earned"] == expected
    assert json.loads((tmp_path / "gs.json").read_text())["score"] == expected
    payload = json.loads(base64.b64decode(gh.read_text().strip().removeprefix("result=")))
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(expected)
    assert gh.read_text().count("result=") == 1
    assert f"{expected:g} / 100" in summary.read_text()
    assert f"Score: {expected:g} / 100" in capsys.readouterr().out
