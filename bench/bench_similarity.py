"""The class similarity report at scale: 50, 100 and 300 synthetic submissions.

    python bench/bench_similarity.py [--sizes 50,100,300] [--jobs 2] [--copydetect]

Each synthetic submission is the kit's stubs with its own work added: in each
of the three approach modules about as much code as the reference's solutions
(lines drawn at random, in a random order, from the kit's own Python sources,
with a per-submission suffix on every identifier), and an ANALYSIS.md whose
answers are sentences of random words from the kit's docs. One submission in
twenty is a copy of another (its modules verbatim, its analysis with one word
in ten replaced): the bench checks that exactly those pairs are flagged.

For each size it reports, in one run, the seconds of: the starter code's
fingerprints, fingerprinting every submission (``--jobs`` processes), the
comparison of the whole class, and the HTML and CSV written; and the total.
With ``--copydetect`` (``pip install copydetect==0.5.0``) it also times
copydetect's ``CopyDetector`` on the smallest class's code, for comparison.
The machine may be shared: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from copycases import swap_words  # noqa: E402

from grader import classmatch, classreport  # noqa: E402

MODULES = ("dspy_example.py", "openai_finetune.py", "huggingface_lora.py")
PLACEHOLDER = "_Replace this line with your answer._"
COPY_EVERY = 20


def pools() -> tuple[list[str], list[str]]:
    """Code lines of the kit's own sources, and words of its docs."""
    lines = []
    for path in sorted([*(ROOT / "grader").rglob("*.py"), *(ROOT / "reference").glob("*.py")]):
        lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                  if len(line.strip()) > 20 and not line.strip().startswith("#")]
    words = re.findall(r"[A-Za-z]+", (ROOT / "README.md").read_text(encoding="utf-8")
                       + (ROOT / "docs" / "INSTRUCTORS.md").read_text(encoding="utf-8"))
    return lines, words


def own_code(rng: random.Random, lines: list[str], tag: str, size: int) -> str:
    """About ``size`` characters of code lines in a random order, identifiers tagged."""
    out, total = [], 0
    while total < size:
        line = re.sub(r"\b([a-z_]\w*)\b", rf"\1_{tag}", rng.choice(lines))
        out.append("    " + line)
        total += len(line)
    return "\n\ndef own_work_" + tag + "():\n" + "\n".join(out) + "\n"


def own_analysis(rng: random.Random, words: list[str], template: str) -> str:
    """The template with each answer a paragraph of random words."""
    text = template
    while PLACEHOLDER in text:
        text = text.replace(PLACEHOLDER, " ".join(rng.choice(words) for _ in range(60)), 1)
    return text


def make_class(folder: Path, count: int, seed: int = 0) -> set[tuple[str, str]]:
    """``count`` submissions under ``folder``; return the planted copied pairs."""
    rng = random.Random(seed)
    lines, words = pools()
    stubs = ROOT / "assignments"
    template = (stubs / "ANALYSIS.md").read_text(encoding="utf-8")
    sizes = {name: len((ROOT / "reference" / name).read_text()) - len((stubs / name).read_text())
             for name in MODULES}
    copied = set()
    for number in range(count):
        name = f"s{number:03d}"
        target = folder / name / "assignments"
        shutil.copytree(stubs, target, ignore=shutil.ignore_patterns("__pycache__"))
        if number % COPY_EVERY == COPY_EVERY - 1:
            source = folder / f"s{number - 1:03d}" / "assignments"
            for module in MODULES:
                shutil.copyfile(source / module, target / module)
            (target / "ANALYSIS.md").write_text(swap_words((source / "ANALYSIS.md").read_text()))
            copied.add((f"s{number - 1:03d}", name))
            continue
        for module in MODULES:
            path = target / module
            path.write_text(path.read_text() + own_code(rng, lines, f"{number}", sizes[module]))
        (target / "ANALYSIS.md").write_text(own_analysis(rng, words, template))
    return copied


def time_class(count: int, jobs: int, work: Path) -> dict:
    folder = work / f"class{count}"
    planted = make_class(folder, count)
    folders = {path.name: path / "assignments" for path in sorted(folder.iterdir())}
    times = {}
    start = time.perf_counter()
    starter = classmatch.starter_hashes(ROOT / "assignments")
    times["starter"] = time.perf_counter() - start
    start = time.perf_counter()
    records = classreport.fingerprint_all(folders, starter, jobs)
    times["fingerprint"] = time.perf_counter() - start
    start = time.perf_counter()
    report = classmatch.compare_class(records)
    times["compare"] = time.perf_counter() - start
    start = time.perf_counter()
    out = work / f"out{count}"
    out.mkdir()
    classreport.write_csv(report, out / "similarity.csv")
    (out / "similarity.html").write_text(classreport.page(report, folders))
    times["write"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    flagged = {(p.a, p.b) for p in report.pairs}
    times["flagged"] = f"{len(flagged)} flagged, planted {len(planted)}, " + (
        "exactly the planted pairs" if flagged == planted else
        f"missed {sorted(planted - flagged)}, extra {sorted(flagged - planted)}")
    return times


def time_copydetect(count: int, work: Path) -> float:
    from copydetect import CopyDetector

    folder = work / f"class{count}"
    dirs = [str(path / "assignments") for path in sorted(folder.iterdir())]
    start = time.perf_counter()
    detector = CopyDetector(test_dirs=dirs, ref_dirs=dirs,
                            boilerplate_dirs=[str(ROOT / "assignments")], extensions=["py"],
                            same_name_only=True, ignore_leaf=True, autoopen=False, silent=True,
                            out_file=str(work / "copydetect.html"))
    detector.run()
    detector.generate_html_report()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,300")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--copydetect", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        print(f"{'submissions':>11} {'starter':>8} {'fingerprint':>12} {'compare':>8} "
              f"{'write':>6} {'total s':>8}  check")
        for count in sizes:
            t = time_class(count, args.jobs, work)
            print(f"{count:>11} {t['starter']:>8.2f} {t['fingerprint']:>12.2f} "
                  f"{t['compare']:>8.2f} {t['write']:>6.2f} {t['total']:>8.2f}  {t['flagged']}")
        if args.copydetect:
            seconds = time_copydetect(min(sizes), work)
            print(f"copydetect 0.5.0 on the {min(sizes)} submissions' code (same_name_only): "
                  f"{seconds:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
