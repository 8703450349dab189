"""The signed result stream between the sandboxed child and its supervisor.

The child writes numbered JSON records, each followed by a tab and its
HMAC-SHA256 under a key only the supervisor and the child know (it reaches the
child on stdin before any student code is imported). :func:`parse_stream`
verifies them; anything unsigned, reordered or malformed is a problem the
supervisor reports as tampering. Both trust domains import this module; it
imports nothing of the kit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading


class Stream:
    """The child's end: numbered records, each signed with the run's key."""

    def __init__(self, fd: int, key: bytes):
        self._fd, self._key, self._seq = fd, key, 0
        self._lock = threading.Lock()

    def send(self, kind: str, data: dict) -> None:
        """Append one signed record; a closed pipe is left for the supervisor to notice."""
        with self._lock:
            self._seq += 1
            body = json.dumps({"seq": self._seq, "kind": kind, "data": data},
                              separators=(",", ":"), default=str)
            mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
            raw = f"{body}\t{mac}\n".encode()
            try:
                while raw:
                    raw = raw[os.write(self._fd, raw):]
            except OSError:  # the pipe was closed (by student code?): the parent will notice
                pass


def parse_stream(raw: bytes, key: bytes) -> tuple[list[dict], list[str]]:
    """Verify and decode the stream; return (records, problems)."""
    records, problems, expected = [], [], 1
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line:
            continue
        body, _, mac = line.rpartition(b"\t")
        good = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if not body or not hmac.compare_digest(good, mac.strip()):
            problems.append(f"an unsigned record appeared in the result stream (line {number})")
            continue
        record = json.loads(body)
        if record.get("seq") != expected:
            problems.append(f"result stream out of order at record {record.get('seq')}")
        expected = record.get("seq", expected) + 1
        records.append(record)
    return records, problems
