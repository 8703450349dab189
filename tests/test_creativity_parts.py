"""The creativity checks' parts: the grader-held ranking set, originality, the reference metric."""

from __future__ import annotations

import contextlib
import json

import dspy
import pytest
import torch

from grader.checks import test_creativity as creativity
from grader.seam import REPO_ROOT, Impl
from reference import metrics_extra


def test_ranking_set_is_twelve_distinct_pairs():
    assert len(creativity.RANKING_SET) == 12
    for history, prompt, gold, good, bad in creativity.RANKING_SET:
        assert history and prompt and gold and good and bad
        assert good != bad and good != gold


def test_reference_metric_ranks_every_pair():
    for example, good, bad in creativity._cases(dspy):
        assert metrics_extra.novel_metric(example, good) > metrics_extra.novel_metric(example, bad)


def test_reference_metric_keeps_the_contract():
    for example, good, bad in creativity._cases(dspy):
        for prediction in (good, bad):
            score = metrics_extra.novel_metric(example, prediction)
            assert isinstance(score, float) and 0.0 <= score <= 1.0
            assert isinstance(metrics_extra.novel_metric(example, prediction, [()]), bool)


def test_stub_metric_and_enhancement_are_not_implemented():
    impl = Impl("assignments")
    with pytest.raises(NotImplementedError, match="TODO"):
        impl.module("metrics_extra").novel_metric(None, None)
    with pytest.raises(NotImplementedError, match="TODO"):
        impl.module("enhancement").run_enhancement()


def _dialogue(*contents):
    roles = ("teacher", "student")
    return {"dialogue": [{"role": roles[i % 2], "content": c} for i, c in enumerate(contents)]}


def test_originality_flags_copies_of_the_kit_data_and_of_each_other():
    with (REPO_ROOT / "data" / "teacher_student_dialogues.jsonl").open() as handle:
        provided = json.loads(handle.readline())
    edited = json.loads(json.dumps(provided))
    edited["dialogue"][0]["content"] = edited["dialogue"][0]["content"].upper() + "!"
    mine = _dialogue("How do bees make honey, do you think?", "From flowers? They eat pollen.",
                     "Close. What do they collect from flowers besides pollen?",
                     "Oh, the sweet juice. Nectar!")
    records = [provided, edited, mine, json.loads(json.dumps(mine))]
    original, problems = creativity.originality(records)
    assert original == 1
    assert [p.split(" (")[0] for p in problems] == [
        "record 1 copies a record of the kit's data/",
        "record 2 copies a record of the kit's data/",
        "record 4 repeats record 3"]


def test_new_data_sorts_valid_records_by_format(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    good = _dialogue("Why is the sea salty?", "Because of fish?",
                     "Hmm, where could salt come from?",
                     "Rocks, maybe, washed down by rivers?")
    bad = {"dialogue": [{"role": "tutor", "content": "Hi"}]}
    (folder / "my_dialogues.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    (folder / "my_qa.jsonl").write_text(json.dumps({"instruction": "Q?", "output": "A."}) + "\n")
    by_format, total, valid, problems = creativity.new_data(Impl(str(tmp_path)))
    assert (total, valid) == (3, 2)
    assert by_format["dialogue"] == [good] and len(by_format["qa"]) == 1
    assert problems and problems[0].startswith(str(folder / "my_dialogues.jsonl") + ":2:")


def test_reference_data_is_valid_and_original():
    by_format, total, valid, _ = creativity.new_data(Impl("reference"))
    assert total == valid
    for records in by_format.values():
        assert len(records) >= creativity.NEEDED
        assert creativity.originality(records) == (len(records), [])



def test_work_done_tells_apart_optimizers_at_one_address(monkeypatch):
    """Each variant's optimizer is freed before the next one is made, and CPython may give the
    new one the old one's address (it did, now and then, in a grading). Here id() says so
    every time: what was trained must still be told apart."""
    monkeypatch.setattr(creativity, "id", lambda obj: 1, raising=False)
    with contextlib.contextmanager(creativity.work_done)() as counts:
        for size in (3, 5):
            weight = torch.nn.Parameter(torch.zeros(size))
            optimizer = torch.optim.SGD([weight], lr=0.1)
            weight.sum().backward()
            optimizer.step()
    assert counts["optimizer_steps"] == 2
    assert counts["trained_params"] == [3, 5]
