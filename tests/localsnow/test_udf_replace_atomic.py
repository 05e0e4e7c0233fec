"""CREATE OR REPLACE FUNCTION is atomic for concurrent callers, as in Snowflake.

Snowflake: "CREATE OR REPLACE <object> statements are atomic. That is, when an object is replaced,
the old object is deleted and the new object is created in a single transaction" (docs
sql-reference/sql/create, general usage notes). So a caller never sees the function missing, and
each statement runs one whole definition, the old or the new.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.udf_runtime import PROCESSES_ENV

CALLERS = 4
ROWS = 40  # several batches per statement: every row of one statement must come from one version
MIN_REPLACES = 12
BOUND_S = 240.0  # a generous upper bound, there only to prove "does not hang"


def create_sql(version: str) -> str:
    body = f"def handler(x):\n    return '{version}:' + x\n"
    return (
        "CREATE OR REPLACE FUNCTION SWAPPED(x VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${body}$$"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("localsnow-replace")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PROCESSES_ENV, "2")  # two batches per statement
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    try:
        setup = snowflake.connector.connect(**kwargs)
        query(setup, "CREATE DATABASE SWAP")  # PUBLIC comes with it and becomes current
        query(setup, create_sql("A"))
        setup.close()
        yield {**kwargs, "database": "SWAP", "schema": "PUBLIC"}
    finally:
        localsnow.stop(home)


class Observed:
    """What the callers saw; the replacer waits on it (a condition, not a sleep)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.versions: list[set[str]] = [set() for _ in range(CALLERS)]
        self.latest: list[str | None] = [None] * CALLERS
        self.failures: list[str] = []
        self.statements = 0

    def record(self, caller: int, values: list[str]) -> None:
        versions = {value.split(":", 1)[0] for value in values}
        with self.changed:
            self.statements += 1
            if len(versions) != 1 or values != [f"{next(iter(versions))}:{i}" for i in range(ROWS)]:
                self.failures.append(f"caller {caller}: one statement mixed versions or rows: {values}")
            else:
                (version,) = versions
                self.versions[caller].add(version)
                self.latest[caller] = version
            self.changed.notify_all()

    def fail(self, caller: int, error: Exception) -> None:
        with self.changed:
            self.failures.append(f"caller {caller}: {error}")
            self.changed.notify_all()

    def any_saw(self, version: str) -> bool:
        return version in self.latest

    def all_saw_both(self) -> bool:
        return all(seen >= {"A", "B"} for seen in self.versions)


def call_until(stop: threading.Event, caller: int, kwargs: dict[str, Any], observed: Observed) -> None:
    connection = snowflake.connector.connect(**kwargs)
    try:
        while not stop.is_set():
            try:
                rows = query(connection, f"SELECT SWAPPED(range::VARCHAR) FROM range({ROWS}) ORDER BY range")
            except snowflake.connector.Error as error:
                observed.fail(caller, error)
                continue
            observed.record(caller, [value for (value,) in rows])
    finally:
        connection.close()


def test_callers_never_see_a_missing_function_during_replaces(server: dict[str, Any]) -> None:
    observed, stop = Observed(), threading.Event()
    callers = [
        threading.Thread(target=call_until, args=(stop, i, server, observed), daemon=True) for i in range(CALLERS)
    ]
    for thread in callers:
        thread.start()
    replacer = snowflake.connector.connect(**server)
    replaces = 0
    try:
        version = "A"
        with observed.changed:  # every caller has run once before the first replace
            assert observed.changed.wait_for(lambda: all(observed.latest) or observed.failures, BOUND_S)
        while replaces < MIN_REPLACES or not observed.all_saw_both():
            version = "B" if version == "A" else "A"
            query(replacer, create_sql(version))
            replaces += 1
            # Go on once a caller has run the new version: the replaces interleave with calls in flight.
            with observed.changed:
                assert observed.changed.wait_for(lambda v=version: observed.any_saw(v) or observed.failures, BOUND_S)
            assert not observed.failures, observed.failures[:3]
    finally:
        stop.set()
        for thread in callers:
            thread.join(BOUND_S)
        replacer.close()
    assert not observed.failures, observed.failures[:3]
    assert observed.all_saw_both()
    assert replaces >= MIN_REPLACES and observed.statements > replaces
