"""grader/analysis_doc.py: reading ANALYSIS.md (sections, tables, figures) and its tolerances."""

from __future__ import annotations

import pytest

from grader import analysis_doc as fig
from grader.seam import REPO_ROOT

GOOD_BLOCK = """
Some text.

```yaml figures
dspy: {train_examples: 16, dev_examples: 12, metric_before: 0.5, metric_after: 0.6, lm_calls: 28}
openai: {model: gpt-4o-mini, examples: 10, tokens_per_epoch: 100, epochs: 3,
         training_tokens: 300, cost_usd: 0.0009}
lora: {trainable_params: 10, total_params: 100, trainable_share: 0.1, train_examples: 5,
       eval_examples: 2, loss_before: 6.0, loss_after: 5.0, seconds_per_step: 0.1}
enhancement: {approach: lora, metric: eval_loss, baseline: 5.0, result: 4.9}
```
"""


def test_the_graders_template_is_the_students_template():
    """The grader judges "own words" against its own copy; it must equal the shipped one."""
    shipped = (REPO_ROOT / "assignments" / "ANALYSIS.md").read_text(encoding="utf-8")
    assert fig.TEMPLATE.read_text(encoding="utf-8") == shipped


def test_template_has_every_heading_and_no_answer():
    doc = fig.template_document()
    for section, topics in fig.REQUIRED_TOPICS.items():
        for topic in topics:
            assert doc.body(section, topic) is not None, (section, topic)
            if topic != "table":
                assert fig.words(doc.answer(section, topic)) == []
                assert fig.question_text(doc.body(section, topic))


def test_template_figures_are_all_missing():
    figures = fig.parse_figures(fig.template_document().text)
    missing = fig.missing_figures(figures)
    numbers = [f"{g}.{k}" for g, keys in fig.FIGURE_KEYS.items() for k in keys]
    assert set(numbers) <= set(missing)
    assert "openai.model" not in missing  # pre-filled with the default model


def test_reference_analysis_answers_every_question():
    doc = fig.parse_document((REPO_ROOT / "reference" / "ANALYSIS.md").read_text())
    for section, topics in fig.REQUIRED_TOPICS.items():
        for topic in topics:
            if topic != "table":
                assert len(fig.words(doc.answer(section, topic))) >= fig.MIN_WORDS, (section, topic)
    assert not fig.missing_figures(fig.parse_figures(doc.text))


def test_sections_found_by_keyword_and_fences_ignored():
    doc = fig.parse_document(
        "# Title\n## DSPy, my way\n### When would I choose it?\nBecause.\n"
        "```\n## not a heading\n```\n## OpenAI\n### Costs\n> question\nanswer <!-- x -->\n")
    assert doc.body("dspy", "choose").startswith("Because.")
    assert "## not a heading" in doc.body("dspy", "choose")
    assert doc.answer("openai", "cost") == "answer"
    assert doc.headings == ["DSPy, my way", "OpenAI"]


def test_answer_text_drops_questions_placeholders_and_tables():
    body = f"> Why?\n{fig.PLACEHOLDER}\n| a | b |\n|---|---|\nMine."
    assert fig.answer_text(body) == "Mine."


def test_words_counts_numbers_and_contractions():
    assert fig.words("It's 3.5 s/step, isn't it?") == ["It's", "3.5", "s", "step", "isn't", "it"]


def test_parse_figures_reads_the_block():
    figures = fig.parse_figures(GOOD_BLOCK)
    assert figures["openai"]["cost_usd"] == 0.0009
    assert fig.missing_figures(figures) == []


@pytest.mark.parametrize("text, message", [
    ("no block here", "no ```yaml figures block"),
    ("```yaml figures\ndspy: [1, 2\n```\n", "not valid YAML"),
    ("```yaml figures\n- 1\n- 2\n```\n", "must be a mapping"),
    ("```yaml figures\ndspy: 3\n```\n", "dspy must be a mapping"),
])
def test_parse_figures_explains_bad_blocks(text, message):
    with pytest.raises(fig.FiguresError, match=message.replace("`", ".")):
        fig.parse_figures(text)


def test_missing_figures_rejects_text_and_booleans():
    figures = fig.parse_figures(GOOD_BLOCK)
    figures["lora"]["loss_after"] = "5.0"
    figures["dspy"]["lm_calls"] = True
    figures["enhancement"]["metric"] = " "
    assert fig.missing_figures(figures) == ["dspy.lm_calls", "lora.loss_after",
                                            "enhancement.metric"]


@pytest.mark.parametrize("name, reported, computed, agrees", [
    ("lora.trainable_params", 3584, 3584, True),
    ("lora.trainable_params", 3585, 3584, False),
    ("openai.cost_usd", 0.165, 0.16, True),       # within a cent
    ("openai.cost_usd", 0.20, 0.16, False),
    ("openai.cost_usd", 101.0, 100.0, True),      # within 1 %
    ("openai.cost_usd", 103.0, 100.0, False),
    ("dspy.metric_after", 0.62, 0.60, True),
    ("dspy.metric_after", 0.63, 0.60, False),
    ("lora.seconds_per_step", 0.5, 0.05, True),   # plausibility only
    ("lora.seconds_per_step", 380.0, 0.38, False),  # milliseconds reported as seconds
    ("lora.seconds_per_step", -1.0, 0.38, False),
])
def test_tolerances(name, reported, computed, agrees):
    assert fig.TOLERANCES[name].agrees(reported, computed) is agrees


def test_every_figure_has_a_tolerance():
    for group, keys in fig.FIGURE_KEYS.items():
        for key in keys:
            assert f"{group}.{key}" in fig.TOLERANCES


def test_compare_names_each_disagreement():
    figures = fig.parse_figures(GOOD_BLOCK)
    computed = {"trainable_params": 12, "total_params": 100, "trainable_share": "x"}
    problems = fig.compare(figures, "lora", computed,
                           ("trainable_params", "total_params", "trainable_share"))
    assert problems == [
        "lora.trainable_params: ANALYSIS.md says 10, your code computes 12 (must be exact)",
        "lora.trainable_share: your code returned 'x' for 'trainable_share', not a number",
    ]


@pytest.mark.parametrize("reported, agrees", [
    ({"loss_before": 6.941, "loss_after": 6.865}, True),          # rounded honestly
    ({"loss_before": 6.94113, "loss_after": 6.86536}, True),
    ({"loss_before": 6.9415, "loss_after": 6.8650}, True),        # another machine's sums
    ({"loss_before": 6.94113, "loss_after": 6.94113}, False),     # after copied from before
    ({"loss_before": 6.86536, "loss_after": 6.94113}, False),     # swapped
])
def test_the_change_between_paired_figures_must_agree(reported, agrees):
    """Each loss is within 2 % of the re-run in every case; only the change tells them apart."""
    computed = {"loss_before": 6.94113, "loss_after": 6.86536}
    problems = fig.compare({"lora": reported}, "lora", computed, ("loss_before", "loss_after"))
    assert (problems == []) is agrees, problems
    if not agrees:
        assert problems[0].startswith("lora.loss_before -> loss_after: ANALYSIS.md shows a "
                                      "change of ")


def test_a_change_below_the_floor_counts_as_no_change():
    computed = {"baseline": 6.86536, "result": 6.86530}  # 0.001 % apart: noise
    swapped = {"baseline": 6.86530, "result": 6.86536}
    assert fig.compare({"enhancement": swapped}, "enhancement", computed,
                       ("baseline", "result")) == []


def test_markdown_tables():
    text = "| | DSPy | OpenAI | LoRA |\n|---|:---:|---|---|\n| Cost | 0 | $1 | 0 |\n\n" \
           "| not | a table |\n| no | separator |\n"
    tables = fig.markdown_tables(text)
    assert tables == [[["", "DSPy", "OpenAI", "LoRA"], ["Cost", "0", "$1", "0"]]]
    assert [fig.approach_of(c) for c in tables[0][0]] == [None, "dspy", "openai", "lora"]


def test_experiment_runs_once_and_charges_its_failure_once(tmp_path):
    """A stub's NotImplementedError fails the owner check; the others skip; it runs once."""
    from grader.experiments import ExperimentFailed, Experiments
    from grader.seam import Impl

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "enhancement.py").write_text(
        "CALLS = []\n\ndef run_enhancement():\n    CALLS.append(1)\n"
        "    raise NotImplementedError('TODO')\n")
    impl = Impl(str(tmp_path))
    owner = "test_enhancement_rerun_matches"
    experiments = Experiments(impl, lambda: {owner, "test_other"})
    experiments.current = "test_other"  # asks first: skipped, the owner is charged
    with pytest.raises(pytest.skip.Exception, match=f"enhancement.run_enhancement.*see {owner}"):
        experiments.result("enhancement")
    experiments.current = owner
    with pytest.raises(ExperimentFailed) as failed:
        experiments.result("enhancement")
    assert failed.value.function == "enhancement.run_enhancement"
    assert isinstance(failed.value.error, NotImplementedError)
    assert impl.module("enhancement").CALLS == [1]


def test_experiment_without_its_owner_charges_the_first_check(tmp_path):
    from grader.experiments import ExperimentFailed, Experiments
    from grader.seam import Impl

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "enhancement.py").write_text("def run_enhancement():\n    return None\n")
    experiments = Experiments(Impl(str(tmp_path)), lambda: {"test_a", "test_b"})
    experiments.current = "test_a"
    with pytest.raises(ExperimentFailed, match="run_enhancement"):
        experiments.result("enhancement")
    experiments.current = "test_b"
    with pytest.raises(pytest.skip.Exception, match="see test_a"):
        experiments.result("enhancement")


def test_instrument_wraps_the_single_run(tmp_path):
    from grader import experiments as exp
    from grader.seam import Impl

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "enhancement.py").write_text(
        "import json\nCALLS = []\n\ndef run_enhancement():\n    CALLS.append(1)\n"
        "    return {'metric': 'm', 'baseline': 0.1, 'result': 0.2}\n")
    seen = []

    @exp.instrument("enhancement")
    def watch():
        box = {"inside": None}
        seen.append("enter")
        yield box
        box["inside"] = True
        seen.append("exit")

    try:
        experiments = exp.Experiments(Impl(str(tmp_path)))
        first = experiments.result("enhancement")
        assert experiments.result("enhancement") is first
        assert seen == ["enter", "exit"]
        assert experiments.observed("enhancement", "watch") == {"inside": True}
    finally:
        exp._INSTRUMENTS["enhancement"][:] = [
            e for e in exp._INSTRUMENTS["enhancement"] if e[0] != "watch"]
