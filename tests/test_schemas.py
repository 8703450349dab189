"""The JSON Schemas in data/schemas and the record-level rules of grader.validate.

- each schema is a valid draft 2020-12 schema with an $id, a title and a description;
- a table of crafted bad records: each kind of mistake is caught, with the
  expected pointer and message, by the schema itself or by a semantic rule;
- records generated from the schemas' shape always validate (hypothesis);
- a record jsonschema rejects always gets located problems (arbitrary and mutated records).
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from grader.validate import SCHEMA_DIR, SCHEMA_NAMES, _checker, load_schema, validate_records

# ---------------------------------------------------------------- the schema files


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_file_is_draft_2020_12_and_documented(name):
    path = SCHEMA_DIR / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(name)
    assert schema["title"] and schema["description"]
    assert schema["additionalProperties"] is False
    assert load_schema(name) == schema


def test_unknown_schema_name_is_a_clear_error():
    expected = r"unknown schema 'jsonl': choose one of dialogue, chat, qa"
    with pytest.raises(ValueError, match=expected):
        validate_records([{}], "jsonl")


# ---------------------------------------------------------------- crafted bad records
def turns(*roles: str) -> list[dict]:
    return [{"role": role, "content": f"turn {i}: something to say"}
            for i, role in enumerate(roles)]


GOOD = {
    "dialogue": {"dialogue": turns("teacher", "student", "teacher", "student")},
    "chat": {"messages": [{"role": "system", "content": "You are a patient teacher."},
                          *turns("user", "assistant", "user", "assistant")]},
    "qa": {"instruction": "Explain photosynthesis.", "input": "", "output": "Plants make sugar."},
}


def edit(schema: str, change) -> dict:
    record = copy.deepcopy(GOOD[schema])
    return change(record) or record


def set_at(path: str, value):
    """A change that sets record[a][b]... = value for path 'a/b/...'."""
    def change(record):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target = record
        for part in parents:
            target = target[part]
        target[last] = value
    return change


def delete_at(path: str):
    def change(record):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target = record
        for part in parents:
            target = target[part]
        del target[last]
    return change


DELETE = object()  # a turn mistake's value: delete the key instead of setting it
# Where each turn-based schema keeps its turns, and the roles it allows, in its order.
TURNS = {"dialogue": "dialogue", "chat": "messages"}
ROLES = {"dialogue": ["teacher", "student"], "chat": ["system", "user", "assistant"]}
# The mistakes in a turn, which both turn-based schemas catch alike, by the schema itself:
# (name, "turn/key" to change, value or DELETE, message pattern). A missing key is reported
# at its turn, any other mistake at the key.
TURN_MISTAKES = [
    ("unknown-role", "1/role", "tutor", "^'tutor' is not one of {roles}$"),
    ("role-not-string", "1/role", 7, r"^7 is not one of"),
    ("missing-role", "1/role", DELETE, r"^'role' is a required property$"),
    ("missing-content", "2/content", DELETE, r"^'content' is a required property$"),
    ("empty-content", "0/content", "", r"^must not be empty$"),
    ("whitespace-content", "3/content", " \n\t ", r"^must not be only whitespace$"),
    ("wide-space-content", "0/content", "\u3000 ", r"^must not be only whitespace$"),
    ("content-not-string", "3/content", ["hi"], r"^\['hi'\] is not of type 'string'$"),
    ("content-null", "1/content", None, r"^None is not of type 'string'$"),
    ("extra-turn-key", "1/emotion", "sad",
     r"^unexpected key 'emotion' \(allowed: role, content\)$"),
]
# The keys each schema allows at the top level, as the validator lists them.
ALLOWED = {"dialogue": "dialogue", "chat": "messages", "qa": "instruction, input, output"}
# A record that is no JSON object, by what the message calls it.
NOT_OBJECTS = {"an array": [], "a string": "teacher: hello", "a number": 42, "null": None}


def turn_cases(schema: str) -> list[tuple]:
    """TURN_MISTAKES made in a good record of ``schema``, and its list of turns missing."""
    key = TURNS[schema]
    cases = []
    for name, path, value, message in TURN_MISTAKES:
        change = delete_at(f"{key}/{path}") if value is DELETE else set_at(f"{key}/{path}", value)
        pointer = f"/{key}/" + (path.split("/")[0] if value is DELETE else path)
        message = message.replace("{roles}", re.escape(str(ROLES[schema])))
        cases.append((f"{schema}-{name}", schema, edit(schema, change), pointer, message, True))
    cases.append((f"{schema}-missing-key", schema, {"turns": GOOD[schema][key]},
                  "/", rf"^'{key}' is a required property$", True))
    return cases


def common_cases(schema: str) -> list[tuple]:
    """The mistakes every schema catches alike: a record that is no object, an extra key."""
    cases = [(f"{schema}-record-is-{kind.split()[-1]}", schema, record,
              "/", rf"^a record must be a JSON object, not {kind}$", True)
             for kind, record in NOT_OBJECTS.items()]
    cases.append((f"{schema}-extra-top-level-key", schema, edit(schema, set_at("id", 3)),
                  "/id", rf"^unexpected key 'id' \(allowed: {ALLOWED[schema]}\)$", True))
    return cases


# (id, schema, record, pointer, message pattern, caught by the JSON Schema itself?)
BAD = [
    *turn_cases("dialogue"), *turn_cases("chat"),
    *[case for schema in SCHEMA_NAMES for case in common_cases(schema)],
    # --- dialogue
    ("dialogue-not-a-list", "dialogue", {"dialogue": "teacher: hi"},
     "/dialogue", r"^'teacher: hi' is not of type 'array'$", True),
    ("dialogue-one-turn", "dialogue", {"dialogue": turns("teacher")},
     "/dialogue", r"^has 1 items, needs at least 4$", True),
    ("dialogue-three-turns", "dialogue", {"dialogue": turns("teacher", "student", "teacher")},
     "/dialogue", r"^has 3 items, needs at least 4$", True),
    ("dialogue-thirteen-turns", "dialogue",
     {"dialogue": turns(*["teacher", "student"] * 6, "teacher")},
     "/dialogue", r"^has 13 items, at most 12 allowed$", True),
    ("dialogue-opens-with-student", "dialogue",
     {"dialogue": turns("student", "teacher", "student", "teacher")},
     "/dialogue/0/role", r"^'student' should be 'teacher' \(the teacher opens the dialogue\)$",
     True),
    ("dialogue-roles-repeat", "dialogue",
     {"dialogue": turns("teacher", "student", "student", "teacher")},
     "/dialogue/2/role",
     r"^'student' speaks twice in a row; teacher and student turns must alternate$", False),
    # --- chat
    ("chat-wrong-role", "chat", edit("chat", set_at("messages/2/role", "tool")),
     "/messages/2/role", r"^'tool' is not one of \['system', 'user', 'assistant'\]$", True),
    ("chat-teacher-role", "chat", edit("chat", set_at("messages/1/role", "student")),
     "/messages/1/role", r"^'student' is not one of \['system', 'user', 'assistant'\]$", True),
    ("chat-no-assistant", "chat", {"messages": turns("system", "user")},
     "/messages", r"^must include a message from the assistant$", True),
    ("chat-no-user", "chat", {"messages": turns("system", "assistant")},
     "/messages", r"^must include a message from the user$", True),
    ("chat-one-message", "chat", {"messages": turns("assistant")},
     "/messages", r"^has 1 items, needs at least 2$", True),
    ("chat-no-messages", "chat", {"messages": []},
     "/messages", r"^has 0 items, needs at least 2$", True),
    ("chat-ends-with-user", "chat", {"messages": turns("system", "user", "assistant", "user")},
     "/messages/3/role", r"^the last message is from the user; it must be from the assistant",
     False),
    ("chat-users-in-a-row", "chat", {"messages": turns("user", "user", "assistant")},
     "/messages/1/role", r"^two user messages in a row; user and assistant must alternate$", False),
    ("chat-assistants-in-a-row", "chat", {"messages": turns("user", "assistant", "assistant")},
     "/messages/2/role", r"^two assistant messages in a row", False),
    ("chat-late-system", "chat", {"messages": turns("user", "system", "assistant")},
     "/messages/1/role", r"^a system message may only be the first message$", False),
    # --- qa
    ("qa-missing-instruction", "qa", edit("qa", delete_at("instruction")),
     "/", r"^'instruction' is a required property$", True),
    ("qa-missing-output", "qa", edit("qa", delete_at("output")),
     "/", r"^'output' is a required property$", True),
    ("qa-empty-instruction", "qa", edit("qa", set_at("instruction", "")),
     "/instruction", r"^must not be empty$", True),
    ("qa-whitespace-output", "qa", edit("qa", set_at("output", "   ")),
     "/output", r"^must not be only whitespace$", True),
    ("qa-output-not-string", "qa", edit("qa", set_at("output", 42)),
     "/output", r"^42 is not of type 'string'$", True),
    ("qa-input-not-string", "qa", edit("qa", set_at("input", {"text": "x"})),
     "/input", r"^\{'text': 'x'\} is not of type 'string'$", True),
    ("qa-chat-record", "qa", GOOD["chat"],
     "/messages", r"^unexpected key 'messages'", True),
]


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_good_record_has_no_problems(name):
    assert validate_records([GOOD[name]], name) == []
    assert Draft202012Validator(load_schema(name)).is_valid(GOOD[name])


@pytest.mark.parametrize(("schema", "record", "pointer", "message", "by_schema"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_record_is_caught(schema, record, pointer, message, by_schema):
    problems = validate_records([record], schema, path="bad.jsonl")
    found = [(p.pointer, p.message) for p in problems]
    assert any(where == pointer and re.search(message, text) for where, text in found), found
    for problem in problems:
        assert problem.line == 1
        assert str(problem) == f"bad.jsonl:1: {problem.pointer}: {problem.message}"
        assert "\n" not in str(problem)
    # Which part catches it: the JSON Schema itself, or a semantic rule of the validator.
    assert Draft202012Validator(load_schema(schema)).is_valid(record) is not by_schema
    assert _checker(schema).is_valid(record) is not by_schema


def test_problem_lines_follow_record_positions():
    records = [GOOD["qa"], {"instruction": "x"}, GOOD["qa"], {"output": "y", "instruction": ""}]
    problems = validate_records(records, "qa", path="mem")
    assert [str(p) for p in problems] == [
        "mem:2: /: 'output' is a required property",
        "mem:4: /instruction: must not be empty",
    ]


def test_every_problem_of_a_record_is_reported_in_order():
    # Outer objects first (an extra key is reported at its object), then each
    # part in the record's own order.
    record = {"messages": [{"role": "user", "content": " ", "name": "x"},
                           {"role": "tool", "content": ""}], "extra": 1}
    found = [(p.pointer, p.message) for p in validate_records([record], "chat")]
    assert found == [
        ("/extra", "unexpected key 'extra' (allowed: messages)"),
        ("/messages", "must include a message from the assistant"),
        ("/messages/0/name", "unexpected key 'name' (allowed: role, content)"),
        ("/messages/0/content", "must not be only whitespace"),
        ("/messages/1/role", "'tool' is not one of ['system', 'user', 'assistant']"),
        ("/messages/1/content", "must not be empty"),
    ]


def test_odd_keys_stay_on_one_printable_line():
    record = {"messages": turns("user", "assistant"), "a/b~\n\ud800": 1}
    (problem,) = validate_records([record], "chat", path="f")
    assert problem.pointer == "/a~1b~0\\n\\ud800"
    assert str(problem).isprintable()


def test_long_values_are_shortened_in_messages():
    record = {"instruction": "x", "output": ["y" * 10_000] * 1000}
    (problem,) = validate_records([record], "qa")
    assert len(problem.message) < 200


# ---------------------------------------------------------------- generated records
text = st.text(min_size=1, max_size=30).filter(lambda s: re.search(r"\S", s))


@st.composite
def dialogues(draw):
    count = draw(st.integers(4, 12))
    roles = ["teacher", "student"] * 6
    return {"dialogue": [{"role": role, "content": draw(text)} for role in roles[:count]]}


@st.composite
def chats(draw):
    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(text)})
    exchanges = draw(st.integers(1, 5))
    roles = ["user", "assistant"] * exchanges
    if draw(st.booleans()):  # the assistant (teacher) may speak first
        roles = ["assistant", *roles]
    messages += [{"role": role, "content": draw(text)} for role in roles]
    return {"messages": messages}


@st.composite
def qas(draw):
    record = {"instruction": draw(text), "output": draw(text)}
    if draw(st.booleans()):
        record["input"] = draw(st.text(max_size=30))
    return dict(sorted(record.items(), key=lambda _: draw(st.integers(0, 3))))


GENERATORS = {"dialogue": dialogues(), "chat": chats(), "qa": qas()}


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_records_shaped_like_the_schema_always_validate(name):
    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(st.lists(GENERATORS[name], min_size=1, max_size=4))
    def check(records):
        assert validate_records(records, name) == []
        assert all(Draft202012Validator(load_schema(name)).is_valid(r) for r in records)

    check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["teacher", "student", "system", "user", "assistant", "tool", "", 1])
contents = st.sampled_from(["hello", "", " ", "\n", None, 3]) | st.text(max_size=4)


@st.composite
def mutated(draw, name):
    """A valid record with one random change: a key removed, added or replaced."""
    record = draw(GENERATORS[name])
    items = record.get("dialogue") or record.get("messages")
    target = draw(st.sampled_from([record, *items])) if items else record
    action = draw(st.sampled_from(["drop", "add", "role", "content", "value"]))
    keys = sorted(target)
    if action == "drop" and keys:
        del target[draw(st.sampled_from(keys))]
    elif action == "add":
        target[draw(st.text(max_size=8))] = draw(json_values)
    elif action == "role":
        target["role"] = draw(roles)
    elif action == "content":
        target["content"] = draw(contents)
    elif keys:
        target[draw(st.sampled_from(keys))] = draw(json_values)
    return record


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_problems_agree_with_jsonschema(name):
    validator = Draft202012Validator(load_schema(name))
    checker = _checker(name)

    @settings(max_examples=150, derandomize=True, deadline=None)
    @given(mutated(name) | json_values | GENERATORS[name])
    def check(record):
        expected = validator.is_valid(record)
        assert checker.is_valid(record) == expected
        problems = checker.problems(record)
        if not expected:
            assert problems, "jsonschema rejects the record but no problem was reported"
        for pointer, message in problems:
            assert pointer.startswith("/") and message

    check()
