"""How fast does ``grader.validate.validate_file`` check a large JSON Lines file?

Writes a temporary file of chat records (default 100,000; a few in every
thousand are broken so the error path is timed too), then times, on the same
records in one run:

- ``validate_file``: streaming, schema compiled once, jsonschema only for broken records;
- a validator built once, ``iter_errors`` on every record (jsonschema's best case);
- ``jsonschema.validate`` on every record, the naive way (a sample, extrapolated).

Usage: python bench/bench_validate.py [--records N] [--naive-sample N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time

import jsonschema
from jsonschema import Draft202012Validator

from grader.validate import load_schema, validate_file

SUBJECTS = ["photosynthesis", "fractions", "the French Revolution", "plate tectonics",
            "recursion", "the past perfect tense", "Ohm's law", "the water cycle"]


def make_record(rng: random.Random, index: int) -> dict:
    subject = rng.choice(SUBJECTS)
    messages = [{"role": "system", "content": "You are a patient teacher who asks guiding questions."}]
    for turn in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": f"Question {index}.{turn}: can you explain {subject}?"})
        messages.append({"role": "assistant", "content": f"What do you already know about {subject}? "
                                                         "Let us start from there."})
    if index % 500 == 7:  # a few broken records: the slow path is part of the cost
        messages[-1]["role"] = "tool"
    return {"messages": messages}


def write_file(path: str, count: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            handle.write(json.dumps(make_record(rng, index)) + "\n")


def time_it(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    args = parser.parse_args()

    schema = load_schema("chat")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench_chat.jsonl")
        write_file(path, args.records)
        size_mb = os.path.getsize(path) / 1e6

        ours, report = time_it(lambda: validate_file(path, "chat", max_problems=10**9))

        def compiled_once():
            validator = Draft202012Validator(schema)
            with open(path, encoding="utf-8") as handle:
                return sum(1 for line in handle if not list(validator.iter_errors(json.loads(line))))

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
    print(f"{args.records:,} chat records, {size_mb:.1f} MB, {report.records - report.valid} broken")
    print(f"{'method':<42} {'seconds':>8} {'records/s':>11} {'vs ours':>8}")
    rows = [("grader.validate.validate_file", ours),
            ("Draft202012Validator once + iter_errors", once),
            (f"jsonschema.validate per record (x{args.naive_sample:,})", naive_full)]
    for name, seconds in rows:
        print(f"{name:<42} {seconds:8.2f} {args.records / seconds:11,.0f} {seconds / ours:7.1f}x")


if __name__ == "__main__":
    main()
