"""Honest answers keep every point; cheap imitations of work lose at least half.

The answer rule (grader.analysis_doc.ANSWER_RULE, shown in the template) must
let honest answers in plain words pass, whatever their style, and must not be
passable by text that says nothing about its question. Each case is a copy of
reference/ with one kind of change, graded in a subprocess by the real checks:

- honest: the reference's answers rewritten in three styles (terse,
  discursive, bullet points; tests/analysis_styles/*.yaml), with the same
  figures: every answer-graded point is kept;
- gaming: every answer replaced by generic sentences that fit any question, or
  by unrelated on-length paragraphs (the standard library's own docstrings);
  new data whose records ask the kit's own questions in other words: each loses
  at least half of the points of the checks it games. (run_enhancement()
  returning typed-in numbers is a mutant in tests/test_mutants_analysis.py.)
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from grader import analysis_doc as fig
from grader.checks import test_creativity as creativity
from grader.seam import Impl
from tests.gradelib import changed_copy, grade

pytestmark = pytest.mark.timeout(1200)

STYLES = ("terse", "discursive", "bullets")
STYLE_DIR = Path(__file__).resolve().parent / "analysis_styles"
ANSWER_CHECKS = {"test_dspy_questions_answered": 1.5, "test_openai_questions_answered": 1,
                 "test_lora_questions_answered": 1, "test_comparison_questions_answered": 1.5,
                 "test_answers_in_own_words": 1, "test_enhancement_documented": 1.5}
ANSWER_SELECTION = "questions_answered or own_words or enhancement_documented"
GAMING_SELECTION = "not test_creativity.py or enhancement_documented"
DATA_CHECKS = {"test_new_data_valid": 2, "test_new_dialogues_count": 2,
               "test_new_dialogues_original": 2, "test_new_chat_examples": 3,
               "test_new_qa_pairs": 3}

GENERIC_OPENERS = ("Overall,", "In general,", "All things considered,", "Broadly speaking,",
                   "At the end of the day,", "In my view,", "On balance,")
GENERIC_CLAIMS = (
    "this is an important aspect that depends on many different factors",
    "there are clear advantages as well as some disadvantages to keep in mind",
    "the right decision requires weighing the trade-offs carefully",
    "different situations call for different choices and priorities",
    "it is essential to think about the context and the goals involved",
    "careful planning makes a big difference to the final outcome",
    "experience shows that every option has its own strengths and weaknesses",
)
GENERIC_ENDINGS = ("and it should be evaluated thoughtfully.", "which is worth remembering.",
                   "as with most things in life.", "so one size does not fit all.",
                   "and there is no single correct answer.")


def generic_paragraph(index: int) -> str:
    """Three generic sentences, a different combination for every answer."""
    combos = list(itertools.product(GENERIC_OPENERS, GENERIC_CLAIMS, GENERIC_ENDINGS))
    picks = [combos[(index * 3 + k) * 7 % len(combos)] for k in range(3)]
    return " ".join(f"{o} {c} {e}" for o, c, e in picks)


UNRELATED_MODULES = ("calendar", "colorsys", "difflib", "fractions", "gettext", "heapq",
                     "imaplib", "locale", "mailbox", "netrc", "pickle", "queue", "random",
                     "sched", "shelve", "smtplib", "statistics", "tarfile", "textwrap", "uuid",
                     "wave", "zipfile", "decimal", "argparse", "logging", "csv")


def unrelated_paragraph(index: int) -> str:
    """About 60 words of a standard-library module's docstring: real prose, another topic."""
    name = UNRELATED_MODULES[index % len(UNRELATED_MODULES)]
    text = " ".join((importlib.import_module(name).__doc__ or "").split())
    return " ".join(text.split()[:60]) + f" (part {index})"


def rewrite(impl: Path, answers: dict[str, str]) -> None:
    """Replace the answers of impl/ANALYSIS.md, keyed "section/topic"."""
    path = impl / "ANALYSIS.md"
    text = path.read_text(encoding="utf-8")
    doc = fig.parse_document(text)
    for key, new in answers.items():
        old = doc.answer(*key.split("/"))
        assert text.count(old) == 1, key
        text = text.replace(old, new.strip())
    path.write_text(text, encoding="utf-8")


def every_answer(make) -> dict[str, str]:
    keys = [f"{s}/{t}" for s, topics in fig.RULED_TOPICS.items() for t in topics]
    return {key: make(i) for i, key in enumerate(keys)}


# ---------------------------------------------------------------- new data on old questions
# The kit's own questions, reworded by hand: new words, the same question.
REWORDED_DIALOGUE_OPENINGS = [
    "Picture a bowling ball and a tennis ball let go from one window together. Which do you "
    "reckon reaches the ground first?",
    "What do you reckon causes day and night on Earth?",
    "An acorn becomes an enormous oak weighing tonnes. Where does most of the oak's mass come "
    "from, do you think?",
    "Archduke Franz Ferdinand was assassinated in 1914. How could a single assassination drag "
    "so many countries into the First World War?",
    "What made the ancient Egyptians build pyramids, do you think?",
    "Who is most to blame for the murder of Duncan in Macbeth: Macbeth himself, Lady Macbeth "
    "or the three witches?",
    "Can you spot a noun, a naming word, in 'The dog jumped over the fence'?",
    "Is anything wrong in this sentence: 'The company lost it's biggest customer'?",
    "Why is summer hotter than winter, do you think?",
    "What colour do you predict when red paint and green paint are mixed?",
]
REWORDED_CHAT_QUESTIONS = [
    "Why do the angles of a triangle always sum to 180? Do I just memorise it?",
    "I keep confusing πr² with 2πr. Which gives the area?",
    "Why isn't (a + b)² the same as a² + b²? It looks like it ought to be.",
    "How can I tell whether I need sin, cos or tan? I try each of the three until one works.",
    "What does log base 10 of 1000 even mean? I don't get it.",
    "Why is dividing by zero impossible? Isn't 5 ÷ 0 simply 0?",
    "Class A and class B both have a mean test score of 70, with standard deviations 3 and 15. "
    "What does that actually tell me?",
    "Does 45 round to 40 or to 50? My friend thinks 40 since it's in the middle.",
    "My calculator gives 3 + 4 × 2 = 11 but I got 14. Is the calculator broken?",
    "How do I solve 2x + 5 = 17? I guessed x = 6 and it worked, but my teacher wants working.",
]
REWORDED_QA_INSTRUCTIONS = [
    "Explain photosynthesis in a few sentences for a fourth-grade class.",
    "Give a seventh-grade class an analogy for what a cell membrane does.",
    "Explain Newton's third law using two everyday examples, for an eighth-grade class.",
    "Explain what an atom is, for a sixth-grade class.",
    "Give an analogy that explains density, for sixth graders.",
    "Summarise how DNA leads to a protein, for a high-school biology class.",
    "Explain the pH scale with familiar examples, for an eighth-grade class.",
    "Compare series circuits and parallel circuits for a seventh-grade science lesson.",
    "Explain the energy changes on a roller coaster, for eighth graders.",
    "Write a worked example of balancing the equation for methane combustion, for ninth graders.",
]


def reworded_data(impl: Path) -> None:
    """The reference's new data, each record re-aimed at a question the kit already asks.

    Only the question changes; the rest of each record is the reference's own text, so
    no record is a near copy of the kit's data: only the same-question measure can tell.
    """
    folder = impl / "data"
    for name, questions, key in (("new_dialogues.jsonl", REWORDED_DIALOGUE_OPENINGS, "dialogue"),
                                 ("new_chat.jsonl", REWORDED_CHAT_QUESTIONS, "chat"),
                                 ("new_qa.jsonl", REWORDED_QA_INSTRUCTIONS, "qa")):
        records = [json.loads(line) for line in (folder / name).read_text().splitlines()]
        records = records[:len(questions)]
        for record, question in zip(records, questions, strict=True):
            if key == "dialogue":
                record["dialogue"][0]["content"] = question
            elif key == "chat":
                next(m for m in record["messages"] if m["role"] == "user")["content"] = question
            else:
                record["instruction"] = question
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


# ---------------------------------------------------------------- grading the cases
def styled(style: str):
    answers = yaml.safe_load((STYLE_DIR / f"{style}.yaml").read_text(encoding="utf-8"))
    return lambda impl: rewrite(impl, answers)


CASES = {
    **{style: (styled(style), ("test_analysis.py", "test_creativity.py"), ANSWER_SELECTION)
       for style in STYLES},
    # Every Analysis check (the figure checks are skipped, so no experiment runs).
    "generic": (lambda impl: rewrite(impl, every_answer(generic_paragraph)),
                ("test_analysis.py", "test_creativity.py"), GAMING_SELECTION),
    "unrelated": (lambda impl: rewrite(impl, every_answer(unrelated_paragraph)),
                  ("test_analysis.py", "test_creativity.py"), GAMING_SELECTION),
    "reworded_data": (reworded_data, ("test_creativity.py",), "new_"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workers = int(os.environ.get("KIT_TEST_WORKERS", "3"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(grade, changed_copy(tmp_path_factory, name, change), *files,
                                     extra=("-k", keyword))
                   for name, (change, files, keyword) in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


def earned(result, checks: dict[str, float]) -> float:
    got = {c["name"]: c["points"] for c in result["checks"]}
    assert set(checks) <= set(got), result["_stdout"][-3000:]
    return sum(got[name] for name in checks)


@pytest.mark.parametrize("style", STYLES)
def test_honest_answers_keep_every_point(results, style):
    result = results[style]
    assert earned(result, ANSWER_CHECKS) == sum(ANSWER_CHECKS.values()), \
        result["_stdout"][-4000:]


@pytest.mark.parametrize("case", ["generic", "unrelated"])
def test_answers_that_say_nothing_lose_at_least_half(results, case):
    result = results[case]
    assert round(earned(result, ANSWER_CHECKS), 6) <= sum(ANSWER_CHECKS.values()) / 2, \
        result["_stdout"][-4000:]


@pytest.mark.parametrize("case", ["generic", "unrelated"])
def test_answers_that_say_nothing_lose_half_of_the_analysis_category(results, case):
    """A section's figure checks count once one of its questions is answered, so correct
    figures alone do not carry an analysis that says nothing."""
    result = results[case]
    analysis = [c for c in result["checks"] if c["category"] == "analysis" and not c["review"]]
    assert sum(c["max_points"] for c in analysis) == 20, result["_stdout"][-3000:]
    assert round(sum(c["points"] for c in analysis), 6) <= 10, result["_stdout"][-4000:]


def test_new_data_on_the_kits_questions_loses_at_least_half(results):
    result = results["reworded_data"]
    assert round(earned(result, DATA_CHECKS), 6) <= sum(DATA_CHECKS.values()) / 2, \
        result["_stdout"][-4000:]


def test_reworded_records_are_not_near_copies():
    """The reworded records pass the 5-gram measure: only the question measure catches them."""
    impl = Impl("reference")
    records = [json.loads(line) for name in ("new_dialogues.jsonl",)
               for line in impl.path(f"data/{name}").read_text().splitlines()]
    for record, question in zip(records, REWORDED_DIALOGUE_OPENINGS, strict=False):
        record["dialogue"][0]["content"] = question
    texts = [creativity.record_text(r) for r in records]
    assert not creativity.find_near_duplicates(texts, creativity.provided_texts())
    original, problems = creativity.originality(records[:len(REWORDED_DIALOGUE_OPENINGS)])
    assert original <= 2, problems  # the measure's known misses: see grader/similarity.py
    assert all("asks a question the kit's data/ already asks" in p for p in problems)


def test_every_ruled_question_shows_its_concepts_and_valid_figures():
    """The rule is readable in the template: concepts under every graded question, and
    only figure names the figures block has."""
    rules = fig.question_rules()
    assert set(rules) == {(s, t) for s, topics in fig.RULED_TOPICS.items() for t in topics}
    for key, rule in rules.items():
        assert len(rule.concepts) >= fig.MIN_CONCEPTS + 1, key
        for name in rule.figures:
            group, _, figure = name.partition(".")
            assert figure in fig.FIGURE_KEYS.get(group, ()), (key, name)
    assert fig.ANSWER_RULE.count(". ") == 1  # two sentences, as the template shows them


def test_quoting_a_figure_allows_rounding_and_percent():
    assert fig.quotes_figure(fig.numbers_in("$0.19")[0], 0.192618)
    assert fig.quotes_figure(fig.numbers_in("2.5 %")[0], 0.0250335)
    assert fig.quotes_figure(fig.numbers_in("3,584")[0], 3584)
    assert fig.quotes_figure(fig.numbers_in("6.94")[0], 6.93908)
    assert not fig.quotes_figure(fig.numbers_in("0")[0], 0.0544351)
    assert not fig.quotes_figure(fig.numbers_in("0.25")[0], 0.4294)
