"""The grading plugin judged on tiny suites: points, partial credit, reports, robustness."""

from __future__ import annotations

import base64
import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader import reports, rubric
from grader.results import CheckResult, GradeResult

pytest_plugins = ["pytester"]

SCHEMAS = Path(__file__).resolve().parent.parent / "grader" / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def full_suite(body: str = "pass", overrides: dict | None = None) -> str:
    """A check file declaring exactly the rubric's budget, one check per cell."""
    overrides = overrides or {}
    lines = ["import pytest", ""]
    for category, approach in rubric.cells():
        points = rubric.budget(category, approach)
        if not points:
            continue
        name = f"test_{category}_{approach or 'cross'}"
        code = overrides.get(name, body)
        lines += [
            f"@pytest.mark.rubric({category!r}, {approach!r}, points={points})",
            f"def {name}(impl, credit):",
            f"    '''Student message for {name}.'''",
            textwrap.indent(textwrap.dedent(code), "    "),
            "",
        ]
    return "\n".join(lines)


@pytest.fixture
def kit(pytester):
    """A tiny harness: the plugin, a checks folder and an implementation folder."""
    pytester.makeini("[pytest]\ngrader_checks = checks\ntimeout = 20\n")
    pytester.makeconftest("pytest_plugins = ['grader.plugin']")
    (pytester.path / "checks").mkdir()
    impl = pytester.path / "impl"
    impl.mkdir()
    (impl / "__init__.py").write_text("")

    def write(suite: str, **modules: str):
        (pytester.path / "checks" / "test_suite.py").write_text(suite)
        for name, code in modules.items():
            (impl / f"{name}.py").write_text(textwrap.dedent(code))

    def run(*args: str, subprocess: bool = False):
        out = pytester.path / "result.json"
        gs = pytester.path / "results.json"
        argv = ["checks", f"--impl={impl}", f"--grade-json={out}", f"--gradescope={gs}", *args]
        runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest_inprocess
        res = runner(*argv)
        data = json.loads(out.read_text()) if out.exists() else None
        gsdata = json.loads(gs.read_text()) if gs.exists() else None
        return res, data, gsdata

    return write, run


def test_full_marks_add_up_to_100(kit):
    write, run = kit
    write(full_suite())
    res, data, gs = run()
    jsonschema.validate(data, schema("grade-result"))
    jsonschema.validate(gs, schema("gradescope-results"))
    assert data["totals"]["overall"] == {"earned": 100.0, "max": 100.0}
    assert data["complete"] is True
    assert gs["score"] == 100.0
    res.stdout.fnmatch_lines(["*Score: 100 / 100*"])


def test_partial_credit_is_the_same_number_in_every_report(kit, monkeypatch, tmp_path):
    write, run = kit
    out, summary = tmp_path / "gh_output", tmp_path / "gh_summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write(full_suite(overrides={"test_technical_dspy": "credit(0.375, '3 of 8 records valid')"}))
    res, data, gs = run()
    dspy_points = rubric.budget("technical", "dspy") * 0.375
    check = next(c for c in data["checks"] if c["name"] == "test_technical_dspy")
    assert check["points"] == round(dspy_points, 2) and check["status"] == "partial"
    expected_total = round(100 - rubric.budget("technical", "dspy") + dspy_points, 2)
    assert data["totals"]["overall"]["earned"] == expected_total
    assert gs["score"] == expected_total
    assert next(t for t in gs["tests"] if t["name"] == "test_technical_dspy")["score"] == \
        check["points"]
    payload_line = out.read_text().strip()
    assert payload_line.startswith("result=")
    payload = json.loads(base64.b64decode(payload_line.removeprefix("result=")))
    jsonschema.validate(payload, schema("classroom-result"))
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(expected_total)
    assert payload["max_score"] == 100
    assert f"{expected_total:g} / 100" in summary.read_text()
    res.stdout.fnmatch_lines([f"*Score: {expected_total:g} / 100*"])


@pytest.mark.parametrize("marker, problem", [
    ("@pytest.mark.rubric('technical', 'dspy')", "needs points > 0"),
    ("@pytest.mark.rubric('style', 'dspy', points=1)", "unknown category 'style'"),
    ("@pytest.mark.rubric('technical', 'rag', points=1)", "unknown approach 'rag'"),
    ("@pytest.mark.rubric('technical', 'dspy', points=1)", "technical/dspy: checks declare"),
    ("", "graded check without a rubric marker"),
])
def test_an_inconsistent_rubric_is_refused(kit, marker, problem):
    write, run = kit
    extra = f"\n{marker}\ndef test_extra():\n    pass\n"
    write(full_suite() + extra)
    res, data, _ = run()
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "the rubric is inconsistent, grading refused" in res.stderr.str()
    assert problem in res.stderr.str()


def test_an_unknown_dependency_is_refused_at_collection(kit):
    write, run = kit
    suite = full_suite().replace("points=8.0)", "points=8.0, depends=('test_no_such_check',))")
    write(suite)
    res, _, _ = run()
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "the rubric is inconsistent, grading refused" in res.stderr.str()
    assert "depends on unknown check 'test_no_such_check'" in res.stderr.str()
    res.stdout.no_fnmatch_line("*passed*")  # refused before any check ran


def test_too_many_review_points_are_refused(kit):
    write, run = kit
    suite = full_suite().replace("points=10.0)\ndef test_analysis_cross",
                                 "points=10.0, review=True)\ndef test_analysis_cross")
    suite = suite.replace("points=8.0)", "points=8.0, review=True)")
    write(suite)
    res, _, _ = run()
    assert "review-only points total 18" in res.stderr.str()


def test_stub_reads_not_implemented_yet_without_a_traceback(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_openai": "impl.module('stub').prepare([])"}),
          stub="""
          def prepare(dialogues):
              raise NotImplementedError("TODO: convert dialogues")
          """)
    res, data, _ = run()
    check = next(c for c in data["checks"] if c["name"] == "test_technical_openai")
    assert check["status"] == "failed" and check["points"] == 0
    assert check["detail"] == "not implemented yet: prepare"
    out = res.stdout.str()
    assert "not implemented yet: prepare" in out
    assert "Traceback" not in out and "raise NotImplementedError" not in out


def test_an_import_error_fails_only_the_checks_that_need_the_module(kit):
    write, run = kit
    write(full_suite(overrides={
        "test_technical_lora": "impl.module('broken')",
        "test_technical_openai": "impl.module('broken')",
    }), broken="import nonexistent_package_xyz\n")
    res, data, _ = run()
    by_name = {c["name"]: c for c in data["checks"]}
    for name in ("test_technical_lora", "test_technical_openai"):
        assert by_name[name]["status"] == "error"
        assert by_name[name]["detail"].startswith(
            "could not import broken.py:1: ModuleNotFoundError")
    assert by_name["test_technical_dspy"]["status"] == "passed"
    assert data["complete"] is True


def test_a_failed_prerequisite_skips_and_shows_the_points_as_lost(kit):
    write, run = kit
    suite = full_suite(overrides={"test_technical_dspy": "assert False, 'wrong'"})
    suite = suite.replace(
        "points=8.0)\ndef test_analysis_dspy",
        "points=8.0, depends=('test_technical_dspy',))\ndef test_analysis_dspy")
    write(suite)
    res, data, _ = run()
    check = next(c for c in data["checks"] if c["name"] == "test_analysis_dspy")
    assert check["status"] == "skipped" and check["points"] == 0
    assert "needs test_technical_dspy, which did not pass" in check["detail"]
    res.stdout.fnmatch_lines(["*test_analysis_dspy (0/8)*"])


def test_a_hanging_check_is_cut_off_and_the_run_completes(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_lora": "import time\ntime.sleep(60)"}))
    res, data, _ = run("-o", "timeout=2")
    check = next(c for c in data["checks"] if c["name"] == "test_technical_lora")
    assert check["status"] == "failed" and "took too long" in check["detail"]
    assert data["complete"] is True
    assert data["totals"]["overall"]["earned"] == 100 - rubric.budget("technical", "lora")


def test_a_socket_connection_fails_with_the_host_named(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_openai": """
        import socket
        socket.create_connection(("api.openai.com", 443), timeout=5)
    """}))
    res, data, _ = run()
    check = next(c for c in data["checks"] if c["name"] == "test_technical_openai")
    assert check["status"] == "failed"
    assert "network blocked while grading" in check["detail"]
    assert "api.openai.com:443" in check["detail"]


def test_a_crash_mid_run_still_leaves_valid_reports(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_openai": "import os\nos._exit(0)"}))
    res, data, gs = run(subprocess=True)
    jsonschema.validate(data, schema("grade-result"))
    jsonschema.validate(gs, schema("gradescope-results"))
    assert data["complete"] is False
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert statuses["test_technical_dspy"] == "passed"
    assert statuses["test_technical_openai"] == "not_run"
    assert data["totals"]["overall"]["earned"] == rubric.budget("technical", "dspy")


def test_an_interrupted_run_reports_unfinished_checks_as_zero(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_openai": "raise KeyboardInterrupt"}))
    res, data, _ = run(subprocess=True)
    jsonschema.validate(data, schema("grade-result"))
    assert data["complete"] is False and data["note"] == "the run was interrupted"
    later = [c for c in data["checks"] if c["status"] == "not_run"]
    assert later and all(c["points"] == 0 for c in later)
    assert all(c["detail"] == "the run ended before this check ran" for c in later)


def test_exit_in_student_code_costs_only_that_check(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_dspy": "impl.module('quitter').go()"}),
          quitter="import sys\n\ndef go():\n    sys.exit(0)\n")
    res, data, _ = run()
    check = next(c for c in data["checks"] if c["name"] == "test_technical_dspy")
    assert check["status"] == "failed" and "called exit()" in check["detail"]
    assert data["complete"] is True


def test_review_points_await_review_and_are_filled_from_a_reviews_file(kit, tmp_path):
    write, run = kit
    write(full_suite().replace("points=10.0)\ndef test_analysis_cross",
                               "points=10.0, review=True)\ndef test_analysis_cross"))
    res, data, _ = run()
    check = next(c for c in data["checks"] if c["name"] == "test_analysis_cross")
    assert check["status"] == "review" and check["points"] == 0
    assert data["totals"]["review"] == {"earned": 0.0, "max": 10.0}
    assert data["totals"]["automatic"] == {"earned": 90.0, "max": 90.0}
    res.stdout.fnmatch_lines(["*awaiting review*"])
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("check,points,comment\ntest_analysis_cross,7.5,clear trade-offs\n")
    res, data, _ = run(f"--reviews={reviews}")
    check = next(c for c in data["checks"] if c["name"] == "test_analysis_cross")
    assert check["points"] == 7.5 and check["status"] == "partial"
    assert data["totals"]["overall"]["earned"] == 97.5


def test_two_runs_give_identical_scores(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_dspy": """
        import random
        from hypothesis import given, strategies as st
        seen = []
        @given(st.integers())
        def inner(x):
            seen.append(x)
        inner()
        credit((random.random() + len(seen) % 7) / 8)
    """}))
    _, first, _ = run()
    _, second, _ = run()
    assert [c["points"] for c in first["checks"]] == [c["points"] for c in second["checks"]]


def test_a_partial_run_is_labelled_and_not_refused(kit):
    write, run = kit
    write(full_suite())
    res, data, _ = run("-k", "technical")
    assert data["partial_run"] is True
    assert {c["category"] for c in data["checks"]} == {"technical"}
    res.stdout.fnmatch_lines(["*Partial run*"])


# ---- scoring properties


def checks_strategy():
    cells = [(c, a) for c, a in rubric.cells() if rubric.budget(c, a)]
    one = st.builds(
        lambda cell, max_points, fraction, review: (cell, max_points, fraction, review),
        st.sampled_from(cells), st.floats(0.5, 20), st.floats(0, 1), st.booleans())
    return st.lists(one, min_size=1, max_size=30)


def make_result(spec) -> GradeResult:
    result = GradeResult(impl="x")
    for i, ((category, approach), max_points, fraction, review) in enumerate(spec):
        check = CheckResult(id=f"c{i}", name=f"c{i}", category=category, approach=approach,
                            max_points=round(max_points, 2), review=review)
        check.finish("partial", fraction)
        result.checks.append(check)
    return result


@given(checks_strategy())
def test_earned_never_exceeds_max_and_the_total_is_the_sum_of_its_parts(spec):
    result = make_result(spec)
    totals = result.totals()
    for bucket in [*totals["cells"].values(), *totals["categories"].values(),
                   *totals["approaches"].values(), totals["overall"]]:
        assert bucket["earned"] <= bucket["max"] + 1e-9
    overall = totals["overall"]["earned"]
    assert overall == pytest.approx(sum(b["earned"] for b in totals["categories"].values()))
    assert overall == pytest.approx(sum(b["earned"] for b in totals["approaches"].values()))
    assert overall == pytest.approx(totals["automatic"]["earned"] + totals["review"]["earned"])
    assert overall == pytest.approx(sum(c.points for c in result.checks))
    assert reports.gradescope(result)["score"] == totals["automatic"]["earned"]
    payload = reports.classroom_payload(result)
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(overall)


@given(st.floats(0.1, 10))
def test_scaling_the_weights_rescales_the_budgets(factor):
    scaled = {c: p * factor for c, p in rubric.CATEGORY_POINTS.items()}
    cross = {c: p * factor for c, p in rubric.CROSS_CUTTING_POINTS.items()}
    for category, approach in rubric.cells():
        own = rubric.budget(category, approach)
        if approach is None:
            expected = cross[category]
        else:
            expected = (scaled[category] - cross[category]) * rubric.APPROACH_SHARE[approach]
        assert expected == pytest.approx(own * factor)
    assert sum(rubric.budget(c, a) for c, a in rubric.cells()) == pytest.approx(100)


def test_full_credit_is_exact_for_fractional_points():
    check = CheckResult(id="c", name="c", category="technical", approach="dspy",
                        max_points=0.625)
    check.finish("passed", 1.0)
    assert check.points == check.max_points
    check.finish("partial", 1 / 3)
    assert check.points == 0.2083


def test_a_listed_assertion_message_keeps_its_first_items_on_one_line():
    from grader.plugin import _one_line

    message = "the table has no filled row:\nrow a is empty\nrow b is empty\nrow c\nrow d\nassert 0"
    assert _one_line(message) == ("the table has no filled row: row a is empty; row b is empty; "
                                  "row c; and 1 more")
    assert _one_line("a plain message\nassert 1 == 2") == "a plain message"
    assert _one_line("") == "a check's assertion failed"


def test_the_score_table_ends_the_run_unless_r_is_asked_for(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_dspy": "assert False, 'wrong'"}))
    res, _, _ = run(subprocess=True)
    text = res.stdout.str()
    assert "short test summary info" not in text
    assert text.rindex("Score:") > text.rindex("test_technical_dspy")
    res, _, _ = run("-rf", subprocess=True)
    assert "short test summary info" in res.stdout.str()


def test_the_plugin_stays_dormant_in_another_project(pytester):
    # `pip install -e .` registers the plugin for every pytest run in the environment.
    pytester.makepyfile(test_other="""
        import os, socket

        def test_environment_untouched():
            assert "LLM_KIT_ROOT" not in os.environ
            assert os.environ.get("HF_HUB_OFFLINE") is None

        def test_network_not_guarded():
            assert socket.getaddrinfo.__module__ == "socket"
    """)
    env_before = {k: os.environ.pop(k) for k in ("LLM_KIT_ROOT", "HF_HUB_OFFLINE")
                  if k in os.environ}
    try:
        result = pytester.runpytest_subprocess("-p", "grader.plugin")
    finally:
        os.environ.update(env_before)
    result.assert_outcomes(passed=2)
    assert "Score:" not in result.stdout.str()


def test_a_partly_earned_check_shows_its_points_where_students_look(kit):
    write, run = kit
    write(full_suite(overrides={"test_technical_dspy": "credit(2 / 3, 'two of three parts')"}))
    res, data, _ = run("-v")
    check = next(c for c in data["checks"] if c["name"] == "test_technical_dspy")
    shown = f"{reports.show(check['points'])}/{reports.show(check['max_points'])}"
    res.stdout.fnmatch_lines([f"*test_technical_dspy PARTIAL {shown}*"])
    res.stdout.fnmatch_lines(["*1 partial*"])
    assert check["points"] == round(check["max_points"] * 2 / 3, 4)  # the JSON keeps 4 decimals
    assert f"{round(check['points'], 2):g} / " in res.stdout.str()


def test_the_table_rounds_as_a_person_reads_it():
    assert reports.show(10.6667) == "10.67"
    assert reports.show(7.5) == "7.5"
    assert reports.show(12.0) == "12"
    check = CheckResult(id="c", name="c", category="technical", approach="lora", max_points=2)
    check.finish("partial", 1 / 3)
    result = GradeResult(impl="x")
    result.checks.append(check)
    assert "0.67 / 2" in reports.table(result) and "0.6667" not in reports.table(result)
