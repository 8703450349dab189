"""How many threads grading uses: decided once, before torch is imported.

PyTorch and the BLAS/OpenMP libraries under numpy start one worker thread per
core by default. The kit's tiny model has matrices so small that those workers
only wait for each other, and on a machine that is busy with something else (a
browser, an editor, a second grading job) they spin against cores that are not
free: a check that takes 10 s with one thread took two minutes with the default.
So every grading process uses **one** thread, and says so through the usual
environment variables before any library reads them:

- plain ``pytest`` and ``python -m grader score``: the plugin calls
  :func:`configure` when it loads;
- ``python -m grader batch -j N``: each sandboxed child gets
  :func:`child_env` of :func:`share` ``(N)``, the usable cores divided among
  the N jobs (and never more than the tiny model can use);
- the reference command line (``python -m reference.huggingface_lora``) uses one
  thread for the tiny model and torch's default (a thread per core) for a real
  one; being the students' textbook code, it does not import the grader.

A value the user set explicitly (``OMP_NUM_THREADS=4 pytest``) is kept.
"""

from __future__ import annotations

import os
import sys

# Variables read by OpenMP (torch's intra-op pool), MKL, OpenBLAS, Apple's Accelerate,
# BLIS and numexpr when they start; set before the first of them is imported.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# The kit's tiny model never gains from a second thread.
GRADING_THREADS = 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def share(jobs: int = 1, most: int = GRADING_THREADS) -> int:
    """Threads for one of ``jobs`` gradings running side by side: the cores divided, capped."""
    return max(1, min(most, usable_cores() // max(1, jobs)))


def user_threads() -> int | None:
    """The thread count the user asked for with OMP_NUM_THREADS, if any."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        return None


def child_env(threads: int) -> dict[str, str]:
    """The thread variables for a child process limited to ``threads`` threads."""
    return {name: str(threads) for name in THREAD_VARS}


def configure(threads: int | None = None) -> int:
    """Set this process's thread count once; return it.

    ``threads`` defaults to :data:`GRADING_THREADS`. A variable the user already
    set is left alone, and OMP_NUM_THREADS set by the user wins over ``threads``.
    If torch is already imported (a library imported it first), its pool is set too.
    """
    chosen = user_threads() or threads or share()
    for name in THREAD_VARS:
        os.environ.setdefault(name, str(chosen))
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        if torch.get_num_threads() != chosen:
            torch.set_num_threads(chosen)
    return chosen
