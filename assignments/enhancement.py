"""Your enhancement: one experiment beyond the baseline (Creativity & Enhancement).

Pick one approach and change one thing, then measure the same figure before
and after. Ideas: another DSPy optimizer (LabeledFewShot, BootstrapFewShotWithRandomSearch)
or your novel metric as the optimizer's metric; multi-turn OpenAI fine-tuning examples
(earlier turns kept as context) and what they do to tokens and cost; a LoRA rank or
target-module sweep on the kit's tiny model and what it does to trainable
parameters and eval loss.

How it is registered: the grader calls ``run_enhancement()`` in this module with
no arguments, offline, inside the DSPy recordings (``grader.replay_dspy.replay``),
so DSPy calls replay when you configure the LM with ``dspy_example.configure_lm()``.
It must finish within a few minutes on a CPU. Report what it returns in the
``enhancement`` group of the figures block in ANALYSIS.md and explain it in
section 5; the grader re-runs it and compares (baseline and result within 2 %).
"""

from __future__ import annotations


def run_enhancement():
    """Run the enhancement experiment; return its figures as a dict.

    The dict has ``approach`` ("dspy", "openai" or "lora"), ``metric`` (the
    name of the figure compared, e.g. "eval_loss"), ``baseline`` (the figure
    without your change) and ``result`` (the figure with it); add any other
    figures you find useful.
    """
    raise NotImplementedError(
        "TODO: run one experiment beyond the baseline and return "
        "{'approach', 'metric', 'baseline', 'result'}. "
        "Read: https://dspy.ai/learn/optimization/optimizers/ or "
        "https://huggingface.co/docs/peft/conceptual_guides/lora"
    )
