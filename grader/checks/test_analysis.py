"""Analysis & Understanding: ANALYSIS.md in your own words, with figures your code computes.

The honest core: every figure in the ```yaml figures block is recomputed by
running *your own code* through the seam (see grader/analysis_doc.py for the exact
calls and tolerances), and an answer counts when it says something about its own
question: the rule in the template (analysis_doc.ANSWER_RULE) asks for words of
your own, two of the concepts listed under the question, and your own figures
where the question lists them. A section's figures are the evidence of its answers:
its figure checks count once at least one of its questions is answered. Depth of
reasoning is judged by course staff:
those checks show as "awaiting review" until an instructor's review file fills them.
"""

from __future__ import annotations

import pytest

from grader import analysis_doc as fig
from grader.similarity import NEAR_DUPLICATE_THRESHOLD, similarity

SECTION_TITLES = {
    "dspy": "## 1. DSPy prompt optimization", "openai": "## 2. OpenAI cloud fine-tuning",
    "lora": "## 3. HuggingFace LoRA", "comparison": "## 4. Comparison",
}
# Rows the comparison table must have, recognised by a keyword in the row's label.
TABLE_ROWS = {
    "data used": ("data", "example"), "wall time": ("time", "second", "minute"),
    "tokens / cost": ("cost", "token", "$", "price"),
    "trainable parameters": ("param",), "metric before → after": ("metric", "loss", "score"),
}


# ---------------------------------------------------------------- helpers
def answered_questions(impl, section: str) -> tuple[int, list[str]]:
    """How many of the six questions of a section are answered; the problems found.

    An answer counts when it follows the rule written in the template (fig.ANSWER_RULE):
    30 words of its own that use two of the concepts listed under the question and, where
    the question lists figures, quote one of the student's own figures.
    """
    doc = fig.read_document(impl)
    if section not in doc.sections:
        raise AssertionError(f"ANALYSIS.md has no section for {section}: keep the heading "
                             f"{SECTION_TITLES[section]!r} from the template")
    verdicts = fig.judge_answers(doc)
    answered, problems = 0, []
    for topic in fig.QUESTIONS:
        title = fig.QUESTION_TITLES[topic]
        if doc.body(section, topic) is None:
            problems.append(f"{section}: the heading '### {title}' is missing")
            continue
        verdict = verdicts[(section, topic)]
        if verdict.ok:
            answered += 1
        else:
            problems.append(f"{section} / {title}: " + "; ".join(verdict.problems))
    return answered, problems


def grade_questions(impl, credit, section: str) -> None:
    answered, problems = answered_questions(impl, section)
    total = len(fig.QUESTIONS)
    assert answered, f"none of the {total} questions of this section is answered yet:\n" + \
        "\n".join(problems)
    credit(answered / total, f"{answered} of {total} questions answered"
           + ("; " + "; ".join(problems) if problems else ""))


def grade_figures(impl, credit, group: str, keys: tuple[str, ...], experiments=None) -> None:
    """Credit the share of ``group``'s figures ``keys`` that agree with what the code computes.

    Every key must be reported in the figures block. OpenAI's figures are recomputed from the
    student's openai_finetune for the model the block names; DSPy's and LoRA's are those of the
    student's experiment (the ``experiments`` fixture).
    """
    try:
        figures = fig.read_figures(impl)
    except fig.FiguresError as exc:
        raise AssertionError(str(exc)) from None
    missing = [k for k in keys if fig.number(figures[group].get(k)) is None]
    assert not missing, (f"the figures block does not report {group}: "
                         + ", ".join(missing) + " (fill in the numbers your code printed)")
    if group == "openai":
        model = figures["openai"].get("model") or fig.DEFAULT_OPENAI_MODEL
        computed = fig.recompute_openai(impl, model)
    else:
        computed = experiments.result(group)
    problems = fig.compare(figures, group, computed, keys)
    agreeing = len(keys) - len(problems)
    assert agreeing, "no reported figure agrees with what your code computes:\n" + \
        "\n".join(problems)
    credit(agreeing / len(keys), "; ".join(problems) or f"all {len(keys)} figures agree")


# ---------------------------------------------------------------- DSPy (8)
@pytest.mark.rubric("analysis", "dspy", points=1.5)
def test_dspy_questions_answered(impl, credit):
    """Answer the six questions of the DSPy section of ANALYSIS.md in your own words: 30 words
    or more each, using two of the concepts listed under the question and quoting your own
    figures where it lists them. Read the rule in assignments/ANALYSIS.md."""
    grade_questions(impl, credit, "dspy")


@pytest.mark.timeout(300)
@pytest.mark.rubric("analysis", "dspy", points=2.5, depends=("test_dspy_questions_answered",))
def test_dspy_metric_figures_match_code(impl, experiments, credit):
    """The DSPy metric before and after optimization in your figures block must be what your
    dspy_example.run_experiment() computes (within 0.02). Run it and copy its numbers:
    python -m assignments.dspy_example"""
    keys = ("metric_before", "metric_after")
    grade_figures(impl, credit, "dspy", keys, experiments)


@pytest.mark.timeout(300)
@pytest.mark.rubric("analysis", "dspy", points=2, depends=("test_dspy_questions_answered",))
def test_dspy_call_figures_match_code(impl, experiments, credit):
    """The number of LM calls and of train/dev examples in your figures block must be what your
    dspy_example.run_experiment() reports. Run it and copy its numbers."""
    keys = ("train_examples", "dev_examples", "lm_calls")
    grade_figures(impl, credit, "dspy", keys, experiments)


@pytest.mark.rubric("analysis", "dspy", points=2, review=True)
def test_dspy_reasoning_depth(impl):
    """Course staff judge the depth of your DSPy analysis: do you explain *why* the optimizer
    helped or not, what the metric rewards, and its limits, with your own figures as evidence?"""


# ---------------------------------------------------------------- OpenAI (6)
@pytest.mark.rubric("analysis", "openai", points=1)
def test_openai_questions_answered(impl, credit):
    """Answer the six questions of the OpenAI section of ANALYSIS.md in your own words: 30 words
    or more each, using two of the concepts listed under the question and quoting your own
    figures where it lists them. Read the rule in assignments/ANALYSIS.md."""
    grade_questions(impl, credit, "openai")


@pytest.mark.rubric("analysis", "openai", points=1.5,
                    depends=("test_openai_questions_answered",))
def test_openai_token_figures_match_code(impl, credit):
    """Training tokens, epochs and example count in your figures block must be what your
    openai_finetune.estimate_cost() computes for data/openai_teacher_dialogue_training.jsonl
    (tokens within 1 %, epochs exact). Run: python -m assignments.openai_finetune --dry-run"""
    keys = ("examples", "tokens_per_epoch", "epochs", "training_tokens")
    grade_figures(impl, credit, "openai", keys)


@pytest.mark.rubric("analysis", "openai", points=1.5,
                    depends=("test_openai_questions_answered",))
def test_openai_cost_matches_code(impl, credit):
    """The estimated fine-tuning cost in your figures block must be what your
    openai_finetune.estimate_cost() computes (within 1 % or one cent). Read: OpenAI pricing and
    the fine-tuning data preparation guide."""
    keys = ("cost_usd",)
    grade_figures(impl, credit, "openai", keys)


@pytest.mark.rubric("analysis", "openai", points=2, review=True)
def test_openai_reasoning_depth(impl):
    """Course staff judge the depth of your OpenAI analysis: cost drivers, data quality,
    privacy and evaluation, argued from your own figures."""


# ---------------------------------------------------------------- LoRA (6)
@pytest.mark.rubric("analysis", "lora", points=1)
def test_lora_questions_answered(impl, credit):
    """Answer the six questions of the LoRA section of ANALYSIS.md in your own words: 30 words
    or more each, using two of the concepts listed under the question and quoting your own
    figures where it lists them. Read the rule in assignments/ANALYSIS.md."""
    grade_questions(impl, credit, "lora")


@pytest.mark.timeout(180)
@pytest.mark.rubric("analysis", "lora", points=1.5, depends=("test_lora_questions_answered",))
def test_lora_parameter_figures_match_code(impl, experiments, credit):
    """The trainable and total parameter counts and the trainable share in your figures block
    must be what your huggingface_lora.run_experiment() reports on the tiny model (counts exact).
    Read: https://huggingface.co/docs/peft/conceptual_guides/lora"""
    keys = ("trainable_params", "total_params", "trainable_share")
    grade_figures(impl, credit, "lora", keys, experiments)


@pytest.mark.timeout(180)
@pytest.mark.rubric("analysis", "lora", points=1.5, depends=("test_lora_questions_answered",))
def test_lora_training_figures_match_code(impl, experiments, credit):
    """Loss before and after training (within 2 %, and the change between them within 25 %),
    the example counts, and a plausible seconds-per-step in your figures block must match what
    your huggingface_lora.run_experiment() reports (steps=5, seed=0, the kit's tiny model)."""
    keys = ("train_examples", "eval_examples", "loss_before", "loss_after", "seconds_per_step")
    grade_figures(impl, credit, "lora", keys, experiments)


@pytest.mark.rubric("analysis", "lora", points=2, review=True)
def test_lora_reasoning_depth(impl):
    """Course staff judge the depth of your LoRA analysis: what rank and targets mean for
    parameters and memory, what the loss does and does not show, and what a real model needs."""


# ---------------------------------------------------------------- cross-cutting (10)
@pytest.mark.rubric("analysis", None, points=1.5)
def test_figures_block_complete(impl, credit):
    """Fill every number of the ```yaml figures block at the end of ANALYSIS.md (no null left),
    with the names the template uses."""
    try:
        figures = fig.read_figures(impl)
    except fig.FiguresError as exc:
        raise AssertionError(str(exc)) from None
    missing = fig.missing_figures(figures)
    numbers = sum(map(len, fig.FIGURE_KEYS.values()))
    total = numbers + sum(map(len, fig.TEXT_KEYS.values()))
    filled = total - len(missing)
    numbers_missing = [m for m in missing if m.split(".")[1] in fig.FIGURE_KEYS[m.split(".")[0]]]
    assert len(numbers_missing) < numbers, "the figures block is still empty: every figure is null"
    credit(filled / total, f"{filled} of {total} figures given"
           + (f"; missing: {', '.join(missing)}" if missing else ""))


@pytest.mark.rubric("analysis", None, points=1.5)
def test_comparison_questions_answered(impl, credit):
    """Answer the six questions of the Comparison section of ANALYSIS.md in your own words:
    compare the approaches (name two or more in each answer), use two of the concepts listed
    under each question, and quote your own figures where it lists them."""
    grade_questions(impl, credit, "comparison")


def comparison_table(doc) -> tuple[list[list[str]], dict[str, int], bool] | None:
    """The first table naming all three approaches: (rows, approach -> index, by_column)."""
    body = doc.body("comparison", "table")
    candidates = fig.markdown_tables(body or "") + fig.markdown_tables(doc.text)
    best = None
    for rows in candidates:
        header = {fig.approach_of(c): i for i, c in enumerate(rows[0]) if fig.approach_of(c)}
        column = {fig.approach_of(r[0]): i for i, r in enumerate(rows)
                  if r and fig.approach_of(r[0])}
        if len(header) == 3:
            return rows, header, True
        if len(column) == 3:
            return rows, column, False
        if best is None and (header or column):
            best = (rows, header or column, bool(header))
    return best


def filled(cell: str) -> bool:
    text = cell.strip().strip("*_` ")
    return bool(text) and text not in {fig.TABLE_PLACEHOLDER, "-", "—", "n/a?", "TODO"}


@pytest.mark.rubric("analysis", None, points=2)
def test_comparison_table_covers_approaches(impl, credit):
    """The comparison table must have one column (or row) per approach -- DSPy, OpenAI, LoRA --
    and filled rows for data used, wall time, tokens/cost, trainable parameters and the metric
    before -> after. Write a figure or "none" / "n/a" with a reason, never leave "?"."""
    doc = fig.read_document(impl)
    found = comparison_table(doc)
    assert found is not None, "ANALYSIS.md has no Markdown table naming DSPy, OpenAI and LoRA"
    rows, approaches, by_column = found
    missing = sorted(set(fig.APPROACH_NAMES) - set(approaches))
    assert not missing, f"the comparison table has no {' / '.join(missing)} column or row"
    if by_column:
        lines = {r[0]: [r[i] if i < len(r) else "" for i in approaches.values()] for r in rows[1:]}
    else:
        labels = rows[0]
        lines = {labels[j]: [rows[i][j] if j < len(rows[i]) else "" for i in approaches.values()]
                 for j in range(1, len(labels))}
    covered, problems = 0, []
    for name, keywords in TABLE_ROWS.items():
        matching = [cells for label, cells in lines.items()
                    if any(k in label.lower() for k in keywords)]
        if not matching:
            problems.append(f"no row for {name}")
        elif not any(all(filled(c) for c in cells) for cells in matching):
            problems.append(f"the {name} row has empty or '?' cells")
        else:
            covered += 1
    assert covered, "the comparison table has no filled row:\n" + "\n".join(problems)
    credit(covered / len(TABLE_ROWS), f"{covered} of {len(TABLE_ROWS)} rows filled"
           + ("; " + "; ".join(problems) if problems else ""))


@pytest.mark.rubric("analysis", None, points=1)
def test_answers_in_own_words(impl, credit):
    """Every answer in ANALYSIS.md must be its own: the same paragraph pasted under several
    questions, or the template's question reworded as the answer, does not count."""
    doc = fig.read_document(impl)
    answers = {}
    for section, topics in fig.REQUIRED_TOPICS.items():
        for topic in topics:
            if topic == "table":
                continue
            text = doc.answer(section, topic)
            if len(fig.words(text)) >= fig.MIN_WORDS:
                answers[f"{section} / {topic}"] = text
    total = sum(len([t for t in topics if t != "table"]) for topics in fig.REQUIRED_TOPICS.values())
    assert answers, "ANALYSIS.md has no answer of 30 words or more yet"
    names = list(answers)
    copies = set()
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if similarity(answers[a], answers[b]) >= NEAR_DUPLICATE_THRESHOLD:
                copies.update((a, b))
    own = len(answers) - len(copies)
    assert own, "every answer repeats another one"
    credit(own / total, f"{own} of {total} answers are distinct answers of your own"
           + (f"; near-duplicates: {', '.join(sorted(copies))}" if copies else ""))


@pytest.mark.rubric("analysis", None, points=4, review=True)
def test_comparison_reasoning_depth(impl):
    """Course staff judge the comparison: are the trade-offs argued from your figures, is the
    choice for each teaching scenario justified, are limits of the comparison acknowledged?"""
