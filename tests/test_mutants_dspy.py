"""The DSPy checks catch plausible wrong implementations (mutants of the reference).

Each mutant is a copy of reference/ with one textual change; it is graded with
grader/checks/test_dspy.py in its own subprocess and must lose exactly the
expected checks (a check skipped because its prerequisite failed loses its
points too). The untouched stub must earn 0 of the 16 DSPy points and the
reference all of them. The gradings run a few at a time in parallel, since
each spends most of its time importing dspy and litellm.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gradelib import ROOT, grade, lost, mutate

# Grading 14 implementations takes minutes on a busy machine: the module fixture's
# time counts against the first test that uses it.
pytestmark = pytest.mark.timeout(1800)

CHECKS = "test_dspy.py"
SIGNATURE, MODULE = "test_signature_fields", "test_module_uses_chain_of_thought"
EXAMPLES, SPLIT = "test_examples_from_dialogues", "test_split_examples"
CONTRACT, RANKING = "test_metric_contract", "test_metrics_rank_gold_first"
FORWARD, COMPILE, SAVE = "test_replayed_forward_pass", "test_replayed_compile", \
    "test_save_load_round_trip"
ALL = {SIGNATURE, MODULE, EXAMPLES, SPLIT, CONTRACT, RANKING, FORWARD, COMPILE, SAVE}

# name: (checks that must lose points, [(old text, new text), ...]). One entry may
# hold several independent mutants when their expected losses cannot overlap:
# each lost check is then traceable to exactly one of them.
MUTANTS: dict[str, tuple[set[str], list[tuple[str, str]]]] = {
    "history includes the predicted turn + voice ignores teacher talk + load ignores the file": (
        {EXAMPLES, SPLIT, FORWARD, COMPILE} | {RANKING} | {SAVE},
        [("conversation_history=render_history(turns[: i - 1]),",
          "conversation_history=render_history(turns[: i + 1]),"),
         ("hits = sum(text.count(marker) for marker in TEACHER_MARKERS)", "hits = 0"),
         ("    program.load(str(path))\n", "")]),
    "Predict instead of ChainOfThought": (
        {MODULE, FORWARD, COMPILE, SAVE},
        [("self.chain = dspy.ChainOfThought(StudentResponse)",
          "self.chain = dspy.Predict(StudentResponse)")]),
    "forward swaps its inputs": (
        {MODULE, FORWARD, COMPILE, SAVE},
        [("self.chain(conversation_history=conversation_history, teacher_prompt=teacher_prompt)",
          "self.chain(conversation_history=teacher_prompt, teacher_prompt=conversation_history)")]),
    "teacher_prompt declared as an output": (
        {SIGNATURE, MODULE, FORWARD, COMPILE, SAVE},
        [("teacher_prompt = dspy.InputField(", "teacher_prompt = dspy.OutputField(")]),
    "metric returns a float under trace": (
        {CONTRACT, RANKING, COMPILE},
        [("return score >= threshold if trace is not None else score", "return score")]),
    "metric tests the trace's truthiness": (
        {CONTRACT, RANKING, COMPILE},
        [("return score >= threshold if trace is not None else score",
          "return score >= threshold if trace else score")]),
    "metric out of range": (
        {CONTRACT, RANKING, COMPILE},
        [("score = float(min(1.0, max(0.0, score)))", "score = float(score)")]),
    "split leaks dialogues": (
        {SPLIT, COMPILE},
        [("dialogue_id=dialogue_id,", 'dialogue_id=f"{dialogue_id}-{i}",')]),
    "split not seeded": (
        {SPLIT, COMPILE},
        [("random.Random(seed).shuffle(dialogue_ids)", "random.shuffle(dialogue_ids)")]),
    "optimize ignores the demo limit": (
        {COMPILE},
        [("max_labeled_demos=max_labeled_demos,", "max_labeled_demos=16,")]),
    "labeled demos only (LabeledFewShot)": (
        {COMPILE},
        [("    optimizer = dspy.BootstrapFewShot(\n"
          "        metric=teaching_quality,\n"
          "        max_bootstrapped_demos=max_bootstrapped_demos,\n"
          "        max_labeled_demos=max_labeled_demos,\n"
          "    )",
          "    optimizer = dspy.LabeledFewShot(k=max_labeled_demos)")]),
    "evaluate ignores the program it is given": (
        {COMPILE},
        [("result = evaluator(program)", "result = evaluator(StudentSimulationModel())")]),
    "evaluate returns a percentage": (
        {COMPILE},
        [("return result.score / 100", "return result.score")]),
    "LM on DSPy's default engine": (
        {FORWARD, COMPILE, SAVE},
        [('dspy.LM(model, engine="litellm", cache=False,', "dspy.LM(model, cache=False,")]),
    # --- promises made observable by the docstring audit
    "split reorders each side by dialogue": (
        {SPLIT, COMPILE},
        [("    dev = [example for example in examples if example.dialogue_id in dev_ids]\n",
          "    dev = sorted((e for e in examples if e.dialogue_id in dev_ids),\n"
          "                 key=lambda e: e.dialogue_id)\n")]),
    "load_examples reverses the file": (
        {EXAMPLES, SPLIT, FORWARD, COMPILE},
        [("    for dialogue in load_dialogues(path):\n",
          "    for dialogue in reversed(load_dialogues(path)):\n")]),
    "teaching_quality with equal weights": (
        {RANKING},
        [("WEIGHTS = (0.35, 0.3, 0.15, 0.2)", "WEIGHTS = (0.25, 0.25, 0.25, 0.25)")]),
    "split puts every dialogue in train": (
        {SPLIT, COMPILE},
        [("    dev_ids = set(dialogue_ids[:n_dev])\n", "    dev_ids = set()\n")]),
}

# Correct designs other than the reference's: each must keep every point. They are
# graded, like everything here, with no OPENAI_API_KEY in the environment.
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "api_key passed only when given (no offline placeholder)": [
        ('    elif not live:\n        options["api_key"] = "sk-offline-replay"', "")],
}
# The grade must not depend on the student's shell: no real key, ever.
NO_KEY = {"OPENAI_API_KEY": None}


def _build(tmp_path, edits):
    # The copy's utils.py finds the datasets in ../data, next to the copy.
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return mutate(tmp_path, "dspy_example", edits)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Grade the reference, the stub and every mutant (a few subprocesses at a time)."""
    jobs = {"reference": "reference", "assignments": "assignments"}
    for number, (name, (_, edits)) in enumerate(MUTANTS.items()):
        jobs[name] = _build(tmp_path_factory.mktemp(f"mutant{number}"), edits)
    for number, (name, edits) in enumerate(VARIANTS.items()):
        jobs[name] = _build(tmp_path_factory.mktemp(f"variant{number}"), edits)
    workers = int(os.environ.get("KIT_TEST_WORKERS", "3"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(grade, impl, CHECKS, env=NO_KEY)
                   for name, impl in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _dspy_points(result):
    checks = [c for c in result["checks"] if c["approach"] == "dspy"]
    return sum(c["points"] for c in checks), sum(c["max_points"] for c in checks)


def test_reference_earns_every_dspy_point(results):
    earned, possible = _dspy_points(results["reference"])
    assert possible == 16
    assert earned == 16, results["reference"]["_stdout"][-3000:]


def test_stub_earns_no_dspy_point(results):
    earned, possible = _dspy_points(results["assignments"])
    assert possible == 16
    assert earned == 0
    assert lost(results["assignments"]) == ALL


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_caught_by_exactly(results, name):
    assert lost(results[name]) == MUTANTS[name][0], results[name]["_stdout"][-3000:]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_correct_variant_keeps_every_point(results, name):
    assert not lost(results[name]), results[name]["_stdout"][-3000:]


def test_every_check_itself_fails_some_mutant(results):
    """Not only skipped behind a prerequisite: each check fails on at least one mutant."""
    failed = {c["name"] for name in MUTANTS for c in results[name]["checks"]
              if c["status"] in ("failed", "error")}
    assert failed == ALL, f"checks that never fail on their own: {sorted(ALL - failed)}"
