"""ANALYSIS.md, read by the grader: its sections, its table and its figures block.

A student's ``ANALYSIS.md`` is Markdown with fixed headings (see
``assignments/ANALYSIS.md``): ``## `` sections per approach plus a comparison,
``### `` topics inside each, and one fenced block of measured figures::

    ```yaml figures
    openai:
      model: gpt-4o-mini
      training_tokens: 123456
      ...
    ```

The honest core of the Analysis checks lives here: the ``recompute_*`` functions run the
*student's own code* through the seam with fixed arguments and :func:`compare`
says, figure by figure, whether the reported number agrees within the
tolerance written next to it in :data:`TOLERANCES` (and in the template).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .seam import REPO_ROOT, Impl

FENCE_INFO = "yaml figures"
PLACEHOLDER = "_Replace this line with your answer._"
TABLE_PLACEHOLDER = "?"
MIN_WORDS = 30
# The grader keeps its own copy of the template: assignments/ANALYSIS.md is the student's file.
# tests/test_analysis_figures.py checks the two are identical in the kit.
TEMPLATE = Path(__file__).resolve().parent / "analysis_template.md"

OPENAI_TRAIN_FILE = REPO_ROOT / "data" / "openai_teacher_dialogue_training.jsonl"
TINY_MODEL_DIR = REPO_ROOT / "fixtures" / "tiny-llama"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

# The fixed arguments the grader re-runs each approach with (the template says so too).
DSPY_ARGS = {"train_size": 16, "dev_size": 12, "seed": 0}
LORA_ARGS = {"steps": 5, "seed": 0}

# "## " sections and "### " topics are recognised by a keyword in their heading,
# so "## 2. OpenAI cloud fine-tuning" and "## OpenAI fine-tuning" both work.
SECTION_KEYWORDS = (
    ("dspy", "dspy"), ("openai", "openai"), ("lora", "lora"), ("comparison", "compar"),
    ("enhancement", "enhancement"), ("new_data", "new data"), ("figures", "figures"),
)
TOPIC_KEYWORDS = (
    ("table", "table"), ("data", "data"), ("compute", "resources"), ("compute", "comput"),
    ("cost", "cost"), ("performance", "performance"), ("complexity", "complexity"),
    ("choose", "choose"), ("tried", "tried"), ("result", "result"),
    ("dialogues", "dialogue"), ("metric", "metric"),
)
# The six questions every approach section and the comparison answer.
QUESTIONS = ("data", "compute", "cost", "performance", "complexity", "choose")
QUESTION_TITLES = {
    "data": "Data requirements and preparation", "compute": "Computational resources",
    "cost": "Cost", "performance": "Performance", "complexity": "Implementation complexity",
    "choose": "When to choose it",
}
REQUIRED_TOPICS = {
    "dspy": QUESTIONS, "openai": QUESTIONS, "lora": QUESTIONS,
    "comparison": ("table", *QUESTIONS),
    "enhancement": ("tried", "result"), "new_data": ("dialogues", "metric"),
}
APPROACH_NAMES = {"dspy": ("dspy",), "openai": ("openai",), "lora": ("lora", "peft")}


class FiguresError(ValueError):
    """ANALYSIS.md could not be read as the grader needs it; the message says why."""


# ---------------------------------------------------------------- sections
@dataclass
class Document:
    """ANALYSIS.md split into ``sections[key].topics[key]`` raw Markdown bodies."""

    text: str
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    headings: list[str] = field(default_factory=list)

    def body(self, section: str, topic: str) -> str | None:
        """The raw Markdown under one ``###`` topic, or None when the heading is missing."""
        return self.sections.get(section, {}).get(topic)

    def answer(self, section: str, topic: str) -> str:
        """The student's own text under a topic: questions, comments and placeholders removed."""
        return answer_text(self.body(section, topic) or "")


def _key(heading: str, table) -> str:
    lower = heading.lower()
    for key, word in table:
        if word in lower:
            return key
    return re.sub(r"\W+", "_", lower).strip("_")


def parse_document(text: str) -> Document:
    """Split Markdown into ``## `` sections and ``### `` topics (fenced code is skipped)."""
    doc = Document(text=text)
    section, topic, lines, in_fence = None, None, [], False

    def flush():
        if section is not None and topic is not None:
            doc.sections.setdefault(section, {}).setdefault(topic, "\n".join(lines).strip())

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and re.match(r"^##\s+\S", line) and not line.startswith("###"):
            flush()
            title = line.lstrip("#").strip()
            doc.headings.append(title)
            section, topic, lines = _key(title, SECTION_KEYWORDS), "_intro", []
            doc.sections.setdefault(section, {})
            continue
        if not in_fence and re.match(r"^###\s+\S", line) and section is not None:
            flush()
            topic, lines = _key(line.lstrip("#").strip(), TOPIC_KEYWORDS), []
            continue
        lines.append(line)
    flush()
    return doc


def answer_text(body: str) -> str:
    """Markdown minus quoted questions (``>``), HTML comments, placeholders and tables."""
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    kept = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or stripped.startswith("|"):
            continue
        kept.append(line.replace(PLACEHOLDER, " "))
    return "\n".join(kept).strip()


def question_text(body: str) -> str:
    """The quoted question (``>`` lines) of a topic."""
    return " ".join(line.strip().lstrip(">").strip()
                    for line in (body or "").splitlines() if line.strip().startswith(">"))


def words(text: str) -> list[str]:
    """The words of a text (letters or digits), as the minimum-length rule counts them."""
    return re.findall(r"[^\W_]+(?:['’.-][^\W_]+)*", text)


def read_document(impl: Impl) -> Document:
    """Read and split the implementation's ANALYSIS.md."""
    path = impl.path("ANALYSIS.md")
    if not path.is_file():
        raise FiguresError(f"{impl.display_root}ANALYSIS.md does not exist: "
                           "start from the template assignments/ANALYSIS.md")
    return parse_document(path.read_text(encoding="utf-8", errors="replace"))


def template_document() -> Document:
    """The untouched template, to tell a student's words from the template's."""
    return parse_document(TEMPLATE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- tables
def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table in ``text`` as rows of stripped cells (the ``---`` row dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c) or not any(cells):
                current.append(cells)
            else:
                current.append(None)  # the separator row: remember it was there
            continue
        if current:
            tables.append(current)
            current = []
    return [[row for row in table if row is not None] for table in tables
            if len(table) >= 3 and table[1] is None]


def approach_of(cell: str) -> str | None:
    """Which approach a header cell names (``DSPy``, ``OpenAI fine-tuning``, ``LoRA``)."""
    lower = cell.lower()
    for approach, names in APPROACH_NAMES.items():
        if any(name in lower for name in names):
            return approach
    return None


# ---------------------------------------------------------------- the figures block
FIGURE_KEYS: dict[str, tuple[str, ...]] = {
    "dspy": ("train_examples", "dev_examples", "metric_before", "metric_after", "lm_calls"),
    "openai": ("examples", "tokens_per_epoch", "epochs", "training_tokens", "cost_usd"),
    "lora": ("trainable_params", "total_params", "trainable_share", "train_examples",
             "eval_examples", "loss_before", "loss_after", "seconds_per_step"),
    "enhancement": ("baseline", "result"),
}
TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("model",), "enhancement": ("approach", "metric"),
}


@dataclass(frozen=True)
class Tolerance:
    """How close a reported figure must be to the re-computed one.

    ``rel``/``abs``: |reported - computed| <= max(abs, rel x |computed|).
    ``factor``: plausibility only, computed/factor <= reported <= computed x factor.
    """

    rel: float = 0.0
    abs: float = 0.0
    factor: float | None = None

    def agrees(self, reported: float, computed: float) -> bool:
        """True when ``reported`` is within this tolerance of ``computed``."""
        if self.factor is not None:
            if computed <= 0:
                return reported > 0
            return computed / self.factor <= reported <= computed * self.factor
        return abs(reported - computed) <= max(self.abs, self.rel * abs(computed)) + 1e-12

    def describe(self) -> str:
        """The tolerance in words, for a student message."""
        if self.factor is not None:
            return f"plausible: within {self.factor:g}x"
        if self.rel == 0 and self.abs == 0:
            return "must be exact"
        parts = ([f"{self.rel:.0%}"] if self.rel else []) + ([f"{self.abs:g}"] if self.abs else [])
        return "within " + " or ".join(parts)


EXACT = Tolerance()
TOLERANCES: dict[str, Tolerance] = {
    "dspy.train_examples": EXACT, "dspy.dev_examples": EXACT,
    "dspy.metric_before": Tolerance(abs=0.02), "dspy.metric_after": Tolerance(abs=0.02),
    "dspy.lm_calls": Tolerance(rel=0.05),
    "openai.examples": EXACT, "openai.epochs": EXACT,
    "openai.tokens_per_epoch": Tolerance(rel=0.01), "openai.training_tokens": Tolerance(rel=0.01),
    "openai.cost_usd": Tolerance(rel=0.01, abs=0.01),
    "lora.trainable_params": EXACT, "lora.total_params": EXACT,
    "lora.train_examples": EXACT, "lora.eval_examples": EXACT,
    "lora.trainable_share": Tolerance(rel=0.01),
    "lora.loss_before": Tolerance(rel=0.02), "lora.loss_after": Tolerance(rel=0.02),
    # Step time depends on the machine and its load, so it only needs to be plausible. The
    # factor is the geometric middle between the two mistakes it must tell apart: an honest
    # figure measured on a faster or idle machine (off by the slowdown s of the grader's re-run)
    # and milliseconds reported as seconds (off by 1000 / s). With factor F an honest figure
    # fails only when s > F and the ms mistake passes only when s >= 1000 / F; F = 30 puts both
    # at a slowdown of about 30x, far beyond a loaded grading machine (100x let the ms mistake
    # through at a 10x slowdown, which three gradings sharing two cores can reach).
    "lora.seconds_per_step": Tolerance(factor=30.0),
    "enhancement.baseline": Tolerance(rel=0.02, abs=1e-6),
    "enhancement.result": Tolerance(rel=0.02, abs=1e-6),
}


# Pairs of figures whose difference is the finding. On the tiny model the eval loss moves
# about 0.8 % in 5 steps and the enhancement's variants differ by 0.4 %, less than the 2 %
# either figure may be off on its own: a block that repeats loss_before as loss_after, or
# swaps baseline and result, would agree figure by figure. So the reported change must also
# agree with the computed one, within CHANGE_REL of it; a change smaller than CHANGE_FLOOR of
# the figure itself counts as no change (rounding to 3 decimals stays well inside that).
CHANGES = (("lora", "loss_before", "loss_after"), ("enhancement", "baseline", "result"))
CHANGE_REL = 0.25
CHANGE_FLOOR = 5e-4


def change_problem(name: str, before: tuple[float, float],
                   after: tuple[float, float]) -> str | None:
    """What is wrong with a reported change; None when it agrees.

    ``before`` and ``after`` are (reported, computed) pairs of figures that each agreed.
    """
    said_change, real_change = after[0] - before[0], after[1] - before[1]
    allowed = max(CHANGE_REL * abs(real_change), CHANGE_FLOOR * abs(before[1]))
    if abs(said_change - real_change) <= allowed:
        return None
    return (f"{name}: ANALYSIS.md shows a change of {said_change:+.4g}, "
            f"your code's is {real_change:+.4g} (the change must agree too, within "
            f"{CHANGE_REL:.0%}: copy both numbers from the same run)")


def figures_block(text: str) -> str:
    """The text of the ```yaml figures fenced block; FiguresError when there is none."""
    match = re.search(r"^```+\s*yaml\s+figures\s*\n(.*?)^```", text, flags=re.S | re.M)
    if match is None:
        raise FiguresError("ANALYSIS.md has no ```yaml figures block "
                           "(copy the one at the end of the template)")
    return match.group(1)


def parse_figures(text: str) -> dict:
    """The figures block of ANALYSIS.md as a dict of groups (``dspy``, ``openai``, ...)."""
    try:
        data = yaml.safe_load(figures_block(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1} of the block)" if mark is not None else ""
        raise FiguresError(f"the figures block is not valid YAML{where}: "
                           f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise FiguresError("the figures block must be a mapping with the groups "
                           f"{', '.join(FIGURE_KEYS)}")
    for group in FIGURE_KEYS:
        if data.get(group) is None:
            data[group] = {}
        if not isinstance(data[group], dict):
            raise FiguresError(f"figures: {group} must be a mapping of names to numbers")
    return data


def read_figures(impl: Impl) -> dict:
    """Parse the figures block of the implementation's ANALYSIS.md."""
    return parse_figures(read_document(impl).text)


def number(value) -> float | None:
    """A reported figure as a float, or None when it is missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def missing_figures(figures: dict) -> list[str]:
    """Dotted names of required figures that are missing or not numbers/text."""
    missing = [f"{g}.{k}" for g, keys in FIGURE_KEYS.items() for k in keys
               if number(figures.get(g, {}).get(k)) is None]
    missing += [f"{g}.{k}" for g, keys in TEXT_KEYS.items() for k in keys
                if not isinstance(figures.get(g, {}).get(k), str)
                or not figures[g][k].strip()]
    return missing


def compare(figures: dict, group: str, computed: dict, keys: tuple[str, ...]) -> list[str]:
    """Problems, one line per figure of ``keys`` that disagrees with ``computed``."""
    problems, agreed = [], {}
    reported = figures.get(group, {})
    for key in keys:
        name = f"{group}.{key}"
        tolerance = TOLERANCES[name]
        value = number(reported.get(key))
        if value is None:
            problems.append(f"{name}: ANALYSIS.md reports {reported.get(key)!r}, not a number")
            continue
        actual = number(computed.get(key)) if isinstance(computed, dict) else None
        if actual is None:
            problems.append(f"{name}: your code returned {computed.get(key)!r} for {key!r}, "
                            "not a number")
            continue
        if not tolerance.agrees(value, actual):
            problems.append(f"{name}: ANALYSIS.md says {value:g}, your code computes "
                            f"{actual:g} ({tolerance.describe()})")
        else:
            agreed[key] = (value, actual)
    for pair_group, first, second in CHANGES:
        if pair_group == group and first in agreed and second in agreed:
            problem = change_problem(f"{group}.{first} -> {second}", agreed[first],
                                     agreed[second])
            if problem:
                problems.append(problem)
    return problems


# ---------------------------------------------------------------- re-running the student's code
_CACHE: dict[tuple[str, str], tuple[bool, object]] = {}


def _cached(impl: Impl, key: str, compute):
    """Compute once per implementation; a failure is remembered and raised again.

    For the quick figures only; the slow experiments go through grader.experiments.
    """
    slot = (str(impl.root), key)
    if slot not in _CACHE:
        try:
            _CACHE[slot] = (True, compute())
        except Exception as exc:  # noqa: BLE001 - student code may raise anything
            _CACHE[slot] = (False, exc)
    ok, value = _CACHE[slot]
    if not ok:
        raise value
    return value


def _as_dict(result, what: str) -> dict:
    if not isinstance(result, dict):
        raise AssertionError(f"{what} must return a dict, got {type(result).__name__}")
    return result


def read_training_examples(path: Path = OPENAI_TRAIN_FILE) -> list[dict]:
    """The shipped OpenAI training examples (one JSON object per line)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def recompute_openai(impl: Impl, model: str = DEFAULT_OPENAI_MODEL) -> dict:
    """``estimate_cost`` of the shipped training data, by the student's openai_finetune."""
    def run():
        module = impl.module("openai_finetune")
        examples = read_training_examples()
        result = _as_dict(module.estimate_cost(examples, model=model, epochs=None),
                          "openai_finetune.estimate_cost")
        return {**result, "examples": len(examples)}

    return _cached(impl, f"openai:{model}", run)


def recompute_lora(impl: Impl) -> dict:
    """``run_experiment`` of the student's huggingface_lora on the kit's tiny model.

    Slow: checks get it once per run through :mod:`grader.experiments`.
    """
    module = impl.module("huggingface_lora")
    return _as_dict(module.run_experiment(model_name_or_path=str(TINY_MODEL_DIR),
                                          **LORA_ARGS), "huggingface_lora.run_experiment")


def recompute_dspy(impl: Impl) -> dict:
    """``run_experiment`` of the student's dspy_example, replayed from the recordings.

    Slow: checks get it once per run through :mod:`grader.experiments`.
    """
    module = impl.module("dspy_example")
    from .replay_dspy import replay

    with replay():
        module.configure_lm()  # the default model, answered from the recordings
        result = module.run_experiment(**DSPY_ARGS)
    return _as_dict(result, "dspy_example.run_experiment")


def recompute_enhancement(impl: Impl) -> dict:
    """``run_enhancement`` of the student's enhancement module.

    Slow: checks get it once per run through :mod:`grader.experiments`.
    """
    module = impl.module("enhancement")
    from .replay_dspy import replay

    with replay():  # a DSPy enhancement replays its LM calls; others make none
        result = module.run_enhancement()
    return _as_dict(result, "enhancement.run_enhancement")


# ---------------------------------------------------------------- what an answer must say
# The rule a student reads in the template (its comment, and under every question):
ANSWER_RULE = (
    "Each answer needs at least 30 words of your own that use at least two of the concepts "
    "listed under its question (one of a concept's a/b/c alternatives is enough; a comparison "
    "answer must also name two of the approaches) and, where the question lists figures, at "
    "least one of those figures from your figures block, written as a number (rounded as you "
    "like, or within 1 %). Sentences that also appear in another of your answers or in the "
    "kit's own text (this template, the READMEs, the code's docstrings, the datasets) are not "
    "counted as your words."
)
MIN_CONCEPTS = 2
MIN_APPROACHES = 2          # named in a comparison answer
SHARED_RUN = 6              # words in a row that make a sentence "also found elsewhere"
SHARED_SHARE = 0.5          # share of a sentence's 6-word runs found elsewhere to drop it
# Topics whose answers the rule grades (the question checks and the enhancement's).
RULED_TOPICS = {section: tuple(t for t in topics if t != "table")
                for section, topics in REQUIRED_TOPICS.items() if section != "new_data"}
# The kit's own text: an answer's sentences found here are not the student's words.
KIT_TEXT_GLOBS = ("README.md", "docs/*.md", "data/README.md", "assignments/*.py",
                  "assignments/data/README.md", "grader/analysis_template.md")


@dataclass(frozen=True)
class Rule:
    """What one question asks of its answer, as the template shows it under the question."""

    concepts: tuple[tuple[str, ...], ...] = ()
    figures: tuple[str, ...] = ()

    def concepts_in(self, text: str) -> list[str]:
        """The concepts ``text`` uses, each named by its first alternative."""
        lower = " " + normalize_answer(text) + " "
        return [alternatives[0] for alternatives in self.concepts
                if any(_mentions(lower, alt) for alt in alternatives)]


def normalize_answer(text: str) -> str:
    """Lower case, Markdown emphasis and code marks removed, whitespace collapsed."""
    text = re.sub(r"[`*_]", " ", text.lower()).replace("’", "'")
    return re.sub(r"\s+", " ", text)


def _mentions(lower: str, alternative: str) -> bool:
    if not alternative[:1].isalnum():  # "$", "%", "-100": anywhere
        return alternative in lower
    return re.search(r"(?<![\w])" + re.escape(alternative), lower) is not None


def rules_from(body: str) -> Rule:
    """Parse the ``> **Concepts** ...:`` and ``> **Figures** ...:`` lines under a question."""
    concepts, figures = (), ()
    for line in (body or "").splitlines():
        text = line.strip().lstrip(">").strip()
        if text.startswith("**Concepts**") and ":" in text:
            items = text.split(":", 1)[1].split("·")
            concepts = tuple(tuple(a.strip().lower() for a in item.split("/") if a.strip())
                             for item in items if item.strip())
        elif text.startswith("**Figures**") and ":" in text:
            figures = tuple(f.strip().rstrip(".") for f in text.split(":", 1)[1].split(",")
                            if f.strip())
    return Rule(concepts, figures)


def question_rules() -> dict[tuple[str, str], Rule]:
    """Every ruled question's :class:`Rule`, read from the grader's copy of the template."""
    template = template_document()
    return {(section, topic): rules_from(template.body(section, topic) or "")
            for section, topics in RULED_TOPICS.items() for topic in topics}


_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s*%)?")


def numbers_in(text: str) -> list[tuple[float, int, bool]]:
    """Numbers written in ``text``: (value, decimals written, followed by %)."""
    found = []
    for whole, fraction, percent in _NUMBER.findall(text):
        value = float(whole.replace(",", "") + (fraction or ""))
        found.append((value, max(len(fraction) - 1, 0), bool(percent)))
    return found


def quotes_figure(written: tuple[float, int, bool], figure: float) -> bool:
    """True when a written number is ``figure``.

    It is when it is within 1 % of it, or ``figure`` rounded as written (two significant
    digits or more); a percentage is compared with 100 x ``figure`` too.
    """
    value, decimals, percent = written
    for target in ((figure, figure * 100) if percent else (figure,)):
        if abs(value - target) <= 0.01 * abs(target) + 1e-12:
            return True
        significant = len(f"{value:.{decimals}f}".replace(".", "").lstrip("0"))
        if significant >= 2 and round(target, decimals) == value:
            return True
    return False


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?;])\s+|\n\s*(?:[-*+•]|\d+[.)])\s+|\n\s*\n", text)
    return [p.strip(" -*•\n") for p in parts if p and p.strip(" -*•\n")]


def _runs(text: str, size: int = SHARED_RUN) -> set[tuple[str, ...]]:
    tokens = [w.lower() for w in words(text)]
    return {tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


_KIT_RUNS: set[tuple[str, ...]] = set()


def kit_runs() -> set[tuple[str, ...]]:
    """Every run of six words in the kit's own text (KIT_TEXT_GLOBS and data/*.jsonl)."""
    if not _KIT_RUNS:
        from .similarity import record_text

        for pattern in KIT_TEXT_GLOBS:
            for path in sorted(REPO_ROOT.glob(pattern)):
                _KIT_RUNS.update(_runs(path.read_text(encoding="utf-8", errors="replace")))
        for path in sorted((REPO_ROOT / "data").glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    _KIT_RUNS.update(_runs(record_text(json.loads(line))))
    return _KIT_RUNS


@dataclass
class Verdict:
    """How one answer fares under the rule: its own words, concepts, figures, problems."""

    own_words: int = 0
    concepts: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)   # why sentences were not counted
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the answer follows the rule."""
        return not self.problems


def judge_answers(doc: Document, figures: dict | None = None,
                  rules: dict[tuple[str, str], Rule] | None = None,
                  ) -> dict[tuple[str, str], Verdict]:
    """Apply :data:`ANSWER_RULE` to every ruled answer of ``doc``.

    ``figures`` is the parsed figures block (None: read from ``doc``; an unreadable
    block means no figure can be quoted).
    """
    rules = question_rules() if rules is None else rules
    if figures is None:
        try:
            figures = parse_figures(doc.text)
        except FiguresError:
            figures = {}
    answers = {key: doc.answer(*key) for key in rules}
    runs = {key: _runs(text) for key, text in answers.items()}
    kit = kit_runs()
    verdicts = {}
    for key, text in answers.items():
        others = set().union(*(r for k, r in runs.items() if k != key))
        verdict, kept = Verdict(), []
        for sentence in _sentences(text):
            own = _runs(sentence)
            if own and len(own & kit) >= SHARED_SHARE * len(own):
                verdict.dropped.append(f"{sentence[:40]!r}... is the kit's text")
            elif own and len(own & others) >= SHARED_SHARE * len(own):
                verdict.dropped.append(f"{sentence[:40]!r}... also appears in another answer")
            else:
                kept.append(sentence)
        own_text = "\n".join(kept)
        verdict.own_words = len(words(own_text))
        rule = rules[key]
        verdict.concepts = rule.concepts_in(own_text)
        written = numbers_in(own_text)
        for name in rule.figures:
            group, _, figure_key = name.partition(".")
            value = number((figures.get(group) or {}).get(figure_key))
            if value is not None and any(quotes_figure(w, value) for w in written):
                verdict.figures.append(name)
        if verdict.own_words < MIN_WORDS:
            verdict.problems.append(f"{verdict.own_words} words of your own, at least "
                                    f"{MIN_WORDS} needed")
        if len(verdict.concepts) < MIN_CONCEPTS:
            named = ", ".join(verdict.concepts) or "none"
            verdict.problems.append(f"uses {len(verdict.concepts)} of the question's concepts "
                                    f"({named}), at least {MIN_CONCEPTS} needed")
        if key[0] == "comparison":
            lower = normalize_answer(own_text)
            named = [a for a, names in APPROACH_NAMES.items()
                     if any(n in lower for n in names)]
            if len(named) < MIN_APPROACHES:
                verdict.problems.append("a comparison answer must name at least "
                                        f"{MIN_APPROACHES} of DSPy, OpenAI and LoRA")
        if rule.figures and not verdict.figures:
            verdict.problems.append("quotes none of your figures " + ", ".join(rule.figures))
        if verdict.dropped and verdict.problems:
            verdict.problems.append("not counted: " + "; ".join(verdict.dropped[:2]))
        verdicts[key] = verdict
    return verdicts
