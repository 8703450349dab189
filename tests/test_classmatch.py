"""The class similarity report flags the copied pairs, and only those.

A class is built from the reference and the stubs (tests/copycases.py):

- ``ann`` hands in the reference's ``huggingface_lora.py`` and ``ANALYSIS.md``;
- ``bob`` copies ann's module, every local name renamed, comments dropped,
  reformatted and the functions in reverse order;
- ``cleo`` copies ann's ANALYSIS.md with one word in ten replaced;
- ``hana`` and ``ivan`` write the same three LoRA functions, each their own
  correct design, and their analyses in two of the kit's honest styles;
- ``stub1`` .. ``stub5`` hand in the untouched stubs;
- ``solo`` hands in the reference's ``openai_finetune.py``, which nobody else has;
- ``odd`` holds a binary, a 50 MB file, a file that is not UTF-8 and a pipe;
  ``empty`` an empty ``assignments/``; ``nothing`` no ``assignments/`` at all.

The report must flag exactly ann-bob (code) and ann-cleo (prose), show the
copied functions side by side, note the bad input without a traceback, and
change no score. The page is opened in a real headless Chromium.
"""

from __future__ import annotations

import ast
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from adversarial.fakekit import LIMITS, STUB_SCORE, grader_cli, make_submission, new_class
from copycases import disguise, honest, swap_words

from grader import classmatch

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / "assignments"
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "grader" / "analysis_template.md"
STYLES = ROOT / "tests" / "analysis_styles"
PLACEHOLDER = "_Replace this line with your answer._"
COPIED = {("ann", "bob"): "code", ("ann", "cleo"): "prose"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.timeout(600)


def student(subs: Path, name: str, files: dict[str, str] | None = None) -> Path:
    """A repository holding the stubs, with ``files`` (name -> text) written over them."""
    folder = subs / name / "assignments"
    shutil.copytree(STUBS, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for relative, text in (files or {}).items():
        (folder / relative).write_text(text, encoding="utf-8")
    return folder


def styled_analysis(style: str) -> str:
    """The template with its answers, in order, taken from one honest style."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for answer in yaml.safe_load((STYLES / f"{style}.yaml").read_text(encoding="utf-8")).values():
        text = text.replace(PLACEHOLDER, answer.strip(), 1)
    return text


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    base = tmp_path_factory.mktemp("similarity")
    subs = base / "submissions"
    lora = (REFERENCE / "huggingface_lora.py").read_text(encoding="utf-8")
    analysis = (REFERENCE / "ANALYSIS.md").read_text(encoding="utf-8")
    stub_lora = (STUBS / "huggingface_lora.py").read_text(encoding="utf-8")
    student(subs, "ann", {"huggingface_lora.py": lora, "ANALYSIS.md": analysis})
    student(subs, "bob", {"huggingface_lora.py": disguise(lora)})
    student(subs, "cleo", {"ANALYSIS.md": swap_words(analysis)})
    student(subs, "hana", {"huggingface_lora.py": honest(stub_lora, "first"),
                           "ANALYSIS.md": styled_analysis("terse")})
    student(subs, "ivan", {"huggingface_lora.py": honest(stub_lora, "second"),
                           "ANALYSIS.md": styled_analysis("discursive")})
    for number in range(1, 6):
        student(subs, f"stub{number}")
    student(subs, "solo", {"openai_finetune.py": (REFERENCE / "openai_finetune.py").read_text()})
    odd = student(subs, "odd")
    (odd / "data" / "blob.jsonl").write_bytes(b"\x00\x01binary\x00" * 100)
    with open(odd / "data" / "huge.jsonl", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB (sparse: no disk is used)
    (odd / "latin.py").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    os.mkfifo(odd / "data" / "pipe.jsonl")
    (subs / "empty" / "assignments").mkdir(parents=True)
    (subs / "nothing").mkdir()
    out = base / "out"
    proc = subprocess.run([sys.executable, "-m", "grader", "similarity", str(subs), "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    with open(out / "similarity.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    starter = classmatch.starter_hashes(STUBS)
    records = {path.name: classmatch.fingerprint_submission(path / "assignments", starter)
               for path in sorted(subs.iterdir())}
    report = classmatch.compare_class(records)
    return {"subs": subs, "out": out, "proc": proc, "rows": rows, "report": report,
            "lora": lora}


def test_the_command_succeeds_without_a_traceback(cases):
    proc = cases["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "no score was changed" in proc.stdout


def test_exactly_the_copied_pairs_are_flagged(cases):
    flagged = {(row["student_a"], row["student_b"]): row["kind"] for row in cases["rows"]}
    assert flagged == COPIED
    for row in cases["rows"]:
        assert float(row["score"]) >= classmatch.DEFAULT_THRESHOLD


def test_the_disguised_copy_matches_function_by_function(cases):
    pair = next(p for p in cases["report"].pairs if (p.a, p.b) == ("ann", "bob"))
    match = next(m for m in pair.files if m.file_a == m.file_b == "huggingface_lora.py")
    assert match.share_a > 0.7 and match.share_b > 0.6
    bob = (cases["subs"] / "bob" / "assignments" / "huggingface_lora.py").read_text()
    ann_lines, bob_lines = cases["lora"].splitlines(), bob.splitlines()
    side_by_side = 0
    for function in ("tokenize_example", "pad_batch", "train", "evaluate_loss", "generate"):
        start_a = next(i for i, line in enumerate(ann_lines, 1)
                       if line.startswith(f"def {function}("))
        start_b = next(i for i, line in enumerate(bob_lines, 1)
                       if line.startswith(f"def {function}("))
        # Some passage pairs lines of ann's function with lines of bob's same function.
        if any(start_a <= a1 <= start_a + 60 and start_b <= b1 <= start_b + 60
               for a1, _, b1, _ in match.passages):
            side_by_side += 1
    assert side_by_side == 5, match.passages


def test_honest_designs_stubs_and_loners_are_not_flagged(cases):
    report = cases["report"]
    scores = {(p.a, p.b): p.score for p in report.pairs}
    assert ("hana", "ivan") not in scores
    for number in range(1, 6):
        assert report.best[f"stub{number}"][0] == 0.0
        assert report.own[f"stub{number}"] == {"code": 0, "prose": 0}
    assert report.best["solo"][0] < 0.1
    assert report.best["hana"][0] < classmatch.DEFAULT_THRESHOLD / 2
    assert report.best["ivan"][0] < classmatch.DEFAULT_THRESHOLD / 2


def test_bad_input_is_a_note_and_the_pair_is_skipped(cases):
    notes = cases["report"].notes
    odd = " ".join(notes["odd"])
    assert "data/blob.jsonl: a binary file" in odd
    assert "data/huge.jsonl: 52.4 MB, over the 2 MB" in odd
    assert "latin.py: not UTF-8 text" in odd
    assert "data/pipe.jsonl: not a regular file" in odd
    assert notes["nothing"] == ["no assignments/ folder: not compared"]
    assert notes["empty"] == ["assignments/ holds no code or analysis: not compared"]
    page = (cases["out"] / "similarity.html").read_text()
    assert "data/huge.jsonl" in page and "no assignments/ folder" in page


def test_an_unreadable_file_is_a_note(tmp_path, monkeypatch):
    folder = tmp_path / "assignments"
    folder.mkdir()
    (folder / "utils.py").write_text("x = 1\n")
    original = Path.read_bytes

    def refuse(self):
        # The tests run as root, whom file permissions do not stop: refuse the read here.
        if self.name == "utils.py":
            raise PermissionError(13, "Permission denied")
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    record = classmatch.fingerprint_submission(folder, {})
    assert record["notes"] == ["utils.py: unreadable (Permission denied): not compared"]


def test_fingerprints_do_not_depend_on_the_process():
    # Python's own hash() of a string changes from process to process; the fingerprints
    # must not, or those made on two Dask workers would never meet.
    code = "import sys; print(classmatch.kgram_hashes(['def', 'V', '(', 'V', ')', ':'], 3))"
    seen = {subprocess.run([sys.executable, "-c", f"from grader import classmatch; {code}"],
                           env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
                           text=True, check=True, cwd=ROOT).stdout for seed in ("1", "2")}
    assert len(seen) == 1


def test_normalised_tokens_ignore_names_comments_and_layout():
    one = "def f(a, b):\n    # add them\n    return a + b  # sum\n"
    two = "def add(\n    left,\n    right,\n):\n    return (left\n            + right)\n"
    assert classmatch.code_tokens(one).words == [
        "def", "V", "(", "V", ",", "V", ")", ":", "return", "V", "+", "V"]
    assert classmatch.code_tokens(two).words == [
        "def", "V", "(", "V", ",", "V", ",", ")", ":", "return", "(", "V", "+", "V", ")"]
    assert classmatch.code_tokens('x = "a # not a comment"\n').words == ["V", "=", "S"]


def test_winnowing_keeps_the_rightmost_minimum_of_each_window():
    hashes = [77, 74, 42, 17, 98, 50, 17, 98, 8, 88, 67, 39, 77, 74, 42, 17, 98]
    # The example of Schleimer, Wilkerson and Aiken (2003), windows of 4: 17 17 8 39 17.
    assert [hashes[p] for p in classmatch.winnow(hashes, 4)] == [17, 17, 8, 39, 17]


def test_a_threshold_outside_zero_to_one_is_refused(cases, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "similarity", str(cases["subs"]),
                           "--out", str(tmp_path), "--similarity-threshold", "1.5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "must be in (0, 1], got 1.5" in proc.stderr


# ---------------------------------------------------------------- the page in a browser
def chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def highlighted_pixels(png: Path) -> int:
    """Pixels of the first passage's colour (#ffd6d6) in a screenshot."""
    import matplotlib.image

    image = (matplotlib.image.imread(png)[:, :, :3] * 255).round()
    target = (image[:, :, 0] == 255) & (image[:, :, 1] == 214) & (image[:, :, 2] == 214)
    return int(target.sum())


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium); "
                                             ".ci/run installs it, so CI runs this test")
def test_the_page_in_headless_chromium(cases, tmp_path):
    page = (cases["out"] / "similarity.html").resolve()
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page must be offline"
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    rows = re.findall(r'data-pair="(\d+)" data-a="(\w+)" data-b="(\w+)"', dom.stdout)
    assert {(a, b) for _, a, b in rows} == set(COPIED)
    number = next(n for n, a, b in rows if (a, b) == ("ann", "bob"))
    opened = chromium("--dump-dom", f"{page.as_uri()}#pair-{number}")
    section = re.search(rf'<section class="pair" id="pair-{number}">(.*?)</section>',
                        opened.stdout, re.S)[1]
    assert "huggingface_lora.py (ann) and huggingface_lora.py (bob)" in section
    assert len(re.findall(r'class="line hl m\d"', section)) > 100
    shots = {}
    for name, fragment in (("list", ""), ("pair", f"#pair-{number}")):
        shots[name] = tmp_path / f"{name}.png"
        shot = chromium(f"--screenshot={shots[name]}", "--window-size=1400,900",
                        page.as_uri() + fragment)
        assert shots[name].exists(), shot.stderr
    # The list shows no passage; the opened pair shows its highlighted lines.
    assert highlighted_pixels(shots["list"]) == 0
    assert highlighted_pixels(shots["pair"]) > 2_000


# ---------------------------------------------------------------- inside grader batch
def test_batch_writes_the_report_and_the_gradebook_columns(kit, tmp_path):
    subs = new_class(tmp_path)
    module = (REFERENCE / "huggingface_lora.py").read_text()
    wanted = ("format_prompt", "chat_to_records", "split_records", "tokenize_example",
              "tokenize_records", "pad_batch")
    functions = ["\n\n" + ast.get_source_segment(module, node)
                 for node in ast.parse(module).body
                 if isinstance(node, ast.FunctionDef) and node.name in wanted]
    own = "\n\nMAX_LENGTH = 256\nIGNORE_INDEX = -100\n" + "".join(functions) + "\n"
    for name, text in (("twin1", own), ("twin2", disguise(own))):
        root = make_submission(subs, name)
        utils = root / "assignments" / "utils.py"
        utils.write_text(utils.read_text() + text)
    (subs / "empty" / "assignments").mkdir(parents=True)
    out = tmp_path / "out"
    proc = grader_cli(kit, "batch", str(subs), "--out", str(out), "-j", "2", *LIMITS,
                      timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert (rows["twin1"]["match_with"], rows["twin2"]["match_with"]) == ("twin2", "twin1")
    assert float(rows["twin1"]["match_score"]) >= classmatch.DEFAULT_THRESHOLD
    assert rows["stub"]["match_score"] == rows["stub"]["match_with"] == ""
    # Evidence only: copied work earns what the same work earns alone.
    assert float(rows["twin1"]["total"]) == float(rows["twin2"]["total"]) == STUB_SCORE
    with open(out / "similarity.csv", newline="") as handle:
        assert [(r["student_a"], r["student_b"]) for r in csv.DictReader(handle)] == [
            ("twin1", "twin2")]
    assert "it changes no score" in (out / "similarity.html").read_text()
