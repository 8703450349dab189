"""``grader batch``: a class graded safely, adversarial submissions included.

The batch runs in a small fake kit (tests/adversarial/fakekit.py: five checks
on ``utils.py``, a 20-point rubric) so the whole class grades in about a
minute. Every adversarial submission under tests/adversarial/ is the stub with
one malicious change (most are a ``payload.py`` appended to the stub's
``utils.py``); each must earn no more than the untouched stub.
"""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
from adversarial.fakekit import (
    HERE,
    LIMITS,
    REFERENCE_SCORE,
    STUB_SCORE,
    adversarial_names,
    grader_cli,
    make_submission,
    new_class,
)

from grader import sandbox
from grader.batch import BatchError, apply_reviews, find_submissions, load_reviews, tree_hash
from grader.results import CheckResult, GradeResult
from grader.sandbox import isolation, supervisor

# Grading a whole class takes a minute or two on a busy machine.
pytestmark = pytest.mark.timeout(900)

EXPECTED_STATUS = {
    "forged_report": "tampered",
    "patch_results": "tampered",
    "patch_pytest_runner": "tampered",
    "loop_ignoring_alarm": "error",
    "os_exit_at_import": "error",
    "edited_grader": "ok",
    "hang_in_check": "ok",
    "loop_at_import": "ok",
    "sys_exit_at_import": "ok",
    "memory_hog": "ok",
    "socket_connect": "ok",
    "read_instructor_home": "tampered",
    "copy_classmates": "ok",
}
# Cases that only a bubblewrap sandbox contains: without it they would really
# reach other submissions, so they are graded only where bwrap works.
NEEDS_BWRAP = {"copy_classmates"}
BWRAP = isolation.bwrap_usable()


@pytest.fixture(scope="module")
def graded(kit, tmp_path_factory):
    """One batch over the reference, the stub, every adversarial submission and an empty repo."""
    base = tmp_path_factory.mktemp("class")
    subs = new_class(base)
    for name in adversarial_names():
        if BWRAP or name not in NEEDS_BWRAP:
            make_submission(subs, name, HERE / name)
    before = {path.name: tree_hash(path / "assignments") for path in subs.iterdir()}
    (subs / "no_assignments").mkdir()
    (subs / "no_assignments" / "README.md").write_text("forgot to push\n")
    out = base / "out"
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), "-j", "2", *LIMITS,
                      timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return {"subs": subs, "out": out, "rows": rows, "proc": proc, "kit": kit, "before": before}


def test_every_adversarial_case_is_covered():
    assert set(adversarial_names()) == set(EXPECTED_STATUS)


def test_every_row_is_present(graded):
    names = {"reference", "stub", "no_assignments", *adversarial_names()}
    if not BWRAP:
        names -= NEEDS_BWRAP
    assert set(graded["rows"]) == names
    for name in names:
        assert (graded["out"] / "feedback" / f"{name}.md").exists()
        assert name in graded["proc"].stdout  # the summary table
    assert (graded["out"] / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"] {len(names)}/{len(names)} " in graded["proc"].stderr  # the progress line


def test_reference_and_stub_score_what_they_earn(graded):
    rows = graded["rows"]
    assert float(rows["reference"]["total"]) == REFERENCE_SCORE
    assert rows["reference"]["status"] == "ok"
    assert float(rows["stub"]["total"]) == STUB_SCORE
    assert float(rows["stub"]["technical"]) == 7.0
    assert rows["no_assignments"]["status"] == "error"
    assert float(rows["no_assignments"]["total"]) == 0.0


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_adversarial_submission_earns_no_more_than_honest_work(graded, name):
    if name in NEEDS_BWRAP and not BWRAP:
        pytest.skip("bubblewrap is not usable here")
    row, stub = graded["rows"][name], graded["rows"]["stub"]
    assert float(row["total"]) <= float(stub["total"]), row
    assert float(row["technical"]) <= float(stub["technical"]), row
    assert row["status"] == EXPECTED_STATUS[name], row
    assert row["checks_hash"] == stub["checks_hash"]


def test_reasons_are_reported(graded):
    rows, out = graded["rows"], graded["out"]
    assert "timed out" in rows["loop_ignoring_alarm"]["note"]
    assert "exited early" in rows["os_exit_at_import"]["note"]
    assert "hidden control test" in rows["patch_pytest_runner"]["note"]
    assert "grader.results.CheckResult.finish" in rows["patch_results"]["note"]
    assert "unsigned record" in rows["forged_report"]["note"]
    assert float(rows["hang_in_check"]["total"]) == STUB_SCORE - 4  # only the hung check lost

    def feedback(name):
        return (out / "feedback" / f"{name}.md").read_text()

    assert "network blocked" in feedback("socket_connect")
    assert "MemoryError" in feedback("memory_hog")
    assert "took too long" in feedback("hang_in_check")
    assert "exit()" in feedback("sys_exit_at_import")
    assert "flagged" in feedback("patch_results")
    assert float(rows["edited_grader"]["total"]) == STUB_SCORE  # its grader/ was never used
    assert "edited grader files (ignored): conftest.py, grader/plugin.py" \
        in rows["edited_grader"]["note"]
    assert int(rows["edited_grader"]["edited_files"]) >= 2  # plugin.py and conftest.py


@pytest.mark.skipif(not BWRAP, reason="bubblewrap is not usable here")
def test_each_submission_is_isolated(graded):
    """Inside bubblewrap a submission finds no classmate and none of your files."""
    rows, subs, proc = graded["rows"], graded["subs"], graded["proc"]
    assert proc.stderr.count("isolation: each submission is graded in its own bubblewrap") == 1
    assert "NOT isolated" not in proc.stderr
    for path in subs.iterdir():  # nobody's files changed, the saboteur's own excepted
        if path.name in graded["before"] and path.name != "copy_classmates":
            assert tree_hash(path / "assignments") == graded["before"][path.name], path.name
    assert float(rows["copy_classmates"]["total"]) == STUB_SCORE  # found no DONE.txt to copy
    assert float(rows["reference"]["total"]) == REFERENCE_SCORE  # and broke nobody's utils.py
    assert not any("not isolated" in row["note"] for row in rows.values())
    record = json.loads((graded["out"] / "results" / "stub.json").read_text())
    assert record["isolated"] is True


def test_reading_your_home_is_flagged(graded):
    note = graded["rows"]["read_instructor_home"]["note"]
    assert "tried to read outside its sandbox" in note
    assert note.count("tried to read") <= 3


def test_forged_files_do_not_leak_into_the_outputs(graded):
    out = graded["out"]
    assert not (out / "grade.json").exists()
    record = json.loads((out / "results" / "forged_report.json").read_text())
    assert record["status"] == "tampered"
    assert record["result"]["totals"]["overall"]["earned"] == 0


def test_gradebook_columns(graded):
    row = graded["rows"]["reference"]
    for column in ("total", "automatic", "review", "technical", "analysis", "creativity",
                   "presentation", "dspy", "openai", "lora", "cross", "status", "duration_s",
                   "kit_version", "checks_hash"):
        assert column in row
    assert float(row["dspy"]) == 4 and float(row["automatic"]) == REFERENCE_SCORE


def test_feedback_is_what_the_student_sees(graded):
    text = (graded["out"] / "feedback" / "stub.md").read_text()
    assert "| Technical Implementation |" in text
    assert "The submission must be finished: write DONE.txt." in text
    assert "DONE.txt is missing" in text


def test_resume_reviews_and_regrade_on_change(graded, tmp_path):
    kit, subs, out = graded["kit"], graded["subs"], graded["out"]
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("student,check,points,comment\n"
                       "reference,test_review,4,clear and well argued\n"
                       "nobody,test_review,1,\n")
    (subs / "edited_grader" / "assignments" / "DONE.txt").write_text("done\n")
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), "--reviews", str(reviews),
                      *LIMITS)
    assert proc.returncode == 0, proc.stderr
    assert "1 to grade" in proc.stderr  # only the changed submission
    assert "no submission named 'nobody'" in proc.stderr
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(rows["reference"]["review"]) == 4
    assert float(rows["reference"]["total"]) == REFERENCE_SCORE + 4
    assert float(rows["edited_grader"]["total"]) == REFERENCE_SCORE
    assert "clear and well argued" in (out / "feedback" / "reference.md").read_text()

    bad = tmp_path / "bad.csv"
    bad.write_text("student,check,points\nreference,test_review,lots\n")
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), "--reviews", str(bad))
    assert proc.returncode == 2
    assert "bad.csv:2: points must be a number" in proc.stderr


def test_force_and_no_namespaces(kit, tmp_path):
    """Without bwrap and namespaces (the fallback) the batch says so loudly; guards still work.

    The socket guard alone still blocks the network; reading your home is still flagged.
    """
    subs = tmp_path / "subs"
    subs.mkdir()
    make_submission(subs, "socket_connect", HERE / "socket_connect")
    make_submission(subs, "read_instructor_home", HERE / "read_instructor_home")
    out = tmp_path / "out"
    env = {**os.environ, "GRADER_NAMESPACES": "0", "GRADER_BWRAP": "0"}
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), *LIMITS, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("WARNING: submissions are NOT isolated") == 1
    assert "network blocked" in (out / "feedback" / "socket_connect.md").read_text()
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert "not isolated: graded without bubblewrap" in rows["socket_connect"]["note"]
    assert rows["read_instructor_home"]["status"] == "tampered"
    assert "tried to read outside its sandbox" in rows["read_instructor_home"]["note"]
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), "--force", *LIMITS, env=env)
    assert "2 to grade" in proc.stderr


# ------------------------------------------------------------------ units
def test_stream_rejects_unsigned_and_reordered_records():
    key = b"k" * 32
    read, write = os.pipe()
    stream = sandbox.Stream(write, key)
    stream.send("check", {"id": "a"})
    stream.send("final", {})
    os.write(write, b'{"seq":3,"kind":"final","data":{}}\t00\n')
    os.close(write)
    raw = os.read(read, 65536)
    os.close(read)
    records, problems = sandbox.parse_stream(raw, key)
    assert [r["kind"] for r in records] == ["check", "final"]
    assert problems and "unsigned" in problems[0]
    lines = raw.split(b"\n")
    _, problems = sandbox.parse_stream(lines[1] + b"\n" + lines[0] + b"\n", key)
    assert any("out of order" in p for p in problems)


def _check(**kw):
    base = dict(id="t::a", name="a", category="technical", approach="dspy", max_points=2.0)
    return CheckResult(**{**base, **kw})


def test_points_need_a_passed_pytest_outcome():
    passed = {"setup": "passed", "call": "passed", "teardown": "passed"}
    check = _check()
    assert supervisor._take_check(check, {"check": {"points": 2.0, "max_points": 2.0,
                                                 "status": "passed"}, "outcomes": passed}) == []
    assert check.points == 2.0
    check = _check()
    flags = supervisor._take_check(check, {"check": {"points": 2.0, "max_points": 2.0},
                                        "outcomes": {**passed, "call": "failed"}})
    assert flags and check.points == 0
    check = _check()
    assert supervisor._take_check(check, {"check": {"points": 9.0, "max_points": 9.0},
                                       "outcomes": passed})
    check = _check(review=True)
    assert supervisor._take_check(check, {"check": {"points": 1.0, "max_points": 2.0},
                                       "outcomes": passed})


def test_reviews_file_and_merge(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("student,check,points,comment\nann,test_r,1.5,ok\n")
    reviews = load_reviews(path)
    assert reviews == {"ann": {"test_r": (1.5, "ok")}}
    result = GradeResult(impl="x", checks=[_check(name="test_r", id="t::test_r", review=True),
                                           _check(name="test_auto", id="t::test_auto")])
    assert apply_reviews(result, reviews["ann"]) == []
    assert result.checks[0].points == 1.5 and result.checks[0].status == "partial"
    problems = apply_reviews(result, {"test_auto": (1, ""), "nope": (1, ""), "test_r": (5, "")})
    assert len(problems) == 3
    (tmp_path / "bad.csv").write_text("who,points\n")
    with pytest.raises(BatchError, match="missing column"):
        load_reviews(tmp_path / "bad.csv")


def test_find_submissions_and_tree_hash(tmp_path):
    (tmp_path / "class" / "ann smith" / "assignments").mkdir(parents=True)
    (tmp_path / "class" / ".git").mkdir()
    (tmp_path / "class" / "bob").mkdir()
    found = find_submissions(tmp_path / "class")
    assert [s.student for s in found] == ["ann_smith", "bob"]
    single = find_submissions(tmp_path / "class" / "ann smith")
    assert len(single) == 1
    folder = tmp_path / "class" / "ann smith" / "assignments"
    (folder / "a.py").write_text("x = 1\n")
    first = tree_hash(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "a.pyc").write_bytes(b"junk")
    assert tree_hash(folder) == first
    (folder / "a.py").write_text("x = 2\n")
    assert tree_hash(folder) != first
    with pytest.raises(BatchError):
        find_submissions(tmp_path / "missing")
    shutil.rmtree(tmp_path / "class")
