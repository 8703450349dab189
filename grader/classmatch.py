"""Who shares work with whom in a class: fingerprints of code and prose, compared once.

Used by ``grader batch`` (beside the gradebook) and ``grader similarity`` (the
report alone). It is evidence for course staff to weigh and never changes a score.

**Code** (``assignments/**/*.py``) is compared the way MOSS and JPlag compare
it, not as text. Each file becomes a stream of tokens: every identifier
becomes ``V``, every string ``S`` and every number ``N``; keywords and
operators stay; comments, blank lines, line breaks and indentation vanish.
Renamed variables, deleted comments and reformatted lines therefore leave the
stream unchanged. Every run of :data:`CODE_K` consecutive tokens is hashed
(a rolling hash: stable across processes and machines, so fingerprints made
on Dask workers compare with those made here), and *winnowing* (Schleimer,
Wilkerson and Aiken, SIGMOD 2003) keeps the smallest hash of each window of
:data:`CODE_WINDOW` hashes: any shared run of at least
``CODE_K + CODE_WINDOW - 1`` tokens is certain to share a fingerprint, and the
fingerprints do not depend on where a passage sits in its file, so reordered
functions still match.

**Prose** (``ANALYSIS.md`` and the files under ``assignments/data/``) is
compared on word :data:`PROSE_K`-grams, normalised as the datasets' own
near-duplicate check normalises text (:func:`grader.similarity.normalize`),
winnowed the same way.

**Starter code never counts.** Every k-gram of the kit's own ``assignments/``
(the generated stubs with their given code, the starting points, the analysis
template, ``data/README.md``) is removed from each submission's fingerprints,
so five untouched stubs share nothing. A fingerprint found in more than
:data:`COMMON_LIMIT` submissions is treated as common to the class (an idiom
everyone writes, a figure everyone's run prints), as MOSS does with its ``-m``.

**Scores.** For a pair and a kind (code, prose), ``shared`` is the number of
fingerprints both have; the pair's score of that kind is ``shared / min(own_a,
own_b)``, the share of the smaller submission's own work found in the other
(``own`` counts its fingerprints outside the starter code that are not common
to the class, so two identical submissions score 1). A pair is flagged
when a score reaches the threshold and at least :data:`MIN_SHARED`
fingerprints stand behind it. Each submission is fingerprinted once; pairs are
counted from an inverted index (fingerprint -> submissions), so the work grows
with what is really shared, not with the number of pairs of files.

Why this is written here rather than taken from a library (both were tried on
the kit's cases): ``copydetect`` (winnowing over Pygments tokens, with
boilerplate exclusion) finds the disguised copy too, but hashes its k-grams
with Python's ``hash()``, which changes with every process (``PYTHONHASHSEED``),
so fingerprints made on two Dask workers would never meet; it compares every
pair of files in a loop (12.0 s for the code of 50 synthetic submissions, where
this module took 2.1 s for their code and prose, in one run of ``python
bench/bench_similarity.py --copydetect``); and its page loads Bootstrap from a
CDN. ``pycode-similar`` compares ASTs function by function, one file against
the others, with no starter-code exclusion (the untouched stub scores 0.56
against the reference) and no positions to highlight passages with.
"""

from __future__ import annotations

import bisect
import keyword
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from .similarity import normalize

# Chosen from measurements on the kit's own cases (tests/test_classmatch.py): the
# reference's huggingface_lora.py against a disguised copy (locals renamed, comments
# dropped, reformatted, functions reversed) scores 0.81 in code; its ANALYSIS.md against
# a copy with one word in ten replaced 0.59 in prose; two independent correct designs of
# three LoRA functions 0.01, either of them against the reference 0.11 to 0.12; the kit's
# three honest analysis styles (tests/analysis_styles/) 0.04 to 0.16 (they quote the same
# figures); untouched stubs 0. DEFAULT_THRESHOLD sits between the copies and the rest.
CODE_K = 12            # tokens per fingerprinted run
CODE_WINDOW = 8        # winnowing window: any shared run of 19 tokens is found
PROSE_K = 4            # words per fingerprinted run
PROSE_WINDOW = 4       # any shared run of 7 words is found
MIN_SHARED = 8         # fingerprints a flagged pair must share (about 4 lines of code)
COMMON_LIMIT = 10      # a fingerprint in more submissions than this is common to the class
DEFAULT_THRESHOLD = 0.4
MAX_FILE_BYTES = 2_000_000  # larger files are noted and not compared
MAX_FILES = 500        # compared files of one submission; the rest are noted

CODE, PROSE = "code", "prose"
PROSE_SUFFIXES = {".md", ".txt", ".jsonl", ".json", ".csv", ".yaml", ".yml", ".tsv", ""}
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".git", ".ipynb_checkpoints"}

_MODULUS = (1 << 61) - 1
_BASE = 1_000_003

_PY_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>[rRbBuUfF]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
                              |'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
  | (?P<number>\.?\d[\w.]*)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%&|^@<>=!]=|[^\s\w])
""", re.VERBOSE)
_KEYWORDS = frozenset(keyword.kwlist)


@dataclass
class Tokens:
    """A file as normalised tokens, each with the lines it spans."""

    words: list[str]
    first: list[int]
    last: list[int]


def code_tokens(text: str) -> Tokens:
    """Python source as normalised tokens (identifiers ``V``, strings ``S``, numbers ``N``)."""
    breaks = [match.start() for match in re.finditer("\n", text)]
    words, first, last = [], [], []
    for match in _PY_TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "comment":
            continue
        token = match.group()
        if kind == "name":
            token = token if token in _KEYWORDS else "V"
        elif kind == "string":
            token = "S"
        elif kind == "number":
            token = "N"
        words.append(token)
        first.append(bisect.bisect(breaks, match.start()) + 1)
        last.append(bisect.bisect(breaks, match.end() - 1) + 1)
    return Tokens(words, first, last)


def prose_tokens(text: str) -> Tokens:
    """Text as normalised words, each with its line."""
    words, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        found = normalize(line).split()
        words += found
        lines += [number] * len(found)
    return Tokens(words, lines, lines)


_IDS: dict[str, int] = {}


def kgram_hashes(words: list[str], k: int) -> list[int]:
    """The rolling hash of every run of ``k`` words (none when there are fewer)."""
    if len(words) < k:
        return []
    ids = []
    for word in words:
        value = _IDS.get(word)
        if value is None:
            value = _IDS.setdefault(word, zlib.crc32(word.encode()) + 1)
        ids.append(value)
    top = pow(_BASE, k - 1, _MODULUS)
    value = 0
    for item in ids[:k]:
        value = (value * _BASE + item) % _MODULUS
    hashes = [value]
    for index in range(k, len(ids)):
        value = ((value - ids[index - k] * top) * _BASE + ids[index]) % _MODULUS
        hashes.append(value)
    return hashes


def winnow(hashes: list[int], window: int) -> list[int]:
    """Positions kept by robust winnowing: the rightmost minimum of each window."""
    if len(hashes) <= window:
        return [len(hashes) - 1 - hashes[::-1].index(min(hashes))] if hashes else []
    kept, last = [], -1
    for start in range(len(hashes) - window + 1):
        part = hashes[start:start + window]
        low = min(part)
        position = start + window - 1 - part[::-1].index(low)
        if position != last:
            kept.append(position)
            last = position
    return kept


def kind_of(relative: Path) -> str | None:
    """``code``, ``prose`` or None (not compared) for a path inside ``assignments/``."""
    if relative.suffix == ".py":
        return CODE
    if relative.as_posix() == "ANALYSIS.md" or (relative.parts[0] == "data"
                                                 and relative.suffix.lower() in PROSE_SUFFIXES):
        return PROSE
    return None


def _tokens(kind: str, text: str) -> tuple[Tokens, int, int]:
    if kind == CODE:
        return code_tokens(text), CODE_K, CODE_WINDOW
    return prose_tokens(text), PROSE_K, PROSE_WINDOW


def read_text(path: Path) -> tuple[str | None, str]:
    """A file's text, or None and why it cannot be compared (binary, too large, unreadable)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, (f"{size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:g} MB "
                          "a compared file may have")
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    if b"\0" in data[:8192]:
        return None, "a binary file"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})"


def submission_files(assignments: Path) -> tuple[dict[str, Path], list[str]]:
    """The compared files of an ``assignments/`` folder (relative path -> path), and notes."""
    if not assignments.is_dir():
        return {}, ["no assignments/ folder: not compared"]
    files, notes = {}, []
    for path in sorted(assignments.rglob("*")):
        relative = path.relative_to(assignments)
        if _SKIP_PARTS & set(relative.parts) or (path.is_dir() and not path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file():
            what = "a symbolic link" if path.is_symlink() else "not a regular file"
            notes.append(f"{relative.as_posix()}: {what}: not compared")
            continue
        if kind_of(relative):
            if len(files) == MAX_FILES:
                notes.append(f"more than {MAX_FILES} code or data files: only the first "
                             f"{MAX_FILES} are compared")
                break
            files[relative.as_posix()] = path
    if not files:
        notes.append("assignments/ holds no code or analysis: not compared")
    return files, notes


def starter_hashes(starter: Path) -> dict[str, list[int]]:
    """Every k-gram hash of the starter ``assignments/`` (stubs, template), by kind."""
    found: dict[str, set[int]] = {CODE: set(), PROSE: set()}
    files, _ = submission_files(Path(starter))
    for relative, path in files.items():
        text, _ = read_text(path)
        if text is None:
            continue
        kind = kind_of(Path(relative))
        tokens, k, _ = _tokens(kind, text)
        found[kind].update(kgram_hashes(tokens.words, k))
    return {kind: sorted(values) for kind, values in found.items()}


def fingerprint_submission(assignments: Path, starter: dict[str, list[int]] | None = None,
                           ) -> dict:
    """The fingerprints of one submission's own work (a JSON-ready record); never raises.

    ``files`` maps each compared file to its kind, its number of lines and its
    fingerprints ``[hash, token position, first line, last line]`` outside the
    starter code; ``notes`` says what could not be compared and why.
    """
    starter_sets = {kind: frozenset(values) for kind, values in (starter or {}).items()}
    files, notes = submission_files(Path(assignments))
    record: dict = {"files": {}, "notes": notes}
    for relative, path in files.items():
        text, problem = read_text(path)
        if text is None:
            notes.append(f"{relative}: {problem}: not compared")
            continue
        kind = kind_of(Path(relative))
        try:
            tokens, k, window = _tokens(kind, text)
            hashes = kgram_hashes(tokens.words, k)
            skip = starter_sets.get(kind, frozenset())
            prints = [[hashes[p], p, tokens.first[p], tokens.last[p + k - 1]]
                      for p in winnow(hashes, window) if hashes[p] not in skip]
        except (MemoryError, RecursionError, ValueError) as exc:
            notes.append(f"{relative}: could not be fingerprinted ({type(exc).__name__}): "
                         "not compared")
            continue
        record["files"][relative] = {"kind": kind, "lines": text.count("\n") + 1,
                                     "fingerprints": prints}
    return record


# ------------------------------------------------------------------ the class
@dataclass
class FileMatch:
    """What one file of a pair shares with one file of the other."""

    file_a: str
    file_b: str
    kind: str
    shared: int
    share_a: float          # of file_a's own fingerprints, the share found in file_b
    share_b: float
    passages: list[tuple[int, int, int, int]] = field(default_factory=list)  # a lines, b lines
    lines_a: set[int] = field(default_factory=set)  # lines of file_a under a shared fingerprint
    lines_b: set[int] = field(default_factory=set)


@dataclass
class Pair:
    """Two submissions and what they share."""

    a: str
    b: str
    shared: dict[str, int]
    scores: dict[str, float]
    files: list[FileMatch] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The higher of the code and prose scores."""
        return max(self.scores.values(), default=0.0)

    @property
    def kind(self) -> str:
        """The kind (code or prose) of the higher score."""
        return max(self.scores, key=self.scores.get) if self.scores else CODE


@dataclass
class ClassReport:
    """The whole class compared."""

    students: list[str]
    own: dict[str, dict[str, int]]           # student -> kind -> own fingerprints
    pairs: list[Pair]                        # flagged, best first
    best: dict[str, tuple[float, str]]       # student -> (score, with whom)
    notes: dict[str, list[str]]
    threshold: float
    compared: int = 0                        # pairs of submissions compared


def _index(records: dict[str, dict]) -> dict[str, dict[int, list[str]]]:
    index: dict[str, dict[int, list[str]]] = {CODE: defaultdict(list), PROSE: defaultdict(list)}
    for student, record in records.items():
        seen: dict[str, set[int]] = {CODE: set(), PROSE: set()}
        for entry in record["files"].values():
            seen[entry["kind"]].update(item[0] for item in entry["fingerprints"])
        for kind, values in seen.items():
            for value in values:
                index[kind][value].append(student)
    return index


def compare_class(records: dict[str, dict], threshold: float = DEFAULT_THRESHOLD,
                  common_limit: int = COMMON_LIMIT) -> ClassReport:
    """Compare every pair of fingerprinted submissions; flagged pairs get their passages."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the similarity threshold must be in (0, 1], got {threshold}")
    notes = {student: list(record.get("notes", [])) for student, record in records.items()}
    usable = {student: record for student, record in records.items() if record["files"]}
    index = _index(usable)
    own = {student: {kind: 0 for kind in (CODE, PROSE)} for student in records}
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {CODE: 0, PROSE: 0})
    for kind, table in index.items():
        for holders in table.values():
            if len(holders) > common_limit:
                continue  # common to the class: neither shared nor anyone's own
            for student in holders:
                own[student][kind] += 1
            for a, b in combinations(sorted(holders), 2):
                counts[a, b][kind] += 1
    pairs, best = [], {student: (0.0, "") for student in records}
    for (a, b), shared in counts.items():
        scores = {kind: shared[kind] / min(own[a][kind], own[b][kind])
                  for kind in (CODE, PROSE) if shared[kind]}
        pair = Pair(a, b, shared, scores)
        for one, other in ((a, b), (b, a)):
            if pair.score > best[one][0]:
                best[one] = (round(pair.score, 3), other)
        if any(scores[kind] >= threshold and shared[kind] >= MIN_SHARED for kind in scores):
            pair.files = file_matches(usable[a], usable[b], index, common_limit)
            pairs.append(pair)
    pairs.sort(key=lambda pair: (-pair.score, pair.a, pair.b))
    count = len(usable)
    return ClassReport(sorted(records), own, pairs, best, notes, threshold,
                       compared=count * (count - 1) // 2)


def file_matches(a: dict, b: dict, index: dict, common_limit: int) -> list[FileMatch]:
    """What each file of ``a`` shares with each file of ``b``, with the shared passages."""
    where_b: dict[int, list[tuple[str, list]]] = defaultdict(list)
    for name, entry in b["files"].items():
        for item in entry["fingerprints"]:
            where_b[item[0]].append((name, item))
    found: dict[tuple[str, str], list] = defaultdict(list)
    for name, entry in a["files"].items():
        kind = entry["kind"]
        for item in entry["fingerprints"]:
            if len(index[kind].get(item[0], ())) > common_limit:
                continue
            for other, match in where_b.get(item[0], ())[:4]:
                if b["files"][other]["kind"] == kind:
                    found[name, other].append((item, match))
    matches = []
    for (name, other), links in found.items():
        size_a = len({item[0] for item in a["files"][name]["fingerprints"]})
        size_b = len({item[0] for item in b["files"][other]["fingerprints"]})
        shared = len({item[0] for item, _ in links})
        matches.append(FileMatch(name, other, a["files"][name]["kind"], shared,
                                 shared / size_a, shared / size_b, passages(links),
                                 _covered(item for item, _ in links),
                                 _covered(match for _, match in links)))
    matches.sort(key=lambda match: (-match.shared, match.file_a, match.file_b))
    return matches


def _covered(items) -> set[int]:
    return {line for item in items for line in range(item[2], item[3] + 1)}


def passages(links: list, gap: int = 4 * (CODE_K + CODE_WINDOW)) -> list[tuple[int, int, int, int]]:
    """Shared fingerprints chained into passages ``(a_first, a_last, b_first, b_last)`` (lines).

    Consecutive fingerprints belong to one passage when both sides move forward
    by at most ``gap`` tokens, so a function moved elsewhere in the file is its
    own passage, and a statement inserted inside a copied function does not cut it.
    """
    chains: list[list] = []
    for item, match in sorted(links, key=lambda link: (link[0][1], link[1][1])):
        for chain in reversed(chains[-8:]):
            last_a, last_b = chain[-1][0][1], chain[-1][1][1]
            if 0 <= item[1] - last_a <= gap and 0 <= match[1] - last_b <= gap:
                chain.append((item, match))
                break
        else:
            chains.append([(item, match)])
    out = []
    for chain in chains:
        out.append((min(i[2] for i, _ in chain), max(i[3] for i, _ in chain),
                    min(m[2] for _, m in chain), max(m[3] for _, m in chain)))
    return sorted(out)
