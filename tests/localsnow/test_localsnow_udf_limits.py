"""A hanging or crashing handler ends the query with an error instead of hanging it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.paths import Layout
from localsnow.udf_runtime import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, UdfRuntime

BODIES = {
    "SLEEPY": "import time\ndef handler(x):\n    time.sleep(60)\n    return x\n",
    "CRASHY": "import os\ndef handler(x):\n    os._exit(3)\n",
    "FINE": "def handler(x):\n    return x + '!'\n",
}


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[snowflake.connector.SnowflakeConnection]:
    """A server of its own, started with a 2 second limit per UDF call."""
    home = tmp_path_factory.mktemp("localsnow-limits")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TIMEOUT_ENV, "2")
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    try:
        connection = snowflake.connector.connect(**kwargs)
        # A login does not create its database (as in Snowflake): create it, then use it.
        query(connection, "CREATE DATABASE LIMITS")  # PUBLIC comes with it and becomes current
        for name, body in BODIES.items():
            query(
                connection,
                f"CREATE OR REPLACE FUNCTION {name}(x VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
                f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${body}$$",
            )
        yield connection
        connection.close()
    finally:
        localsnow.stop(home)


def test_hanging_handler_times_out(conn) -> None:
    started = time.monotonic()
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        query(conn, "SELECT SLEEPY('a')")
    # Snowflake's shape (100357 (P0000): "... timed out in 17m18.713055185s vs. max of 10m in
    # function DETECTOR with handler udf.LeadsDetector"), with this server's 2 s limit
    assert info.value.errno == 100357 and info.value.sqlstate == "P0000"
    assert re.fullmatch(
        r"Handler execution timed out in 2(\.\d+)?s vs\. max of 2s in function SLEEPY with handler handler",
        info.value.raw_msg,
    ), info.value.raw_msg
    assert time.monotonic() - started < 15
    assert query(conn, "SELECT FINE('a')") == [("a!",)]


def test_default_limit_is_snowflakes_180_seconds(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert DEFAULT_TIMEOUT_S == 180
    assert UdfRuntime(Layout(tmp_path), None, None, processes=1)._timeout == 180  # type: ignore[arg-type]
    monkeypatch.setenv(TIMEOUT_ENV, "7")
    assert UdfRuntime(Layout(tmp_path), None, None, processes=1)._timeout == 7  # type: ignore[arg-type]


def test_crashing_worker_is_reported_and_restarted(conn) -> None:
    for _ in range(2):  # a fresh worker each time
        with pytest.raises(snowflake.connector.ProgrammingError, match="exited unexpectedly"):
            query(conn, "SELECT CRASHY('a')")
    assert query(conn, "SELECT FINE('b')") == [("b!",)]
