"""The tiny model fixture: rebuilt by its script, loadable like a hub model, small."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from grader.seam import REPO_ROOT

FIXTURES = REPO_ROOT / "fixtures"
TINY = FIXTURES / "tiny-llama"


def _builder():
    spec = importlib.util.spec_from_file_location("build_tiny_model",
                                                  FIXTURES / "build_tiny_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return _builder()


def test_committed_files_equal_a_fresh_build(builder, tmp_path):
    fresh = builder.build(tmp_path / "tiny-llama")
    assert builder.differences(TINY, fresh) == []
    # The tokenizer is byte-for-byte reproducible, not only equal as JSON.
    assert (fresh / "tokenizer.json").read_bytes() == (TINY / "tokenizer.json").read_bytes()


def test_differences_notices_a_changed_tensor(builder, tmp_path):
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "copy"
    copy.mkdir()
    for path in TINY.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    tensors = load_file(copy / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1e-3
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    assert builder.differences(TINY, copy) == [f"model.safetensors: tensor {name} differs"]


def test_loads_like_a_hub_model():
    tokenizer = AutoTokenizer.from_pretrained(TINY)
    model = AutoModelForCausalLM.from_pretrained(TINY)
    assert isinstance(model, LlamaForCausalLM)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert {"q_proj", "k_proj", "v_proj", "o_proj"} <= names
    assert model.model.layers[0].self_attn.q_proj.weight.shape == (64, 64)
    assert model.model.layers[0].self_attn.v_proj.weight.shape == (32, 64)
    assert tokenizer.pad_token is None, "like most causal LMs: the code under test must set one"
    assert len(tokenizer) == model.config.vocab_size == 1024
    ids = tokenizer("Photosynthesis 🌿 für Schüler").input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Photosynthesis 🌿 für Schüler"
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), 1024)


def test_is_small():
    size = sum(p.stat().st_size for p in TINY.iterdir())
    assert size < 1_000_000, f"{size} bytes"
    config = json.loads((TINY / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 2


def test_corpus_snapshot_comes_from_the_datasets(builder):
    corpus = builder.read_corpus()
    assert corpus[:len(builder.TEMPLATE_LINES)] == builder.TEMPLATE_LINES
    qa = [json.loads(line) for line in (REPO_ROOT / "data" / "small_edu_qa.jsonl")
          .read_text(encoding="utf-8").splitlines() if line.strip()]
    known = set(corpus)
    found = sum(record["instruction"] in known for record in qa)
    # The snapshot is frozen on purpose; it should still hold most of today's data.
    assert found >= 0.5 * len(qa), f"only {found} of {len(qa)} QA instructions in the corpus"


def test_corpus_skips_labels(builder, tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "Why?"}], "topic": "x"}) + "\n")
    assert builder.corpus_from_data(tmp_path) == [*builder.TEMPLATE_LINES, "Why?"]
