"""The simulator's chat endpoint: a deterministic student (DSPy) or teacher (ft: models)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from grader.simulator import Request, chat, serve
from reference.utils import DIALOGUES_FILE, load_dialogues


def _dspy_messages(history: str, prompt: str, demos: list[dict] | None = None) -> list[dict]:
    """The messages DSPy's ChatAdapter sends for the reference signature."""
    import dspy

    from reference.dspy_example import StudentResponse

    signature = dspy.ChainOfThought(StudentResponse).predict.signature
    return dspy.ChatAdapter().format(signature, demos=demos or [],
                                     inputs={"conversation_history": history,
                                             "teacher_prompt": prompt})


def _call(body: dict) -> tuple[int, dict]:
    request = Request("POST", "/v1/chat/completions", None, "", {},
                      json.dumps(body).encode(), {})
    return chat.chat_completions(request)


def _first_pair():
    turns = load_dialogues(DIALOGUES_FILE)[0]
    for i in range(1, len(turns)):
        if turns[i - 1]["role"] == "teacher" and turns[i]["role"] == "student":
            history = "\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in turns[: i - 1])
            return history, turns[i - 1]["content"], turns[i]["content"]
    raise AssertionError("the first dialogue has no teacher -> student pair")


DEMO = {"conversation_history": "Teacher: hi", "teacher_prompt": "What is 2+2?",
        "reasoning": "easy", "student_response": "4?"}
OTHER_DEMO = {"conversation_history": "(start)", "teacher_prompt": "Name a mammal.",
              "reasoning": "a guess", "student_response": "A shark? No wait, a whale."}


def _student_response(body: dict) -> str:
    import dspy

    from reference.dspy_example import StudentResponse

    signature = dspy.ChainOfThought(StudentResponse).predict.signature
    parsed = dspy.ChatAdapter().parse(signature, body["choices"][0]["message"]["content"])
    assert parsed["reasoning"]
    return parsed["student_response"]


def test_with_demos_a_known_prompt_gets_the_dataset_reply_in_chat_adapter_format():
    history, prompt, gold = _first_pair()
    status, body = _call({"model": "gpt-4o-mini",
                          "messages": _dspy_messages(history, prompt, [DEMO])})
    assert status == 200
    assert body["choices"][0]["message"]["content"].rstrip().endswith("[[ ## completed ## ]]")
    assert _student_response(body) == gold
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_without_demos_the_reply_over_explains_and_scores_lower():
    """An uncompiled program gets a lecture, so optimizing has something to fix."""
    import dspy

    from reference import dspy_example as ref

    history, prompt, gold = _first_pair()
    _, body = _call({"model": "gpt-4o-mini", "messages": _dspy_messages(history, prompt)})
    reply = _student_response(body)
    assert reply != gold and len(reply.split()) > 2 * len(gold.split())
    example = dspy.Example(conversation_history=history, teacher_prompt=prompt,
                           student_response=gold)
    lecture = ref.teaching_quality(example, dspy.Prediction(student_response=reply))
    real = ref.teaching_quality(example, dspy.Prediction(student_response=gold))
    assert ref.student_voice(example, dspy.Prediction(student_response=reply)) == 0.0
    assert lecture < 0.6 < real


def test_which_demos_and_how_many_do_not_change_the_reply():
    history, prompt, gold = _first_pair()
    replies = {_student_response(_call({"model": "gpt-4o-mini",
                                        "messages": _dspy_messages(history, prompt, demos)})[1])
               for demos in ([DEMO], [OTHER_DEMO], [DEMO, OTHER_DEMO])}
    assert replies == {gold}


def test_unknown_prompt_gets_a_deterministic_templated_student_reply():
    messages = _dspy_messages("(start)", "Why do volcanoes erupt?", [DEMO])
    first = _call({"model": "gpt-4o-mini", "messages": messages})[1]
    second = _call({"model": "gpt-4o-mini", "messages": messages})[1]
    assert first == second
    student = _student_response(first)
    assert "volcanoes" in student.lower() or "erupt" in student.lower()
    assert len(student.split()) < 30


def test_fine_tuned_model_answers_as_a_teacher_with_a_question():
    body = {"model": "ft:gpt-4o-mini-2024-07-18:kit:teacher:abc123",
            "messages": [{"role": "system", "content": "You are a patient teacher."},
                         {"role": "user", "content": "What is photosynthesis?"}]}
    status, reply = _call(body)
    assert status == 200
    text = reply["choices"][0]["message"]["content"]
    assert text.endswith("?") and "photosynthesis" in text.lower()
    assert reply["model"] == body["model"]
    base = _call({**body, "model": "gpt-4o-mini"})[1]["choices"][0]["message"]["content"]
    assert base != text and not base.endswith("?")


@pytest.mark.parametrize("body, fragment", [
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "gpt-4o-mini", "messages": "hi"}, "messages"),
    ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
     "stream"),
])
def test_bad_requests_get_an_openai_shaped_400(body, fragment):
    status, reply = _call(body)
    assert status == 400
    assert fragment in reply["error"]["message"]


def test_over_http():
    history, prompt, gold = _first_pair()
    with serve() as server:
        data = json.dumps({"model": "gpt-4o-mini",
                           "messages": _dspy_messages(history, prompt, [DEMO])}).encode()
        request = urllib.request.Request(f"{server.base_url}/chat/completions", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        assert gold in body["choices"][0]["message"]["content"]
        bad = urllib.request.Request(f"{server.base_url}/chat/completions", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=10)
        assert info.value.code == 400
