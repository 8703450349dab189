"""A tiny stand-in for the kit, to test the instructor commands in seconds.

``build_fake_repo(tmp)`` copies the kit's machinery (grader/, conftest.py,
pyproject.toml, data/) into ``tmp``, replaces the graded checks with a few
small ones that only use ``utils.py``, and shrinks the rubric to match them.
The commands run there exactly as in the real kit (``python -m grader ...``
with the copy as working directory), without the libraries' import time.

Rubric of the fake kit (20 points): technical dspy 4, openai 3, lora 3;
analysis cross-cutting 10 (5 automatic, 5 by review). An untouched stub earns
10 (its utils.py is complete, but it has no ``DONE.txt``); the fake reference
(the stubs plus ``DONE.txt``) earns every automatic point, 15.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")

STUB_SCORE, REFERENCE_SCORE, TOTAL = 10.0, 15.0, 20.0
# The limits the tests grade a class of the fake kit under (``grader batch ... *LIMITS``).
LIMITS = ("--timeout", "45", "--check-timeout", "3", "--memory-mb", "1500")

FAKE_CHECKS = '''
import pytest


@pytest.mark.rubric("technical", "dspy", points=4)
def test_reads_jsonl(impl, tmp_path):
    """read_jsonl must return every record of a JSON Lines file."""
    utils = impl.module("utils")
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\\n{"a": 2}\\n')
    assert utils.read_jsonl(path) == [{"a": 1}, {"a": 2}]


@pytest.mark.rubric("technical", "openai", points=3)
def test_pairs(impl):
    """teacher_student_pairs must pair each student turn with the teacher's reply."""
    utils = impl.module("utils")
    dialogue = [{"role": "student", "content": "q"}, {"role": "teacher", "content": "a"}]
    assert utils.teacher_student_pairs(dialogue) == [("q", "a")]


@pytest.mark.rubric("technical", "lora", points=3)
def test_finished(impl):
    """The submission must be finished: write DONE.txt."""
    impl.module("utils")
    assert impl.path("DONE.txt").exists(), "DONE.txt is missing"


@pytest.mark.rubric("analysis", None, points=5)
def test_partial(impl, credit):
    """Partial credit: 60% without DONE.txt."""
    impl.module("utils")
    if not impl.path("DONE.txt").exists():
        credit(0.6, "3 of 5 parts")


@pytest.mark.rubric("analysis", None, points=5, review=True)
def test_review(impl):
    """Course staff read the analysis."""
'''

RUBRIC_PATCH = '''

# --- fake kit for the kit's own tests: a 20-point rubric
CATEGORY_POINTS.update({"technical": 10.0, "analysis": 10.0, "creativity": 0.0,
                        "presentation": 0.0})
CROSS_CUTTING_POINTS.update({"technical": 0.0, "analysis": 10.0, "creativity": 0.0,
                             "presentation": 0.0})
MAX_REVIEW_POINTS = 5.0
TOTAL_POINTS = sum(CATEGORY_POINTS.values())
'''


def build_fake_repo(tmp: Path, checks: str = FAKE_CHECKS) -> Path:
    """A copy of the kit's machinery with the fake checks and rubric; return its root."""
    repo = Path(tmp) / "kit"
    repo.mkdir(parents=True)
    shutil.copytree(ROOT / "grader", repo / "grader", ignore=IGNORE)
    for old in (repo / "grader" / "checks").glob("test_*.py"):
        old.unlink()
    (repo / "grader" / "checks" / "test_fake.py").write_text(checks)
    rubric = repo / "grader" / "rubric.py"
    rubric.write_text(rubric.read_text() + RUBRIC_PATCH)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "data", repo / "data", ignore=IGNORE)
    (repo / "fixtures").mkdir()
    (repo / "fixtures" / "README.md").write_text("fixtures of the fake kit\n")
    shutil.copytree(ROOT / "assignments", repo / "assignments", ignore=IGNORE)
    shutil.copytree(ROOT / "assignments", repo / "reference", ignore=IGNORE)
    (repo / "reference" / "DONE.txt").write_text("done\n")
    return repo


# In an adversarial folder: hostile code appended to the stub's utils.py, so the submission
# is the kit's own utils.py (whatever it is today) with one malicious addition.
PAYLOAD = "payload.py"


def make_submission(folder: Path, name: str, overlay: Path | None = None,
                    done: bool = False) -> Path:
    """A student repository: the stubs, then ``overlay``'s files on top and its
    :data:`PAYLOAD` appended to ``assignments/utils.py``."""
    root = Path(folder) / name
    shutil.copytree(ROOT / "assignments", root / "assignments", ignore=IGNORE)
    if overlay is not None:
        shutil.copytree(overlay, root, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", PAYLOAD))
        payload = Path(overlay) / PAYLOAD
        if payload.exists():
            utils = root / "assignments" / "utils.py"
            utils.write_text(utils.read_text() + "\n\n" + payload.read_text())
    if done:
        (root / "assignments" / "DONE.txt").write_text("done\n")
    return root


def new_class(base: Path) -> Path:
    """``base``/submissions holding the finished fake reference and the untouched stub."""
    subs = Path(base) / "submissions"
    subs.mkdir()
    make_submission(subs, "reference", done=True)
    make_submission(subs, "stub")
    return subs


def adversarial_names() -> list[str]:
    """The adversarial submissions kept in tests/adversarial/."""
    return sorted(p.name for p in HERE.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def grader_cli(repo: Path, *args: str, timeout: float = 600,
               env=None) -> subprocess.CompletedProcess:
    """Run ``python -m grader ARGS`` in the fake kit."""
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=repo, capture_output=True,
                          text=True, timeout=timeout, env=env)
