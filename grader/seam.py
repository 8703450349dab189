"""The seam: the one way graded checks reach the code under test.

``--impl assignments`` (the default) grades the student's modules in
``assignments/``; ``--impl reference`` grades the solutions; ``--impl PATH``
grades any directory laid out like ``assignments/`` (the kit's own tests use
this for deliberately wrong implementations, "mutants").

Checks never ``import assignments.x`` themselves: they ask the ``impl``
fixture, ``impl.module("dspy_example")``, so one suite judges every
implementation. Modules inside an implementation import each other
relatively (``from .utils import read_jsonl``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .settings import REPO_ROOT

NAMED = {"reference": REPO_ROOT / "reference", "assignments": REPO_ROOT / "assignments"}


class ImplImportError(Exception):
    """A module of the implementation under test could not be imported.

    Its message is one line meant for the student.
    """


class Impl:
    """The implementation under test: a package directory and its modules."""

    def __init__(self, spec: str):
        self.spec = spec
        if spec in NAMED:
            self.name = spec
            self.root = NAMED[spec]
            self.package = spec
        else:
            self.root = Path(spec).resolve()
            if not self.root.is_dir():
                raise ValueError(f"--impl {spec!r}: not 'reference', 'assignments' or a directory")
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:10]
            self.name = str(self.root)
            self.package = f"_impl_{digest}"
        self._errors: dict[str, str] = {}

    def __call__(self, name: str) -> ModuleType:
        """Shorthand for :meth:`module`."""
        return self.module(name)

    def __repr__(self) -> str:
        return f"Impl({self.name!r})"

    @property
    def display_root(self) -> str:
        """The implementation's folder as a student reads it (``assignments/``)."""
        try:
            return str(self.root.relative_to(REPO_ROOT)) + "/"
        except ValueError:
            return str(self.root) + "/"

    def path(self, *parts: str) -> Path:
        """A path inside the implementation's folder (``ANALYSIS.md``, ``data/``...)."""
        return self.root.joinpath(*parts)

    def _ensure_package(self) -> None:
        if self.package in sys.modules:
            return
        if self.package in NAMED:
            importlib.import_module(self.package)
            return
        init = self.root / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            self.package,
            init if init.exists() else None,
            submodule_search_locations=[str(self.root)],
        )
        if spec is None:  # pragma: no cover - a directory always yields a spec
            raise ImplImportError(f"cannot load {self.root} as a package")
        package = importlib.util.module_from_spec(spec)
        sys.modules[self.package] = package
        if spec.loader is not None and init.exists():
            spec.loader.exec_module(package)

    def module(self, name: str) -> ModuleType:
        """Import ``<impl>/<name>.py``; a failure becomes one clear ImplImportError."""
        full = f"{self.package}.{name}"
        if full in sys.modules:
            return sys.modules[full]
        if name in self._errors:
            raise ImplImportError(self._errors[name])
        file = self.root / f"{name}.py"
        if not file.exists():
            self._errors[name] = f"{self.display_root}{name}.py does not exist"
            raise ImplImportError(self._errors[name])
        try:
            self._ensure_package()
            return importlib.import_module(full)
        except ImplImportError:
            raise
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything at import
            sys.modules.pop(full, None)
            self._errors[name] = _describe_import_failure(file, exc)
            if isinstance(exc, (KeyboardInterrupt,)):
                raise
            raise ImplImportError(self._errors[name]) from None


def _describe_import_failure(file: Path, exc: BaseException) -> str:
    """One line saying why a module failed to import, pointing at the student's line."""
    where = file.name
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"{file.name}:{exc.lineno}"
        return f"could not import {where}: SyntaxError: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
    if frames:
        where = f"{file.name}:{frames[-1].lineno}"
    if isinstance(exc, SystemExit):
        return f"could not import {where}: the module called exit() while being imported"
    return f"could not import {where}: {type(exc).__name__}: {exc}"
