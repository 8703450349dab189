"""The kit's own tests. ``adversarial/`` holds hostile submissions used as data, not tests."""

import os

import pytest
from adversarial.fakekit import build_fake_repo

# The gradings these tests start run every experiment fresh and leave no cache in the kit;
# tests/test_experiment_cache.py turns the cache on, in a folder of its own.
os.environ["GRADER_NO_CACHE"] = "1"

collect_ignore = ["adversarial"]


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The fake kit of adversarial/fakekit.py, built once for each test module that uses it."""
    return build_fake_repo(tmp_path_factory.mktemp("fake"))
