"""Grade a whole class: ``python -m grader batch SUBMISSIONS_DIR --out OUT_DIR``.

Each folder of ``SUBMISSIONS_DIR`` is one student's repository (a plain folder
or a git checkout, as ``gh classroom clone student-repos`` produces); its name
is the student's name in the gradebook. Only its ``assignments/`` is graded,
inside a fresh copy of the instructor's harness (see :mod:`grader.sandbox`).

``OUT_DIR`` receives:

- ``results/<student>.json``: the raw result of each submission (the cache
  that makes a batch resumable: a submission is graded again only when its
  files or the checks changed, or with ``--force``);
- ``gradebook.csv``: one row per student;
- ``feedback/<student>.md``: the report the student would see;
- ``logs/<student>.log``: the grading run's output, for instructors;
- ``scores.png``: the score distribution;
- ``similarity.html`` and ``similarity.csv``: who shares code or prose with
  whom (:mod:`grader.classreport`); the gradebook's ``match_score`` and
  ``match_with`` give each student's closest match. It never changes a score.

Review points (``--reviews FILE``, a CSV ``student,check,points,comment``) are
merged when the outputs are written, so scoring reviews never needs a regrade.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import manifest, reports, rubric
from .results import PARTIAL, PASSED, REVIEW, GradeResult, checks_hash, write_atomic, write_json
from .sandbox import (
    FAILED_RUN,
    OK,
    Limits,
    Outcome,
    build_template,
    expected_checks,
    grade_submission,
)
from .sandbox.isolation import NOT_ISOLATED_NOTE, bwrap_usable, describe
from .seam import REPO_ROOT
from .threads import share

GRADEBOOK_FIELDS = [
    "student", "status", "total", "max", "automatic", "review",
    *rubric.CATEGORY_POINTS, *rubric.APPROACH_SHARE, "cross",
    "checks_passed", "checks", "edited_files", "duration_s", "kit_version", "checks_hash",
    "graded_at", "note", "match_score", "match_with",
]


class BatchError(Exception):
    """A problem with the batch's inputs; the message is for the instructor."""


@dataclass
class Submission:
    """One student's repository."""

    student: str
    root: Path

    @property
    def assignments(self) -> Path:
        """The folder that is graded."""
        return self.root / "assignments"


# ------------------------------------------------------------------ inputs
def safe_name(name: str) -> str:
    """A file-name-safe form of a student name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"


def find_submissions(directory: Path) -> list[Submission]:
    """Every student repository under ``directory`` (or ``directory`` itself if it is one)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BatchError(f"{directory}: not a folder of submissions")
    if (directory / "assignments").is_dir():
        return [Submission(safe_name(directory.resolve().name), directory)]
    found, seen = [], set()
    for path in sorted(directory.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        name = safe_name(path.name)
        if name in seen:
            raise BatchError(f"two submissions map to the same name {name!r}")
        seen.add(name)
        found.append(Submission(name, path))
    if not found:
        raise BatchError(f"{directory}: no submission folders in it")
    return found


def tree_hash(directory: Path) -> str:
    """A hash of a folder's regular files (names and contents), ignoring caches."""
    digest = hashlib.sha256()
    if not directory.is_dir():
        return ""
    for path in sorted(directory.rglob("*")):
        if "__pycache__" in path.parts or path.is_symlink() or not path.is_file():
            continue
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def load_reviews(path: Path) -> dict[str, dict[str, tuple[float, str]]]:
    """Read a reviews CSV (``student,check,points[,comment]``): student -> check -> points."""
    reviews: dict[str, dict[str, tuple[float, str]]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"student", "check", "points"} - set(reader.fieldnames or [])
            if missing:
                raise BatchError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                 "expected student,check,points,comment")
            for number, row in enumerate(reader, start=2):
                try:
                    points = float(row["points"])
                except (TypeError, ValueError):
                    raise BatchError(f"{path}:{number}: points must be a number, "
                                     f"got {row['points']!r}") from None
                student = safe_name((row["student"] or "").strip())
                check = (row["check"] or "").strip()
                comment = (row.get("comment") or "").strip()
                reviews.setdefault(student, {})[check] = (points, comment)
    except OSError as exc:
        raise BatchError(f"--reviews {path}: {exc.strerror}") from None
    return reviews


def apply_reviews(result: GradeResult, scores: dict[str, tuple[float, str]]) -> list[str]:
    """Fill review checks from an instructor's scores; return problems (unknown checks...)."""
    problems = []
    for name, (points, comment) in scores.items():
        matches = [c for c in result.checks if name in (c.name, c.id)]
        if not matches:
            problems.append(f"no check named {name!r}")
            continue
        for check in matches:
            if not check.review:
                problems.append(f"{name} is scored automatically, not by review")
                continue
            if not 0 <= points <= check.max_points:
                problems.append(f"{name}: {points:g} points is outside 0..{check.max_points:g}")
                continue
            check.finish(REVIEW, points / check.max_points, comment)
            check.status = PASSED if points >= check.max_points else PARTIAL
    return problems


# ------------------------------------------------------------------ outputs
def gradebook_row(record: dict, result: GradeResult) -> dict:
    """One gradebook row: totals per category and approach, status, provenance."""
    totals = result.totals()
    row = {
        "student": record["student"],
        "status": record["status"],
        "total": totals["overall"]["earned"],
        "max": rubric.TOTAL_POINTS,
        "automatic": totals["automatic"]["earned"],
        "review": totals["review"]["earned"],
    }
    for category in rubric.CATEGORY_POINTS:
        row[category] = totals["categories"][category]["earned"]
    for approach in [*rubric.APPROACH_SHARE, "cross"]:
        row[approach] = totals["approaches"][approach]["earned"]
    row["checks_passed"] = sum(1 for c in result.checks if c.status == PASSED)
    row["checks"] = len(result.checks)
    edits = record.get("edited_files")
    row["edited_files"] = "" if edits is None else len(edits)
    row["duration_s"] = round(record.get("duration", 0.0), 1)
    row["kit_version"] = result.kit_version
    row["checks_hash"] = result.checks_hash
    row["graded_at"] = record.get("graded_at", "")
    isolation = NOT_ISOLATED_NOTE if record.get("isolated") is False else ""
    row["note"] = "; ".join(filter(None, [record.get("reason", ""), *record.get("flags", []),
                                          *record.get("notes", []), _edits_note(edits),
                                          isolation]))
    return row


def _edits_note(edits: list[str] | None) -> str:
    if not edits:
        return ""
    shown = [line.split()[-1] for line in edits if not line.startswith("missing")][:5]
    missing = sum(line.startswith("missing") for line in edits)
    parts = [f"edited grader files (ignored): {', '.join(shown)}" if shown else ""]
    if missing:
        parts.append(f"{missing} grader file(s) deleted (ignored)")
    return "; ".join(p for p in parts if p)


def verify_submission(root: Path) -> list[str] | None:
    """The grader files a repository changed (``grader verify``), None without a grader/."""
    if not (root / "grader").is_dir():
        return None
    try:
        return manifest.compare(root, manifest.load()).lines()
    except (OSError, ValueError, KeyError):
        return None


def feedback(record: dict, result: GradeResult) -> str:
    """The Markdown feedback file of one student."""
    lines = [f"# Feedback: {record['student']}", ""]
    if record["status"] == "tampered":
        lines += ["> **This submission's grading run was flagged** and its automatic points "
                  "are withheld until course staff review it:", ""]
        lines += [f"> - {flag}" for flag in record.get("flags", [])] + [""]
    elif record["status"] != OK:
        lines += [f"> **The grading run did not complete:** {record.get('reason', '')}. "
                  "Checks that did not run earn 0.", ""]
    lines.append(reports.markdown(result, title="Grading result"))
    lines.append(f"\n_Graded with kit {result.kit_version}, checks {result.checks_hash}._\n")
    return "\n".join(lines)


def plot_distribution(totals: list[float], path: Path) -> None:
    """A histogram of the class's total scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    top = rubric.TOTAL_POINTS
    ax.hist(totals, bins=[top * i / 20 for i in range(21)], color="#4C72B0", edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"total score (out of {top:g})")
    ax.set_ylabel("students")
    if totals:
        ax.axvline(statistics.mean(totals), color="#DD8452", linestyle="--",
                   label=f"mean {statistics.mean(totals):.1f}")
        ax.legend()
    ax.set_title(f"Score distribution ({len(totals)} submissions)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_table(rows: list[dict]) -> str:
    """A plain-text table of the gradebook with class statistics."""
    columns = ["student", "status", "total", *rubric.CATEGORY_POINTS, "duration_s"]
    titles = ["Student", "Status", "Total", "Technical", "Analysis", "Creativity",
              "Presentation", "Time (s)"]
    cells = [[str(r[c]) if not isinstance(r[c], float) else f"{r[c]:g}" for c in columns]
             for r in rows]
    widths = [max(len(t), *(len(row[i]) for row in cells)) if cells else len(t)
              for i, t in enumerate(titles)]
    out = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True))]
    out.append("-" * len(out[0]))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    totals = [r["total"] for r in rows]
    if totals:
        out.append("-" * len(out[0]))
        out.append(f"{len(totals)} submissions: mean {statistics.mean(totals):.1f}, "
                   f"median {statistics.median(totals):g}, min {min(totals):g}, "
                   f"max {max(totals):g} / {rubric.TOTAL_POINTS:g}; "
                   f"{sum(r['status'] != OK for r in rows)} flagged or incomplete")
    return "\n".join(out)


def write_outputs(out: Path, reviews: dict | None,
                  matches: dict[str, tuple[float, str]] | None = None,
                  ) -> tuple[list[dict], list[str]]:
    """Rebuild gradebook, feedback and plot from the cached results; return rows, warnings.

    ``matches`` (student -> best similarity score, with whom) fills the
    gradebook's two similarity columns; they are left empty without it.
    """
    rows, warnings = [], []
    reviews = reviews or {}
    records = []
    for path in sorted((out / "results").glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            warnings.append(f"{path}: unreadable result, grade it again with --force")
    known = {r["student"] for r in records}
    for student in sorted(set(reviews) - known):
        warnings.append(f"reviews: no submission named {student!r}")
    for record in records:
        result = GradeResult.from_dict(record["result"])
        for problem in apply_reviews(result, reviews.get(record["student"], {})):
            warnings.append(f"reviews for {record['student']}: {problem}")
        rows.append(gradebook_row(record, result))
        rows[-1].update(match_columns(record["student"], matches))
        write_atomic(out / "feedback" / f"{record['student']}.md", feedback(record, result))
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=GRADEBOOK_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    plot_distribution([r["total"] for r in rows], out / "scores.png")
    return rows, warnings


# ------------------------------------------------------------------ similarity
def match_columns(student: str, matches: dict[str, tuple[float, str]] | None) -> dict:
    """The gradebook's similarity columns: the closest match's score and who it is."""
    score, other = (matches or {}).get(student, (None, ""))
    return {"match_score": "" if score is None or not other else score, "match_with": other}


def similarity_report(submissions: list[Submission], out: Path, starter: dict | None,
                      threshold: float, jobs: int, fingerprints: dict) -> dict:
    """Write the class similarity report; return each student's best match.

    Fingerprints made on the Dask workers come in ``fingerprints``; the rest
    are made here. A failure costs the report, never the gradebook.
    """
    from . import classreport

    if starter is None:
        return {}
    folders = {s.student: s.assignments for s in submissions}
    try:
        report = classreport.run_report(folders, out, starter, threshold, jobs, fingerprints)
    except Exception as exc:  # noqa: BLE001 - the gradebook must still be written
        print(f"warning: similarity report not written ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return {}
    if fingerprints:
        print(f"similarity: {len(fingerprints)} submission(s) fingerprinted on the Dask workers",
              file=sys.stderr)
    print(classreport.summary(report, out), file=sys.stderr)
    return report.best


def starter_fingerprints(source_root: Path, similarity: bool) -> dict | None:
    """The starter code's fingerprints (the kit's ``assignments/``), None when not wanted."""
    if not similarity:
        return None
    from . import classmatch

    return classmatch.starter_hashes(Path(source_root) / "assignments")


# ------------------------------------------------------------------ the batch
def _cached(path: Path, source_hash: str, current_hash: str) -> bool:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (record.get("source_hash") == source_hash
            and record.get("result", {}).get("checks_hash") == current_hash)


def _progress(done: int, total: int, text: str) -> None:
    width = 24
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    print(f"[{bar}] {done}/{total} {text}", file=sys.stderr, flush=True)


def missing_assignments(expected: GradeResult) -> Outcome:
    """What a repository without ``assignments/`` earns: nothing, with the reason."""
    result = GradeResult(impl="assignments", kit_version=expected.kit_version,
                         checks_hash=expected.checks_hash)
    result.checks = [type(c)(**{**asdict(c), "points": 0.0, "status": "not_run",
                                "detail": "no assignments/ folder"})
                     for c in expected.checks]
    reason = "no assignments/ folder in the submission"
    result.note = reason
    return Outcome(status=FAILED_RUN, reason=reason, result=result, duration=0.0)


def store(submission: Submission, out: Path, source_hash: str, outcome: Outcome,
          isolated: bool | None) -> dict:
    """Write one finished grading under ``out/results`` and ``out/logs``; return its record."""
    record = {
        "student": submission.student,
        "status": outcome.status,
        "reason": outcome.reason,
        "flags": outcome.flags,
        "notes": outcome.notes,
        "duration": outcome.duration,
        "isolated": isolated,
        "source_hash": source_hash,
        "edited_files": verify_submission(submission.root),
        "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "result": outcome.result.to_dict(),
    }
    write_json(out / "results" / f"{submission.student}.json", record)
    write_atomic(out / "logs" / f"{submission.student}.log", outcome.log)
    return record


def grade_one(submission: Submission, template: Path, expected: GradeResult, limits: Limits,
              out: Path, source_hash: str, private: tuple[Path, ...] = ()) -> dict:
    """Grade one submission and store its record under ``out/results``."""
    if not submission.assignments.is_dir():
        return store(submission, out, source_hash, missing_assignments(expected), None)
    outcome = grade_submission(template, submission.assignments, expected, limits,
                               private=(*private, out.resolve()))
    return store(submission, out, source_hash, outcome, outcome.isolated)


def _report(number: int, total: int, record: dict) -> None:
    earned = record["result"]["totals"]["overall"]["earned"]
    status = record["status"]
    extra = "" if status == OK else f" [{status}: " + (
        record["reason"] or "; ".join(record["flags"]))[:100] + "]"
    _progress(number, total, f"{record['student']}: {earned:g} "
              f"({record['duration']:.0f} s){extra}")


def _grade_locally(todo: list, template: Path, expected: GradeResult, limits: Limits,
                   out: Path, jobs: int, private: tuple[Path, ...]) -> int:
    limits.threads = share(jobs)
    if limits.isolate is None:
        limits.isolate = bwrap_usable()
    print(describe(limits.isolate), file=sys.stderr)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, s, template, expected, limits, out, h, private): s
                   for s, h in todo}
        for number, future in enumerate(as_completed(futures), start=1):
            _report(number, len(todo), future.result())
    return 0


def _grade_on_cluster(scheduler: str, todo: list, template: Path, expected: GradeResult,
                      limits: Limits, out: Path, starter: dict | None = None,
                      fingerprints: dict | None = None) -> int:
    """Grade on Dask workers; only finished gradings are stored. Return the exit code.

    With ``starter`` the workers also fingerprint each submission for the
    similarity report, into ``fingerprints`` (student -> record).
    """
    from . import cluster  # imports dask: only with --scheduler

    counter = {"done": 0, "failed": 0, "not_isolated": 0}
    remote = []
    for submission, source_hash in todo:
        if submission.assignments.is_dir():
            remote.append((submission, source_hash))
            continue
        counter["done"] += 1
        _report(counter["done"], len(todo), store(submission, out, source_hash,
                                                  missing_assignments(expected), None))

    def done(submission, source_hash, outcome):
        counter["done"] += 1
        if not outcome.isolated:
            if not counter["not_isolated"]:
                print(describe(False).replace("submissions are", "submissions on some worker "
                                              "are"), file=sys.stderr)
            counter["not_isolated"] += 1
        _report(counter["done"], len(todo), store(submission, out, source_hash, outcome,
                                                  outcome.isolated))

    def failed(submission, error):
        counter["failed"] += 1
        print(f"error: {submission.student} was not graded ({type(error).__name__}: {error}); "
              "run the same command again to grade it", file=sys.stderr)

    def fingerprinted(submission, record):
        if fingerprints is not None:
            fingerprints[submission.student] = record

    cluster.grade_on_cluster(scheduler, remote, template, expected, limits, done, failed,
                             starter=starter, fingerprinted=fingerprinted)
    return 1 if counter["failed"] else 0


def run_batch(submissions_dir: Path, out: Path, jobs: int = 1, reviews_path: Path | None = None,
              force: bool = False, limits: Limits | None = None,
              source_root: Path = REPO_ROOT, scheduler: str | None = None,
              similarity: bool = True, similarity_threshold: float | None = None) -> int:
    """Grade every submission, then write the outputs; return the exit code.

    With ``scheduler`` (a Dask scheduler's address) the gradings run on its
    workers (see :mod:`grader.cluster`); otherwise ``jobs`` at a time here.
    With ``similarity`` the class similarity report is written too (its
    fingerprints made on the workers with ``scheduler``).
    """
    limits = limits or Limits()
    out = Path(out)
    submissions = find_submissions(Path(submissions_dir))
    reviews = load_reviews(reviews_path) if reviews_path else None
    out.mkdir(parents=True, exist_ok=True)
    current = checks_hash(Path(source_root) / "grader" / "checks")
    code = 0
    starter = starter_fingerprints(source_root, similarity)
    fingerprints: dict[str, dict] = {}
    todo = []
    for submission in submissions:
        source = tree_hash(submission.assignments)
        if force or not _cached(out / "results" / f"{submission.student}.json", source, current):
            todo.append((submission, source))
    skipped = len(submissions) - len(todo)
    print(f"{len(submissions)} submission(s); {len(todo)} to grade, {skipped} already graded"
          + (" (use --force to grade them again)" if skipped else ""), file=sys.stderr)
    if todo:
        staging = Path(tempfile.mkdtemp(prefix="grader-harness-"))
        try:
            template = build_template(Path(source_root), staging / "harness")
            expected = expected_checks(template)
            started = time.monotonic()
            if scheduler:
                code = _grade_on_cluster(scheduler, todo, template, expected, limits, out,
                                         starter, fingerprints)
            else:
                private = (Path(submissions_dir).resolve(),)
                code = _grade_locally(todo, template, expected, limits, out, jobs, private)
            print(f"graded {len(todo)} in {time.monotonic() - started:.0f} s",
                  file=sys.stderr)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    from .classmatch import DEFAULT_THRESHOLD

    matches = similarity_report(submissions, out, starter, similarity_threshold
                                or DEFAULT_THRESHOLD, jobs, fingerprints)
    rows, warnings = write_outputs(out, reviews, matches)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary_table(rows))
    print(f"\nwrote {out / 'gradebook.csv'}, {out / 'feedback'}/, {out / 'scores.png'}"
          + (f", {out / 'similarity.html'}" if matches else ""))
    return code
