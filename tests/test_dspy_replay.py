"""Replaying DSPy's calls: matching on inputs, failing fast, keeping secrets out."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest
from vcr.request import Request

from grader.commands import record_dspy
from grader.replay_dspy import CASSETTE, RecordingMissingError, replay, request_key

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DSPY_CACHEDIR", tempfile.mkdtemp(prefix="dspy-cache-"))

URL = "https://api.openai.com/v1/chat/completions"


def _request(history, prompt, system="Instructions.", demos=0, model="gpt-4o-mini"):
    messages = [{"role": "system", "content": system}]
    for i in range(demos):
        messages += [{"role": "user", "content": f"[[ ## teacher_prompt ## ]]\ndemo {i}"},
                     {"role": "assistant", "content": f"[[ ## student_response ## ]]\nr{i}"}]
    messages.append({"role": "user", "content":
                     f"[[ ## conversation_history ## ]]\n{history}\n\n"
                     f"[[ ## teacher_prompt ## ]]\n{prompt}\n\n"
                     "Respond with the corresponding output fields, starting with the field "
                     "`[[ ## reasoning ## ]]`, then `[[ ## student_response ## ]]`, and then "
                     "ending with the marker for `[[ ## completed ## ]]`."})
    body = json.dumps({"model": model, "messages": messages, "temperature": 0}).encode()
    return Request("POST", URL, body, {"Authorization": "Bearer placeholder-secret"})


def test_key_ignores_wording_layout_and_which_demos():
    base = request_key(_request("Teacher: Why?\nStudent: Because.", "And then?"))
    assert request_key(_request("teacher: why?  student: because", "And then?",
                                system="Completely different instructions.")) == base
    assert request_key(_request("Teacher: Why?\nStudent: Because.", "and then")) == base
    with_two = request_key(_request("Teacher: Why?\nStudent: Because.", "And then?", demos=2))
    with_four = request_key(_request("Teacher: Why?\nStudent: Because.", "And then?", demos=4))
    assert with_two == with_four != base


def test_key_tells_different_questions_apart():
    base = request_key(_request("Teacher: Why?", "And then?"))
    assert request_key(_request("Teacher: Why?", "And before?")) != base
    assert request_key(_request("Teacher: How?", "And then?")) != base
    assert request_key(_request("Teacher: Why?", "And then?", model="gpt-4o")) != base


def test_shipped_cassette_holds_no_secret_and_every_example_twice():
    text = CASSETTE.read_text(encoding="utf-8").lower()
    for secret in ("authorization", "api-key", "bearer", "sk-", "placeholder-secret", "cookie",
                   "openai-organization"):
        assert secret not in text, f"{secret!r} found in {CASSETTE.name}"
    import yaml

    from reference.dspy_example import load_examples

    interactions = yaml.safe_load(CASSETTE.read_text(encoding="utf-8"))["interactions"]
    assert len(interactions) == 2 * len(load_examples())


def test_reworded_student_program_replays():
    import dspy

    from reference import dspy_example as ref

    class Reworded(dspy.Signature):
        """Pretend to be a pupil and answer your tutor briefly."""

        conversation_history = dspy.InputField(desc="what was said so far")
        teacher_prompt = dspy.InputField(desc="the tutor's message")
        student_response = dspy.OutputField(desc="your answer")

    example = ref.load_examples()[7]
    with replay():
        ref.configure_lm()
        program = dspy.ChainOfThought(Reworded)
        program.predict.demos = [ref.load_examples()[30], ref.load_examples()[40]]
        prediction = program(**example.inputs())
    assert prediction.student_response == example.student_response


def test_missing_recording_fails_fast_naming_the_prompt_even_inside_evaluate():
    import dspy

    from reference import dspy_example as ref

    devset = [dspy.Example(conversation_history="x", teacher_prompt=f"Unrecorded question {i}?",
                           student_response="y").with_inputs("conversation_history",
                                                             "teacher_prompt")
              for i in range(5)]
    started = time.perf_counter()
    with pytest.raises(RecordingMissingError, match="Unrecorded question 0"):
        with replay():
            ref.configure_lm()
            ref.evaluate(ref.StudentSimulationModel(), devset)
    assert time.perf_counter() - started < 10


def test_missing_cassette_is_a_clear_error(tmp_path):
    with pytest.raises(RecordingMissingError, match="does not exist"):
        with replay(tmp_path / "nothing.yaml"):
            pass


def test_command_line_replays_offline(capsys):
    from reference import dspy_example as ref

    assert ref.main([]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["train_examples"] == 16 and figures["dev_examples"] == 12
    assert 0 <= figures["metric_before"] <= figures["metric_after"] <= 1
    assert figures["lm_calls"] > 0


def test_record_against_the_simulator_is_deterministic(tmp_path, monkeypatch):
    """Re-recording a few examples twice gives byte-identical cassettes."""
    from reference import dspy_example as ref

    few = ref.load_examples()[:3]
    monkeypatch.setattr(ref, "load_examples", lambda path=None: few)
    monkeypatch.setattr(ref, "optimize", lambda train: ref.StudentSimulationModel())
    texts = []
    for run in range(2):
        written = record_dspy.record(None, None, cassette=tmp_path / str(run) / "c.yaml",
                                     reference=ref)
        texts.append(written[0].read_text(encoding="utf-8"))
    assert texts[0] == texts[1]
    assert "127.0.0.1/v1/chat/completions" in texts[0] and "authorization" not in texts[0]
