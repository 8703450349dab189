"""Helpers for the kit's own tests: grade an implementation in a subprocess.

``grade(impl, "test_dspy.py")`` runs the graded checks of one file against an
implementation directory and returns the parsed ``--grade-json`` result.
``make_impl(tmp_path, {"dspy_example": mutant_file})`` builds an
implementation directory: a copy of reference/ with some modules replaced.
``load_mutants("huggingface_lora")`` reads a mutant suite from tests/mutants/,
and ``GroupedMutantTests`` holds the tests of a suite graded in groups.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

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


def changed_copy(tmp_path_factory, name: str, change) -> Path:
    """A copy of reference/ in a fresh folder, with ``change(copy)`` applied.

    It reads the kit's data/ and fixtures/ through LLM_KIT_ROOT, which the plugin sets.
    """
    impl = make_impl(tmp_path_factory.mktemp(name))
    change(impl)
    return impl


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


def grade_only(result: dict) -> dict:
    """The grade JSON without its timings (and the captured output)."""
    result = {k: v for k, v in result.items() if k != "_stdout"}
    result["checks"] = [{k: v for k, v in c.items() if k != "duration"} for c in result["checks"]]
    return result


def same_grade(result: dict, expected: dict) -> tuple[bool, str]:
    """Whether two gradings give the same grade, and the checks that differ when they do not."""
    mine, theirs = grade_only(result), grade_only(expected)
    if mine == theirs:
        return True, ""
    others = {c["id"]: c for c in theirs["checks"]}
    lines = []
    for check in mine["checks"]:
        other = others.pop(check["id"], None)
        if other is None:
            lines.append(f"{check['id']}: only in the first grading")
        elif check != other:
            lines.append(f"{check['id']}: {check['status']} {check['points']:g} "
                         f"({check.get('detail', '')}) against {other['status']} "
                         f"{other['points']:g} ({other.get('detail', '')})")
    lines += [f"{name}: only in the second grading" for name in others]
    return False, "\n".join(lines or ["the totals differ"]) + "\n" + result["_stdout"][-4000:]


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


# ---------------------------------------------------------------- mutant suites
@dataclass(frozen=True)
class Mutants:
    """The mutants of one student module, as tests/mutants/MODULE.yaml lists them.

    ``mutants``: name -> (checks that must lose points, [(old text, new text), ...]);
    ``variants``: correct designs other than the reference's, name -> edits;
    ``groups``: mutants graded together in one copy (their expected catches disjoint).
    """

    module: str
    check_file: str
    points: float
    checks: frozenset[str]
    mutants: dict[str, tuple[set[str], list[tuple[str, str]]]]
    variants: dict[str, list[tuple[str, str]]]
    groups: list[list[str]]


def load_mutants(module: str) -> Mutants:
    """Read tests/mutants/``module``.yaml; each mutant must name checks of its check file."""
    data = yaml.safe_load((MUTANTS / f"{module}.yaml").read_text(encoding="utf-8"))

    def edits(entries: list[dict]) -> list[tuple[str, str]]:
        return [(entry["old"], entry["new"]) for entry in entries]

    checks = frozenset(data["checks"])
    mutants = {}
    for name, entry in data["mutants"].items():
        loses = set(entry["loses"])
        if not loses or not loses <= checks:
            raise ValueError(f"{module}.yaml, mutant {name!r}: loses no check, or one that "
                             f"{data['check_file']} does not have: {sorted(loses - checks)}")
        mutants[name] = (loses, edits(entry["edits"]))
    variants = {name: edits(entries) for name, entries in (data.get("variants") or {}).items()}
    return Mutants(data["module"], data["check_file"], float(data["points"]), checks, mutants,
                   variants, data.get("groups") or [])


class GroupedMutantTests:
    """The tests of a mutant suite graded in groups: a test module subclasses it as
    ``class Test...(GroupedMutantTests): suite = load_mutants(MODULE)``.

    Mutants whose expected catches do not overlap are graded together in one copy
    of the reference (fewer subprocesses); each lost check is then traced to exactly
    one mutant of its group. The untouched stub must earn nothing, the reference
    every point of the check file.
    """

    suite: Mutants

    def pytest_generate_tests(self, metafunc):
        if "group" in metafunc.fixturenames:
            groups = self.suite.groups
            metafunc.parametrize("group", groups,
                                 ids=[f"group{i + 1}" for i in range(len(groups))])

    def test_groups_are_disjoint_and_cover_every_mutant(self):
        grouped = [name for group in self.suite.groups for name in group]
        assert sorted(grouped) == sorted(self.suite.mutants), \
            "every mutant must be in exactly one group"
        for group in self.suite.groups:
            seen: set[str] = set()
            for name in group:
                expected = self.suite.mutants[name][0]
                assert not expected & seen, f"{name} overlaps another mutant of its group"
                seen |= expected

    def test_every_check_catches_a_mutant(self):
        caught = set().union(*(expected for expected, _ in self.suite.mutants.values()))
        assert caught == self.suite.checks, \
            f"checks no mutant exercises: {sorted(self.suite.checks - caught)}"

    def test_mutants_are_caught(self, tmp_path, group):
        """Grade one group of mutants together: exactly the expected checks lose points."""
        mutants = self.suite.mutants
        edits = [edit for name in group for edit in mutants[name][1]]
        result = grade(mutate(tmp_path, self.suite.module, edits), self.suite.check_file)
        expected = set().union(*(mutants[name][0] for name in group))
        caught = lost(result)
        assert caught == expected, (
            f"expected exactly {sorted(expected)} to lose points, got {sorted(caught)}\n"
            f"{result['_stdout'][-3000:]}")

    def test_correct_variants_keep_every_point(self, tmp_path):
        """Every correct variant, graded together in one copy, keeps every point."""
        if not self.suite.variants:
            pytest.skip(f"{self.suite.module}.yaml lists no correct variant")
        edits = [edit for variant in self.suite.variants.values() for edit in variant]
        result = grade(mutate(tmp_path, self.suite.module, edits), self.suite.check_file)
        assert not lost(result), result["_stdout"][-3000:]

    def test_stub_earns_nothing(self):
        """The untouched stubs run every check of the file and earn 0 points."""
        earned = points(grade("assignments", self.suite.check_file))
        assert set(earned) == self.suite.checks
        assert sum(earned.values()) == 0, earned

    def test_reference_earns_every_point(self):
        """The reference runs every check of the file and earns all its points."""
        result = grade("reference", self.suite.check_file)
        assert {c["name"] for c in result["checks"]} == self.suite.checks
        assert sum(points(result).values()) == self.suite.points, points(result)
        assert not lost(result), lost(result)
