"""Helpers for the kit's own tests: grade an implementation in a subprocess.

``grade(impl, "test_dspy.py")`` runs the graded checks of one file against an
implementation directory and returns the parsed ``--grade-json`` result.
``make_impl(tmp_path, {"dspy_example": mutant_file})`` builds an
implementation directory: a copy of reference/ with some modules replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "grader" / "checks"
MUTANTS = Path(__file__).resolve().parent / "mutants"


def make_impl(tmp_path: Path, replace: dict[str, Path] | None = None, base: str = "reference",
              name: str = "impl") -> Path:
    """Copy ``base`` (reference/ or assignments/) to tmp_path/name, replacing some modules."""
    target = Path(tmp_path) / name
    shutil.copytree(ROOT / base, target, ignore=shutil.ignore_patterns("__pycache__"))
    for module, source in (replace or {}).items():
        shutil.copyfile(source, target / f"{module}.py")
    return target


def grade(impl: str | Path, *check_files: str, extra: tuple[str, ...] = (),
          timeout: float = 600, env: dict[str, str | None] | None = None) -> dict:
    """Grade ``impl`` with the given check files (all when none); return the JSON result.

    ``env`` changes the grading process's environment: a value sets a variable,
    None removes it.
    """
    tag = abs(hash((str(impl), check_files, extra, tuple(sorted((env or {}).items(), key=str)))))
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"grade-{os.getpid()}-{tag}.json"
    targets = [str(CHECKS / f) for f in check_files] or [str(CHECKS)]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *targets,
           f"--impl={impl}", f"--grade-json={out}", *extra]
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=environ)
    if not out.exists():
        raise AssertionError(
            f"no result written; pytest said:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    result["_stdout"] = proc.stdout
    return result


def points(result: dict) -> dict[str, float]:
    """Earned points per check name."""
    return {c["name"]: c["points"] for c in result["checks"]}


def lost(result: dict) -> set[str]:
    """Names of the checks that earned less than their maximum."""
    return {c["name"] for c in result["checks"] if c["points"] < c["max_points"]}


def mutate(tmp_path: Path, module: str, edits: list[tuple[str, str]],
           name: str = "mutant") -> Path:
    """A copy of reference/ whose ``module``.py has each ``(old, new)`` edit applied in turn.

    Each ``old`` text must occur exactly once, so an edit cannot silently miss.
    """
    target = make_impl(tmp_path, name=name)
    file = target / f"{module}.py"
    text = file.read_text()
    for old, new in edits:
        if text.count(old) != 1:
            raise AssertionError(f"mutant of {module}.py: the text to replace occurs "
                                 f"{text.count(old)} times, expected once:\n{old}")
        text = text.replace(old, new)
    file.write_text(text)
    return target


def assert_groups_disjoint(groups: list[list[str]], mutants: dict, checks: set[str]) -> None:
    """Every mutant is in one group, and a group's mutants are caught by different checks."""
    grouped = [name for group in groups for name in group]
    assert sorted(grouped) == sorted(mutants), "every mutant must be in exactly one group"
    for group in groups:
        seen: set[str] = set()
        for name in group:
            expected = mutants[name][0]
            assert expected <= checks, f"{name}: unknown checks {expected - checks}"
            assert not expected & seen, f"{name} overlaps another mutant of its group"
            seen |= expected


def assert_group_caught(tmp_path: Path, module: str, check_file: str, mutants: dict,
                        group: list[str]) -> None:
    """Grade one group of mutants together: exactly the expected checks lose points."""
    edits = [edit for name in group for edit in mutants[name][1]]
    result = grade(mutate(tmp_path, module, edits), check_file)
    expected = set().union(*(mutants[name][0] for name in group))
    caught = lost(result)
    assert caught == expected, (
        f"expected exactly {sorted(expected)} to lose points, got {sorted(caught)}\n"
        f"{result['_stdout'][-3000:]}")


def assert_stub_earns_nothing(check_file: str, checks: set[str]) -> None:
    """The untouched stubs run every check of ``check_file`` and earn 0 points."""
    earned = points(grade("assignments", check_file))
    assert set(earned) == checks
    assert sum(earned.values()) == 0, earned


def assert_reference_earns_all(check_file: str, checks: set[str], total: float) -> None:
    """The reference runs every check of ``check_file`` and earns all ``total`` points."""
    result = grade("reference", check_file)
    assert {c["name"] for c in result["checks"]} == checks
    assert sum(points(result).values()) == total, points(result)
    assert not lost(result), lost(result)
