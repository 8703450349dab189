"""Recording and replaying DSPy's language-model calls (vcrpy cassettes).

The graded DSPy checks run offline: every chat completion DSPy sends is
answered from ``fixtures/cassettes/dspy/student_simulator.yaml``.

**Matching on what was asked.** A recorded answer is found by the request's
*inputs*, not its raw body: the model, the ``conversation_history`` and
``teacher_prompt`` values that DSPy's ChatAdapter writes into the last user
message (compared as lower-case words, so line breaks and role-label style do
not matter), and whether the prompt carries few-shot demos at all. Instruction
wording, field descriptions and *which* demos an optimizer picked are ignored,
so a student's program that keeps the signature's field names still replays.

**Missing recordings fail fast.** A request with no recording raises
:class:`MissingRecording` at once. It derives from ``BaseException`` on
purpose, so the HTTP client's retry loop, LiteLLM and ``dspy.Evaluate``
(which all catch ``Exception``) cannot swallow or retry it; :func:`replay`
turns it into :class:`RecordingMissingError` naming the teacher prompt.

**No secrets.** ``Authorization``, ``api-key``, organisation/project headers
and cookies are dropped from requests and responses before anything is written.

**No key needed.** LiteLLM refuses to build a request without an API key, even
one that will be replayed. Inside :func:`replay` the key variables hold a
harmless placeholder (``settings.PLACEHOLDER_API_KEY``), whatever the shell has set, so a
student's code grades the same with or without a real key (and a real key is
never put into a replayed request).

Instructors re-record with ``python -m grader record``
(:mod:`grader.commands.record_dspy`, which runs the reference code: replaying
never imports it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .settings import CASSETTES_DIR, PLACEHOLDER_API_KEY, REPO_ROOT

CASSETTE_DIR = CASSETTES_DIR / "dspy"
CASSETTE = CASSETTE_DIR / "student_simulator.yaml"
MATCHER = "dspy_inputs"
INPUT_FIELDS = ("conversation_history", "teacher_prompt")

FILTER_HEADERS = ("authorization", "api-key", "x-api-key", "openai-organization",
                  "openai-project", "cookie", "set-cookie")
_FIELD_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
# Never valid anywhere: replayed requests are answered from the cassette.
REPLAY_KEY_VARIABLES = ("OPENAI_API_KEY",)


class MissingRecording(BaseException):  # noqa: N818 - a signal, deliberately not an Exception
    """Raised inside the HTTP stack when a request has no recording (see module doc)."""


class RecordingMissingError(AssertionError):
    """A DSPy call had no recorded answer; the message names the teacher prompt."""


# ------------------------------------------------------------------ what was asked
def _body(request) -> dict:
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def asked(request) -> dict | None:
    """The inputs of a DSPy request: model, field values, whether demos were sent.

    None for a request that is not a DSPy ChatAdapter call.
    """
    body = _body(request)
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [_text(m) for m in messages if m.get("role") == "user"]
    if not users or "[[ ## teacher_prompt ## ]]" not in users[-1]:
        return None
    parts = _FIELD_HEADER.split(users[-1])
    fields = {}
    for name, value in zip(parts[1::2], parts[2::2], strict=False):
        value = value.split("Respond with the corresponding output fields")[0]
        fields.setdefault(name, value.strip())
    return {
        "model": str(body.get("model", "")),
        "conversation_history": fields.get("conversation_history", ""),
        "teacher_prompt": fields.get("teacher_prompt", ""),
        "demos": len(users) > 1,
    }


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_KEYS: dict[tuple, tuple] = {}


def request_key(request) -> tuple:
    """The key two requests must share to be the same question (memoized: vcrpy asks often)."""
    body = request.body
    body = body if isinstance(body, (bytes, str)) else repr(body)
    cache_key = (request.method, request.uri, body)
    if cache_key not in _KEYS:
        _KEYS[cache_key] = _request_key(request)
    return _KEYS[cache_key]


def _request_key(request) -> tuple:
    inputs = asked(request)
    if inputs is None:  # not a DSPy call: fall back to the exact request
        return ("raw", request.method, request.uri, _body(request) or request.body)
    return (inputs["model"], _words(inputs["conversation_history"]),
            _words(inputs["teacher_prompt"]), inputs["demos"])


def match_inputs(r1, r2) -> None:
    """Match for vcrpy: raise AssertionError unless both requests asked the same thing."""
    if request_key(r1) != request_key(r2):
        raise AssertionError("different DSPy inputs")


# ------------------------------------------------------------------ the vcr configuration
KEEP_HEADERS = ("content-type",)


def _scrub_request(request):
    """Keep only the content type: no key, no cookie, no client fingerprint is recorded.

    A simulator address loses its (random) port, so re-recording gives the same file.
    """
    for name in list(request.headers):
        if name.lower() not in KEEP_HEADERS:
            del request.headers[name]
    request.uri = re.sub(r"^http://127\.0\.0\.1:\d+/", "http://127.0.0.1/", request.uri)
    return request


def _scrub_response(response: dict) -> dict:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() not in KEEP_HEADERS:
            del headers[name]
    return response


@functools.cache
def _loaded_once_class():
    """:class:`vcr.cassette.Cassette`, keeping what it loads from a file for the process.

    Made on first use: vcrpy is imported only by the checks that replay.
    """
    from vcr.cassette import Cassette

    class LoadedOnce(Cassette):
        """A replayed cassette whose interactions are loaded once per file version.

        vcrpy parses the file and passes every interaction through its filters
        again each time a cassette is opened (a deep copy of each response): 0.4 s
        the first time for the DSPy recordings, 30 ms each time after, and a
        dozen checks open them. Replay never writes a cassette, so the loaded
        interactions are kept and every later opening shares them (vcrpy
        already plays one response many times with allow_playback_repeats).
        """

        kept: dict[tuple[str, int], tuple] = {}

        def _load(self):
            path = Path(self._path)
            try:
                key = (str(path.resolve()), path.stat().st_mtime_ns)
            except OSError:
                return super()._load()
            if key not in self.kept:
                super()._load()
                self.kept[key] = (list(self.data), list(self._old_interactions), self._metadata)
                return None
            data, old, self._metadata = self.kept[key]
            self.data, self._old_interactions = list(data), list(old)
            self._loaded_count = len(self.data)
            self.dirty = False
            self.rewound = True
            return None

    return LoadedOnce


def _replay_cassette(cassette: Path):
    """``make_vcr("none").use_cassette(cassette, ...)``, through :func:`_loaded_once_class`."""
    recorder = make_vcr("none")
    return _loaded_once_class().use_arg_getter(functools.partial(
        recorder.get_merged_config, path=str(cassette), allow_playback_repeats=True))


def warm(cassette: str | Path = CASSETTE) -> None:
    """Parse the recordings now (they are kept for the process and any process it forks)."""
    with replay(cassette):
        pass


def vcr_config(record_mode: str = "none") -> dict:
    """The vcrpy / pytest-recording settings for the DSPy cassettes.

    Register the matcher first (:func:`make_vcr` does both).
    """
    return {
        "cassette_library_dir": str(CASSETTE_DIR),
        "record_mode": record_mode,
        "match_on": [MATCHER],
        "filter_headers": list(FILTER_HEADERS),
        "before_record_request": _scrub_request,
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
        "allow_playback_repeats": True,
    }


def make_vcr(record_mode: str = "none"):
    """A ``vcr.VCR`` set up for the DSPy cassettes."""
    import vcr

    config = vcr_config(record_mode)
    config.pop("allow_playback_repeats")  # a per-cassette option: see use_cassette() calls
    recorder = vcr.VCR(**config)
    recorder.register_matcher(MATCHER, match_inputs)
    return recorder


def describe(request) -> str:
    """One line naming what a request asked, for error messages."""
    inputs = asked(request)
    if inputs is None:
        return f"{request.method} {request.uri}"
    history = " ".join(inputs["conversation_history"].split())
    history = history if len(history) <= 80 else history[:77] + "..."
    demos = "with demos" if inputs["demos"] else "without demos"
    return (f"teacher prompt {inputs['teacher_prompt']!r} (model {inputs['model']}, "
            f"{demos}, history {history!r})")


@contextlib.contextmanager
def replay(cassette: str | Path = CASSETTE) -> Iterator[object]:
    """Answer every LM call inside the block from ``cassette``; never touch the network.

    A call with no recording stops the block at once with RecordingMissingError.
    """
    cassette = Path(cassette)
    if not cassette.exists():
        raise RecordingMissingError(f"the DSPy recordings are missing: {cassette} does not exist "
                                    "(re-record them with `python -m grader record`)")
    misses: list[str] = []
    try:
        with placeholder_key(), \
                _replay_cassette(cassette) as tape:
            can_play = tape.can_play_response_for

            def can_play_or_stop(request):
                if can_play(request):
                    return True
                misses.append(describe(request))
                raise MissingRecording(misses[-1])

            tape.can_play_response_for = can_play_or_stop
            yield tape
    except MissingRecording:
        pass
    if misses:
        raise RecordingMissingError(
            f"no recorded answer for {misses[0]} in {_display(cassette)}. The recordings cover "
            "every student turn of data/teacher_student_dialogues.jsonl: build "
            "conversation_history and teacher_prompt from it as the assignment describes.")


@contextlib.contextmanager
def placeholder_key() -> Iterator[None]:
    """Inside the block the API-key variables hold the placeholder key; restored after."""
    saved = {name: os.environ.get(name) for name in REPLAY_KEY_VARIABLES}
    os.environ.update({name: PLACEHOLDER_API_KEY for name in REPLAY_KEY_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------ recording
def dedupe(cassette: Path) -> int:
    """Keep one interaction per request key (the first); return how many remain."""
    import yaml

    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    seen, kept = set(), []

    class _Req:
        def __init__(self, raw):
            self.method, self.uri = raw["method"], raw["uri"]
            self.body = raw.get("body") or ""

    for interaction in data["interactions"]:
        key = repr(request_key(_Req(interaction["request"])))
        if key not in seen:
            seen.add(key)
            kept.append(interaction)
    data["interactions"] = kept
    cassette.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000),
                        encoding="utf-8")
    return len(kept)
