"""``grader assign``: stubs generated from reference/, the student release, one-way layers."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from grader import assign
from grader.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(600)


def test_committed_assignments_match_the_generator():
    stale = assign.drift()
    assert not stale, (f"assignments/ differs from reference/ in {stale}: "
                       "run `python -m grader assign` and commit the result")


def _api(path: Path) -> dict[str, tuple]:
    """Public functions and classes: their signature and docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    api = {"<module>": (ast.get_docstring(tree),)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            signature = ast.unparse(node.args) if isinstance(node, ast.FunctionDef) else ""
            returns = ast.unparse(node.returns) if getattr(node, "returns", None) else ""
            api[node.name] = (signature, returns, ast.get_docstring(node))
    return api


@pytest.mark.parametrize("name", [n for n in assign.GENERATED if n != "__init__.py"])
def test_stubs_keep_signatures_and_docstrings(name):
    reference, stub = _api(REPO_ROOT / "reference" / name), _api(REPO_ROOT / "assignments" / name)
    reference.pop("<module>"), stub.pop("<module>")
    assert stub == {key: reference[key] for key in stub}
    assert len(stub) >= 4


def test_fences_become_todos_and_bad_markers_name_their_line(tmp_path):
    source = ('def f(x):\n    """Doc."""\n    # BEGIN SOLUTION\n    # task: add one.\n'
              '    #   Read: https://example.org/\n    return x + 1\n    # END SOLUTION\n'
              'import re  # solution\nfrom pathlib import Path  # stub: noqa: F401\n')
    stub = assign.strip_solutions(source)
    assert stub == ('def f(x):\n    """Doc."""\n    raise NotImplementedError('
                    '"TODO: add one. Read: https://example.org/")\n'
                    'from pathlib import Path  # noqa: F401\n')
    with pytest.raises(assign.MarkerError, match=r"mod.py:1: '# BEGIN SOLUTION' is never closed"):
        assign.strip_solutions("# BEGIN SOLUTION\nx = 1\n", "mod.py")
    with pytest.raises(assign.MarkerError, match=r"mod.py:2: '# END SOLUTION' without"):
        assign.strip_solutions("x = 1\n# END SOLUTION\n", "mod.py")


def test_student_work_is_never_overwritten(tmp_path):
    out = tmp_path / "assignments"
    written = assign.write_assignments(out)
    assert set(written) >= {"dspy_example.py", "ANALYSIS.md", "metrics_extra.py"}
    mine = "my own analysis\n"
    (out / "ANALYSIS.md").write_text(mine)
    (out / "metrics_extra.py").write_text("# mine\n")
    assign.write_assignments(out)
    assert (out / "ANALYSIS.md").read_text() == mine
    assert (out / "metrics_extra.py").read_text() == "# mine\n"


def test_no_grader_module_imports_reference():
    offenders = []
    for path in sorted((REPO_ROOT / "grader").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and
                     not node.level else [])
            offenders += [f"{path.relative_to(REPO_ROOT)}:{node.lineno}: imports {name}"
                          for name in names if name.split(".")[0] == "reference"]
    assert not offenders, "\n".join(offenders)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "kit"
    assign.build_release(out)
    return out


def test_release_leaves_out_solutions_and_kit_tests(release):
    for gone in ("reference", "tests", "bench", "docs/INSTRUCTORS.md"):
        assert not (release / gone).exists(), gone
    assert (release / "assignments" / "dspy_example.py").is_file()
    assert (release / "assignments" / "ANALYSIS.md").is_file()
    assert (release / "pyproject.toml").is_file() and (release / "README.md").is_file()


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def test_release_installs_grades_zero_and_replays_without_reference(release, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The new venv sees the libraries of the one running this test (the kit's own
    # venv, not the base interpreter's, which need not have them): a .pth line adds
    # that site-packages folder, whose own .pth files (this checkout's editable
    # install among them) are not read, so `grader` comes from the release.
    ask = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_dir = subprocess.run([str(python), "-c", ask], check=True, capture_output=True,
                              text=True).stdout.strip()
    Path(site_dir, "parent-libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                           "-e", "."], cwd=release, env=_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    replays = subprocess.run(
        [str(python), "-c", "import grader.replay_openai as o, grader.replay_dspy as d\n"
         "for name in o.CASSETTES:\n    assert o.cassette_path(name).is_file(), name\n"
         "assert d.CASSETTE.is_file()\nimport reference"],
        cwd=release, env=_env(), capture_output=True, text=True)
    assert "No module named 'reference'" in replays.stderr, replays.stderr
    harness = subprocess.run([str(python), "-m", "grader", "check-harness", "."], cwd=release,
                             env=_env(), capture_output=True, text=True)
    assert harness.returncode == 0, harness.stdout + harness.stderr  # the instructor's grader
    results = tmp_path / "results.json"
    proc = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:randomly",
                           "-p", "no:cacheprovider", f"--grade-json={results}"],
                          cwd=release, env=_env(), capture_output=True, text=True, timeout=540)
    grade = json.loads(results.read_text())
    assert grade["complete"], proc.stdout[-2000:]
    assert grade["totals"]["automatic"]["earned"] == 0, proc.stdout[-2000:]
    assert grade["totals"]["automatic"]["max"] == 90
