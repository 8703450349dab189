"""``python -m grader record [--target simulator|live]``: re-record every cassette.

``simulator`` (the default) starts the kit's OpenAI-compatible simulator on
127.0.0.1, records the reference code's calls against it and stops it: free,
offline and deterministic. ``live`` records against the real OpenAI API with
``OPENAI_API_KEY`` (billed; fine-tuning jobs really train). Either way the
key is sent to the server only: request and response headers carrying
credentials are removed before a cassette is written, and this command
checks the written files for the key before it reports success.

It prints which cassettes changed, comparing each file's hash before and after.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path

from ..settings import CASSETTES_DIR as CASSETTES

# The modules that know how to record: each has record(base_url, api_key, live) -> [paths].
RECORDERS = ("grader.commands.record_dspy", "grader.commands.record_openai")


def add_arguments(parser) -> None:
    """Options of ``record``."""
    parser.add_argument("--target", choices=("simulator", "live"), default="simulator",
                        help="record against the local simulator (default) or the real API")
    parser.add_argument("--only", choices=("dspy", "openai"),
                        help="record one approach's cassettes only")


def _hashes(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _leaks(paths, secret: str | None) -> list[str]:
    """Cassettes that contain the secret (they must not be kept)."""
    if not secret:
        return []
    return [str(p) for p in paths if Path(p).is_file() and secret.encode() in Path(p).read_bytes()]


def run(args) -> int:
    """Record; exit 1 when a recorder fails or a secret was written, 2 on missing key."""
    live = args.target == "live"
    api_key = os.environ.get("OPENAI_API_KEY") if live else None
    if live and not api_key:
        print("record: --target live needs your OpenAI API key in the OPENAI_API_KEY "
              "environment variable (it is never written to a cassette)", file=sys.stderr)
        return 2
    before = _hashes(CASSETTES)
    written: list[Path] = []
    failures = []
    server = None
    try:
        base_url = None
        if not live:
            from ..simulator import serve

            server = serve()
            base_url = server.__enter__().base_url
            print(f"record: simulator listening on {base_url}")
        for name in RECORDERS:
            if args.only and not name.endswith(args.only):
                continue
            try:
                recorder = importlib.import_module(name)
                paths = recorder.record(base_url, api_key, live) or []
                written += [Path(p) for p in paths]
                print(f"record: {name.rsplit('_', 1)[-1]}: {len(paths)} cassette(s) written")
            except Exception as exc:  # noqa: BLE001 - report every recorder's failure
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    leaked = _leaks(written, api_key)
    for path in leaked:
        Path(path).unlink()
        failures.append(f"{path} contained the API key and was deleted")
    after = _hashes(CASSETTES)
    changed = sorted(n for n in after if n in before and after[n] != before[n])
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    unchanged = len([n for n in after if before.get(n) == after[n]])
    for label, names in (("changed", changed), ("new", added), ("removed", removed)):
        for name in names:
            print(f"  {label:8} fixtures/cassettes/{name}")
    print(f"record: {len(changed)} changed, {len(added)} new, {len(removed)} removed, "
          f"{unchanged} unchanged")
    for failure in failures:
        print(f"record: failed: {failure}", file=sys.stderr)
    return 1 if failures else 0
