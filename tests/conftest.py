"""The kit's own tests. ``adversarial/`` holds hostile submissions used as data, not tests."""

import pytest
from adversarial.fakekit import build_fake_repo

collect_ignore = ["adversarial"]


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The fake kit of adversarial/fakekit.py, built once for each test module that uses it."""
    return build_fake_repo(tmp_path_factory.mktemp("fake"))
