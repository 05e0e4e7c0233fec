"""The test side of localsnow.faults: arm a rule, wait until a request reaches it, release it.

Waiting here is waiting for an event (a file the server writes), bounded only so that a broken run
fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localsnow.faults import DONE, FAIL, GATE_ENV, PROCEED, REACHED, RELEASE, RULE

__all__ = ["GATE_ENV", "FaultGate", "Rule"]

EVENT_BOUND_S = 180.0  # generous: a loaded 2-core machine; only proves "does not hang"
_POLL_S = 0.02


@dataclass(frozen=True)
class Rule:
    """Hold the first statement matching `match` before or after it runs, or an upload (path) mid-body."""

    when: str  # before | after | upload
    match: str
    after_bytes: int = 0

    @property
    def release_action(self) -> str:
        # Held before it ran: the dead client never sent it, so it must not run. Otherwise it ran (or the
        # body is cut off): let the server finish the request as it would for a vanished client.
        return FAIL if self.when == "before" else PROCEED


def wait_for(condition: Callable[[], bool], what: str, bound_s: float = EVENT_BOUND_S) -> None:
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {bound_s:g} s")
        time.sleep(_POLL_S)


class FaultGate:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def clear(self) -> None:
        for name in (RULE, REACHED, RELEASE, DONE):
            (self.folder / name).unlink(missing_ok=True)

    def arm(self, rule: Rule) -> None:
        self.clear()
        temp = self.folder / f"{RULE}.tmp"
        temp.write_text(json.dumps({"when": rule.when, "match": rule.match, "after_bytes": rule.after_bytes}))
        os.replace(temp, self.folder / RULE)  # the server never reads half a rule

    def wait_reached(self, process: subprocess.Popen[bytes], output: Callable[[], str]) -> dict:
        """Until a request is held at the gate; fails if `process` ends first (it never got there)."""

        def reached() -> bool:
            if (self.folder / REACHED).exists():
                return True
            if process.poll() is not None:
                raise AssertionError(f"the apply ended (exit {process.returncode}) before the gate:\n{output()}")
            return False

        wait_for(reached, "no request reached the fault gate")
        return json.loads((self.folder / REACHED).read_text())  # written whole (localsnow.faults.Gate.fire)

    def release(self, rule: Rule) -> None:
        """Disarm, let the held request go, and wait until the server has finished it."""
        (self.folder / RULE).unlink(missing_ok=True)
        (self.folder / RELEASE).write_text(rule.release_action)
        wait_for((self.folder / DONE).exists, "the held request did not finish after its release")
        self.clear()
