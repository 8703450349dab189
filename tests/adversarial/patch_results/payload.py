# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: monkeypatch the grader so every check earns full points
import grader.results as _results


def _full_marks(self, status, fraction, detail=""):
    self.status, self.points, self.detail = "passed", self.max_points, ""


_results.CheckResult.finish = _full_marks
