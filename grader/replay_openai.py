"""Recorded OpenAI fine-tuning calls: replay them for grading, re-record them for instructors.

The cassettes in ``fixtures/cassettes/openai/`` hold the HTTP exchanges of
three fine-tuning runs of the reference code:

- ``finetune_success``: upload of the training and validation files, job
  creation, polls through ``validating_files`` -> ``queued`` -> ``running`` ->
  ``succeeded`` (each with the job's events), the checkpoints, and one chat
  completion from the tuned model;
- ``finetune_failed``: a job whose 5-example training file is refused
  (``failed`` with an ``invalid_training_file`` error);
- ``finetune_cancelled``: a job cancelled while its files are validated.

**Replay.** :func:`replay` gives an ``openai.OpenAI`` client whose requests
are answered from a cassette, and the list of requests the code under test
sent (:class:`SentRequest`: method, path, JSON body or multipart form), so a
check can see *what* was asked: purpose, model, file ids, hyperparameters.
Requests match a recording by method and path only, in recorded order, so
the wording of a prompt or the order of JSON keys never matters. Each
cassette ends with a few spare reads of the finished job, its events and
checkpoints, so code that reads once more than the reference still replays.
A request that is not in the recording fails at once with
:class:`ReplayError` naming it (the client never retries).

**Interception.** openai 3.x sends its requests with ``httpx2``; vcrpy 9.4
patches ``httpx2.HTTPTransport.handle_request``, which the SDK's default
client uses, so no special ``http_client`` is needed for vcrpy itself. We do
pass one, built on that same transport, only to *see* the requests.

**Hygiene.** Before anything is stored (and before matching), a request
keeps only its ``content-type`` header (no API key, organization, cookies or
SDK fingerprints), its host becomes ``api.openai.com``, and a multipart
upload body is replaced by a summary (purpose, filename, size, SHA-256): the
training data never enters a cassette. Responses keep only ``content-type``.

**Recording.** :func:`record` re-runs the three scenarios with the reference
code against the kit's simulator (default) or the real API (``live=True``,
with an API key: real jobs take minutes to hours and cost money).
``python -m grader record`` calls it.
"""

from __future__ import annotations

import contextlib
import copy
import email.parser
import email.policy
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx2
import openai
import vcr
from vcr.errors import CannotOverwriteExistingCassetteException

REPO_ROOT = Path(__file__).resolve().parent.parent
CASSETTE_DIR = REPO_ROOT / "fixtures" / "cassettes" / "openai"
CASSETTES = ("finetune_success", "finetune_failed", "finetune_cancelled")
CANONICAL_HOST = "api.openai.com"
REPLAY_BASE_URL = f"https://{CANONICAL_HOST}/v1"
REPLAY_API_KEY = "sk-replay-not-a-real-key"
SPARE_READS = 3  # extra job / events / checkpoint reads recorded after each run


# ---------------------------------------------------------------- what was sent
@dataclass
class SentRequest:
    """One request as the code under test sent it."""

    method: str
    path: str  # e.g. "/v1/fine_tuning/jobs"
    query: dict[str, str] = field(default_factory=dict)
    json: dict | None = None  # the JSON body, if any
    form: dict[str, str] = field(default_factory=dict)  # multipart text fields (purpose)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (filename, bytes)
    response: dict | None = None  # the JSON the recording answered with

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _multipart_fields(content_type: str, body: bytes) -> tuple[dict, dict]:
    """Split a multipart/form-data body into (text fields, file fields)."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    form, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = (part.get_filename(), payload)
        else:
            form[name] = payload.decode("utf-8", "replace")
    return form, files


def parse_request(method: str, url: str, content_type: str, body: bytes) -> SentRequest:
    """A :class:`SentRequest` from the parts of an HTTP request."""
    parts = urlsplit(url)
    sent = SentRequest(method.upper(), parts.path, dict(parse_qsl(parts.query)))
    if content_type.startswith("multipart/form-data"):
        sent.form, sent.files = _multipart_fields(content_type, body)
    elif body:
        try:
            sent.json = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            sent.json = None
    return sent


class ReplayError(RuntimeError):
    """A recorded cassette is missing or cannot serve the request asked for."""


class _CapturingTransport(httpx2.HTTPTransport):
    """The SDK's usual transport, remembering every request that goes through it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent: list[SentRequest] = []
        self.unmatched: list[str] = []
        self.cassette = ""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        sent = parse_request(request.method, str(request.url),
                             request.headers.get("content-type", ""), request.read())
        self.sent.append(sent)
        try:
            response = super().handle_request(request)  # vcrpy answers from the cassette
        except CannotOverwriteExistingCassetteException:
            asked = f"{request.method} {request.url.path}"
            self.unmatched.append(asked)
            raise ReplayError(f"{asked} is not in the recording {self.cassette} (or was "
                              "asked more often than recorded)") from None
        with contextlib.suppress(ValueError):
            sent.response = json.loads(response.read())
        return response


# ---------------------------------------------------------------- cassette hygiene
def _summarize_upload(content_type: str, body: bytes) -> bytes:
    form, files = _multipart_fields(content_type, body)
    summary = dict(form)
    for name, (filename, data) in files.items():
        summary[name] = {"filename": filename, "bytes": len(data),
                         "lines": data.count(b"\n") + (0 if data.endswith(b"\n") else 1),
                         "sha256": hashlib.sha256(data).hexdigest()}
    return json.dumps({"multipart": summary}, sort_keys=True).encode()


def scrub_request(request):
    """What of a request may be stored: no secrets, no upload bodies, one canonical host."""
    request = copy.deepcopy(request)
    parts = urlsplit(request.uri)
    request.uri = urlunsplit(("https", CANONICAL_HOST, parts.path, parts.query, ""))
    content_type = request.headers.get("content-type", request.headers.get("Content-Type", ""))
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if content_type.startswith("multipart/form-data"):
        request.body = _summarize_upload(content_type, body)
        content_type = "multipart/form-data"  # the boundary is random: drop it
    request.headers = {"content-type": content_type} if content_type else {}
    return request


def scrub_response(response: dict) -> dict:
    """Keep only a response's status, body and content type."""
    response = copy.deepcopy(response)
    headers = {k: v for k, v in response.get("headers", {}).items()
               if k.lower() == "content-type"}
    response["headers"] = headers
    return response


def _vcr(record_mode: str) -> vcr.VCR:
    return vcr.VCR(
        record_mode=record_mode,
        match_on=("method", "path"),
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )


def cassette_path(name: str) -> Path:
    """Where the cassette ``name`` (one of :data:`CASSETTES`) lives."""
    return CASSETTE_DIR / f"{name}.yaml"


# ---------------------------------------------------------------- replay
@dataclass
class Replay:
    """A replay in progress: the client to use and what it has sent so far."""

    client: openai.OpenAI
    requests: list[SentRequest]
    unmatched: list[str]

    def sent(self, method: str, path_suffix: str = "") -> list[SentRequest]:
        """The requests with this method whose path ends with ``path_suffix``."""
        return [r for r in self.requests
                if r.method == method.upper() and r.path.endswith(path_suffix)]

    def describe(self) -> str:
        """The requests sent so far, one per line (for assertion messages)."""
        lines = [str(r) for r in self.requests] or ["(no request was sent)"]
        if self.unmatched:
            lines.append("not in the recording: " + ", ".join(self.unmatched))
        return "\n".join(lines)


@contextlib.contextmanager
def replay(name: str) -> Iterator[Replay]:
    """Serve an ``openai.OpenAI`` client from the cassette ``name``; no network is used."""
    path = cassette_path(name)
    if not path.exists():
        raise ReplayError(f"no recording {path}; re-record with `python -m grader record`")
    transport = _CapturingTransport()
    transport.cassette = path.name
    client = openai.OpenAI(api_key=REPLAY_API_KEY, base_url=REPLAY_BASE_URL, max_retries=0,
                           http_client=openai.DefaultHttpxClient(transport=transport))
    with _vcr("none").use_cassette(str(path)):
        yield Replay(client, transport.sent, transport.unmatched)


# ---------------------------------------------------------------- record
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
    from reference import utils

    train, valid = utils.OPENAI_TRAIN_FILE, utils.OPENAI_VALID_FILE
    small = utils.write_jsonl(workdir / "too_small.jsonl", utils.read_jsonl(train)[:5])
    return train, valid, small


def _record_success(client, train, valid, sleep, poll_seconds) -> None:
    from reference import openai_finetune as ref

    n_epochs = ref.estimate_epochs(len(ref.read_jsonl(train)))
    result = ref._run_flow(client, train, valid, "gpt-4o-mini", n_epochs,
                           poll_seconds=poll_seconds, sleep=sleep)
    if result.status != "succeeded":
        raise RuntimeError(f"the successful run ended {result.status}: {result.error}")
    _spare_reads(client, result.job_id, checkpoints=True)
    client.chat.completions.create(  # a spare answer from the tuned model
        model=result.fine_tuned_model,
        messages=[{"role": "system", "content": ref.TEACHER_SYSTEM_PROMPT},
                  {"role": "user", "content": "What makes a fraction bigger or smaller?"}])


def _record_failed(client, small, sleep, poll_seconds) -> None:
    from reference import openai_finetune as ref

    train_id, _ = ref.upload_training_files(client, small, None)
    job = ref.create_job(client, train_id, None, model="gpt-4o-mini", n_epochs=3)
    result = ref.monitor_job(client, job.id, poll_seconds=poll_seconds, sleep=sleep)
    if result.status != "failed":
        raise RuntimeError(f"the failing run ended {result.status}")
    _spare_reads(client, job.id)


def _record_cancelled(client, train, valid, sleep, poll_seconds) -> None:
    from reference import openai_finetune as ref

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
        return _record_all(base_url, api_key or "sk-simulator", live=False,
                           directory=directory)
    from grader.simulator import serve

    with serve() as server:
        return _record_all(server.base_url, "sk-simulator", live=False,
                           directory=directory)
