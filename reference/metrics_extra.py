"""A novel evaluation metric for the simulated student: *learner authenticity*.

The baseline metric (``dspy_example.teaching_quality``) asks whether a reply
answers the teacher and sounds like a student. This one asks a different
question, taken from how real learners talk in tutoring transcripts: does the
reply sound like someone *working something out*? Real students stay on the
topic they were asked about, use their own words rather than echoing the
teacher, keep it short, and often hedge ("I think", "maybe", a question back).
A simulator that lectures, parrots the prompt, wanders off or speaks like an
AI assistant is useless for training tutors, however fluent it is.

How it is registered: the grader (and DSPy) call ``novel_metric`` in this
module. It follows DSPy's metric contract -- ``(example, prediction,
trace=None)``, a float in [0, 1] for evaluation, a bool while bootstrapping --
so it can be passed to ``dspy.Evaluate(metric=...)`` or
``dspy.BootstrapFewShot(metric=...)`` exactly like the baseline. It is
deterministic: plain word counting, no model, no randomness.
"""

from __future__ import annotations

import re

# A bootstrapped demo must at least reach this score.
PASS_THRESHOLD = 0.6

STOPWORDS = frozenset("""
a an the and or but if so of to in on at by for with from as is are was were be been it its
this that these those i you he she we they me my your our their do does did not no yes what
why how when where which who can could would should will just like um uh oh ok okay well
think guess maybe really very about into than then there here them his her because also
""".split())

# Phrases a teacher or an AI assistant uses, and a learner almost never does.
NOT_A_LEARNER = (
    "great question", "let me explain", "let me tell you", "let's work", "let's look",
    "as an ai", "language model", "i can provide", "open your books", "class,", "you should",
    "remember to", "can you think of", "in more detail", "is defined as", "is the process",
)
# Tentative language: learners thinking aloud.
HEDGES = ("i think", "maybe", "i guess", "not sure", "um", "or is", "perhaps", "kind of",
          "like,", "?")

MIN_WORDS, MAX_WORDS = 3, 45


def _words(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def _content(text):
    return {w for w in _words(text) if w not in STOPWORDS and len(w) > 1}


def on_topic(reply, context):
    """Share of the topic kept: 1.0 when the reply uses two or more words of the context."""
    shared = _content(reply) & _content(context)
    return min(1.0, len(shared) / 2)


def own_words(reply, teacher_prompt):
    """1.0 unless the reply echoes the teacher's prompt (word overlap above one half)."""
    mine, theirs = set(_words(reply)), set(_words(teacher_prompt))
    if not mine or not theirs:
        return 1.0
    overlap = len(mine & theirs) / len(mine | theirs)
    return max(0.0, min(1.0, (0.9 - overlap) / 0.4))


def learner_register(reply):
    """0.0 for a reply with a teacher's or an AI assistant's phrases, else 1.0."""
    lower = reply.lower()
    return 0.0 if any(phrase in lower for phrase in NOT_A_LEARNER) else 1.0


def length_fit(reply):
    """1.0 for 3 to 45 words; shorter or longer replies score less, down to 0."""
    count = len(_words(reply))
    if count < MIN_WORDS:
        return count / MIN_WORDS
    if count > MAX_WORDS:
        return max(0.0, 1 - (count - MAX_WORDS) / MAX_WORDS)
    return 1.0


def tentative(reply):
    """1.0 when the reply hedges or asks back, 0.5 when it states things flatly."""
    lower = reply.lower()
    return 1.0 if any(hedge in lower for hedge in HEDGES) else 0.5


def learner_authenticity(example, prediction, trace=None):
    """How much a reply sounds like a real learner working something out, in [0, 1].

    On-topic content is a gate: a reply about something else scores at most a
    quarter, however student-like it sounds. The rest is a weighted mean of
    own words, learner register, length and tentativeness.
    """
    reply = str(getattr(prediction, "student_response", "") or "")
    context = " ".join(str(getattr(example, key, "") or "") for key in
                       ("teacher_prompt", "student_response", "conversation_history"))
    topic = on_topic(reply, context)
    manner = (0.3 * own_words(reply, str(getattr(example, "teacher_prompt", "") or ""))
              + 0.35 * learner_register(reply) + 0.2 * length_fit(reply) + 0.15 * tentative(reply))
    score = manner * (0.25 + 0.75 * topic)
    if trace is None:
        return score
    return score >= PASS_THRESHOLD


def novel_metric(example, prediction, trace=None):
    """The registered novel metric (DSPy contract): :func:`learner_authenticity`."""
    return learner_authenticity(example, prediction, trace)
