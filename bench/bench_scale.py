"""Batch grading at scale: what bubblewrap costs per submission, and two Dask workers vs -j 2.

    python bench/bench_scale.py [--kit fake|real] [--copies K] [--repeats R]

Measured side by side in one run, on copies of one implementation:

1. one submission graded R times without (today's ``unshare`` layer) and R
   times with the bubblewrap sandbox, alternating (median seconds each, and
   the difference: the cost of isolation per submission), and the start-up
   of a bare ``python -c pass`` plain, behind ``unshare`` and behind ``bwrap``;
2. K submissions graded with ``-j 2`` (two threads here) and on two local
   ``dask worker`` processes (``--nthreads 1``) started on 127.0.0.1, both with
   the same isolation setting (throughput in submissions per minute; worker
   start-up is not counted).

``--kit fake`` (the default) grades the kit's small stand-in (five checks on
``utils.py``, as in tests/adversarial/fakekit.py), so the fixed costs stand
out; ``--kit real`` grades the reference against the real checks (minutes per
submission).
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
sys.path.insert(0, str(ROOT / "tests"))

from grader import cluster  # noqa: E402 - the kit is imported from this checkout
from grader.batch import Submission  # noqa: E402
from grader.sandbox import Limits, build_template, expected_checks, grade_submission  # noqa: E402
from grader.sandbox.isolation import bwrap_prefix, bwrap_usable, namespace_prefix  # noqa: E402
from tests.localcluster import local_cluster  # noqa: E402


def start_seconds(prefix: list[str], repeats: int = 10) -> float:
    """Median seconds to start and end ``python -c pass`` behind ``prefix``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([*prefix, sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def grade_threads(template, expected, folders, limits) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda f: grade_submission(template, f, expected, limits),
                                 folders))
    assert all(o.status == "ok" for o in outcomes), [o.reason for o in outcomes]
    return time.perf_counter() - start


def grade_workers(address, template, expected, folders, limits) -> float:
    todo = [(Submission(f.parent.name, f.parent), "") for f in folders]
    statuses = []
    start = time.perf_counter()
    cluster.grade_on_cluster(address, todo, template, expected, limits,
                             lambda s, h, outcome: statuses.append(outcome.status),
                             lambda s, error: statuses.append(f"failed: {error}"))
    seconds = time.perf_counter() - start
    assert statuses == ["ok"] * len(folders), statuses
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", choices=("fake", "real"), default="fake")
    parser.add_argument("--copies", type=int, default=6, help="K submissions for throughput")
    parser.add_argument("--repeats", type=int, default=3, help="R gradings per isolation mode")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if not bwrap_usable():
        print("bubblewrap is not usable here: nothing to compare", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="bench-scale-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        if args.kit == "fake":
            from adversarial.fakekit import build_fake_repo

            source_root = build_fake_repo(work)
            impl = source_root / "reference"
        else:
            source_root, impl = ROOT, ROOT / "reference"
        template = build_template(source_root, work / "harness")
        expected = expected_checks(template)
        folders = []
        for number in range(args.copies):
            target = work / "subs" / f"copy{number}" / "assignments"
            shutil.copytree(impl, target, ignore=shutil.ignore_patterns("__pycache__"))
            folders.append(target)

        times: dict[bool, list[float]] = {False: [], True: []}
        single = Limits(timeout=args.timeout, threads=1)
        for _ in range(args.repeats):
            for isolate in (False, True):
                single.isolate = isolate
                outcome = grade_submission(template, folders[0], expected, single)
                assert outcome.status == "ok" and outcome.isolated == isolate, outcome.reason
                times[isolate].append(outcome.duration)
        bare, boxed = statistics.median(times[False]), statistics.median(times[True])
        harness = work / "harness"
        box = bwrap_prefix(harness, [work / "subs"])
        starts = {"python -c pass": start_seconds([]),
                  "python -c pass behind unshare": start_seconds(namespace_prefix()),
                  "python -c pass behind bwrap": start_seconds(box)}

        limits = Limits(timeout=args.timeout, threads=1, isolate=True)
        local = grade_threads(template, expected, folders, limits)
        with local_cluster(source_root) as (address, _, _):
            remote = grade_workers(address, template, expected, folders, limits)

        print(f"\nbatch scale benchmark ({os.cpu_count()} CPUs, kit {args.kit}, "
              f"{args.copies} submissions, {args.repeats} repeats)")
        print(f"{'measurement':46} {'seconds':>9}  notes")
        print("-" * 80)
        print(f"{'one submission, no bubblewrap (median)':46} {bare:9.2f}  "
              f"{', '.join(f'{t:.2f}' for t in times[False])}")
        print(f"{'one submission, bubblewrap (median)':46} {boxed:9.2f}  "
              f"{', '.join(f'{t:.2f}' for t in times[True])}")
        print(f"{'isolation cost per submission':46} {boxed - bare:9.2f}  "
              f"ratio {boxed / bare:.2f}")
        for name, seconds in starts.items():
            print(f"{name + ' (median of 10)':46} {seconds:9.3f}")
        print(f"{f'{args.copies} submissions, -j 2 (threads here)':46} {local:9.1f}  "
              f"{60 * args.copies / local:.1f} submissions/min")
        print(f"{f'{args.copies} submissions, two Dask workers':46} {remote:9.1f}  "
              f"{60 * args.copies / remote:.1f} submissions/min")
        print("-" * 80)
        print(f"two Dask workers / -j 2 throughput = {local / remote:.2f}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
