"""Graded checks, Technical Implementation, DSPy (16 points).

They reach the code under test only through ``impl.module("dspy_example")``.
Language-model calls are replayed from ``fixtures/cassettes/dspy/`` (see
``grader/replay_dspy.py``); nothing here touches the network.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import analysis_doc, experiments
from grader.replay_dspy import REPO_ROOT, replay

APPROACH = "dspy"
INPUTS = {"conversation_history", "teacher_prompt"}
DIALOGUES = REPO_ROOT / "data" / "teacher_student_dialogues.jsonl"


def _mod(impl):
    return impl.module("dspy_example")


def _predictors(program):
    return list(program.named_predictors())


# ---------------------------------------------------------------- fixed replies for the metrics
# (history, teacher prompt, gold student reply, off-topic reply, teacher-voiced reply)
PAIRS = [
    ("Teacher: What do plants need to grow?\nStudent: Water and sunlight, and soil.",
     "Good. So where do you think a tree gets the material to build its trunk?",
     "From the soil? Like the roots suck up dirt and it turns into wood?",
     "My favourite football team won on Saturday.",
     "Great question! Let's think about it together. Remember that trees take carbon dioxide "
     "from the air and use the energy of sunlight to turn it into sugars, which become wood. "
     "So most of the mass comes from the air. What do you think about that? Well done."),
    ("(this is the start of the conversation)",
     "What is one half plus one third?",
     "Two fifths? You add the tops and the bottoms.",
     "Can we have a longer lunch break today?",
     "Good question. Let's find a common denominator first: halves and thirds both fit into "
     "sixths, so one half is three sixths and one third is two sixths. You should add the "
     "numerators to get five sixths. Can you think of why we need the same denominator?"),
    ("Teacher: What happens to ice when you heat it?\nStudent: It melts.",
     "And if you keep heating the water, what happens then?",
     "It boils and turns into steam, I think.",
     "Penguins live in the Southern Hemisphere.",
     "Excellent. Let me explain: when water reaches one hundred degrees Celsius at sea level "
     "it boils, and the molecules escape as a gas called water vapour. Remember that this is "
     "called a change of state. Well done, what do you think happens when steam cools?"),
    ("Teacher: Why does a ship float?\nStudent: Because it's made of special metal?",
     "Ships are steel, which is denser than water. What else is inside the ship?",
     "Oh, air! Lots of air inside.",
     "I forgot my homework on the bus.",
     "That's right, good thinking. Let's connect it to density: the ship as a whole, steel "
     "plus all the air inside, has a lower average density than the water it pushes aside, "
     "so it floats. You should remember that in summary it is the average that matters."),
    ("Teacher: What is a verb?\nStudent: A describing word?",
     "That's an adjective. A verb is often an action. Can you give me one?",
     "Run! Or jump.",
     "The capital of Australia is Canberra, not Sydney.",
     "Great question, let me explain. A verb names an action or a state, for example run, "
     "jump or be. In the sentence 'The dog barked', barked is the verb. Well done for "
     "trying; can you think of another one? What do you think?"),
    ("Teacher: What is 6 times 7?\nStudent: 48?",
     "Let's check with 6 times 6 first. What is that?",
     "36. Then add one more 6... so 42, not 48.",
     "Rainbows have seven colours.",
     "Good job. Let's remember that 6 times 6 is 36, and adding one more 6 gives 42, which is "
     "the correct answer. You need to practise your times tables. Excellent effort, well done."),
]


def _example(history, prompt, gold):
    import dspy

    return dspy.Example(conversation_history=history, teacher_prompt=prompt,
                        student_response=gold).with_inputs(*sorted(INPUTS))


def _prediction(reply):
    import dspy

    return dspy.Prediction(reasoning="The student thinks about the question.",
                           student_response=reply)


def _all_metrics(mod):
    metrics = list(getattr(mod, "METRICS", ()))
    return metrics, [*metrics, mod.teaching_quality]


# ---------------------------------------------------------------- signature and module
@pytest.mark.rubric("technical", APPROACH, points=1.5)
def test_signature_fields(impl):
    """StudentResponse must be a dspy.Signature with inputs conversation_history and
    teacher_prompt, output student_response, and a docstring stating the task (simulate a
    student's reply). Read: https://dspy.ai/learn/programming/signatures/
    """
    import dspy

    sig = _mod(impl).StudentResponse
    assert isinstance(sig, type) and issubclass(sig, dspy.Signature), \
        "StudentResponse is not a subclass of dspy.Signature"
    inputs, outputs = set(sig.input_fields), set(sig.output_fields)
    assert inputs == INPUTS, (f"StudentResponse input fields are {sorted(inputs) or 'none'}; "
                              f"expected {sorted(INPUTS)}")
    assert outputs == {"student_response"}, (
        f"StudentResponse output fields are {sorted(outputs) or 'none'}; "
        "expected ['student_response']")
    instructions = (sig.instructions or "").lower()
    assert "student" in instructions, (
        "StudentResponse's docstring (its instructions) should say the task is to reply as a "
        f"student; it reads {sig.instructions!r}")


@pytest.mark.rubric("technical", APPROACH, points=1.5, depends=("test_signature_fields",))
def test_module_uses_chain_of_thought(impl):
    """StudentSimulationModel must set self.chain = dspy.ChainOfThought(StudentResponse) and
    forward(conversation_history, teacher_prompt) must pass both inputs to it unchanged and
    return its prediction. Read: https://dspy.ai/learn/programming/modules/
    """
    import dspy
    from dspy.utils import DummyLM

    mod = _mod(impl)
    program = mod.StudentSimulationModel()
    assert isinstance(program, dspy.Module), "StudentSimulationModel is not a dspy.Module"
    chain = getattr(program, "chain", None)
    assert isinstance(chain, dspy.ChainOfThought), (
        f"self.chain is {type(chain).__name__}, expected dspy.ChainOfThought(StudentResponse)")
    predictors = _predictors(program)
    assert len(predictors) == 1, \
        f"expected one predictor inside the module, found {len(predictors)}"
    signature = predictors[0][1].signature
    assert list(signature.output_fields) == ["reasoning", "student_response"], (
        f"the chain's outputs are {list(signature.output_fields)}; ChainOfThought over "
        "StudentResponse gives ['reasoning', 'student_response']")
    assert set(signature.input_fields) == INPUTS and \
        signature.instructions == mod.StudentResponse.instructions, \
        "the chain is not built over StudentResponse (different inputs or instructions)"

    lm = DummyLM([{"reasoning": "They recall the last lesson.", "student_response": "Is it 12?"}])
    with dspy.context(lm=lm):
        prediction = program(conversation_history="Teacher: PROBE-HISTORY",
                             teacher_prompt="PROBE-PROMPT: what is 3 times 4?")
    assert getattr(prediction, "student_response", None) == "Is it 12?", (
        f"forward returned {prediction!r}; expected the chain's prediction")
    assert getattr(prediction, "reasoning", None), "forward's prediction has no reasoning"
    user = lm.history[-1]["messages"][-1]["content"]
    after_prompt = user.split("[[ ## teacher_prompt ## ]]")[-1]
    after_history = user.split("[[ ## conversation_history ## ]]")[-1].split("[[ ## ")[0]
    assert "PROBE-PROMPT" in after_prompt and "PROBE-HISTORY" in after_history, (
        "forward did not pass conversation_history and teacher_prompt to the matching fields")


# ---------------------------------------------------------------- examples and split
TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ?.,'", min_size=0, max_size=30)


@st.composite
def dialogues(draw, tag="d0"):
    """Random well-formed dialogues: teacher/student turns in any order, unique tagged contents."""
    roles = draw(st.lists(st.sampled_from(["teacher", "student"]), min_size=1, max_size=10))
    return [{"role": role, "content": f"[{tag}t{i:02d}] {draw(TEXT)}".strip()}
            for i, role in enumerate(roles)]


@st.composite
def dialogue_sets(draw):
    """2 to 10 dialogues, each with at least one teacher -> student pair."""
    count = draw(st.integers(min_value=2, max_value=10))
    result = []
    for n in range(count):
        turns = draw(dialogues(tag=f"d{n}"))
        turns = [{"role": "teacher", "content": f"[d{n}q] {draw(TEXT)}".strip()},
                 {"role": "student", "content": f"[d{n}a] {draw(TEXT)}".strip()}, *turns]
        result.append(turns)
    return result


def _pairs(turns):
    return [i for i in range(1, len(turns))
            if turns[i - 1]["role"] == "teacher" and turns[i]["role"] == "student"]


def _check_examples(mod, turns):
    examples = mod.dialogue_to_examples(turns)
    positions = _pairs(turns)
    assert len(examples) == len(positions), (
        f"a dialogue with {len(positions)} student turns that follow a teacher turn gave "
        f"{len(examples)} examples; roles: {[t['role'] for t in turns]}")
    for example, i in zip(examples, positions, strict=True):
        assert set(example.inputs().keys()) == INPUTS, (
            f"example inputs are {sorted(example.inputs().keys())}; use "
            ".with_inputs('conversation_history', 'teacher_prompt')")
        assert example.teacher_prompt == turns[i - 1]["content"], \
            "teacher_prompt is not the teacher turn just before the student's reply"
        assert example.student_response == turns[i]["content"], \
            "student_response is not the student turn that answers the teacher prompt"
        history = example.conversation_history
        assert history == mod.render_history(turns[: i - 1]), (
            "conversation_history is not render_history(the turns before the teacher prompt)")
        for later in turns[i - 1:]:
            tag = later["content"].split("]")[0] + "]"
            assert tag not in history, (
                f"the history of the example predicting turn {i} contains turn "
                f"{turns.index(later)} ({later['role']}): it may only hold earlier turns")
        for earlier in turns[: i - 1]:
            tag = earlier["content"].split("]")[0] + "]"
            assert tag in history, f"the history of turn {i} leaves out earlier turn {tag}"


@pytest.mark.rubric("technical", APPROACH, points=1.5)
def test_examples_from_dialogues(impl):
    """dialogue_to_examples must make one example per student turn that follows a teacher turn:
    history = render_history(the turns before that teacher turn), teacher_prompt = that teacher
    turn, student_response = the student turn, inputs set with .with_inputs. Read:
    https://dspy.ai/learn/evaluation/data/
    """
    mod = _mod(impl)

    @settings(max_examples=60)
    @given(dialogues())
    def property_holds(turns):
        _check_examples(mod, turns)

    property_holds()
    lines = DIALOGUES.read_text(encoding="utf-8").splitlines()
    expected = sum(len(_pairs(json.loads(line)["dialogue"])) for line in lines if line.strip())
    loaded = mod.load_examples(DIALOGUES)
    assert len(loaded) == expected, (
        f"load_examples() gave {len(loaded)} examples from the dataset; expected {expected}")
    in_file = [turns[i - 1]["content"] for line in lines if line.strip()
               for turns in [json.loads(line)["dialogue"]] for i in _pairs(turns)]
    assert [e.teacher_prompt for e in loaded] == in_file, (
        "load_examples() does not give the examples in file order (dialogue by dialogue, "
        "turn by turn)")


def _dialogue_of(example):
    return example.teacher_prompt.split("]")[0].lstrip("[").split("t")[0].rstrip("q")


@pytest.mark.rubric("technical", APPROACH, points=2, depends=("test_examples_from_dialogues",))
def test_split_examples(impl):
    """split_examples must split by dialogue (no dialogue in both train and dev), keep every
    example exactly once, give the same split for the same seed, and leave both sides non-empty.
    Read: https://dspy.ai/learn/evaluation/data/
    """
    mod = _mod(impl)

    @settings(max_examples=40)
    @given(dialogue_sets(), st.sampled_from([0.2, 0.25, 0.3, 0.5]), st.integers(0, 10_000))
    def property_holds(dialogue_list, fraction, seed):
        examples = [e for turns in dialogue_list for e in mod.dialogue_to_examples(turns)]
        train, dev = mod.split_examples(examples, dev_fraction=fraction, seed=seed)
        keys = sorted(e.teacher_prompt + "|" + e.student_response for e in examples)
        got = sorted(e.teacher_prompt + "|" + e.student_response for e in [*train, *dev])
        assert got == keys, (f"train + dev hold {len(got)} examples, the input had {len(keys)}: "
                             "every example must land in exactly one side")
        leaked = {_dialogue_of(e) for e in train} & {_dialogue_of(e) for e in dev}
        assert not leaked, (f"dialogues {sorted(leaked)} have examples in both train and dev; "
                            "split whole dialogues")
        assert train and dev, (f"with {len(dialogue_list)} dialogues and dev_fraction={fraction}, "
                               f"train has {len(train)} and dev {len(dev)} examples")
        again = mod.split_examples(examples, dev_fraction=fraction, seed=seed)
        assert [e.teacher_prompt for e in again[1]] == [e.teacher_prompt for e in dev], \
            "split_examples gave a different split for the same seed"
        position = {e.teacher_prompt: k for k, e in enumerate(examples)}
        for side, name in ((train, "train"), (dev, "dev")):
            order = [position.get(e.teacher_prompt, -1) for e in side]
            assert order == sorted(order), (
                f"{name} does not keep the examples' original order: shuffle the dialogues, "
                "then keep each side's examples in the order they came")

    property_holds()
    examples = mod.load_examples(DIALOGUES)
    train, dev = mod.split_examples(examples)
    share = len(dev) / max(1, len(examples))
    assert 0.1 <= share <= 0.4, (f"the default split puts {share:.0%} of the dataset's examples "
                                 "in dev; dev_fraction=0.25 should give about a quarter")


# ---------------------------------------------------------------- metrics
@pytest.mark.rubric("technical", APPROACH, points=1.5)
def test_metric_contract(impl):
    """Every metric in METRICS (at least three) and teaching_quality must follow DSPy's metric
    contract: a float in [0, 1] when trace is None, a bool when a trace is given
    (bootstrapping), and the same answer every time. Read:
    https://dspy.ai/learn/evaluation/metrics/
    """
    mod = _mod(impl)
    metrics, everything = _all_metrics(mod)
    assert len(metrics) >= 3 and all(callable(m) for m in metrics), (
        f"METRICS must list at least three metric functions; it holds {len(metrics)}")
    for history, prompt, gold, off_topic, teacher in PAIRS:
        example = _example(history, prompt, gold)
        for reply in (gold, off_topic, teacher, ""):
            prediction = _prediction(reply)
            for metric in everything:
                name = getattr(metric, "__name__", repr(metric))
                value = metric(example, prediction)
                assert isinstance(value, (float, int)) and not isinstance(value, bool), (
                    f"{name}(trace=None) returned {value!r}; expected a float in [0, 1]")
                assert math.isfinite(value) and 0.0 <= value <= 1.0, (
                    f"{name} returned {value!r} for the reply {reply[:40]!r}; "
                    "it must lie in [0, 1]")
                assert metric(example, prediction) == value, f"{name} is not deterministic"
                for trace in ([], [("predictor", {}, prediction)]):
                    verdict = metric(example, prediction, trace)
                    assert isinstance(verdict, bool), (
                        f"{name}(..., trace={trace!r}) returned {verdict!r}; with a trace "
                        "(bootstrapping) a metric returns a bool. Test `trace is not None`.")


@pytest.mark.rubric("technical", APPROACH, points=1.5, depends=("test_metric_contract",))
def test_metrics_rank_gold_first(impl):
    """Each metric must score the real student reply at least as high as an off-topic reply and a
    teacher-voiced reply (and strictly higher somewhere), and teaching_quality must prefer the
    real reply every time and accept only it while bootstrapping. Read:
    https://dspy.ai/learn/evaluation/metrics/
    """
    mod = _mod(impl)
    metrics, _ = _all_metrics(mod)
    for metric in metrics:
        name = metric.__name__
        strictly_better = 0
        for history, prompt, gold, off_topic, teacher in PAIRS:
            example = _example(history, prompt, gold)
            good = metric(example, _prediction(gold))
            for label, reply in (("off-topic", off_topic), ("teacher-voiced", teacher)):
                bad = metric(example, _prediction(reply))
                assert good >= bad, (f"{name} scores a {label} reply ({bad:.2f}) above the real "
                                     f"student reply ({good:.2f}) to {prompt!r}")
                strictly_better += good > bad
        assert strictly_better, (f"{name} never scores the real reply above an off-topic or "
                                 "teacher-voiced one: it does not measure anything")
    for history, prompt, gold, off_topic, teacher in PAIRS:
        example = _example(history, prompt, gold)
        good = mod.teaching_quality(example, _prediction(gold))
        for label, reply in (("off-topic", off_topic), ("teacher-voiced", teacher)):
            bad = mod.teaching_quality(example, _prediction(reply))
            assert good > bad, (f"teaching_quality gives a {label} reply {bad:.2f}, not below the "
                                f"real student reply's {good:.2f} (prompt {prompt!r})")
            assert mod.teaching_quality(example, _prediction(reply), []) is False, (
                f"while bootstrapping, teaching_quality accepts a {label} reply as a demo")
        assert mod.teaching_quality(example, _prediction(gold), []) is True, (
            f"while bootstrapping, teaching_quality rejects the real student reply {gold!r}")


# ---------------------------------------------------------------- replayed language-model calls
def _configured_lm(mod):
    import dspy

    lm = mod.configure_lm()
    assert isinstance(lm, dspy.BaseLM), \
        f"configure_lm() returned {type(lm).__name__}, not a dspy.LM"
    assert dspy.settings.lm is lm, "configure_lm() did not make its LM the default (dspy.configure)"
    assert getattr(lm, "engine", None) == "litellm", (
        f"configure_lm() built the LM with engine={getattr(lm, 'engine', None)!r}; use "
        "engine='litellm' so the recorded calls can be replayed")
    assert not lm.cache, "configure_lm() must pass cache=False, so every call is really made"
    return lm


@pytest.mark.rubric("technical", APPROACH, points=1.5,
                    depends=("test_module_uses_chain_of_thought", "test_examples_from_dialogues"))
def test_replayed_forward_pass(impl):
    """With configure_lm() as the model, StudentSimulationModel must answer dataset examples from
    the recorded calls: one LM call per reply, with reasoning and a non-empty student_response.
    Read: https://dspy.ai/learn/programming/language_models/
    """
    mod = _mod(impl)
    examples = mod.load_examples(DIALOGUES)
    picked = [examples[i] for i in (0, len(examples) // 2, len(examples) - 1)]
    with replay():
        lm = _configured_lm(mod)
        calls = len(lm.history)
        program = mod.StudentSimulationModel()
        for example in picked:
            prediction = program(**example.inputs())
            reply = getattr(prediction, "student_response", None)
            assert isinstance(reply, str) and reply.strip(), \
                f"the prediction for {example.teacher_prompt!r} has no student_response"
            assert getattr(prediction, "reasoning", None), "the prediction has no reasoning"
        made = len(lm.history) - calls
    assert made == len(picked), f"{len(picked)} replies took {made} LM calls; expected one each"


@pytest.mark.timeout(120)
@pytest.mark.rubric("technical", APPROACH, points=1.5,
                    depends=("test_replayed_forward_pass", "test_split_examples",
                             "test_metric_contract"))
def test_replayed_compile(impl):
    """optimize() must compile with dspy.BootstrapFewShot (bootstrapped demos carry the model's
    reasoning), keeping at most the configured number of demos; evaluate() must return the mean
    teaching_quality in [0, 1] (via dspy.Evaluate), and the compiled program must score higher on
    dev than the uncompiled one.
    Read: https://dspy.ai/api/optimizers/BootstrapFewShot/
    """
    mod = _mod(impl)
    train, dev = mod.split_examples(mod.load_examples(DIALOGUES), seed=0)
    train, dev = train[:8], dev[:6]
    with replay():
        _configured_lm(mod)
        plain = mod.StudentSimulationModel()
        before = mod.evaluate(plain, dev)
        by_hand = sum(mod.teaching_quality(e, plain(**e.inputs())) for e in dev) / len(dev)
        compiled = mod.optimize(train, max_bootstrapped_demos=2, max_labeled_demos=3)
        after = mod.evaluate(compiled, dev)
    for label, score in (("before", before), ("after", after)):
        assert isinstance(score, (float, int)) and 0.0 <= score <= 1.0, (
            f"evaluate() returned {score!r} ({label} compiling); expected the mean score in [0, 1]")
    # dspy.Evaluate reports a percentage rounded to two decimals: the exact mean and that
    # rounded one are both right.
    rounded = round(100 * by_hand, 2) / 100
    assert min(abs(before - by_hand), abs(before - rounded)) < 1e-6, (
        f"evaluate() returned {before:.4f} but the mean teaching_quality on dev is {by_hand:.4f}")
    assert isinstance(compiled, mod.StudentSimulationModel), \
        f"optimize() returned {type(compiled).__name__}, not a StudentSimulationModel"
    for name, predictor in _predictors(compiled):
        demos = len(predictor.demos)
        assert 1 <= demos <= 3, (f"{name} holds {demos} demos after optimize(trainset, "
                                 "max_bootstrapped_demos=2, max_labeled_demos=3); expected 1 to 3")
    bootstrapped = [demo for _, predictor in _predictors(compiled) for demo in predictor.demos
                    if getattr(demo, "reasoning", None)]
    assert bootstrapped, ("none of the compiled program's demos was bootstrapped (a demo that "
                          "BootstrapFewShot keeps carries the model's reasoning): compile with "
                          "dspy.BootstrapFewShot and your metric, not only labeled examples")
    # The recorded model over-explains without demos (see fixtures/cassettes/README.md), so
    # demos that pass a metric preferring a student's voice must raise the score.
    assert after > before + 1e-9, (
        f"the compiled program scores {after:.3f} on dev, not above the uncompiled {before:.3f}")


def _key(example) -> str:
    """An example by what the program reads: its history and the teacher's prompt.

    In either order, so that a forward() that swaps its inputs (a mistake
    test_module_uses_chain_of_thought names) is not charged again here.
    """
    get = example.get if isinstance(example, dict) else lambda name: getattr(example, name, "")
    return "\x00".join(sorted((str(get("conversation_history")), str(get("teacher_prompt")))))


def _shown(key: str) -> str:
    """The shorter text of a key (usually the teacher's prompt), for a message."""
    return repr(min(key.split("\x00"), key=len)[:70])


@pytest.mark.rubric("technical", APPROACH, points=1, depends=("test_examples_from_dialogues",))
def test_optimize_hands_on_its_settings(impl, monkeypatch):
    """optimize(trainset, max_bootstrapped_demos=B, max_labeled_demos=L) must build
    dspy.BootstrapFewShot with metric=teaching_quality, max_bootstrapped_demos=B and
    max_labeled_demos=L, compile a StudentSimulationModel on exactly the trainset it was given,
    and return what compile() returns. Read: https://dspy.ai/api/optimizers/BootstrapFewShot/
    """
    import dspy

    mod = _mod(impl)
    examples = mod.load_examples(DIALOGUES)[:7]
    calls = []

    # compile() is replaced by a recorder: what optimize() hands the optimizer is then seen
    # without running it (test_replayed_compile grades the real compilation).
    def recording_compile(self, student, *args, **kwargs):
        compiled = mod.StudentSimulationModel()
        calls.append({"optimizer": self, "student": student, "compiled": compiled,
                      "trainset": kwargs.get("trainset", args[-1] if args else None)})
        return compiled

    monkeypatch.setattr(dspy.BootstrapFewShot, "compile", recording_compile)
    for bootstrapped, labeled in ((2, 3), (3, 5)):
        calls.clear()
        result = mod.optimize(examples, max_bootstrapped_demos=bootstrapped,
                              max_labeled_demos=labeled)
        call = f"optimize(<7 examples>, max_bootstrapped_demos={bootstrapped}, " \
               f"max_labeled_demos={labeled})"
        assert len(calls) == 1, (f"{call} called dspy.BootstrapFewShot(...).compile() "
                                 f"{len(calls)} times; expected once")
        optimizer = calls[0]["optimizer"]
        got = (optimizer.max_bootstrapped_demos, optimizer.max_labeled_demos)
        assert got == (bootstrapped, labeled), (
            f"{call} built BootstrapFewShot with max_bootstrapped_demos={got[0]} and "
            f"max_labeled_demos={got[1]}: pass each limit to the parameter of that name")
        assert isinstance(calls[0]["student"], mod.StudentSimulationModel), (
            f"{call} compiled a {type(calls[0]['student']).__name__}, not a "
            "StudentSimulationModel")
        trainset = calls[0]["trainset"]
        same = trainset is not None and sorted(map(_key, trainset)) == sorted(map(_key, examples))
        assert same, (
            f"{call} compiled on {len(trainset or [])} examples that are not the 7 it was "
            "given: compile(student, trainset=trainset) with the whole trainset")
        assert result is calls[0]["compiled"], (
            f"{call} did not return the program that compile() returned (the compiled one)")
        metric = optimizer.metric
        assert callable(metric), f"{call} built BootstrapFewShot without a metric"
        for history, prompt, gold, off_topic, teacher in PAIRS:
            example = _example(history, prompt, gold)
            for reply in (gold, off_topic, teacher):
                want = mod.teaching_quality(example, _prediction(reply), [])
                assert metric(example, _prediction(reply), []) == want, (
                    f"{call} built BootstrapFewShot with a metric that judges demos unlike "
                    f"teaching_quality (on the reply {reply[:40]!r}): pass "
                    "metric=teaching_quality")


@experiments.instrument("dspy")
def dspy_data_use():
    """Which examples run_experiment() compiles on, and which its program answers otherwise.

    Both are recorded by what the program reads (:func:`_key`): the trainset of every
    BootstrapFewShot.compile() call, and the inputs of every prediction made outside one
    (dspy.Evaluate runs the program through its predictors).
    """
    import dspy

    seen = {"compiled_on": [], "answered": []}
    compiling = []
    compile_, forward = dspy.BootstrapFewShot.compile, dspy.Predict.forward

    def watched_compile(self, student, *args, **kwargs):
        trainset = kwargs.get("trainset", args[-1] if args else None) or []
        seen["compiled_on"].append([_key(e) for e in trainset])
        compiling.append(True)
        try:
            return compile_(self, student, *args, **kwargs)
        finally:
            compiling.pop()

    def watched_forward(self, **kwargs):
        if not compiling:
            seen["answered"].append(_key(kwargs))
        return forward(self, **kwargs)

    dspy.BootstrapFewShot.compile, dspy.Predict.forward = watched_compile, watched_forward
    try:
        yield seen
    finally:
        dspy.BootstrapFewShot.compile, dspy.Predict.forward = compile_, forward


@pytest.mark.rubric("technical", APPROACH, points=1, depends=("test_split_examples",))
def test_experiment_keeps_train_and_dev_apart(impl, experiments):
    """run_experiment(train_size, dev_size, seed) must compile on training examples only and
    score on dev examples only (both from split_examples(load_examples(), seed=seed)): the
    optimizer never sees a dev example, the program is never scored on a training example, and
    train_examples / dev_examples count the examples really used.
    Read: https://dspy.ai/learn/optimization/optimizers/
    """
    mod = _mod(impl)
    figures = experiments.result("dspy")
    seen = experiments.observed("dspy", "dspy_data_use") or {}
    train, dev = mod.split_examples(mod.load_examples(), seed=analysis_doc.DSPY_ARGS["seed"])
    train_keys, dev_keys = set(map(_key, train)), set(map(_key, dev))
    compiled = [key for trainset in seen.get("compiled_on", []) for key in trainset]
    answered = set(seen.get("answered", []))
    call = "run_experiment({})".format(
        ", ".join(f"{k}={v}" for k, v in analysis_doc.DSPY_ARGS.items()))
    assert compiled, f"{call} never called dspy.BootstrapFewShot(...).compile()"
    leaked = [key for key in compiled if key not in train_keys]
    assert not leaked, (
        f"{call} compiled on {len(leaked)} examples that are not on the training side of "
        f"split_examples(load_examples(), seed=...), e.g. {_shown(leaked[0])}: the "
        "optimizer may only see training examples, or the dev score is no test")
    scored_on_train = answered - dev_keys
    assert answered and not scored_on_train, (
        f"{call} had the program answer {len(scored_on_train)} examples outside the dev side "
        f"of the split (e.g. {_shown(min(scored_on_train, default=''))}) while "
        "evaluating: score the program on dev examples only" if answered else
        f"{call} never had the program answer a dev example: evaluate() it on the dev examples")
    used = (len(set(compiled)), len(answered))
    reported = (figures.get("train_examples"), figures.get("dev_examples"))
    assert reported == used, (
        f"{call} reports train_examples={reported[0]} and dev_examples={reported[1]}, but it "
        f"compiled on {used[0]} training examples and scored on {used[1]} dev examples")


@pytest.mark.rubric("technical", APPROACH, points=0.5, depends=("test_replayed_forward_pass",))
def test_run_experiment_counts_its_own_calls(impl):
    """run_experiment() must return train_examples, dev_examples, metric_before, metric_after and
    lm_calls, where lm_calls counts the language-model calls of that run alone, also when the
    configured LM answered calls before it (the LM's history after the run minus before).
    Read: https://dspy.ai/learn/programming/language_models/
    """
    mod = _mod(impl)
    example = mod.load_examples(DIALOGUES)[0]
    with replay() as recording:
        _configured_lm(mod)
        mod.StudentSimulationModel()(**example.inputs())  # the LM has been used before the run
        earlier = recording.play_count
        figures = mod.run_experiment(train_size=6, dev_size=4, seed=0)
        made = recording.play_count - earlier
    wanted = {"metric_before", "metric_after", "lm_calls", "train_examples", "dev_examples"}
    missing = wanted - set(figures or {})
    assert not missing, (f"run_experiment() returned {figures!r:.300}; it lacks the keys "
                         f"{sorted(missing)}")
    assert (figures["train_examples"], figures["dev_examples"]) == (6, 4), (
        f"run_experiment(train_size=6, dev_size=4) reports train_examples="
        f"{figures['train_examples']} and dev_examples={figures['dev_examples']}")
    assert figures["lm_calls"] == made, (
        f"run_experiment() reports lm_calls={figures['lm_calls']}, but it made {made} calls "
        f"(its LM had answered {earlier} before the run): count only the calls of this run, "
        "the LM's history length after the run minus before")


@pytest.mark.rubric("technical", APPROACH, points=1, depends=("test_module_uses_chain_of_thought",))
def test_save_load_round_trip(impl, tmp_path):
    """save_program must write the program's state (its demos) to a JSON file and load_program must
    restore it into a fresh StudentSimulationModel that answers the same. Read:
    https://dspy.ai/tutorials/saving/
    """
    import dspy

    mod = _mod(impl)
    program = mod.StudentSimulationModel()
    demos = [dspy.Example(conversation_history=f"Teacher: demo {i}",
                          teacher_prompt=f"Question {i}?", reasoning=f"Reasoning {i}.",
                          student_response=f"Answer {i}")
             for i in range(3)]
    for _, predictor in _predictors(program):
        predictor.demos = list(demos)
    path = tmp_path / "student_program.json"
    mod.save_program(program, path)
    assert path.exists(), f"save_program(program, {path.name!r}) wrote no file there"
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AssertionError(f"the saved program is not JSON: {exc}") from None
    loaded = mod.load_program(path)
    assert isinstance(loaded, mod.StudentSimulationModel), \
        f"load_program returned {type(loaded).__name__}, not a StudentSimulationModel"
    restored = [[d.get("student_response") if hasattr(d, "get") else d["student_response"]
                 for d in p.demos] for _, p in _predictors(loaded)]
    assert restored == [[d.student_response for d in demos]], (
        f"the loaded program's demos are {restored}; the saved program had 3 demos")
    example = mod.load_examples(DIALOGUES)[1]
    with replay():
        mod.configure_lm()
        again = loaded(**example.inputs())
    assert getattr(again, "student_response", ""), "the loaded program gives no student_response"
