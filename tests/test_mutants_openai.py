"""The OpenAI checks catch plausible wrong implementations, the stub earns 0, the reference 12.

Each mutant is a copy of reference/openai_finetune.py with a few textual
edits. To keep the subprocess count low, mutants whose expected catches do
not overlap are graded together in one copy: the checks exercise different
functions, so each lost check can be traced to exactly one mutant of its group.
"""

from __future__ import annotations

import pytest

from tests.gradelib import (
    assert_group_caught,
    assert_groups_disjoint,
    assert_reference_earns_all,
    assert_stub_earns_nothing,
)

CHECK_FILE = "test_openai.py"
MODULE = "openai_finetune"
CHECKS = {
    "test_prepared_examples_match_chat_schema", "test_system_prompt_and_roles",
    "test_validator_finds_each_error_category", "test_validator_accepts_good_examples",
    "test_token_counts_match_real_encoder", "test_cost_estimate_within_a_cent",
    "test_epochs_heuristic_at_boundaries", "test_split_has_no_shared_example",
    "test_replayed_flow_sends_right_requests", "test_monitor_reaches_terminal_states",
}

# name: (checks expected to lose points, [(old text, new text), ...])
MUTANTS: dict[str, tuple[set[str], list[tuple[str, str]]]] = {
    "roles swapped": (
        {"test_prepared_examples_match_chat_schema", "test_system_prompt_and_roles"},
        [('{"role": "user", "content": dialogue["student"]}',
          '{"role": "assistant", "content": dialogue["student"]}'),
         ('{"role": "assistant", "content": dialogue["teacher"]}',
          '{"role": "user", "content": dialogue["teacher"]}')]),
    "context turns keep dialogue roles swapped": (
        {"test_system_prompt_and_roles"},
        [('CHAT_ROLE = {"student": "user", "teacher": "assistant"}',
          'CHAT_ROLE = {"student": "assistant", "teacher": "user"}')]),
    "extra key in each example": (
        {"test_prepared_examples_match_chat_schema"},
        [('examples.append({"messages": messages})',
          'examples.append({"messages": messages, "source": "dialogues"})')]),
    "validator ignores unknown roles": (
        {"test_validator_finds_each_error_category"},
        [('if message.get("role") not in MESSAGE_ROLES:', 'if message.get("role") is None:')]),
    "missing system message counted as an error": (
        {"test_validator_finds_each_error_category", "test_validator_accepts_good_examples"},
        [("for category in ERROR_CATEGORIES}", "for category in ERROR_CATEGORIES + ('x',)}"),
         ('flag(warnings, "missing_system_message", index)',
          'flag(errors, "x", index)')]),
    "cl100k_base for gpt-4o": (
        {"test_token_counts_match_real_encoder", "test_cost_estimate_within_a_cent"},
        [("return _load_encoding(_encoding_name(model))", 'return _load_encoding("cl100k_base")')]),
    "no per-message overhead": (
        {"test_token_counts_match_real_encoder", "test_cost_estimate_within_a_cent"},
        [("TOKENS_PER_MESSAGE = 3", "TOKENS_PER_MESSAGE = 0")]),
    "epochs not clamped": (
        {"test_epochs_heuristic_at_boundaries"},
        [("return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)",
          "return MIN_TARGET_EXAMPLES // n_examples")]),
    "split overlaps by one": (
        {"test_split_has_no_shared_example"},
        [("return shuffled[n_valid:], shuffled[:n_valid]",
          "return shuffled[n_valid - 1:], shuffled[:n_valid]")]),
    "split keeps duplicates": (
        {"test_split_has_no_shared_example"},
        [("unique = list({json.dumps(e, sort_keys=True): e for e in examples}.values())",
          "unique = list(examples)")]),
    "deprecated top-level hyperparameters": (
        {"test_replayed_flow_sends_right_requests"},
        [('method={"type": "supervised",\n'
          '                "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},',
          'hyperparameters={"n_epochs": n_epochs},')]),
    "upload with the wrong purpose": (
        {"test_replayed_flow_sends_right_requests"},
        [('client.files.create(file=handle, purpose="fine-tune")',
          'client.files.create(file=handle, purpose="assistants")')]),
    "monitor stops on running": (
        {"test_monitor_reaches_terminal_states"},
        [('if job.status == "succeeded":', 'if job.status in ("succeeded", "running"):')]),
    "monitor misses failures": (
        {"test_monitor_reaches_terminal_states"},
        [('if job.status == "failed":', 'if job.status == "error":')]),
    # --- promises made observable by the docstring audit
    "role string not counted": (
        {"test_token_counts_match_real_encoder", "test_cost_estimate_within_a_cent"},
        [("if isinstance(value, str):  # numbers",
          'if isinstance(value, str) and key != "role":  # numbers')]),
    "monitor times out one poll early": (
        {"test_monitor_reaches_terminal_states"},
        [("if elapsed >= timeout_seconds:", "if elapsed + poll_seconds >= timeout_seconds:")]),
    "split not seeded": (
        {"test_split_has_no_shared_example"},
        [("random.Random(seed).shuffle(shuffled)", "random.shuffle(shuffled)")]),
    "special-token text refused": (
        {"test_token_counts_match_real_encoder"},
        [("return len(encoding_for(model).encode(text, disallowed_special=()))",
          "return len(encoding_for(model).encode(text))")]),
}

# Mutants graded together; within a group the expected catches are disjoint.
GROUPS = [
    ["context turns keep dialogue roles swapped", "validator ignores unknown roles",
     "epochs not clamped", "split overlaps by one", "deprecated top-level hyperparameters",
     "monitor stops on running"],
    ["extra key in each example", "missing system message counted as an error",
     "cl100k_base for gpt-4o", "split keeps duplicates", "upload with the wrong purpose",
     "monitor misses failures"],
    ["roles swapped", "no per-message overhead"],
    ["role string not counted", "monitor times out one poll early", "split not seeded"],
    ["special-token text refused"],
]


def test_groups_are_disjoint_and_cover_every_mutant():
    assert_groups_disjoint(GROUPS, MUTANTS, CHECKS)


@pytest.mark.parametrize("group", GROUPS, ids=[f"group{i + 1}" for i in range(len(GROUPS))])
def test_mutants_are_caught(tmp_path, group):
    assert_group_caught(tmp_path, MODULE, CHECK_FILE, MUTANTS, group)


def test_stub_earns_nothing():
    assert_stub_earns_nothing(CHECK_FILE, CHECKS)


def test_reference_earns_all_twelve():
    assert_reference_earns_all(CHECK_FILE, CHECKS, 12)
