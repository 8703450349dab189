"""The Analysis, Creativity and Presentation checks catch plausible wrong submissions.

Each mutant is a copy of reference/ with one change: a figure typed wrong in
ANALYSIS.md, an answer left as the template's placeholder, a copied dialogue,
a metric that ignores DSPy's contract, a ruff violation... It is graded in its
own subprocess and must lose exactly the expected checks (a check skipped
because its prerequisite failed loses its points too). Where a mutant can only
affect a few checks, the run selects them with ``-k`` so it does not re-run
the expensive experiments. The reference earns every automatic point of the
three categories and lists the review points apart; the untouched stubs and
template earn nothing.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from grader import analysis_doc as fig
from tests.gradelib import ROOT, changed_copy, grade, lost

# Grading 31 implementations takes minutes on a small machine: the module fixture's
# time counts against the first test that uses it.
pytestmark = pytest.mark.timeout(1800)

A, C, P = "test_analysis.py", "test_creativity.py", "test_presentation.py"

DSPY_Q, OPENAI_Q, LORA_Q = ("test_dspy_questions_answered", "test_openai_questions_answered",
                            "test_lora_questions_answered")
DSPY_METRIC, DSPY_CALLS = "test_dspy_metric_figures_match_code", "test_dspy_call_figures_match_code"
OPENAI_TOKENS, OPENAI_COST = "test_openai_token_figures_match_code", "test_openai_cost_matches_code"
LORA_PARAMS, LORA_TRAINING = ("test_lora_parameter_figures_match_code",
                              "test_lora_training_figures_match_code")
FIGURES, COMPARISON_Q = "test_figures_block_complete", "test_comparison_questions_answered"
TABLE, OWN_WORDS = "test_comparison_table_covers_approaches", "test_answers_in_own_words"
VALID, COUNT, ORIGINAL = "test_new_data_valid", "test_new_dialogues_count", \
    "test_new_dialogues_original"
CHAT, QA = "test_new_chat_examples", "test_new_qa_pairs"
CONTRACT, DETERMINISTIC, RANKS = ("test_novel_metric_contract", "test_novel_metric_deterministic",
                                  "test_novel_metric_ranks_good_above_bad")
ENH_DOC, ENH_RERUN = "test_enhancement_documented", "test_enhancement_rerun_matches"
RUFF, LEFTOVER, WELL_FORMED = "test_ruff_clean", "test_no_leftover_todo", \
    "test_analysis_well_formed"
REVIEW = {"test_dspy_reasoning_depth", "test_openai_reasoning_depth", "test_lora_reasoning_depth",
          "test_comparison_reasoning_depth"}
AUTOMATIC = {DSPY_Q, OPENAI_Q, LORA_Q, DSPY_METRIC, DSPY_CALLS, OPENAI_TOKENS, OPENAI_COST,
             LORA_PARAMS, LORA_TRAINING, FIGURES, COMPARISON_Q, TABLE, OWN_WORDS, VALID, COUNT,
             ORIGINAL, CHAT, QA, CONTRACT, DETERMINISTIC, RANKS, ENH_DOC, ENH_RERUN, RUFF,
             LEFTOVER, WELL_FORMED}
TEXT_ONLY = "not match_code and not rerun"  # -k: every check that runs no experiment


# ---------------------------------------------------------------- editing a copy
def analysis(impl: Path) -> Path:
    return impl / "ANALYSIS.md"


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name}: {old[:60]!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")


def set_figure(dotted: str, change):
    def apply(impl: Path) -> None:
        path = analysis(impl)
        text = path.read_text(encoding="utf-8")
        block = fig.figures_block(text)
        data = yaml.safe_load(block)
        group, key = dotted.split(".")
        data[group][key] = change(data[group][key], data)
        new = yaml.safe_dump(data, sort_keys=False)
        path.write_text(text.replace(block, new), encoding="utf-8")
    return apply


def set_answer(section: str, topic: str, new):
    def apply(impl: Path) -> None:
        path = analysis(impl)
        doc = fig.parse_document(path.read_text(encoding="utf-8"))
        old = doc.answer(section, topic)
        replace_once(path, old, new(doc) if callable(new) else new)
    return apply


def edit(relative: str, old: str, new: str):
    def apply(impl: Path) -> None:
        replace_once(impl / relative, old, new)
    return apply


def rewrite_lines(relative: str, change):
    def apply(impl: Path) -> None:
        path = impl / relative
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
    return apply


def drop_lora_column(impl: Path) -> None:
    path = analysis(impl)
    text = path.read_text(encoding="utf-8")
    start = text.index("<!-- compare:table:start -->")
    end = text.index("<!-- compare:table:end -->")
    table = "\n".join(re.sub(r"\|[^|]*\|$", "|", line) if line.startswith("|") else line
                      for line in text[start:end].splitlines())
    path.write_text(text[:start] + table + "\n" + text[end:], encoding="utf-8")


def drop_comparison_section(impl: Path) -> None:
    path = analysis(impl)
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("## 4. Comparison")] + text[text.index("## 5. Enhancement"):],
                    encoding="utf-8")


def first_data_dialogue() -> str:
    with (ROOT / "data" / "teacher_student_dialogues.jsonl").open(encoding="utf-8") as handle:
        return handle.readline().rstrip("\n")


def invalid_role(lines):
    record = json.loads(lines[0])
    record["dialogue"][1]["role"] = "pupil"
    return [json.dumps(record), *lines[1:]]


def swap_baseline_and_result(result, data):
    """The enhancement block with its baseline and result swapped: the figures stay, the
    finding turns around."""
    baseline = data["enhancement"]["baseline"]
    data["enhancement"]["baseline"] = result
    return baseline


def _question(section, topic):
    question = fig.question_text(fig.template_document().body(section, topic))
    return lambda doc: " ".join([question] * 3)


# (name, how to change the copy, check files, -k selection or None, checks that must lose points)
MUTANTS = [
    # The comparison's cost answer quotes the real cost, no longer the one in the figures block.
    ("cost_typed_wrong", set_figure("openai.cost_usd", lambda v, d: round(v * 2, 6)),
     (A,), None, {OPENAI_COST, COMPARISON_Q}),
    ("trainable_params_typed_wrong",
     set_figure("lora.trainable_params", lambda v, d: d["lora"]["total_params"]),
     (A,), None, {LORA_PARAMS}),
    ("metric_after_typed_wrong", set_figure("dspy.metric_after", lambda v, d: round(v - 0.25, 4)),
     (A,), "dspy_metric or dspy_questions", {DSPY_METRIC}),
    # The compute and cost answers quote the real call count, no longer the block's.
    ("lm_calls_typed_wrong", set_figure("dspy.lm_calls", lambda v, d: v * 2),
     (A,), "dspy_call or dspy_questions", {DSPY_CALLS, DSPY_Q}),
    ("epochs_left_out_of_training_tokens",
     set_figure("openai.training_tokens", lambda v, d: d["openai"]["tokens_per_epoch"]),
     (A,), "openai", {OPENAI_TOKENS}),
    ("seconds_per_step_in_milliseconds",
     set_figure("lora.seconds_per_step", lambda v, d: round(v * 1000, 3)),
     (A,), "lora", {LORA_TRAINING}),
    ("enhancement_result_typed_wrong",
     set_figure("enhancement.result", lambda v, d: round(v * 0.9, 6)),
     (C,), "enhancement", {ENH_RERUN}),
    # Each figure is within 2 % of the re-run (the tiny model's loss moves about 1 %): only the
    # change between the two gives these away.
    ("loss_after_copied_from_loss_before",
     set_figure("lora.loss_after", lambda v, d: d["lora"]["loss_before"]),
     (A,), "lora", {LORA_TRAINING}),
    ("enhancement_baseline_and_result_swapped",
     set_figure("enhancement.result", swap_baseline_and_result),
     (C,), "enhancement", {ENH_RERUN}),
    ("figure_left_null", set_figure("lora.loss_after", lambda v, d: None),
     (A, P), "figures_block or lora_training or lora_questions or well_formed",
     {FIGURES, LORA_TRAINING, WELL_FORMED}),
    ("enhancement_numbers_typed_in",
     edit("enhancement.py",
          "    baseline = train_with_targets(BASELINE_TARGETS, steps=steps, seed=seed)\n"
          "    enhanced = train_with_targets(ENHANCED_TARGETS, steps=steps, seed=seed)\n",
          '    baseline = {"eval_loss": 6.88303, "trainable_params": 3584}\n'
          '    enhanced = {"eval_loss": 6.85765, "trainable_params": 7168}\n'),
     (C,), "enhancement", {ENH_RERUN}),
    ("enhancement_parameters_misreported",
     edit("enhancement.py", '        "result_trainable_params": enhanced["trainable_params"],\n',
          '        "result_trainable_params": 2 * enhanced["trainable_params"],\n'),
     (C,), "enhancement", {ENH_RERUN}),
    ("enhancement_approach_unknown", set_figure("enhancement.approach", lambda v, d: "prompting"),
     (C,), "enhancement_documented", {ENH_DOC}),
    ("one_paragraph_pasted_twice",
     set_answer("dspy", "performance", lambda doc: doc.answer("dspy", "cost")),
     (A, P), TEXT_ONLY, {OWN_WORDS, DSPY_Q}),  # repeated sentences count for neither answer
    ("answer_left_as_placeholder", set_answer("lora", "cost", fig.PLACEHOLDER),
     (A, P), TEXT_ONLY, {LORA_Q, OWN_WORDS, WELL_FORMED}),
    ("question_pasted_as_answer",
     set_answer("lora", "performance", _question("lora", "performance")),
     (A, P), TEXT_ONLY, {LORA_Q}),
    ("answer_too_short", set_answer("dspy", "choose", "Small data, quick results."),
     (A, P), TEXT_ONLY, {DSPY_Q, OWN_WORDS, WELL_FORMED}),
    ("openai_heading_renamed",
     edit("ANALYSIS.md", "### Implementation complexity\n\nThe API calls are simple",
          "### Difficulty\n\nThe API calls are simple"),
     (A, P), TEXT_ONLY, {OPENAI_Q, OWN_WORDS, WELL_FORMED}),
    ("comparison_section_missing", drop_comparison_section,
     (A, P), TEXT_ONLY, {COMPARISON_Q, TABLE, OWN_WORDS, WELL_FORMED}),
    ("table_without_lora_column", drop_lora_column, (A, P), TEXT_ONLY, {TABLE}),
    ("chart_link_broken", edit("ANALYSIS.md", "(figures/comparison.png)", "(figures/chart.png)"),
     (A, P), TEXT_ONLY, {WELL_FORMED}),
    ("metric_constant", edit("metrics_extra.py", "    return learner_authenticity(example, "
                             "prediction, trace)\n", "    return 0.5 if trace is None else True\n"),
     (C,), "novel_metric", {RANKS}),
    ("metric_float_under_trace",
     edit("metrics_extra.py", "    if trace is None:\n        return score\n"
          "    return score >= PASS_THRESHOLD\n", "    return score\n"),
     (C,), "novel_metric", {CONTRACT, DETERMINISTIC, RANKS}),
    ("metric_random",
     edit("metrics_extra.py", "    return learner_authenticity(example, prediction, trace)\n",
          "    import random\n\n    score = random.random()\n"
          "    return score if trace is None else score > 0.5\n"),
     (C,), "novel_metric", {DETERMINISTIC, RANKS}),
    ("metric_is_the_baseline",
     edit("metrics_extra.py", "    return learner_authenticity(example, prediction, trace)\n",
          "    from .dspy_example import teaching_quality\n\n"
          "    return teaching_quality(example, prediction, trace)\n"),
     (C,), "novel_metric", {CONTRACT, DETERMINISTIC, RANKS}),
    ("dialogue_copied_from_data",
     rewrite_lines("data/new_dialogues.jsonl", lambda lines: [first_data_dialogue(), *lines[1:]]),
     (C,), "new_", {ORIGINAL}),
    ("dialogue_with_invalid_role", rewrite_lines("data/new_dialogues.jsonl", invalid_role),
     (C,), "new_", {VALID}),
    ("only_five_dialogues", rewrite_lines("data/new_dialogues.jsonl", lambda lines: lines[:5]),
     (C,), "new_", {COUNT, ORIGINAL}),
    ("chat_examples_all_the_same",
     rewrite_lines("data/new_chat.jsonl", lambda lines: [lines[0]] * len(lines)),
     (C,), "new_", {CHAT}),
    ("no_qa_pairs", lambda impl: (impl / "data" / "new_qa.jsonl").unlink(),
     (C,), "new_", {QA}),
    ("unused_import", edit("metrics_extra.py", "import re\n", "import os\nimport re\n"),
     (P,), None, {RUFF}),
    ("todo_left_in_a_function",
     edit("metrics_extra.py", "    reply = str(getattr(prediction,",
          "    # TODO: tune the weights\n    reply = str(getattr(prediction,"),
     (P,), None, {LEFTOVER}),
    ("module_not_finished",
     edit("enhancement.py", '    baseline = train_with_targets(BASELINE_TARGETS, steps=steps, '
          'seed=seed)\n', '    raise NotImplementedError("TODO: the baseline")\n'),
     (P,), None, {RUFF, LEFTOVER}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Grade the reference, the stub and every mutant, a few subprocesses at a time."""
    jobs = {"reference": ("reference", (A, C, P), None),
            "assignments": ("assignments", (A, C, P), None)}
    for name, change, files, keyword, _ in MUTANTS:
        jobs[name] = (changed_copy(tmp_path_factory, name, change), files, keyword)
    workers = int(os.environ.get("KIT_TEST_WORKERS", "3"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            name: pool.submit(grade, impl, *files, extra=("-k", keyword) if keyword else ())
            for name, (impl, files, keyword) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _totals(result, categories=("analysis", "creativity", "presentation")):
    checks = [c for c in result["checks"] if c["category"] in categories and not c["review"]]
    return sum(c["points"] for c in checks), sum(c["max_points"] for c in checks)


def test_reference_earns_every_automatic_point(results):
    result = results["reference"]
    earned, possible = _totals(result)
    assert possible == 50  # 20 analysis + 20 creativity + 10 presentation
    assert earned == possible, result["_stdout"][-4000:]
    assert {c["name"] for c in result["checks"]} == AUTOMATIC | REVIEW


def test_reference_lists_review_points_apart(results):
    result = results["reference"]
    review = [c for c in result["checks"] if c["review"]]
    assert {c["name"] for c in review} == REVIEW
    assert all(c["status"] == "review" and c["points"] == 0 for c in review)
    assert result["totals"]["review"] == {"earned": 0, "max": 10}


def test_stub_earns_nothing(results):
    result = results["assignments"]
    for category in ("analysis", "creativity", "presentation"):
        earned, possible = _totals(result, (category,))
        assert possible > 0 and earned == 0, category
    assert lost(result) == AUTOMATIC | REVIEW


@pytest.mark.parametrize("name, expected", [(m[0], m[4]) for m in MUTANTS],
                         ids=[m[0] for m in MUTANTS])
def test_mutant_is_caught_by_exactly(results, name, expected):
    result = results[name]
    assert lost(result) - REVIEW == expected, result["_stdout"][-4000:]


def test_every_check_itself_fails_some_mutant(results):
    """Not only skipped behind a prerequisite: each check fails on at least one mutant."""
    failed = {c["name"] for name, *_ in MUTANTS for c in results[name]["checks"]
              if c["status"] in ("failed", "error", "partial")}
    assert failed == AUTOMATIC, f"checks that never fail on their own: {sorted(AUTOMATIC - failed)}"
