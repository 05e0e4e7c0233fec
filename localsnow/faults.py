"""A test-only fault gate: hold one statement or upload at a chosen point until a test lets it go.

Crash-safety tests (tests/test_crash_safety.py) kill `deploy apply`, or this server, at a precise step
without any timing: the server is started with ``LOCALSNOW_FAULT_GATE=<dir>``, the test writes a rule
to ``<dir>/rule.json``, and the first request matching it writes ``<dir>/reached`` and blocks until
``<dir>/release`` appears. The test kills whatever it wants meanwhile, then releases the gate; the
server writes ``<dir>/done`` once the held request has finished. Without the variable nothing here
runs: ``statement`` calls straight through and ``middleware`` adds none.

Rule (JSON): ``{"when": "before" | "after" | "upload", "match": REGEX, "after_bytes": N}``

- ``before``: a statement whose text matches ``match`` (``re.search``), before it runs. Released with
  ``fail`` (the default) it is answered with an error and never runs: the client died before sending
  it. A statement a dead client did send still runs to the end in Snowflake (parameter
  ABORT_DETACHED_QUERY, default FALSE: "in-progress queries are completed", docs
  sql-reference/parameters), which is what ``after`` models.
- ``after``: the statement ran (a delegated one: once it succeeded); the client waits for its answer.
- ``upload``: a stage-file upload (the signed PUT of the connector, localsnow.context.BUCKET_ROUTE)
  whose stage-relative path matches, once ``after_bytes`` bytes of its body arrived (or the whole body,
  if shorter). A client killed there leaves the server a truncated body and a closed connection.

The gate fires once: ``reached`` is created exclusively and a rule never fires while it exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from localsnow import errors
from localsnow.context import BUCKET_ROUTE, Context, Delegate, Outcome

GATE_ENV = "LOCALSNOW_FAULT_GATE"
RULE, REACHED, RELEASE, DONE = "rule.json", "reached", "release", "done"
PROCEED, FAIL = "proceed", "fail"
# A held request gives up after this long (a test that died without releasing it), answering an error.
HOLD_LIMIT_S = 600.0
_POLL_S = 0.01  # how often a held request looks for the release file

logger = logging.getLogger("localsnow.faults")


@dataclass(frozen=True)
class Rule:
    when: str
    match: re.Pattern[str]
    after_bytes: int = 0


class Gate:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def rule(self, when: str, text: str) -> Rule | None:
        """The armed rule for this point and text, if any (none once the gate has fired)."""
        if (self.folder / REACHED).exists():
            return None
        try:
            raw = json.loads((self.folder / RULE).read_text("utf-8"))
            rule = Rule(raw["when"], re.compile(raw["match"]), int(raw.get("after_bytes", 0)))
        except (OSError, ValueError, KeyError, re.error):
            return None
        return rule if rule.when == when and rule.match.search(text) else None

    def fire(self, when: str, text: str, received: int | None = None) -> bool:
        """Claim the gate (once): write `reached`; False when another request claimed it first."""
        info = {"when": when, "text": text[:1000], "bytes": received}
        temp = self.folder / f".{REACHED}-{os.getpid()}-{threading.get_ident()}"
        temp.write_text(json.dumps(info), "utf-8")
        try:
            os.link(temp, self.folder / REACHED)  # atomic and exclusive: one request claims it, whole
        except FileExistsError:
            return False
        finally:
            temp.unlink()
        logger.warning("fault gate reached %s: %s", when, text[:200])
        return True

    def released(self) -> str | None:
        """The release action once the test wrote it, else None."""
        try:
            action = (self.folder / RELEASE).read_text("utf-8").strip() or FAIL
        except FileNotFoundError:
            return None
        return action if action in (PROCEED, FAIL) else FAIL

    def wait(self) -> str:
        """Block this thread until released; the action."""
        deadline = time.monotonic() + HOLD_LIMIT_S
        while (action := self.released()) is None:
            if time.monotonic() > deadline:
                return FAIL
            time.sleep(_POLL_S)
        return action

    async def wait_async(self) -> str:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while (action := self.released()) is None:
            if time.monotonic() > deadline:
                return FAIL
            await asyncio.sleep(_POLL_S)
        return action

    def done(self) -> None:
        (self.folder / DONE).write_text("done", "utf-8")
        logger.warning("fault gate released")

    def hold_statement(self, when: str, sql: str) -> None:
        """If a rule holds `sql` at `when`: wait for the release; `fail` answers an error instead."""
        if self.rule(when, sql) is None or not self.fire(when, sql):
            return
        action = self.wait()
        self.done()
        if action == FAIL:
            raise errors.sql_error("Statement dropped by the local Snowflake's fault gate (a test).", 100000, "57014")


def _gate() -> Gate | None:
    folder = os.environ.get(GATE_ENV)
    return Gate(Path(folder)) if folder else None


_GATE = _gate()  # read once, when the server imports this module


def statement(dispatch: Callable[[Context, str], Outcome], ctx: Context, sql: str) -> Outcome:
    """``dispatch(ctx, sql)``, held before or after it runs when a rule says so."""
    if _GATE is None:
        return dispatch(ctx, sql)
    gate = _GATE
    gate.hold_statement("before", sql)
    outcome = dispatch(ctx, sql)
    if not isinstance(outcome, Delegate):  # answered here: it ran
        gate.hold_statement("after", sql)
        return outcome
    first = outcome.after

    def then_hold() -> None:  # a delegated statement runs later, in the server; this runs once it succeeded
        if first is not None:
            first()
        gate.hold_statement("after", sql)

    return replace(outcome, after=then_hold)


class _UploadGate:
    """ASGI middleware: holds a matching upload's body after `after_bytes`, notes when its request ended."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        gate = _GATE
        path = scope.get("path", "") if scope.get("type") == "http" and scope.get("method") == "PUT" else ""
        relative = unquote(path[len(BUCKET_ROUTE) + 1 :]) if path.startswith(f"{BUCKET_ROUTE}/") else ""
        rule = gate.rule("upload", relative) if gate is not None and relative else None
        if gate is None or rule is None:
            await self.app(scope, receive, send)
            return
        received, fired = 0, False

        async def held_receive() -> dict[str, Any]:
            nonlocal received, fired
            message = await receive()
            if message.get("type") == "http.request" and not fired:
                received += len(message.get("body", b""))
                if received >= rule.after_bytes or not message.get("more_body", False):
                    fired = gate.fire("upload", relative, received)
                    if fired:
                        await gate.wait_async()
            return message

        try:
            await self.app(scope, held_receive, send)
        finally:
            if fired:
                gate.done()  # the held upload's request has finished, stored or abandoned


def middleware() -> list[Any]:
    """Starlette middleware for create_app: the upload gate when enabled, else none."""
    if _GATE is None:
        return []
    from starlette.middleware import Middleware

    return [Middleware(_UploadGate)]
