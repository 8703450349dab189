"""The student's experiments, run ahead in a worker process while the other checks run.

A fresh grading of the reference spends about two and a half seconds in the
three experiments (:mod:`grader.experiments`: LoRA training on the tiny model,
the replayed DSPy optimization, the enhancement) and about five in the other
sixty checks, all on one thread (:mod:`grader.threads`). Where a second core
is free the two can overlap:

1. Once the checks are collected, the grading process imports the libraries
   the experiments need (torch, transformers, peft, dspy: it imports them
   for its own checks anyway), parses the DSPy recordings, and forks. The
   worker shares every module already imported (copy-on-write), so it
   starts at once.
2. The worker imports the student's modules and runs each experiment as the
   grading process would (:meth:`Experiments.compute`, inside the same
   instruments), one after the other, and leaves what the checks read in a
   private folder, one JSON file per experiment.
3. The plugin runs the checks that use experiments last, so when the first of
   them asks, its figures are usually there. It waits for them otherwise.

**The same grade either way.** Only plain data comes back
(:func:`grader.experiment_cache.encode`, checked to come back identical). When
an experiment raised or exited, gave something else than plain data, or the
worker died, the experiment runs again in the grading process exactly as
without a worker, so a failure is reported as it always was, in its owner
check with its own traceback. The worker holds each experiment to its owner
check's time limit; past it, the owner check fails with pytest-timeout's own
message.

**When not.** One usable core; not Linux (forking a process that has loaded
system frameworks is unsafe on macOS, and Windows cannot fork); threads
running besides the main one (a fork copies only the calling thread, and
locks the others held stay locked); ``--collect-only``; ``GRADER_AHEAD=0``,
which the batch sandbox sets (it runs submissions side by side already).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from . import heap
from .experiment_cache import NotPlainData, _Reads, as_plain
from .results import write_atomic
from .threads import usable_cores


def possible() -> str | None:
    """Why experiments cannot run ahead here, or None when they can."""
    if os.environ.get("GRADER_AHEAD", "1") == "0":
        return "GRADER_AHEAD=0"
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return "not Linux"
    if usable_cores() < 2:
        return "one usable core"
    if threading.active_count() > 1:
        return "other threads are running"
    return None


class _Overtime(BaseException):
    """Raised in the worker when an experiment runs past its limit."""


class Worker:
    """The forked process running experiments ahead, as the grading process sees it."""

    def __init__(self, pid: int, pipe: int, folder: Path, names: list[str]):
        self.pid = pid
        self.pipe = pipe
        self.folder = folder
        self.pending = set(names)
        self.done: set[str] = set()
        self._buffer = b""

    def take(self, name: str) -> dict | None:
        """The worker's outcome of experiment ``name``, waiting for it; None when there is none.

        Waiting is interruptible: pytest-timeout's alarm ends it like any other
        slow call, and the worker is then stopped.
        """
        if name not in self.pending:
            return None
        self.pending.discard(name)
        try:
            while name not in self.done and self.pipe is not None:
                chunk = os.read(self.pipe, 4096)
                if not chunk:  # the worker has ended
                    self._close_pipe()
                    break
                *lines, self._buffer = (self._buffer + chunk).split(b"\n")
                self.done.update(line.decode(errors="replace") for line in lines)
        except BaseException:
            self.stop()
            raise
        if name not in self.done:
            return None
        try:
            return json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _close_pipe(self) -> None:
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        self._reap()

    def _reap(self) -> None:
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0

    def stop(self) -> None:
        """End the worker (if it still runs) and remove its folder."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._close_pipe()
        self.pending.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def start(experiments, names: list[str], limits: dict[str, float], libraries: list[str],
          warm: list = ()) -> Worker | None:
    """Fork a worker running experiments ``names`` in that order; None where it cannot start.

    ``limits`` are the owner checks' time limits in seconds (0: none);
    ``libraries`` are imported first, here, and the ``warm`` functions called
    (parsing the DSPy recordings), so that the worker shares what they load.
    """
    if not names or possible() is not None:
        return None
    for library in libraries:
        try:
            __import__(library)
        except Exception:  # noqa: BLE001 - a broken library: the checks will say so
            return None
    for function in warm:
        with contextlib.suppress(Exception):  # the worker will then do it itself
            function()
    heap.settle()  # freeze what is imported: the worker then shares those pages untouched
    if threading.active_count() > 1:  # a library started a thread while importing
        return None
    folder = Path(tempfile.mkdtemp(prefix="grader-ahead-"))
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    if pid == 0:  # the worker
        status = 0
        try:
            os.close(read_end)
            _run_worker(experiments, names, limits, folder, write_end)
        except BaseException:  # noqa: BLE001 - the worker never returns into pytest
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return Worker(pid, read_end, folder, names)


def _run_worker(experiments, names, limits, folder: Path, pipe: int) -> None:
    """In the worker: run each experiment and leave its outcome in ``folder``."""
    import faulthandler

    faulthandler.disable()  # pytest's, writing to the grading's terminal
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the student's prints must not land in the grading's output
        os.dup2(quiet, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until os._exit
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    def overtime(signum, frame):
        raise _Overtime

    signal.signal(signal.SIGALRM, overtime)
    record_reads = experiments.cache is not None
    for name in names:
        limit = limits.get(name, 0)
        if limit > 0:
            signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            run, reads = experiments.compute(name, record_reads=record_reads)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        outcome = _outcome(name, run, reads, limit)
        write_atomic(folder / f"{name}.json", json.dumps(outcome, allow_nan=False))
        os.write(pipe, name.encode() + b"\n")


def _outcome(name: str, run, reads, limit: float) -> dict:
    """What the grading process needs of a run: plain data, or why it must run it itself."""
    if isinstance(run.error, _Overtime):
        return {"name": name, "status": "timeout", "limit": limit}
    if run.error is not None:
        return {"name": name, "status": "failed"}
    try:
        value, observed = as_plain(run.value, run.observed)
    except (NotPlainData, ValueError, RecursionError):
        return {"name": name, "status": "not plain data"}
    outcome = {"name": name, "status": "ok", "value": value, "observed": observed,
               "seconds": run.seconds}
    if reads is not None:
        outcome["reads"] = {"files": sorted(reads.files - reads.written),
                            "folders": sorted(reads.folders)}
    return outcome


def reads_of(outcome: dict, roots) -> _Reads:
    """The files and folders an outcome says its run read (see ``recording``)."""
    reads = _Reads(roots)
    recorded = outcome.get("reads") or {}
    reads.files = set(recorded.get("files", ()))
    reads.folders = set(recorded.get("folders", ()))
    return reads


def timeout_error(limit: float) -> BaseException:
    """The error pytest-timeout raises in a check that runs past ``limit`` seconds."""
    import pytest
    import pytest_timeout

    return pytest.fail.Exception(pytest_timeout.PYTEST_FAILURE_MESSAGE % limit)
