"""Experiments run ahead in a worker process (grader/ahead.py): the same grade, failures
reported as without the worker, and a worker that fails handing the work back."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest
from gradelib import CHECKS, ROOT, grade, make_impl, same_grade

from grader import ahead
from grader.experiments import Run
from grader.plugin import _GradingSession

pytestmark = pytest.mark.timeout(900)  # whole gradings, on a machine that may be busy

needs_two_cores = pytest.mark.skipif(
    ahead.usable_cores() < 2 or not sys.platform.startswith("linux"),
    reason="the worker needs Linux and a second core")


# Runs first in every script: ``here_calls`` lists the experiments the grading process
# computes itself (the worker's, run in another process, do not count).
COUNT_HERE = """
import os
from grader.experiments import Experiments
from grader.seam import Impl

parent, real, here_calls = os.getpid(), Experiments.compute, []

def compute(self, name, record_reads=False):
    if os.getpid() == parent:
        here_calls.append(name)
    return real(self, name, record_reads)

Experiments.compute = compute
"""


def _script(code: str) -> subprocess.CompletedProcess:
    """Run :data:`COUNT_HERE`, then ``code``, in a fresh interpreter at the kit's root (a fork
    needs a process with one thread)."""
    env = {**os.environ, "GRADER_AHEAD": "1", "HF_HUB_OFFLINE": "1",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-c", COUNT_HERE + textwrap.dedent(code)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------- when it runs
def test_the_worker_is_refused_where_a_fork_is_unsafe(monkeypatch):
    monkeypatch.setenv("GRADER_AHEAD", "0")
    assert ahead.possible() == "GRADER_AHEAD=0"
    monkeypatch.setenv("GRADER_AHEAD", "1")
    monkeypatch.setattr(ahead, "usable_cores", lambda: 1)
    assert ahead.possible() == "one usable core"
    monkeypatch.setattr(ahead, "usable_cores", lambda: 2)
    if sys.platform.startswith("linux"):
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        try:
            assert ahead.possible() == "other threads are running"
        finally:
            stop.set()
            thread.join()


def test_the_batch_sandbox_runs_without_a_worker(tmp_path):
    from grader.sandbox.supervisor import _child_env

    assert _child_env(tmp_path, 1)["GRADER_AHEAD"] == "0"


def test_only_plain_data_comes_back():
    good = ahead._outcome("lora", Run(value={"loss": 1.5, "pair": (1, 2)}), None, 60)
    assert good["status"] == "ok"
    assert ahead._outcome("lora", Run(value={"model": object()}), None, 60)["status"] == \
        "not plain data"
    assert ahead._outcome("lora", Run(error=ValueError("no")), None, 60)["status"] == "failed"
    timed_out = ahead._outcome("lora", Run(error=ahead._Overtime()), None, 60)
    assert timed_out == {"name": "lora", "status": "timeout", "limit": 60}
    assert str(ahead.timeout_error(60.0)) == "Timeout (>60.0s) from pytest-timeout."


# ---------------------------------------------------------------- the order of the checks
def _reads_experiments(check: str) -> bool:
    """Whether the check function ``check`` takes the ``experiments`` fixture."""
    for path in CHECKS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == check:
                return "experiments" in [arg.arg for arg in node.args.args]
    raise AssertionError(f"{check} not found")


def test_checks_that_read_experiments_run_last():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:randomly",
                           "--impl=reference"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    names = [line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line]
    assert len(names) > 50, proc.stdout[-2000:]
    late = [_reads_experiments(name) for name in names]
    first_late = late.index(True)
    assert all(late[first_late:]), names[first_late:]
    assert sum(late) >= 6  # the figure checks, the enhancement's, train/dev apart


def test_a_check_depending_on_a_late_check_moves_with_it():
    class Item:
        def __init__(self, name, fixtures=(), depends=()):
            self.name = self.originalname = name
            self.nodeid = f"grader/checks/test_x.py::{name}"
            self.fixturenames = list(fixtures)
            self.depends = depends

        def iter_markers(self, name=None):
            marker = pytest.mark.rubric("technical", None, points=1, depends=self.depends).mark
            return iter([marker])

        def get_closest_marker(self, name):
            return next(self.iter_markers(name))

    items = [Item("a", ["experiments"]), Item("b", depends=("a",)), Item("c"),
             Item("d", depends=("b",))]
    session = _GradingSession.__new__(_GradingSession)
    session.by_name = {item.name: [item.nodeid] for item in items}
    session.by_id = {item.nodeid: None for item in items}
    _GradingSession.order_experiment_checks_last(session, items)
    assert [item.name for item in items] == ["c", "a", "b", "d"]


# ---------------------------------------------------------------- the worker
@needs_two_cores
def test_the_worker_computes_what_the_grading_process_would():
    proc = _script("""
        import grader.checks.test_creativity  # registers the enhancement's instrument
        from grader.experiment_cache import _same

        ahead = Experiments(Impl("reference"))
        assert ahead.start_ahead(["enhancement"], {"enhancement": 300})
        from_worker = ahead.run("enhancement")
        assert here_calls == [], "not from the worker"
        here = Experiments(Impl("reference")).run("enhancement")
        assert here_calls == ["enhancement"]
        assert from_worker.error is None and here.error is None
        assert _same(from_worker.value, here.value), (from_worker.value, here.value)
        assert from_worker.observed["work_done"]["optimizer_steps"] == 10
        assert from_worker.observed["work_done"]["trained_params"] == [3584, 7168]
        assert _same(from_worker.observed["work_done"], here.observed["work_done"])
        ahead.stop_ahead()
        print("same")
    """)
    assert proc.stdout.strip().endswith("same"), proc.stdout[-2000:] + proc.stderr[-3000:]


@needs_two_cores
def test_a_worker_that_dies_hands_the_experiment_back():
    proc = _script("""
        counting = Experiments.compute

        def dying(self, name, record_reads=False):
            if os.getpid() != parent:
                os._exit(3)  # the worker dies: a crash, or student code calling os._exit
            return counting(self, name, record_reads)

        Experiments.compute = dying
        experiments = Experiments(Impl("reference"))
        assert experiments.start_ahead(["enhancement"], {})
        run = experiments.run("enhancement")
        assert here_calls == ["enhancement"], here_calls
        assert run.error is None and run.value["approach"] == "lora", run
        assert experiments.worker.pid == 0 and "enhancement" not in experiments.worker.done
        print("handed back")
    """)
    assert proc.stdout.strip().endswith("handed back"), proc.stdout[-2000:] + proc.stderr[-3000:]


@needs_two_cores
def test_failures_read_the_same_with_and_without_the_worker(tmp_path):
    """The stubs' experiments raise NotImplementedError: in the worker, then again here.
    (With the reference's analysis, so that the figure checks get as far as the experiments.)"""
    impl = make_impl(tmp_path, base="assignments")
    shutil.copyfile(ROOT / "reference" / "ANALYSIS.md", impl / "ANALYSIS.md")
    with_worker = grade(impl, "test_analysis.py", env={"GRADER_AHEAD": "1"})
    without = grade(impl, "test_analysis.py", env={"GRADER_AHEAD": "0"})
    same, differences = same_grade(with_worker, without)
    assert same, differences
    owner = next(c for c in with_worker["checks"]
                 if c["name"] == "test_lora_parameter_figures_match_code")
    assert "run_experiment() failed: not implemented yet" in owner["detail"], owner


@needs_two_cores
def test_an_experiment_past_its_limit_fails_as_pytest_timeout_would(tmp_path):
    """The worker holds it to its owner check's limit; the grading process does not run it
    again (which would take the limit once more), it charges pytest-timeout's failure."""
    impl = make_impl(tmp_path)
    enhancement = impl / "enhancement.py"
    source = enhancement.read_text(encoding="utf-8")
    marker = "    baseline = train_with_targets("
    assert marker in source
    enhancement.write_text(source.replace(marker, "    import time\n    time.sleep(60)\n"
                                          + marker, 1), encoding="utf-8")
    proc = _script(f"""
        experiments = Experiments(Impl({str(impl)!r}))
        assert experiments.start_ahead(["enhancement"], {{"enhancement": 2.0}})
        run = experiments.run("enhancement")
        assert here_calls == [], here_calls
        print(type(run.error).__name__, run.error)
    """)
    assert proc.stdout.strip().endswith("Failed Timeout (>2.0s) from pytest-timeout."), (
        proc.stdout[-2000:] + proc.stderr[-3000:])


@needs_two_cores
def test_the_grade_is_the_same_with_and_without_the_worker():
    with_worker = grade("reference", env={"GRADER_AHEAD": "1"})
    without = grade("reference", env={"GRADER_AHEAD": "0"})
    same, differences = same_grade(with_worker, without)
    assert same, differences
    assert with_worker["totals"]["automatic"]["earned"] == \
        with_worker["totals"]["automatic"]["max"]

