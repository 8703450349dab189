"""The five datasets in data/: valid, big enough, short records, no near duplicates.

Also the similarity measure used for the near-duplicate check (grader.similarity).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.similarity import (
    NEAR_DUPLICATE_THRESHOLD,
    find_near_duplicates,
    jaccard,
    normalize,
    record_text,
    shingles,
    similarity,
)
from grader.validate import schema_for_path, validate_file

DATA = Path(__file__).resolve().parent.parent / "data"
MAX_RECORD_CHARS = 2000

# file name, schema, at least this many records
DATASETS = [
    ("teacher_student_dialogues.jsonl", "dialogue", 40),
    ("openai_teacher_dialogue_training.jsonl", "chat", 100),
    ("openai_teacher_dialogue_validation.jsonl", "chat", 25),
    ("small_edu_qa.jsonl", "qa", 150),
    ("openai_edu_qa_training.jsonl", "chat", 100),
]
NAMES = [name for name, _, _ in DATASETS]


def load(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} is not in data/ yet")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def content_chars(record: dict) -> int:
    """Characters of content in a record: every message or turn (system too), or every field."""
    items = record.get("dialogue") or record.get("messages")
    if items is not None:
        return sum(len(item["content"]) for item in items)
    return sum(len(value) for value in record.values())


# ---------------------------------------------------------------- each file
@pytest.mark.parametrize(("name", "schema", "minimum"), DATASETS, ids=NAMES)
def test_dataset_validates(name, schema, minimum):
    if not (DATA / name).exists():
        pytest.skip(f"{name} is not in data/ yet")
    assert schema_for_path(name) == schema
    report = validate_file(DATA / name)
    assert report.schema == schema
    assert report.ok, "\n".join(str(p) for p in report.problems)
    assert report.records >= minimum, f"{name}: {report.records} records, need {minimum}"


def test_dialogues_have_4_to_12_alternating_turns():
    for number, record in enumerate(load("teacher_student_dialogues.jsonl"), start=1):
        roles = [turn["role"] for turn in record["dialogue"]]
        assert 4 <= len(roles) <= 12, f"line {number}: {len(roles)} turns"
        assert roles == ["teacher", "student"] * (len(roles) // 2) + ["teacher"] * (len(roles) % 2)


@pytest.mark.parametrize("name", NAMES)
def test_no_record_over_2000_characters(name):
    long = [(number, content_chars(record)) for number, record in enumerate(load(name), start=1)
            if content_chars(record) > MAX_RECORD_CHARS]
    assert not long, f"{name}: records over {MAX_RECORD_CHARS} characters (line, chars): {long}"


def test_training_and_validation_share_no_example():
    training = load("openai_teacher_dialogue_training.jsonl")
    validation = load("openai_teacher_dialogue_validation.jsonl")
    canonical = {json.dumps(record, sort_keys=True) for record in training}
    shared = [n for n, r in enumerate(validation, 1) if json.dumps(r, sort_keys=True) in canonical]
    assert not shared, f"validation lines also in training: {shared}"
    # Not even the same student question with a different answer.
    questions = {m["content"] for r in training for m in r["messages"] if m["role"] == "user"}
    reused = [n for n, r in enumerate(validation, 1)
              if any(m["role"] == "user" and m["content"] in questions for m in r["messages"])]
    assert not reused, f"validation lines reusing a training question: {reused}"


# ---------------------------------------------------------------- across files
def test_no_near_duplicates_within_or_across_files():
    present = [name for name in NAMES if (DATA / name).exists()]
    if len(present) < len(NAMES):
        pytest.skip(f"missing in data/: {sorted(set(NAMES) - set(present))}")
    where, texts = [], []
    for name in present:
        for number, record in enumerate(load(name), start=1):
            where.append(f"{name}:{number}")
            texts.append(record_text(record))
    pairs = find_near_duplicates(texts)
    assert not pairs, "near duplicates (similarity >= {}):\n{}".format(
        NEAR_DUPLICATE_THRESHOLD,
        "\n".join(f"  {where[i]} ~ {where[j]}: {score:.2f}" for i, j, score in pairs))


# ---------------------------------------------------------------- the similarity measure
def test_record_text_takes_content_and_skips_system_prompts():
    chat = {"messages": [{"role": "system", "content": "Be a teacher."},
                         {"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    assert record_text(chat) == "Q?\nA."
    dialogue = {"dialogue": [{"role": "teacher", "content": "Hi."},
                             {"role": "student", "content": "Hello."}]}
    assert record_text(dialogue) == "Hi.\nHello."
    assert record_text({"instruction": "Do.", "input": "", "output": "Done."}) == "Do.\nDone."
    assert record_text({"instruction": "Do.", "input": "this", "output": "Done."}) == \
        "Do.\nthis\nDone."


def test_normalize_and_shingles():
    assert normalize("  It's  the SKY, isn’t it?\n") == "its the sky isnt it"
    assert shingles("abcdef") == {"abcde", "bcdef"}
    assert shingles("abc") == {"abc"}
    assert shingles("") == {""}


def test_similarity_ignores_case_punctuation_and_spacing():
    assert similarity("Why is the sky blue?", "why   is the SKY blue") == 1.0
    assert similarity("photosynthesis in plants", "the French Revolution") < 0.05
    assert similarity("", "") == 1.0
    edited = ("Plants make their own food by photosynthesis: leaves take in water and carbon "
              "dioxide and use the energy of sunlight to turn them into sugar.")
    copy = edited.replace("their own food", "their food").replace("sugar", "glucose")
    assert similarity(edited, copy) >= NEAR_DUPLICATE_THRESHOLD


words = st.lists(st.sampled_from(["the", "sky", "is", "blue", "plants", "grow", "why", "x"]),
                 max_size=8).map(" ".join)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(texts=st.lists(words, max_size=8), others=st.none() | st.lists(words, max_size=6),
       threshold=st.sampled_from([0.3, 0.5, 0.6, 1.0]))
def test_find_near_duplicates_equals_brute_force(texts, others, threshold):
    if others is None:
        pairs = itertools.combinations(range(len(texts)), 2)
        right = texts
    else:
        pairs = itertools.product(range(len(texts)), range(len(others)))
        right = others
    expected = [(i, j) for i, j in pairs if similarity(texts[i], right[j]) >= threshold]
    found = find_near_duplicates(texts, others, threshold=threshold)
    assert [(i, j) for i, j, _ in found] == expected
    for i, j, score in found:
        assert score == pytest.approx(similarity(texts[i], right[j]))
        assert 0.0 <= score <= 1.0
    if others is not None:  # the same corpus given as its shingles (shingled once per run)
        shingled = [shingles(text) for text in others]
        assert find_near_duplicates(texts, shingled, threshold=threshold) == found


def test_find_near_duplicates_rejects_a_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        find_near_duplicates(["a"], threshold=0)


def test_jaccard_bounds():
    assert jaccard(frozenset("ab"), frozenset("cd")) == 0.0
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
