"""One grading result, computed once, read by every report.

Each check's earned points are rounded to four decimals here and nowhere else;
every total is a sum of those rounded numbers. The terminal table, the JSON
result, Gradescope's results.json, the GitHub Classroom payload and the
gradebook all read this structure, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, rubric

CHECKS_DIR = Path(__file__).resolve().parent / "checks"

# Status of one check in a result.
PASSED, PARTIAL, FAILED, SKIPPED, ERROR, REVIEW, NOT_RUN = (
    "passed", "partial", "failed", "skipped", "error", "review", "not_run",
)


@dataclass
class CheckResult:
    """The outcome of one graded check."""

    id: str
    name: str
    category: str
    approach: str | None
    max_points: float
    points: float = 0.0
    status: str = NOT_RUN
    message: str = ""
    detail: str = ""
    review: bool = False
    duration: float = 0.0

    def finish(self, status: str, fraction: float, detail: str = "") -> None:
        """Record the outcome: the earned points are max_points x fraction, rounded."""
        fraction = min(1.0, max(0.0, float(fraction)))
        self.status = status
        self.points = self.max_points if fraction == 1.0 else round(self.max_points * fraction, 4)
        self.detail = detail


def checks_hash(directory: Path = CHECKS_DIR) -> str:
    """A short hash of the graded checks' source and the rubric: what judged a result."""
    digest = hashlib.sha256()
    files = sorted(directory.rglob("*.py")) + [Path(rubric.__file__)]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class GradeResult:
    """Every check of one run, plus what judged it."""

    impl: str
    checks: list[CheckResult] = field(default_factory=list)
    complete: bool = False
    note: str = ""
    kit_version: str = __version__
    checks_hash: str = ""
    partial_run: bool = False

    def totals(self) -> dict:
        """Earned and maximum points per cell, category, approach and overall."""
        def empty():
            return {"earned": 0.0, "max": 0.0}

        cells = {f"{c}/{a or 'cross'}": empty() for c, a in rubric.cells()}
        categories = {c: empty() for c in rubric.CATEGORY_POINTS}
        approaches = {a: empty() for a in [*rubric.APPROACH_SHARE, "cross"]}
        automatic, review = empty(), empty()
        for check in self.checks:
            approach = check.approach or "cross"
            for bucket in (
                cells[f"{check.category}/{approach}"],
                categories[check.category],
                approaches[approach],
                review if check.review else automatic,
            ):
                bucket["earned"] += check.points
                bucket["max"] += check.max_points
        overall = {
            "earned": automatic["earned"] + review["earned"],
            "max": automatic["max"] + review["max"],
        }
        out = {
            "cells": cells,
            "categories": categories,
            "approaches": approaches,
            "automatic": automatic,
            "review": review,
            "overall": overall,
        }
        return _rounded(out)

    def to_dict(self) -> dict:
        """The JSON form written by ``--grade-json`` (grader/schemas/grade-result.schema.json)."""
        return {
            "kit_version": self.kit_version,
            "checks_hash": self.checks_hash,
            "impl": self.impl,
            "complete": self.complete,
            "partial_run": self.partial_run,
            "note": self.note,
            "totals": self.totals(),
            "checks": [dict(vars(c)) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        """Rebuild a result from its JSON form."""
        result = cls(
            impl=data["impl"],
            complete=data["complete"],
            note=data.get("note", ""),
            kit_version=data["kit_version"],
            checks_hash=data["checks_hash"],
            partial_run=data.get("partial_run", False),
        )
        result.checks = [CheckResult(**c) for c in data["checks"]]
        return result


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 4)
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader never sees half of it, even if we crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_json(path: Path, data: dict, indent: int | None = 2) -> None:
    """Write a JSON report atomically (compact with ``indent=None``, for frequent rewrites)."""
    write_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
