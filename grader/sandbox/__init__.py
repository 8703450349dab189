"""Grade one untrusted submission in a sandboxed child process.

Used by ``python -m grader batch``. The parent (the *supervisor*,
:func:`grade_submission`) never imports student code. The child is
``python -m grader.sandbox.child`` started inside a fresh copy of the instructor's
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
  supervisor enforces the wall time and kills the whole process group.
* **Its own file system** (:mod:`~grader.sandbox.isolation`). Where bubblewrap
  works (Linux), the child sees the system and the Python environment
  read-only, the harness copy read-only, and only the submission's
  ``assignments/`` and a private home and scratch folder writable; a private
  ``/tmp``; its own network namespace (only loopback) and PID namespace (it
  cannot signal the supervisor; everything it spawned dies with it). Elsewhere
  ``unshare`` gives the namespaces where unprivileged ones are allowed, and the
  batch says loudly that submissions were not isolated. Either way the audit
  hook flags student code that opens or lists another submission, the
  instructor's home or another grading's folder.

Residual risk, stated honestly: student code runs in the same Python process
as the checks, so a determined author who reads this kit's source can still,
in principle, alter the process's memory in ways no in-process measure sees
(for example, rebinding a module-level function that only graded checks
reach, without tripping the canaries or the audit hook). Without bubblewrap
the file system is not isolated (the child runs as the instructor's user). What these
layers give is that every *obvious* attack fails or is flagged; instructors
should read the flagged rows and the logs, and keep student code out of
machines holding secrets.

Layout: :mod:`~grader.sandbox.protocol` (the signed stream, shared by both
sides), :mod:`~grader.sandbox.child` (runs inside the student's process),
:mod:`~grader.sandbox.supervisor` (the parent; imports neither student code
nor the child module) and :mod:`~grader.sandbox.isolation` (the operating
system's layers around the child). Processes are started, time-limited and
killed by :mod:`grader.procs`.
"""

from __future__ import annotations

from .protocol import Stream, parse_stream
from .supervisor import (
    FAILED_RUN,
    OK,
    TAMPERED,
    Limits,
    Outcome,
    build_template,
    copy_student_tree,
    expected_checks,
    grade_submission,
)

__all__ = ["FAILED_RUN", "OK", "TAMPERED", "Limits", "Outcome", "Stream", "build_template",
           "copy_student_tree", "expected_checks", "grade_submission", "parse_stream"]
