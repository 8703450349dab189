"""``python -m grader regenerate``: grade the reference and pin its scores.

The reference must earn every automatic point: a check it fails is a wrong
check (or a broken reference), so the command exits 1, lists them, and leaves
the pinned file alone. Otherwise it writes ``grader/reference_scores.json``
(per check: points, maximum and status; the kit version and the checks' hash)
and prints the drift against the previous file: checks added, removed,
re-weighted, newly failing. ``--check`` compares without writing and exits 1
on any drift, for CI.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..results import PASSED, GradeResult, write_json
from ..seam import REPO_ROOT

REFERENCE_SCORES = REPO_ROOT / "grader" / "reference_scores.json"


def add_arguments(parser) -> None:
    """Options of ``regenerate``."""
    parser.add_argument("--output", type=Path, default=REFERENCE_SCORES,
                        help="the pinned scores file (default grader/reference_scores.json)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="stop the grading run after this many seconds (default 1800)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the pinned file without writing it; exit 1 on drift")
    parser.add_argument("--verbose", "-v", action="store_true", help="show pytest's output")


def pinned(result: GradeResult) -> dict:
    """The pinned form of a reference result."""
    totals = result.totals()
    return {
        "kit_version": result.kit_version,
        "checks_hash": result.checks_hash,
        "totals": {key: totals[key] for key in ("automatic", "review", "overall")},
        "checks": {
            check.id: {
                "name": check.name,
                "category": check.category,
                "approach": check.approach,
                "points": check.points,
                "max": check.max_points,
                "status": check.status,
                "review": check.review,
            }
            for check in sorted(result.checks, key=lambda c: c.id)
        },
    }


def drift(old: dict | None, new: dict) -> list[str]:
    """Human-readable differences between two pinned files (empty: no drift)."""
    if not old:
        return []
    lines = []
    before, after = old.get("checks", {}), new["checks"]
    for check_id in sorted(set(after) - set(before)):
        lines.append(f"added        {check_id} ({after[check_id]['max']:g} points)")
    for check_id in sorted(set(before) - set(after)):
        lines.append(f"removed      {check_id} ({before[check_id]['max']:g} points)")
    for check_id in sorted(set(before) & set(after)):
        was, now = before[check_id], after[check_id]
        if was["max"] != now["max"]:
            lines.append(f"re-weighted  {check_id}: {was['max']:g} -> {now['max']:g} points")
        if now["review"]:
            continue
        if was["points"] >= was["max"] and now["points"] < now["max"]:
            lines.append(f"newly failing {check_id}: {now['points']:g}/{now['max']:g} "
                         f"({now['status']})")
        elif was["points"] != now["points"] and was["max"] == now["max"]:
            lines.append(f"points       {check_id}: {was['points']:g} -> {now['points']:g}")
    if old.get("checks_hash") != new["checks_hash"]:
        lines.append(f"checks hash  {old.get('checks_hash')} -> {new['checks_hash']}")
    if old.get("kit_version") != new["kit_version"]:
        lines.append(f"kit version  {old.get('kit_version')} -> {new['kit_version']}")
    return lines


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run(args) -> int:
    """Grade the reference; exit 1 when it loses an automatic point (or drifts, with --check)."""
    from ..runner import grade_in_subprocess

    work = Path(tempfile.mkdtemp(prefix="grader-regenerate-"))
    result, _ = grade_in_subprocess("reference", work / "reference.json", timeout=args.timeout,
                                    echo=args.verbose)
    new = pinned(result)
    old = _load(args.output)
    problems = []
    if not result.complete:
        problems.append(f"the grading run did not complete: {result.note or 'it ended early'}")
    if result.partial_run:
        problems.append("only part of the suite ran")
    lost = [c for c in result.checks if not c.review and c.points < c.max_points]
    automatic = new["totals"]["automatic"]
    print(f"reference: {automatic['earned']:g} / {automatic['max']:g} automatic points "
          f"(kit {result.kit_version}, checks {result.checks_hash})")
    for check in lost:
        first = (check.detail.strip().splitlines() or [""])[0]
        print(f"  ✗ {check.id} ({check.points:g}/{check.max_points:g}, {check.status}): "
              f"{check.message}\n      {first}")
    changes = drift(old, new)
    if old is None:
        print(f"no previous pinned scores at {args.output}")
    elif changes:
        print(f"drift against {args.output.name}:")
        for line in changes:
            print(f"  {line}")
    else:
        print("no drift against the pinned scores")
    if lost:
        problems.append(f"the reference loses points on {len(lost)} automatic check(s)")
    for problem in problems:
        print(f"regenerate: {problem}", file=sys.stderr)
    if problems:
        print("regenerate: the pinned scores were not changed", file=sys.stderr)
        return 1
    if args.check:
        return 1 if changes or old is None else 0
    write_json(args.output, new)
    passed = sum(1 for c in result.checks if c.status == PASSED)
    print(f"wrote {args.output} ({len(result.checks)} checks, {passed} passed)")
    return 0
