"""grader/tokens.py: the one token, epoch and price calculator of the checks and the simulator."""

from __future__ import annotations

import pytest

from grader import tokens
from grader.simulator import finetune


@pytest.mark.parametrize("model, name", [
    ("gpt-4", "cl100k_base"), ("gpt-4-0613", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"),
])
def test_each_model_family_has_its_tokenizer(model, name):
    assert tokens.encoding_name(model) == name


def test_the_simulator_bills_with_the_checks_calculator():
    example = {"messages": [{"role": "user", "content": "Why is the sky blue? 日本語 🤔"},
                            {"role": "assistant", "content": "What do you know about light?"}]}
    for model in ("gpt-4", "gpt-4o-mini"):
        assert finetune._example_tokens(example, model) == \
            tokens.billed_tokens(example["messages"], model)
    assert tokens.count_tokens("日本語 🤔", "gpt-4") != tokens.count_tokens("日本語 🤔", "gpt-4o")


def test_epochs_and_prices():
    assert [tokens.default_epochs(n) for n in (1, 10, 40, 9000)] == [25, 10, 3, 2]
    assert tokens.price_per_1m("gpt-4o-mini-2024-07-18") == 3.00
    with pytest.raises(ValueError, match="no training price for 'gpt-5'"):
        tokens.price_per_1m("gpt-5")
