"""The supervisor: grades one submission in a sandboxed child and never imports student code.

See :mod:`grader.sandbox` for how the score reaches it and why a student
cannot simply write it.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import procs
from ..results import ERROR, NOT_RUN, PASSED, CheckResult, GradeResult
from ..settings import hermetic_env
from ..threads import child_env
from .isolation import bwrap_prefix, bwrap_usable, namespace_prefix, python_dirs
from .protocol import parse_stream

# What the harness copy holds: the instructor's, never the student's.
HARNESS_ITEMS = ("grader", "data", "fixtures", "conftest.py", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")

# Row statuses.
OK, FAILED_RUN, TAMPERED = "ok", "error", "tampered"


@dataclass
class Limits:
    """Per-submission limits."""

    timeout: float = 900.0          # wall seconds for the whole submission
    cpu_s: float | None = None      # CPU seconds (default: 2 x timeout)
    memory_mb: float | None = 6144  # address space of the grading process
    check_timeout: float | None = None  # per-check timeout (pytest-timeout), None: the kit's
    threads: int = 1                # OMP/MKL/BLAS threads of the child (grader.threads)
    restarts: int = 2               # how often a crashed run resumes after the culprit
    isolate: bool | None = None     # bubblewrap sandbox; None: wherever bwrap works


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
    isolated: bool = False          # graded inside bubblewrap


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
        proc = procs.run(command, cwd=template, env=_child_env(work, 1), timeout=timeout)
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
        "GRADER_AHEAD": "0",  # no experiment worker (grader.ahead): submissions run side by side
        **child_env(threads),
        **hermetic_env(),
    }
    return env


def _signal_reason(code: int, killed_by_us: bool, timeout: float) -> str:
    if killed_by_us:
        return f"timed out: the submission ran past the wall-time limit of {timeout:g} s"
    name = procs.signal_name(code)
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
        over = proc.poll() is not None or time.monotonic() >= deadline
        # once it is over, only drain what is already written, without waiting
        wait = 0.0 if over else min(deadline - time.monotonic(), 0.5)
        if not select.select([fd], [], [], max(wait, 0.0))[0]:
            if over:
                return
            continue
        data = os.read(fd, 65536)
        if not data:
            return
        chunks.append(data)


def _write_canaries(directory: Path) -> tuple[dict[str, str], list[str]]:
    good, bad = f"test_{secrets.token_hex(6)}", f"test_{secrets.token_hex(6)}"
    path = directory / f"test_{secrets.token_hex(6)}.py"
    path.write_text(f"def {good}():\n    pass\n\n\n"
                    f"def {bad}():\n"
                    "    raise AssertionError('control test of the batch grader: must fail')\n")
    return {good: "pass", bad: "fail"}, [str(path)]


def _run_once(harness: Path, work: Path, limits: Limits, deselect: list[str],
              remaining: float, log: list[str], isolated: bool,
              private: list[str]) -> tuple[list[dict], list[str], int, bool]:
    """One child run; return (records, stream problems, return code, killed by us)."""
    control = Path(tempfile.mkdtemp(prefix="grader-ctl-"))
    read_fd, write_fd = os.pipe()
    key = secrets.token_bytes(32)
    try:
        canaries, canary_files = _write_canaries(control)
        pytest_args = [str(harness / "grader" / "checks"), *canary_files, "-q", "-rN",
                       "-p", "no:cacheprovider", "-c", str(harness / "pyproject.toml"),
                       "--rootdir", str(harness), "--confcutdir", str(harness),
                       "--impl=assignments", "--no-cache"]  # a grading that counts: fresh
        if limits.check_timeout:
            pytest_args += ["-o", f"timeout={limits.check_timeout:g}"]
        for nodeid in deselect:
            pytest_args += ["--deselect", nodeid]
        if isolated:
            prefix = bwrap_prefix(harness, [harness / "assignments", work / "home", work / "tmp",
                                            control])
        else:
            prefix = namespace_prefix()
        allowed = [str(p) for p in (work, control, *python_dirs())]
        config = {
            "key": key.hex(), "fd": write_fd, "harness": str(harness),
            "cpu_s": limits.cpu_s or 2 * limits.timeout, "memory_mb": limits.memory_mb,
            "netns": bool(prefix), "canaries": canaries, "canary_files": canary_files,
            "pytest_args": pytest_args, "private": private, "allowed": allowed,
        }
        command = [*prefix, sys.executable, "-m", "grader.sandbox.child"]
        proc = procs.start(command, cwd=harness, env=_child_env(work, limits.threads),
                           stdin=procs.PIPE, pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = -1
        output: list[bytes] = []
        reader = threading.Thread(target=procs.drain, args=(proc.stdout, output), daemon=True)
        reader.start()
        try:
            proc.stdin.write((json.dumps(config) + "\n").encode())
            proc.stdin.close()
        except OSError:
            pass
        chunks: list[bytes] = []
        deadline = time.monotonic() + remaining
        _read_all(read_fd, proc, deadline, chunks)
        killed = procs.wait(proc, deadline - time.monotonic())
        reader.join(timeout=5)
        log.append(b"".join(output).decode("utf-8", errors="replace"))
        records, problems = parse_stream(b"".join(chunks), key)
        return records, problems, proc.returncode, killed
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
        shutil.rmtree(control, ignore_errors=True)


def private_paths(assignments: Path, extra: Sequence[Path] = ()) -> list[str]:
    """Where a submission has no business reading: its classmates, your home, ``extra``."""
    paths = {Path(assignments).resolve().parent.parent, Path.home().resolve(), *extra}
    try:
        import pwd

        paths.add(Path(pwd.getpwuid(os.getuid()).pw_dir).resolve())
    except (ImportError, KeyError):
        pass
    # every other grading's scratch folder (a name prefix, not a folder)
    shared_tmp = os.path.join(os.path.realpath(tempfile.gettempdir()), "grader-")
    return [*sorted(str(p) for p in paths if str(p) != os.sep), shared_tmp]


def grade_submission(template: Path, assignments: Path, expected: GradeResult,
                     limits: Limits, private: Sequence[Path] = ()) -> Outcome:
    """Grade one submission's ``assignments/`` in a fresh copy of the harness.

    With bubblewrap (see :mod:`grader.sandbox.isolation`) the child sees only
    the harness, the Python environment and its own writable folders; without
    it, the child runs with today's layers and ``Outcome.isolated`` is False.
    Reading under ``private`` (and the defaults of :func:`private_paths`) is
    flagged either way.
    """
    started = time.monotonic()
    isolated = bwrap_usable() if limits.isolate is None else limits.isolate
    hidden = private_paths(assignments, [Path(p).resolve() for p in private])
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
                harness, work, limits, sorted(done), remaining, log, isolated, hidden)
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
    return Outcome(status=status, reason=reason, result=result, isolated=isolated,
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
