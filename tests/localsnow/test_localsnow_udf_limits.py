"""A UDF worker that hangs, crashes, is killed or runs out of memory fails its statement with a clear
error, and the next statement works (a fresh worker replaces it)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.paths import Layout
from localsnow.udf_limits import (
    MEMORY_ENV,
    default_memory_mb,
    memory_mb_from_env,
    statement_timeout_error,
    worker_exit_message,
)
from localsnow.udf_runtime import DEFAULT_TIMEOUT_S, PROCESSES_ENV, TIMEOUT_ENV, UdfRuntime

# One function, one worker process: each fault takes that worker down, and the next call needs a new one.
FAULTY = """
import os, signal, time

def handler(x):
    if x == 'hang':
        time.sleep(600)
    if x == 'exit':
        os._exit(3)
    if x == 'kill':
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 'segv':
        os.kill(os.getpid(), signal.SIGSEGV)
    if x == 'hog':
        hoard = []
        while True:
            hoard.append(bytearray(16 * 2**20))
    return x + '!'
"""
PER_CALL_LIMIT_S = 3
MEMORY_MB = 256
TIMED_OUT = "Statement reached its statement or warehouse timeout of 1 second(s) and was canceled."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server of its own: a 3 s limit per UDF call, 256 MiB per worker, one worker per function."""
    home = tmp_path_factory.mktemp("localsnow-limits")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TIMEOUT_ENV, str(PER_CALL_LIMIT_S))
        env.setenv(MEMORY_ENV, str(MEMORY_MB))
        env.setenv(PROCESSES_ENV, "1")
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    try:
        connection = snowflake.connector.connect(**kwargs)
        # A login does not create its database (as in Snowflake): create it, then use it.
        query(connection, "CREATE DATABASE LIMITS")  # PUBLIC comes with it and becomes current
        query(
            connection,
            "CREATE OR REPLACE FUNCTION FAULTY(x VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
            f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${FAULTY}$$",
        )
        connection.close()
        yield {**kwargs, "database": "LIMITS", "schema": "PUBLIC"}
    finally:
        localsnow.stop(home)


@pytest.fixture
def conn(server: dict[str, Any]) -> Iterator[snowflake.connector.SnowflakeConnection]:
    connection = snowflake.connector.connect(**server)
    yield connection
    connection.close()


def fails(conn: snowflake.connector.SnowflakeConnection, sql: str) -> snowflake.connector.ProgrammingError:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        query(conn, sql)
    return info.value


def test_hanging_handler_times_out_per_call(conn) -> None:
    started = time.monotonic()
    error = fails(conn, "SELECT FAULTY('hang')")
    # Snowflake's shape (100357 (P0000): "... timed out in 17m18.713055185s vs. max of 10m in
    # function DETECTOR with handler udf.LeadsDetector"), with this server's 3 s limit
    assert error.errno == 100357 and error.sqlstate == "P0000"
    assert re.fullmatch(
        r"Handler execution timed out in 3(\.\d+)?s vs\. max of 3s in function FAULTY with handler handler",
        error.raw_msg,
    ), error.raw_msg
    assert time.monotonic() - started < 60  # a generous bound: it does not hang
    assert query(conn, "SELECT FAULTY('a')") == [("a!",)]  # a fresh worker


def test_statement_timeout_stops_a_hanging_handler(conn) -> None:
    query(conn, "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 1")
    error = fails(conn, "SELECT FAULTY('hang')")
    assert (error.errno, error.sqlstate, error.raw_msg) == (630, "57014", TIMED_OUT)
    assert query(conn, "SELECT FAULTY('b')") == [("b!",)]  # the hung worker was replaced
    query(conn, "ALTER SESSION UNSET STATEMENT_TIMEOUT_IN_SECONDS")
    error = fails(conn, "SELECT FAULTY('hang')")  # the per-call limit again
    assert error.errno == 100357 and "Handler execution timed out" in error.raw_msg


def test_statement_timeout_from_the_login(server: dict[str, Any]) -> None:
    """The connector sends session_parameters with its login (auth/_auth.py, SESSION_PARAMETERS)."""
    with snowflake.connector.connect(**server, session_parameters={"STATEMENT_TIMEOUT_IN_SECONDS": 1}) as conn:
        error = fails(conn, "SELECT FAULTY('hang')")
        assert (error.errno, error.raw_msg) == (630, TIMED_OUT)
        assert query(conn, "SELECT FAULTY('c')") == [("c!",)]


def test_statement_timeout_stops_plain_sql(conn) -> None:
    query(conn, "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 1")
    error = fails(conn, "SELECT SUM(a.range * b.range) FROM range(200000) a CROSS JOIN range(200000) b")
    assert (error.errno, error.raw_msg) == (630, TIMED_OUT)
    assert query(conn, "SELECT 1") == [(1,)]


def test_account_timeout_applies_to_every_session(server: dict[str, Any], conn) -> None:
    query(conn, "ALTER ACCOUNT SET STATEMENT_TIMEOUT_IN_SECONDS = 1")
    try:
        with snowflake.connector.connect(**server) as other:
            error = fails(other, "SELECT FAULTY('hang')")
            assert (error.errno, error.raw_msg) == (630, TIMED_OUT)
    finally:
        query(conn, "ALTER ACCOUNT UNSET STATEMENT_TIMEOUT_IN_SECONDS")


@pytest.mark.parametrize("value", ["-1", "604801", "soon"])
def test_statement_timeout_must_be_seconds_in_range(conn, value: str) -> None:
    error = fails(conn, f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {value}")
    assert f"Invalid value [{value}] for parameter 'STATEMENT_TIMEOUT_IN_SECONDS'" in error.raw_msg


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("exit", ["exited unexpectedly (exit code 3)", "os._exit"]),
        ("kill", ["was killed (SIGKILL)", "out-of-memory killer", f"each worker may use {MEMORY_MB} MiB", MEMORY_ENV]),
        ("segv", ["crashed (SIGSEGV)", "native code"]),
        ("hog", ["MemoryError", "ran out of memory", f"each worker may use {MEMORY_MB} MiB", "max_batch_size"]),
    ],
)
def test_a_dying_worker_fails_its_statement_and_the_next_works(conn, fault: str, words: list[str]) -> None:
    for _ in range(2):  # a fresh worker each time
        error = fails(conn, f"SELECT FAULTY('{fault}')")
        assert error.errno == 100357 and error.raw_msg.startswith("Python Interpreter Error:\n"), error.raw_msg
        assert error.raw_msg.endswith(" in function FAULTY with handler handler")
        for text in words:
            assert text in error.raw_msg, error.raw_msg
        assert query(conn, f"SELECT FAULTY('{fault}-not')") == [(f"{fault}-not!",)]


# -- limits and words (no server) ------------------------------------------------------------


def test_default_limit_is_snowflakes_180_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert DEFAULT_TIMEOUT_S == 180
    assert UdfRuntime(Layout(tmp_path), None, None, processes=1)._timeout == 180  # type: ignore[arg-type]
    monkeypatch.setenv(TIMEOUT_ENV, "7")
    assert UdfRuntime(Layout(tmp_path), None, None, processes=1)._timeout == 7  # type: ignore[arg-type]


def test_memory_limit_default_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    default = default_memory_mb(4)
    assert default is not None and default >= min(2048, default_memory_mb(1) or 0)
    assert memory_mb_from_env(4) == default
    monkeypatch.setenv(MEMORY_ENV, "512")
    assert memory_mb_from_env(4) == 512
    monkeypatch.setenv(MEMORY_ENV, "0")
    assert memory_mb_from_env(4) is None  # no limit
    for bad in ("-1", "lots", "1.5"):
        monkeypatch.setenv(MEMORY_ENV, bad)
        with pytest.raises(ValueError, match=rf"{MEMORY_ENV} must be a whole number of MiB .*got '{re.escape(bad)}'"):
            memory_mb_from_env(4)


def test_worker_exit_words(tmp_path: Path) -> None:
    log = tmp_path / "udf.log"
    assert "killed (SIGKILL)" in worker_exit_message(-signal.SIGKILL, log, 100)
    assert f"{MEMORY_ENV}=0" in worker_exit_message(-signal.SIGKILL, log, None)
    assert "crashed (SIGABRT)" in worker_exit_message(-signal.SIGABRT, log, 100)
    assert "exit code 1" in worker_exit_message(1, log, 100)
    assert all(str(log) in worker_exit_message(code, log, 1) for code in (-9, -11, 2))
    error = statement_timeout_error(120)
    assert (error.errno, error.sqlstate) == (630, "57014")
    assert error.raw_msg == "Statement reached its statement or warehouse timeout of 120 second(s) and was canceled."
