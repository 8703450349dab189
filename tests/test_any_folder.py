"""An implementation graded from any folder finds the kit's data/ and fixtures/.

A copy of reference/ in a temporary folder (no data/ or fixtures/ beside it)
is graded with both spellings of ``--impl``; the checks that read datasets and
the tiny model earn everything, as they do in place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The checks that read data/ (OpenAI datasets) and fixtures/ (the tiny model).
SELECTED = ["grader/checks/test_openai.py", "grader/checks/test_lora.py"]


@pytest.fixture(scope="module")
def reference_copy(tmp_path_factory):
    copy = tmp_path_factory.mktemp("elsewhere") / "my_solutions"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert not (copy.parent / "data").exists() and not (copy.parent / "fixtures").exists()
    return copy


@pytest.mark.timeout(900)
@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_reference_copy_elsewhere_earns_every_point(reference_copy, tmp_path, spelling):
    impl = (["--impl", str(reference_copy)] if spelling == "space"
            else [f"--impl={reference_copy}"])
    out = tmp_path / "grade.json"
    env = {k: v for k, v in os.environ.items() if k != "LLM_KIT_ROOT"}
    proc = subprocess.run([sys.executable, "-m", "pytest", *SELECTED, "-q", "-p", "no:randomly",
                           *impl, f"--grade-json={out}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=880)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["impl"] == str(reference_copy)
    lost = [(c["name"], c["message"]) for c in result["checks"]
            if c["points"] < c["max_points"] and not c["review"]]
    assert not lost
    assert result["totals"]["automatic"]["earned"] == result["totals"]["automatic"]["max"] > 0


def test_utils_finds_the_kit_through_the_environment(reference_copy, tmp_path):
    code = "import utils; print(utils.DATA_DIR)"
    env = {**os.environ, "LLM_KIT_ROOT": str(ROOT)}
    shown = subprocess.run([sys.executable, "-c", code], cwd=reference_copy, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == str(ROOT / "data")
    env.pop("LLM_KIT_ROOT")
    shown = subprocess.run([sys.executable, "-c", code], cwd=reference_copy, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == str(reference_copy.parent / "data")  # on its own: the folder above


def test_the_provided_utils_is_the_same_file_in_both_folders():
    assert (ROOT / "reference" / "utils.py").read_bytes() == \
        (ROOT / "assignments" / "utils.py").read_bytes()


def test_plugin_is_a_pytest11_entry_point_named_after_its_module():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    # Same name as the module, so conftest.py's pytest_plugins does not register it twice.
    assert names.get("grader.plugin") == "grader.plugin"
