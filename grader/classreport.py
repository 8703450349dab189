"""The class similarity report: ``OUT/similarity.html`` and ``OUT/similarity.csv``.

Written by ``grader batch`` beside the gradebook and by ``grader similarity``
alone. The fingerprints and scores come from :mod:`grader.classmatch`; this
module gathers the submissions, runs the comparison and writes the outputs:

- ``similarity.html``: one self-contained page (no network, opens from
  ``file://``): the flagged pairs ranked, each opening a side-by-side view of
  the files they share, the shared passages highlighted in matching colours;
  each submission's best match; what could not be compared and why;
- ``similarity.csv``: one row per flagged pair.

Nothing here changes a score: the report is evidence for course staff.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import classmatch
from .classmatch import CODE, PROSE, ClassReport, Pair
from .results import write_atomic

CSV_FIELDS = ["rank", "student_a", "student_b", "score", "kind", "code_score", "code_shared",
              "prose_score", "prose_shared", "files"]
EVIDENCE = ("This report is evidence for course staff to weigh, never a verdict: it changes "
            "no score. Similar work can have innocent causes (allowed pair work, a shared "
            "tutorial, code everyone copied from the same documentation); read the passages "
            "before you conclude anything.")
MAX_SHOWN_LINES = 4000  # of one file in the side-by-side view
MAX_VIEWS = 100         # flagged pairs given a side-by-side view (the best ones)
COLOURS = 6


def fingerprint_all(folders: dict[str, Path], starter: dict[str, list[int]], jobs: int = 1,
                    done: dict[str, dict] | None = None) -> dict[str, dict]:
    """Fingerprint each ``student -> assignments/`` not already in ``done`` (``jobs`` at once)."""
    records = dict(done or {})
    todo = [student for student in folders if student not in records]
    if jobs > 1 and len(todo) > 8:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            found = pool.map(classmatch.fingerprint_submission,
                             [folders[s] for s in todo], [starter] * len(todo),
                             chunksize=max(1, len(todo) // (4 * jobs)))
            records.update(zip(todo, found, strict=True))
    else:
        for student in todo:
            records[student] = classmatch.fingerprint_submission(folders[student], starter)
    return records


def run_report(folders: dict[str, Path], out: Path, starter: dict[str, list[int]],
               threshold: float = classmatch.DEFAULT_THRESHOLD, jobs: int = 1,
               done: dict[str, dict] | None = None) -> ClassReport:
    """Compare the class, write ``similarity.html`` and ``similarity.csv`` into ``out``.

    ``folders`` maps each student to their ``assignments/``; ``starter`` is
    :func:`grader.classmatch.starter_hashes` of the kit's; ``done`` holds
    fingerprints already made (on Dask workers, with the grading).
    """
    records = fingerprint_all(folders, starter, jobs, done)
    report = classmatch.compare_class(records, threshold)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(report, out / "similarity.csv")
    write_atomic(out / "similarity.html", page(report, folders))
    return report


def summary(report: ClassReport, out: Path) -> str:
    """Two lines for the terminal: what was flagged, where the report is."""
    flagged = len(report.pairs)
    lines = [f"similarity: {len(report.students)} submissions, {report.compared} pairs compared, "
             f"{flagged} pair(s) at or above {report.threshold:g}"
             + "".join(f"\n  {p.a} <-> {p.b}: {p.score:.2f} ({p.kind})"
                       for p in report.pairs[:10])
             + ("\n  ..." if flagged > 10 else "")]
    lines += [f"similarity note: {student}: {note}"
              for student, notes in sorted(report.notes.items()) for note in notes]
    lines.append(f"wrote {out / 'similarity.html'} and {out / 'similarity.csv'} "
                 "(evidence for a person: no score was changed)")
    return "\n".join(lines)


def _files_cell(pair: Pair) -> str:
    return "; ".join(f"{m.file_a} ~ {m.file_b} {m.share_a:.0%}/{m.share_b:.0%}"
                     for m in pair.files)


def write_csv(report: ClassReport, path: Path) -> None:
    """One row per flagged pair, best first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for rank, pair in enumerate(report.pairs, start=1):
            writer.writerow({
                "rank": rank, "student_a": pair.a, "student_b": pair.b,
                "score": round(pair.score, 3), "kind": pair.kind,
                "code_score": round(pair.scores.get(CODE, 0.0), 3),
                "code_shared": pair.shared[CODE],
                "prose_score": round(pair.scores.get(PROSE, 0.0), 3),
                "prose_shared": pair.shared[PROSE], "files": _files_cell(pair),
            })


# ------------------------------------------------------------------ the page
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 24px 40px;color:#1d2127}
h1{font-size:22px;margin:18px 0 6px} h2{font-size:18px;margin:22px 0 8px}
h3{font-size:15px;margin:18px 0 6px}
.evidence{background:#fff6d6;border:1px solid #e6c95c;padding:8px 12px;border-radius:4px}
table.list{border-collapse:collapse;margin:6px 0}
table.list th,table.list td{border-bottom:1px solid #dde;padding:4px 10px;text-align:left;
  vertical-align:top}
table.list th{background:#f0f2f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pair{display:none} .pair:target{display:block} body:has(.pair:target) #list{display:none}
.side{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.col{border:1px solid #ccd;border-radius:4px;min-width:0}
.col .title{background:#f0f2f6;padding:4px 8px;font-weight:600;border-bottom:1px solid #ccd}
.code{margin:0;max-height:70vh;overflow:auto;font:12px/1.4 ui-monospace,monospace}
.line{display:block;white-space:pre;padding-right:8px}
.no{display:inline-block;width:4.5em;color:#889;text-align:right;padding-right:8px;
  user-select:none}
.hl{font-weight:600} .m0{background:#ffd6d6} .m1{background:#d3f0d3} .m2{background:#d6e4ff}
.m3{background:#ffe9c2} .m4{background:#ecd9ff} .m5{background:#cdf3f3}
ol.passages{display:flex;flex-wrap:wrap;gap:3px 12px;padding:0;list-style:none;
  max-height:9em;overflow:auto;font-size:13px} .muted{color:#667}
"""

SCRIPT = """
function bringUp(line) {
  var box = line.closest('.code');
  box.scrollTop += line.getBoundingClientRect().top - box.getBoundingClientRect().top - 40;
}
function openPair() {
  var section = location.hash && document.getElementById(location.hash.slice(1));
  if (!section || !section.classList.contains('pair')) return;
  section.querySelectorAll('.file').forEach(function (block) {
    var first = block.querySelector('a[data-a]');
    if (!first) return;
    [first.dataset.a, first.dataset.b].forEach(function (id) {
      var line = document.getElementById(id);
      if (line) bringUp(line);
    });
  });
}
document.addEventListener('click', function (event) {
  var link = event.target.closest('a[data-a]');
  if (!link) return;
  event.preventDefault();
  [link.dataset.a, link.dataset.b].forEach(function (id) {
    var line = document.getElementById(id);
    if (line) bringUp(line);
  });
});
window.addEventListener('hashchange', openPair);
window.addEventListener('load', openPair);
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _lines_of(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    text, _ = classmatch.read_text(path)
    return None if text is None else text.splitlines()


def _column(title: str, lines: list[str] | None, marks: dict[int, int], prefix: str) -> str:
    if lines is None:
        body = '<span class="line muted">(the file can no longer be read)</span>'
    else:
        shown = lines[:MAX_SHOWN_LINES]
        parts = []
        for number, text in enumerate(shown, start=1):
            colour = marks.get(number)
            extra = "" if colour is None else f" hl m{colour % COLOURS}"
            parts.append(f'<span class="line{extra}" id="{prefix}L{number}">'
                         f'<span class="no">{number}</span>{_e(text)}</span>')
        if len(lines) > len(shown):
            parts.append(f'<span class="line muted">... {len(lines) - len(shown)} more lines '
                         "not shown</span>")
        body = "".join(parts)
    return (f'<div class="col"><div class="title">{_e(title)}</div>'
            f'<pre class="code">{body}</pre></div>')


def _pair_section(number: int, pair: Pair, folders: dict[str, Path]) -> str:
    out = [f'<section class="pair" id="pair-{number}">',
           '<p><a href="#list">&larr; all flagged pairs</a></p>',
           f"<h2>{number}. {_e(pair.a)} and {_e(pair.b)}</h2>",
           f"<p>Code {_percent(pair.scores.get(CODE))} ({pair.shared[CODE]} shared "
           f"fingerprints), prose {_percent(pair.scores.get(PROSE))} ({pair.shared[PROSE]} "
           "shared). Percentages are the share of the smaller submission's own work (starter "
           "code excluded) found in the other.</p>"]
    for index, match in enumerate(pair.files):
        marks_a: dict[int, int] = {}
        marks_b: dict[int, int] = {}
        items = []
        prefix = f"p{number}-{index}-"
        for colour, (a1, a2, b1, b2) in enumerate(match.passages):
            for line in match.lines_a.intersection(range(a1, a2 + 1)):
                marks_a.setdefault(line, colour)
            for line in match.lines_b.intersection(range(b1, b2 + 1)):
                marks_b.setdefault(line, colour)
            items.append(f'<li><a href="#pair-{number}" data-a="{prefix}aL{a1}" '
                         f'data-b="{prefix}bL{b1}" class="m{colour % COLOURS}">'
                         f"{_e(pair.a)} lines {a1}&ndash;{a2} &harr; {_e(pair.b)} lines "
                         f"{b1}&ndash;{b2}</a></li>")
        out.append(f'<div class="file"><h3>{_e(match.file_a)} ({_e(pair.a)}) and '
                   f"{_e(match.file_b)} "
                   f"({_e(pair.b)}): {match.shared} shared fingerprints, "
                   f"{_percent(match.share_a)} and {_percent(match.share_b)} of each file's "
                   "own</h3>")
        out.append(f'<ol class="passages">{"".join(items)}</ol>')
        path_a = folders.get(pair.a)
        path_b = folders.get(pair.b)
        out.append('<div class="side">'
                   + _column(f"{pair.a}: {match.file_a}",
                             _lines_of(path_a / match.file_a if path_a else None),
                             marks_a, prefix + "a")
                   + _column(f"{pair.b}: {match.file_b}",
                             _lines_of(path_b / match.file_b if path_b else None),
                             marks_b, prefix + "b")
                   + "</div></div>")
    out.append("</section>")
    return "\n".join(out)


def _rows(cells: Iterable[Iterable[str]]) -> str:
    return "".join("<tr>" + "".join(cells_row) + "</tr>" for cells_row in cells)


def page(report: ClassReport, folders: dict[str, Path]) -> str:
    """The whole self-contained HTML page."""
    def link(n: int, text: str) -> str:
        return f'<a href="#pair-{n}">{_e(text)}</a>' if n <= MAX_VIEWS else _e(text)

    flagged = [[f'<td class="num" data-pair="{n}" data-a="{_e(p.a)}" data-b="{_e(p.b)}">'
                f"{link(n, str(n))}</td>",
                f"<td>{link(n, p.a)}</td>", f"<td>{link(n, p.b)}</td>",
                f'<td class="num">{_percent(p.scores.get(CODE))}</td>',
                f'<td class="num">{_percent(p.scores.get(PROSE))}</td>',
                f"<td>{_e(_files_cell(p))}</td>"]
               for n, p in enumerate(report.pairs, start=1)]
    best = [[f"<td>{_e(student)}</td>",
             f'<td class="num">{_percent(report.best[student][0])}</td>',
             f"<td>{_e(report.best[student][1] or '-')}</td>",
             f'<td class="num">{report.own[student][CODE]}</td>',
             f'<td class="num">{report.own[student][PROSE]}</td>']
            for student in report.students]
    notes = "".join(f"<li>{_e(student)}: {_e(note)}</li>"
                    for student, items in sorted(report.notes.items()) for note in items)
    listing = (
        '<section id="list">'
        f"<h2>Flagged pairs ({len(report.pairs)}): a score of {report.threshold:.0%} or more</h2>"
        + ('<table class="list" id="pairs"><thead><tr><th>#</th><th>Submission</th>'
           "<th>Submission</th><th>Code</th><th>Prose</th><th>Files (share of each)</th>"
           f"</tr></thead><tbody>{_rows(flagged)}</tbody></table>" if flagged
           else "<p>No pair reaches the threshold.</p>")
        + "<h2>Best match of each submission</h2>"
        '<table class="list" id="best"><thead><tr><th>Submission</th><th>Best match</th>'
        "<th>With</th><th>Own code fingerprints</th><th>Own prose fingerprints</th></tr>"
        f"</thead><tbody>{_rows(best)}</tbody></table>"
        + (f'<h2>Not compared</h2><ul id="notes">{notes}</ul>' if notes else "")
        + "</section>")
    method = (
        f"{len(report.students)} submissions, {report.compared} pairs compared. Code is "
        "compared as tokens (names, strings and numbers normalised; comments and layout "
        f"ignored), {classmatch.CODE_K}-token runs fingerprinted by winnowing; prose as "
        f"{classmatch.PROSE_K}-word runs. The starter code and template text never count, nor "
        f"passages found in more than {classmatch.COMMON_LIMIT} submissions. A pair is "
        f"flagged at a score of {report.threshold:g} (--similarity-threshold) with at least "
        f"{classmatch.MIN_SHARED} shared fingerprints.")
    shown = report.pairs[:MAX_VIEWS]
    sections = "\n".join(_pair_section(n, p, folders) for n, p in enumerate(shown, 1))
    if len(report.pairs) > MAX_VIEWS:
        method += (f" Only the best {MAX_VIEWS} of the {len(report.pairs)} flagged pairs open a "
                   "side-by-side view; similarity.csv lists them all.")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Class similarity report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>Class similarity report</h1>"
        f'<p class="evidence">{_e(EVIDENCE)}</p><p class="muted">{_e(method)}</p>'
        f"{listing}\n{sections}<script>{SCRIPT}</script></body></html>\n")
