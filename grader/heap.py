"""Keep Python's cycle collector off the libraries' objects.

A grading run imports torch, transformers, peft, dspy and litellm: a few
million long-lived objects. Every full pass of the cycle collector walks all of
them, and passes are frequent: accelerate calls ``gc.collect()`` after each
``Trainer.train()``, and the collector starts one by itself as a run allocates.
On this heap one pass costs a few tenths of a second, many times a run.

:func:`settle` collects what is garbage now and then moves every object still
alive into the permanent generation (``gc.freeze()``), which later passes skip.
The plugin calls it once the checks are collected and, through
:func:`settle_if_imported`, after every check that imported a module (the check
files import torch, transformers and peft inside the checks, so the first LoRA
check brings them in); :mod:`grader.experiments` calls it after each experiment
(the DSPy one imports LiteLLM). The price: an object frozen while
alive that later dies inside a reference cycle stays in memory until the run
ends, a few megabytes at most for the kit's tiny model and small datasets.
Reference counting still frees everything else as usual.
"""

from __future__ import annotations

import gc
import sys

_modules_when_settled = 0


def settle() -> None:
    """Free what is garbage now, then keep the collector off everything still alive."""
    global _modules_when_settled
    gc.collect()
    gc.freeze()
    _modules_when_settled = len(sys.modules)


def settle_if_imported() -> None:
    """:func:`settle`, when a module was imported since the last time."""
    if len(sys.modules) > _modules_when_settled:
        settle()
