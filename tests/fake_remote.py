"""A stand-in for a remote Snowflake account on a loopback port, for fault tests.

It speaks only as much of the REST protocol as a login needs (the connector's
auth/_auth.py reads data.token, masterToken, sessionId, sessionInfo, parameters) and
then misbehaves as asked: refuse the login, answer it with something that is not JSON,
answer a statement with a broken result, or go silent after login (accept connections
and never answer: a black hole).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSE, ACCEPT_THEN_SILENT, GARBAGE = "refuse", "accept-then-silent", "garbage"
# Logs in, then answers a statement with a success that lacks its result (the client breaks on it).
BROKEN_RESULT = "broken-result"


@dataclass
class Remote:
    port: int
    mode: str
    release: threading.Event = field(default_factory=threading.Event)
    silent: threading.Event = field(default_factory=threading.Event)
    queries_seen: threading.Event = field(default_factory=threading.Event)


def _handler(remote: Remote) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def _reply(self, payload: dict | bytes) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _hang(self) -> None:
            remote.release.wait()  # never answers while the test runs

        def do_HEAD(self) -> None:
            if remote.silent.is_set():
                return self._hang()
            self.send_response(404)
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            if remote.silent.is_set():
                return self._hang()
            if self.path.startswith("/session/v1/login-request"):
                return self._login()
            if self.path.startswith("/queries/v1/query-request") and remote.mode == BROKEN_RESULT:
                return self._reply({"success": True, "code": None, "message": None, "data": {"queryId": "q1"}})
            if self.path.startswith("/queries/v1/query-request"):
                remote.silent.set()  # from the first statement on, nothing answers
                remote.queries_seen.set()
                return self._hang()
            self._reply({"success": True, "data": {}, "code": None, "message": None})

        def _login(self) -> None:
            if remote.mode == REFUSE:
                return self._reply(
                    {
                        "success": False,
                        "code": "390100",
                        "message": "Incorrect username or password was specified.",
                        "data": {"errorCode": "390100"},
                    }
                )
            if remote.mode == GARBAGE:
                return self._reply(b"<html>not a Snowflake answer</html>")
            self._reply(
                {
                    "success": True,
                    "code": None,
                    "message": None,
                    "data": {
                        "token": "session-token",
                        "masterToken": "master-token",
                        "sessionId": 1,
                        "validityInSeconds": 3600,
                        "masterValidityInSeconds": 14400,
                        "parameters": [],
                        "sessionInfo": {"databaseName": None, "schemaName": None, "roleName": "R"},
                    },
                }
            )

    return Handler


@contextmanager
def remote_account(mode: str) -> Iterator[Remote]:
    """A fake account on 127.0.0.1 behaving as `mode`; released and closed after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Remote(0, mode)))
    remote = Remote(server.server_address[1], mode)
    server.RequestHandlerClass = _handler(remote)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield remote
    finally:
        remote.release.set()
        server.shutdown()
        server.server_close()
