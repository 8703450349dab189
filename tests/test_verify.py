"""``grader verify`` and the manifest; the GitHub Classroom workflow and its payload path."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from adversarial.fakekit import build_fake_repo, grader_cli

from grader import classroom, manifest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "classroom.yml"
CLASSROOM_SCHEMA = json.loads((ROOT / "grader" / "schemas" / "classroom-result.schema.json")
                              .read_text())


def verify(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "verify", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_committed_manifest_is_current():
    fresh = manifest.build()["files"]
    pinned = manifest.load()["files"]
    stale = sorted(n for n in set(fresh) | set(pinned) if fresh.get(n) != pinned.get(n))
    assert not stale, ("grader/manifest.json is stale for: " + ", ".join(stale[:20])
                       + "\nrun: python -m grader verify --update-manifest")


def test_manifest_covers_what_decides_a_grade():
    files = manifest.load()["files"]
    for name in ("grader/plugin.py", "grader/rubric.py", "conftest.py", "pyproject.toml",
                 ".github/workflows/classroom.yml"):
        assert name in files
    assert any(n.startswith("fixtures/") for n in files)
    assert "grader/manifest.json" not in files
    assert not any("__pycache__" in n for n in files)


@pytest.fixture
def student_repo(tmp_path):
    """A copy of the kit's grader files, laid out like a student's repository."""
    repo = tmp_path / "student"
    for name, path in manifest.scoped_files(ROOT).items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (repo / "assignments").mkdir()
    (repo / "assignments" / "mine.py").write_text("x = 1\n")  # the student's own work
    return repo


def test_verify_clean_copy(student_repo):
    proc = verify(str(student_repo))
    assert proc.returncode == 0, proc.stdout
    assert "match the kit's manifest" in proc.stdout


def test_verify_lists_every_edit(student_repo):
    (student_repo / "grader" / "plugin.py").write_text("# everyone passes\n")
    with open(student_repo / "conftest.py", "a") as handle:
        handle.write("\n# edited\n")
    (student_repo / ".github" / "workflows" / "classroom.yml").write_text("name: x\n")
    (student_repo / "grader" / "rubric.py").unlink()
    (student_repo / "grader" / "checks" / "test_extra.py").write_text("def test_x(): pass\n")
    (student_repo / ".github" / "workflows" / "other.yml").write_text("name: y\n")
    proc = verify(str(student_repo))
    assert proc.returncode == 1
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert ["changed", "grader/plugin.py"] in lines
    assert ["changed", "conftest.py"] in lines
    assert ["changed", ".github/workflows/classroom.yml"] in lines
    assert ["missing", "grader/rubric.py"] in lines
    assert ["added", "grader/checks/test_extra.py"] in lines
    assert ["added", ".github/workflows/other.yml"] in lines
    assert len(lines) == 6  # assignments/ is the student's: never listed


def test_verify_ignores_line_endings_and_caches(student_repo):
    conftest = student_repo / "conftest.py"
    conftest.write_bytes(conftest.read_bytes().replace(b"\n", b"\r\n"))
    (student_repo / "grader" / "__pycache__").mkdir(exist_ok=True)
    (student_repo / "grader" / "__pycache__" / "plugin.cpython-311.pyc").write_bytes(b"\0")
    assert verify(str(student_repo)).returncode == 0


def test_verify_git_checkout_respects_gitignore(student_repo):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@example.org",
           "GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@example.org"}
    (student_repo / ".gitignore").write_text("*.log\n")
    subprocess.run(["git", "init", "-q"], cwd=student_repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=student_repo, check=True, env=env)
    (student_repo / "grader" / "run.log").write_text("ignored\n")
    (student_repo / "grader" / "helper.py").write_text("# untracked, not ignored\n")
    proc = verify(str(student_repo))
    assert proc.returncode == 1
    assert "grader/helper.py" in proc.stdout and "run.log" not in proc.stdout


def test_verify_usage_errors(tmp_path):
    assert verify(str(tmp_path / "nope")).returncode == 2
    bad = tmp_path / "m.json"
    bad.write_text("not json")
    assert verify(str(tmp_path), "--manifest", str(bad)).returncode == 2


def test_update_manifest_writes_a_fresh_one(tmp_path):
    target = tmp_path / "manifest.json"
    proc = verify("--update-manifest", "--manifest", str(target))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text())["files"] == manifest.build()["files"]


# ------------------------------------------------------------------ the Classroom workflow
def _steps() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    return workflow, job, {s.get("id") or s.get("name"): s for s in job["steps"]}


def test_workflow_shape():
    workflow, job, steps = _steps()
    assert set(workflow[True]) >= {"push"}  # YAML reads the key `on` as True
    assert workflow["permissions"]["checks"] == "write"
    # Classroom's template name (the reporter reads the step outputs, not the job name)
    assert job["name"] == "Autograding Tests"
    uses = [s.get("uses", "") for s in job["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    # The pip cache is saved right after installing, whatever the grade (setup-python's
    # own cache is saved only after a green job).
    assert "cache" not in python["with"]
    restore = steps["pip-cache"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert restore["with"]["path"] == "~/.cache/pip" and "pyproject.toml" in restore["with"]["key"]
    names = [s.get("id") or s.get("name") for s in job["steps"]]
    save = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache/save@"))
    assert names.index("install") < job["steps"].index(save) < names.index("grade")
    assert save["if"].startswith("always()") and "steps.grade" not in save["if"]
    assert save["with"]["key"] == "${{ steps.pip-cache.outputs.cache-primary-key }}"
    assert "download.pytorch.org/whl/cpu" in steps["install"]["run"]
    assert "pip install -e ." in steps["install"]["run"]
    grade = steps["grade"]
    assert "python -m grader score --json" in grade["run"] and grade["timeout-minutes"]
    final = steps["autograding"]
    assert final["if"] == "always()" and "python3 -m grader.classroom" in final["run"]
    assert final["env"]["SETUP_OUTCOME"] == "${{ steps.setup.outcome }}"
    assert final["env"]["GRADE_RESULT"] == "${{ steps.grade.outputs.result }}"
    reporter = next(s for s in job["steps"]
                    if s.get("uses", "").startswith("classroom-resources/autograding-grading-"
                                                    "reporter@"))
    assert reporter["if"] == "always()"
    runner = reporter["with"]["runners"]
    assert reporter["env"][f"{runner.upper()}_RESULTS"] == (
        f"${{{{ steps.{runner}.outputs.result }}}}")


def _outputs(path: Path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.timeout(300)
def test_payload_path_with_a_simulated_github_output(tmp_path):
    """Grade (fake kit), then the workflow's last step, as on a runner: partial credit survives."""
    kit = build_fake_repo(tmp_path)
    output, summary = tmp_path / "grade_output", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = grader_cli(kit, "score", "--json", str(tmp_path / "grade.json"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    given = _outputs(output)["result"]
    final_output = tmp_path / "final_output"
    classroom.main({"GRADE_RESULT": given, "GRADE_OUTCOME": "success",
                    "GITHUB_OUTPUT": str(final_output)})
    value = _outputs(final_output)["result"]
    assert value == given
    payload = json.loads(base64.b64decode(value))
    jsonschema.validate(payload, CLASSROOM_SCHEMA)
    grade = json.loads((tmp_path / "grade.json").read_text())
    assert sum(t["score"] for t in payload["tests"]) == grade["totals"]["overall"]["earned"]
    assert any(0 < t["score"] < t["max_score"] for t in payload["tests"])  # partial credit
    assert "| Technical Implementation |" in summary.read_text()


@pytest.mark.parametrize("result, outcome, words", [
    ("", "cancelled", "time limit"),
    ("", "failure", "crashed"),
    ("bm90IGpzb24=", "success", "crashed"),  # base64 of "not json"
])
def test_missing_result_reports_zero_with_the_reason(tmp_path, result, outcome, words):
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    assert classroom.main({"GRADE_RESULT": result, "GRADE_OUTCOME": outcome,
                           "INSTALL_OUTCOME": "success", "GITHUB_OUTPUT": str(output),
                           "GITHUB_STEP_SUMMARY": str(summary)}) == 0
    payload = json.loads(base64.b64decode(_outputs(output)["result"]))
    jsonschema.validate(payload, CLASSROOM_SCHEMA)
    assert payload["max_score"] == 100 and sum(t["score"] for t in payload["tests"]) == 0
    assert words in payload["tests"][0]["message"]
    assert "Score: 0" in summary.read_text()


def test_failed_install_is_named():
    payload = classroom.zero_payload(classroom.reason("skipped", "failure"))
    assert "could not be installed" in payload["tests"][0]["message"]
