# ruff: noqa
"""ADVERSARIAL: an edited root conftest that forces every test to pass."""

import pytest

pytest_plugins = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    call.excinfo = None
    report = yield
    report.outcome = "passed"
    return report
