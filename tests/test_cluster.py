"""``grader batch --scheduler``: a class graded on two real Dask workers on this machine.

A Dask scheduler and two ``dask worker`` processes start on 127.0.0.1 (loopback
only; tests/localcluster.py) for this module. The same small class is graded
with ``-j 2`` and on the workers; the gradebooks must be equal except for
durations and times. Then the class is graded again on the workers and one
worker is killed while it grades: its submission is graded again by the other
worker, and nothing is lost.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial.fakekit import HERE, LIMITS, REFERENCE_SCORE, make_submission, new_class

from tests.localcluster import free_port, local_cluster

pytestmark = pytest.mark.timeout(600)

VOLATILE = ("duration_s", "graded_at")


def _batch(kit: Path, *args: str, python_flags: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *python_flags, "-m", "grader", "batch", *args,
                             *LIMITS], cwd=kit, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, out + err
    return out, err


def _gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["student"]: {k: v for k, v in row.items() if k not in VOLATILE}
                for row in csv.DictReader(handle)}


def _feedback(out: Path, student: str) -> str:
    text = (out / "feedback" / f"{student}.md").read_text()
    return re.sub(r"grader-sub-\w+", "grader-sub-X", text)


def _descendants(pid: int) -> list[int]:
    """Every process started (directly or not) by ``pid``, from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _grading_under(pid: int) -> bool:
    for child in _descendants(pid):
        try:
            if b"grader.sandbox.child" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


@pytest.fixture(scope="module")
def cluster(kit, tmp_path_factory):
    """A scheduler and two workers on 127.0.0.1; yields (address, worker processes)."""
    logs = tmp_path_factory.mktemp("dask-logs")
    try:
        with local_cluster(kit, logs=logs) as (address, workers, _):
            yield address, workers
    finally:
        _print_tracebacks(logs)


def _print_tracebacks(logs: Path) -> None:
    for log in logs.iterdir():
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name}\n{text[-3000:]}")


def _kill_when_grading(worker: subprocess.Popen, batch: subprocess.Popen) -> None:
    """SIGKILL ``worker`` (and its process group) as soon as it is grading a submission."""
    deadline = time.monotonic() + 120
    while not _grading_under(worker.pid) and time.monotonic() < deadline:
        assert batch.poll() is None, batch.communicate()
        time.sleep(0.1)
    assert _grading_under(worker.pid), "the worker never started grading"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


@pytest.fixture(scope="module")
def runs(kit, cluster, tmp_path_factory):
    """The class graded three ways: -j 2, on the workers, and on the workers with one killed."""
    base = tmp_path_factory.mktemp("class")
    subs = new_class(base)
    make_submission(subs, "read_instructor_home", HERE / "read_instructor_home")
    (subs / "no_assignments").mkdir()
    address, workers = cluster

    local = _batch(kit, str(subs), "--out", str(base / "local"), "-j", "2",
                   python_flags=("-X", "importtime"))
    local_out, local_err = _finish(local)
    remote = _batch(kit, str(subs), "--out", str(base / "remote"), "--scheduler", address)
    remote_out, remote_err = _finish(remote)

    # Again, and kill the first worker as soon as it is grading a submission.
    killed = _batch(kit, str(subs), "--out", str(base / "killed"), "--scheduler", address)
    _kill_when_grading(workers[0], killed)
    _, killed_err = _finish(killed)
    return {"base": base, "local_err": local_err, "remote_out": remote_out,
            "remote_err": remote_err, "killed_err": killed_err}


def test_workers_grade_what_two_local_jobs_grade(runs):
    base = runs["base"]
    local, remote = _gradebook(base / "local"), _gradebook(base / "remote")
    assert set(local) == {"reference", "stub", "read_instructor_home", "no_assignments"}
    assert remote == local
    assert float(remote["reference"]["total"]) == REFERENCE_SCORE
    assert remote["read_instructor_home"]["status"] == "tampered"
    for student in local:  # the same feedback, but for each run's own scratch folder
        assert _feedback(base / "remote", student) == _feedback(base / "local", student)
    assert (base / "remote" / "scores.png").exists()
    assert "2 worker(s)" in runs["remote_err"]
    assert "4/4" in runs["remote_err"]


def test_the_workers_fingerprint_for_the_similarity_report(runs):
    base = runs["base"]
    assert "3 submission(s) fingerprinted on the Dask workers" in runs["remote_err"]
    assert "fingerprinted on the Dask workers" not in runs["local_err"]
    for name in ("similarity.csv", "similarity.html"):
        assert (base / "remote" / name).read_text() == (base / "local" / name).read_text()


def test_a_worker_killed_mid_grade_loses_nothing(runs):
    base = runs["base"]
    assert _gradebook(base / "killed") == _gradebook(base / "local")
    for path in (base / "killed" / "results").glob("*.json"):
        record = json.loads(path.read_text())
        if record["student"] != "no_assignments":
            assert record["result"]["complete"] is True, record["student"]
    assert "not graded" not in runs["killed_err"]


def test_a_class_outlives_its_only_worker(kit, tmp_path):
    """The harness travels as a worker plugin, not as scattered data: when the one worker
    dies mid-grade with the only copy, a worker that joins afterwards is given it too, and
    the whole class is graded."""
    subs = new_class(tmp_path)
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    try:
        with local_cluster(kit, workers=1, logs=logs) as (address, workers, add_worker):
            batch = _batch(kit, str(subs), "--out", str(tmp_path / "out"), "--scheduler", address)
            _kill_when_grading(workers[0], batch)
            add_worker()
            _, err = _finish(batch)
    finally:
        _print_tracebacks(logs)
    assert "not graded" not in err
    book = _gradebook(tmp_path / "out")
    assert set(book) == {"reference", "stub"}
    assert float(book["reference"]["total"]) == REFERENCE_SCORE


def test_resuming_on_the_cluster_grades_nothing_twice(kit, cluster, runs):
    proc = _batch(kit, str(runs["base"] / "submissions"), "--out", str(runs["base"] / "remote"),
                  "--scheduler", cluster[0])
    _, err = _finish(proc)
    assert "0 to grade, 4 already graded" in err


def test_without_scheduler_dask_is_not_imported(runs):
    imported = re.findall(r"\|\s+((?:dask|distributed)(?:\.\S+)?)\s*$", runs["local_err"],
                          flags=re.MULTILINE)
    assert "import time:" in runs["local_err"]
    assert imported == []


def test_an_unreachable_scheduler_is_a_clear_error(kit, tmp_path):
    (tmp_path / "subs" / "ann" / "assignments").mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(tmp_path / "subs"),
                           "--out", str(tmp_path / "out"), "--scheduler",
                           f"tcp://127.0.0.1:{free_port()}", *LIMITS], cwd=kit,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot reach the Dask scheduler" in proc.stderr
