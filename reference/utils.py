"""Helpers shared by the three approaches: finding and reading the kit's datasets.

Every dataset is JSON Lines: one JSON object per line. ``read_jsonl`` reads a
file and, when asked, checks every record against the dataset's JSON Schema,
so a mistake is reported as ``file:line: where: what is wrong`` instead of a
traceback deep inside training code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# The kit's folder, holding data/ and fixtures/. The grader sets LLM_KIT_ROOT so
# that code graded from any folder reads the kit's files; on its own, this file
# looks in the folder above its own.
KIT_ROOT_VARIABLE = "LLM_KIT_ROOT"
REPO_ROOT = Path(os.environ.get(KIT_ROOT_VARIABLE) or Path(__file__).resolve().parent.parent)
DATA_DIR = REPO_ROOT / "data"

DIALOGUES_FILE = DATA_DIR / "teacher_student_dialogues.jsonl"
OPENAI_TRAIN_FILE = DATA_DIR / "openai_teacher_dialogue_training.jsonl"
OPENAI_VALID_FILE = DATA_DIR / "openai_teacher_dialogue_validation.jsonl"
QA_FILE = DATA_DIR / "small_edu_qa.jsonl"
EDU_CHAT_FILE = DATA_DIR / "openai_edu_qa_training.jsonl"


class DataError(ValueError):
    """A dataset file could not be read; the message lists located problems."""


def read_jsonl(path: str | Path, schema: str | None = None) -> list[dict]:
    """Read a JSON Lines file into a list of dicts.

    With ``schema`` (``"dialogue"``, ``"chat"`` or ``"qa"``) every record is
    validated first, and any problem raises :class:`DataError` whose message
    has one ``path:line: pointer: message`` line per problem.
    """
    path = Path(path)
    if schema is not None:
        from grader.validate import validate_file

        report = validate_file(path, schema=schema)
        if report.problems:
            raise DataError("\n".join(str(p) for p in report.problems))
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return records


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Write records as JSON Lines (UTF-8, one object per line); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def load_dialogues(path: str | Path = DIALOGUES_FILE) -> list[list[dict]]:
    """Load multi-turn dialogues: each is a list of ``{"role", "content"}`` turns."""
    return [record["dialogue"] for record in read_jsonl(path, schema="dialogue")]


def teacher_student_pairs(dialogue: list[dict]) -> list[tuple[str, str]]:
    """Every (student turn, the teacher's reply to it) pair of one dialogue, in order."""
    pairs = []
    for before, after in zip(dialogue, dialogue[1:], strict=False):
        if before["role"] == "student" and after["role"] == "teacher":
            pairs.append((before["content"], after["content"]))
    return pairs
