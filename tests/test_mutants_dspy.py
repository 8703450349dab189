"""The DSPy checks catch plausible wrong implementations (mutants of the reference).

Each mutant (tests/mutants/dspy_example.yaml) is a copy of reference/ with one
textual change (or a few independent ones); it is graded with
grader/checks/test_dspy.py in its own subprocess and must lose exactly the
expected checks (a check skipped because its prerequisite failed loses its
points too). The untouched stub must earn 0 of the 16 DSPy points and the
reference all of them. The gradings run a few at a time in parallel, since
each spends most of its time importing dspy and litellm.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gradelib import ROOT, grade, load_mutants, lost, mutate

# Grading 14 implementations takes minutes on a busy machine: the module fixture's
# time counts against the first test that uses it.
pytestmark = pytest.mark.timeout(1800)

SUITE = load_mutants("dspy_example")
MUTANTS, VARIANTS, ALL = SUITE.mutants, SUITE.variants, SUITE.checks
# The grade must not depend on the student's shell: no real key, ever.
NO_KEY = {"OPENAI_API_KEY": None}


def _build(tmp_path, edits):
    # The copy's utils.py finds the datasets in ../data, next to the copy.
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return mutate(tmp_path, SUITE.module, edits)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Grade the reference, the stub and every mutant (a few subprocesses at a time)."""
    jobs = {"reference": "reference", "assignments": "assignments"}
    for number, (name, (_, edits)) in enumerate(MUTANTS.items()):
        jobs[name] = _build(tmp_path_factory.mktemp(f"mutant{number}"), edits)
    for number, (name, edits) in enumerate(VARIANTS.items()):
        jobs[name] = _build(tmp_path_factory.mktemp(f"variant{number}"), edits)
    workers = int(os.environ.get("KIT_TEST_WORKERS", "3"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(grade, impl, SUITE.check_file, env=NO_KEY)
                   for name, impl in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _dspy_points(result):
    checks = [c for c in result["checks"] if c["approach"] == "dspy"]
    return sum(c["points"] for c in checks), sum(c["max_points"] for c in checks)


def test_reference_earns_every_dspy_point(results):
    earned, possible = _dspy_points(results["reference"])
    assert possible == SUITE.points
    assert earned == SUITE.points, results["reference"]["_stdout"][-3000:]


def test_stub_earns_no_dspy_point(results):
    earned, possible = _dspy_points(results["assignments"])
    assert possible == SUITE.points
    assert earned == 0
    assert lost(results["assignments"]) == ALL


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_caught_by_exactly(results, name):
    assert lost(results[name]) == MUTANTS[name][0], results[name]["_stdout"][-3000:]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_correct_variant_keeps_every_point(results, name):
    assert not lost(results[name]), results[name]["_stdout"][-3000:]


def test_every_check_itself_fails_some_mutant(results):
    """Not only skipped behind a prerequisite: each check fails on at least one mutant."""
    failed = {c["name"] for name in MUTANTS for c in results[name]["checks"]
              if c["status"] in ("failed", "error")}
    assert failed == ALL, f"checks that never fail on their own: {sorted(ALL - failed)}"
