"""Student stubs generated from the reference solutions, and the student release.

``reference/`` is the one source. Inside a reference module, what a student
writes is fenced by solution markers::

    def render_history(turns):
        \"\"\"Docstring the student reads (kept in the stub).\"\"\"
        # BEGIN SOLUTION
        # task: join the turns as 'Teacher: ...' / 'Student: ...' lines.
        #   Read: https://dspy.ai/learn/evaluation/data/
        if not turns:
            ...
        # END SOLUTION

In the stub the fenced lines disappear. A leading ``# task:`` comment (and the
``#   `` lines that continue it) becomes ``raise NotImplementedError("TODO:
...")`` at the marker's indentation (the reference itself carries no TODO, so
its own leftover-TODO check stays clean); a ``# stub: <line>`` comment becomes
``<line>`` verbatim (a comment in a class body, an import the student will
need). A fence with neither simply drops its lines (a private helper).
Single lines, where a fence would split an import block: ``import re  #
solution`` is left out of the stub; ``from pathlib import Path  # stub: noqa:
F401`` keeps the line with the comment ``# noqa: F401``. Everything outside the fences (signatures,
docstrings, constants, the command-line ``main``) is copied as is, with
``python -m reference.`` read as ``python -m assignments.``.

The student's own work has no reference body and is never generated from the
reference's answers: ``ANALYSIS.md`` comes from ``grader/analysis_template.md``;
``metrics_extra.py``, ``enhancement.py`` and ``data/README.md`` are the
hand-written starting points kept in ``assignments/`` itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from .settings import REPO_ROOT

REFERENCE = REPO_ROOT / "reference"
ASSIGNMENTS = REPO_ROOT / "assignments"
ANALYSIS_TEMPLATE = REPO_ROOT / "grader" / "analysis_template.md"

# Generated from reference/ (fenced solutions removed).
GENERATED = ("__init__.py", "utils.py", "dspy_example.py", "openai_finetune.py",
             "huggingface_lora.py")
# The student's own work: starting points, never overwritten once written.
STUDENT_OWNED = ("metrics_extra.py", "enhancement.py", "data/README.md")

BEGIN, END, STUB, TASK = "# BEGIN SOLUTION", "# END SOLUTION", "# stub:", "# task:"
# Markers at the end of one line (imports, where a fence would split the block):
SOLUTION_LINE, INLINE_STUB = "  # solution", "  # stub: "
LINE_LENGTH = 100
_NAMED_FIELD = re.compile(r"\{[A-Z_][A-Z0-9_]*\}")

# What a student release leaves out: solutions, the kit's own tests, their CI and
# benchmarks, and what only instructors read.
RELEASE_EXCLUDES = ("reference", "tests", "bench", ".ci", "docs/INSTRUCTORS.md",
                    "grader/reference_scores.json")


class MarkerError(ValueError):
    """A solution fence is malformed; the message reads ``file:line: what is wrong``."""


def _literal(text: str) -> str:
    """A string literal for ``text``: an f-string only where it names a constant, ``{NAME}``."""
    prefix = "f" if _NAMED_FIELD.search(text) else ""
    return prefix + '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raise_todo(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError("TODO: ...")``, wrapped to the line length.

    The ``Read: <link>`` that ends a TODO gets a line of its own.
    """
    one_line = f"{indent}raise NotImplementedError({_literal(message)})"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    task, _, link = message.partition(" Read: ")
    width = LINE_LENGTH - len(indent) - 4 - 4  # quotes, trailing space, ")"
    chunks = textwrap.wrap(task, width, break_long_words=False, break_on_hyphens=False)
    if link:
        chunks.append(f"Read: {link}")
    parts = [f"{chunk} " for chunk in chunks[:-1]] + [chunks[-1]]
    body = [f"{indent}    {_literal(part)}" for part in parts]
    body[-1] += ")"
    return [f"{indent}raise NotImplementedError(", *body]


def _fence(path: Path, start: int, indent: str, body: list[str]) -> list[str]:
    """The stub lines that stand for one fenced solution."""
    out: list[str] = []
    todo: list[str] = []
    for offset, line in enumerate(body):
        text = line.strip()
        if text.startswith(TASK) and not todo and not out:
            todo.append("TODO: " + text[len(TASK):].strip())
        elif todo and text.startswith("#   "):
            todo.append(text[1:].strip())
        elif text.startswith(STUB):
            if not line.startswith(indent):
                raise MarkerError(f"{path}:{start + offset}: '# stub:' is indented less than "
                                  f"its '# BEGIN SOLUTION'")
            out.append(line.replace("# stub: ", "", 1).replace(STUB, "", 1).rstrip())
    if todo:
        out = _raise_todo(indent, " ".join(todo)) + out
    return out


def strip_solutions(source: str, path: Path | str = "<reference>") -> str:
    """The stub of one reference module's text (see the module docstring)."""
    path = Path(path)
    out: list[str] = []
    fence: list[str] | None = None
    start, indent = 0, ""
    for number, line in enumerate(source.splitlines(), start=1):
        text = line.strip()
        if text == BEGIN:
            if fence is not None:
                raise MarkerError(f"{path}:{number}: '{BEGIN}' inside another (opened at line "
                                  f"{start})")
            fence, start, indent = [], number, line[: len(line) - len(line.lstrip())]
        elif text == END:
            if fence is None:
                raise MarkerError(f"{path}:{number}: '{END}' without a '{BEGIN}'")
            out += _fence(path, start + 1, indent, fence)
            fence = None
        elif fence is not None:
            fence.append(line)
        elif line.endswith(SOLUTION_LINE):
            continue  # a line only the solution needs (an import)
        else:
            code, _, stub_comment = line.partition(INLINE_STUB)
            if stub_comment:  # the stub's own trailing comment
                line = f"{code}  # {stub_comment}"
            out.append(line.replace("python -m reference.", "python -m assignments."))
    if fence is not None:
        raise MarkerError(f"{path}:{start}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out) + "\n"


def expected_files(reference: Path = REFERENCE) -> dict[str, str]:
    """Every generated file of ``assignments/``: relative path -> text."""
    files = {name: strip_solutions((reference / name).read_text(encoding="utf-8"),
                                   reference / name) for name in GENERATED}
    files["ANALYSIS.md"] = ANALYSIS_TEMPLATE.read_text(encoding="utf-8")
    return files


def write_assignments(out: Path = ASSIGNMENTS, reference: Path = REFERENCE) -> list[str]:
    """Write the stubs into ``out``; return the relative paths that changed.

    Student-owned files are written only where missing (from the kit's own
    ``assignments/``), so a student's work is never overwritten.
    """
    changed = []
    out.mkdir(parents=True, exist_ok=True)
    for name, text in expected_files(reference).items():
        target = out / name
        if name == "ANALYSIS.md" and target.exists():
            continue  # the student's analysis once written
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    for name in STUDENT_OWNED:
        target, source = out / name, ASSIGNMENTS / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            changed.append(name)
    return changed


def drift(assignments: Path = ASSIGNMENTS, reference: Path = REFERENCE) -> list[str]:
    """The generated files of ``assignments`` that differ from what ``assign`` writes."""
    stale = []
    for name, text in expected_files(reference).items():
        target = assignments / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def _tracked_files(root: Path) -> list[str]:
    """The repository's files as git sees them (tracked and untracked-not-ignored)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root, capture_output=True, check=True).stdout.decode()
        return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})
    except (OSError, subprocess.CalledProcessError):  # not a checkout: every file but caches
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
                ".benchmarks"}
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if p.is_file() and not skip & set(p.relative_to(root).parts)
                      and p.suffix != ".pyc")


def _excluded(name: str) -> bool:
    return any(name == item or name.startswith(item + "/") for item in RELEASE_EXCLUDES) \
        or name.endswith(".egg-info") or ".egg-info/" in name


def release_files(root: Path = REPO_ROOT) -> list[str]:
    """The files of ``root`` that a student release holds, as relative paths.

    Every file git lists (tracked, or untracked and not ignored) but the
    solutions, the kit's tests, benchmarks and instructor-only files
    (:data:`RELEASE_EXCLUDES`). The one rule for what students get: the
    Classroom template (:func:`build_release`) and the Gradescope autograder
    (``grader gradescope``) are both made from it.
    """
    return [name for name in _tracked_files(root) if not _excluded(name)]


def build_release(out: Path, root: Path = REPO_ROOT) -> list[str]:
    """Write the student release into ``out`` (which must not exist); return its files.

    It holds :func:`release_files`, with an ``assignments/`` freshly generated
    from ``reference/`` in place of the one in ``root``: what instructors
    publish as the Classroom template.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; give a new folder")
    files = [name for name in release_files(root) if not name.startswith("assignments/")]
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, out / name)
    write_assignments(out / "assignments", root / "reference")
    return sorted(files + [f"assignments/{p.relative_to(out / 'assignments')}"
                           for p in (out / "assignments").rglob("*") if p.is_file()])
