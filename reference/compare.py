"""Run all three approaches offline and write the comparison into ANALYSIS.md.

The figures in ``ANALYSIS.md`` are *produced*, not typed: this command runs

1. DSPy: ``dspy_example.run_experiment()`` with the recorded LM calls replayed,
2. OpenAI: ``openai_finetune.estimate_cost()`` on the shipped training data
   (the fine-tuning job itself runs at OpenAI; offline we can only price it),
3. LoRA: ``huggingface_lora.run_experiment()`` on the kit's tiny model,
4. the enhancement: ``enhancement.run_enhancement()``,

then rewrites two marked regions of ``ANALYSIS.md`` (the comparison table and
the ```yaml figures block, between ``<!-- compare:... -->`` comments) and
saves a chart, ``figures/comparison.png``. The grader re-runs the same
functions and checks that the figures agree (see grader/analysis_doc.py).

Run it::

    python -m reference.compare            # rewrite reference/ANALYSIS.md and the chart
    python -m reference.compare --dry-run  # only print the table and the figures
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ANALYSIS = HERE / "ANALYSIS.md"
CHART = HERE / "figures" / "comparison.png"
OPENAI_MODEL = "gpt-4o-mini"


def timed(function, *args, **kwargs):
    """Call ``function``; return ``(its result, wall-clock seconds)``."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def run_dspy():
    """DSPy figures, replaying the recorded LM calls (no network, no key)."""
    from grader.replay_dspy import replay

    from . import dspy_example

    with replay():
        dspy_example.configure_lm()
        return timed(dspy_example.run_experiment)


def run_openai(model=OPENAI_MODEL):
    """OpenAI figures: the cost estimate of the shipped training data."""
    from . import openai_finetune
    from .utils import OPENAI_TRAIN_FILE, read_jsonl

    examples = read_jsonl(OPENAI_TRAIN_FILE)
    estimate, seconds = timed(openai_finetune.estimate_cost, examples, model=model)
    return {**estimate, "examples": len(examples)}, seconds


def run_lora():
    """LoRA figures: 5 seeded steps on the kit's tiny model, on the CPU."""
    from . import huggingface_lora

    return timed(huggingface_lora.run_experiment)


def run_enhancement():
    """The enhancement experiment (see enhancement.py)."""
    from . import enhancement

    return timed(enhancement.run_enhancement)


def collect():
    """Run everything; return ``{"dspy": (figures, seconds), ...}``."""
    runs = {}
    for name, run in (("dspy", run_dspy), ("openai", run_openai), ("lora", run_lora),
                      ("enhancement", run_enhancement)):
        print(f"running {name}...", file=sys.stderr, flush=True)
        runs[name] = run()
        print(f"  done in {runs[name][1]:.1f} s", file=sys.stderr, flush=True)
    return runs


# ---------------------------------------------------------------- rendering
def figures_block(runs) -> dict:
    """The figures, in the shape of the template's ```yaml figures block."""
    dspy, _ = runs["dspy"]
    openai, _ = runs["openai"]
    lora, _ = runs["lora"]
    extra, _ = runs["enhancement"]
    return {
        "dspy": {k: dspy[k] for k in ("train_examples", "dev_examples", "metric_before",
                                      "metric_after", "lm_calls")},
        "openai": {"model": openai["model"]} | {
            k: openai[k] for k in ("examples", "tokens_per_epoch", "epochs", "training_tokens",
                                   "cost_usd")},
        "lora": {k: lora[k] for k in ("trainable_params", "total_params", "trainable_share",
                                      "train_examples", "eval_examples", "loss_before",
                                      "loss_after", "seconds_per_step")},
        "enhancement": {k: extra[k] for k in ("approach", "metric", "baseline", "result")},
    }


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def render_figures(figures: dict) -> str:
    """The ```yaml figures fenced block."""
    text = yaml.safe_dump(_rounded(figures), sort_keys=False, default_flow_style=False)
    return f"```yaml figures\n{text}```"


def render_table(runs) -> str:
    """The comparison table: one column per approach."""
    dspy, dspy_s = runs["dspy"]
    openai, openai_s = runs["openai"]
    lora, lora_s = runs["lora"]
    rows = [
        ("Data used (examples)",
         f"{dspy['train_examples']} train + {dspy['dev_examples']} dev",
         f"{openai['examples']} chat examples",
         f"{lora['train_examples']} train + {lora['eval_examples']} eval"),
        ("Wall time (this machine)",
         f"{dspy_s:.1f} s, {dspy['lm_calls']} LM calls replayed",
         f"{openai_s:.2f} s to estimate; the job runs at OpenAI",
         f"{lora_s:.1f} s, {lora['seconds_per_step']:.2f} s/step"),
        ("Tokens / cost",
         f"{dspy['lm_calls']} inference calls, no training bill",
         f"{openai['tokens_per_epoch']:,} tokens × {openai['epochs']} epochs = "
         f"{openai['training_tokens']:,}; ${openai['cost_usd']:.2f} ({openai['model']})",
         "$0: local CPU"),
        ("Trainable parameters",
         "0 (only the prompt changes)",
         "not disclosed (weights stay at OpenAI)",
         f"{lora['trainable_params']:,} of {lora['total_params']:,} "
         f"({lora['trainable_share']:.2%})"),
        ("Metric before → after",
         f"teaching_quality {dspy['metric_before']:.3f} → {dspy['metric_after']:.3f}",
         "n/a offline (needs the tuned model)",
         f"eval loss {lora['loss_before']:.3f} → {lora['loss_after']:.3f}"),
    ]
    lines = ["| | DSPy | OpenAI fine-tuning | LoRA |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def save_chart(runs, path=CHART) -> Path:
    """A three-panel PNG: DSPy metric, LoRA loss (and the enhancement), OpenAI cost."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    dspy, _ = runs["dspy"]
    openai, _ = runs["openai"]
    lora, _ = runs["lora"]
    extra, _ = runs["enhancement"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    axes[0].bar(["before", "after"], [dspy["metric_before"], dspy["metric_after"]],
                color=["#999999", "#1f77b4"])
    axes[0].set_ylim(0, 1)
    axes[0].set_title("DSPy: teaching_quality (dev)")
    labels, values = ["before", "after (q,v)"], [lora["loss_before"], lora["loss_after"]]
    if extra.get("approach") == "lora" and extra.get("metric") == "eval_loss":
        labels.append("after (q,k,v,o)")
        values.append(extra["result"])
    axes[1].bar(labels, values, color=["#999999", "#2ca02c", "#98df8a"][: len(values)])
    axes[1].set_ylim(min(values) * 0.98, max(values) * 1.01)
    axes[1].set_title("LoRA: eval loss (tiny model)")
    axes[2].bar([f"{openai['epochs']} epochs"], [openai["cost_usd"]], color="#d62728")
    axes[2].set_title(f"OpenAI: estimated cost, USD ({openai['model']})")
    for axis in axes:
        axis.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def replace_region(text: str, name: str, content: str) -> str:
    """Replace what lies between ``<!-- compare:NAME:start -->`` and ``...:end -->``."""
    pattern = re.compile(rf"(<!-- compare:{name}:start -->\n).*?(\n<!-- compare:{name}:end -->)",
                         flags=re.S)
    if not pattern.search(text):
        raise SystemExit(f"ANALYSIS.md has no <!-- compare:{name}:start/end --> markers")
    return pattern.sub(lambda m: m.group(1) + content + m.group(2), text)


def main(argv=None) -> int:
    """Command-line entry: run, print, and (unless --dry-run) rewrite ANALYSIS.md and the chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="print the table and figures; write nothing")
    args = parser.parse_args(argv)
    runs = collect()
    table, block = render_table(runs), render_figures(figures_block(runs))
    print(table)
    print(block)
    if not args.dry_run:
        text = ANALYSIS.read_text(encoding="utf-8")
        text = replace_region(text, "table", table)
        text = replace_region(text, "figures", block)
        ANALYSIS.write_text(text, encoding="utf-8")
        print(f"wrote {ANALYSIS} and {save_chart(runs)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
