"""grader.validate on files, and the ``python -m grader validate`` command.

Bad input of every kind becomes one located problem and the run goes on;
arbitrary bytes and arbitrary JSON never crash the validator (hypothesis).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.__main__ import main
from grader.validate import (
    MAX_LINE_BYTES,
    SCHEMA_NAMES,
    FileReport,
    Problem,
    schema_for_path,
    validate_file,
)

ROOT = Path(__file__).resolve().parent.parent
CHAT = {"messages": [{"role": "user", "content": "Why is the sky blue?"},
                     {"role": "assistant", "content": "What happens to sunlight in air?"}]}
QA = {"instruction": "Name a prime number.", "output": "7"}
DIALOGUE = {"dialogue": [{"role": r, "content": "something"}
                         for r in ("teacher", "student", "teacher", "student")]}
LINE = re.compile(r"^(?P<path>.+?):(?P<line>[1-9]\d*): (?P<pointer>/\S*): (?P<message>.+)$")


def write(path: Path, *lines: str | bytes, end: bytes = b"\n") -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + end for line in lines)
    path.write_bytes(data)
    return path


def dumps(record) -> str:
    return json.dumps(record, ensure_ascii=False)


def messages(report: FileReport) -> list[tuple[int, str, str]]:
    return [(p.line, p.pointer, p.message) for p in report.problems]


# ---------------------------------------------------------------- reports and problems
def test_problem_prints_path_line_pointer_message():
    problem = Problem("data/x.jsonl", 17, "/messages/2/role",
                      "'tool' is not one of ['system', 'user', 'assistant']")
    assert str(problem) == ("data/x.jsonl:17: /messages/2/role: "
                            "'tool' is not one of ['system', 'user', 'assistant']")
    assert str(Problem("data/x.jsonl", 0, "", "no such file")) == "data/x.jsonl: no such file"


def test_valid_file_reports_counts(tmp_path):
    report = validate_file(write(tmp_path / "x_chat.jsonl", dumps(CHAT), dumps(CHAT)))
    assert (report.schema, report.records, report.valid, report.problems) == ("chat", 2, 2, [])
    assert report.ok and report.truncated == 0 and report.error is None


def test_a_line_read_again_is_not_checked_again(tmp_path, monkeypatch):
    """Problems are remembered by the line's text: the kit reads its datasets many times a run.
    A line that changed is checked afresh, and its problems still name their own file and line."""
    from grader import validate

    record = {"messages": [{"role": "user", "content": "A remembered line?"},
                           {"role": "assistant", "content": "Yes."}]}
    bad = {"messages": [{"role": "user", "content": "A remembered bad line?"},
                        {"role": "tool", "content": "x"}]}
    first = validate_file(write(tmp_path / "a_chat.jsonl", dumps(record), dumps(bad)))
    checked = []
    checker = validate._checker("chat")
    monkeypatch.setattr(checker, "problems", lambda rec: checked.append(rec) or [])
    again = validate_file(write(tmp_path / "b_chat.jsonl", dumps(bad), dumps(record)))
    assert checked == []  # both lines were answered from memory
    assert {p.path for p in again.problems} == {str(tmp_path / "b_chat.jsonl")}
    assert [(1, pointer, message) for line, pointer, message in messages(first)] \
        == messages(again) != []
    changed = {"messages": [*record["messages"][:1], {"role": "assistant", "content": "No."}]}
    validate_file(write(tmp_path / "c_chat.jsonl", dumps(changed)))
    assert checked == [changed]


def test_located_problem_in_a_file(tmp_path):
    bad = {"messages": [*CHAT["messages"][:1], {"role": "tool", "content": "x"}]}
    path = write(tmp_path / "x_chat.jsonl", dumps(CHAT), dumps(bad), dumps(CHAT))
    report = validate_file(path)
    assert (report.records, report.valid) == (3, 2)
    assert f"{path}:2: /messages/1/role: 'tool' is not one of ['system', 'user', 'assistant']" \
        in [str(p) for p in report.problems]


# ---------------------------------------------------------------- schema inference
@pytest.mark.parametrize(("name", "schema"), [
    ("teacher_student_dialogues.jsonl", "dialogue"),
    ("my_dialogue.jsonl", "dialogue"),
    ("openai_teacher_dialogue_training.jsonl", "chat"),
    ("openai_edu_qa_training.jsonl", "chat"),
    ("student_chat.jsonl", "chat"),
    ("messages-v2.jsonl", "chat"),
    ("small_edu_qa.jsonl", "qa"),
    ("QA.JSONL", "qa"),
    ("aqua.jsonl", None),
    ("records.jsonl", None),
])
def test_schema_inferred_from_file_name(name, schema):
    assert schema_for_path(Path("data") / name) == schema


@pytest.mark.parametrize(("record", "schema"), [(DIALOGUE, "dialogue"), (CHAT, "chat"), (QA, "qa")])
def test_schema_sniffed_from_first_record(tmp_path, record, schema):
    report = validate_file(write(tmp_path / "records.jsonl", "", dumps(record), dumps(record)))
    assert report.schema == schema
    assert (report.records, report.valid) == (2, 2)
    assert messages(report) == [(1, "/", "blank line (every line must hold one JSON object)")]


def test_unknown_schema_is_reported(tmp_path):
    report = validate_file(write(tmp_path / "records.jsonl", '{"question": "?"}'))
    assert report.error.startswith("cannot tell which schema applies")
    assert "--schema dialogue|chat|qa" in report.error
    assert str(report.problems[-1]) == f"{tmp_path / 'records.jsonl'}: {report.error}"


def test_explicit_schema_wins_over_the_file_name(tmp_path):
    report = validate_file(write(tmp_path / "chat.jsonl", dumps(QA)), schema="qa")
    assert report.ok and report.schema == "qa"


def test_unknown_schema_name_raises():
    with pytest.raises(ValueError, match="unknown schema 'yaml'"):
        validate_file("whatever.jsonl", schema="yaml")


# ---------------------------------------------------------------- robustness: one line each
def test_invalid_json_gives_line_and_column(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", dumps(QA), '{"instruction": "x",, }'))
    assert messages(report) == [
        (2, "/", "invalid JSON: Expecting property name enclosed in double quotes at column 21")]
    assert (report.records, report.valid) == (2, 1)


@pytest.mark.parametrize(("line", "message"), [
    ("[1, 2]", "a record must be a JSON object, not an array"),
    ('"text"', "a record must be a JSON object, not a string"),
    ("3.5", "a record must be a JSON object, not a number"),
    ("true", "a record must be a JSON object, not a boolean"),
    ("null", "a record must be a JSON object, not null"),
    ("NaN", "invalid JSON: NaN is not allowed in JSON"),
    ('{"instruction": Infinity}', "invalid JSON: Infinity is not allowed in JSON"),
    ("[" * 100_000, "invalid JSON: nested too deeply"),
    ("9" * 5000, "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion"),
    ('{"a": 1} {"b": 2}', "invalid JSON: Extra data at column 10"),
])
def test_non_object_lines(tmp_path, line, message):
    report = validate_file(write(tmp_path / "qa.jsonl", line, dumps(QA)))
    assert messages(report) == [(1, "/", message)]
    assert (report.records, report.valid) == (2, 1)


def test_unterminated_string(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", '{"instruction": "Explain'))
    assert messages(report) == [(1, "/", "invalid JSON: Unterminated string starting at column 17")]


def test_blank_lines_are_reported(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", dumps(QA), "", "  \t", dumps(QA), ""))
    blank = "blank line (every line must hold one JSON object)"
    assert messages(report) == [(2, "/", blank), (3, "/", blank), (5, "/", blank)]
    assert (report.records, report.valid) == (2, 2)
    assert not report.ok


def test_crlf_line_endings_are_fine(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", dumps(QA), dumps(QA), end=b"\r\n"))
    assert report.ok and report.records == 2


def test_missing_final_newline_is_fine(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(dumps(QA) + "\n" + dumps(QA), encoding="utf-8")
    assert validate_file(path).ok


def test_non_utf8_bytes(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", dumps(QA),
                                 b'{"instruction": "caf' + b"\xe9" + b'", "output": "x"}'))
    assert messages(report) == [(2, "/", "not valid UTF-8: byte 0xe9 at byte 21 of the line")]
    assert (report.records, report.valid) == (2, 1)


def test_utf16_file(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(dumps(QA) + "\n", encoding="utf-16")
    report = validate_file(path)
    assert report.error.startswith("file is UTF-16 (it starts with a UTF-16 byte order mark)")
    assert len(report.problems) == 1


def test_byte_order_mark(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", b"\xef\xbb\xbf" + dumps(QA).encode(),
                                 dumps(QA)))
    assert messages(report) == [(1, "/", "file starts with a UTF-8 byte order mark (BOM); "
                                         "save it as UTF-8 without BOM")]
    assert (report.records, report.valid) == (2, 1)  # the record itself was still checked


def test_non_ascii_text_is_fine(tmp_path):
    record = {"instruction": "Erkläre 光合作用 🌱", "output": "Pflanzen … ½ ≠ 0.5"}
    assert validate_file(write(tmp_path / "qa.jsonl", dumps(record))).ok


def test_empty_file(tmp_path):
    path = write(tmp_path / "qa.jsonl")
    report = validate_file(path)
    assert [str(p) for p in report.problems] == [f"{path}: file is empty (no records)"]
    assert (report.records, report.valid, report.error) == (0, 0, None)


def test_file_of_blank_lines(tmp_path):
    report = validate_file(write(tmp_path / "qa.jsonl", "", ""))
    assert [p.line for p in report.problems] == [1, 2] and report.records == 0


def test_missing_file(tmp_path):
    report = validate_file(tmp_path / "nope.jsonl")
    assert report.error == "no such file"
    assert [str(p) for p in report.problems] == [f"{tmp_path / 'nope.jsonl'}: no such file"]


def test_directory(tmp_path):
    report = validate_file(tmp_path)
    assert report.error == "is a directory, not a JSON Lines file"


def test_impossible_path():
    report = validate_file("bad\0name.jsonl")
    assert report.error == "cannot open: embedded null byte"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path / "qa.jsonl", dumps(QA))
    path.chmod(0)
    assert validate_file(path).error == "permission denied"


def test_fifty_megabyte_line_is_skipped_without_holding_it(tmp_path):
    path = tmp_path / "qa.jsonl"
    size = 50 * 1024 * 1024
    with path.open("wb") as handle:
        handle.write(dumps(QA).encode() + b"\n")
        handle.write(b'{"instruction": "')
        chunk = b"x" * (1024 * 1024)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(b'", "output": "y"}\n')
        handle.write(dumps(QA).encode() + b"\n")
    tracemalloc.start()
    try:
        report = validate_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line_size = size + len('{"instruction": "", "output": "y"}')
    assert messages(report) == [(2, "/", f"line is {line_size:,} bytes, longer than the "
                                         f"{MAX_LINE_BYTES:,}-byte limit; not read")]
    assert (report.records, report.valid) == (3, 2)
    assert peak < 8 * MAX_LINE_BYTES, f"peak memory {peak:,} bytes"


def test_line_just_under_the_limit_is_read(tmp_path):
    padding = MAX_LINE_BYTES - len(dumps({"instruction": "", "output": "y"}).encode())
    record = {"instruction": "x" * padding, "output": "y"}
    assert len(dumps(record).encode()) == MAX_LINE_BYTES
    report = validate_file(write(tmp_path / "qa.jsonl", dumps(record)))
    assert report.ok, report.problems


def test_problems_are_capped_and_counted(tmp_path):
    path = write(tmp_path / "qa.jsonl", *(["{}"] * 30))
    report = validate_file(path, max_problems=5)
    assert len(report.problems) == 5 and report.truncated == 55  # two problems per record
    assert (report.records, report.valid) == (30, 0)


# ---------------------------------------------------------------- property-based robustness
def check_report(report: FileReport, line_count: int) -> None:
    """Either valid, or every problem is located (a line and a pointer, or the whole file)."""
    assert 0 <= report.valid <= report.records <= line_count
    if report.ok:
        assert report.valid == report.records
        return
    assert report.problems
    for problem in report.problems:
        text = str(problem)
        assert "\n" not in text and "Traceback" not in text
        if problem.line == 0:
            assert text == f"{problem.path}: {problem.message}"
        else:
            assert 1 <= problem.line <= line_count
            assert LINE.match(text), text
    assert report.valid < report.records or any(p.line == 0 or p.message.startswith("blank")
                                                for p in report.problems)


@settings(max_examples=120, derandomize=True, deadline=None)
@given(data=st.binary(max_size=300), schema=st.sampled_from([None, *SCHEMA_NAMES]))
def test_arbitrary_bytes_never_crash(data, schema):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        path.write_bytes(data)
        report = validate_file(path, schema=schema)
    check_report(report, max(1, data.count(b"\n") + 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["messages", "dialogue", "role", "content", "instruction",
                                       "output", "input"]) | st.text(max_size=6),
                      inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=120, derandomize=True, deadline=None)
@given(values=st.lists(json_values, min_size=1, max_size=5),
       schema=st.sampled_from([None, *SCHEMA_NAMES]))
def test_arbitrary_json_lines_never_crash(values, schema):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "values.jsonl"
        path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
        report = validate_file(path, schema=schema)
    check_report(report, len(values))
    if report.error is None:
        assert report.records == len(values)


# ---------------------------------------------------------------- the library beside it
def test_read_jsonl_raises_with_the_validators_lines(tmp_path):
    from reference.utils import DataError, read_jsonl

    path = write(tmp_path / "x.jsonl", dumps(CHAT), '{"messages": []}')
    with pytest.raises(DataError) as caught:
        read_jsonl(path, schema="chat")
    first = str(caught.value).splitlines()[0]
    assert first == f"{path}:2: /messages: has 0 items, needs at least 2"
    assert read_jsonl(write(tmp_path / "y.jsonl", dumps(CHAT)), schema="chat") == [CHAT]


# ---------------------------------------------------------------- the command line
def run_cli(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_cli_all_valid_exits_0(tmp_path, capsys):
    a = write(tmp_path / "a_chat.jsonl", dumps(CHAT), dumps(CHAT))
    b = write(tmp_path / "b_qa.jsonl", dumps(QA))
    code, out, _ = run_cli(capsys, str(a), str(b))
    assert code == 0
    assert out == [f"{a}: 2 records, 2 valid", f"{b}: 1 records, 1 valid"]


def test_cli_problems_then_summary_exits_1(tmp_path, capsys):
    bad = write(tmp_path / "bad_chat.jsonl", dumps(CHAT), '{"messages": [}', dumps(CHAT))
    good = write(tmp_path / "good_qa.jsonl", dumps(QA))
    code, out, _ = run_cli(capsys, str(bad), str(good))
    assert code == 1
    assert out == [f"{bad}:2: /: invalid JSON: Expecting value at column 15",
                   f"{bad}: 3 records, 2 valid",
                   f"{good}: 1 records, 1 valid"]


def test_cli_caps_problems_per_file(tmp_path, capsys):
    path = write(tmp_path / "qa.jsonl", *(['{"instruction": ""}'] * 7))
    code, out, _ = run_cli(capsys, str(path), "--max-errors", "3")
    assert code == 1
    assert len(out) == 5 and all(LINE.match(line) for line in out[:3])
    assert out[3:] == ["... and 11 more problems", f"{path}: 7 records, 0 valid"]
    code, out, _ = run_cli(capsys, str(path), "--max-errors", "0")
    assert out == ["... and 14 more problems", f"{path}: 7 records, 0 valid"]


def test_cli_unreadable_files_do_not_stop_the_run(tmp_path, capsys):
    good = write(tmp_path / "qa.jsonl", dumps(QA))
    empty = write(tmp_path / "empty_qa.jsonl")
    code, out, _ = run_cli(capsys, str(tmp_path / "missing.jsonl"), str(tmp_path), str(empty),
                           str(good))
    assert code == 1
    assert out == [f"{tmp_path / 'missing.jsonl'}: ERROR: no such file",
                   f"{tmp_path}: ERROR: is a directory, not a JSON Lines file",
                   f"{empty}: file is empty (no records)",
                   f"{empty}: 0 records, 0 valid",
                   f"{good}: 1 records, 1 valid"]


def test_cli_schema_option(tmp_path, capsys):
    path = write(tmp_path / "records.jsonl", dumps(QA))
    assert run_cli(capsys, str(path), "--schema", "qa")[0] == 0
    code, out, _ = run_cli(capsys, str(path), "--schema", "chat")
    assert code == 1 and out[-1] == f"{path}: 1 records, 0 valid"
    code, out, _ = run_cli(capsys, str(path))
    assert code == 0  # sniffed from the record


@pytest.mark.parametrize("args", [
    [],
    ["x.jsonl", "--schema", "csv"],
    ["x.jsonl", "--max-errors", "-1"],
    ["x.jsonl", "--max-errors", "many"],
    ["x.jsonl", "--bogus"],
])
def test_cli_usage_errors_exit_2(capsys, args):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == []
    assert "usage: grader" in err and "error:" in err


def test_cli_as_a_module_on_the_kit_data():
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "data").glob("*.jsonl"))
    if not files:
        pytest.skip("no datasets in data/ yet")
    command = [sys.executable, "-m", "grader", "validate", *files, "/nonexistent.jsonl"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[-1] == "/nonexistent.jsonl: ERROR: no such file"
    for name, line in zip(files, lines[:-1], strict=True):
        assert re.fullmatch(rf"{re.escape(name)}: (\d+) records, \1 valid", line), line
