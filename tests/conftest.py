"""The kit's own tests. ``adversarial/`` holds hostile submissions used as data, not tests."""

collect_ignore = ["adversarial"]
