"""Start, time-limit and kill child processes: the one way the grader does it.

Used by :mod:`grader.runner` (a grading run in a child), the batch sandbox
(:mod:`grader.sandbox.supervisor`, and through it :mod:`grader.batch`, on
this machine or on Dask workers) and its isolation probes. Every child starts
in a new session, so it and everything it spawns form one process group that
:func:`kill_group` ends with a single ``SIGKILL``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

PIPE, STDOUT, DEVNULL = subprocess.PIPE, subprocess.STDOUT, subprocess.DEVNULL


def start(command: Sequence[str], *, cwd: Path | str | None = None, env: dict | None = None,
          stdin=None, stdout=PIPE, stderr=STDOUT, pass_fds: Sequence[int] = (),
          preexec_fn=None, text: bool = False) -> subprocess.Popen:
    """Start ``command`` as the leader of a new process group."""
    return subprocess.Popen(list(command), cwd=cwd, env=env, stdin=stdin, stdout=stdout,
                            stderr=stderr, pass_fds=tuple(pass_fds), preexec_fn=preexec_fn,
                            start_new_session=True, text=text,
                            errors="replace" if text else None)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except OSError:
            pass


def wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds; then kill the group. True when the time ran out."""
    try:
        proc.wait(timeout=max(0.1, timeout))
        killed = False
    except subprocess.TimeoutExpired:
        killed = True
    kill_group(proc)
    proc.wait()
    return killed


def communicate(proc: subprocess.Popen, timeout: float, stdin=None) -> tuple[str | bytes, bool]:
    """Collect the child's output; kill its group past ``timeout``. Return (output, timed out)."""
    try:
        output, _ = proc.communicate(stdin, timeout=timeout)
        return output or ("" if proc.text_mode else b""), False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        output, _ = proc.communicate()
        return output or ("" if proc.text_mode else b""), True


def run(command: Sequence[str], *, cwd: Path | str | None = None, env: dict | None = None,
        timeout: float = 300, text: bool = True) -> subprocess.CompletedProcess:
    """Run to the end (or ``timeout``, then kill the group); output captured, never raises on it."""
    proc = start(command, cwd=cwd, env=env, stdin=DEVNULL, stdout=PIPE, stderr=PIPE, text=text)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        proc.returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return subprocess.CompletedProcess(list(command), proc.returncode, out, err)


def signal_name(code: int | None) -> str | None:
    """``SIGKILL`` for a return code of -9; None when the process was not ended by a signal."""
    if code is None or code >= 0:
        return None
    number = -code
    return (signal.Signals(number).name if number in signal.Signals._value2member_map_
            else str(number))


def drain(pipe, output: list[bytes], limit: int = 400_000) -> None:
    """Read ``pipe`` to its end into ``output``, keeping about the last ``limit`` bytes."""
    size = 0
    for chunk in iter(lambda: pipe.read(8192), b""):
        output.append(chunk)
        size += len(chunk)
        while size > limit and len(output) > 1:
            size -= len(output.pop(0))
