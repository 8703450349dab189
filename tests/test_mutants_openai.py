"""The OpenAI checks catch plausible wrong implementations, the stub earns 0, the reference 12.

Each mutant (tests/mutants/openai_finetune.yaml) is a copy of reference/openai_finetune.py
with a few textual edits. To keep the subprocess count low, mutants whose expected catches do
not overlap are graded together in one copy: the checks exercise different
functions, so each lost check can be traced to exactly one mutant of its group.
"""

from __future__ import annotations

from tests.gradelib import GroupedMutantTests, load_mutants


class TestOpenAIMutants(GroupedMutantTests):
    suite = load_mutants("openai_finetune")
