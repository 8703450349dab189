"""The grading plugin: turns check outcomes into a grade.

A graded check is any test carrying the ``rubric`` marker::

    @pytest.mark.rubric("technical", "dspy", points=2)
    def test_signature_fields(impl):
        '''StudentResponse must declare the three fields (read: DSPy signatures).'''
        sig = impl.module("dspy_example").StudentResponse
        ...

- its docstring (or ``message=``) is the student message shown when it fails;
- ``credit(fraction, detail)`` awards a share of its points (partial credit);
- ``depends=("test_other",)`` skips it, with the reason, when a prerequisite
  did not pass, so one mistake is not charged twice;
- ``review=True`` marks points that only a person can judge: they are shown as
  "awaiting review" until an instructor's ``--reviews`` file fills them.
- the ``experiments`` fixture gives the figures of the student's slow experiments,
  each run once per grading run (see :mod:`grader.experiments`), and read from the
  cache of the last run when their code did not change (see :mod:`grader.experiment_cache`;
  ``--no-cache`` runs them fresh, as every grading that counts does).

Grading uses one thread (see :mod:`grader.threads`), set before any conftest or check imports torch;
in a project other than the kit the plugin stays dormant (see :func:`grading_here`).

All reports come from one :class:`~grader.results.GradeResult`.
"""

from __future__ import annotations

import csv
import os
import random
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest

from . import experiment_cache, heap, reports, rubric
from .experiments import EXPERIMENTS, ExperimentFailed, Experiments
from .results import (
    ERROR,
    FAILED,
    NOT_RUN,
    PARTIAL,
    PASSED,
    REVIEW,
    SKIPPED,
    CheckResult,
    GradeResult,
    checks_hash,
    write_atomic,
    write_json,
)
from .seam import Impl, ImplImportError
from .settings import REPO_ROOT, SHELL_VARIABLES_REMOVED, hermetic_env
from .threads import configure as configure_threads

_ENTERED = False


def enter_grading_environment() -> None:
    """Make this process hermetic, once, before any check imports dspy, litellm or torch.

    Offline model hub, LiteLLM's bundled price list, a fresh DSPy cache, one
    thread (see grader.threads), rare full passes of the cycle collector (see
    grader.heap), and ``LLM_KIT_ROOT`` so the code under test
    finds the kit's data/ and fixtures/ wherever it sits (its utils.py).
    """
    global _ENTERED
    if _ENTERED:
        return
    _ENTERED = True
    os.environ.update(hermetic_env(dspy_cache=tempfile.mkdtemp(prefix="dspy-cache-")))
    for name in SHELL_VARIABLES_REMOVED:  # a student's own API settings never reach a check
        os.environ.pop(name, None)
    configure_threads()
    heap.configure()  # rare full passes of the cycle collector (see grader.heap)
    os.environ["LLM_KIT_ROOT"] = str(REPO_ROOT)


def grading_here(config) -> bool:
    """True when pytest runs in the kit (or a copy of it), not in some other project.

    ``pip install -e .`` registers this plugin for every pytest run in the
    environment; in another project it stays dormant: no environment changes,
    no network guard, no rubric, no score table.
    """
    root = Path(str(config.rootpath)).resolve()
    return root == REPO_ROOT or (root / config.getini("grader_checks")).is_dir()

SEED = 1234
RESULT_KEY = pytest.StashKey[CheckResult]()
FRACTION_KEY = pytest.StashKey[tuple[float, str]]()
NETWORK_KEY = pytest.StashKey[list[str]]()


# Packages that pytest marks for assertion rewriting only because they ship a pytest
# plugin; no check's assert lives in them.
NOT_REWRITTEN = ("hypothesis", "_hypothesis_", "anyio", "pytest_benchmark", "pytest_recording",
                 "pytest_timeout")


def rewrite_only_the_checks(config) -> None:
    """Let Python import the plugin libraries' modules as they are, without pytest's rewriting.

    pytest rewrites the asserts of every package that ships a pytest plugin
    (hypothesis alone is 70-odd modules). Where rewritten bytecode is not cached
    (``PYTHONDONTWRITEBYTECODE``, a fresh CI runner) that is about a second of
    parsing and compiling in every grading, for asserts no check relies on. The
    checks and conftest files are still rewritten, as is what a plugin registers
    explicitly (``vcr.matchers``).
    """
    from _pytest.assertion.rewrite import assertstate_key  # pytest is pinned (pyproject.toml)

    hook = getattr(config.stash.get(assertstate_key, None), "hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set):
        marked.difference_update([name for name in marked if name.startswith(NOT_REWRITTEN)])
        getattr(hook, "_marked_for_rewrite_cache", {}).clear()


class RubricError(pytest.UsageError):
    """The declared rubric is inconsistent; grading refuses to start."""


# ---------------------------------------------------------------- options
def pytest_addoption(parser):
    group = parser.getgroup("grader", "course kit grading")
    group.addoption("--impl", default="assignments",
                    help="code to grade: assignments (default), reference, or a directory")
    group.addoption("--grade-json", metavar="PATH", help="write the full result as JSON")
    group.addoption("--gradescope", metavar="PATH", help="write Gradescope results.json")
    group.addoption("--reviews", metavar="CSV",
                    help="instructor review points: a CSV with columns check,points[,comment]")
    group.addoption("--allow-network", action="store_true",
                    help="do not block the network (recording cassettes only)")
    group.addoption("--no-cache", action="store_true",
                    help="run every slow experiment fresh; do not read or write the experiment "
                         "cache (.grader-cache/ at the kit's root, or $GRADER_CACHE_DIR). "
                         "Every grading that counts runs so; GRADER_NO_CACHE=1 does the same")
    group.addoption("--clear-cache", action="store_true",
                    help="empty the experiment cache before grading (then fill it again)")
    parser.addini("grader_checks", "folder of the graded checks, relative to the rootdir",
                  default="grader/checks")


DEFAULT_REPORTCHARS = "fE"  # pytest's default for -r


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Runs before conftest.py files import anything (only for the installed entry point).
    if grading_here(early_config):
        enter_grading_environment()


def pytest_configure(config):
    config.addinivalue_line("markers", "rubric: a graded check (category, approach, points)")
    if not grading_here(config):
        return
    enter_grading_environment()
    rewrite_only_the_checks(config)
    try:
        from hypothesis import HealthCheck, settings

        settings.register_profile(
            "grading", derandomize=True, database=None, deadline=None, print_blob=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        settings.load_profile("grading")
    except ImportError:  # pragma: no cover - hypothesis is a declared dependency
        pass
    config._grader = _GradingSession(config)
    config.pluginmanager.register(config._grader, "grader-session")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def impl(request) -> Impl:
    """The implementation under test (see grader.seam)."""
    return request.config._grader.impl


@pytest.fixture(scope="session")
def experiments(request) -> Experiments:
    """The student's slow experiments, each run once per grading run (see grader.experiments)."""
    return request.config._grader.experiments


@pytest.fixture
def credit(request):
    """Award a fraction of this check's points: ``credit(0.75, "3 of 4 records valid")``.

    The check then passes with partial credit unless it fails afterwards.
    """

    def award(fraction: float, detail: str = "") -> None:
        request.node.stash[FRACTION_KEY] = (min(1.0, max(0.0, float(fraction))), detail)

    return award


@pytest.hookimpl(trylast=True)  # after -k / -m deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    grading = getattr(config, "_grader", None)
    if grading is not None:
        grading.order_experiment_checks_last(items)


def _time_limit(item) -> float:
    """The seconds pytest-timeout allows ``item`` (0: no limit), as pytest-timeout decides it."""
    try:
        import pytest_timeout  # pinned (pyproject.toml): the item's settings are not public API

        return float(pytest_timeout._get_item_settings(item).timeout or 0)
    except Exception:  # noqa: BLE001 - no limit known: the check's own timeout still applies
        return 0.0


def _marker_args(item) -> dict | None:
    marker = item.get_closest_marker("rubric")
    if marker is None:
        return None
    args = dict(zip(("category", "approach"), marker.args, strict=False))
    args.update(marker.kwargs)
    return args


def _student_message(item, args: dict) -> str:
    if args.get("message"):
        return str(args["message"])
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return " ".join(doc.strip().split()) or item.name


# ---------------------------------------------------------------- network guard
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


class NetworkBlockedError(ConnectionRefusedError):
    """Raised when graded code tries to reach the network."""


def _is_local(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in _LOCAL_HOSTS or host.startswith("127.")


class _NetworkGuard:
    """Blocks every connection that leaves this machine, remembering the host asked for."""

    def __init__(self):
        self.attempts: list[str] = []
        self._saved = None

    def install(self):
        self._saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
        guard = self
        real_connect, real_connect_ex, real_getaddrinfo = self._saved

        def check(address):
            if isinstance(address, tuple) and address and not _is_local(address[0]):
                target = f"{address[0]}:{address[1]}" if len(address) > 1 else str(address[0])
                guard.attempts.append(target)
                raise NetworkBlockedError(f"network blocked while grading: tried {target}")

        def connect(sock, address):
            check(address)
            return real_connect(sock, address)

        def connect_ex(sock, address):
            check(address)
            return real_connect_ex(sock, address)

        def getaddrinfo(host, port, *args, **kwargs):
            check((host, port))
            return real_getaddrinfo(host, port, *args, **kwargs)

        socket.socket.connect = connect
        socket.socket.connect_ex = connect_ex
        socket.getaddrinfo = getaddrinfo

    def uninstall(self):
        if self._saved:
            socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = self._saved
            self._saved = None


# ---------------------------------------------------------------- the session
class _GradingSession:
    def __init__(self, config):
        self.config = config
        spec = config.getoption("impl")
        try:
            self.impl = Impl(spec)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.result = GradeResult(impl=self.impl.name)
        self.experiments = Experiments(self.impl, lambda: {c.name for c in self.result.checks},
                                       cache=self._experiment_cache(config))
        self.checks_dir = (Path(str(config.rootpath)) / config.getini("grader_checks")).resolve()
        self.by_id: dict[str, CheckResult] = {}
        self.by_name: dict[str, list[str]] = {}
        self.guard = _NetworkGuard()
        self.reviews = self._load_reviews(config.getoption("reviews"))
        self.started = time.monotonic()
        self.graded = False
        self._gradescope_started = False

    def _experiment_cache(self, config) -> experiment_cache.ExperimentCache | None:
        """The cache of the student's experiments, unless this run must be fresh."""
        if config.getoption("clear_cache"):
            experiment_cache.clear()
        if config.getoption("no_cache") or os.environ.get("GRADER_NO_CACHE", "") not in ("", "0"):
            return None
        return experiment_cache.ExperimentCache(self.impl, seed=SEED)

    # -- reviews
    @staticmethod
    def _load_reviews(path):
        if not path:
            return {}
        rows = {}
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.DictReader(handle), start=2):
                    try:
                        rows[row["check"].strip()] = (float(row["points"]), row.get("comment", ""))
                    except (KeyError, ValueError, AttributeError) as exc:
                        raise pytest.UsageError(f"{path}:{number}: bad review row: {exc}") from None
        except OSError as exc:
            raise pytest.UsageError(f"--reviews {path}: {exc.strerror}") from None
        return rows

    # -- collection: build the rubric and refuse an inconsistent one
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        problems, declared, review_points, depends = [], {}, 0.0, []
        for item in items:
            in_checks = self.checks_dir in Path(str(item.path)).resolve().parents
            args = _marker_args(item)
            if args is None:
                if in_checks:
                    problems.append(f"{item.nodeid}: graded check without a rubric marker")
                continue
            category, approach = args.get("category"), args.get("approach")
            points = args.get("points")
            where = item.nodeid
            if category not in rubric.CATEGORY_POINTS:
                problems.append(f"{where}: unknown category {category!r} "
                                f"(one of {', '.join(rubric.CATEGORY_POINTS)})")
                continue
            if approach is not None and approach not in rubric.APPROACH_SHARE:
                problems.append(f"{where}: unknown approach {approach!r} "
                                f"(one of {', '.join(rubric.APPROACH_SHARE)} or None)")
                continue
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
                problems.append(f"{where}: a graded check needs points > 0 (got {points!r})")
                continue
            review = bool(args.get("review", False))
            if review:
                review_points += points
            declared[(category, approach)] = declared.get((category, approach), 0.0) + points
            check = CheckResult(
                id=item.nodeid, name=item.name, category=category, approach=approach,
                max_points=float(points), message=_student_message(item, args), review=review,
            )
            if item.nodeid in self.by_id:  # parametrized twice with one id: keep the first
                continue
            item.stash[RESULT_KEY] = check
            depends += [(item, dep) for dep in args.get("depends", ()) or ()]
            self.by_id[item.nodeid] = check
            self.by_name.setdefault(item.originalname, []).append(item.nodeid)
            self.result.checks.append(check)
        if not self.result.checks and not problems:
            return
        full_suite = self._collected_whole_suite(session)
        self.result.partial_run = not full_suite
        if full_suite:  # a partial run may leave a prerequisite out: checked when it runs
            problems += [f"{item.nodeid}: depends on unknown check {dep!r}"
                         for item, dep in depends if not self._resolve(item, dep)]
            problems += rubric.check_consistency(declared)
            if review_points > rubric.MAX_REVIEW_POINTS + rubric.EPSILON:
                problems.append(f"review-only points total {review_points:g}; "
                                f"at most {rubric.MAX_REVIEW_POINTS:g} are allowed")
        if problems:
            raise RubricError("the rubric is inconsistent, grading refused:\n  "
                              + "\n  ".join(problems))
        self.graded = True
        self.result.checks_hash = checks_hash(self.checks_dir)
        # pytest's "short test summary" would print after the score table and repeat the
        # grade section's list; unless -r was given, the table ends the run.
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and config.getoption("reportchars") == DEFAULT_REPORTCHARS:
            reporter.reportchars = ""
        self._write_reports(final=False)

    def _collected_whole_suite(self, session) -> bool:
        """True when every graded check file was collected (no file or -k selection)."""
        wanted = {p.resolve() for p in self.checks_dir.rglob("test_*.py")}
        seen = {Path(str(i.path)).resolve() for i in session.items}
        keyword = session.config.getoption("keyword") or session.config.getoption("markexpr")
        return wanted <= seen and not keyword

    @pytest.hookimpl(trylast=True)
    def pytest_deselected(self, items):
        for item in items:
            check = self.by_id.pop(item.nodeid, None)
            if check is not None:
                self.result.checks.remove(check)
                self.result.partial_run = True

    def order_experiment_checks_last(self, items) -> None:
        """Run the checks that read experiments last, and every check that depends on one.

        Their experiments then have the rest of the run to finish in the worker
        (grader.ahead); the order changes no check's outcome.
        """
        late = {item.nodeid for item in items if "experiments" in getattr(item, "fixturenames", ())}
        grown = True
        while grown:  # a check depending on a late check must run after it
            grown = False
            for item in items:
                deps = (_marker_args(item) or {}).get("depends", ()) or ()
                if item.nodeid not in late and any(
                        set(self._resolve(item, dep)) & late for dep in deps):
                    late.add(item.nodeid)
                    grown = True
        items[:] = ([item for item in items if item.nodeid not in late]
                    + [item for item in items if item.nodeid in late])

    def pytest_collection_finish(self, session):
        heap.settle()  # keep the cycle collector off what is imported so far
        if not self.graded or self.config.option.collectonly:
            return
        position = {item.name: number for number, item in enumerate(session.items)}
        owners = {item.name: item for item in session.items}
        names = sorted((name for name, e in EXPERIMENTS.items() if e.owner in owners),
                       key=lambda name: position[EXPERIMENTS[name].owner])
        self.experiments.start_ahead(
            names, {name: _time_limit(owners[EXPERIMENTS[name].owner]) for name in names})

    def pytest_runtest_teardown(self, item, nextitem):
        heap.settle_if_imported()  # a check may have imported a library (torch, peft, ...)

    # -- the run
    def pytest_sessionstart(self, session):
        if not self.config.getoption("allow_network"):
            self.guard.install()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        check = item.stash.get(RESULT_KEY, None)
        random.seed(SEED)
        try:
            import numpy

            numpy.random.seed(SEED)
        except ImportError:  # pragma: no cover
            pass
        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(SEED)
        self.guard.attempts = []
        self.experiments.current = item.name
        if check is None:
            return
        if check.review:
            pytest.skip("awaiting review by course staff")
        args = _marker_args(item) or {}
        for dep in args.get("depends", ()) or ():
            ids = self._resolve(item, dep)
            if not ids:
                raise RubricError(f"{item.nodeid}: depends on unknown check {dep!r}")
            for dep_id in ids:
                dep_check = self.by_id.get(dep_id)
                if dep_check is not None and dep_check.status not in (PASSED, PARTIAL):
                    pytest.skip(f"needs {dep_check.name}, which did not pass "
                                f"({dep_check.status.replace('_', ' ')})")

    def _resolve(self, item, dep: str) -> list[str]:
        if "::" in dep:
            return [dep] if dep in self.by_id else []
        module = item.nodeid.split("::")[0]
        same = [i for i in self.by_name.get(dep, []) if i.startswith(module + "::")]
        return same or self.by_name.get(dep, [])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        check = item.stash.get(RESULT_KEY, None)
        if check is None:
            return report
        if call.when == "call" or report.outcome != "passed":
            check.duration += call.duration
        if report.when == "call" and report.failed and call.excinfo is not None:
            summary, detail = explain_failure(call.excinfo, self.impl, self.guard.attempts)
            check.finish(ERROR if summary.startswith("could not import") else FAILED, 0.0,
                         f"{summary}\n{detail}".strip())
            report.longrepr = f"{check.message}\n\n    {summary}\n\n{_indent(detail)}".rstrip()
        elif report.failed and report.when == "setup" and call.excinfo is not None:
            summary, detail = explain_failure(call.excinfo, self.impl, self.guard.attempts)
            check.finish(ERROR, 0.0, f"{summary}\n{detail}".strip())
            report.longrepr = f"{check.message}\n\n    {summary}"
        elif report.skipped and report.when in ("setup", "call"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            reason = reason.removeprefix("Skipped: ")
            if check.review:
                points, comment = self.reviews.get(check.name, (None, ""))
                if points is not None:
                    check.finish(REVIEW, points / check.max_points, comment)
                    check.status = PASSED if points >= check.max_points else PARTIAL
                else:
                    check.finish(REVIEW, 0.0, "awaiting review by course staff")
            else:
                check.finish(SKIPPED, 0.0, reason)
        elif report.when == "call" and report.passed:
            fraction, detail = item.stash.get(FRACTION_KEY, (1.0, ""))
            check.finish(PASSED if fraction >= 1.0 else PARTIAL, fraction, detail)
        elif report.when == "teardown" and report.failed and check.status in (PASSED, PARTIAL):
            check.finish(ERROR, 0.0, "the check's clean-up failed")
        if report.when == "teardown":
            self._write_reports(final=False)
        return report

    def pytest_report_teststatus(self, report, config):
        """A partly earned check shows as PARTIAL with its points, and is counted as partial."""
        if report.when != "call" or not report.passed:
            return None
        check = self.by_id.get(report.nodeid)
        if check is None or check.status != PARTIAL:
            return None
        points = f"{reports.show(check.points)}/{reports.show(check.max_points)}"
        return "partial", "P", (f"PARTIAL {points}", {"yellow": True})

    # -- the end
    def pytest_sessionfinish(self, session, exitstatus):
        self.experiments.stop_ahead()
        self.guard.uninstall()
        if not self.graded:
            return
        unfinished = [c for c in self.result.checks if c.status == NOT_RUN]
        interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
        for check in unfinished:
            check.finish(NOT_RUN, 0.0, "the run ended before this check ran")
        self.result.complete = not interrupted and not unfinished
        if interrupted:
            self.result.note = "the run was interrupted"
        self._write_reports(final=True)

    def pytest_terminal_summary(self, terminalreporter):
        if not self.graded:
            return
        write = terminalreporter.write_line
        terminalreporter.section("grade", sep="=")
        lost = [c for c in self.result.checks if c.points < c.max_points and not c.review]
        for check in lost:
            symbol = reports.SYMBOL.get(check.status, "✗")
            write(f"{symbol} {check.name} ({reports.show(check.points)}/"
                  f"{reports.show(check.max_points)}): {check.message}")
            first = check.detail.strip().splitlines()[:1]
            if first:
                write(f"    {first[0]}")
        if lost:
            write("")
        write(f"Grading {self.impl.display_root}  (kit {self.result.kit_version}, "
              f"checks {self.result.checks_hash})")
        for line in reports.table(self.result).splitlines():
            write(line)
        cached = {EXPERIMENTS[name].title: run.cached_at
                  for name, run in self.experiments.runs.items() if run.cached_at is not None}
        for line in reports.cache_lines(cached, time.time()):
            write(line)

    def _write_reports(self, final: bool) -> None:
        config = self.config
        indent = 2 if final else None  # compact while running: rewritten after every check
        if config.getoption("grade_json"):
            write_json(Path(config.getoption("grade_json")), self.result.to_dict(), indent)
        # results.json is written once at the start (all zero) and once at the end;
        # `grader score` rebuilds it from the JSON result if the run dies in between.
        if config.getoption("gradescope") and (final or not self._gradescope_started):
            self._gradescope_started = True
            write_json(Path(config.getoption("gradescope")), reports.gradescope(self.result),
                       indent)
        if final and os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
                handle.write(f"result={reports.classroom_output(self.result)}\n")
        if final and os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(reports.markdown(self.result))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def explain_failure(excinfo, impl: Impl, network_attempts: list[str]) -> tuple[str, str]:
    """Turn an exception into (one line for the student, short technical detail)."""
    exc = excinfo.value
    if isinstance(exc, ImplImportError):
        return str(exc), ""
    if isinstance(exc, ExperimentFailed):  # the failure of a student's experiment function
        summary, detail = explain_failure(pytest.ExceptionInfo.from_exception(exc.error), impl,
                                          network_attempts)
        if summary.startswith("could not import"):
            return summary, detail
        return f"{exc.function}() failed: {summary}", detail
    student_frames = _student_frames(excinfo, impl)
    where = ""
    if student_frames:
        frame = student_frames[-1]
        where = f" ({Path(frame.filename).name}:{frame.lineno}, in {frame.name})"
    if isinstance(exc, NotImplementedError):
        name = student_frames[-1].name if student_frames else _raising_function(excinfo)
        return f"not implemented yet: {name}", ""
    if network_attempts:
        return (f"network blocked while grading: the code tried to reach {network_attempts[0]}"
                f"{where}; everything must run offline from the recordings", _short(excinfo))
    text = str(exc).strip()
    if excinfo.typename == "Failed" and text.startswith("Timeout"):
        return f"took too long and was stopped ({text.removeprefix('Timeout ').strip()})", ""
    if isinstance(exc, SystemExit):
        return f"your code called exit(){where}", ""
    if isinstance(exc, AssertionError):
        return _one_line(text), _short(excinfo) if not student_frames else ""
    name = type(exc).__name__
    return f"{name}: {text.splitlines()[0] if text else ''}{where}".strip(), _short(excinfo)


def _one_line(message: str, items: int = 3) -> str:
    """An assertion message as one line: a heading ending in ':' keeps its first items.

    pytest appends its own ``assert ...`` explanation to the message; that is dropped.
    """
    lines = []
    for line in message.splitlines():
        if line.startswith("assert ") and lines:
            break
        if line.strip():
            lines.append(line.strip())
    if not lines:
        return "a check's assertion failed"
    head, rest = lines[0], lines[1:]
    if not head.endswith(":") or not rest:
        return head.rstrip(":")
    more = f"; and {len(rest) - items} more" if len(rest) > items else ""
    return f"{head} {'; '.join(rest[:items])}{more}"


def _student_frames(excinfo, impl: Impl):
    root = str(impl.root)
    frames = traceback.extract_tb(excinfo.tb)
    return [f for f in frames if f.filename.startswith(root)]


def _raising_function(excinfo) -> str:
    frames = traceback.extract_tb(excinfo.tb)
    return frames[-1].name if frames else "?"


def _short(excinfo, limit: int = 12) -> str:
    try:
        text = str(excinfo.getrepr(style="short", chain=False))
    except Exception:  # noqa: BLE001 - never let the explanation itself crash
        text = excinfo.exconly()
    lines = text.splitlines()
    return "\n".join(lines[-limit:])


# Expose the result so the CLI and the kit's tests can read it in-process.
def current_result(config) -> GradeResult:
    """The grading result of this pytest session."""
    return config._grader.result


__all__ = ["credit", "impl", "current_result", "RubricError", "NetworkBlockedError",
           "write_atomic", "FAILED", "SKIPPED"]
