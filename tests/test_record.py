"""``grader record``: simulator started and stopped, changed cassettes listed, secrets refused.

The recorders are replaced by small fakes with the same contract
(``record(base_url, api_key, live) -> [paths]``); the real ones are tested
with their approaches.
"""

from __future__ import annotations

import argparse
import sys
import types
import urllib.error
import urllib.request

import pytest

from grader.commands import record

SECRET = "recording-key-placeholder-123456"


def _args(**kw):
    return argparse.Namespace(**{"target": "simulator", "only": None, **kw})


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Two fake recorders writing into a temporary cassette folder."""
    cassettes = tmp_path / "cassettes"
    calls, behaviour = [], {"dspy": "same", "openai": "same"}

    def recorder(name):
        def record_fn(base_url, api_key, live):
            calls.append((name, base_url, api_key, live))
            if base_url:  # the simulator must be up while recording
                try:
                    urllib.request.urlopen(base_url + "/models", timeout=5)
                except urllib.error.HTTPError:
                    pass  # any HTTP answer means the server is there
            mode = behaviour[name]
            if mode == "raise":
                raise RuntimeError("recording went wrong")
            path = cassettes / name / "c.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"same": "a: 1\n", "new": "a: 2\n", "leak": f"auth: {api_key}\n"}[mode]
            path.write_text(body)
            return [path]
        return record_fn

    for name in ("dspy", "openai"):
        module = types.ModuleType(f"fake_replay_{name}")
        module.record = recorder(name)
        monkeypatch.setitem(sys.modules, f"fake_replay_{name}", module)
    monkeypatch.setattr(record, "RECORDERS", ("fake_replay_dspy", "fake_replay_openai"))
    monkeypatch.setattr(record, "CASSETTES", cassettes)
    return types.SimpleNamespace(calls=calls, behaviour=behaviour, cassettes=cassettes)


def test_simulator_recording_lists_changes(fakes, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert record.run(_args()) == 0
    out = capsys.readouterr().out
    assert "2 new" in out and "new      fixtures/cassettes/dspy/c.yaml" in out
    (name, base_url, key, live), _ = fakes.calls
    assert base_url.startswith("http://127.0.0.1:") and not live and key is None

    fakes.behaviour["openai"] = "new"
    assert record.run(_args()) == 0
    out = capsys.readouterr().out
    assert "changed  fixtures/cassettes/openai/c.yaml" in out
    assert "1 changed, 0 new, 0 removed, 1 unchanged" in out

    # the simulator was stopped: its port no longer answers
    with pytest.raises(OSError):
        urllib.request.urlopen(base_url + "/models", timeout=2)


def test_only_one_approach(fakes, capsys):
    assert record.run(_args(only="openai")) == 0
    assert [c[0] for c in fakes.calls] == ["openai"]


def test_live_needs_a_key(fakes, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert record.run(_args(target="live")) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert fakes.calls == []


def test_live_passes_the_key_and_refuses_a_cassette_holding_it(fakes, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fakes.behaviour["dspy"] = "leak"
    assert record.run(_args(target="live")) == 1
    err = capsys.readouterr().err
    assert "contained the API key and was deleted" in err
    assert not (fakes.cassettes / "dspy" / "c.yaml").exists()
    assert (fakes.cassettes / "openai" / "c.yaml").exists()
    assert all(c[1] is None and c[2] == SECRET and c[3] for c in fakes.calls)


def test_a_failing_recorder_does_not_stop_the_others(fakes, capsys):
    fakes.behaviour["dspy"] = "raise"
    assert record.run(_args()) == 1
    assert "recording went wrong" in capsys.readouterr().err
    assert [c[0] for c in fakes.calls] == ["dspy", "openai"]
