"""``grader regenerate``: the reference must earn every automatic point; drift is reported."""

from __future__ import annotations

import json

import pytest
from adversarial.fakekit import grader_cli

from grader.commands.regenerate import drift

pytestmark = pytest.mark.timeout(600)


def test_regenerate_pins_then_reports_drift(kit):
    pinned = kit / "grader" / "reference_scores.json"
    pinned.unlink(missing_ok=True)

    proc = grader_cli(kit, "regenerate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference: 15 / 15 automatic points" in proc.stdout
    assert "no previous pinned scores" in proc.stdout
    data = json.loads(pinned.read_text())
    assert data["kit_version"] and data["checks_hash"]
    assert len(data["checks"]) == 5
    check = data["checks"]["grader/checks/test_fake.py::test_partial"]
    assert check == {"name": "test_partial", "category": "analysis", "approach": None,
                     "points": 5.0, "max": 5.0, "status": "passed", "review": False}
    assert data["checks"]["grader/checks/test_fake.py::test_review"]["status"] == "review"

    proc = grader_cli(kit, "regenerate", "--check")
    assert proc.returncode == 0 and "no drift" in proc.stdout, proc.stdout

    # An older pin: one check missing, one that no longer exists, one weighted differently.
    old = json.loads(pinned.read_text())
    del old["checks"]["grader/checks/test_fake.py::test_pairs"]
    old["checks"]["grader/checks/test_fake.py::test_gone"] = dict(check, name="test_gone")
    old["checks"]["grader/checks/test_fake.py::test_partial"]["max"] = 2.0
    pinned.write_text(json.dumps(old))
    proc = grader_cli(kit, "regenerate", "--check")
    assert proc.returncode == 1
    assert "added        grader/checks/test_fake.py::test_pairs" in proc.stdout
    assert "removed      grader/checks/test_fake.py::test_gone" in proc.stdout
    assert "re-weighted  grader/checks/test_fake.py::test_partial: 2 -> 5" in proc.stdout
    assert json.loads(pinned.read_text()) == old  # --check never writes

    # The reference loses a point: exit 1, name the check, keep the pinned file.
    proc = grader_cli(kit, "regenerate")
    assert proc.returncode == 0
    before = pinned.read_text()
    (kit / "reference" / "DONE.txt").unlink()
    try:
        proc = grader_cli(kit, "regenerate")
    finally:
        (kit / "reference" / "DONE.txt").write_text("done\n")
    assert proc.returncode == 1
    assert "test_finished (0/3, failed)" in proc.stdout
    assert "newly failing grader/checks/test_fake.py::test_finished" in proc.stdout
    assert "the reference loses points on 2 automatic check(s)" in proc.stderr
    assert pinned.read_text() == before


def _pin(**checks):
    return {"kit_version": "1", "checks_hash": "h", "checks": {
        k: {"points": p, "max": m, "status": "passed" if p == m else "failed", "review": False}
        for k, (p, m) in checks.items()}}


def test_drift_lines():
    assert drift(None, _pin(a=(1, 1))) == []
    assert drift(_pin(a=(1, 1)), _pin(a=(1, 1))) == []
    lines = drift(_pin(a=(1, 1), b=(2, 2)), _pin(a=(0, 1), c=(1, 1)))
    assert any(line.startswith("newly failing a") for line in lines)
    assert any(line.startswith("removed      b") for line in lines)
    assert any(line.startswith("added        c") for line in lines)
    new = _pin(a=(1, 1))
    new["checks_hash"] = "other"
    assert drift(_pin(a=(1, 1)), new) == ["checks hash  h -> other"]


def test_pinned_reference_scores_match_the_checks():
    """grader/reference_scores.json must describe the current checks (rerun regenerate)."""
    from grader.commands.regenerate import REFERENCE_SCORES
    from grader.results import checks_hash

    pinned = json.loads(REFERENCE_SCORES.read_text())
    assert pinned["checks_hash"] == checks_hash(), (
        "the checks changed since the reference scores were pinned: "
        "run `python -m grader regenerate` and commit grader/reference_scores.json")
    automatic = pinned["totals"]["automatic"]
    assert automatic["earned"] == automatic["max"] > 0
