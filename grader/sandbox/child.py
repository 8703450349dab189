"""The sandboxed child: runs inside the student's process (``python -m grader.sandbox.child``).

It reads its configuration (the stream's key, the pipe's number, the pytest
arguments) from stdin before any student code is imported, sets the
operating-system limits, installs the audit hook, then runs the graded suite
with pytest in-process and streams each check's outcome to the supervisor
(:mod:`grader.sandbox.protocol`). Nothing here is trusted by the supervisor:
student code can change any of it, which is why the supervisor cross-checks
every record (see :mod:`grader.sandbox`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from grader.results import CheckResult
from grader.sandbox.protocol import Stream

# Modules whose classes student code has no business modifying.
PROTECTED_PREFIXES = ("grader", "_pytest", "pytest", "pluggy")


def _apply_limits(cpu_s: float | None, memory_mb: float | None) -> None:
    if cpu_s:
        soft = int(cpu_s)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))
    if memory_mb:
        size = int(memory_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


def _loopback_up() -> None:
    """In a fresh network namespace only ``lo`` exists, and it is down: bring it up."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(sock.fileno(), siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))
    except OSError:
        pass
    finally:
        sock.close()


class _AuditGuard:
    """An audit hook reporting tampering by student code the moment it happens."""

    HARD = {"object.__setattr__", "object.__delattr__", "gc.get_objects", "gc.get_referrers",
            "gc.get_referents", "ctypes.dlopen", "ctypes.dlsym", "ctypes.addressof",
            "ctypes.cdata", "ctypes.string_at", "ctypes.wstring_at"}
    SOFT = {"sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile"}
    PATHS = {"open", "os.listdir", "os.scandir"}
    HELPERS = ("unittest/mock.py", "_pytest/monkeypatch.py", "functools.py", "contextlib.py",
               "pathlib.py", "glob.py", "os.py", "shutil.py", "fnmatch.py")

    def __init__(self, stream: Stream, student_root: Path, private: list[str] = (),
                 allowed: list[str] = ()):
        self.stream = stream
        # a folder, or a name prefix when it ends with "-" (every "/tmp/grader-..." folder)
        self.private = tuple(p if p.endswith("-") else p.rstrip(os.sep) + os.sep
                             for p in private)
        self.allowed = tuple(p.rstrip(os.sep) + os.sep for p in allowed)
        self.root = str(student_root.resolve()) + os.sep
        self.local = threading.local()
        self.seen: set[tuple[str, str]] = set()
        self.watched = frozenset(self.HARD | self.SOFT | (self.PATHS if self.private else set()))

    def __call__(self, event: str, args: tuple) -> None:
        if event not in self.watched or getattr(self.local, "busy", False):
            return
        self.local.busy = True
        try:
            self._inspect(event, args)
        except Exception:  # noqa: BLE001, S110 - an audit hook must never break the run
            pass
        finally:
            self.local.busy = False

    def _student(self, frame) -> bool:
        return frame is not None and frame.f_code.co_filename.startswith(self.root)

    def _caller_is_student(self, depth: int = 2) -> tuple[bool, str]:
        """Whether the code that triggered the event is the student's, directly or via a helper."""
        frame = sys._getframe(depth)
        if self._student(frame):
            return True, f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
        if frame is not None and frame.f_code.co_filename.replace(os.sep, "/").endswith(
                self.HELPERS):
            up = frame.f_back
            for _ in range(12):
                if up is None:
                    break
                if self._student(up):
                    return True, f"{Path(up.f_code.co_filename).name}:{up.f_lineno}"
                up = up.f_back
        return False, ""

    def _outside(self, path) -> str:
        """The path, when it lies in a private place (another submission, your home)."""
        if isinstance(path, int) or path is None:
            return ""
        try:
            text = os.path.abspath(os.fsdecode(path)) + os.sep
        except (TypeError, ValueError):
            return ""
        if text.startswith(self.private) and not text.startswith(self.allowed):
            return text.rstrip(os.sep)
        return ""

    def _inspect(self, event: str, args: tuple) -> None:
        if event in self.PATHS:
            outside = self._outside(args[0] if args else None)
            if not outside:
                return
        student, where = self._caller_is_student(depth=3)
        if not student:
            return
        what = ""
        if event in self.PATHS:
            self.reads = getattr(self, "reads", 0) + 1
            if self.reads > 3:  # three are evidence enough; a scan would flood the report
                return
            what = f"tried to read outside its sandbox: {outside}"
        elif event in ("object.__setattr__", "object.__delattr__"):
            target, name = args[0], args[1]
            module = getattr(target, "__module__", "") or ""
            if isinstance(target, type) and module.startswith(PROTECTED_PREFIXES):
                what = f"changed {module}.{target.__name__}.{name}"
            elif name == "__code__" and module.startswith(PROTECTED_PREFIXES):
                what = f"replaced the code of {module}.{getattr(target, '__name__', '?')}"
            else:
                return
        elif event.startswith("gc."):
            what = f"walked the interpreter's objects ({event})"
        elif event.startswith("ctypes."):
            what = f"used ctypes ({event})"
        else:
            what = f"inspected the interpreter ({event})"
        key = (what, where)
        if key in self.seen:
            return
        self.seen.add(key)
        kind = "tamper" if event in self.HARD or event in self.PATHS else "suspicious"
        self.stream.send(kind, {"what": what, "where": where})


def _protected_snapshot() -> dict[tuple[str, str], object]:
    """Every function and class of the grader, pytest and pluggy, and every method of theirs.

    Taken before student code runs; compared after each check. Python 3.11 does
    not audit assignments to class or module attributes, so this is how a
    rebinding such as ``CheckResult.finish = ...`` or
    ``_pytest.runner.call_and_report = ...`` is seen.
    """
    snapshot: dict[tuple[str, str], object] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(PROTECTED_PREFIXES):
            continue
        for attr, value in list(vars(module).items()):
            if not callable(value):
                continue
            snapshot[(name, attr)] = value
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                for member, inner in list(vars(value).items()):
                    if callable(inner) or isinstance(inner, (classmethod, staticmethod, property)):
                        snapshot[(name, f"{attr}.{member}")] = inner
    return snapshot


def _changed(snapshot: dict[tuple[str, str], object]) -> list[str]:
    changed = []
    for (module_name, dotted), value in snapshot.items():
        current = sys.modules.get(module_name)
        for part in dotted.split("."):
            current = vars(current).get(part, _MISSING) if current is not _MISSING else current
        if current is not value:
            changed.append(f"{module_name}.{dotted}")
    return changed


_MISSING = object()


class _Reporter:
    """A pytest plugin inside the child: streams each check's outcome as it finishes."""

    def __init__(self, stream: Stream, canaries: dict[str, str], canary_files: list[str]):
        self.stream = stream
        self.canaries = canaries  # test name -> "pass" | "fail"
        self.canary_files = canary_files
        self.by_id: dict[str, CheckResult] = {}
        self.outcomes: dict[str, dict[str, str]] = {}
        self.grading = None

    def _canary(self, nodeid: str) -> str | None:
        return self.canaries.get(nodeid.rpartition("::")[2]) if "::" in nodeid else None

    def pytest_collection_modifyitems(self, session, config, items):
        # Canaries run last, after every piece of student code had its chance.
        items.sort(key=lambda item: self._canary(item.nodeid) is not None)

    def pytest_collection_finish(self, session):
        for path in self.canary_files:  # from now on the canaries exist only in memory
            Path(path).unlink(missing_ok=True)
        self.grading = getattr(session.config, "_grader", None)
        if self.grading is not None:
            self.by_id = dict(self.grading.by_id)
        self.snapshot = _protected_snapshot()
        self.reported: set[str] = set()
        self.stream.send("collected", {
            "checks": [asdict(c) for c in self.by_id.values()],
            "checks_hash": getattr(getattr(self.grading, "result", None), "checks_hash", ""),
        })

    def pytest_runtest_logstart(self, nodeid, location):
        self.stream.send("start", {"id": nodeid})

    def pytest_runtest_logreport(self, report):
        self.outcomes.setdefault(report.nodeid, {})[report.when] = report.outcome

    def _check_snapshot(self) -> None:
        for name in _changed(getattr(self, "snapshot", {})):
            if name not in self.reported:
                self.reported.add(name)
                self.stream.send("tamper", {"what": f"rebound {name}", "where": "student code"})

    def pytest_runtest_logfinish(self, nodeid, location):
        self._check_snapshot()
        outcomes = self.outcomes.get(nodeid, {})
        canary = self._canary(nodeid)
        if canary is not None:
            self.stream.send("canary", {"expect": canary, "outcomes": outcomes})
        elif nodeid in self.by_id:
            self.stream.send("check", {"id": nodeid, "outcomes": outcomes,
                                       "check": asdict(self.by_id[nodeid])})

    def pytest_sessionfinish(self, session, exitstatus):
        self._check_snapshot()
        result = self.grading.result.to_dict() if self.grading is not None else None
        self.stream.send("final", {"exitstatus": int(exitstatus), "result": result})


def child_main() -> int:
    """Entry point of the sandboxed child (``python -m grader.sandbox``)."""
    config = json.loads(sys.stdin.readline())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    stream = Stream(int(config["fd"]), bytes.fromhex(config.pop("key")))
    harness = Path(config["harness"])
    _apply_limits(config.get("cpu_s"), config.get("memory_mb"))
    if config.get("netns"):
        _loopback_up()
    import grader

    if Path(grader.__file__).resolve().parent != (harness / "grader").resolve():
        stream.send("fatal", {"reason": f"imported the wrong grader: {grader.__file__}"})
        return 3
    stream.send("hello", {"pid": os.getpid()})
    sys.addaudithook(_AuditGuard(stream, harness / "assignments", config.get("private", []),
                                 config.get("allowed", [])))
    import pytest

    reporter = _Reporter(stream, config["canaries"], config["canary_files"])
    code = pytest.main(config["pytest_args"], plugins=[reporter])
    stream.send("exit", {"code": int(code)})
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
