# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: exit the grading process while being imported
import sys

sys.exit(0)
