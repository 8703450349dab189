"""The instructor commands of ``python -m grader``, one module each."""
