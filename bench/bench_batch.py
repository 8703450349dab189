"""Batch grading: where the time goes, and throughput at -j 1 and -j 2.

    python bench/bench_batch.py [--copies K] [--impl reference]

Measured side by side in one run:

1. the bare import time of the libraries a grading run needs (torch, dspy,
   litellm, openai, transformers, peft) in a fresh interpreter;
2. one submission's full grading time in the sandbox (startup, imports,
   every check, the stream back to the parent);
3. batch throughput on K copies of the implementation, at -j 1 and -j 2.

The ratio (2) / (1) says how much of a grading run is the libraries' import
time rather than the kit's own work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.sandbox import (  # noqa: E402 - the kit is imported from this checkout
    Limits,
    build_template,
    expected_checks,
    grade_submission,
)
from grader.threads import share  # noqa: E402

IMPORTS = "import torch, dspy, litellm, openai, transformers, peft"


def bare_import_seconds(repeats: int) -> list[float]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
           "DSPY_CACHEDIR": tempfile.mkdtemp(prefix="bench-dspy-")}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", IMPORTS], check=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def grade_many(template: Path, expected, folders: list[Path], jobs: int, limits: Limits):
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(
            lambda f: grade_submission(template, f, expected, limits), folders))
    return time.perf_counter() - start, outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="K copies for throughput")
    parser.add_argument("--impl", default="reference", help="folder to grade (reference)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        template = build_template(ROOT, work / "harness")
        expected = expected_checks(template)
        source = ROOT / args.impl
        folders = []
        for number in range(args.copies):
            target = work / "subs" / f"copy{number}" / "assignments"
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            folders.append(target)

        imports = bare_import_seconds(repeats=2)
        single = Limits(timeout=args.timeout, threads=share(1))
        one_time, (one,) = grade_many(template, expected, folders[:1], 1, single)
        rows = [("bare library import (median of 2)", statistics.median(imports), "")]
        earned = one.result.totals()["overall"]["earned"]
        rows.append(("grade one submission", one_time,
                     f"{earned:g} points, status {one.status}"))
        for jobs in (1, 2):
            limits = Limits(timeout=args.timeout, threads=share(jobs))
            seconds, outcomes = grade_many(template, expected, folders, jobs, limits)
            statuses = {o.status for o in outcomes}
            rows.append((f"batch of {args.copies}, -j {jobs}", seconds,
                         f"{60 * args.copies / seconds:.2f} submissions/min, {statuses}"))

        print(f"\nbatch grading benchmark ({os.cpu_count()} CPUs, impl {args.impl})")
        print(f"{'measurement':40} {'seconds':>9}  notes")
        print("-" * 78)
        for name, seconds, note in rows:
            print(f"{name:40} {seconds:9.1f}  {note}")
        print("-" * 78)
        ratio = one_time / statistics.median(imports)
        print(f"one grading run / bare import time = {ratio:.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
