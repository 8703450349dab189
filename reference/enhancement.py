"""Enhancement: which layers should LoRA adapt? A target-module comparison.

The baseline (``huggingface_lora``) puts adapters on the attention *query* and
*value* projections only (``q_proj``, ``v_proj``), the choice of the original
LoRA paper. Later work (QLoRA, for one) adapts every linear layer and reports
better results for the same rank. This experiment adapts all four attention
projections (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``) instead, trains
both variants for the same steps from the same seed on the same data, and
compares the eval loss after training -- and what it costs in trainable
parameters.

Run it::

    python -m reference.enhancement
"""

from __future__ import annotations

import json

from peft import LoraConfig, get_peft_model
from transformers import set_seed

from .huggingface_lora import (
    LORA_CONFIG_KWARGS,
    TINY_MODEL_DIR,
    count_trainable_parameters,
    evaluate_loss,
    load_base_model,
    load_qa_records,
    split_records,
    train,
)

BASELINE_TARGETS = ("q_proj", "v_proj")
ENHANCED_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def train_with_targets(target_modules, steps=5, seed=0, model_name_or_path=TINY_MODEL_DIR):
    """Train LoRA adapters on ``target_modules``; return trainable parameters and eval loss.

    Everything else -- rank, alpha, data split, steps, seed -- is the
    baseline's, so the target modules are the only difference.
    """
    set_seed(seed)
    model, tokenizer = load_base_model(model_name_or_path)
    config = LoraConfig(**{**LORA_CONFIG_KWARGS, "target_modules": list(target_modules)})
    model = get_peft_model(model, config)
    train_records, eval_records = split_records(load_qa_records(), seed=seed)
    train(model, tokenizer, train_records, steps=steps, seed=seed)
    trainable, _total = count_trainable_parameters(model)
    return {"trainable_params": trainable,
            "eval_loss": evaluate_loss(model, tokenizer, eval_records)}


def run_enhancement(steps=5, seed=0):
    """Compare eval loss after training with q/v adapters (baseline) and q/k/v/o adapters.

    Returns ``approach``, ``metric`` ("eval_loss", lower is better),
    ``baseline`` and ``result`` (the two losses), and each variant's
    trainable-parameter count.
    """
    baseline = train_with_targets(BASELINE_TARGETS, steps=steps, seed=seed)
    enhanced = train_with_targets(ENHANCED_TARGETS, steps=steps, seed=seed)
    return {
        "approach": "lora",
        "metric": "eval_loss",
        "baseline": baseline["eval_loss"],
        "result": enhanced["eval_loss"],
        "baseline_targets": list(BASELINE_TARGETS),
        "result_targets": list(ENHANCED_TARGETS),
        "baseline_trainable_params": baseline["trainable_params"],
        "result_trainable_params": enhanced["trainable_params"],
        "steps": steps,
    }


if __name__ == "__main__":
    print(json.dumps(run_enhancement(), indent=2))
