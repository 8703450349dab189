"""What keeps grading fast: one thread per grading process, and only the imports a run needs.

These are tests about *what* is imported and configured, not about timing
(bench/bench_grading.py measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import threads
from tests.gradelib import ROOT

pytestmark = pytest.mark.timeout(600)

HEAVY = ("torch", "transformers", "peft", "dspy", "litellm", "openai")

# Runs pytest in-process in a fresh interpreter, then reports what it imported.
PROBE = f"""
import gc, json, os, sys, pytest
HEAVY, VARS = {HEAVY!r}, {threads.THREAD_VARS!r}
code = pytest.main(sys.argv[1:])
torch = sys.modules.get("torch")
print("PROBE " + json.dumps({{
    "code": int(code),
    "modules": sorted(m for m in HEAVY if m in sys.modules),
    "torch_threads": torch.get_num_threads() if torch else None,
    "env": {{k: os.environ.get(k) for k in VARS}},
    "frozen": gc.get_freeze_count(),
    "gc_threshold": gc.get_threshold(),
    "rewritten": sorted(name for name, module in list(sys.modules.items())
                        if type(getattr(module, "__loader__", None)).__name__
                        == "AssertionRewritingHook"),
}}))
"""


def probe(*args: str, env: dict | None = None) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in threads.THREAD_VARS}
    proc = subprocess.run([sys.executable, "-c", PROBE, "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "--impl", "reference", *args],
                          cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1].removeprefix("PROBE "))


def test_openai_checks_import_no_model_library():
    """`pytest grader/checks/test_openai.py` runs every OpenAI check without torch or DSPy."""
    seen = probe("grader/checks/test_openai.py")
    assert seen["code"] == 0
    assert seen["modules"] == ["openai"]


def test_lora_checks_import_no_dspy_and_run_on_one_thread():
    seen = probe("grader/checks/test_lora.py", "-k", "test_lora_config or prepare_model")
    assert seen["code"] == 0
    assert "dspy" not in seen["modules"] and "litellm" not in seen["modules"]
    assert "torch" in seen["modules"]
    assert seen["torch_threads"] == 1
    assert all(value == "1" for value in seen["env"].values()), seen["env"]


def test_collecting_every_check_imports_no_model_library():
    """The plugin, the shared modules and the check files import no model library at collection
    (the OpenAI SDK, which the replay module builds on, is the one light exception):
    `pytest -k split` and the batch's collection of the checks pay only for what runs."""
    seen = probe("--collect-only")
    assert seen["code"] == 0
    assert seen["modules"] == ["openai"]


def test_grading_keeps_the_cycle_collector_off_the_libraries():
    """After collection the libraries' objects are frozen, so accelerate's gc.collect() after
    every Trainer.train() (and the collector's own full passes) no longer walk them."""
    seen = probe("grader/checks/test_lora.py", "-k", "test_lora_config")
    assert seen["code"] == 0
    assert "torch" in seen["modules"]  # imported by the check, after collection
    assert seen["frozen"] > 100_000, seen["frozen"]


def test_grading_makes_full_collector_passes_rare():
    """Full passes of the cycle collector walk every object of the libraries: the grading
    process considers one only after heap.FULL_PASS_AFTER young passes, not Python's 10."""
    from grader import heap

    seen = probe("grader/checks/test_lora.py", "-k", "test_lora_config")
    assert seen["code"] == 0
    assert seen["gc_threshold"][2] == heap.FULL_PASS_AFTER > 10, seen["gc_threshold"]


def test_settle_frees_garbage_before_freezing():
    import gc
    import weakref

    from grader import heap

    class Node:
        pass

    node = Node()
    node.loop = node  # only the cycle collector can free it
    alive = weakref.ref(node)
    del node
    heap.settle()
    try:
        assert alive() is None, "garbage in a cycle was frozen instead of freed"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_thread_share_divides_usable_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    assert threads.share(1) == 1  # the tiny model never gains from a second thread
    assert threads.share(1, most=8) == 8
    assert threads.share(3, most=8) == 2
    assert threads.share(16, most=8) == 1
    assert threads.child_env(2)["OPENBLAS_NUM_THREADS"] == "2"


def test_configure_keeps_explicit_values(monkeypatch):
    for name in threads.THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not imported yet
    assert threads.configure(1) == 1
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "3"
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads.configure(1) == 4


def test_only_the_checks_are_assertion_rewritten():
    """pytest rewrites the asserts of every package that ships a plugin (hypothesis alone is
    70-odd modules, compiled again in every run where bytecode is not cached): in a grading
    only the checks and conftest files are."""
    seen = probe("grader/checks/test_dspy.py", "-k", "split")
    assert seen["code"] == 0
    assert any(name.endswith("test_dspy") for name in seen["rewritten"]), seen["rewritten"]
    libraries = [name for name in seen["rewritten"]
                 if name.split(".")[0] in ("hypothesis", "anyio")]
    assert not libraries, libraries
