"""A hanging or crashing handler ends the query with an error instead of hanging it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.udf_runtime import TIMEOUT_ENV

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
    connection = snowflake.connector.connect(**kwargs, database="LIMITS", schema="PUBLIC")
    for name, body in BODIES.items():
        query(
            connection,
            f"CREATE OR REPLACE FUNCTION {name}(x VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
            f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${body}$$",
        )
    yield connection
    connection.close()
    localsnow.stop(home)


def test_hanging_handler_times_out(conn) -> None:
    started = time.monotonic()
    with pytest.raises(snowflake.connector.ProgrammingError, match="did not answer within 2 seconds") as info:
        query(conn, "SELECT SLEEPY('a')")
    assert info.value.errno == 100357
    assert time.monotonic() - started < 15
    assert query(conn, "SELECT FINE('a')") == [("a!",)]


def test_crashing_worker_is_reported_and_restarted(conn) -> None:
    for _ in range(2):  # a fresh worker each time
        with pytest.raises(snowflake.connector.ProgrammingError, match="exited unexpectedly"):
            query(conn, "SELECT CRASHY('a')")
    assert query(conn, "SELECT FINE('b')") == [("b!",)]
