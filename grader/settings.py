"""One home for the kit's paths and run settings.

- Paths: the repository root, computed once, and the folders in it.
- The hermetic environment every grading process runs with (offline model
  hub, LiteLLM's bundled price list, a fresh DSPy cache): :func:`hermetic_env`.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SCHEMA_DIR = DATA_DIR / "schemas"
FIXTURES_DIR = REPO_ROOT / "fixtures"
CASSETTES_DIR = FIXTURES_DIR / "cassettes"


# What the grader sends where an API key is needed but none must be used: replayed
# requests (LiteLLM and the OpenAI SDK refuse to build a request without a key) and
# recordings against the kit's simulator. Never a real key; never written to a cassette.
PLACEHOLDER_API_KEY = "placeholder-not-a-key"

# Variables from the student's shell that would change where (or as whom) a replayed
# request is sent: a grading run removes them, so the grade never depends on them.
# (API keys are handled by the replay itself, which sets a placeholder.)
SHELL_VARIABLES_REMOVED = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID",
                           "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID")


def hermetic_env(dspy_cache: str | Path | None = None) -> dict[str, str]:
    """The environment variables that keep a grading run offline and repeatable.

    Set them before anything imports dspy, litellm or transformers: the
    model hub and datasets stay offline, LiteLLM reads the price list it
    ships instead of downloading one, tokenizers do not fork threads, and
    ``dspy_cache`` (when given) is DSPy's cache folder, fresh for each run so
    no answer is served from an earlier one.
    """
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if dspy_cache is not None:
        env["DSPY_CACHEDIR"] = str(dspy_cache)
    return env
