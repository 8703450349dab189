"""How fast does ``grader.validate.validate_file`` check a large JSON Lines file?

Writes a temporary file of chat records (default 100,000; a few in every
thousand are broken so the error path is timed too), then times, on the same
records in one run:

- ``validate_file``: streaming, one jsonschema validator per schema, ``is_valid`` per record
  and ``iter_errors`` only for broken ones;
- a validator built once, ``iter_errors`` on every record (jsonschema's best case);
- ``jsonschema.validate`` on every record, the naive way (a sample, extrapolated).

Times are CPU seconds of the process (``time.process_time``), which other
work on a shared machine disturbs less than wall-clock time.

With ``--similarity`` it measures instead what justifies
``grader.similarity.NEAR_DUPLICATE_THRESHOLD``: the similarity of every pair of
different records in data/, of edited copies of records, and the time of
``find_near_duplicates`` against comparing every pair of shingle sets.

Usage: python bench/bench_validate.py [--records N] [--naive-sample N] [--similarity]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import jsonschema
from jsonschema import Draft202012Validator

from grader.similarity import (
    NEAR_DUPLICATE_THRESHOLD,
    find_near_duplicates,
    jaccard,
    record_text,
    shingles,
    similarity,
)
from grader.validate import load_schema, validate_file

DATA = Path(__file__).resolve().parent.parent / "data"

SUBJECTS = ["photosynthesis", "fractions", "the French Revolution", "plate tectonics",
            "recursion", "the past perfect tense", "Ohm's law", "the water cycle"]


def make_record(rng: random.Random, index: int) -> dict:
    subject = rng.choice(SUBJECTS)
    messages = [{"role": "system", "content": "You are a patient teacher who asks questions."}]
    for turn in range(rng.randint(1, 3)):
        question = f"Question {index}.{turn}: can you explain {subject}?"
        answer = f"What do you already know about {subject}? Let us start from there."
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    if index % 500 == 7:  # a few broken records: the slow path is part of the cost
        messages[-1]["role"] = "tool"
    return {"messages": messages}


def write_file(path: str, count: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            handle.write(json.dumps(make_record(rng, index)) + "\n")


def time_it(function) -> tuple[float, object]:
    """CPU seconds of this process: steadier than wall time on a shared machine."""
    start = time.process_time()
    result = function()
    return time.process_time() - start, result


# ---------------------------------------------------------------- similarity
def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.?!])\s+", text)


def replace_words(rng: random.Random, text: str, share: float) -> str:
    words = text.split()
    for index in rng.sample(range(len(words)), max(1, int(len(words) * share))):
        words[index] = rng.choice(["thing", "really", "very", "maybe", "so", "then", "idea"])
    return " ".join(words)


def drop_sentence(rng: random.Random, text: str) -> str:
    parts = sentences(text)
    if len(parts) > 2:
        parts.pop(rng.randrange(len(parts)))
    return " ".join(parts)


def shuffle_sentences(rng: random.Random, text: str) -> str:
    parts = sentences(text)
    rng.shuffle(parts)
    return " ".join(parts)


EDITS = {
    "case and punctuation changed": lambda rng, t: re.sub(r"[,.!?']", "", t).upper(),
    "one sentence dropped": drop_sentence,
    "sentences shuffled": shuffle_sentences,
    "a sentence added": lambda rng, t: t + " Check your answer by working backwards.",
    "10% of words replaced": lambda rng, t: replace_words(rng, t, 0.10),
    "20% of words replaced": lambda rng, t: replace_words(rng, t, 0.20),
    "dropped + 10% replaced": lambda rng, t: replace_words(rng, drop_sentence(rng, t), 0.10),
    "30% of words replaced": lambda rng, t: replace_words(rng, t, 0.30),
}


def similarity_report() -> None:
    texts = [record_text(json.loads(line)) for path in sorted(DATA.glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    sets = [shingles(text) for text in texts]
    brute, scores = time_it(lambda: sorted((jaccard(sets[i], sets[j]) for i in range(len(sets))
                                            for j in range(i + 1, len(sets))), reverse=True))
    ours, found = time_it(lambda: find_near_duplicates(texts))
    print(f"{len(texts)} records in data/, {len(scores):,} pairs of different records:")
    print(f"  median {statistics.median(scores):.3f}  99th pct {scores[len(scores) // 100]:.3f}"
          f"  99.9th pct {scores[len(scores) // 1000]:.3f}  max {scores[0]:.3f}")
    assert len(found) == sum(score >= NEAR_DUPLICATE_THRESHOLD for score in scores)
    print(f"  pairs at or above the threshold {NEAR_DUPLICATE_THRESHOLD}: {len(found)}")
    print(f"  CPU: every pair of shingle sets {brute:.2f} s, find_near_duplicates {ours:.2f} s "
          f"({brute / ours:.1f}x faster, same pairs)")
    rng = random.Random(1)
    sample = rng.sample(texts, min(60, len(texts)))
    print(f"edited copies of {len(sample)} records:  {'min':>6} {'median':>6} {'max':>6}"
          f"  caught at {NEAR_DUPLICATE_THRESHOLD}")
    for name, edit in EDITS.items():
        edited = sorted(similarity(text, edit(rng, text)) for text in sample)
        caught = sum(score >= NEAR_DUPLICATE_THRESHOLD for score in edited)
        print(f"  {name:<30} {edited[0]:6.3f} {statistics.median(edited):6.3f} {edited[-1]:6.3f}"
              f"  {caught}/{len(edited)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--similarity", action="store_true",
                        help="measure the near-duplicate threshold instead")
    args = parser.parse_args()
    if args.similarity:
        similarity_report()
        return

    schema = load_schema("chat")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench_chat.jsonl")
        write_file(path, args.records)
        size_mb = os.path.getsize(path) / 1e6

        ours, report = time_it(lambda: validate_file(path, "chat", max_problems=10**9))

        def compiled_once():
            validator = Draft202012Validator(schema)
            with open(path, encoding="utf-8") as handle:
                return sum(not list(validator.iter_errors(json.loads(line))) for line in handle)

        once, once_valid = time_it(compiled_once)

        def naive():
            valid = 0
            with open(path, encoding="utf-8") as handle:
                for _, line in zip(range(args.naive_sample), handle, strict=False):
                    try:
                        jsonschema.validate(json.loads(line), schema)
                        valid += 1
                    except jsonschema.ValidationError:
                        pass
            return valid

        naive_seconds, _ = time_it(naive)
        naive_full = naive_seconds * args.records / min(args.naive_sample, args.records)

    assert once_valid == report.valid, (once_valid, report.valid)
    broken = report.records - report.valid
    print(f"{args.records:,} chat records, {size_mb:.1f} MB, {broken} broken")
    print(f"{'method':<42} {'CPU s':>8} {'records/s':>11} {'vs ours':>8}")
    rows = [("grader.validate.validate_file", ours),
            ("Draft202012Validator once + iter_errors", once),
            (f"jsonschema.validate per record (x{args.naive_sample:,})", naive_full)]
    for name, seconds in rows:
        print(f"{name:<42} {seconds:8.2f} {args.records / seconds:11,.0f} {seconds / ours:7.1f}x")


if __name__ == "__main__":
    main()
