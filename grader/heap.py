"""Keep Python's cycle collector off the libraries' objects.

A grading run imports torch, transformers, peft, dspy and litellm: a few
million long-lived objects. A full pass of the cycle collector walks every one
of them, a few tenths of a second each time on this heap, and passes come
often. Two measures, for the grading process only:

**Rare full passes.** Python considers a full pass after every 10 passes over
the young generations. While the libraries load, that is a full pass every
few hundred thousand allocations over a heap that keeps growing: 24 full
passes and about a second of CPU in a grading of the reference.
:func:`configure` (called when the plugin sets up a grading run) raises it to
:data:`FULL_PASS_AFTER` young passes (``gc.set_threshold``); the same grading
then starts no full pass of its own (the 8 it makes are explicit
``gc.collect()`` calls, 7 of them accelerate's, one per ``Trainer.train()``).
Young passes run as often as before and free what a check leaves behind.

**Frozen libraries.** :func:`settle` collects the young garbage and then moves
every object still alive into the permanent generation (``gc.freeze()``),
which later passes skip, so accelerate's explicit passes stay cheap. The
plugin calls it once the checks are collected and, through
:func:`settle_if_imported`, after every check that imported a module (the
check files import torch, transformers and peft inside the checks, so the
first LoRA check brings them in, and the DSPy experiment brings LiteLLM's
lazy modules). It collects the two young
generations only (``gc.collect(1)``), where what was made since the last pass
lives (a check's models, an experiment's programs): milliseconds, where a full
collection would walk everything imported since the last settle once more
(0.2 s after torch's stack, 0.2 s after LiteLLM's) to find about a hundred
garbage objects.

The price: garbage cycles that reached the old generation, and objects frozen
while alive that later die inside a reference cycle, stay in memory until the
run ends (a few megabytes: 806 MB -> 811 MB at the peak of a grading of the
reference, measured with ``/usr/bin/time -f %M``). Reference counting frees
everything else as usual.
"""

from __future__ import annotations

import gc
import sys

_modules_when_settled = 0
FULL_PASS_AFTER = 100  # young-generation passes before a full pass is considered (Python: 10)


def configure() -> None:
    """Make the collector's full passes rare for the rest of this process."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_AFTER)


def settle() -> None:
    """Free the young garbage, then keep the collector off everything still alive."""
    global _modules_when_settled
    gc.collect(1)
    gc.freeze()
    _modules_when_settled = len(sys.modules)


def settle_if_imported() -> None:
    """:func:`settle`, when a module was imported since the last time."""
    if len(sys.modules) > _modules_when_settled:
        settle()
