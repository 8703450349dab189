"""The LoRA checks catch plausible wrong implementations, the stub earns 0, the reference 12.

Each mutant is a copy of reference/huggingface_lora.py with a few textual
edits. To keep the subprocess count low, mutants whose expected catches do
not overlap are graded together in one copy: the checks build their own LoRA
model and exercise one function each, so each lost check can be traced to
exactly one mutant of its group.
"""

from __future__ import annotations

import pytest

from tests.gradelib import (
    assert_group_caught,
    assert_groups_disjoint,
    assert_reference_earns_all,
    assert_stub_earns_nothing,
    grade,
    lost,
    mutate,
)

CHECK_FILE = "test_lora.py"
MODULE = "huggingface_lora"
CHECKS = {
    "test_lora_config", "test_prepare_model_freezes_base", "test_trainable_parameter_count",
    "test_label_masking", "test_loss_falls", "test_adapter_save_reload", "test_merge_matches",
    "test_generate_new_text", "test_pad_batch",
}

# name: (checks expected to lose points, [(old text, new text), ...])
MUTANTS: dict[str, tuple[set[str], list[tuple[str, str]]]] = {
    "rank 16": (
        {"test_lora_config", "test_trainable_parameter_count"},
        [('"r": 8,', '"r": 16,')]),
    "k_proj instead of v_proj": (
        # k_proj and v_proj have the same shape here: the count alone cannot see it.
        {"test_lora_config", "test_prepare_model_freezes_base"},
        [('"target_modules": ["q_proj", "v_proj"],', '"target_modules": ["q_proj", "k_proj"],')]),
    "base weights unfrozen after get_peft_model": (
        {"test_prepare_model_freezes_base", "test_trainable_parameter_count"},
        [("    peft_model.print_trainable_parameters()",
          "    peft_model.requires_grad_(True)\n    peft_model.print_trainable_parameters()")]),
    "count includes frozen weights": (
        {"test_trainable_parameter_count"},
        [("trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)",
          "trainable = sum(p.numel() for p in model.parameters())")]),
    "prompt not masked": (
        # evaluate_loss then averages over prompt tokens too, but it is right for the labels
        # it is given: only tokenize_example pays.
        {"test_label_masking"},
        [('"labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,',
          '"labels": list(input_ids),')]),
    "a long prompt crowds out the answer": (
        {"test_label_masking"},
        [("answer_room = max(max_length - len(prompt_ids), (max_length + 1) // 2)",
          "answer_room = max(0, max_length - len(prompt_ids))")]),
    "training unfreezes the base": (
        {"test_loss_falls"},
        [("    dataset = tokenize_records(tokenizer, train_records)",
          "    model.requires_grad_(True)\n"
          "    dataset = tokenize_records(tokenizer, train_records)")]),
    "learning rate ignored": (
        {"test_loss_falls"},
        [("            learning_rate=learning_rate,\n",
          "            learning_rate=1e-7,\n")]),
    "saves the whole model": (
        {"test_adapter_save_reload"},
        [("    model.save_pretrained(path)", "    model.base_model.model.save_pretrained(path)")]),
    "reload forgets the adapter": (
        {"test_adapter_save_reload"},
        [("return PeftModel.from_pretrained(base, adapter_path).eval()", "return base.eval()")]),
    "merge drops the adapter": (
        {"test_merge_matches"},
        [("return model.merge_and_unload()", "return model.unload()")]),
    "merge returns the PEFT model": (
        {"test_merge_matches"},
        [("return model.merge_and_unload()", "return model")]),
    "generate echoes the prompt": (
        {"test_generate_new_text"},
        [('new_tokens = output[0, inputs["input_ids"].shape[1]:]', "new_tokens = output[0]")]),
    "generate samples": (
        {"test_generate_new_text"},
        [("do_sample=False,", "do_sample=True,")]),
    "train ignores its seed": (
        # The Trainer then seeds itself with its default: every seed gives the same run.
        {"test_loss_falls"},
        [("    set_seed(seed)\n    dataset = tokenize_records(tokenizer, train_records)",
          "    dataset = tokenize_records(tokenizer, train_records)"),
         ("            seed=seed,\n            data_seed=seed,\n", "")]),
    "evaluate_loss averages per batch": (
        {"test_loss_falls"},
        [('targets.reshape(-1), ignore_index=IGNORE_INDEX,\n'
          '                                 reduction="sum").item()',
          'targets.reshape(-1), ignore_index=IGNORE_INDEX,\n'
          '                                 reduction="mean").item()'),
         ("count += (targets != IGNORE_INDEX).sum().item()", "count += 1")]),
    "pads on the left": (
        {"test_pad_batch"},
        [("torch.tensor([e[key] + [value] * (width - len(e[key])) for e in examples])",
          "torch.tensor([[value] * (width - len(e[key])) + e[key] for e in examples])")]),
    "pads labels with the pad token": (
        {"test_pad_batch"},
        [('"labels": padded("labels", IGNORE_INDEX)}',
          '"labels": padded("labels", pad_token_id)}')]),
    "no eos after the answer": (
        # evaluate_loss follows the student's own tokenization: only tokenize_example pays.
        {"test_label_masking"},
        [("+ [tokenizer.eos_token_id]\n    # The answer may use", "\n    # The answer may use")]),
    "a long prompt leaves the answer a quarter": (
        {"test_label_masking"},
        [("answer_room = max(max_length - len(prompt_ids), (max_length + 1) // 2)",
          "answer_room = max(max_length - len(prompt_ids), max_length // 4)")]),
    "a cut prompt leaves the window part empty": (
        {"test_label_masking"},
        [("    prompt_room = max_length - len(answer_ids)\n",
          "    prompt_room = max_length - len(answer_ids) - 1\n")]),
    "count returns (total, trainable)": (
        {"test_trainable_parameter_count"},
        [("    return trainable, total\n", "    return total, trainable\n")]),
}

# Correct designs other than the reference's: each must keep every point.
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "keeps <s> in front of a prompt cut from the left": [
        ("    prompt_ids = prompt_ids[max(0, len(prompt_ids) - prompt_room):]\n",
         "    if len(prompt_ids) > prompt_room:\n"
         "        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - prompt_room + 1:]\n")],
    "evaluate_loss one record at a time": [
        ("    for start in range(0, len(examples), batch_size):\n"
         "        batch = pad_batch(examples[start:start + batch_size], tokenizer.pad_token_id)",
         "    for start in range(0, len(examples)):\n"
         "        batch = pad_batch(examples[start:start + 1], tokenizer.pad_token_id)")],
}

# Mutants graded together; within a group the expected catches are disjoint.
GROUPS = [
    ["rank 16", "prompt not masked", "merge drops the adapter", "generate echoes the prompt",
     "saves the whole model"],
    ["k_proj instead of v_proj", "count includes frozen weights",
     "a long prompt crowds out the answer", "training unfreezes the base",
     "reload forgets the adapter", "merge returns the PEFT model", "generate samples"],
    ["base weights unfrozen after get_peft_model", "learning rate ignored"],
    ["train ignores its seed", "pads on the left", "no eos after the answer"],
    ["evaluate_loss averages per batch", "pads labels with the pad token",
     "a long prompt leaves the answer a quarter", "count returns (total, trainable)"],
    ["a cut prompt leaves the window part empty"],
]


def test_groups_are_disjoint_and_cover_every_mutant():
    assert_groups_disjoint(GROUPS, MUTANTS, CHECKS)


def test_every_check_catches_a_mutant():
    caught = set().union(*(expected for expected, _ in MUTANTS.values()))
    assert caught == CHECKS, f"checks no mutant exercises: {sorted(CHECKS - caught)}"


@pytest.mark.parametrize("group", GROUPS, ids=[f"group{i + 1}" for i in range(len(GROUPS))])
def test_mutants_are_caught(tmp_path, group):
    assert_group_caught(tmp_path, MODULE, CHECK_FILE, MUTANTS, group)


def test_correct_variants_keep_every_point(tmp_path):
    edits = [edit for variant in VARIANTS.values() for edit in variant]
    result = grade(mutate(tmp_path, MODULE, edits), CHECK_FILE)
    assert not lost(result), result["_stdout"][-3000:]


def test_stub_earns_nothing():
    assert_stub_earns_nothing(CHECK_FILE, CHECKS)


def test_reference_earns_all_twelve():
    assert_reference_earns_all(CHECK_FILE, CHECKS, 12)
