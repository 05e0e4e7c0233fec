"""Counting the connector's polls of a statement the server answered "in progress"."""

from __future__ import annotations

import logging
import threading


class PingPongs(logging.Handler):
    """Counts the connector's polls for an in-progress statement (network.py logs "ping pong starting")."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = threading.Semaphore(0)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("ping pong starting"):
            self.seen.release()
