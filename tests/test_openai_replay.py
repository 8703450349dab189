"""The OpenAI cassettes: free of secrets and training data, up to date, replayable offline."""

from __future__ import annotations

import socket

import pytest
import yaml

from grader import replay_openai
from grader.commands import record_openai
from grader.replay_openai import CASSETTES, cassette_path, replay
from reference import openai_finetune as ref
from reference.utils import OPENAI_TRAIN_FILE, read_jsonl


def interactions(name: str) -> list[dict]:
    return yaml.safe_load(cassette_path(name).read_text())["interactions"]


@pytest.mark.parametrize("name", CASSETTES)
def test_cassettes_hold_no_secret_and_no_training_data(name):
    text = cassette_path(name).read_text()
    for forbidden in ("authorization", "sk-", "bearer", "boundary=", "127.0.0.1", "cookie",
                      "x-stainless", "openai-organization"):
        assert forbidden not in text.lower(), f"{name} contains {forbidden!r}"
    student_turn = read_jsonl(OPENAI_TRAIN_FILE)[0]["messages"][1]["content"]
    assert student_turn[:40] not in text, "training data leaked into the cassette"
    for interaction in interactions(name):
        assert set(interaction["request"]["headers"]) <= {"content-type"}
        assert set(interaction["response"]["headers"]) <= {"content-type"}
        assert interaction["request"]["uri"].startswith("https://api.openai.com/v1/")


def test_success_cassette_walks_through_every_status():
    statuses = [yaml.safe_load(i["response"]["body"]["string"]).get("status")
                for i in interactions("finetune_success")
                if i["request"]["method"] == "GET" and i["request"]["uri"].count("/") == 6]
    assert statuses[:5] == ["validating_files", "queued", "running", "running", "succeeded"]
    uris = [i["request"]["uri"] for i in interactions("finetune_success")]
    assert sum(u.endswith("/v1/files") for u in uris) == 2
    assert any(u.endswith("/checkpoints") for u in uris)
    assert any(u.endswith("/chat/completions") for u in uris)


def test_shipped_cassettes_are_what_recording_gives_today(tmp_path):
    """Re-recording against the simulator reproduces the shipped files byte for byte."""
    written = record_openai.record(None, None, directory=tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.yaml" for n in CASSETTES)
    for path in written:
        assert path.read_text() == cassette_path(path.stem).read_text(), (
            f"{path.name} is stale: run `python -m grader record` and commit the result")


def test_replay_uses_no_network_and_reports_what_was_sent(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("replay tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    train = tmp_path / "t.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "q"}, '
                     '{"role": "assistant", "content": "a"}]}\n')
    with replay("finetune_success") as session:
        train_id, valid_id = ref.upload_training_files(session.client, train, train)
        job = ref.create_job(session.client, train_id, valid_id, n_epochs=3)
        result = ref.monitor_job(session.client, job.id, sleep=lambda s: None,
                                 on_event=lambda line: None)
    assert result.status == "succeeded" and result.fine_tuned_model.startswith("ft:")
    upload = session.sent("POST", "/files")[0]
    assert upload.form == {"purpose": "fine-tune"}
    assert upload.files["file"] == ("t.jsonl", train.read_bytes())
    created = session.sent("POST", "/fine_tuning/jobs")[0]
    assert created.json["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
    assert created.response["id"] == job.id


def test_a_request_with_no_recording_fails_at_once_and_says_which():
    with replay("finetune_failed") as session:
        with pytest.raises(replay_openai.ReplayError, match="GET /v1/models is not in"):
            session.client.models.list()
        assert "GET /v1/models" in session.describe()


def test_a_missing_cassette_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(replay_openai, "CASSETTE_DIR", tmp_path)
    with pytest.raises(replay_openai.ReplayError, match="python -m grader record"):
        with replay("finetune_success"):
            pass


def test_live_recording_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        record_openai.record(None, None, live=True)
