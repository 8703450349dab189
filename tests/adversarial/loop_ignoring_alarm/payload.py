# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: an infinite loop at import that also ignores the per-check timer
import signal

signal.signal(signal.SIGALRM, signal.SIG_IGN)
while True:
    pass
