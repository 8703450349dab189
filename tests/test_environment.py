"""The grade does not depend on the student's shell: API keys, tokens, base URLs.

The reference is graded twice, once with no key variables at all and once with
made-up ones a student might have set, and must earn the same points. Its
DSPy module is the variant a student writes from the docstring ("pass
api_base/api_key when given"), with no placeholder key of its own: replay must
work without any key in the environment.
"""

from __future__ import annotations

import pytest

from tests.gradelib import ROOT, grade, mutate, points

pytestmark = pytest.mark.timeout(1800)

VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID",
             "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ANTHROPIC_API_KEY")
CLEAN = dict.fromkeys(VARIABLES)
STUDENT_SHELL = {
    "OPENAI_API_KEY": "student-shell-placeholder", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "OPENAI_API_BASE": "http://127.0.0.1:9/v1", "OPENAI_ORG_ID": "org-student",
    "HF_TOKEN": "hf_student_not_real", "HUGGING_FACE_HUB_TOKEN": "hf_student_not_real",
    "ANTHROPIC_API_KEY": "student-shell-placeholder",
}
NO_PLACEHOLDER = [('    elif not live:\n'
                   '        options["api_key"] = "offline-replay-placeholder"', "")]


def test_same_points_with_and_without_keys_in_the_shell(tmp_path):
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    impl = mutate(tmp_path, "dspy_example", NO_PLACEHOLDER)
    files = ("test_dspy.py", "test_openai.py", "test_lora.py")
    bare = grade(impl, *files, env=CLEAN)
    shell = grade(impl, *files, env=STUDENT_SHELL)
    assert points(bare) == points(shell), (bare["_stdout"][-2000:], shell["_stdout"][-2000:])
    assert sum(points(bare).values()) == 40, bare["_stdout"][-3000:]


def test_replay_sets_a_placeholder_key_and_restores_the_shell(monkeypatch):
    import os

    from grader.replay_dspy import placeholder_key
    from grader.settings import PLACEHOLDER_API_KEY

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with placeholder_key():
        assert os.environ["OPENAI_API_KEY"] == PLACEHOLDER_API_KEY
    assert "OPENAI_API_KEY" not in os.environ
    monkeypatch.setenv("OPENAI_API_KEY", "real-looking-placeholder")
    with placeholder_key():  # a real key never goes into a replayed request
        assert os.environ["OPENAI_API_KEY"] == PLACEHOLDER_API_KEY
    assert os.environ["OPENAI_API_KEY"] == "real-looking-placeholder"
