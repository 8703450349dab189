"""How much of the DSPy checks' time is our own work rather than library imports.

Each round runs two fresh interpreters, side by side:

1. **the check run**: ``pytest grader/checks/test_dspy.py --impl reference``
   in-process (``pytest.main``), timed from interpreter start to the end;
   it then lists every third-party module it loaded. LiteLLM imports most of
   its provider code lazily, on the first completion call, so this list is
   the honest "import cost" of the run, not just ``import dspy``.
2. **imports alone**: a fresh interpreter that imports exactly those modules
   and nothing else.

The difference is the checks' own work (replaying ~60 recorded calls,
hypothesis properties, metrics, optimization). Also printed: the per-check
durations the plugin records (which include LiteLLM's lazy imports in the
first check that calls the model).

    python bench/bench_dspy.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT_PREFIXES = ("grader", "reference", "assignments", "tests", "bench", "_impl_", "conftest",
                "__main__", "test_")


def _child_run(out_dir: Path) -> None:
    """Run the DSPy checks in this process; write the grade and the modules loaded."""
    started = time.perf_counter()
    import pytest

    code = pytest.main(["-q", "-p", "no:randomly", "grader/checks/test_dspy.py",
                        "--impl=reference", f"--grade-json={out_dir / 'grade.json'}"])
    modules = sorted(name for name in list(sys.modules) if not name.startswith(KIT_PREFIXES))
    (out_dir / "modules.json").write_text(json.dumps(modules))
    (out_dir / "inner.json").write_text(json.dumps(
        {"code": int(code), "seconds": time.perf_counter() - started}))


def _child_imports(module_list: Path) -> None:
    """Import every module of the list (the libraries the check run loaded)."""
    import importlib
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("DSPY_CACHEDIR", tempfile.mkdtemp(prefix="dspy-cache-"))
    for name in json.loads(module_list.read_text()):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - a module that only imports in context
            continue


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def bench(rounds: int) -> None:
    runs, imports, durations = [], [], {}
    for number in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            runs.append(_timed(["--child-run", str(tmp)]))
            inner = json.loads((tmp / "inner.json").read_text())
            grade = json.loads((tmp / "grade.json").read_text())
            earned = sum(c["points"] for c in grade["checks"])
            if inner["code"] != 0 or earned != 16:
                raise SystemExit(f"round {number}: the reference earned {earned} of 16")
            for check in grade["checks"]:
                durations.setdefault(check["name"], []).append(check["duration"])
            imports.append(_timed(["--child-imports", str(tmp / "modules.json")]))
            n_modules = len(json.loads((tmp / "modules.json").read_text()))
        print(f"  round {number + 1}: run {runs[-1]:6.2f} s, imports {imports[-1]:6.2f} s",
              flush=True)
    run, imp = statistics.median(runs), statistics.median(imports)
    own = run - imp
    print(f"\nDSPy graded checks, --impl reference (median of {rounds} rounds, fresh processes)")
    print(f"  {'whole check run (pytest, 9 checks)':<40} {run:7.2f} s")
    print(f"  {f'imports alone ({n_modules} modules)':<40} {imp:7.2f} s  ({imp / run:.0%})")
    print(f"  {'the checks own work (difference)':<40} {own:7.2f} s  ({own / run:.0%})")
    print(f"  {'ratio own work / imports':<40} {own / imp:7.2f}")
    print("\n  per-check durations recorded by the plugin (median s; the first model call")
    print("  also pays LiteLLM's lazy imports):")
    for name, values in durations.items():
        print(f"    {name:<36} {statistics.median(values):7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-imports", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child_run:
        _child_run(args.child_run)
    elif args.child_imports:
        _child_imports(args.child_imports)
    else:
        bench(args.rounds)


if __name__ == "__main__":
    main()
