"""Renderers: every report is drawn from one :class:`~grader.results.GradeResult`.

- :func:`table` the terminal table (plain text, reads well in a CI log);
- :func:`gradescope` Gradescope's ``results.json``;
- :func:`classroom_payload` the ``result`` output GitHub Classroom's reporter reads;
- :func:`markdown` the job summary and the per-student feedback file.
"""

from __future__ import annotations

import base64
import json

from . import rubric
from .results import FAILED, NOT_RUN, PARTIAL, PASSED, REVIEW, SKIPPED, GradeResult

SYMBOL = {PASSED: "✓", PARTIAL: "◐", FAILED: "✗", SKIPPED: "–", "error": "✗", REVIEW: "?",
          NOT_RUN: "·"}


def _cell(bucket: dict) -> str:
    if bucket["max"] == 0:
        return "—"
    return f"{bucket['earned']:g} / {bucket['max']:g}"


def table_rows(result: GradeResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the score table: criteria x approaches."""
    totals = result.totals()
    columns = [*rubric.APPROACH_SHARE, "cross"]
    header = ["Criterion", *[rubric.APPROACH_TITLES.get(a, "Cross-cutting") for a in columns],
              "Total"]
    rows = []
    for category, title in rubric.CATEGORY_TITLES.items():
        row = [title]
        for approach in columns:
            row.append(_cell(totals["cells"][f"{category}/{approach}"]))
        row.append(_cell(totals["categories"][category]))
        rows.append(row)
    rows.append(["Total", *[_cell(totals["approaches"][a]) for a in columns],
                 _cell(totals["overall"])])
    return header, rows


def table(result: GradeResult) -> str:
    """The score table as plain text, with the review points and notes below it."""
    header, rows = table_rows(result)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    rule = "-" * len(line(header))
    out = [line(header), rule, *[line(r) for r in rows[:-1]], rule, line(rows[-1])]
    totals = result.totals()
    review = totals["review"]
    if review["max"]:
        awaiting = [c for c in result.checks if c.review and c.status == REVIEW]
        out.append(
            f"Automatic points: {_cell(totals['automatic'])}   "
            f"Review points: {_cell(review)}"
            + (f" ({len(awaiting)} check(s) awaiting review by course staff)" if awaiting else "")
        )
    overall = totals["overall"]
    out.append(f"Score: {overall['earned']:g} / {rubric.TOTAL_POINTS:g}")
    if result.partial_run:
        out.append("Partial run: only the selected checks are counted.")
    if not result.complete:
        out.append(f"Run incomplete: {result.note or 'it ended early'}; unfinished checks earn 0.")
    return "\n".join(out)


def _status_word(status: str) -> str:
    return {PASSED: "passed", PARTIAL: "partial credit", REVIEW: "awaiting review",
            SKIPPED: "skipped", NOT_RUN: "not run"}.get(status, "failed")


def gradescope(result: GradeResult) -> dict:
    """Gradescope autograder ``results.json``."""
    tests = []
    for check in result.checks:
        text = check.message if check.status != PASSED else ""
        if check.detail and check.status != PASSED:
            text += f"\n\n{check.detail}"
        tests.append({
            "name": check.name,
            "score": check.points,
            "max_score": check.max_points,
            "status": "passed" if check.status == PASSED else "failed",
            "output": f"[{_status_word(check.status)}] {text}".strip(),
            "visibility": "visible",
        })
    totals = result.totals()
    return {
        "score": totals["overall"]["earned"],
        "output": table(result) if result.complete else "",
        "tests": tests,
    }


def classroom_payload(result: GradeResult) -> dict:
    """The JSON GitHub Classroom's autograding reporter reads (before base64)."""
    totals = result.totals()
    tests = []
    for check in result.checks:
        tests.append({
            "name": check.name,
            "status": "pass" if check.status == PASSED else ("error" if check.status == "error"
                                                              else "fail"),
            "score": check.points,
            "max_score": check.max_points,
            "message": check.message if check.status != PASSED else "",
            "test_code": check.id,
            "filename": check.id.split("::")[0],
            "line_no": 0,
            "execution_time": f"{check.duration:.2f}s",
        })
    status = "pass" if totals["overall"]["earned"] >= totals["overall"]["max"] else "fail"
    if not result.complete:
        status = "error"
    return {
        "version": 1,
        "status": status,
        "max_score": totals["overall"]["max"],
        "tests": tests,
    }


def classroom_output(result: GradeResult) -> str:
    """The base64-encoded ``result`` value for ``$GITHUB_OUTPUT``."""
    raw = json.dumps(classroom_payload(result), ensure_ascii=False).encode()
    return base64.b64encode(raw).decode()


def markdown(result: GradeResult, title: str = "Grading result") -> str:
    """A Markdown report: the table, then every check that lost points and why."""
    header, rows = table_rows(result)
    lines = [f"## {title}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    totals = result.totals()
    lines.append("")
    lines.append(f"**Score: {totals['overall']['earned']:g} / {rubric.TOTAL_POINTS:g}** "
                 f"(automatic {_cell(totals['automatic'])}, review {_cell(totals['review'])})")
    if not result.complete:
        lines.append(f"\n> Run incomplete: {result.note or 'it ended early'}.")
    lost = [c for c in result.checks if c.points < c.max_points]
    if lost:
        lines += ["", "### Checks that did not earn full points", ""]
        for check in lost:
            lines.append(f"- {SYMBOL.get(check.status, '✗')} **{check.name}** "
                         f"({check.points:g}/{check.max_points:g}, {_status_word(check.status)}): "
                         f"{check.message}")
            if check.detail:
                detail = check.detail.strip().splitlines()
                lines.append("  <details><summary>detail</summary>\n\n  ```\n  "
                             + "\n  ".join(detail[:20]) + "\n  ```\n  </details>")
    return "\n".join(lines) + "\n"
