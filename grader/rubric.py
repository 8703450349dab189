"""The rubric: the one place that holds the weights.

Every graded check declares ``@pytest.mark.rubric(category, approach, points=...)``.
At collection the plugin sums the declared points per (category, approach) cell
and refuses to grade unless every cell equals :func:`budget` below.

Criteria are points out of 100. Inside each criterion, ``CROSS_CUTTING_POINTS``
belong to checks that span all approaches (``approach=None``); the rest is split
between the approaches by ``APPROACH_SHARE`` (DSPy 40%, OpenAI 30%, LoRA 30%).
"""

from __future__ import annotations

CATEGORY_POINTS: dict[str, float] = {
    "technical": 40.0,
    "analysis": 30.0,
    "creativity": 20.0,
    "presentation": 10.0,
}

CATEGORY_TITLES: dict[str, str] = {
    "technical": "Technical Implementation",
    "analysis": "Analysis & Understanding",
    "creativity": "Creativity & Enhancement",
    "presentation": "Presentation",
}

APPROACH_SHARE: dict[str, float] = {"dspy": 0.4, "openai": 0.3, "lora": 0.3}

APPROACH_TITLES: dict[str, str] = {"dspy": "DSPy", "openai": "OpenAI", "lora": "LoRA"}

# Points of each criterion that belong to cross-cutting checks (approach=None).
CROSS_CUTTING_POINTS: dict[str, float] = {
    "technical": 0.0,
    "analysis": 10.0,
    "creativity": 10.0,
    "presentation": 10.0,
}

# At most this many points in all may be "review" points (judged by a person).
MAX_REVIEW_POINTS = 10.0

TOTAL_POINTS = sum(CATEGORY_POINTS.values())

EPSILON = 1e-9


def budget(category: str, approach: str | None) -> float:
    """Points the checks of one (category, approach) cell must add up to."""
    cross = CROSS_CUTTING_POINTS[category]
    if approach is None:
        return cross
    return round((CATEGORY_POINTS[category] - cross) * APPROACH_SHARE[approach], 9)


def cells() -> list[tuple[str, str | None]]:
    """Every (category, approach) cell of the rubric, in report order."""
    return [(c, a) for c in CATEGORY_POINTS for a in [*APPROACH_SHARE, None]]


def check_consistency(declared: dict[tuple[str, str | None], float]) -> list[str]:
    """Compare declared points per cell with the budget; return the problems found."""
    problems = []
    for category, approach in cells():
        want = budget(category, approach)
        got = declared.get((category, approach), 0.0)
        if abs(want - got) > 1e-6:
            where = f"{category}/{approach or 'cross-cutting'}"
            problems.append(f"{where}: checks declare {got:g} points, the rubric needs {want:g}")
    return problems
