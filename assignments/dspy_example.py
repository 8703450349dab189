"""Approach 1: prompt optimization with DSPy — a simulated student.

A tutor-training tool needs *students*: given a conversation so far and the
teacher's latest prompt, produce the reply a real learner would give. Instead
of hand-writing a prompt for that, we declare the task as a DSPy *signature*,
wrap it in a *module* that reasons before answering (Chain of Thought),
measure replies with *metrics*, and let an *optimizer* (BootstrapFewShot)
pick few-shot demonstrations from our dialogues that raise the metric.
No model weights change: only the prompt does.

Run the whole flow offline, replaying recorded model calls::

    python -m assignments.dspy_example

or against a real model with ``OPENAI_API_KEY`` set::

    python -m assignments.dspy_example --live --model openai/gpt-4o-mini
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path  # noqa: F401 - you will want it for save_program / load_program

# LiteLLM (under DSPy) downloads its model price list at import unless told to
# use the copy it ships; this kit runs offline, so it must be set before importing.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402 - after the setting above

from .utils import DIALOGUES_FILE, load_dialogues  # noqa: F401 - load_examples needs them

DEFAULT_MODEL = "openai/gpt-4o-mini"
INPUT_FIELDS = ("conversation_history", "teacher_prompt")
NO_HISTORY = "(this is the start of the conversation)"

# teaching_quality() passes a bootstrapped demo when its score reaches this.
PASS_THRESHOLD = 0.7


# ---------------------------------------------------------------- the task
class StudentResponse(dspy.Signature):
    """Simulate a realistic student's next reply in a tutoring conversation.

    Read the conversation so far and the teacher's latest prompt, then answer
    the way a learner of that level would: in your own words, briefly, answering
    what was asked, showing partial understanding or a misconception where a
    real student would have one. Never reply as the teacher.
    """

    # Your turn: declare two inputs, `conversation_history` and `teacher_prompt`
    # (dspy.InputField), and one output, `student_response` (dspy.OutputField),
    # each with a short `desc`. Read: https://dspy.ai/learn/programming/signatures/


class StudentSimulationModel(dspy.Module):
    """A simulated student: thinks step by step, then replies to the teacher."""

    def __init__(self):
        super().__init__()
        raise NotImplementedError(
            "TODO: set self.chain to dspy.ChainOfThought(StudentResponse). "
            "Read: https://dspy.ai/learn/programming/modules/")

    def forward(self, conversation_history, teacher_prompt):
        """Predict the student's reply; the prediction has `reasoning` and `student_response`."""
        raise NotImplementedError(
            "TODO: call self.chain with both inputs and return its prediction. "
            "Read: https://dspy.ai/learn/programming/modules/")


# ---------------------------------------------------------------- the language model
def configure_lm(model=DEFAULT_MODEL, live=False, api_base=None, api_key=None):
    """Build the language model, make it DSPy's default, and return it.

    ``engine="litellm"`` sends requests through LiteLLM's HTTP client, which
    the grader's recordings (vcrpy cassettes) can intercept and replay.
    ``cache=False`` makes every call a real (or replayed) request, so the
    count of calls is honest, and ``temperature=0`` keeps answers repeatable.
    Offline (``live=False``) a failed call is not retried: a missing recording
    should fail at once, not after a back-off. Offline runs need no API key:
    the grader's replay provides a harmless placeholder key while it answers
    from the recordings.

    Not graded: ``temperature``, the retries and ``api_base``/``api_key``,
    which only a live API would show.
    """
    raise NotImplementedError(
        "TODO: build dspy.LM(model, engine='litellm', cache=False, temperature=0.0, ...), pass "
        "api_base/api_key when given, call dspy.configure(lm=...) and return the LM. "
        "Read: https://dspy.ai/learn/programming/language_models/")


# ---------------------------------------------------------------- the data
def render_history(turns):
    """Render dialogue turns as text, one ``Role: content`` line per turn.

    Every example renders its history the same way, so the model (and the
    optimizer's demos) always see one consistent format.

    Not graded: the exact layout (the replay matches the words); graded:
    every earlier turn's text is there.
    """
    raise NotImplementedError(
        "TODO: join the turns as 'Teacher: ...' / 'Student: ...' lines; return NO_HISTORY for an "
        "empty list. "
        "Read: https://dspy.ai/learn/evaluation/data/")


def dialogue_to_examples(dialogue):
    """Turn one dialogue into examples: one per student turn that follows a teacher turn.

    The history is every turn *before* the teacher's prompt; it never contains
    the reply being predicted or anything said after it. The gold label is the
    real student turn. ``dialogue`` is a list of ``{"role", "content"}`` turns
    (or a record ``{"dialogue": [...]}``).
    """
    raise NotImplementedError(
        "TODO: build one dspy.Example(conversation_history=..., teacher_prompt=..., "
        "student_response=...) per teacher->student pair, with .with_inputs(*INPUT_FIELDS); "
        "remember which dialogue it came from. "
        "Read: https://dspy.ai/learn/evaluation/data/")


def load_examples(path=DIALOGUES_FILE):
    """Load every example from a dialogues JSONL file, in file order."""
    raise NotImplementedError(
        "TODO: load_dialogues(path), then dialogue_to_examples for each. "
        "Read: https://dspy.ai/learn/evaluation/data/")


def split_examples(examples, dev_fraction=0.25, seed=0):
    """Split examples into (train, dev) by *dialogue*, deterministically.

    Examples of one dialogue share its history, so putting some in train and
    others in dev would leak answers into the dev score. Whole dialogues are
    shuffled with a seeded generator and about ``dev_fraction`` of them go to
    dev; both lists keep the original example order.
    """
    raise NotImplementedError(
        "TODO: shuffle the dialogue ids with random.Random(seed), send about dev_fraction of the "
        "dialogues to dev and the rest to train. "
        "Read: https://dspy.ai/learn/evaluation/data/")


# ---------------------------------------------------------------- the metrics
# Each metric follows DSPy's contract: with ``trace=None`` (evaluation) it
# returns a float in [0, 1]; during bootstrapping (``trace`` given) it returns
# a bool saying whether the prediction is good enough to become a demo.
METRICS_URL = "https://dspy.ai/learn/evaluation/metrics/"


def answers_the_question(example, prediction, trace=None):
    """Score whether the reply takes up what the teacher asked.

    Conversational *uptake* — a reply building on the previous speaker's words —
    is a standard signal in classroom-discourse research. We measure it as word
    overlap: the share of the gold reply's content words the prediction reuses,
    or of the teacher prompt's content words, whichever is higher. An off-topic
    reply shares neither and scores near 0.

    Not graded: the exact formula; graded: the metric contract and that
    the real reply ranks first.
    """
    raise NotImplementedError(f"TODO: score uptake of the teacher's question. Read: {METRICS_URL}")


def student_voice(example, prediction, trace=None):
    """Score whether the reply sounds like a student, not a teacher.

    Evaluations of simulated students check *role consistency*: a simulator
    that starts praising, explaining or asking Socratic questions has drifted
    into the tutor's role. Each teacher-talk marker ("great question", "let's",
    "what do you think"...) costs a third of the score.

    Not graded: the exact scale; graded: the metric contract and that the
    real reply ranks first.
    """
    raise NotImplementedError(f"TODO: penalise teacher-talk markers. Read: {METRICS_URL}")


def plausible_length(example, prediction, trace=None):
    """Score whether the reply is about as long as a student's turn would be.

    Learner turns in tutoring transcripts are short compared with teacher
    turns; a simulated student that writes paragraphs is not realistic. The
    score is 1 when the reply has between half and twice the gold reply's
    words, and falls off outside that band (0 for an empty reply).

    Not graded: the exact band; graded: the metric contract and that the
    real reply ranks first.
    """
    raise NotImplementedError(f"TODO: compare the length with the gold's. Read: {METRICS_URL}")


def shows_reasoning_or_misconception(example, prediction, trace=None):
    """Score whether the reply shows the student's thinking when the moment calls for it.

    Student-simulation studies value replies that reveal partial understanding
    or misconceptions — hedges ("I think", "maybe"), self-corrections ("oh,
    wait"), reasons ("because") — since those give a tutor something to work
    with. The gold reply tells us whether this moment calls for visible
    thinking: the score is 1 when the prediction matches it (thinking shown
    or a plain answer), 0.25 when it does not.

    Not graded: the exact values; graded: the metric contract and that the
    real reply ranks first.
    """
    raise NotImplementedError(f"TODO: detect visible thinking. Read: {METRICS_URL}")


METRICS = (answers_the_question, student_voice, plausible_length, shows_reasoning_or_misconception)


def teaching_quality(example, prediction, trace=None):
    """How good a simulated student's reply is: the weighted mean of METRICS.

    Returns a float in [0, 1] for evaluation; while bootstrapping (``trace``
    given) returns True only when the score reaches ``PASS_THRESHOLD``, so
    only good replies become few-shot demos. Graded: the real student reply
    must score higher than an off-topic or a teacher-voiced reply, and while
    bootstrapping only the real reply may pass. Choose the weights (or an
    extra rule) so that this holds: with equal weights an off-topic reply
    that is short, student-voiced and hedged still scores about 0.75 and
    would pass, so the uptake metric (``answers_the_question``) needs a
    large share, or the reply must pass it as well.
    """
    raise NotImplementedError(f"TODO: combine METRICS into one score. Read: {METRICS_URL}")


# ---------------------------------------------------------------- evaluate, optimize, save
def evaluate(program, devset):
    """Mean teaching_quality of ``program`` on ``devset``, in [0, 1] (via dspy.Evaluate)."""
    raise NotImplementedError(
        "TODO: run dspy.Evaluate(devset=..., metric=teaching_quality) and scale its percentage to "
        "[0, 1]. "
        "Read: https://dspy.ai/learn/evaluation/overview/")


def optimize(trainset, max_bootstrapped_demos=4, max_labeled_demos=4):
    """Compile a StudentSimulationModel with BootstrapFewShot.

    The optimizer runs the program on training examples; replies that pass
    ``teaching_quality`` become demonstrations in the prompt (at most
    ``max_bootstrapped_demos``), topped up with plain labeled examples up to
    ``max_labeled_demos``. Each limit goes to the ``BootstrapFewShot``
    parameter of the same name, the metric is ``teaching_quality``, the
    program is compiled on the whole ``trainset``, and what ``compile``
    returns (the compiled program) is returned.
    """
    raise NotImplementedError(
        "TODO: dspy.BootstrapFewShot(metric=teaching_quality, ...).compile(...). "
        "Read: https://dspy.ai/api/optimizers/BootstrapFewShot/")


def save_program(program, path):
    """Save a (compiled) program's state — its demos and instructions — as JSON."""
    raise NotImplementedError(
        "TODO: program.save(path) to a .json file. "
        "Read: https://dspy.ai/tutorials/saving/")


def load_program(path):
    """Load a program saved by save_program into a fresh StudentSimulationModel."""
    raise NotImplementedError(
        "TODO: StudentSimulationModel().load(path). "
        "Read: https://dspy.ai/tutorials/saving/")


# ---------------------------------------------------------------- the whole flow
def run_experiment(train_size=16, dev_size=12, seed=0, save_path=None):
    """Split, evaluate, optimize, evaluate again; return the figures as a dict.

    Uses the language model already configured (see configure_lm). The
    examples are split with ``split_examples(load_examples(), seed=seed)``;
    the program is compiled on (at most ``train_size``) training examples
    only and scored on (at most ``dev_size``) dev examples only, so the dev
    score measures examples the optimizer never saw. With ``save_path`` the
    compiled program is saved there as JSON. The dict has (at least) these
    keys, which the analysis checks read: ``train_examples`` and
    ``dev_examples`` (how many were used), ``metric_before`` and
    ``metric_after`` (evaluate() on dev before and after optimizing, in
    [0, 1]) and ``lm_calls`` (language-model calls made during this run
    alone, also when the LM answered calls before it);
    ``model``, ``demos`` and ``seconds`` are not graded.
    """
    raise NotImplementedError(
        "TODO: return {'metric_before', 'metric_after', 'lm_calls', 'train_examples', "
        "'dev_examples', 'seconds', ...}. "
        "Read: https://dspy.ai/learn/optimization/optimizers/")


def _say(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    """Command-line entry: run the experiment offline (replayed) or live."""
    from grader.replay_dspy import RecordingMissingError, replay

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true",
                        help="call the real model (needs OPENAI_API_KEY) instead of the recordings")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model (default {DEFAULT_MODEL})")
    parser.add_argument("--save", default=None, help="save the compiled program to this .json file")
    args = parser.parse_args(argv)
    if args.live and not os.environ.get("OPENAI_API_KEY"):
        parser.error("--live needs OPENAI_API_KEY in the environment")
    try:
        # DSPy's optimizers print progress; stdout is kept for the JSON result.
        with contextlib.redirect_stdout(sys.stderr):
            if args.live:
                configure_lm(args.model, live=True)
                results = run_experiment(save_path=args.save)
            else:
                _say("replaying recorded model calls (use --live for a real model)")
                with replay():
                    configure_lm(args.model)
                    results = run_experiment(save_path=args.save)
    except NotImplementedError as exc:
        _say(f"not implemented yet: {exc}")
        return 1
    except RecordingMissingError as exc:
        _say(str(exc))
        return 1
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
