"""The Gradescope autograder end to end, in Gradescope's folder layout under tmp_path.

``python -m grader gradescope`` builds the zip; it is unpacked as
``<root>/source`` the way Gradescope does, each submission is laid out in
``<root>/submission``, and the zip's own ``run_autograder`` runs with
``GRADESCOPE_ROOT=<root>`` (Python: this interpreter, standing in for the
venv setup.sh makes). Every results.json is held to the JSON Schema of
Gradescope's published specification.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader import assign, gradescope
from grader.commands import gradescope as command

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "grader" / "schemas" / "gradescope-results.schema.json").read_text())
REFERENCE_SCORES = json.loads((ROOT / "grader" / "reference_scores.json").read_text())


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    assert command.run(type("Args", (), {"out": str(out)})()) == 0
    return out


def test_zip_has_gradescopes_entry_points_and_the_pristine_kit(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "grader/gradescope.py",
            "assignments/dspy_example.py", "data/small_edu_qa.jsonl"} <= names
    assert not any(n.startswith(("reference/", "tests/")) or "__pycache__" in n for n in names)
    assert modes["run_autograder"] == 0o755 and modes["setup.sh"] == 0o755
    assert "python3.11" in setup and "download.pytorch.org/whl/cpu" in setup
    assert "torch==2.13.0" in setup
    for name in ("dspy_example.py", "utils.py"):  # the stubs, not a solution
        with zipfile.ZipFile(autograder_zip) as archive:
            assert archive.read(f"assignments/{name}") == (ROOT / "assignments" / name).read_bytes()


def test_zip_holds_exactly_the_student_release(autograder_zip, tmp_path):
    files = assign.build_release(tmp_path / "release")
    with zipfile.ZipFile(autograder_zip) as archive:
        assert set(archive.namelist()) - {"setup.sh", "run_autograder"} == set(files)
        for name in files:
            assert archive.read(name) == (tmp_path / "release" / name).read_bytes(), name
    assert "grader/reference_scores.json" not in files


def _run(autograder_zip, tmp_path, make_submission, timeout="900") -> dict:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    (root / "submission").mkdir()
    make_submission(root / "submission")
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "KIT_PYTHON": sys.executable,
           "GRADER_TIMEOUT": timeout}
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=float(timeout) + 300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


def _copy(source: Path, upload_as: str = "assignments"):
    def make(submission: Path):
        shutil.copytree(source, submission / upload_as,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return make


@pytest.mark.timeout(1500)
def test_reference_submission_earns_every_automatic_point(autograder_zip, tmp_path):
    results = _run(autograder_zip, tmp_path, _copy(ROOT / "reference", "repo/assignments"))
    automatic = REFERENCE_SCORES["totals"]["automatic"]["max"]
    assert results["score"] == automatic == 90
    assert results["output_format"] == "md" and "| Criterion |" in results["output"]
    assert "Review points (10)" in results["output"]
    assert results["execution_time"] >= 0 and results["stdout_visibility"] == "visible"
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(automatic)
    assert all(t["status"] == "passed" for t in results["tests"])


@pytest.mark.timeout(900)
def test_stub_submission_earns_nothing(autograder_zip, tmp_path):
    results = _run(autograder_zip, tmp_path, _copy(ROOT / "assignments"))
    assert results["score"] == 0 and results["tests"]
    assert any("not implemented yet" in t["output"] for t in results["tests"])


@pytest.mark.timeout(900)
def test_submission_that_kills_python_at_import_still_gets_results(autograder_zip, tmp_path):
    def make(submission: Path):
        _copy(ROOT / "reference")(submission)
        with (submission / "assignments" / "openai_finetune.py").open("a") as handle:
            handle.write("\nimport os\nos._exit(3)\n")
    results = _run(autograder_zip, tmp_path, make)
    assert results["score"] < 90
    assert "Run incomplete" in results["output"]


def test_missing_assignments_folder_is_explained(autograder_zip, tmp_path):
    results = _run(autograder_zip, tmp_path, lambda s: (s / "notes.txt").write_text("hi"))
    assert results["score"] == 0 and "no assignments/ folder" in results["output"]


def test_python_that_cannot_start_still_leaves_results(tmp_path, autograder_zip):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "KIT_PYTHON": "/nonexistent/python"}
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "could not run" in results["output"]


def test_failure_results_follow_the_specification():
    jsonschema.validate(gradescope.failure_results("x"), SCHEMA)
