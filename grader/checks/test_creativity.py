"""Creativity & Enhancement: your own data, your own metric, your own experiment.

- New data under ``assignments/data/*.jsonl`` (see assignments/data/README.md):
  valid in the kit's formats, at least 10 new dialogues, 10 chat examples and
  10 QA pairs, none an exact or near duplicate of the kit's data or of each
  other (grader/similarity.py: the measure and its threshold).
- A novel metric ``metrics_extra.novel_metric(example, prediction, trace=None)``
  that keeps DSPy's metric contract, is deterministic, and ranks the
  grader-held good replies below (:data:`RANKING_SET`) above the bad ones.
- One enhancement experiment, ``enhancement.run_enhancement()``, documented in
  ANALYSIS.md section 5, whose figures agree with a re-run.
"""

from __future__ import annotations

import functools
import json
import math

import pytest

from grader import analysis_doc as fig
from grader import experiments
from grader.seam import REPO_ROOT
from grader.similarity import (
    NEAR_DUPLICATE_THRESHOLD,
    SAME_QUESTION_THRESHOLD,
    content_words,
    find_near_duplicates,
    record_question,
    record_text,
    same_question,
    shingles,
)
from grader.validate import schema_for_path, schema_for_record, validate_file

NEEDED = 10  # new records of each format
APPROACHES = ("dspy", "openai", "lora")


# ---------------------------------------------------------------- new data
_PROVIDED: list[dict] = []


def provided_records() -> list[dict]:
    """Every record the kit ships in data/*.jsonl."""
    if not _PROVIDED:
        for path in sorted((REPO_ROOT / "data").glob("*.jsonl")):
            with path.open(encoding="utf-8") as handle:
                _PROVIDED.extend(json.loads(line) for line in handle if line.strip())
    return _PROVIDED


def provided_texts() -> list[str]:
    """Texts of every record the kit ships in data/*.jsonl."""
    return [record_text(record) for record in provided_records()]


@functools.cache
def provided_shingles() -> tuple[frozenset[str], ...]:
    """The shingles of :func:`provided_texts`, made once: three checks compare against them."""
    return tuple(shingles(text) for text in provided_texts())


def new_data(impl) -> tuple[dict[str, list[dict]], int, int, list[str]]:
    """Valid records by format, the total and valid counts, and the problems found."""
    folder = impl.path("data")
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    assert files, (f"no new data: put your .jsonl files in {impl.display_root}data/ "
                   "(see the README there)")
    by_format: dict[str, list[dict]] = {"dialogue": [], "chat": [], "qa": []}
    total = valid = 0
    problems: list[str] = []
    for path in files:
        report = validate_file(path)
        total += report.records
        valid += report.valid
        problems += [str(p) for p in report.problems[:3]]
        bad_lines = {p.line for p in report.problems}
        if report.error or report.schema is None and not report.valid:
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            lines = [(n, line) for n, line in enumerate(handle, start=1) if line.strip()]
        for number, line in lines:
            if number in bad_lines:
                continue
            record = json.loads(line)
            schema = report.schema or schema_for_path(path) or schema_for_record(record)
            if schema in by_format:
                by_format[schema].append(record)
    return by_format, total, valid, problems


def originality(records: list[dict]) -> tuple[int, list[str]]:
    """How many records are original: no exact or near duplicate of data/ or of an earlier one,
    and no question the kit's data/ already asks.

    Both measures are in grader/similarity.py.
    """
    texts = [record_text(r) for r in records]
    copied = {i: f"record {i + 1} copies a record of the kit's data/ (character 5-gram "
                 f"similarity {score:.2f}, {NEAR_DUPLICATE_THRESHOLD} or more is a copy)"
              for i, _, score in find_near_duplicates(texts, provided_shingles())}
    kit_questions = [(content_words(record_question(r)), record_question(r))
                     for r in provided_records()]
    for i, record in enumerate(records):
        if i in copied:
            continue
        asked = content_words(record_question(record))
        score, question = max(((same_question(asked, words), text)
                               for words, text in kit_questions), default=(0.0, ""))
        if score >= SAME_QUESTION_THRESHOLD:
            copied[i] = (f"record {i + 1} asks a question the kit's data/ already asks "
                         f"({question.strip()[:60]!r}; content-word similarity {score:.2f}, "
                         f"{SAME_QUESTION_THRESHOLD} or more is the same question)")
    for i, j, score in find_near_duplicates(texts):
        copied.setdefault(j, f"record {j + 1} repeats record {i + 1} (similarity {score:.2f})")
    return len(texts) - len(copied), [copied[i] for i in sorted(copied)]


@pytest.mark.rubric("creativity", None, points=2)
def test_new_data_valid(impl, credit):
    """Every record of your assignments/data/*.jsonl files must validate against the kit's
    schemas. Check them with: python -m grader validate assignments/data/*.jsonl"""
    _, total, valid, problems = new_data(impl)
    assert valid, "no valid record in assignments/data:\n" + "\n".join(problems[:10])
    credit(valid / total, f"{valid} of {total} records valid"
           + ("; " + "; ".join(problems[:5]) if problems else ""))


@pytest.mark.rubric("creativity", None, points=2)
def test_new_dialogues_count(impl, credit):
    """Write at least 10 new multi-turn teacher/student dialogues (dialogue format) in
    assignments/data/, e.g. assignments/data/my_dialogues.jsonl. See assignments/data/README.md."""
    by_format, *_ = new_data(impl)
    count = len(by_format["dialogue"])
    assert count, "no valid dialogue-format record in assignments/data"
    credit(min(count, NEEDED) / NEEDED, f"{count} valid new dialogues (at least {NEEDED} needed)")


@pytest.mark.rubric("creativity", None, points=2)
def test_new_dialogues_original(impl, credit):
    """Your new dialogues must be your own: no exact or near duplicate of the kit's data/ or of
    each other (character 5-gram similarity), and none on a question the kit's data/ already
    asks (content-word similarity). See assignments/data/README.md."""
    by_format, *_ = new_data(impl)
    dialogues = by_format["dialogue"]
    assert dialogues, "no valid dialogue-format record in assignments/data"
    original, problems = originality(dialogues)
    assert original, "no original dialogue: " + "; ".join(problems[:5])
    denominator = max(len(dialogues), NEEDED)
    credit(original / denominator, f"{original} original dialogues of {len(dialogues)}"
           + ("; " + "; ".join(problems[:5]) if problems else ""))


def credit_original(impl, credit, fmt: str, record_name: str, item: str) -> None:
    """Credit up to NEEDED original records of one format in assignments/data."""
    by_format, *_ = new_data(impl)
    records = by_format[fmt]
    assert records, f"no valid {record_name} in assignments/data"
    original, problems = originality(records)
    assert original, f"no original {item}: " + "; ".join(problems[:5])
    credit(min(original, NEEDED) / NEEDED, f"{original} original {item}s"
           + ("; " + "; ".join(problems[:5]) if problems else ""))


@pytest.mark.rubric("creativity", "openai", points=3)
def test_new_chat_examples(impl, credit):
    """Prepare at least 10 new, original chat fine-tuning examples (OpenAI format: system,
    user = student, assistant = teacher) in assignments/data/, e.g. my_chat.jsonl, on questions
    the kit's data/ does not already ask (see assignments/data/README.md).
    Read: https://platform.openai.com/docs/guides/fine-tuning"""
    credit_original(impl, credit, "chat", "chat-format record", "chat example")


@pytest.mark.rubric("creativity", "lora", points=3)
def test_new_qa_pairs(impl, credit):
    """Write at least 10 new, original instruction/output QA pairs for LoRA training in
    assignments/data/, e.g. my_qa.jsonl, on questions the kit's data/ does not already ask.
    See assignments/data/README.md."""
    credit_original(impl, credit, "qa", "QA-format record", "QA pair")


# ---------------------------------------------------------------- the novel metric
def _history(*turns: str) -> str:
    if not turns:
        return "(this is the start of the conversation)"
    roles = ("Teacher", "Student")
    return "\n".join(f"{roles[i % 2]}: {t}" for i, t in enumerate(turns))


# The grader-held set: (history, teacher prompt, gold student reply, a good reply, a bad reply).
# Good replies sound like a learner answering what was asked; bad ones lecture like a
# teacher, wander off topic, parrot the prompt, say nothing, or speak as an AI assistant.
RANKING_SET = [
    (_history(), "What do you think happens to water when it boils?",
     "It turns into steam, I think? Like it goes into the air.",
     "Um, the bubbles are air escaping? Or maybe the water turns into gas and floats away.",
     "Boiling is a phase transition in which the vapour pressure of a liquid equals the "
     "ambient pressure. At sea level water boils at 100 degrees Celsius, and the liquid "
     "absorbs latent heat of vaporisation without changing temperature. Let me explain the "
     "molecular picture in more detail: molecules gain kinetic energy..."),
    (_history("Today we're looking at fractions.", "Okay."),
     "Which is bigger, one third or one quarter?",
     "One quarter, because four is bigger than three.",
     "Is it one quarter? Four is a bigger number than three, so I guess a quarter is bigger.",
     "My favourite football team won on Saturday and I had pizza afterwards."),
    (_history(), "Why do you think the Roman Empire built so many roads?",
     "So the army could march places faster?",
     "Maybe so soldiers could get to battles quicker, and traders too?",
     "ok"),
    (_history("Let's talk about plants.", "I like plants."),
     "Where do you think a plant gets the material to build its body?",
     "From the soil, I think. It sucks it up through the roots.",
     "From the dirt? The roots pull up food from the soil, I think.",
     "Where do you think a plant gets the material to build its body?"),
    (_history(), "Can you tell me what a verb is?",
     "It's a doing word, like run or jump.",
     "A verb is like an action word I think, like run or eat.",
     "Great question! A verb is a word that expresses an action, an occurrence or a state of "
     "being. Can you think of three examples from the sentence on the board? Let's work "
     "through them together, and remember to underline each one."),
    (_history("We're going to look at electricity.", "Cool."),
     "If I open the switch in this circuit, what happens to the bulb?",
     "It goes out because the electricity can't get round.",
     "The bulb goes off? Because the circuit is broken so the current stops, I think.",
     "As an AI language model, I do not have personal experiences, but I can provide "
     "information about electrical circuits if you would like."),
    (_history(), "What is 7 times 8?",
     "Is it 54? No wait, 56.",
     "Um, 56? I always mix that one up with 54.",
     "The capital of France is Paris, which is also famous for the Eiffel Tower."),
    (_history("We're studying the water cycle.", "Rain and stuff?"),
     "Where does the water in a puddle go on a sunny day?",
     "It dries up. I guess it goes into the ground?",
     "It soaks into the ground? Or maybe the sun dries it up into the air.",
     "Evaporation. Evaporation is the process by which water changes from a liquid to a gas "
     "or vapour. Water boils at 212 degrees Fahrenheit but evaporates at lower temperatures. "
     "Heat from the sun provides the energy, and the vapour later condenses into clouds, "
     "which is why you should always explain the full cycle in your answers."),
    (_history(), "Why do we have seasons, do you think?",
     "Because the Earth is closer to the sun in summer.",
     "Because we're closer to the sun in summer and further away in winter?",
     "zxq blorp 123 qqq"),
    (_history("Let's look at this poem.", "Okay, it's kind of sad."),
     "What in the poem makes it feel sad to you?",
     "The part about the empty chair, like someone is gone.",
     "The empty chair bit, I think. It's like somebody isn't there anymore.",
     "Let me tell you what makes it sad. The poet uses imagery and a falling rhythm, and you "
     "should note the caesura in line three. Now, class, open your books to page twelve."),
    (_history(), "How would you find the area of a rectangle?",
     "You add all the sides together?",
     "Do you add up the sides? Or is that the perimeter... maybe length times width.",
     "I don't know."),
    (_history("We're learning about the heart.", "It pumps blood."),
     "Why does blood need to go to the lungs?",
     "To get oxygen from the air we breathe.",
     "So it can pick up oxygen? From the air we breathe in.",
     "Why does blood need to go to the lungs? Why does blood need to go to the lungs?"),
]


def _cases(dspy):
    for history, prompt, gold, good, bad in RANKING_SET:
        example = dspy.Example(conversation_history=history, teacher_prompt=prompt,
                               student_response=gold).with_inputs("conversation_history",
                                                                  "teacher_prompt")
        yield (example, dspy.Prediction(student_response=good),
               dspy.Prediction(student_response=bad))


def _trace(prediction):
    # What DSPy passes while bootstrapping: a list of (predictor, inputs, prediction).
    return [(None, {}, prediction)]


def novel_metric(impl):
    module = impl.module("metrics_extra")
    metric = getattr(module, "novel_metric", None)
    assert callable(metric), "metrics_extra.py must define novel_metric(example, prediction, " \
        "trace=None)"
    return metric


def _is_score(value) -> bool:
    return (isinstance(value, (int, float)) or type(value).__module__ == "numpy") \
        and not isinstance(value, bool) and math.isfinite(float(value)) and 0 <= float(value) <= 1


def _is_bool(value) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


@pytest.mark.rubric("creativity", "dspy", points=1.5)
def test_novel_metric_contract(impl, credit):
    """metrics_extra.novel_metric(example, prediction, trace=None) must keep DSPy's metric
    contract: a float in [0, 1] when trace is None, a bool while bootstrapping (trace given),
    and it must be your own, not dspy_example.teaching_quality under another name.
    Read: https://dspy.ai/learn/evaluation/metrics/"""
    import dspy

    metric = novel_metric(impl)
    problems = []
    scores = []
    edge = dspy.Example(conversation_history="", teacher_prompt="Why?",
                        student_response="").with_inputs("conversation_history", "teacher_prompt")
    cases = list(_cases(dspy)) + [(edge, dspy.Prediction(student_response=""),
                                   dspy.Prediction(student_response="¿Por qué? 🤔"))]
    for example, good, bad in cases:
        for prediction in (good, bad):
            value = metric(example, prediction)
            if not _is_score(value):
                problems.append(f"with trace=None it returned {value!r}, not a float in [0, 1]")
            else:
                scores.append(float(value))
            passed = metric(example, prediction, _trace(prediction))
            if not _is_bool(passed):
                problems.append(f"while bootstrapping (trace given) it returned {passed!r}, "
                                "not a bool")
    assert not problems, "; ".join(sorted(set(problems))[:4])
    try:
        baseline = impl.module("dspy_example").teaching_quality
    except Exception:  # noqa: BLE001 - the DSPy module's own checks report its problems
        baseline = None
    assert metric is not baseline, \
        "novel_metric is dspy_example.teaching_quality itself: write a metric of your own"
    try:
        same = [float(baseline(e, p)) for e, g, b in _cases(dspy) for p in (g, b)]
    except Exception:  # noqa: BLE001 - a baseline not written yet cannot be compared
        same = None
    if same is not None:
        assert any(abs(a - b) > 1e-9 for a, b in zip(scores, same, strict=False)), \
            "novel_metric scores every reply exactly like teaching_quality: write your own"


@pytest.mark.rubric("creativity", "dspy", points=1, depends=("test_novel_metric_contract",))
def test_novel_metric_deterministic(impl):
    """novel_metric must give the same score for the same reply every time (no randomness, no
    state carried between calls), or optimizer runs cannot be compared."""
    import dspy

    metric = novel_metric(impl)
    first = [metric(e, p) for e, g, b in _cases(dspy) for p in (g, b, g)]
    again = [metric(e, p) for e, g, b in _cases(dspy) for p in (g, b, g)]
    traced = [metric(e, p, _trace(p)) for e, g, b in _cases(dspy) for p in (g, b)]
    traced_again = [metric(e, p, _trace(p)) for e, g, b in _cases(dspy) for p in (g, b)]
    assert first == again, "two runs over the same replies gave different scores"
    assert first[0::3] == first[2::3], "the same reply scored differently within one run"
    assert traced == traced_again, "the bootstrapping verdicts changed between two runs"


@pytest.mark.rubric("creativity", "dspy", points=1.5, depends=("test_novel_metric_contract",))
def test_novel_metric_ranks_good_above_bad(impl, credit):
    """novel_metric must score a realistic student reply above a bad one (a teacher's lecture,
    an off-topic or empty reply, the prompt parroted back, an AI-assistant disclaimer) on the
    grader's set of 12 pairs; at least 10 must be ranked right."""
    import dspy

    metric = novel_metric(impl)
    wrong = []
    for index, (example, good, bad) in enumerate(_cases(dspy), start=1):
        if not float(metric(example, good)) > float(metric(example, bad)):
            wrong.append(f"pair {index}: good {good.student_response[:40]!r} scored "
                         f"{float(metric(example, good)):.2f}, bad {bad.student_response[:40]!r} "
                         f"scored {float(metric(example, bad)):.2f}")
    right = len(RANKING_SET) - len(wrong)
    assert right >= 10, f"only {right} of {len(RANKING_SET)} pairs ranked right: " + \
        "; ".join(wrong[:3])
    credit(right / len(RANKING_SET), f"{right} of {len(RANKING_SET)} pairs ranked right"
           + ("; " + "; ".join(wrong) if wrong else ""))


# ---------------------------------------------------------------- the enhancement
@pytest.mark.rubric("creativity", None, points=1.5)
def test_enhancement_documented(impl, credit):
    """Describe your enhancement in ANALYSIS.md section 5 (what you tried and why, and the
    result quoting your baseline and result figures, by the template's rule for answers) and
    fill the enhancement figures: approach (dspy, openai or lora), metric, baseline and result."""
    doc = fig.read_document(impl)
    verdicts = fig.judge_answers(doc)
    parts, problems = 0, []
    for topic in ("tried", "result"):
        verdict = verdicts[("enhancement", topic)]
        if verdict.ok:
            parts += 1
        else:
            problems.append(f"enhancement / {topic}: " + "; ".join(verdict.problems))
    try:
        block = fig.read_figures(impl)["enhancement"]
    except fig.FiguresError as exc:
        block, problems = {}, [*problems, str(exc)]
    if block.get("approach") not in APPROACHES:
        problems.append(f"enhancement.approach must be one of {', '.join(APPROACHES)}, "
                        f"not {block.get('approach')!r}")
    elif isinstance(block.get("metric"), str) and all(
            fig.number(block.get(k)) is not None for k in ("baseline", "result")):
        parts += 1
    else:
        problems.append("the enhancement figures need a metric name, a baseline and a result")
    assert parts, "the enhancement is not documented yet: " + "; ".join(problems)
    credit(parts / 3, "; ".join(problems) or "documented")


@experiments.instrument("enhancement")
def work_done():
    """Count what run_enhancement() really runs: optimizer steps, model forwards, LM calls.

    Hooks, not mocks: torch's global optimizer-step and module-forward hooks see every
    training step and forward pass of any model, and DSPy's LM class is wrapped so every
    call of a DSPy program (answered from the recordings) is counted. At each optimizer step
    the number of parameters that optimizer trains is noted (each distinct number once), so
    the trainable-parameter counts the enhancement reports can be compared with the ones
    that really trained. The numbers are kept, not the optimizers: a variant's optimizer is
    freed before the next variant's is made, which may then get the same id().
    """
    from torch.nn.modules.module import register_module_forward_hook
    from torch.optim.optimizer import register_optimizer_step_post_hook

    counts = {"optimizer_steps": 0, "forwards": 0, "lm_calls": 0, "trained_params": []}

    def after_step(optimizer, args, kwargs):
        counts["optimizer_steps"] += 1
        trained = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
        if trained not in counts["trained_params"]:
            counts["trained_params"].append(trained)

    def after_forward(module, args, output):
        if hasattr(module, "config"):  # a transformers model (or a peft wrapper of one)
            counts["forwards"] += 1

    step_hook = register_optimizer_step_post_hook(after_step)
    forward_hook = register_module_forward_hook(after_forward)
    lm_class = own_call = None
    try:
        import dspy

        lm_class = dspy.LM
        own_call = vars(lm_class).get("__call__")  # None when inherited from BaseLM
        original_call = lm_class.__call__

        def counted_call(self, *args, **kwargs):
            counts["lm_calls"] += 1
            return original_call(self, *args, **kwargs)

        lm_class.__call__ = counted_call
    except ImportError:  # no DSPy installed: a LoRA enhancement is still observed
        pass
    try:
        yield counts
    finally:
        step_hook.remove()
        forward_hook.remove()
        if lm_class is not None:
            if own_call is None:
                del lm_class.__call__
            else:
                lm_class.__call__ = own_call


def work_problems(approach, computed: dict, counts: dict | None) -> list[str]:
    """What the one run of run_enhancement() did not do that its approach requires."""
    if not counts:
        return []
    if approach == "lora":
        if counts["optimizer_steps"] == 0 or counts["forwards"] == 0:
            return [f"run_enhancement() trained nothing: the grader counted "
                    f"{counts['optimizer_steps']} optimizer steps and {counts['forwards']} "
                    "forward passes of a model while it ran; it must train both variants "
                    "and return the losses it measured, not numbers typed in"]
        trained = set(counts["trained_params"])
        claimed = {k: computed[k] for k in ("baseline_trainable_params", "result_trainable_params")
                   if fig.number(computed.get(k)) is not None}
        wrong = [f"{k}={v:g}" for k, v in claimed.items() if v not in trained]
        if wrong:
            return [f"run_enhancement() reports {', '.join(wrong)}, but the optimizers that ran "
                    f"trained {', '.join(str(t) for t in sorted(trained))} parameters"]
    if approach == "dspy" and counts["lm_calls"] == 0:
        return ["run_enhancement() made no LM call: a DSPy enhancement must run the programs "
                "it compares (the grader replays their calls) and return the scores it measured"]
    return []


@pytest.mark.timeout(300)
@pytest.mark.rubric("creativity", None, points=2.5)
def test_enhancement_rerun_matches(impl, experiments, credit):
    """enhancement.run_enhancement() must run offline, really train (LoRA: optimizer steps the
    grader counts) or optimize (DSPy: LM calls the grader counts), and return the baseline and
    result your figures block reports (within 2 %, and the change from one to the other within
    25 %), so the grader can reproduce your experiment."""
    keys = ("baseline", "result")
    try:
        block = fig.read_figures(impl)
    except fig.FiguresError as exc:
        raise AssertionError(str(exc)) from None
    missing = [k for k in keys if fig.number(block["enhancement"].get(k)) is None]
    assert not missing, "the figures block does not report enhancement: " + ", ".join(missing)
    computed = experiments.result("enhancement")
    said = block["enhancement"].get("metric")
    assert computed.get("metric") in (None, said), (
        f"enhancement.metric: ANALYSIS.md says {said!r}, run_enhancement() reports "
        f"{computed.get('metric')!r}")
    approach = computed.get("approach") or block["enhancement"].get("approach")
    not_run = work_problems(approach, computed, experiments.observed("enhancement", "work_done"))
    assert not not_run, "\n".join(not_run)
    problems = fig.compare(block, "enhancement", computed, keys)
    agreeing = len(keys) - len(problems)
    assert agreeing, "the re-run does not reproduce your figures:\n" + "\n".join(problems)
    credit(agreeing / len(keys), "; ".join(problems) or "the re-run agrees")
