"""Where the kit's files are: the repository root, computed once, and the folders in it."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
FIXTURES_DIR = REPO_ROOT / "fixtures"
CASSETTES_DIR = FIXTURES_DIR / "cassettes"
SCHEMA_DIR = DATA_DIR / "schemas"
