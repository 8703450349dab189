"""The operating system's layers around the sandboxed child.

:func:`namespace_prefix` puts the child in its own network namespace (only
loopback) and PID namespace with ``unshare`` where unprivileged namespaces
are available. Where bubblewrap works (Linux), :func:`bwrap_prefix` replaces
that layer: the child then also sees only the harness, the Python
environment and its own writable folders (:func:`bwrap_usable` says whether
it does; ``GRADER_BWRAP=0`` turns it off).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import procs

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
            ok = procs.run([*command, "true"], timeout=20).returncode
        except OSError:
            ok = 1
        _NAMESPACES = command if ok == 0 else []
    return _NAMESPACES


# ---------------------------------------------------------------- bubblewrap
# What of the host a sandboxed child sees, read-only: the system's programs and
# libraries, and a few files of /etc that Python and its libraries read.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "passwd", "group",
             "nsswitch.conf", "hosts", "localtime", "ssl", "ca-certificates", "mime.types",
             "fonts", "matplotlibrc")

_BWRAP: bool | None = None


def python_dirs() -> list[Path]:
    """The Python environment the child needs: prefixes and installed packages (no kit source)."""
    dirs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    dirs.add(Path(os.path.realpath(sys.executable)).parent)
    for entry in sys.path:
        path = Path(entry)
        if path.is_absolute() and path.is_dir() and path.name in ("site-packages",
                                                                   "dist-packages"):
            dirs.add(path.resolve())
    return sorted(dirs)


def bwrap_usable() -> bool:
    """Whether bubblewrap can start a sandbox here (``GRADER_BWRAP=0`` says no)."""
    global _BWRAP
    if os.environ.get("GRADER_BWRAP", "1") == "0":
        return False
    if _BWRAP is None:
        path = shutil.which("bwrap")
        _BWRAP = False
        if path:
            probe = [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                     "--unshare-all", "--die-with-parent", "true"]
            try:
                _BWRAP = procs.run(probe, timeout=20).returncode == 0
            except OSError:
                _BWRAP = False
    return _BWRAP


def bwrap_prefix(harness: Path, writable: list[Path]) -> list[str]:
    """``bwrap`` arguments: ``harness`` read-only, ``writable`` writable, nothing else of yours.

    The child sees the system's programs and libraries and the Python
    environment (read-only), the harness copy (read-only) and the ``writable``
    folders (the submission's ``assignments/``, its private home and scratch
    folder); a fresh ``/tmp``, ``/dev`` and ``/proc``; no network but loopback;
    its own PID namespace. Other submissions, your home folder and the batch's
    outputs are not there at all.
    """
    args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for directory in python_dirs():
        args += ["--ro-bind", str(directory), str(directory)]
    args += ["--ro-bind", str(harness), str(harness)]
    for directory in writable:
        args += ["--bind", str(directory), str(directory)]
    args += ["--chdir", str(harness), "--"]
    return args


def describe(isolated: bool) -> str:
    """The line a batch prints once about how submissions are kept apart."""
    if isolated:
        return ("isolation: each submission is graded in its own bubblewrap sandbox "
                "(no other submission, no home folder, private /tmp, no network)")
    why = ("GRADER_BWRAP=0" if os.environ.get("GRADER_BWRAP", "1") == "0"
           else "bubblewrap (bwrap) is not installed or cannot start here")
    return (f"WARNING: submissions are NOT isolated ({why}): a submission's code can read "
            "other submissions and your files. Install bubblewrap (Debian/Ubuntu: "
            "apt-get install bubblewrap) to isolate them.")


NOT_ISOLATED_NOTE = "not isolated: graded without bubblewrap"
