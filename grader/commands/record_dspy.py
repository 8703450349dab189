"""Re-recording the DSPy cassette by running the reference flow (``python -m grader record``).

Replaying (:mod:`grader.replay_dspy`) never imports this module.
"""

from __future__ import annotations

from pathlib import Path

from ..replay_dspy import CASSETTE, dedupe, make_vcr
from ..seam import Impl
from ..settings import PLACEHOLDER_API_KEY


def record(base_url: str | None, api_key: str | None, live: bool = False, *,
           cassette: Path = CASSETTE, reference=None) -> list[Path]:
    """Re-record the DSPy cassette by running the reference flow; return the files written.

    Every dataset example is asked twice, without demos (the uncompiled
    program) and with demos (a program compiled by BootstrapFewShot), so any
    split and any choice of demos replays. With ``live=False`` and no
    ``base_url`` the kit's simulator is started on 127.0.0.1 for the duration.
    With ``live=True`` calls go to ``base_url`` or, when None, OpenAI's API with
    ``api_key``; headers carrying the key are never written. ``cassette`` is
    the file written; ``reference`` the module that runs (default: the
    reference's ``dspy_example``, loaded through the seam).
    """
    if not live and base_url is None:
        from grader.simulator import serve

        with serve() as server:
            return record(server.base_url, api_key, live=False, cassette=cassette,
                          reference=reference)
    ref = reference or Impl("reference").module("dspy_example")  # the grader imports no solution
    cassette = Path(cassette)
    cassette.parent.mkdir(parents=True, exist_ok=True)
    target = cassette.with_suffix(".recording.yaml")
    target.unlink(missing_ok=True)
    with make_vcr("all").use_cassette(str(target)):
        ref.configure_lm(ref.DEFAULT_MODEL, live=live, api_base=base_url,
                         api_key=api_key or (PLACEHOLDER_API_KEY if not live else None))
        examples = ref.load_examples()
        plain = ref.StudentSimulationModel()
        for example in examples:
            plain(**example.inputs())
        train, _ = ref.split_examples(examples)
        compiled = ref.optimize(train)
        for example in examples:
            compiled(**example.inputs())
    dedupe(target)
    target.replace(cassette)
    return [cassette]
