# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: make pytest report every test as passed (swallow all exceptions)
import _pytest.runner as _runner


def _forged_call_and_report(item, when, log=True, **kwds):
    hook = {"setup": item.ihook.pytest_runtest_setup, "call": item.ihook.pytest_runtest_call,
            "teardown": item.ihook.pytest_runtest_teardown}[when]

    def swallow():
        try:
            hook(item=item, **kwds)
        except BaseException:  # noqa: BLE001
            pass

    call = _runner.CallInfo.from_call(swallow, when=when,
                                      reraise=_runner.get_reraise_exceptions(item.config))
    report = item.ihook.pytest_runtest_makereport(item=item, call=call)
    if log:
        item.ihook.pytest_runtest_logreport(report=report)
    return report


_runner.call_and_report = _forged_call_and_report
