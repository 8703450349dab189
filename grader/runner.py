"""Run the graded suite in a child process and always come back with a result.

The child is ``python -m pytest grader/checks --impl ... --grade-json PATH``.
The plugin writes PATH right after collection (every check "not run") and
again after each check, so whatever happens to the child (a crash, ``os._exit``,
a hang that hits the timeout, the kernel killing it for memory) the parent
reads a valid result in which unfinished checks earn zero, with the reason.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import procs
from .results import NOT_RUN, GradeResult
from .seam import REPO_ROOT

# Environment variables the child must not see: it reports through the JSON file only.
PARENT_ONLY = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


def pytest_command(impl: str | Path, json_path: Path, extra_args: Sequence[str] = (),
                   checks: str = "grader/checks") -> list[str]:
    """The command line of one grading run: a grading that counts, so never from the cache."""
    return [sys.executable, "-m", "pytest", checks, "-q", "-p", "no:cacheprovider", "--no-cache",
            f"--impl={impl}", f"--grade-json={json_path}", *extra_args]


def grade_in_subprocess(impl: str | Path, json_path: Path | None = None, timeout: float = 900,
                        extra_args: Sequence[str] = (), env: dict | None = None,
                        cwd: Path | None = None, echo: bool = False,
                        preexec_fn=None, checks: str = "grader/checks") -> tuple[GradeResult, str]:
    """Grade ``impl`` in a child process; return (result, the child's output).

    ``cwd`` is the harness to run in (default: this repository). The result is
    never missing: a child that dies or runs past ``timeout`` seconds yields an
    incomplete result whose unfinished checks earn zero, with the reason.
    """
    cwd = Path(cwd or REPO_ROOT)
    if json_path is None:
        json_path = Path(tempfile.mkdtemp(prefix="grade-")) / "result.json"
    json_path = Path(json_path)
    json_path.unlink(missing_ok=True)
    child_env = {k: v for k, v in (env or os.environ).items() if k not in PARENT_ONLY}
    command = pytest_command(impl, json_path, extra_args, checks)
    proc = procs.start(command, cwd=cwd, env=child_env, text=True, preexec_fn=preexec_fn)
    output, timed_out = procs.communicate(proc, timeout)
    note = f"the grading run was stopped after {timeout:g} s" if timed_out else ""
    if echo:
        print(output, end="")
    result = _read_result(json_path)
    if result is None:
        result = _empty_result(impl, cwd, child_env, checks)
        note = note or _exit_reason(proc.returncode, output)
    if not result.complete:
        for check in result.checks:
            if check.status == NOT_RUN and not check.detail:
                check.detail = "the run ended before this check ran"
        result.note = note or result.note or _exit_reason(proc.returncode, output)
    result.note = result.note or ""
    return result, output


def _read_result(path: Path) -> GradeResult | None:
    try:
        return GradeResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _empty_result(impl, cwd: Path, env: dict, checks: str) -> GradeResult:
    """Every check at zero: what a run that never reached its checks earns."""
    path = Path(tempfile.mkdtemp(prefix="grade-collect-")) / "result.json"
    procs.run(pytest_command(impl, path, ["--collect-only"], checks), cwd=cwd, env=env,
              timeout=300)
    result = _read_result(path) or GradeResult(impl=str(impl))
    result.complete = False
    return result


def _exit_reason(code: int | None, output: str) -> str:
    if code is None:
        return "the grading run did not finish"
    if code < 0:
        name = procs.signal_name(code)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the grading run was killed by {name}{hint}"
    if code in (0, 1):
        return f"the grading run ended early (exit code {code}) before every check finished"
    tail = [line for line in output.strip().splitlines() if line.strip()][-1:] or [""]
    return f"the grading run failed (exit code {code}): {tail[0][:200]}"
