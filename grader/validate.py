"""Check JSON Lines datasets against the kit's JSON Schemas (``data/schemas``).

Three schemas, one per data format:

- ``dialogue``: ``{"dialogue": [{"role": "teacher"|"student", "content": ...}, ...]}``
- ``chat``: ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}``
- ``qa``: ``{"instruction": ..., "input": ... (optional), "output": ...}``

Every problem is a :class:`Problem` that prints as ``path:line: pointer: message``,
where ``line`` is the 1-based line of the file (the record's position for
in-memory records) and ``pointer`` is a JSON Pointer into the record (``/`` for
the record itself)::

    data/x.jsonl:17: /messages/2/role: 'tool' is not one of ['system', 'user', 'assistant']

Problems that concern the whole file (a missing file, a directory, an empty
file, a schema that cannot be inferred) have line 0 and print as
``path: message``.

What the schemas check: the shape of a record, the allowed roles, non-empty
content, no extra keys, 4 to 12 dialogue turns opening with the teacher, and a
chat example with at least one user and one assistant message. What JSON Schema
cannot say well is checked here as *semantic rules*, with their own pointer and
message: dialogue roles alternate; in a chat example a system message comes
only first, user and assistant alternate, and the assistant speaks last.

The file is read as a stream of lines, so its size does not matter; a line
longer than :data:`MAX_LINE_BYTES` is reported and skipped without being held
in memory. Bad input of any kind (invalid JSON, a JSON array, a blank line,
non-UTF-8 bytes, a byte order mark, an empty or missing file, a directory)
becomes a located problem, never an exception.

Speed: each schema's ``jsonschema`` validator is built once per process; a
record it finds valid costs one ``is_valid`` call, and only a failing record
is walked again for each error and its location (bench/bench_validate.py
measures it: thousands of records a second, while the kit's datasets hold a
few hundred). A line read before is not checked again: its problems are
remembered by its text (the first :data:`KNOWN_LINES` lines per schema).
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .settings import SCHEMA_DIR

SCHEMA_NAMES = ("dialogue", "chat", "qa")
MAX_LINE_BYTES = 1 << 20  # 1 MiB: far above any real record, small enough to hold in memory
DEFAULT_MAX_PROBLEMS = 100
KNOWN_LINES = 20_000  # lines per schema whose problems are remembered (a few MB at most)
BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = " \t\r\n"


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where it is and what is wrong."""

    path: str
    line: int
    pointer: str
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # about the whole file
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.pointer}: {self.message}"


@dataclass
class FileReport:
    """The outcome of validating one file.

    ``records`` counts the non-blank lines (each should be one record) and
    ``valid`` those without any problem. ``problems`` keeps at most
    ``max_problems`` problems; ``truncated`` counts the ones left out.
    ``error`` says why the file could not be read at all (else ``None``).
    """

    path: str
    schema: str | None = None
    records: int = 0
    valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    truncated: int = 0
    error: str | None = None
    max_problems: int = field(default=DEFAULT_MAX_PROBLEMS, repr=False)

    @property
    def ok(self) -> bool:
        """True when the file was read and nothing is wrong with it."""
        return self.error is None and not self.problems and not self.truncated

    def add(self, line: int, pointer: str, message: str) -> None:
        """Record a problem, or only count it once the cap is reached."""
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(self.path, line, pointer, message))
        else:
            self.truncated += 1

    def fail(self, message: str) -> FileReport:
        """Mark the whole file as unreadable, with the reason."""
        self.error = message
        self.add(0, "", message)
        return self


# ---------------------------------------------------------------- schemas
def load_schema(name: str) -> dict:
    """Return the JSON Schema called ``name`` (``dialogue``, ``chat`` or ``qa``) as a dict."""
    return _checker(name).schema


def schema_for_path(path: str | Path) -> str | None:
    """Guess a file's schema from its name, or return None when the name does not tell.

    Words of the file name decide: ``dialogue(s)`` without ``openai`` is a
    dialogue file; ``openai``, ``chat`` or ``messages`` a chat file; ``qa`` a
    question-answer file. So ``openai_edu_qa_training.jsonl`` is chat.
    """
    words = set(re.split(r"[^a-z0-9]+", Path(path).name.lower()))
    if words & {"dialogue", "dialogues"} and "openai" not in words:
        return "dialogue"
    if words & {"openai", "chat", "chats", "messages"}:
        return "chat"
    if "qa" in words:
        return "qa"
    return None


def schema_for_record(record: Any) -> str | None:
    """Guess the schema from a record's keys, or return None."""
    if not isinstance(record, dict):
        return None
    if "dialogue" in record:
        return "dialogue"
    if "messages" in record:
        return "chat"
    if "instruction" in record or "output" in record:
        return "qa"
    return None


# ---------------------------------------------------------------- library API
def validate_records(records: Iterable[Any], schema: str, path: str = "<records>") -> list[Problem]:
    """Validate in-memory records; each problem's line is the record's index + 1."""
    checker = _checker(schema)
    return [
        Problem(path, number, pointer, message)
        for number, record in enumerate(records, start=1)
        for pointer, message in checker.problems(record)
    ]


def validate_file(path: str | Path, schema: str | None = None, *,
                  max_problems: int = DEFAULT_MAX_PROBLEMS) -> FileReport:
    """Validate a JSON Lines file; never raises for bad input, returns a :class:`FileReport`.

    ``schema`` names the format; ``None`` infers it from the file name, then
    from the first record's keys. An unknown schema name raises ``ValueError``
    (that is a mistake in the calling code, not in the data).
    """
    report = FileReport(path=str(path), max_problems=max(0, max_problems))
    checker = _checker(schema) if schema is not None else None
    if checker is None and schema_for_path(path) is not None:
        checker = _checker(schema_for_path(path))
    report.schema = checker.name if checker else None
    try:
        handle = open(path, "rb")  # closed below; errors opening it are reported
    except FileNotFoundError:
        return report.fail("no such file")
    except IsADirectoryError:
        return report.fail("is a directory, not a JSON Lines file")
    except PermissionError:
        return report.fail("permission denied")
    except OSError as exc:
        return report.fail(f"cannot open: {exc.strerror or exc}")
    except ValueError as exc:  # e.g. a NUL character in the path
        return report.fail(f"cannot open: {exc}")
    try:
        with handle:
            return _validate_lines(handle, report, checker)
    except OSError as exc:  # e.g. a read error half-way through
        return report.fail(f"cannot read: {exc.strerror or exc}")


def _validate_lines(handle, report: FileReport, checker: _Checker | None) -> FileReport:
    seen_any_line = False
    for number, raw, size in _read_lines(handle):
        seen_any_line = True
        if raw is None:
            report.records += 1
            report.add(number, "/", f"line is {size:,} bytes, longer than the "
                                    f"{MAX_LINE_BYTES:,}-byte limit; not read")
            continue
        bad = False
        if number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return report.fail("file is UTF-16 (it starts with a UTF-16 byte order mark); "
                               "save it as UTF-8")
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
            report.add(number, "/", "file starts with a UTF-8 byte order mark (BOM); "
                                    "save it as UTF-8 without BOM")
            bad = True
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            report.records += 1
            report.add(number, "/", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} "
                                    f"at byte {exc.start + 1} of the line")
            continue
        if not text.strip(_JSON_WHITESPACE):
            report.add(number, "/", "blank line (every line must hold one JSON object)")
            continue
        report.records += 1
        try:
            record = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            at = "" if exc.msg.endswith(" at") else " at"  # "Unterminated string starting at"
            report.add(number, "/", f"invalid JSON: {exc.msg}{at} column {exc.colno}")
            continue
        except RecursionError:
            report.add(number, "/", "invalid JSON: nested too deeply")
            continue
        except ValueError as exc:  # NaN/Infinity, integers too long to convert
            report.add(number, "/", f"invalid JSON: {str(exc).split(':')[0]}")
            continue
        if checker is None:
            name = schema_for_record(record)
            if name is None:
                return report.fail("cannot tell which schema applies from the file name or "
                                   f"the first record (line {number}); pass --schema "
                                   + "|".join(SCHEMA_NAMES))
            checker = _checker(name)
            report.schema = name
        found = checker.line_problems(text, record)
        for pointer, message in found:
            report.add(number, pointer, message)
        if not found and not bad:
            report.valid += 1
    if not seen_any_line:
        report.add(0, "", "file is empty (no records)")
    return report


def _read_lines(handle) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield (line number, bytes, size) per line; bytes is None for an over-long line.

    ``readline(limit)`` never reads more than ``limit`` bytes, so an over-long
    line is skipped chunk by chunk and never held in memory whole.
    """
    number = 0
    while chunk := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(chunk) <= MAX_LINE_BYTES or chunk.endswith(b"\n"):
            yield number, chunk, len(chunk)
            continue
        size = len(chunk)
        while not chunk.endswith(b"\n") and (chunk := handle.readline(MAX_LINE_BYTES)):
            size += len(chunk)
        yield number, None, size - chunk.endswith(b"\n")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


# Built once: json.loads(text, parse_constant=...) would build a decoder per line.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


# ---------------------------------------------------------------- one checker per schema
class _Checker:
    """A compiled schema plus the semantic rules of its format."""

    def __init__(self, name: str):
        self.name = name
        with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as handle:
            self.schema = json.load(handle)
        Draft202012Validator.check_schema(self.schema)
        self.validator = Draft202012Validator(self.schema)
        self.is_valid = self.validator.is_valid
        self.rules = SEMANTIC_RULES[name]
        self.known_lines: dict[str, tuple[tuple[str, str], ...]] = {}

    def line_problems(self, text: str, record: Any) -> tuple[tuple[str, str], ...]:
        """:meth:`problems` of the record read from the line ``text``, remembered by text.

        What is wrong with a record depends on its text alone, and a grading run
        reads the kit's datasets again and again (every training run, every DSPy
        check that loads the dialogues); the first :data:`KNOWN_LINES` lines
        seen are remembered, so a line already checked costs a dict lookup.
        """
        found = self.known_lines.get(text)
        if found is None:
            found = tuple(self.problems(record))
            if len(self.known_lines) < KNOWN_LINES:
                self.known_lines[text] = found
        return found

    def problems(self, record: Any) -> list[tuple[str, str]]:
        """Every (pointer, message) wrong with one record: schema errors then semantic ones."""
        try:
            return self._problems(record)
        except RecursionError:
            return [("/", "record is nested too deeply to check")]

    def _problems(self, record: Any) -> list[tuple[str, str]]:
        found = []
        if not self.is_valid(record):
            errors = sorted(self.validator.iter_errors(record), key=_error_order(record))
            for error in errors:
                found.extend(_describe(error))
        found.extend(self.rules(record))
        return found


@cache
def _checker(name: str) -> _Checker:
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}: choose one of {', '.join(SCHEMA_NAMES)}")
    return _Checker(name)


# ---------------------------------------------------------------- messages
def pointer(path: Iterable[Any]) -> str:
    """JSON Pointer (RFC 6901) for a path of keys and indexes; ``/`` for the record itself."""
    parts = [_printable(str(part)).replace("~", "~0").replace("/", "~1") for part in path]
    return "/" + "/".join(parts)


def _printable(text: str) -> str:
    # Keys can hold newlines or lone surrogates: keep every problem on one printable line.
    return text if text.isprintable() else repr(text)[1:-1]


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 60, 60, 4, 4


def _short(value: Any, limit: int = 100) -> str:
    # A bounded repr: a wrong value may be a huge string or a deeply nested array.
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _error_order(record: Any):
    """Sort key for errors: by where they are, keys in the record's own order."""

    def key(error: ValidationError) -> tuple[int, ...]:
        position, value = [], record
        for part in error.absolute_path:
            if isinstance(value, dict):
                position.append(list(value).index(part) if part in value else len(value))
            else:
                position.append(part if isinstance(part, int) else 0)
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                value = None
        return tuple(position)

    return key


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """Turn one jsonschema error into (pointer, message) pairs with short, plain messages."""
    where = pointer(error.absolute_path)
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in value if key not in allowed]
        return [(pointer([*error.absolute_path, key]),
                 f"unexpected key {_short(key)} (allowed: {', '.join(allowed)})")
                for key in extras]
    if keyword == "enum":
        message = f"{_short(value)} is not one of {expected!r}"
    elif keyword == "type" and not error.absolute_path:
        message = f"a record must be a JSON object, not {_json_type(value)}"
    elif keyword == "type":
        message = f"{_short(value)} is not of type {expected!r}"
    elif keyword == "const":
        message = f"{_short(value)} should be {expected!r}"
    elif keyword == "pattern" and expected == r"\S":
        message = "must not be empty" if value == "" else "must not be only whitespace"
    elif keyword == "minItems":
        message = f"has {len(value)} items, needs at least {expected}"
    elif keyword == "maxItems":
        message = f"has {len(value)} items, at most {expected} allowed"
    elif keyword == "contains":
        message = f"must include {expected.get('title', 'a matching item')}"
    else:
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    description = error.schema.get("description") if keyword == "const" else None
    if description:
        message += f" ({description.rstrip('.')})"
    return [(where, message)]


# ---------------------------------------------------------------- semantic rules
def _roles(record: Any, key: str) -> list[Any]:
    items = record.get(key) if isinstance(record, dict) else None
    if not isinstance(items, list):
        return []
    return [item.get("role") if isinstance(item, dict) else None for item in items]


def dialogue_rules(record: Any) -> list[tuple[str, str]]:
    """Teacher and student take turns: no one speaks twice in a row."""
    found = []
    roles = _roles(record, "dialogue")
    for index in range(1, len(roles)):
        if roles[index] in ("teacher", "student") and roles[index] == roles[index - 1]:
            found.append((f"/dialogue/{index}/role",
                          f"{roles[index]!r} speaks twice in a row; "
                          "teacher and student turns must alternate"))
    return found


def chat_rules(record: Any) -> list[tuple[str, str]]:
    """A system message only first; user and assistant alternate; the assistant speaks last."""
    found = []
    roles = _roles(record, "messages")
    previous = None
    for index, role in enumerate(roles):
        if role == "system" and index > 0:
            found.append((f"/messages/{index}/role",
                          "a system message may only be the first message"))
        elif role in ("user", "assistant") and role == previous:
            found.append((f"/messages/{index}/role",
                          f"two {role} messages in a row; user and assistant must alternate"))
        previous = role
    if roles and roles[-1] in ("system", "user"):
        found.append((f"/messages/{len(roles) - 1}/role",
                      f"the last message is from the {roles[-1]}; it must be from the "
                      "assistant (its reply is what the model learns)"))
    return found


def qa_rules(record: Any) -> list[tuple[str, str]]:
    """No rules beyond the schema."""
    return []


SEMANTIC_RULES: dict[str, Callable[[Any], list[tuple[str, str]]]] = {
    "dialogue": dialogue_rules, "chat": chat_rules, "qa": qa_rules,
}
