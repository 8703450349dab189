"""Your novel evaluation metric for the simulated student (Creativity & Enhancement).

The baseline metric, ``dspy_example.teaching_quality``, scores a simulated
student's reply. Design a metric of your own that captures something it does
not (for example: does the reply sound like a learner working something out,
does it keep the misconception the history set up, does it stay on the topic
the teacher asked about) and explain it in ANALYSIS.md, section 6.

How it is registered: the grader calls ``novel_metric`` in this module, so
keep that name and signature; you may add helper functions around it.
It must follow DSPy's metric contract -- ``(example, prediction, trace=None)``,
returning a float in [0, 1] when ``trace is None`` and a bool while
bootstrapping (``trace`` given) -- be deterministic (no randomness, no model
calls), and rank realistic student replies above lectures, off-topic replies,
empty replies and the prompt parroted back.
"""

from __future__ import annotations


def novel_metric(example, prediction, trace=None):
    """Score ``prediction.student_response`` for ``example``: a float in [0, 1], or a bool.

    ``example`` has ``conversation_history``, ``teacher_prompt`` and the real
    ``student_response``; ``prediction`` has the simulated ``student_response``.
    Return a float in [0, 1] when ``trace is None``; while bootstrapping
    (``trace`` given) return True only for a reply good enough to be a demo.

    Graded on 12 pairs: a realistic student reply must score above a bad one
    in at least 10. The bad replies are a teacher's lecture, an off-topic
    reply, an empty reply, the teacher's prompt parroted back, and an
    AI-assistant disclaimer ("As an AI language model, I can provide...").
    """
    raise NotImplementedError(
        "TODO: write a deterministic metric of your own with DSPy's metric contract. "
        "Read: https://dspy.ai/learn/evaluation/metrics/"
    )
