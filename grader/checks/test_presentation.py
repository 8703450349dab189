"""Presentation: clean code (ruff, the rule set in pyproject.toml), nothing left half-done,
and a well-formed ANALYSIS.md.

Credit is given per module *you have implemented*: an untouched stub is clean
but earns nothing here, because there is nothing of yours to present yet.
"""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import tokenize

import pytest

from grader import analysis_doc as fig
from grader.seam import REPO_ROOT

MODULES = ("dspy_example", "openai_finetune", "huggingface_lora", "metrics_extra", "enhancement")
KIT_FILES = {"__init__.py", "utils.py"}  # given by the kit, not graded as yours
LEFTOVER = re.compile(r"\b(TODO|FIXME|XXX)\b")


def _raises_not_implemented(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _is_stub(function: ast.AST) -> bool:
    """A function still to be written: its body raises NotImplementedError unconditionally."""
    return any(_raises_not_implemented(statement) for statement in function.body)


def functions(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function and method defined in a module's source."""
    tree = ast.parse(source)
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def implemented(source: str) -> bool:
    """True when no function of the module is still a NotImplementedError stub."""
    found = functions(source)
    return bool(found) and not any(_is_stub(f) for f in found)


def notes(source: str) -> list[tokenize.TokenInfo]:
    """The comments and strings of a module that mention TODO, FIXME or XXX."""
    return [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type in (tokenize.COMMENT, tokenize.STRING) and LEFTOVER.search(token.string)]


def leftovers(function: ast.AST, module_notes: list[tokenize.TokenInfo]) -> list[str]:
    """TODO/FIXME comments or a NotImplementedError left inside an implemented function.

    ``module_notes``: :func:`notes` of the function's module (tokenized once per module).
    """
    found = []
    for node in ast.walk(function):
        if _raises_not_implemented(node):
            found.append(f"line {node.lineno}: raise NotImplementedError")
    start, end = function.lineno, getattr(function, "end_lineno", function.lineno)
    for token in module_notes:
        if start <= token.start[0] <= end:
            found.append(f"line {token.start[0]}: {token.string.strip()[:60]}")
    return found


def ruff(paths) -> dict[str, list[str]]:
    """ruff's findings per file name, with the kit's pyproject.toml rule set."""
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
         str(REPO_ROOT / "pyproject.toml"), "--output-format", "json", *map(str, paths)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode not in (0, 1):
        raise AssertionError(f"ruff could not run: {proc.stderr.strip()[:300]}")
    findings: dict[str, list[str]] = {}
    for item in json.loads(proc.stdout or "[]"):
        name = item["filename"].rsplit("/", 1)[-1]
        row = item.get("location", {}).get("row", "?")
        findings.setdefault(name, []).append(f"{name}:{row}: {item['code']} {item['message']}")
    return findings


def _source(path, problems):
    """A module's text, or None with the reason added to ``problems`` (missing, does not parse)."""
    if not path.is_file():
        problems.append(f"{path.name} is missing")
        return None
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        problems.append(f"{path.name} does not parse: {exc.msg}")
        return None
    return source


@pytest.mark.timeout(120)
@pytest.mark.rubric("presentation", None, points=4)
def test_ruff_clean(impl, credit):
    """Your modules must pass `ruff check --config pyproject.toml assignments/` (style, imports,
    docstrings on public functions). Each module you have implemented counts once it is clean.
    Run: ruff check assignments/ --fix"""
    files = sorted(p for p in impl.root.glob("*.py") if p.name not in KIT_FILES)
    assert files, f"no Python module in {impl.display_root}"
    findings = ruff(files)
    earned, problems = 0, []
    for name in MODULES:
        path = impl.path(f"{name}.py")
        source = _source(path, problems)
        if source is None:
            continue
        done = implemented(source)
        if not done:
            problems.append(f"{name}.py is not implemented yet")
        elif findings.get(path.name):
            problems += findings[path.name][:3]
        else:
            earned += 1
    extra = [p.name for p in files if p.stem not in MODULES and findings.get(p.name)]
    for name in extra:
        problems += findings[name][:3]
    earned = max(0, earned - len(extra))
    assert earned, "no implemented module is ruff-clean yet:\n" + "\n".join(problems[:10])
    credit(earned / len(MODULES), f"{earned} of {len(MODULES)} modules implemented and clean"
           + ("; " + "; ".join(problems[:6]) if problems else ""))


@pytest.mark.rubric("presentation", None, points=2)
def test_no_leftover_todo(impl, credit):
    """Once a module works, remove what the stub left behind: TODO text, a stray
    `raise NotImplementedError`, FIXME/XXX notes. Each module counts once all its functions
    are written (a module with a function still to write has nothing finished to present)."""
    shares, problems = [], []
    for name in MODULES:
        source = _source(impl.path(f"{name}.py"), problems)
        if source is None:
            continue
        found = functions(source)
        todo = [f.name for f in found if _is_stub(f)]
        if not found or todo:
            problems.append(f"{name}.py: still to write: {', '.join(todo[:4]) or 'everything'}")
            continue
        module_notes = notes(source)
        left = [(f.name, leftovers(f, module_notes)) for f in found]
        dirty = [f"{name}.{function}: {items[0]}" for function, items in left if items]
        problems += dirty[:3]
        shares.append(1 - len(dirty) / len(found))
    earned = sum(shares)
    assert earned, "no finished module without leftovers yet:\n" + "\n".join(problems[:10])
    credit(earned / len(MODULES), f"{len(shares)} of {len(MODULES)} modules finished"
           + ("; " + "; ".join(problems[:6]) if problems else ""))


def _local_links(text: str) -> list[str]:
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)", text)
    return [t for t in targets if not re.match(r"^[a-z]+:|^#", t)]


@pytest.mark.rubric("presentation", None, points=4)
def test_analysis_well_formed(impl, credit):
    """ANALYSIS.md must be a finished document: every template heading kept, no
    "_Replace this line..._" or "?" left, a well-formed comparison table, a figures block that
    parses, and every linked file (a chart, say) present."""
    doc = fig.read_document(impl)
    required = [(s, t) for s, topics in fig.REQUIRED_TOPICS.items() for t in topics]
    answers = [(s, t) for s, t in required if t != "table"]
    answered = sum(len(fig.words(doc.answer(s, t))) >= fig.MIN_WORDS for s, t in answers)
    assert answered, "ANALYSIS.md is still the template: nothing answered yet"
    criteria = {}
    missing = [f"{s} / {t}" for s, t in required if doc.body(s, t) is None]
    criteria["headings"] = (not missing, f"headings missing: {', '.join(missing)}")
    left = doc.text.count(fig.PLACEHOLDER)
    tables = fig.markdown_tables(doc.text)
    question_marks = sum(cell.strip() == fig.TABLE_PLACEHOLDER
                         for table in tables for row in table for cell in row)
    criteria["placeholders"] = (left == 0 and question_marks == 0,
                                f"{left} answer placeholders and {question_marks} '?' cells left")
    ragged = [t for t in tables if len({len(row) for row in t}) != 1]
    criteria["table"] = (bool(tables) and not ragged,
                         "no Markdown table" if not tables else
                         f"{len(ragged)} table(s) with rows of different lengths")
    try:
        figures = fig.parse_figures(doc.text)
        parsed, why = not fig.missing_figures(figures), "the figures block has null values"
    except fig.FiguresError as exc:
        parsed, why = False, str(exc)
    criteria["figures"] = (parsed, why)
    broken = [t for t in _local_links(doc.text) if not (impl.root / t.split("#")[0]).exists()]
    criteria["links"] = (not broken, f"linked files missing: {', '.join(broken)}")
    met = sum(ok for ok, _ in criteria.values())
    share = answered / len(answers)
    problems = [why for ok, why in criteria.values() if not ok]
    credit(share * met / len(criteria), f"{answered} of {len(answers)} answers written; "
           f"{met} of {len(criteria)} form criteria met"
           + ("; " + "; ".join(problems) if problems else ""))
