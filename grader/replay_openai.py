"""Recorded OpenAI fine-tuning calls, replayed for grading.

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

**Recording** lives apart, in :mod:`grader.commands.record_openai`: it runs
the reference code, which replaying never needs (a student release has no
``reference/`` and still replays every cassette).
"""

from __future__ import annotations

import contextlib
import copy
import email.parser
import email.policy
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx2
import openai
import vcr
from vcr.errors import CannotOverwriteExistingCassetteException

from .settings import CASSETTES_DIR, PLACEHOLDER_API_KEY

CASSETTE_DIR = CASSETTES_DIR / "openai"
CASSETTES = ("finetune_success", "finetune_failed", "finetune_cancelled")
CANONICAL_HOST = "api.openai.com"
REPLAY_BASE_URL = f"https://{CANONICAL_HOST}/v1"
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


@functools.cache
def _tls_context():
    """One TLS context for every replay: making one reads the CA bundle (30 ms each time)."""
    return httpx2.create_ssl_context()


class _CapturingTransport(httpx2.HTTPTransport):
    """The SDK's usual transport, remembering every request that goes through it."""

    def __init__(self, **kwargs):
        super().__init__(**{"verify": _tls_context(), **kwargs})
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
    client = openai.OpenAI(api_key=PLACEHOLDER_API_KEY, base_url=REPLAY_BASE_URL, max_retries=0,
                           http_client=openai.DefaultHttpxClient(transport=transport))
    with _vcr("none").use_cassette(str(path)):
        yield Replay(client, transport.sent, transport.unmatched)
