"""The kit's manifest: a SHA-256 of every file that decides a grade.

A student's repository in GitHub Classroom holds its own copy of the grader,
so a student *can* edit it there. ``python -m grader verify PATH`` compares
that copy with ``grader/manifest.json`` and lists every file that was changed,
deleted or added; ``python -m grader verify --update-manifest`` rebuilds the
manifest from this repository (run it after changing any of those files; a test
fails while it is stale).

Text files are hashed with line endings normalised (CRLF to LF), so a checkout
on Windows does not read as an edit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .results import write_atomic
from .seam import REPO_ROOT

MANIFEST = REPO_ROOT / "grader" / "manifest.json"

# What decides a grade: folders (everything under them) and single files.
SCOPE_DIRS = ("grader", "fixtures", "data", ".github")
SCOPE_FILES = ("conftest.py", "pyproject.toml")
# Files under those folders that do not decide a grade.
EXCLUDED = ("grader/manifest.json", "grader/reference_scores.json")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".hypothesis", ".benchmarks"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, with CRLF normalised to LF for text files."""
    data = Path(path).read_bytes()
    if b"\0" not in data[:8192]:
        data = data.replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def _in_scope(relative: str) -> bool:
    parts = relative.split("/")
    if relative in EXCLUDED or SKIP_PARTS & set(parts) or relative.endswith(SKIP_SUFFIXES):
        return False
    return relative in SCOPE_FILES or parts[0] in SCOPE_DIRS and len(parts) > 1


def _git_files(root: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored files of a git work tree, or None."""
    if not (root / ".git").exists():
        return None
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard", "--", *SCOPE_DIRS, *SCOPE_FILES],
            capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return sorted({name for name in proc.stdout.decode().split("\0") if name})


def scoped_files(root: Path) -> dict[str, Path]:
    """The files of ``root`` the manifest covers: relative POSIX path -> path."""
    root = Path(root)
    names = _git_files(root)
    if names is None:
        names = []
        for top in SCOPE_DIRS:
            base = root / top
            if base.is_dir():
                names += [p.relative_to(root).as_posix() for p in base.rglob("*")
                          if p.is_file() and not p.is_symlink()]
        names += [name for name in SCOPE_FILES if (root / name).is_file()]
    return {name: root / name for name in sorted(names)
            if _in_scope(name) and (root / name).is_file()}


def build(root: Path = REPO_ROOT) -> dict:
    """The manifest of a kit checkout."""
    return {
        "kit_version": __version__,
        "algorithm": "sha256 (text files with CRLF read as LF)",
        "scope": [*(f"{d}/" for d in SCOPE_DIRS), *SCOPE_FILES],
        "files": {name: file_hash(path) for name, path in scoped_files(root).items()},
    }


def load(path: Path = MANIFEST) -> dict:
    """Read a manifest file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(manifest: dict, path: Path = MANIFEST) -> None:
    """Write a manifest file (sorted, stable)."""
    write_atomic(Path(path), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@dataclass
class Comparison:
    """How a repository's grader files differ from the manifest."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def clean(self) -> bool:
        """True when nothing differs."""
        return not (self.changed or self.missing or self.added)

    def lines(self) -> list[str]:
        """One line per differing file: ``changed  grader/plugin.py``."""
        return ([f"changed  {n}" for n in self.changed] + [f"missing  {n}" for n in self.missing]
                + [f"added    {n}" for n in self.added])


def compare(root: Path, manifest: dict) -> Comparison:
    """Compare the grader files under ``root`` with ``manifest``."""
    expected: dict[str, str] = manifest["files"]
    present = scoped_files(root)
    result = Comparison(checked=len(expected))
    for name, digest in sorted(expected.items()):
        if name not in present:
            result.missing.append(name)
        elif file_hash(present[name]) != digest:
            result.changed.append(name)
    result.added = sorted(set(present) - set(expected))
    return result
