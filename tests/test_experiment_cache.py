"""The experiment cache (grader/experiment_cache.py): same grade, per-approach invalidation,
and no effect on a grading that counts."""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import pytest
from gradelib import ROOT, grade, make_impl, points, same_grade

from grader import analysis_doc, experiment_cache
from grader.experiment_cache import ExperimentCache, NotPlainData, decode, encode
from grader.experiments import EXPERIMENTS
from grader.plugin import SEED
from grader.runner import grade_in_subprocess, pytest_command
from grader.seam import Impl

pytestmark = pytest.mark.timeout(900)  # whole gradings, on a machine that may be busy

# ---------------------------------------------------------------- plain data
@pytest.mark.parametrize("value", [
    {"eval_loss": 2.0794415416798357, "steps": 5, "ok": True, "name": "x", "none": None},
    {"by_id": {139813701705232: 3584}, "pair": (1, 2.5), "nested": [[1], {"a": ()}]},
    {"$tuple": "a key that looks like a tag", "inf": math.inf, "neg": -math.inf},
])
def test_plain_data_comes_back_identical(value):
    back = decode(json.loads(json.dumps(encode(value), allow_nan=False)))
    assert experiment_cache._same(back, value)


def test_nan_comes_back_as_nan():
    back = decode(json.loads(json.dumps(encode({"loss": math.nan}), allow_nan=False)))
    assert math.isnan(back["loss"])


@pytest.mark.parametrize("value", [{"x": object()}, {"x": {1, 2}}, {"x": b"bytes"}])
def test_other_values_are_refused(value):
    with pytest.raises(NotPlainData):
        encode(value)


def test_same_tells_types_apart():
    assert not experiment_cache._same({"a": 1}, {"a": 1.0})
    assert not experiment_cache._same({"a": True}, {"a": 1})
    assert not experiment_cache._same([1, 2], (1, 2))


def test_an_unstorable_run_is_not_kept(tmp_path):
    cache = ExperimentCache(Impl("reference"), directory=tmp_path)
    with experiment_cache.recording(cache.roots) as reads:
        pass
    assert not cache.store("lora", "k", {"figure": object()}, {}, 1.0, reads)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- what each experiment depends on
def test_each_experiment_depends_on_the_modules_it_imports():
    impl = Impl("reference")
    assert set(experiment_cache.module_sources(impl, "huggingface_lora")) == {
        "__init__", "huggingface_lora", "utils"}
    assert set(experiment_cache.module_sources(impl, "dspy_example")) == {
        "__init__", "dspy_example", "utils"}
    assert {"enhancement", "huggingface_lora", "utils"} <= set(
        experiment_cache.module_sources(impl, "enhancement"))


def test_counted_gradings_run_fresh():
    """grader score, Gradescope's run_autograder and regenerate start this command line;
    grader batch's sandboxed child its own, with the same flag."""
    assert "--no-cache" in pytest_command("reference", ROOT / "x.json")
    supervisor = (ROOT / "grader" / "sandbox" / "supervisor.py").read_text(encoding="utf-8")
    assert '"--impl=assignments", "--no-cache"' in supervisor


# ---------------------------------------------------------------- whole gradings
def _cache_env(folder) -> dict:
    return {"GRADER_NO_CACHE": None, "GRADER_CACHE_DIR": str(folder)}


@pytest.fixture(scope="module")
def cached_gradings(tmp_path_factory):
    """A copy of the reference graded three times with the cache on: first (every
    experiment runs and is kept), again unchanged, and after editing huggingface_lora.py."""
    impl = make_impl(tmp_path_factory.mktemp("cached"))
    shutil.copyfile(ROOT / "reference" / "ANALYSIS.md", impl / "ANALYSIS.md")
    env = _cache_env(tmp_path_factory.mktemp("cache"))
    first = grade(impl, env=env)
    again = grade(impl, env=env)
    lora = impl / "huggingface_lora.py"
    lora.write_text(lora.read_text(encoding="utf-8") + "\n# one more line\n", encoding="utf-8")
    edited = grade(impl, env=env)
    return first, again, edited


def test_the_cache_gives_the_same_grade_bit_for_bit(cached_gradings):
    first, again, _ = cached_gradings
    assert "from cache" not in first["_stdout"]
    for title in ("LoRA experiment", "DSPy experiment", "enhancement"):
        assert f"{title}: from cache, " in again["_stdout"]
    same, differences = same_grade(again, first)
    assert same, differences
    assert first["totals"]["automatic"]["earned"] == first["totals"]["automatic"]["max"]


def test_editing_one_approach_reruns_only_what_imports_it(cached_gradings):
    first, _, edited = cached_gradings
    assert "DSPy experiment: from cache, " in edited["_stdout"]
    assert "LoRA experiment: from cache" not in edited["_stdout"]
    assert "enhancement: from cache" not in edited["_stdout"]  # it imports huggingface_lora
    same, differences = same_grade(edited, first)
    assert same, differences


def _forge(impl_dir, cache_folder) -> None:
    """Entries claiming the reference's figures for the stubs, under the key the stubs have."""
    impl = Impl(str(impl_dir))
    cache = ExperimentCache(impl, directory=cache_folder / "experiments", seed=SEED)
    figures = analysis_doc.read_figures(Impl("reference"))
    for name in ("lora", "dspy"):
        experiment = EXPERIMENTS[name]
        key = cache.key(name, experiment.module, experiment.arguments)
        entry = {"format": experiment_cache.FORMAT, "experiment": name, "key": key,
                 "created": time.time(), "seconds": 1.0, "value": encode(figures[name]),
                 "observed": {}, "files": {}, "folders": {}}
        path = cache._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry), encoding="utf-8")


FIGURE_CHECKS = ("test_lora_parameter_figures_match_code", "test_dspy_metric_figures_match_code")


def test_a_forged_entry_earns_nothing_that_counts(tmp_path):
    impl = make_impl(tmp_path, base="assignments")
    shutil.copyfile(ROOT / "reference" / "ANALYSIS.md", impl / "ANALYSIS.md")
    folder = tmp_path / "cache"
    _forge(impl, folder)
    env = _cache_env(folder)
    # The student's own run reads it: the forgery fools no one but its author...
    own = points(grade(impl, "test_analysis.py", env=env))
    assert all(own[name] > 0 for name in FIGURE_CHECKS), own
    # ...for a grading that counts runs the stubs' experiments, which are not implemented.
    environ = {**os.environ, "GRADER_CACHE_DIR": str(folder)}
    environ.pop("GRADER_NO_CACHE", None)
    counted, _ = grade_in_subprocess(str(impl), tmp_path / "counted.json", env=environ,
                                     timeout=300, checks="grader/checks/test_analysis.py")
    earned = {c.name: c.points for c in counted.checks}
    assert all(earned[name] == 0 for name in FIGURE_CHECKS), earned
    # And a changed module no longer matches the key.
    lora = impl / "huggingface_lora.py"
    lora.write_text(lora.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    changed = points(grade(impl, "test_analysis.py", env=env))
    assert changed["test_lora_parameter_figures_match_code"] == 0
    assert changed["test_dspy_metric_figures_match_code"] > 0  # dspy_example.py is unchanged


def test_clear_cache_empties_it(tmp_path):
    folder = tmp_path / "cache"
    (folder / "experiments").mkdir(parents=True)
    (folder / "experiments" / "x-lora.json").write_text("{}", encoding="utf-8")
    impl = make_impl(tmp_path, base="assignments")
    grade(impl, "test_openai.py", extra=("--clear-cache",), env=_cache_env(folder))
    assert not list((folder / "experiments").iterdir())
