"""Files and fine-tuning jobs: a deterministic stand-in for OpenAI's fine-tuning API.

The kit's OpenAI cassettes were recorded against these endpoints, not against
OpenAI. They follow the shapes of the real API closely enough for the
official ``openai`` SDK to parse every answer:

- ``POST /v1/files`` (multipart: ``file`` and ``purpose``); for
  ``purpose=fine-tune`` the file must be ``.jsonl`` and every line a chat
  example (an object with a non-empty ``messages`` list of role/content
  messages), else ``400`` naming the first bad line;
- ``GET /v1/files/{id}``;
- ``POST /v1/fine_tuning/jobs`` (``model``, ``training_file``,
  ``validation_file``, ``method`` or the older ``hyperparameters``,
  ``suffix``, ``seed``);
- ``GET /v1/fine_tuning/jobs/{id}``: **each read advances the job one step**,
  ``validating_files`` -> ``queued`` -> ``running`` -> ``running`` ->
  ``succeeded``, so a recording holds the same polls every time;
- ``GET /v1/fine_tuning/jobs/{id}/events`` (newest first, ``limit``/``after``),
  ``GET /v1/fine_tuning/jobs/{id}/checkpoints``,
  ``POST /v1/fine_tuning/jobs/{id}/cancel``.

A job **fails** the way a real one does when its training file has fewer than
10 examples: after the validation step it turns ``failed`` with an ``error``
object (``code="invalid_training_file"``). That is how the kit records its
failed-job cassette; the cancelled one cancels a job while it validates.

Nothing is random: ids are derived from a counter and the request content,
timestamps from a fixed clock that ticks once per request.
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import hashlib
import json
import math
import threading

from .. import tokens
from . import error, route

START_CLOCK = 1_764_000_000  # a fixed epoch second: recorded bodies stay identical across runs
ORGANIZATION = "kit"
MIN_TRAINING_EXAMPLES = 10  # the real API refuses smaller training files
FINE_TUNE_PURPOSES = {"fine-tune", "assistants", "batch", "vision", "user_data", "evals"}
TERMINAL = {"succeeded", "failed", "cancelled"}
# The status a job reports on its 1st, 2nd, ... read; the last one sticks.
PROGRESSION = ("validating_files", "queued", "running", "running", "succeeded")

# Model aliases resolve to the dated snapshot the job then reports, as the real API does.
SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

_LOCK = threading.Lock()


# ------------------------------------------------------------------ state and ids
def _store(state: dict) -> dict:
    return state.setdefault("finetune", {"files": {}, "jobs": {}, "counter": 0,
                                         "clock": START_CLOCK})


def _tick(store: dict, seconds: int = 7) -> int:
    store["clock"] += seconds
    return store["clock"]


def _new_id(store: dict, prefix: str, *parts: str, length: int = 24) -> str:
    store["counter"] += 1
    digest = hashlib.sha256("\x1f".join((str(store["counter"]), *parts)).encode()).hexdigest()
    return f"{prefix}{digest[:length]}"


# ------------------------------------------------------------------ token counting
def _example_tokens(example: dict, model: str) -> int:
    """Tokens of one chat example as billed (unknown models counted with o200k_base)."""
    try:
        return tokens.billed_tokens(example.get("messages", []), model)
    except ValueError:  # a model the simulator has no tokenizer for: gpt-4o's
        return tokens.billed_tokens(example.get("messages", []), "gpt-4o")


# ------------------------------------------------------------------ files
def _multipart(request) -> dict[str, tuple[str | None, bytes]]:
    """The form fields of a multipart body: name -> (filename or None, bytes)."""
    content_type = request.headers.get("Content-Type") or request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _chat_examples(data: bytes) -> tuple[list[dict], str | None]:
    """Parse a fine-tuning JSONL upload: (examples, None) or ([], why it is refused)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], "the file is not UTF-8 text"
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return [], f"line {number}: invalid JSON ({exc.msg})"
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            return [], f"line {number}: expected an object with a non-empty 'messages' list"
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not {"role", "content"} <= set(message):
                return [], f"line {number}: messages[{index}] needs 'role' and 'content'"
            if message["role"] not in ("system", "user", "assistant", "tool", "function"):
                return [], f"line {number}: messages[{index}]: unknown role {message['role']!r}"
        if not any(m["role"] == "assistant" for m in messages):
            return [], f"line {number}: the example has no assistant message"
        examples.append(record)
    if not examples:
        return [], "the file holds no examples"
    return examples, None


@route("POST", r"/v1/files")
def create_file(request):
    """Upload a file; fine-tuning uploads are checked line by line."""
    fields = _multipart(request)
    if "file" not in fields or "purpose" not in fields:
        return error(400, "a multipart body with 'file' and 'purpose' fields is required")
    filename, data = fields["file"]
    purpose = fields["purpose"][1].decode("utf-8", "replace")
    if purpose not in FINE_TUNE_PURPOSES:
        return error(400, f"'{purpose}' is not one of {sorted(FINE_TUNE_PURPOSES)} - 'purpose'")
    examples: list[dict] = []
    if purpose == "fine-tune":
        if not (filename or "").endswith(".jsonl"):
            return error(400, "Invalid file format for Fine-Tuning API. Must be .jsonl")
        examples, problem = _chat_examples(data)
        if problem:
            return error(400, f"Invalid file format for Fine-Tuning API: {problem}")
    with _LOCK:
        store = _store(request.state)
        file_id = _new_id(store, "file-", filename or "", hashlib.sha256(data).hexdigest())
        record = {
            "object": "file", "id": file_id, "purpose": purpose, "filename": filename,
            "bytes": len(data), "created_at": _tick(store), "expires_at": None,
            "status": "processed", "status_details": None,
        }
        store["files"][file_id] = {"object": record, "examples": examples}
    return 200, record


@route("GET", r"/v1/files/(?P<file_id>[^/]+)")
def retrieve_file(request):
    """The metadata of an uploaded file."""
    file = _store(request.state)["files"].get(request.match["file_id"])
    if file is None:
        return error(404, f"No such File object: {request.match['file_id']}")
    return 200, file["object"]


# ------------------------------------------------------------------ jobs
def _hyperparameters(body: dict) -> tuple[dict | None, str | None]:
    """The hyperparameters asked for, from ``method`` or the older top-level field."""
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict) or method.get("type") != "supervised":
            return None, "the simulator only runs method.type='supervised' jobs"
        return dict((method.get("supervised") or {}).get("hyperparameters") or {}), None
    return dict(body.get("hyperparameters") or {}), None


@route("POST", r"/v1/fine_tuning/jobs")
def create_job(request):
    """Create a job in ``validating_files``; its reads then advance it."""
    try:
        body = request.json()
    except json.JSONDecodeError:
        return error(400, "the body must be JSON")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error(400, "you must provide a model parameter")
    snapshot = SNAPSHOTS.get(model, model)
    if snapshot not in SNAPSHOTS.values():
        return error(400, f"Model {model} is not available for fine-tuning or does not exist.")
    store = _store(request.state)
    files = store["files"]
    training = files.get(body.get("training_file"))
    if training is None or training["object"]["purpose"] != "fine-tune":
        return error(400, f"invalid training_file: {body.get('training_file')}")
    validation_id = body.get("validation_file")
    if validation_id is not None and (validation_id not in files
                                      or files[validation_id]["object"]["purpose"] != "fine-tune"):
        return error(400, f"invalid validation_file: {validation_id}")
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
        return error(400, "suffix must be a string of at most 64 characters")
    hyper, problem = _hyperparameters(body)
    if problem:
        return error(400, problem)
    n_train = len(training["examples"])
    epochs = hyper.get("n_epochs", "auto")
    hyper["n_epochs"] = tokens.default_epochs(n_train) if epochs in (None, "auto") else int(epochs)
    if hyper.get("batch_size", "auto") in (None, "auto"):
        hyper["batch_size"] = 1
    if hyper.get("learning_rate_multiplier", "auto") in (None, "auto"):
        hyper["learning_rate_multiplier"] = 1.8
    with _LOCK:
        job_id = _new_id(store, "ftjob-", json.dumps(body, sort_keys=True))
        job = {
            "object": "fine_tuning.job", "id": job_id, "model": snapshot,
            "created_at": _tick(store), "finished_at": None, "fine_tuned_model": None,
            "organization_id": f"org-{ORGANIZATION}", "result_files": [],
            "status": "validating_files", "training_file": body["training_file"],
            "validation_file": validation_id, "hyperparameters": hyper,
            "trained_tokens": None, "error": None, "user_provided_suffix": suffix,
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "estimated_finish": None, "integrations": [], "metadata": body.get("metadata"),
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        }
        store["jobs"][job_id] = {"job": job, "reads": 0, "events": [], "checkpoints": []}
        _event(store, job_id, f"Created fine-tuning job: {job_id}")
        _event(store, job_id, f"Validating training file: {body['training_file']}"
               + (f" and validation file: {validation_id}" if validation_id else ""))
    return 200, job


def _event(store: dict, job_id: str, message: str, level: str = "info",
           data: dict | None = None) -> None:
    record = store["jobs"][job_id]
    record["events"].append({
        "object": "fine_tuning.job.event", "id": _new_id(store, "ftevent-", job_id, message),
        "created_at": _tick(store, 1), "level": level, "message": message,
        "data": data or {}, "type": "metrics" if data else "message",
    })


def _loss(step: int, total: int) -> float:
    """A smooth, made-up training loss that falls from about 1.6 towards 0.4."""
    return round(0.4 + 1.2 * math.exp(-3.0 * step / max(total, 1)), 4)


def _advance(store: dict, job_id: str) -> None:
    """Move a job one step along PROGRESSION (or to ``failed``) on each read."""
    record = store["jobs"][job_id]
    job = record["job"]
    if job["status"] in TERMINAL:
        return
    record["reads"] += 1
    target = PROGRESSION[min(record["reads"], len(PROGRESSION)) - 1]
    training = store["files"][job["training_file"]]["examples"]
    if target != "validating_files" and len(training) < MIN_TRAINING_EXAMPLES:
        message = (f"Training file has {len(training)} example(s), but must have at least "
                   f"{MIN_TRAINING_EXAMPLES} examples")
        job.update(status="failed", finished_at=_tick(store), error={
            "code": "invalid_training_file", "param": "training_file", "message": message})
        _event(store, job_id, f"Training file validation failed: {message}", level="error")
        _event(store, job_id, "The job failed due to an invalid training file.", level="error")
        return
    if target == job["status"] and target != "running":
        return
    hyper = job["hyperparameters"]
    steps_per_epoch = math.ceil(len(training) / hyper["batch_size"])
    total_steps = steps_per_epoch * hyper["n_epochs"]
    if target == "queued":
        _event(store, job_id, "Files validated, moving job to queued state")
    elif target == "running":
        if job["status"] != "running":
            _event(store, job_id, "Fine-tuning job started")
        step = total_steps // 2 if record["reads"] > PROGRESSION.index("running") + 1 else 1
        loss = _loss(step, total_steps)
        _event(store, job_id, f"Step {step}/{total_steps}: training loss={loss:.4f}",
               data={"step": step, "train_loss": loss, "total_steps": total_steps})
    elif target == "succeeded":
        _finish(store, job_id, steps_per_epoch, total_steps)
    job["status"] = target


def _finish(store: dict, job_id: str, steps_per_epoch: int, total_steps: int) -> None:
    record = store["jobs"][job_id]
    job = record["job"]
    short = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    model = f"ft:{job['model']}:{ORGANIZATION}:{job['user_provided_suffix'] or ''}:{short}"
    training = store["files"][job["training_file"]]["examples"]
    tokens = sum(_example_tokens(example, job["model"]) for example in training)
    epochs = job["hyperparameters"]["n_epochs"]
    # OpenAI keeps a checkpoint for each of the last three epochs.
    for epoch in range(max(1, epochs - 2), epochs + 1):
        step = steps_per_epoch * epoch
        name = model if epoch == epochs else f"{model}:ckpt-step-{step}"
        record["checkpoints"].append({
            "object": "fine_tuning.job.checkpoint",
            "id": _new_id(store, "ftckpt_", job_id, str(step)),
            "created_at": _tick(store, 1), "fine_tuned_model_checkpoint": name,
            "fine_tuning_job_id": job_id, "step_number": step,
            "metrics": {"step": float(step), "train_loss": _loss(step, total_steps),
                        "train_mean_token_accuracy": round(0.9 - _loss(step, total_steps) / 4, 4),
                        "valid_loss": round(_loss(step, total_steps) + 0.08, 4),
                        "valid_mean_token_accuracy": round(0.88 - _loss(step, total_steps) / 4, 4),
                        "full_valid_loss": round(_loss(step, total_steps) + 0.1, 4),
                        "full_valid_mean_token_accuracy":
                            round(0.87 - _loss(step, total_steps) / 4, 4)},
        })
        _event(store, job_id, f"Checkpoint created at step {step}")
    _event(store, job_id, f"Step {total_steps}/{total_steps}: training loss="
           f"{_loss(total_steps, total_steps):.4f}",
           data={"step": total_steps, "train_loss": _loss(total_steps, total_steps),
                 "total_steps": total_steps})
    _event(store, job_id, f"New fine-tuned model created: {model}")
    _event(store, job_id, "The job has successfully completed")
    job.update(fine_tuned_model=model, finished_at=_tick(store), trained_tokens=tokens * epochs,
               result_files=[_new_id(store, "file-", job_id, "results")])


def _job_route(method: str, tail: str = ""):
    """Register ``handler(request, store, record)`` for a job's URL plus ``tail``.

    The job is looked up, and the handler runs, under the simulator's lock; an unknown
    job id is a ``404``, as in the real API.
    """
    def register(handler):
        @route(method, rf"/v1/fine_tuning/jobs/(?P<job_id>[^/]+){tail}")
        @functools.wraps(handler)
        def with_job(request):
            with _LOCK:
                store = _store(request.state)
                record = store["jobs"].get(request.match["job_id"])
                if record is None:
                    return error(404, f"No such fine-tuning job: {request.match['job_id']}")
                return handler(request, store, record)
        return with_job
    return register


@_job_route("GET")
def retrieve_job(request, store, record):
    """Read a job: each read moves it one step further."""
    _advance(store, request.match["job_id"])
    return 200, record["job"]


def _page(items: list[dict], query: str) -> dict:
    """A cursor page, newest first, honouring ``limit`` and ``after``."""
    params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    newest_first = list(reversed(items))
    if params.get("after"):
        ids = [item["id"] for item in newest_first]
        if params["after"] in ids:
            newest_first = newest_first[ids.index(params["after"]) + 1:]
    limit = int(params.get("limit") or 20)
    return {"object": "list", "data": newest_first[:limit],
            "has_more": len(newest_first) > limit}


@_job_route("GET", "/events")
def list_events(request, store, record):
    """The job's events, newest first."""
    return 200, _page(record["events"], request.query)


@_job_route("GET", "/checkpoints")
def list_checkpoints(request, store, record):
    """The job's checkpoints (one per each of the last three epochs), newest first."""
    return 200, _page(record["checkpoints"], request.query)


@_job_route("POST", "/cancel")
def cancel_job(request, store, record):
    """Cancel a job that has not finished."""
    job = record["job"]
    if job["status"] in TERMINAL:
        return error(400, f"Job {job['id']} has already {job['status']}; "
                          "it cannot be cancelled")
    job.update(status="cancelled", finished_at=_tick(store))
    _event(store, job["id"], "Fine-tuning job cancelled")
    return 200, job
