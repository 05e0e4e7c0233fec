"""A long statement is answered "in progress" and polled for, as Snowflake does (localsnow.async_queries).

The server here answers every HTTP request within 1 s (LOCALSNOW_ANSWER_WITHIN_S) and the
client reads with a 5 s socket timeout; a UDF blocked on a gate file outlives both. The client
must see in-progress answers (the connector's "ping pong" polling), keep polling while the UDF
runs, get the UDF's value once the gate opens, and the UDF must have run exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import snowflake.connector
from connector_polls import PingPongs
from ls_helpers import query

import localsnow
from localsnow.async_queries import ANSWER_WITHIN_ENV

GATE_BODY = (
    "import os, time\n"
    "def handler(d):\n"
    "    with open(os.path.join(d, 'runs'), 'a') as f:\n"
    "        f.write('run\\n')\n"
    "    while not os.path.exists(os.path.join(d, 'release')):\n"
    "        time.sleep(0.05)\n"
    "    return 'released'\n"
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[snowflake.connector.SnowflakeConnection]:
    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ANSWER_WITHIN_ENV, "1")
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    try:
        connection = snowflake.connector.connect(**{**kwargs, "socket_timeout": 5})
        query(connection, "CREATE DATABASE ASYNCQ")
        query(
            connection,
            "CREATE FUNCTION ASYNCQ.PUBLIC.GATE(D VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
            f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${GATE_BODY}$$",
        )
        yield connection
        connection.close()
    finally:
        localsnow.stop(home)


def test_long_statement_is_polled_not_resent(conn: snowflake.connector.SnowflakeConnection, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    polls = PingPongs()
    network_log = logging.getLogger("snowflake.connector.network")
    level = network_log.level
    network_log.addHandler(polls)
    network_log.setLevel(logging.DEBUG)
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["rows"] = query(conn, f"SELECT ASYNCQ.PUBLIC.GATE('{gate}')")
        except Exception as e:
            result["error"] = e

    caller = threading.Thread(target=call, daemon=True)
    try:
        caller.start()
        # Polled three times: the statement outlived three HTTP answers, each shorter than the read timeout.
        for _ in range(3):
            assert polls.seen.acquire(timeout=120), "the client never polled for an in-progress statement"
        # The UDF is still blocked (the client is still waiting); the gate opens it.
        assert caller.is_alive()
    finally:
        (gate / "release").touch()
        caller.join(timeout=120)
        network_log.removeHandler(polls)
        network_log.setLevel(level)
    assert result.get("rows") == [("released",)], result
    assert (gate / "runs").read_text() == "run\n"  # run once, not once per HTTP answer


def test_poll_needs_the_session_that_ran_it(conn: snowflake.connector.SnowflakeConnection) -> None:
    port = conn.port
    answer = requests.get(
        f"http://127.0.0.1:{port}/queries/00000000-0000-0000-0000-000000000000/result",
        headers={"Authorization": 'Snowflake Token="not-a-session"'},
        timeout=30,
    ).json()
    assert answer["success"] is False and "not found" in answer["message"]


def test_a_retried_request_joins_its_running_statement(
    conn: snowflake.connector.SnowflakeConnection, tmp_path: Path
) -> None:
    """The connector resends a query with the same requestId (and retryCount) after a read timeout."""
    gate = tmp_path / "gate"
    gate.mkdir()
    url = f"http://127.0.0.1:{conn.port}"
    headers = {"Authorization": f'Snowflake Token="{conn.rest.token}"', "Content-Type": "application/json"}
    body = {"sqlText": f"SELECT ASYNCQ.PUBLIC.GATE('{gate}')", "sequenceId": 1}
    try:
        first = requests.post(f"{url}/queries/v1/query-request?requestId=r-1", json=body, headers=headers, timeout=60)
        again = requests.post(
            f"{url}/queries/v1/query-request?requestId=r-1&retryCount=1", json=body, headers=headers, timeout=60
        )
        first_json, again_json = first.json(), again.json()
        assert first_json["code"] == again_json["code"] == "333333", (first_json, again_json)
        assert again_json["data"]["queryId"] == first_json["data"]["queryId"]
    finally:
        (gate / "release").touch()
    result_url = first_json["data"]["getResultUrl"]
    answer = first_json
    while answer.get("code") == "333333":  # the connector's own loop (network.py _post_request)
        answer = requests.get(f"{url}{result_url}", headers=headers, timeout=60).json()
    assert answer["success"] is True, answer
    assert (gate / "runs").read_text() == "run\n"
