"""Renderers: every report is drawn from one :class:`~grader.results.GradeResult`.

- :func:`table` the terminal table (plain text, reads well in a CI log);
- :func:`gradescope` Gradescope's ``results.json``;
- :func:`classroom_payload` the ``result`` output GitHub Classroom's reporter reads;
- :func:`markdown` the job summary and the per-student feedback file.
"""

from __future__ import annotations

import base64
import json
import math

from . import rubric
from .results import FAILED, NOT_RUN, PARTIAL, PASSED, REVIEW, SKIPPED, GradeResult

SYMBOL = {PASSED: "✓", PARTIAL: "◐", FAILED: "✗", SKIPPED: "–", "error": "✗", REVIEW: "?",
          NOT_RUN: "·"}


def show(points: float) -> str:
    """Points as a person reads them: at most two decimals (10.67, 7.5, 12); JSON keeps more."""
    return f"{round(points, 2):g}"


def _cell(bucket: dict) -> str:
    if bucket["max"] == 0:
        return "—"
    return f"{show(bucket['earned'])} / {show(bucket['max'])}"


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
    out.append(f"Score: {show(overall['earned'])} / {show(rubric.TOTAL_POINTS)}")
    if result.partial_run:
        out.append("Partial run: only the selected checks are counted.")
    if not result.complete:
        out.append(f"Run incomplete: {result.note or 'it ended early'}; unfinished checks earn 0.")
    return "\n".join(out)


def ago(seconds: float) -> str:
    """An age as a person says it: ``40 s ago``, ``2 min ago``, ``3 h ago``, ``2 days ago``."""
    seconds = max(0.0, seconds)
    for size, unit in ((86400, " days"), (3600, " h"), (60, " min")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count}{unit.removesuffix('s') if count == 1 else unit} ago"
    return f"{int(seconds)} s ago"


def cache_lines(cached: dict[str, float], now: float) -> list[str]:
    """One line per experiment read from the cache: ``LoRA experiment: from cache, 2 min ago``.

    ``cached`` maps each experiment's title to when its figures were computed (a timestamp).
    """
    lines = [f"{title}: from cache, {ago(now - created)}" for title, created in cached.items()]
    if lines:
        lines.append("(unchanged code since that run; pytest --no-cache runs every experiment "
                     "again, --clear-cache empties the cache)")
    return lines


def _status_word(status: str) -> str:
    return {PASSED: "passed", PARTIAL: "partial credit", REVIEW: "awaiting review",
            SKIPPED: "skipped", NOT_RUN: "not run"}.get(status, "failed")


def gradescope(result: GradeResult) -> dict:
    """Gradescope autograder ``results.json`` (its published specification).

    Only automatic checks are tests here, and ``score`` is the automatic
    total: review points belong to a manually graded question on Gradescope
    (see docs/INSTRUCTORS.md); ``output`` names them apart. It also says why
    when the run is incomplete. ``output_format`` is ``md`` so the score table
    renders as a table (the default format collapses the spaces that align the
    plain-text one).
    """
    tests = []
    for check in result.checks:
        if check.review:
            continue
        text = check.message if check.status != PASSED else ""
        if check.detail and check.status != PASSED:
            text += f"\n\n{check.detail}"
        tests.append({
            "name": check.name,
            "score": check.points,
            "max_score": check.max_points,
            "status": "passed" if check.status == PASSED else "failed",
            "output": f"[{_status_word(check.status)}] {text}".strip(),
            "output_format": "text",
            "visibility": "visible",
        })
    totals = result.totals()
    lines = []
    if not result.complete:
        lines += [f"**Run incomplete:** {result.note or 'it ended early'}; the checks that "
                  "did not finish earn 0.", ""]
    lines.append(markdown(result, title="Score table").rstrip())
    review = totals["review"]
    if review["max"]:
        lines += ["", f"Review points ({review['max']:g}) are not part of this autograder "
                  "score: course staff give them in a separately graded question."]
    return {
        "score": totals["automatic"]["earned"],
        "output": "\n".join(lines),
        "output_format": "md",
        "stdout_visibility": "visible",
        "tests": tests,
    }


# Review checks (points only course staff can give) are sent with this status:
# neither "pass" nor "fail"/"error", so they never turn the job red and are
# never shown as passed. Their maximum stays in the top-level max_score, so
# Classroom records e.g. 90/100 for a perfect automatic run: the missing 10 are
# the review points, awaiting staff.
CLASSROOM_PENDING = "pending"


def classroom_status(check) -> str:
    """One check's status as the classroom reporter reads it."""
    if check.status == PASSED:
        return "pass"
    if check.review:
        return CLASSROOM_PENDING
    return "error" if check.status == "error" else "fail"


def js_sum(values) -> float:
    """The sum JavaScript computes with ``reduce((a, b) => a + b, 0)``: doubles, left to right."""
    total = 0.0
    for value in values:
        total += value
    return total


def _reach(running: float, target: float) -> float | None:
    """A score with ``running + score == target`` as doubles, or None if the last bit cannot."""
    score = max(target - running, 0.0)
    for _ in range(4):
        reached = running + score
        if reached == target:
            return score
        score = math.nextafter(score, math.inf if reached < target else -math.inf)
    return None


def _neighbours(value: float, count: int) -> list[float]:
    """The ``count`` doubles above and below ``value``, nearest first."""
    up, down, out = value, value, []
    for _ in range(count):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def exact_scores(points: list[float], total: float) -> list[float]:
    """Per-check scores, each within rounding of ``points``, whose double sum is exactly ``total``.

    The reporter adds the scores as JavaScript numbers without rounding, so
    sending the checks' own points can give ``77.66669999999999`` for
    77.6667. Here score ``i`` is the difference of two consecutive rounded
    running totals, so the running sum follows the rounded totals; the last
    score lands it exactly on ``total``. When the last bit of the running sum
    makes that impossible, an earlier nonzero score moves by a few bits.
    """
    nonzero_points = [i for i, p in enumerate(points) if p > 0]
    if not nonzero_points:
        return [0.0] * len(points)
    end = nonzero_points[-1] + 1  # trailing zero scores stay exactly zero
    return _exact_prefix(points[:end], total) + [0.0] * (len(points) - end)


def _exact_prefix(points: list[float], total: float) -> list[float]:
    targets = [round(math.fsum(points[: i + 1]), 4) for i in range(len(points) - 1)]
    scores, running = [], 0.0
    for target in targets:
        score = _reach(running, target)
        score = max(target - running, 0.0) if score is None else score
        scores.append(score)
        running += score
    last = _reach(running, total)
    nonzero = [i for i, score in enumerate(scores) if score > 0]
    if last is None and nonzero:
        # Move the running sum by a few bits through the last nonzero score
        # (the scores after it are zero, so the running sum is its partial sum).
        j = nonzero[-1]
        before = js_sum(scores[:j])
        for nudged in _neighbours(running, 4):
            score_j, last = _reach(before, nudged), _reach(nudged, total)
            if score_j is not None and last is not None:
                scores[j] = score_j
                break
            last = None
    if last is None:  # pragma: no cover - not seen for totals up to 100 with 4 decimals
        last = max(total - running, 0.0)
    return [*scores, last]


def classroom_payload(result: GradeResult) -> dict:
    """The JSON GitHub Classroom's autograding reporter reads (before base64).

    The reporter fails its step when the top-level ``status`` is ``fail`` or
    ``error`` and sends Classroom the sum of ``tests[].score`` over
    ``max_score``. So: ``status`` is ``pass`` exactly when every automatic
    point is earned in a complete run; no test is ``fail``/``error`` then
    (review checks are ``pending``); the scores sum, as doubles, to the kit's
    total.
    """
    totals = result.totals()
    automatic = totals["automatic"]
    scores = exact_scores([c.points for c in result.checks], totals["overall"]["earned"])
    tests = []
    for check, score in zip(result.checks, scores, strict=True):
        status = classroom_status(check)
        message = "" if status == "pass" else check.message
        name = check.name
        if status == CLASSROOM_PENDING:
            name += " (awaiting review)"
            message = message or f"up to {check.max_points:g} points given by course staff"
        tests.append({
            "name": name,
            "status": status,
            "score": score,
            "max_score": check.max_points,
            "message": message,
            "test_code": check.id,
            "filename": check.id.split("::")[0],
            "line_no": 0,
            "execution_time": f"{check.duration:.2f}s",
        })
    earned_all = automatic["earned"] >= automatic["max"] and not any(
        t["status"] in ("fail", "error") for t in tests)
    if not result.complete:
        status = "error"
    else:
        status = "pass" if earned_all else "fail"
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
    lines.append(f"**Score: {show(totals['overall']['earned'])} / {show(rubric.TOTAL_POINTS)}** "
                 f"(automatic {_cell(totals['automatic'])}, review {_cell(totals['review'])})")
    awaiting = sum(c.max_points for c in result.checks if c.review and c.status == REVIEW)
    if awaiting:
        lines.append(f"\n{awaiting:g} review points are awaiting review by course staff.")
    if not result.complete:
        lines.append(f"\n> Run incomplete: {result.note or 'it ended early'}.")
    lost = [c for c in result.checks if c.points < c.max_points]
    if lost:
        lines += ["", "### Checks that did not earn full points", ""]
        for check in lost:
            lines.append(f"- {SYMBOL.get(check.status, '✗')} **{check.name}** "
                         f"({show(check.points)}/{show(check.max_points)}, "
                         f"{_status_word(check.status)}): "
                         f"{check.message}")
            if check.detail:
                detail = check.detail.strip().splitlines()
                lines.append("  <details><summary>detail</summary>\n\n  ```\n  "
                             + "\n  ".join(detail[:20]) + "\n  ```\n  </details>")
    return "\n".join(lines) + "\n"
