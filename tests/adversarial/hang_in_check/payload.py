# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: a check that never returns
def read_jsonl(path, schema=None):
    while True:
        pass
