"""The simulator's files and fine-tuning endpoints, driven through the official openai SDK."""

from __future__ import annotations

import json

import openai
import pytest

from grader.settings import PLACEHOLDER_API_KEY
from grader.simulator import serve


def chat_lines(n: int, extra: dict | None = None) -> bytes:
    rows = []
    for i in range(n):
        rows.append({"messages": [{"role": "system", "content": "Be a teacher."},
                                  {"role": "user", "content": f"Question {i}?"},
                                  {"role": "assistant", "content": f"What about {i}?"}],
                     **(extra or {})})
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def client():
    with serve() as server:
        yield openai.OpenAI(api_key=PLACEHOLDER_API_KEY, base_url=server.base_url, max_retries=0)


def upload(client, data: bytes, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, data), purpose="fine-tune").id


def test_a_job_advances_one_step_per_read_and_succeeds(client):
    train, valid = upload(client, chat_lines(12)), upload(client, chat_lines(3), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=train, validation_file=valid, suffix="tutor", seed=1,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}})
    assert job.status == "validating_files" and job.model == "gpt-4o-mini-2024-07-18"
    statuses = [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(6)]
    assert statuses == ["validating_files", "queued", "running", "running", "succeeded",
                        "succeeded"]
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:kit:tutor:")
    assert done.hyperparameters.n_epochs == 2 and done.trained_tokens > 0
    assert done.trained_tokens % 2 == 0  # tokens per epoch x 2 epochs
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [24, 12]  # newest first, 12 steps an epoch
    assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id).data]
    assert messages[0] == "The job has successfully completed"
    assert messages[-1].startswith("Created fine-tuning job")


def test_auto_epochs_follow_the_default_heuristic(client):
    train = upload(client, chat_lines(20))
    job = client.fine_tuning.jobs.create(model="gpt-4.1-nano", training_file=train)
    assert job.hyperparameters.n_epochs == 5  # 100 // 20


def test_a_too_small_training_file_fails_with_an_error_object(client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini",
                                         training_file=upload(client, chat_lines(5)))
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error.code == "invalid_training_file"
    assert "at least 10" in failed.error.message
    assert client.fine_tuning.jobs.retrieve(job.id).status == "failed"


def test_cancel_stops_a_job_and_cannot_be_repeated(client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini",
                                         training_file=upload(client, chat_lines(12)))
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.fine_tuning.jobs.cancel(job.id)


@pytest.mark.parametrize("data, name, message", [
    (b'{"messages": [{"role": "user", "content": "q"}]}\n', "t.jsonl", "no assistant"),
    (b'{"prompt": "q", "completion": "a"}\n', "t.jsonl", "messages"),
    (b"not json\n", "t.jsonl", "invalid JSON"),
    (chat_lines(2), "train.csv", "Must be .jsonl"),
    (b'{"messages": [{"role": "teacher", "content": "q"}]}\n', "t.jsonl", "unknown role"),
])
def test_uploads_for_fine_tuning_are_checked(client, data, name, message):
    with pytest.raises(openai.BadRequestError, match=message):
        client.files.create(file=(name, data), purpose="fine-tune")


def test_unknown_things_are_refused(client):
    train = upload(client, chat_lines(12))
    with pytest.raises(openai.BadRequestError, match="not available for fine-tuning"):
        client.fine_tuning.jobs.create(model="davinci-003", training_file=train)
    with pytest.raises(openai.BadRequestError, match="invalid training_file"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    assert client.files.retrieve(train).purpose == "fine-tune"


def test_events_page_with_limit_and_after(client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini",
                                         training_file=upload(client, chat_lines(12)))
    for _ in range(5):
        client.fine_tuning.jobs.retrieve(job.id)
    everything = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert [e.id for e in first.data] == [e.id for e in everything[:3]] and first.has_more
    rest = client.fine_tuning.jobs.list_events(job.id, limit=100, after=first.data[-1].id).data
    assert [e.id for e in rest] == [e.id for e in everything[3:]]


def test_the_simulator_is_deterministic():
    def run():
        with serve() as server:
            client = openai.OpenAI(api_key=PLACEHOLDER_API_KEY, base_url=server.base_url,
                                   max_retries=0)
            job = client.fine_tuning.jobs.create(model="gpt-4o-mini",
                                                 training_file=upload(client, chat_lines(12)))
            for _ in range(5):
                job = client.fine_tuning.jobs.retrieve(job.id)
            return job.model_dump()

    assert run() == run()
