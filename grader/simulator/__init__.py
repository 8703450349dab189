"""A local OpenAI-compatible simulator, used to record the kit's cassettes.

The shipped cassettes in ``fixtures/cassettes/`` were recorded by running the
reference code against this server on 127.0.0.1, not against OpenAI. It is
deterministic: the same requests give the same answers, so re-recording gives
the same cassettes. Instructors can re-record against the real API instead
(``python -m grader record --target live``).

Endpoints are registered by the modules of this package:

- ``chat``: ``POST /v1/chat/completions`` answering as a simulated student
  (DSPy) or teacher (a fine-tuned model);
- ``finetune``: ``/v1/files`` and ``/v1/fine_tuning/jobs...`` with deterministic
  job progress.

Start it with :func:`serve` (a context manager) or ``python -m grader.simulator``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[["Request"], tuple[int, dict]]
ROUTES: list[tuple[str, re.Pattern, Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register ``handler(request) -> (status, json_body)`` for METHOD and a path regex."""

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


class Request:
    """What a route handler sees: method, path, match groups, query, headers, body."""

    def __init__(self, method, path, match, query, headers, body: bytes, state):
        self.method, self.path, self.match, self.query = method, path, match, query
        self.headers, self.body, self.state = headers, body, state

    def json(self) -> dict:
        """The request body parsed as JSON (an empty dict when there is none)."""
        return json.loads(self.body or b"{}")


def error(status: int, message: str, kind: str = "invalid_request_error") -> tuple[int, dict]:
    """An error body shaped like OpenAI's."""
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


class SimulatorServer(ThreadingHTTPServer):
    """The HTTP server; ``state`` is shared by the handlers (files, jobs, clocks)."""

    daemon_threads = True

    def __init__(self, address=("127.0.0.1", 0)):
        _load_routes()
        super().__init__(address, _RequestHandler)
        self.state: dict = {}

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL clients should use."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silence the default access log
        pass

    def _dispatch(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if route_method == method and match:
                request = Request(method, path, match, query, dict(self.headers), body,
                                  self.server.state)
                try:
                    status, payload = handler(request)
                except Exception as exc:  # noqa: BLE001 - report, never kill the server
                    status, payload = error(500, f"simulator error: {type(exc).__name__}: {exc}",
                                            "server_error")
                break
        else:
            status, payload = error(404, f"the simulator has no route for {method} {path}")
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")


def _load_routes() -> None:
    """Import the endpoint modules so their routes register (once)."""
    import importlib

    for name in ("chat", "finetune"):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"{__name__}.{name}")


@contextlib.contextmanager
def serve(port: int = 0) -> Iterator[SimulatorServer]:
    """Run the simulator on 127.0.0.1 in a background thread; stop it on exit."""
    server = SimulatorServer(("127.0.0.1", port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
