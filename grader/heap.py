"""Keep Python's cycle collector off the libraries' objects.

A grading run imports torch, transformers, peft, dspy and litellm: a few
million long-lived objects. Every full pass of the cycle collector walks all of
them, and passes are frequent: accelerate calls ``gc.collect()`` after each
``Trainer.train()``, and the collector starts one by itself as a run allocates.
On this heap one pass costs a few tenths of a second, many times a run.

:func:`settle` collects what is garbage now and then moves every object still
alive into the permanent generation (``gc.freeze()``), which later passes skip.
The plugin calls it once the checks are collected (the libraries are imported
by then) and :mod:`grader.experiments` after each experiment (which may import
more, as the DSPy experiment imports LiteLLM). The price: an object frozen while
alive that later dies inside a reference cycle stays in memory until the run
ends, a few megabytes at most for the kit's tiny model and small datasets.
Reference counting still frees everything else as usual.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Free what is garbage now, then keep the collector off everything still alive."""
    gc.collect()
    gc.freeze()
