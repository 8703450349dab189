# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: open a connection to the outside world
import socket

socket.create_connection(("example.com", 80), timeout=5).sendall(b"GET / HTTP/1.0\r\n\r\n")
