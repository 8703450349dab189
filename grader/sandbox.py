"""Grade one untrusted submission in a sandboxed child process.

Used by ``python -m grader batch``. The parent (the *supervisor*, this module's
:func:`grade_submission`) never imports student code. The child is
``python -m grader.sandbox`` started inside a fresh copy of the instructor's
harness whose ``assignments/`` is the student's; it runs the graded suite with
pytest in-process, as a student's own run does.

How the score reaches the supervisor, and why a student cannot simply write it:

* **No result file.** The child is not given ``--grade-json`` or any path to
  write; nothing the supervisor reads lies where student code could guess it.
  Its configuration (a random HMAC key, the number of an inherited pipe) comes
  on stdin, read and closed before any student code is imported.
* **A signed, append-only stream.** After each check finishes, the child sends
  that check's outcome down the pipe: the pytest outcome of each phase and the
  plugin's points, each record signed with the key and numbered. The
  supervisor keeps the first value it saw for each check, so code that runs
  later cannot revise an earlier check. An unsigned, out-of-order or malformed
  record marks the submission as tampered.
* **Cross-checks.** The checks, their maximum points and the checks' hash must
  equal what the supervisor collected itself from the pristine harness; a
  check whose pytest outcome was not "passed" cannot carry points; review
  checks carry none until an instructor scores them.
* **Canaries.** Two extra tests with random names, one that must pass and one
  that must fail, run after the graded checks. Their files are deleted once
  collected, so they exist only in memory. Code that forces every test to pass
  (patching pytest's runner or reports) makes the failing canary pass.
* **An audit hook** (``sys.addaudithook``, which cannot be removed from Python)
  reports, as it happens, student code that rebinds attributes of grader,
  pytest or pluggy classes, swaps a function's code, walks the garbage
  collector's objects or loads ``ctypes``.
* **Operating-system limits.** CPU time (RLIMIT_CPU) and address space
  (RLIMIT_AS) are set in the child, hard and soft, before student code runs; the
  supervisor enforces the wall time and kills the whole process group. Where
  unprivileged namespaces are available (Linux), the child runs in its own
  network namespace (only loopback exists) and PID namespace (it cannot signal
  the supervisor; everything it spawned dies with it).

Residual risk, stated honestly: student code runs in the same Python process
as the checks, so a determined author who reads this kit's source can still,
in principle, alter the process's memory in ways no in-process measure sees
(for example, rebinding a module-level function that only graded checks
reach, without tripping the canaries or the audit hook). The file system is
not isolated either (the child runs as the instructor's user). What these
layers give is that every *obvious* attack fails or is flagged; instructors
should read the flagged rows and the logs, and keep student code out of
machines holding secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .results import ERROR, NOT_RUN, PASSED, CheckResult, GradeResult
from .threads import child_env

# What the harness copy holds: the instructor's, never the student's.
HARNESS_ITEMS = ("grader", "data", "fixtures", "conftest.py", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")

# Modules whose classes student code has no business modifying.
PROTECTED_PREFIXES = ("grader", "_pytest", "pytest", "pluggy")

# Row statuses.
OK, FAILED_RUN, TAMPERED = "ok", "error", "tampered"


# ====================================================================== the stream
class _Stream:
    """The child's end: numbered records, each signed with the run's key."""

    def __init__(self, fd: int, key: bytes):
        self._fd, self._key, self._seq = fd, key, 0
        self._lock = threading.Lock()

    def send(self, kind: str, data: dict) -> None:
        with self._lock:
            self._seq += 1
            body = json.dumps({"seq": self._seq, "kind": kind, "data": data},
                              separators=(",", ":"), default=str)
            mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
            raw = f"{body}\t{mac}\n".encode()
            try:
                while raw:
                    raw = raw[os.write(self._fd, raw):]
            except OSError:  # the pipe was closed (by student code?): the parent will notice
                pass


def parse_stream(raw: bytes, key: bytes) -> tuple[list[dict], list[str]]:
    """Verify and decode the stream; return (records, problems)."""
    records, problems, expected = [], [], 1
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line:
            continue
        body, _, mac = line.rpartition(b"\t")
        good = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if not body or not hmac.compare_digest(good, mac.strip()):
            problems.append(f"an unsigned record appeared in the result stream (line {number})")
            continue
        record = json.loads(body)
        if record.get("seq") != expected:
            problems.append(f"result stream out of order at record {record.get('seq')}")
        expected = record.get("seq", expected) + 1
        records.append(record)
    return records, problems


# ====================================================================== the child
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
    HELPERS = ("unittest/mock.py", "_pytest/monkeypatch.py", "functools.py", "contextlib.py")

    def __init__(self, stream: _Stream, student_root: Path):
        self.stream = stream
        self.root = str(student_root.resolve()) + os.sep
        self.local = threading.local()
        self.seen: set[tuple[str, str]] = set()
        self.watched = frozenset(self.HARD | self.SOFT)

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
            for _ in range(6):
                if up is None:
                    break
                if self._student(up):
                    return True, f"{Path(up.f_code.co_filename).name}:{up.f_lineno}"
                up = up.f_back
        return False, ""

    def _inspect(self, event: str, args: tuple) -> None:
        student, where = self._caller_is_student(depth=3)
        if not student:
            return
        what = ""
        if event in ("object.__setattr__", "object.__delattr__"):
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
        kind = "tamper" if event in self.HARD else "suspicious"
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

    def __init__(self, stream: _Stream, canaries: dict[str, str], canary_files: list[str]):
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
    stream = _Stream(int(config["fd"]), bytes.fromhex(config.pop("key")))
    harness = Path(config["harness"])
    _apply_limits(config.get("cpu_s"), config.get("memory_mb"))
    if config.get("netns"):
        _loopback_up()
    import grader

    if Path(grader.__file__).resolve().parent != (harness / "grader").resolve():
        stream.send("fatal", {"reason": f"imported the wrong grader: {grader.__file__}"})
        return 3
    stream.send("hello", {"pid": os.getpid()})
    sys.addaudithook(_AuditGuard(stream, harness / "assignments"))
    import pytest

    reporter = _Reporter(stream, config["canaries"], config["canary_files"])
    code = pytest.main(config["pytest_args"], plugins=[reporter])
    stream.send("exit", {"code": int(code)})
    sys.stdout.flush()
    return 0


# ====================================================================== the supervisor
@dataclass
class Limits:
    """Per-submission limits."""

    timeout: float = 900.0          # wall seconds for the whole submission
    cpu_s: float | None = None      # CPU seconds (default: 2 x timeout)
    memory_mb: float | None = 6144  # address space of the grading process
    check_timeout: float | None = None  # per-check timeout (pytest-timeout), None: the kit's
    threads: int = 1                # OMP/MKL/BLAS threads of the child (grader.threads)
    restarts: int = 2               # how often a crashed run resumes after the culprit


@dataclass
class Outcome:
    """What grading one submission produced."""

    status: str
    reason: str
    result: GradeResult
    duration: float
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: str = ""


_NAMESPACES: list[str] | None = None


def namespace_prefix() -> list[str]:
    """``unshare`` arguments for private network and PID namespaces, or [] when unavailable."""
    global _NAMESPACES
    if os.environ.get("GRADER_NAMESPACES", "1") == "0":  # an instructor's opt-out
        return []
    if _NAMESPACES is None:
        command = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork",
                   "--kill-child"]
        try:
            ok = subprocess.run([*command, "true"], capture_output=True, timeout=20).returncode
        except (OSError, subprocess.SubprocessError):
            ok = 1
        _NAMESPACES = command if ok == 0 else []
    return _NAMESPACES


def build_template(source_root: Path, dest: Path) -> Path:
    """Copy the instructor's harness (grader, data, fixtures, config) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in HARNESS_ITEMS:
        src = source_root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE, symlinks=False)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def copy_student_tree(src: Path, dest: Path) -> None:
    """Copy a student's ``assignments/``: regular files only (no links, no caches)."""
    def ignore(directory, names):
        skip = set(IGNORE(directory, names))
        skip |= {n for n in names if os.path.islink(os.path.join(directory, n))}
        return skip

    shutil.copytree(src, dest, ignore=ignore, symlinks=False)


def expected_checks(template: Path, timeout: float = 600) -> GradeResult:
    """Collect the pristine harness once: the checks, their points and the checks' hash."""
    work = Path(tempfile.mkdtemp(prefix="grader-collect-"))
    try:
        impl = work / "empty"
        impl.mkdir()
        out = work / "expected.json"
        command = [sys.executable, "-m", "pytest", str(template / "grader" / "checks"),
                   "--collect-only", "-q", "-p", "no:cacheprovider",
                   "-c", str(template / "pyproject.toml"), "--rootdir", str(template),
                   f"--impl={impl}", f"--grade-json={out}"]
        proc = subprocess.run(command, cwd=template, env=_child_env(work, 1), timeout=timeout,
                              capture_output=True, text=True)
        if not out.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise RuntimeError("could not collect the instructor's checks:\n" + "\n".join(tail))
        return GradeResult.from_dict(json.loads(out.read_text()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _child_env(work: Path, threads: int) -> dict:
    home = work / "home"
    tmp = work / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        **child_env(threads),
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    return env


def _signal_reason(code: int, killed_by_us: bool, timeout: float) -> str:
    if killed_by_us:
        return f"timed out: the submission ran past the wall-time limit of {timeout:g} s"
    number = -code
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(
        number)
    if name == "SIGXCPU":
        return "stopped: it used up its CPU-time limit"
    if name == "SIGKILL":
        return "killed (CPU-time hard limit, or out of memory)"
    if name in ("SIGSEGV", "SIGBUS", "SIGABRT"):
        return f"the grading process crashed ({name}; out of memory?)"
    return f"the grading process was stopped by {name}"


def _read_all(fd: int, proc: subprocess.Popen, deadline: float, chunks: list[bytes]) -> None:
    """Read the stream until EOF, the process ending, or the deadline."""
    while True:
        wait = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], min(wait, 0.5))
        if ready:
            data = os.read(fd, 65536)
            if not data:
                return
            chunks.append(data)
        elif proc.poll() is not None or time.monotonic() >= deadline:
            # drain what is left without blocking
            while select.select([fd], [], [], 0)[0]:
                data = os.read(fd, 65536)
                if not data:
                    return
                chunks.append(data)
            if proc.poll() is not None or time.monotonic() >= deadline:
                return


def _write_canaries(directory: Path) -> tuple[dict[str, str], list[str]]:
    good, bad = f"test_{secrets.token_hex(6)}", f"test_{secrets.token_hex(6)}"
    path = directory / f"test_{secrets.token_hex(6)}.py"
    path.write_text(f"def {good}():\n    pass\n\n\n"
                    f"def {bad}():\n"
                    "    raise AssertionError('control test of the batch grader: must fail')\n")
    return {good: "pass", bad: "fail"}, [str(path)]


def _run_once(harness: Path, work: Path, limits: Limits, deselect: list[str],
              remaining: float, log: list[str]) -> tuple[list[dict], list[str], int, bool]:
    """One child run; return (records, stream problems, return code, killed by us)."""
    control = Path(tempfile.mkdtemp(prefix="grader-ctl-"))
    read_fd, write_fd = os.pipe()
    key = secrets.token_bytes(32)
    try:
        canaries, canary_files = _write_canaries(control)
        pytest_args = [str(harness / "grader" / "checks"), *canary_files, "-q", "-rN",
                       "-p", "no:cacheprovider", "-c", str(harness / "pyproject.toml"),
                       "--rootdir", str(harness), "--confcutdir", str(harness),
                       "--impl=assignments"]
        if limits.check_timeout:
            pytest_args += ["-o", f"timeout={limits.check_timeout:g}"]
        for nodeid in deselect:
            pytest_args += ["--deselect", nodeid]
        prefix = namespace_prefix()
        config = {
            "key": key.hex(), "fd": write_fd, "harness": str(harness),
            "cpu_s": limits.cpu_s or 2 * limits.timeout, "memory_mb": limits.memory_mb,
            "netns": bool(prefix), "canaries": canaries, "canary_files": canary_files,
            "pytest_args": pytest_args,
        }
        command = [*prefix, sys.executable, "-m", "grader.sandbox"]
        proc = subprocess.Popen(command, cwd=harness, env=_child_env(work, limits.threads),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(write_fd,),
                                start_new_session=True)
        os.close(write_fd)
        write_fd = -1
        output: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(proc.stdout, output), daemon=True)
        reader.start()
        try:
            proc.stdin.write((json.dumps(config) + "\n").encode())
            proc.stdin.close()
        except OSError:
            pass
        chunks: list[bytes] = []
        deadline = time.monotonic() + remaining
        _read_all(read_fd, proc, deadline, chunks)
        killed = False
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed = True
        _kill_group(proc)
        proc.wait()
        reader.join(timeout=5)
        log.append(b"".join(output).decode("utf-8", errors="replace"))
        records, problems = parse_stream(b"".join(chunks), key)
        return records, problems, proc.returncode, killed
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
        shutil.rmtree(control, ignore_errors=True)


def _drain(pipe, output: list[bytes], limit: int = 400_000) -> None:
    size = 0
    for chunk in iter(lambda: pipe.read(8192), b""):
        output.append(chunk)
        size += len(chunk)
        while size > limit and len(output) > 1:
            size -= len(output.pop(0))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def grade_submission(template: Path, assignments: Path, expected: GradeResult,
                     limits: Limits) -> Outcome:
    """Grade one submission's ``assignments/`` in a fresh copy of the harness."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="grader-sub-"))
    result = GradeResult(impl="assignments", kit_version=expected.kit_version,
                         checks_hash=expected.checks_hash)
    result.checks = [CheckResult(**asdict(c)) for c in expected.checks]
    for check in result.checks:
        check.points, check.status, check.detail, check.duration = 0.0, NOT_RUN, "", 0.0
    by_id = {c.id: c for c in result.checks}
    flags: list[str] = []
    notes: list[str] = []
    log: list[str] = []
    reason = ""
    finished = False
    try:
        harness = work / "harness"
        shutil.copytree(template, harness, symlinks=False)
        copy_student_tree(assignments, harness / "assignments")
        done: set[str] = set()
        for attempt in range(limits.restarts + 1):
            remaining = limits.timeout - (time.monotonic() - started)
            if remaining <= 1:
                reason = reason or f"timed out after {limits.timeout:g} s"
                break
            records, problems, code, killed = _run_once(
                harness, work, limits, sorted(done), remaining, log)
            flags += problems
            running, final, exit_code = None, None, None
            for record in records:
                kind, data = record["kind"], record["data"]
                if kind == "fatal":
                    reason = data["reason"]
                elif kind == "collected" and attempt == 0:
                    flags += _compare_collected(data, expected)
                elif kind == "start":
                    running = data["id"] if data["id"] in by_id else None
                elif kind == "check":
                    running = None
                    if data["id"] in by_id and data["id"] not in done:
                        flags += _take_check(by_id[data["id"]], data)
                        done.add(data["id"])
                elif kind == "canary":
                    outcome = data["outcomes"].get("call", "missing")
                    if (data["expect"] == "fail") != (outcome == "failed"):
                        flags.append(f"a hidden control test that must {data['expect']} "
                                     f"reported '{outcome}': test outcomes were forged")
                elif kind in ("tamper", "suspicious"):
                    text = f"{data['what']} ({data['where']})"
                    (flags if kind == "tamper" else notes).append(text)
                elif kind == "final":
                    final = data
                elif kind == "exit":
                    exit_code = data["code"]
            if final is not None and exit_code is not None:
                flags += _compare_final(final, by_id)
                claimed = final["result"] or {}
                if not claimed.get("complete", False):
                    why = claimed.get("note") or f"pytest ended with status {final['exitstatus']}"
                    reason = why if not reason else f"{reason}; then {why}"
                finished = True
                break
            # the child died or hung: say why, charge the running check, maybe resume
            if killed or code < 0:
                why = _signal_reason(code, killed, limits.timeout)
            elif final is None and exit_code is None and not records:
                why = f"the grading process could not start (exit code {code})"
            else:
                why = f"the grading process exited early (exit code {code})"
            if running:
                check = by_id[running]
                check.finish(ERROR, 0.0, f"{why} while this check ran")
                done.add(running)
                why += f" during {check.name}"
            reason = why if not reason else f"{reason}; then {why}"
            if killed or not running or len(done) >= len(by_id):
                break
        for check in result.checks:
            if check.status == NOT_RUN:
                check.detail = f"not graded: {reason or 'the run ended early'}"
        result.complete = finished and not reason and all(
            c.status != NOT_RUN for c in result.checks)
    except Exception as exc:  # noqa: BLE001 - one broken submission never stops a batch
        reason = f"could not grade: {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if flags:
        status = TAMPERED
        for check in result.checks:
            check.points = 0.0
            if check.status in (PASSED, "partial"):
                check.status = "failed"
                check.detail = "withheld: the run was flagged for tampering"
        result.note = "points withheld: " + "; ".join(dict.fromkeys(flags))
    elif reason:
        status = FAILED_RUN
        result.note = reason
    else:
        status = OK
    return Outcome(status=status, reason=reason, result=result,
                   duration=time.monotonic() - started, flags=list(dict.fromkeys(flags)),
                   notes=list(dict.fromkeys(notes)), log="\n".join(log))


def _compare_collected(data: dict, expected: GradeResult) -> list[str]:
    flags = []
    if data.get("checks_hash") != expected.checks_hash:
        flags.append(f"the checks' hash differs ({data.get('checks_hash')} != "
                     f"{expected.checks_hash})")
    got = {c["id"]: c for c in data.get("checks", [])}
    want = {c.id: c for c in expected.checks}
    if set(got) != set(want):
        flags.append(f"the collected checks differ from the instructor's "
                     f"({len(set(got) ^ set(want))} differ)")
    for nodeid, check in want.items():
        other = got.get(nodeid)
        if other and (other["max_points"] != check.max_points or other["review"] != check.review):
            flags.append(f"{check.name}: its points were changed")
    return flags


def _take_check(check: CheckResult, data: dict) -> list[str]:
    """Take a streamed check outcome, refusing points pytest did not see earned."""
    claim = data["check"]
    outcomes = data["outcomes"]
    points = float(claim.get("points", 0.0))
    flags = []
    if points > 0:
        if claim.get("max_points") != check.max_points or points > check.max_points + 1e-9:
            flags.append(f"{check.name}: claimed {points:g} of {check.max_points:g} points")
        elif check.review:
            flags.append(f"{check.name}: a review check claimed points")
        elif any(outcomes.get(when) != "passed" for when in ("setup", "call", "teardown")):
            flags.append(f"{check.name}: earned points although pytest saw it "
                         f"{outcomes.get('call') or outcomes.get('setup')}")
    if flags:
        points = 0.0
    check.points = points
    check.status = str(claim.get("status", ERROR))
    check.detail = str(claim.get("detail", ""))
    check.duration = float(claim.get("duration", 0.0))
    return flags


def _compare_final(final: dict, by_id: dict[str, CheckResult]) -> list[str]:
    result = final.get("result")
    if not result:
        return []
    flags = []
    for claim in result.get("checks", []):
        check = by_id.get(claim.get("id"))
        if check is not None and float(claim.get("points", 0)) > check.points + 1e-9:
            flags.append(f"{check.name}: its points were raised after it finished")
    return flags


if __name__ == "__main__":
    sys.exit(child_main())
