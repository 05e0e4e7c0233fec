"""Each Python UDF runs on a pool of worker processes: lazy start, balanced batches, row order kept."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.udf_runtime import MAX_DEFAULT_PROCESSES, PROCESSES_ENV, plan_batches, processes_from_env

PYTHON = "LANGUAGE PYTHON RUNTIME_VERSION = '3.11' PACKAGES = ('pandas')"

# {log} is a file the handler appends to: "load <pid>" per import, "batch <pid> <rows>" per call.
VECTORIZED = """
import itertools
import os

import _snowflake
import pandas as pd

LOG = {log!r}


def note(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")


note(f"load {{os.getpid()}}")


@_snowflake.vectorized(input=pd.DataFrame, max_batch_size=32)
def tag(df):
    note(f"batch {{os.getpid()}} {{len(df)}}")
    if (df[0] == "boom").any():
        raise ValueError("cannot tag 'boom'")
    return df[0].map(lambda value: f"{{os.getpid()}}:{{len(df)}}:{{value}}")
"""

SCALAR = """
import itertools
import os

with open({log!r}, "a") as f:
    f.write(f"load {{os.getpid()}}\\n")


def tag(value):
    return f"{{os.getpid()}}:{{value}}"
"""


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[snowflake.connector.SnowflakeConnection]:
    """A server of its own, started with two worker processes per function."""
    home = tmp_path_factory.mktemp("localsnow-pool")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PROCESSES_ENV, "2")  # the daemon inherits the environment it is started with
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    connection = snowflake.connector.connect(**kwargs)
    query(connection, "CREATE DATABASE IF NOT EXISTS POOL")
    query(connection, "CREATE SCHEMA IF NOT EXISTS POOL.PUBLIC")
    query(connection, "USE SCHEMA POOL.PUBLIC")
    query(connection, "CREATE OR REPLACE TABLE items (id NUMBER, v VARCHAR)")
    query(connection, "INSERT INTO items SELECT range, 'row ' || range FROM range(200)")
    yield connection
    connection.close()
    localsnow.stop(home)


@pytest.fixture(scope="module")
def tag_log(conn: snowflake.connector.SnowflakeConnection, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Vectorized TAGGED (max_batch_size=32), shared by tests: each worker importing pandas takes a second."""
    log = tmp_path_factory.mktemp("tag") / "calls.log"
    create(conn, "TAGGED", VECTORIZED, log)
    return log


def create(conn: snowflake.connector.SnowflakeConnection, name: str, body: str, log: Path, extra: str = "") -> None:
    query(
        conn,
        f"CREATE OR REPLACE FUNCTION {name}(v VARCHAR) RETURNS VARCHAR {extra} {PYTHON} HANDLER = 'tag' "
        f"AS $${body.format(log=str(log))}$$",
    )


def entries(log: Path, kind: str) -> list[list[str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split()[1:] for line in lines if line.split()[0] == kind]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path("/proc").is_dir() else "R"
    return state not in ("Z", "X")


def test_pool_starts_lazily_and_balances_batches(conn, tag_log: Path) -> None:
    if entries(tag_log, "load"):
        pytest.skip("TAGGED already ran")  # this test must see the pool before anything else uses it
    ((value,),) = query(conn, "SELECT TAGGED('x')")
    ((pid,),) = entries(tag_log, "load")
    assert value == f"{pid}:1:x"
    assert len(entries(tag_log, "load")) == 1  # one row: one process

    tag_log.write_text("")
    rows = query(conn, "SELECT id, TAGGED(v) FROM items WHERE id <> 150 ORDER BY id")
    assert [row[0] for row in rows] == [i for i in range(200) if i != 150]
    for row_id, text in rows:  # each value came back to its own row
        assert text.split(":")[2] == f"row {row_id}"
    batches = entries(tag_log, "batch")
    # 199 rows, at most 32 a batch, 2 workers: 8 batches (a multiple of 2) of 24 or 25 rows
    assert sorted(int(size) for _, size in batches) == [24] + [25] * 7
    ((second,),) = entries(tag_log, "load")  # the second worker started; the first did not reload
    pids = {pid, second}
    assert {pid for pid, _ in batches} == pids
    assert {text.split(":")[0] for _, text in rows} == pids

    query(conn, "SELECT TAGGED(v) FROM items")  # the same two processes serve the next statement
    assert len(entries(tag_log, "load")) == 1


def test_many_chunks(conn, tag_log: Path) -> None:
    """More rows than one DuckDB chunk (2048): DuckDB may call from several threads at once."""
    rows = query(conn, "SELECT range, TAGGED('n' || range) FROM range(5000) ORDER BY range")
    assert [text.split(":", 2)[2] for _, text in rows] == [f"n{i}" for i in range(5000)]
    assert len({text.split(":")[0] for _, text in rows}) == 2
    assert all(int(text.split(":")[1]) <= 32 for _, text in rows)


def test_failing_batch_fails_the_statement(conn, tag_log: Path) -> None:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        query(conn, "SELECT TAGGED(CASE WHEN id = 150 THEN 'boom' ELSE v END) FROM items")
    assert info.value.errno == 100357
    assert "Python Interpreter Error" in info.value.msg
    assert "ValueError: cannot tag 'boom'" in info.value.msg
    assert "in function TAGGED with handler tag" in info.value.msg
    rows = query(conn, "SELECT TAGGED(v) FROM items")  # the pool carries on
    assert [text.split(":")[2] for (text,) in rows] == [f"row {i}" for i in range(200)]


def test_a_first_big_statement_starts_its_workers_together(conn, tmp_path: Path) -> None:
    """Both workers import the handler before any batch runs: one model load's wait, not two in turn."""
    log = tmp_path / "calls.log"
    create(conn, "TAGGED_COLD", VECTORIZED, log)
    rows = query(conn, "SELECT TAGGED_COLD(v) FROM items WHERE id < 64")
    assert len(rows) == 64
    kinds = [line.split()[0] for line in log.read_text().splitlines()]
    assert kinds[:2] == ["load", "load"] and kinds[2:] == ["batch"] * 2


def test_scalar_handler_gets_one_slice_per_worker(conn, tmp_path: Path) -> None:
    create(conn, "TAG_SCALAR", SCALAR, tmp_path / "calls.log")
    rows = query(conn, "SELECT id, TAG_SCALAR(v) FROM items WHERE id < 5 ORDER BY id")
    assert [text.split(":")[1] for _, text in rows] == [f"row {i}" for i in range(5)]
    pids = [text.split(":")[0] for _, text in rows]
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4]  # contiguous slices of 3 and 2 rows


def test_null_input_rows_skip_the_handler(conn, tmp_path: Path) -> None:
    create(conn, "TAG_STRICT", SCALAR, tmp_path / "calls.log", "RETURNS NULL ON NULL INPUT")
    rows = query(conn, "SELECT TAG_STRICT(CASE WHEN id % 2 = 0 THEN v END) FROM items WHERE id < 100 ORDER BY id")
    values = [None if text is None else text.split(":")[1] for (text,) in rows]
    assert values == [f"row {i}" if i % 2 == 0 else None for i in range(100)]
    assert len({text.split(":")[0] for (text,) in rows if text}) == 2  # 50 rows: a slice each


def test_replace_and_drop_stop_every_worker(conn, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    create(conn, "TAG_GONE", SCALAR, log)
    query(conn, "SELECT TAG_GONE(v) FROM items WHERE id < 10")
    first = [int(pid) for (pid,) in entries(log, "load")]
    assert len(first) == 2 and all(alive(pid) for pid in first)

    create(conn, "TAG_GONE", SCALAR, log)
    assert _eventually(lambda: not any(alive(pid) for pid in first))
    query(conn, "SELECT TAG_GONE(v) FROM items WHERE id < 10")
    second = [int(pid) for (pid,) in entries(log, "load")][2:]
    assert len(second) == 2 and all(alive(pid) for pid in second)

    query(conn, "DROP FUNCTION TAG_GONE(VARCHAR)")
    assert _eventually(lambda: not any(alive(pid) for pid in second))


def _eventually(check: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- configuration and batch planning (no server) -------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_processes_env_must_be_a_positive_integer(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PROCESSES_ENV, value)
    with pytest.raises(ValueError, match=rf"{PROCESSES_ENV} must be a whole number .* 1 or more; got '{value}'"):
        processes_from_env()


def test_processes_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_ENV, "3")
    assert processes_from_env() == 3
    monkeypatch.delenv(PROCESSES_ENV)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    assert processes_from_env() == min(cpus, MAX_DEFAULT_PROCESSES)


def test_server_refuses_a_bad_processes_value(tmp_path: Path) -> None:
    env = dict(os.environ, **{PROCESSES_ENV: "zero"})
    command = [sys.executable, "-m", "localsnow", "serve", "--home", str(tmp_path / "home")]
    source = Path(localsnow.__file__).resolve().parent.parent
    result = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"{PROCESSES_ENV} must be a whole number" in result.stderr


@pytest.mark.parametrize(
    ("rows", "processes", "vectorized", "max_batch", "sizes"),
    [
        (200, 2, True, 32, [25] * 8),  # 7 batches needed, rounded up to a multiple of 2
        (300, 4, True, 32, [25] * 12),  # 10 needed -> 12
        (300, 2, True, 32, [30] * 10),
        (64, 2, True, 32, [32, 32]),
        (65, 4, True, 32, [17, 16, 16, 16]),  # 3 needed, 4 workers share them
        (32, 4, True, 32, [8] * 4),  # fits one batch, yet every worker takes a share
        (1, 4, True, 32, [1]),
        (9, 4, True, 1, [1] * 9),  # B=1: never an empty batch
        (5, 2, False, None, [3, 2]),  # scalar: one slice per worker
        (1, 4, False, None, [1]),
        (10, 3, True, None, [4, 3, 3]),  # vectorized without a limit: like scalar
        (0, 2, True, 32, []),
    ],
)
def test_plan_batches(rows: int, processes: int, vectorized: bool, max_batch: int | None, sizes: list[int]) -> None:
    spans = plan_batches(rows, processes, vectorized, max_batch)
    assert [stop - start for start, stop in spans] == sizes
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous, in order
    assert not spans or (spans[0][0], spans[-1][1]) == (0, rows)
    c = Counter(stop - start for start, stop in spans)
    assert len(c) <= 2  # as equal as possible
