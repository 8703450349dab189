"""The experiment cache: a student's re-run of unchanged code reads the last run's figures.

A student edits one function and runs ``pytest`` again and again. Each run used
to re-pay every slow experiment (:mod:`grader.experiments`), even when nothing
it depends on had changed. So a plain ``pytest`` keeps each experiment's
outcome, its figures and what the instruments observed, in
``.grader-cache/experiments/`` at the kit's root (git-ignored, outside
``assignments/``; ``GRADER_CACHE_DIR`` moves it), one JSON file per
implementation folder and experiment, and reads it back when its **key** still
matches. The key is a hash of everything the run depends on:

- the source of the student's modules it runs: the experiment's module and
  every module of the same folder it imports, followed import by import
  (``huggingface_lora.py`` and ``utils.py`` for the LoRA experiment, not
  ``dspy_example.py``);
- the kit: its version and the hash of every file that decides a grade, as
  :mod:`grader.manifest` lists them (the checks and the grader's own code, the
  datasets and fixtures: the tiny model is read by native code, which no Python
  hook sees), the experiment's fixed arguments and the seed;
- the library versions (torch, transformers, peft, dspy, ...), Python's and
  the number of threads grading uses.

Besides the key, an entry lists every file the run opened and every folder it
listed inside the kit or the implementation (the datasets, the tiny model, the
cassettes, the student's own ``data/``), seen through an audit hook, each with
the hash of its content; a changed file, or a file added to a listed folder,
makes the entry stale.

**Never in grading that counts.** ``grader score``, the Classroom workflow,
Gradescope's ``run_autograder`` and ``grader batch`` pass ``--no-cache``: an
entry is plain data a student could write by hand, so it may save a student
time but can never earn a point that counts. For the same reason entries are
JSON, never pickle (unpickling a forged file would run its code).

**What is kept.** Only an experiment that returned normally, whose figures and
observations are plain data (``None``, booleans, ints, finite or not floats,
strings, lists, tuples, dicts) that come back from the file identical, types
included; anything else (a numpy number, a tensor) runs fresh every time. A
failed experiment is never kept.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from . import __version__, manifest
from .results import write_atomic
from .seam import Impl
from .settings import REPO_ROOT
from .threads import share, user_threads

FORMAT = 1
DEFAULT_DIR = REPO_ROOT / ".grader-cache"
# The libraries whose versions can change what an experiment computes.
LIBRARIES = ("torch", "transformers", "peft", "accelerate", "tokenizers", "safetensors",
             "numpy", "dspy", "litellm", "openai", "vcrpy", "httpx")
# Inside these folders nothing an experiment reads is the student's or the kit's data.
_NOT_DATA = ("__pycache__", ".venv", ".git", ".grader-cache", "site-packages")


def cache_dir() -> Path:
    """Where entries live: ``$GRADER_CACHE_DIR``, or ``.grader-cache/`` at the kit's root."""
    return Path(os.environ.get("GRADER_CACHE_DIR") or DEFAULT_DIR) / "experiments"


def clear(directory: Path | None = None) -> int:
    """Remove every entry; return how many there were."""
    directory = directory or cache_dir()
    removed = 0
    for path in directory.glob("*.json") if directory.is_dir() else ():
        path.unlink(missing_ok=True)
        removed += 1
    return removed


# ---------------------------------------------------------------- plain data, exactly
class NotPlainData(TypeError):
    """A value the cache cannot store and give back identical."""


_TAGS = ("$float", "$tuple", "$dict")


def encode(value):
    """``value`` as JSON data that :func:`decode` turns back into an equal, same-typed value."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {"$tuple": [encode(v) for v in value]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    raise NotPlainData(f"{kind.__name__} is not plain data")


def decode(data):
    """The value :func:`encode` was given."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and next(iter(data)) in _TAGS:
        tag, inner = next(iter(data.items()))
        if tag == "$float":
            return float(inner)
        if tag == "$tuple":
            return tuple(decode(v) for v in inner)
        return {decode(k): decode(v) for k, v in inner}
    return {k: decode(v) for k, v in data.items()}


# ---------------------------------------------------------------- what a run depends on
def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _listing(path: Path) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return "missing"
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _imported_siblings(path: Path, impl: Impl) -> set[str]:
    """Modules of the implementation's folder that ``path`` imports (anywhere in its code)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return set()
    prefixes = {impl.package, impl.root.name}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 0:
                if not parts or parts[0] not in prefixes:
                    continue
                parts = parts[1:]
            if parts:
                names.add(parts[0])
            else:  # from . import utils
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in prefixes and len(parts) > 1:
                    names.add(parts[1])
    return {n for n in names if (impl.root / f"{n}.py").is_file()}


def module_sources(impl: Impl, module: str) -> dict[str, str]:
    """The hash of ``module``'s source and of every sibling module it imports, transitively."""
    found: dict[str, str] = {}
    todo = ["__init__", module]
    while todo:
        name = todo.pop()
        path = impl.root / f"{name}.py"
        if name in found:
            continue
        found[name] = _digest(path)
        if path.is_file():
            todo.extend(_imported_siblings(path, impl) - found.keys())
    return dict(sorted(found.items()))


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _kit_hash() -> str:
    """A hash of every file that decides a grade, as the manifest lists them.

    :mod:`grader.manifest` covers the grader and its checks, the datasets and the
    fixtures (whose tiny model native code reads, unseen by the audit hook).
    """
    files = manifest.build()["files"]
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- files a run reads
class _Reads:
    """Files opened and folders listed under the given roots while recording."""

    active: _Reads | None = None
    hooked = False

    def __init__(self, roots: tuple[Path, ...]):
        self.roots = tuple(str(r) + os.sep for r in roots)
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.written: set[str] = set()

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        reads = cls.active
        if reads is None or event not in ("open", "os.listdir", "os.scandir"):
            return
        try:
            path = args[0]
            if isinstance(path, int) or path is None:
                return
            path = os.path.abspath(os.fsdecode(path))
            if not path.startswith(reads.roots) or any(f"{os.sep}{n}{os.sep}" in path + os.sep
                                                     for n in _NOT_DATA):
                return
            if event == "open":
                (reads.written if _writes(args) else reads.files).add(path)
            else:
                reads.folders.add(path)
        except Exception:  # noqa: BLE001, S110 - an audit hook must never break the run
            pass


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def _writes(args: tuple) -> bool:
    """Whether an ``open`` audit event (path, mode, flags) opens its file for writing."""
    mode = args[1] if len(args) > 1 else None
    if isinstance(mode, str):
        return bool(set(mode) & set("wax+"))
    flags = args[2] if len(args) > 2 else 0
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


@contextmanager
def recording(roots: tuple[Path, ...]) -> Iterator[_Reads]:
    """Record the files opened and folders listed under ``roots`` inside the block."""
    if not _Reads.hooked:  # an audit hook cannot be removed: one, idle unless recording
        sys.addaudithook(_Reads.hook)
        _Reads.hooked = True
    reads = _Reads.active = _Reads(roots)
    try:
        yield reads
    finally:
        _Reads.active = None


# ---------------------------------------------------------------- the cache of one grading run
class ExperimentCache:
    """Entries of one implementation: :meth:`load` an experiment's outcome or :meth:`store` it."""

    def __init__(self, impl: Impl, directory: Path | None = None, seed: int = 0):
        self.impl = impl
        self.directory = directory or cache_dir()
        self.seed = seed
        self.roots = (REPO_ROOT, impl.root)
        self._common: dict | None = None

    def _path(self, name: str) -> Path:
        folder = hashlib.sha256(str(self.impl.root).encode()).hexdigest()[:12]
        return self.directory / f"{folder}-{name}.json"

    def key(self, name: str, module: str, arguments: dict) -> str:
        """The hash of everything experiment ``name`` depends on before it runs."""
        if self._common is None:
            self._common = {
                "kit": __version__, "kit_files": _kit_hash(),
                "libraries": _library_versions(), "seed": self.seed,
                "threads": user_threads() or share(),  # as grader.threads.configure decides
            }
        parts = {**self._common, "experiment": name, "arguments": arguments,
                 "root": str(self.impl.root), "sources": module_sources(self.impl, module)}
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def load(self, name: str, key: str, instruments: list[str]) -> dict | None:
        """The stored entry of experiment ``name`` if it is still valid, else None."""
        try:
            entry = json.loads(self._path(name).read_text(encoding="utf-8"))
            if (entry.get("format") != FORMAT or entry.get("key") != key
                    or sorted(entry["observed"]) != sorted(instruments)):
                return None
            if any(_digest(Path(p)) != d for p, d in entry["files"].items()):
                return None
            if any(_listing(Path(p)) != d for p, d in entry["folders"].items()):
                return None
            return {"value": decode(entry["value"]),
                    "observed": {k: decode(v) for k, v in entry["observed"].items()},
                    "created": float(entry["created"]), "seconds": float(entry["seconds"])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def store(self, name: str, key: str, value: dict, observed: dict, seconds: float,
              reads: _Reads) -> bool:
        """Keep a successful run; False (and nothing written) when it is not plain data."""
        try:
            value_data, observed_data = as_plain(value, observed)
            entry = {"format": FORMAT, "experiment": name, "key": key, "created": time.time(),
                     "seconds": seconds, "value": value_data, "observed": observed_data,
                     "files": {p: _digest(Path(p)) for p in sorted(reads.files - reads.written)},
                     "folders": {p: _listing(Path(p)) for p in sorted(reads.folders)}}
            write_atomic(self._path(name), json.dumps(entry, allow_nan=False) + "\n")
            return True
        except (NotPlainData, OSError, ValueError, RecursionError):
            return False


def as_plain(value, observed: dict) -> tuple[object, dict]:
    """An experiment's figures and observations encoded (:func:`encode`) for JSON.

    Raises NotPlainData unless both come back identical, types included, through
    JSON text and :func:`decode` (the cache and the worker of grader.ahead both
    hand on only what does).
    """
    encoded = {"value": encode(value), "observed": {k: encode(v) for k, v in observed.items()}}
    back = json.loads(json.dumps(encoded, allow_nan=False))
    if (not _same(decode(back["value"]), value)
            or not _same({k: decode(v) for k, v in back["observed"].items()}, observed)):
        raise NotPlainData("does not come back identical through JSON")
    return encoded["value"], encoded["observed"]


def _same(a, b) -> bool:
    """Equal, and of the same type all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return _same(list(a), list(b)) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b
