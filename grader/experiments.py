"""The student's expensive experiments: each runs once per grading run, shared by the checks.

Three student functions train or optimize something and take seconds to
minutes: ``huggingface_lora.run_experiment`` (LoRA on the tiny model),
``dspy_example.run_experiment`` (replayed DSPy optimization) and
``enhancement.run_enhancement``. Several checks need their figures, so the
grading session keeps one :class:`Experiments` (the ``experiments`` fixture of
the plugin) and a check asks it::

    def test_lora_training_figures_match_code(impl, experiments, credit):
        computed = experiments.result("lora")

**Once.** The first check that asks runs the function (with the fixed arguments
of :mod:`grader.analysis_doc`); every later check gets the same dict (do not modify it).

**A failure is charged once.** If the function raises, exits, returns something
other than a dict, or runs past its check's time limit, the failure is
remembered and charged to the experiment's *owner* check (:data:`EXPERIMENTS`),
whose message names the function: ``huggingface_lora.run_experiment() failed:
ValueError: ...``. Every other check that needs the experiment is skipped, as a
``depends=`` check is when its prerequisite did not pass: ``needs
huggingface_lora.run_experiment(), which failed (see test_lora_parameter_...)``.
When the owner is not part of the run (``-k`` selected other checks) the first
check that asked is charged instead.

**Instrumentation.** A check that wants to observe the one run (count optimizer
steps or forward passes, record which model was loaded) registers an
*instrument* when its module is imported, which is at collection, before any
experiment can have run::

    @experiments.instrument("enhancement")
    def optimizer_steps():
        '''Count optimizer steps while run_enhancement() runs.'''
        counts = {"steps": 0}
        ...                      # install hooks
        try:
            yield counts         # the value the check reads afterwards
        finally:
            ...                  # remove the hooks

The decorated generator becomes a context manager entered around the single
call (instruments nest in registration order; the student's function runs
inside all of them). What it yields is kept by name, and the check reads it
with ``experiments.observed("enhancement", "optimizer_steps")``. Instruments
must not change what the function computes; one that raises fails the run
like the function would, so keep them simple.

**Run ahead.** Where a second core is free, a worker process forked once the
checks are collected runs the experiments while the other checks run, and the
checks that read experiments run last (:mod:`grader.ahead`). A failure there is
run again here, so it reads as described above.

**Remembered across runs.** A student's plain ``pytest`` reads an experiment's
figures and observations from the last run when nothing it depends on changed
(:mod:`grader.experiment_cache`; the run's :attr:`Run.cached_at` says when it
was computed); a grading that counts always runs it fresh.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import ahead, analysis_doc, heap
from .experiment_cache import ExperimentCache, decode, recording
from .seam import Impl

# What the experiments import, the lazily loaded parts included (transformers' Trainer);
# the grading's own checks import them too.
LORA_LIBRARIES = ("torch", "transformers", "transformers.trainer", "peft")
DSPY_LIBRARIES = ("dspy", "litellm")


def _load_dspy_recordings() -> None:
    """Parse the DSPy recordings (kept for the process, and for a worker it forks)."""
    from . import replay_dspy

    replay_dspy.warm()


@dataclass(frozen=True)
class Experiment:
    """One expensive student function and the check charged when it fails."""

    name: str
    function: str                   # as the student knows it: "module.function"
    owner: str                      # the check charged with its failure
    compute: Callable[[Impl], dict]
    title: str                      # as the score table names it
    arguments: dict = field(default_factory=dict)  # the fixed arguments compute() passes
    libraries: tuple[str, ...] = ()  # imported before a worker runs it ahead (grader.ahead)
    warm: Callable[[], None] | None = None  # work done before the fork, then shared

    @property
    def module(self) -> str:
        """The student's module the experiment runs."""
        return self.function.split(".")[0]


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("lora", "huggingface_lora.run_experiment",
               "test_lora_parameter_figures_match_code", analysis_doc.recompute_lora,
               "LoRA experiment", {**analysis_doc.LORA_ARGS,
                                   "model": analysis_doc.TINY_MODEL_DIR.name}, LORA_LIBRARIES),
    Experiment("dspy", "dspy_example.run_experiment",
               "test_dspy_metric_figures_match_code", analysis_doc.recompute_dspy,
               "DSPy experiment", dict(analysis_doc.DSPY_ARGS), DSPY_LIBRARIES,
               _load_dspy_recordings),
    Experiment("enhancement", "enhancement.run_enhancement",
               "test_enhancement_rerun_matches", analysis_doc.recompute_enhancement,
               "enhancement", {}, LORA_LIBRARIES),
)}

Instrument = Callable[[], contextlib.AbstractContextManager]
_INSTRUMENTS: dict[str, list[tuple[str, Instrument]]] = {name: [] for name in EXPERIMENTS}


def instrument(name: str):
    """Decorator: run a generator function as a context manager around experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r} (one of {', '.join(EXPERIMENTS)})")

    def register(function: Callable[[], Iterator]) -> Callable[[], Iterator]:
        entries = _INSTRUMENTS[name]
        entries[:] = [(n, f) for n, f in entries if n != function.__name__]  # re-import
        entries.append((function.__name__, contextlib.contextmanager(function)))
        return function

    return register


class ExperimentFailed(Exception):
    """A student's experiment function failed; ``error`` is what it raised."""

    def __init__(self, function: str, error: BaseException):
        super().__init__(f"{function}() failed")
        self.function = function
        self.error = error


@dataclass
class Run:
    """The outcome of one experiment: its figures or its error, and what instruments saw."""

    value: dict | None = None
    error: BaseException | None = None
    observed: dict = field(default_factory=dict)
    seconds: float = 0.0
    first_check: str | None = None
    cached_at: float | None = None  # when the figures were computed, if read from the cache


class Experiments:
    """The experiments of one grading run (one implementation).

    With a ``cache`` (a student's own run), an experiment whose dependencies did
    not change since it last ran is read from it instead of run again.
    """

    def __init__(self, impl: Impl, collected: Callable[[], set[str]] = set,
                 cache: ExperimentCache | None = None):
        self.impl = impl
        self.collected = collected  # names of the checks in this run
        self.current: str | None = None  # the check running now (set by the plugin)
        self.runs: dict[str, Run] = {}
        self.cache = cache
        self.worker: ahead.Worker | None = None
        self._ahead_keys: dict[str, str | None] = {}

    def run(self, name: str) -> Run:
        """Run experiment ``name`` unless it already ran; its :class:`Run` either way."""
        if name not in self.runs:
            self.runs[name] = (self._from_worker(name) or self._from_cache(name)
                               or self._fresh(name))
        return self.runs[name]

    def start_ahead(self, names: list[str], limits: dict[str, float]) -> bool:
        """Run experiments ``names`` ahead in a worker process (:mod:`grader.ahead`), if possible.

        Experiments the cache answers are left out. ``limits`` are the owner
        checks' time limits. True when a worker started.
        """
        wanted = [n for n in names if n not in self.runs and self._from_cache(n) is None]
        self._ahead_keys = {n: self._key(n) for n in wanted}
        libraries = list(dict.fromkeys(lib for n in wanted for lib in EXPERIMENTS[n].libraries))
        warm = [EXPERIMENTS[n].warm for n in wanted if EXPERIMENTS[n].warm is not None]
        self.worker = ahead.start(self, wanted, limits, libraries, warm)
        return self.worker is not None

    def stop_ahead(self) -> None:
        """Stop the worker, if one runs."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def _from_worker(self, name: str) -> Run | None:
        """The worker's run of ``name``; None when it has none to give (then run it here)."""
        if self.worker is None or name not in self.worker.pending:
            return None
        try:
            outcome = self.worker.take(name)
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - pytest-timeout ended the wait
            return Run(error=exc, first_check=self.current)
        if outcome is None or outcome.get("status") not in ("ok", "timeout"):
            return None  # it failed there: run it here, so it fails as it always does
        if outcome["status"] == "timeout":
            return Run(error=ahead.timeout_error(outcome["limit"]), first_check=self.current,
                       seconds=outcome["limit"])
        try:
            run = Run(value=decode(outcome["value"]), first_check=self.current,
                      observed={k: decode(v) for k, v in outcome["observed"].items()},
                      seconds=float(outcome["seconds"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        key = self._ahead_keys.get(name)
        if key is not None:
            self.cache.store(name, key, run.value, run.observed, run.seconds,
                             ahead.reads_of(outcome, self.cache.roots))
        return run

    def _key(self, name: str) -> str | None:
        """The cache key of experiment ``name``; None without a cache (or if it cannot be made)."""
        if self.cache is None:
            return None
        experiment = EXPERIMENTS[name]
        try:
            return self.cache.key(name, experiment.module, experiment.arguments)
        except (OSError, ValueError, TypeError):  # the cache must never break a grading
            return None

    def _from_cache(self, name: str) -> Run | None:
        key = self._key(name)
        if key is None:
            return None
        entry = self.cache.load(name, key, [k for k, _ in _INSTRUMENTS[name]])
        if entry is None:
            return None
        return Run(value=entry["value"], observed=entry["observed"], seconds=entry["seconds"],
                   first_check=self.current, cached_at=entry["created"])

    def _fresh(self, name: str) -> Run:
        key = self._key(name)  # before the run: the sources as they were when it started
        run, reads = self.compute(name, record_reads=key is not None)
        if key is not None and run.error is None:  # a failure is never kept
            self.cache.store(name, key, run.value, run.observed, run.seconds, reads)
        return run

    def compute(self, name: str, record_reads: bool = False) -> tuple[Run, object]:
        """Run experiment ``name`` here and now, inside its instruments.

        Returns the :class:`Run` and, with ``record_reads``, the files it read
        (for the cache). Whatever the student's function raises is kept in the run.
        """
        experiment = EXPERIMENTS[name]
        run = Run(first_check=self.current)
        reads = None
        start = time.perf_counter()
        with contextlib.ExitStack() as outer:
            if record_reads:
                reads = outer.enter_context(recording(self.cache.roots))
            try:
                with contextlib.ExitStack() as stack:
                    # Import first and settle the heap (grader.heap): the libraries it brings
                    # are then frozen before training starts accelerate's full collections.
                    self.impl.module(experiment.module)
                    heap.settle_if_imported()
                    for instrument_name, make in _INSTRUMENTS[name]:
                        run.observed[instrument_name] = stack.enter_context(make())
                    run.value = experiment.compute(self.impl)
            except (KeyboardInterrupt, GeneratorExit):
                raise
            except BaseException as exc:  # noqa: BLE001 - student code may raise or exit
                run.error = exc           # (pytest-timeout's Failed is a BaseException too)
        run.seconds = time.perf_counter() - start
        return run, reads

    def charged_check(self, name: str) -> str | None:
        """The check charged when experiment ``name`` fails."""
        owner = EXPERIMENTS[name].owner
        if owner in self.collected():
            return owner
        return self.runs[name].first_check if name in self.runs else self.current

    def result(self, name: str) -> dict:
        """The figures of experiment ``name``, run once.

        On failure: raises :class:`ExperimentFailed` in the charged check and skips any other.
        """
        run = self.run(name)
        if run.error is None:
            return run.value
        function = EXPERIMENTS[name].function
        charged = self.charged_check(name)
        if charged is None or self.current == charged:
            raise ExperimentFailed(function, run.error) from run.error
        import pytest

        pytest.skip(f"needs {function}(), which failed (see {charged})")

    def observed(self, name: str, instrument_name: str):
        """What instrument ``instrument_name`` yielded during experiment ``name``."""
        return self.run(name).observed.get(instrument_name)
