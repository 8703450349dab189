"""Grading overhead of the plugin: the same checks run with and without it.

Builds a suite of N small checks that fill the rubric's budget, then times
``pytest`` on it twice per round, once with the grading plugin (rubric,
per-check seeds, network guard, reports written after every check) and once
with a bare conftest that only provides the same fixtures. Rounds alternate
the order so machine noise hits both sides alike. Prints medians and the ratio.

    python bench/bench_plugin.py [--checks 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader import rubric  # noqa: E402

BARE_CONFTEST = '''
import pytest

def pytest_configure(config):
    config.addinivalue_line("markers", "rubric: graded check")

@pytest.fixture
def impl():
    return None

@pytest.fixture
def credit():
    return lambda fraction, detail="": None
'''


def build_suite(root: Path, n_checks: int) -> None:
    """A checks folder whose points fill the rubric exactly, spread over n_checks checks."""
    cells = [(c, a) for c, a in rubric.cells() if rubric.budget(c, a)]
    per_cell = max(1, n_checks // len(cells))
    # The graded checks use hypothesis, so both sides import it.
    lines = ["import hypothesis  # noqa: F401", "import pytest", ""]
    for category, approach in cells:
        points = rubric.budget(category, approach) / per_cell
        for i in range(per_cell):
            lines += [
                f"@pytest.mark.rubric({category!r}, {approach!r}, points={points!r})",
                f"def test_{category}_{approach or 'cross'}_{i}(impl, credit):",
                "    '''A small check.'''",
                "    assert sum(range(1000)) == 499500",
                "",
            ]
    checks = root / "checks"
    checks.mkdir(parents=True)
    (checks / "test_suite.py").write_text("\n".join(lines))


def run(root: Path, plugin: bool) -> float:
    (root / "conftest.py").write_text(
        "pytest_plugins = ['grader.plugin']\n" if plugin else BARE_CONFTEST)
    args = [sys.executable, "-m", "pytest", "checks", "-q", "-p", "no:cacheprovider"]
    if plugin:
        args += [f"--grade-json={root / 'result.json'}", f"--gradescope={root / 'gs.json'}"]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\ngrader_checks = checks\n")
        build_suite(root, args.checks)
        times = {True: [], False: []}
        for round_number in range(args.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for plugin in order:
                times[plugin].append(run(root, plugin))
    with_plugin, bare = statistics.median(times[True]), statistics.median(times[False])
    n = args.checks
    print(f"checks per run        : ~{n}")
    print(f"bare pytest (median)  : {bare:.3f} s")
    print(f"with grading plugin   : {with_plugin:.3f} s")
    print(f"ratio plugin / bare   : {with_plugin / bare:.2f}")
    print(f"overhead per check    : {(with_plugin - bare) / n * 1000:.2f} ms")


if __name__ == "__main__":
    main()
