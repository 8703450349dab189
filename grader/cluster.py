"""Grade a batch on Dask distributed workers (``grader batch ... --scheduler tcp://HOST:8786``).

How a submission reaches a worker: **shipped archives**. The batch packs the
instructor's harness once (``grader/``, ``data/``, ``fixtures/``, the
configuration: a few MiB) and registers it as a worker plugin
(:class:`Shipment`), which the scheduler installs on every worker, one that
joins later included; each task carries one student's ``assignments/`` as a
small gzipped tar. No shared file system is needed, and a worker never sees
more than the one submission it grades. The worker unpacks both into a private
temporary folder and grades there exactly as ``-j N`` does on one machine
(:func:`grader.sandbox.grade_submission`: bubblewrap where it works, the same
limits, the signed stream).

Only the batch process writes ``OUT``: a result is stored when its task has
finished, so a worker that dies mid-grade leaves nothing behind. Dask runs the
task again on another worker; if it kills workers every time (the scheduler's
``allowed-failures``, 3 by default), the submission is left ungraded, reported,
and graded by the next run of the same command (the batch is resumable).

With the similarity report (the default) each submission's archive also goes
to a second task, :func:`fingerprint_remote`, which fingerprints it on a
worker (:func:`grader.classmatch.fingerprint_submission`; the starter code's
fingerprints travel in the same :class:`Shipment`): the batch process only
compares them.

Each worker needs the kit's Python environment (``pip install -e ".[cluster]"``
in the same versions); its checks come from the shipped harness.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

from .results import GradeResult
from .sandbox import Limits, Outcome, grade_submission

SKIP = ("__pycache__", ".pytest_cache", ".git")


def pack(directory: Path) -> bytes:
    """A gzipped tar of ``directory``'s regular files (no links, no caches)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(Path(directory).rglob("*")):
            relative = path.relative_to(directory)
            if any(part in SKIP for part in relative.parts) or path.suffix == ".pyc":
                continue
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            archive.add(path, arcname=str(relative), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, dest: Path) -> Path:
    """Extract an archive made by :func:`pack` into ``dest`` (nothing may land outside it)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(dest, filter="data")
    return dest


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # no Dask installed: only --scheduler needs it
    WorkerPlugin = object


class Shipment(WorkerPlugin):
    """What every worker of one batch needs: the packed harness and the starter's fingerprints.

    A worker plugin rather than scattered data: the scheduler keeps the plugin
    and installs it on each worker, one that joins later included, so no
    worker's death can lose it. Scattered data can be lost: Dask's memory
    manager keeps only as many copies as the waiting tasks need, and when the
    worker holding the last copy dies the key is forgotten and every task that
    needs it is cancelled, the whole class with it.
    """

    def __init__(self, name: str, harness: bytes, starter: dict | None = None):
        self.name = name  # Dask's key for it: one per batch, so two batches keep their own
        self.harness = harness
        self.starter = starter


def _shipment(name: str) -> Shipment:
    """The :class:`Shipment` called ``name`` on the worker running this task."""
    from distributed import get_worker

    return get_worker().plugins[name]


def grade_remote(student: str, assignments: bytes, shipment: str, expected: dict,
                 limits: dict) -> dict:
    """Run on a worker: unpack the harness and the submission, grade, return the outcome."""
    from distributed import get_worker

    limits = Limits(**limits)
    threads = get_worker().state.nthreads
    limits.threads = max(1, (os.cpu_count() or 1) // max(1, threads))
    work = Path(tempfile.mkdtemp(prefix="grader-remote-"))
    try:
        template = unpack(_shipment(shipment).harness, work / "harness")
        folder = unpack(assignments, work / "submissions" / student / "assignments")
        outcome = grade_submission(template, folder, GradeResult.from_dict(expected), limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = asdict(outcome)
    record["result"] = outcome.result.to_dict()
    return record


def fingerprint_remote(assignments: bytes, shipment: str) -> dict:
    """Run on a worker: unpack one submission and fingerprint it for the similarity report."""
    from .classmatch import fingerprint_submission

    starter = _shipment(shipment).starter
    work = Path(tempfile.mkdtemp(prefix="grader-fingerprint-"))
    try:
        return fingerprint_submission(unpack(assignments, work / "assignments"), starter)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def outcome_from(record: dict) -> Outcome:
    """The :class:`Outcome` a worker sent back."""
    return Outcome(**{**record, "result": GradeResult.from_dict(record["result"])})


def reachable(scheduler: str) -> None:
    """Fail fast, with a clear message, when nothing listens at a ``tcp://HOST:PORT`` address."""
    match = re.fullmatch(r"tcp://\[?([^\]]+?)\]?:(\d+)", scheduler.strip())
    if not match:
        return  # another protocol (tls://, ucx://): Dask itself says what is wrong
    try:
        socket.create_connection((match[1], int(match[2])), timeout=10).close()
    except OSError as exc:
        raise RuntimeError(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                           f"({exc.strerror or exc})") from None


def grade_on_cluster(scheduler: str, todo: Iterable, template: Path, expected: GradeResult,
                     limits: Limits, done: Callable, failed: Callable,
                     starter: dict | None = None, fingerprinted: Callable | None = None) -> int:
    """Send each ``(submission, source_hash)`` of ``todo`` to the Dask cluster at ``scheduler``.

    ``done(submission, source_hash, outcome)`` runs here, in the batch process,
    as each result arrives; ``failed(submission, error)`` when Dask gave up on one.
    With ``starter``, each submission is also fingerprinted on a worker and
    ``fingerprinted(submission, record)`` receives the record (a failed
    fingerprint is only skipped: the batch makes it itself). Return the number
    of workers.
    """
    from distributed import Client

    reachable(scheduler)
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise RuntimeError(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                           f"({exc})") from None
    with client:
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        print(f"Dask scheduler {scheduler}: {workers} worker(s); submissions are shipped "
              "as archives", file=sys.stderr)
        shipment = f"grader-batch-{uuid.uuid4().hex[:12]}"
        client.register_plugin(Shipment(shipment, pack(template), starter))
        try:
            _grade_all(client, shipment, todo, expected, asdict(limits), done, failed,
                       starter is not None, fingerprinted)
        finally:
            # Leave the workers as they were; a scheduler that went away has no plugin to drop.
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                client.unregister_worker_plugin(shipment)
    return workers


def _grade_all(client, shipment: str, todo: Iterable, expected: GradeResult, settings: dict,
               done: Callable, failed: Callable, fingerprint: bool,
               fingerprinted: Callable | None) -> None:
    """Submit a grading task (and a fingerprint task) per submission; collect as they finish."""
    from distributed import as_completed

    futures, prints = {}, {}
    for submission, source_hash in todo:
        tag = f"{submission.student}-{uuid.uuid4().hex[:8]}"
        archive = pack(submission.assignments)
        future = client.submit(grade_remote, submission.student, archive, shipment,
                               expected.to_dict(), settings, key=f"grade-{tag}", pure=False)
        futures[future] = (submission, source_hash)
        if fingerprint:
            prints[client.submit(fingerprint_remote, archive, shipment,
                                 key=f"fingerprint-{tag}", pure=False)] = submission
    for future in as_completed([*futures, *prints]):
        if future in prints:
            if future.status == "finished" and fingerprinted is not None:
                fingerprinted(prints[future], future.result())
            continue
        submission, source_hash = futures[future]
        try:
            record = future.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker and the like: not graded
            failed(submission, exc)
            continue
        done(submission, source_hash, outcome_from(record))
