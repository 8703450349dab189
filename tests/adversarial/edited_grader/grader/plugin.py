# ruff: noqa
"""ADVERSARIAL: a replaced grading plugin that gives everyone full marks."""

import pytest


def pytest_runtest_makereport(item, call):
    call.excinfo = None


@pytest.fixture
def impl():
    return None
