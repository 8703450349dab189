"""Re-recording the OpenAI cassettes by running the reference code (``python -m grader record``).

Three scenarios, each through the reference's public functions: a successful
run (upload, job, polls, checkpoints, one answer from the tuned model), a job
whose 5-example file is refused, and a job cancelled while its files are
validated. Replaying (:mod:`grader.replay_openai`) never imports this module.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import openai

from ..replay_openai import CASSETTE_DIR, SPARE_READS, _vcr
from ..seam import Impl
from ..settings import PLACEHOLDER_API_KEY


def _reference(name: str):
    """A module of reference/, loaded through the seam (the grader imports no solution)."""
    return Impl("reference").module(name)


def _spare_reads(client: openai.OpenAI, job_id: str, checkpoints: bool = False) -> None:
    """Read the finished job a few more times, so slightly chattier code still replays."""
    for _ in range(SPARE_READS):
        client.fine_tuning.jobs.retrieve(job_id)
        client.fine_tuning.jobs.list_events(job_id, limit=50)
        client.fine_tuning.jobs.list_events(job_id, limit=50)
        if checkpoints:
            client.fine_tuning.jobs.checkpoints.list(job_id)


def _training_data(workdir: Path) -> tuple[Path, Path, Path]:
    """The shipped training and validation files, and a 5-example file that must fail."""
    utils = _reference("utils")
    train, valid = utils.OPENAI_TRAIN_FILE, utils.OPENAI_VALID_FILE
    small = utils.write_jsonl(workdir / "too_small.jsonl", utils.read_jsonl(train)[:5])
    return train, valid, small


def _record_success(client, train, valid, sleep, poll_seconds) -> None:
    ref = _reference("openai_finetune")
    n_epochs = ref.estimate_epochs(len(ref.read_jsonl(train)))
    train_id, valid_id = ref.upload_training_files(client, train, valid)
    job = ref.create_job(client, train_id, valid_id, model="gpt-4o-mini", n_epochs=n_epochs)
    result = ref.monitor_job(client, job.id, poll_seconds=poll_seconds, sleep=sleep,
                             timeout_seconds=4 * 3600, on_event=lambda line: print("  " + line))
    if result.status != "succeeded":
        raise RuntimeError(f"the successful run ended {result.status}: {result.error}")
    ref.list_checkpoints(client, job.id)
    ref.ask_tuned_model(client, result.fine_tuned_model, ref.DEMO_QUESTION)
    _spare_reads(client, result.job_id, checkpoints=True)
    client.chat.completions.create(  # a spare answer from the tuned model
        model=result.fine_tuned_model,
        messages=[{"role": "system", "content": ref.TEACHER_SYSTEM_PROMPT},
                  {"role": "user", "content": "What makes a fraction bigger or smaller?"}])


def _record_failed(client, small, sleep, poll_seconds) -> None:
    ref = _reference("openai_finetune")
    train_id, _ = ref.upload_training_files(client, small, None)
    job = ref.create_job(client, train_id, None, model="gpt-4o-mini", n_epochs=3)
    result = ref.monitor_job(client, job.id, poll_seconds=poll_seconds, sleep=sleep)
    if result.status != "failed":
        raise RuntimeError(f"the failing run ended {result.status}")
    _spare_reads(client, job.id)


def _record_cancelled(client, train, valid, sleep, poll_seconds) -> None:
    ref = _reference("openai_finetune")
    train_id, valid_id = ref.upload_training_files(client, train, valid)
    job = ref.create_job(client, train_id, valid_id, model="gpt-4o-mini", n_epochs=3)
    client.fine_tuning.jobs.retrieve(job.id)
    client.fine_tuning.jobs.list_events(job.id, limit=50)
    client.fine_tuning.jobs.cancel(job.id)
    result = ref.monitor_job(client, job.id, poll_seconds=poll_seconds, sleep=sleep)
    if result.status != "cancelled":
        raise RuntimeError(f"the cancelled run ended {result.status}")
    _spare_reads(client, job.id)


def _record_all(base_url: str | None, api_key: str, live: bool, directory: Path) -> list[Path]:
    client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0 if not live else 2)
    sleep, poll_seconds = (time.sleep, 30) if live else ((lambda seconds: None), 0)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="kit-record-") as tmp:
        workdir = Path(tmp)
        train, valid, small = _training_data(workdir)
        scenarios = {
            "finetune_success": lambda: _record_success(client, train, valid, sleep,
                                                        poll_seconds),
            "finetune_failed": lambda: _record_failed(client, small, sleep, poll_seconds),
            "finetune_cancelled": lambda: _record_cancelled(client, train, valid, sleep,
                                                            poll_seconds),
        }
        for name, run in scenarios.items():
            fresh = workdir / f"{name}.yaml"  # record aside; replace the old one only on success
            # a live run prints its progress (it takes a while); a simulated one stays quiet
            quiet = contextlib.nullcontext() if live else contextlib.redirect_stdout(io.StringIO())
            with _vcr("all").use_cassette(str(fresh)), quiet:
                run()
            shutil.move(str(fresh), directory / fresh.name)
            written.append(directory / fresh.name)
    return written


def record(base_url: str | None, api_key: str | None, live: bool = False, *,
           directory: str | Path = CASSETTE_DIR) -> list[Path]:
    """Re-record every OpenAI cassette; return the files written.

    - ``live=False`` and ``base_url=None``: start the kit's simulator on
      127.0.0.1, record against it, stop it (deterministic, free).
    - ``base_url`` given: record against that OpenAI-compatible server.
    - ``live=True``: the real API (``api_key`` or ``OPENAI_API_KEY``). The
      jobs really train: this takes a while and is billed.

    The key is sent to the server but never stored in a cassette.
    ``directory`` (default ``fixtures/cassettes/openai``) is where they go.
    """
    directory = Path(directory)
    if live:
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise ValueError("recording against the real API needs an API key (OPENAI_API_KEY)")
        return _record_all(base_url, api_key, live=True, directory=directory)
    if base_url is not None:
        return _record_all(base_url, api_key or PLACEHOLDER_API_KEY, live=False,
                           directory=directory)
    from grader.simulator import serve

    with serve() as server:
        return _record_all(server.base_url, PLACEHOLDER_API_KEY, live=False,
                           directory=directory)
