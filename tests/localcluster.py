"""A Dask scheduler and workers on 127.0.0.1, for tests/test_cluster.py and bench/bench_scale.py.

``with local_cluster(cwd) as (address, workers, add_worker):`` starts a
scheduler and two ``dask worker`` processes (one thread each, no nanny, no
dashboard) on the loopback interface and waits until both have joined;
``add_worker()`` starts one more (it joins on its own). Every process is
stopped (with its process group) when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from grader import procs as procs_mod


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_cluster(cwd: Path, workers: int = 2,
                  logs: Path | None = None) -> Iterator[tuple[str, list[subprocess.Popen],
                                                               Callable[[], subprocess.Popen]]]:
    """Yield the scheduler's address, the worker processes and a function that starts another.

    Each process writes to ``logs``/NAME.log (scheduler.log, worker1.log, ...), or
    nowhere when ``logs`` is None. A worker that loses its scheduler gives up after
    two minutes.
    """
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        if logs is None:
            output = subprocess.DEVNULL
        else:
            output = open(Path(logs) / f"{name}.log", "w")  # noqa: SIM115 - closed below
        try:
            started.append(subprocess.Popen([sys.executable, "-m", *args], cwd=cwd,
                                            stdout=output, stderr=subprocess.STDOUT,
                                            start_new_session=True))
        finally:
            if logs is not None:
                output.close()  # the child holds its own copy
        return started[-1]

    try:
        start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
              "--port", str(port), "--no-dashboard")
        pool: list[subprocess.Popen] = []

        def add_worker() -> subprocess.Popen:
            n = len(pool) + 1
            pool.append(start(f"worker{n}", "distributed.cli.dask_worker", address, "--host",
                              "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                              "--death-timeout", "120", "--name", f"w{n}"))
            return pool[-1]

        for _ in range(workers):
            add_worker()
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, pool, add_worker
    finally:
        for proc in reversed(started):
            procs_mod.kill_group(proc)
            proc.wait()
