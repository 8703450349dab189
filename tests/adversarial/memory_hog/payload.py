# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: allocate memory without bound
_HOG = []
while True:
    _HOG.append(bytearray(1 << 31))  # 2 GiB at a time
