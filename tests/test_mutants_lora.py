"""The LoRA checks catch plausible wrong implementations, the stub earns 0, the reference 12.

Each mutant (tests/mutants/huggingface_lora.yaml) is a copy of reference/huggingface_lora.py
with a few textual edits. To keep the subprocess count low, mutants whose expected catches do
not overlap are graded together in one copy: the checks build their own LoRA
model and exercise one function each, so each lost check can be traced to
exactly one mutant of its group.
"""

from __future__ import annotations

from tests.gradelib import GroupedMutantTests, load_mutants


class TestLoraMutants(GroupedMutantTests):
    suite = load_mutants("huggingface_lora")
