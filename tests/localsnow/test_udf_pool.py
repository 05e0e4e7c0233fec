"""Each Python UDF runs on a pool of worker processes: lazy start, planned batches, row order kept.

Which worker serves which batch depends on which is ready first, so nothing here asserts it (no
process ids): the tests check how rows are split into batches (the plan) and that every value
comes back to its own row.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import snowflake.connector
from ls_helpers import query

import localsnow
from localsnow.udf_runtime import MAX_DEFAULT_PROCESSES, PROCESSES_ENV, WorkerPool, plan_batches, processes_from_env

PYTHON = "LANGUAGE PYTHON RUNTIME_VERSION = '3.11' PACKAGES = ('pandas')"

# {log} is a file the handler appends to: "load" per import, "batch <rows>" per call. Each value
# says which batch it came in (the batch's first value) and the batch's size.
VECTORIZED = """
import _snowflake
import pandas as pd

LOG = {log!r}


def note(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")


note("load")


@_snowflake.vectorized(input=pd.DataFrame, max_batch_size=32)
def tag(df):
    note(f"batch {{len(df)}}")
    if (df[0] == "boom").any():
        raise ValueError("cannot tag 'boom'")
    first = df[0].iloc[0]
    return df[0].map(lambda value: f"{{first}}|{{len(df)}}|{{value}}")
"""

SCALAR = """
with open({log!r}, "a") as f:
    f.write("load\\n")


def tag(value):
    if value is None:
        raise ValueError("a NULL reached the handler")
    return f"tagged {{value}}"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A server of its own, started with two worker processes per function: its home and connect() kwargs."""
    home = tmp_path_factory.mktemp("localsnow-pool")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PROCESSES_ENV, "2")  # the daemon inherits the environment it is started with
        kwargs: dict[str, Any] = localsnow.ensure_running(home)
    try:
        yield home, kwargs
    finally:
        localsnow.stop(home)


@pytest.fixture(scope="module")
def conn(server: tuple[Path, dict[str, Any]]) -> Iterator[snowflake.connector.SnowflakeConnection]:
    connection = snowflake.connector.connect(**server[1])
    query(connection, "CREATE DATABASE IF NOT EXISTS POOL")
    query(connection, "CREATE SCHEMA IF NOT EXISTS POOL.PUBLIC")
    query(connection, "USE SCHEMA POOL.PUBLIC")
    query(connection, "CREATE OR REPLACE TABLE items (id NUMBER, v VARCHAR)")
    query(connection, "INSERT INTO items SELECT range, 'row ' || range FROM range(200)")
    yield connection
    connection.close()


def create(conn: snowflake.connector.SnowflakeConnection, name: str, body: str, log: Path, extra: str = "") -> None:
    query(
        conn,
        f"CREATE OR REPLACE FUNCTION {name}(v VARCHAR) RETURNS VARCHAR {extra} {PYTHON} HANDLER = 'tag' "
        f"AS $${body.format(log=str(log))}$$",
    )


def lines(log: Path, kind: str) -> list[list[str]]:
    found = log.read_text().splitlines() if log.exists() else []
    return [line.split()[1:] for line in found if line.split()[0] == kind]


def batch_spans(values: list[str]) -> list[tuple[int, int]]:
    """The (start, stop) row ranges of the batches a statement's values came in (each value names its
    batch's first value and size), in row order."""
    spans: list[tuple[int, int]] = []
    for first, group in itertools.groupby(range(len(values)), key=lambda i: values[i].split("|")[0]):
        rows = list(group)
        spans.append((rows[0], rows[-1] + 1))
        assert {values[i].split("|")[1] for i in rows} == {str(len(rows))}, first  # as big as the handler saw
    return spans


_DEFINITION_FOLDER = re.compile(r"/udf/([0-9a-f]{32})/")


def live_workers(home: Path) -> Counter[str]:
    """How many UDF worker processes of this server are alive, per definition (its folder under udf/)."""
    found: Counter[str] = Counter()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # it ended meanwhile
        if "localsnow.udf_worker" in text and str(home) in text and (match := _DEFINITION_FOLDER.search(text)):
            found[match[1]] += 1
    return found


def test_pool_starts_lazily_and_plans_balanced_batches(conn, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    create(conn, "TAGGED", VECTORIZED, log)
    assert query(conn, "SELECT TAGGED('x')") == [("x|1|x",)]
    assert len(lines(log, "load")) == 1  # one row: one process

    rows = query(conn, "SELECT id, TAGGED(v) FROM items WHERE id <> 150 ORDER BY id")
    assert [row[0] for row in rows] == [i for i in range(200) if i != 150]
    values = [text for _, text in rows]
    assert [value.split("|")[2] for value in values] == [f"row {i}" for i in range(200) if i != 150]
    # 199 rows, at most 32 a batch, 2 workers: 8 batches (a multiple of 2), contiguous, of 25 or 24 rows
    assert batch_spans(values) == plan_batches(199, 2, True, 32)
    assert sorted(int(size) for (size,) in lines(log, "batch")[1:]) == [24] + [25] * 7
    assert len(lines(log, "load")) == 2  # the second worker started for it; the first did not reload

    query(conn, "SELECT TAGGED(v) FROM items")  # the same two processes serve the next statement
    assert len(lines(log, "load")) == 2


def test_many_chunks(conn, tmp_path: Path) -> None:
    """More rows than one DuckDB chunk (2048): DuckDB may call from several threads at once."""
    create(conn, "TAGGED_MANY", VECTORIZED, tmp_path / "calls.log")
    rows = query(conn, "SELECT range, TAGGED_MANY('n' || range) FROM range(5000) ORDER BY range")
    values = [text for _, text in rows]
    assert [value.split("|", 2)[2] for value in values] == [f"n{i}" for i in range(5000)]
    assert all(stop - start <= 32 for start, stop in batch_spans(values))


def test_failing_batch_fails_the_statement(conn, tmp_path: Path) -> None:
    create(conn, "TAGGED_BOOM", VECTORIZED, tmp_path / "calls.log")
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        query(conn, "SELECT TAGGED_BOOM(CASE WHEN id = 150 THEN 'boom' ELSE v END) FROM items")
    assert info.value.errno == 100357
    assert "Python Interpreter Error" in info.value.msg
    assert "ValueError: cannot tag 'boom'" in info.value.msg
    assert "in function TAGGED_BOOM with handler tag" in info.value.msg
    rows = query(conn, "SELECT TAGGED_BOOM(v) FROM items ORDER BY id")  # the pool carries on
    assert [text.split("|")[2] for (text,) in rows] == [f"row {i}" for i in range(200)]


def test_a_first_big_statement_starts_its_workers_together(conn, tmp_path: Path) -> None:
    """Both workers import the handler before any batch runs: one model load's wait, not two in turn."""
    log = tmp_path / "calls.log"
    create(conn, "TAGGED_COLD", VECTORIZED, log)
    rows = query(conn, "SELECT TAGGED_COLD(v) FROM items WHERE id < 64")
    assert len(rows) == 64
    kinds = [line.split()[0] for line in log.read_text().splitlines()]
    assert kinds[:2] == ["load", "load"] and kinds[2:] == ["batch"] * 2


def test_scalar_handler_rows_come_back_in_order(conn, tmp_path: Path) -> None:
    create(conn, "TAG_SCALAR", SCALAR, tmp_path / "calls.log")
    rows = query(conn, "SELECT id, TAG_SCALAR(v) FROM items WHERE id < 5 ORDER BY id")
    assert rows == [(i, f"tagged row {i}") for i in range(5)]


def test_null_input_rows_skip_the_handler(conn, tmp_path: Path) -> None:
    create(conn, "TAG_STRICT", SCALAR, tmp_path / "calls.log", "RETURNS NULL ON NULL INPUT")
    rows = query(conn, "SELECT TAG_STRICT(CASE WHEN id % 2 = 0 THEN v END) FROM items WHERE id < 100 ORDER BY id")
    assert [text for (text,) in rows] == [f"tagged row {i}" if i % 2 == 0 else None for i in range(100)]


def test_replace_and_drop_stop_every_worker(server: tuple[Path, dict[str, Any]], conn, tmp_path: Path) -> None:
    """A replaced or dropped definition's workers have ended when the statement returns (none was running)."""
    home, log = server[0], tmp_path / "calls.log"
    before = live_workers(home)
    create(conn, "TAG_GONE", SCALAR, log)
    query(conn, "SELECT TAG_GONE(v) FROM items WHERE id < 10")
    first = live_workers(home) - before
    assert list(first.values()) == [2]  # one new definition, two workers

    create(conn, "TAG_GONE", SCALAR, log)
    assert not set(first) & set(live_workers(home))
    query(conn, "SELECT TAG_GONE(v) FROM items WHERE id < 10")
    second = live_workers(home) - before
    assert list(second.values()) == [2] and not set(second) & set(first)

    query(conn, "DROP FUNCTION TAG_GONE(VARCHAR)")
    assert not set(second) & set(live_workers(home))


# -- the pool in process, with stand-in workers (no server) ----------------------------------


class RecordingWorker:
    """Stands in for a worker process: records each batch it is given and tags its values."""

    def __init__(self, info: dict[str, Any], seen: list[list[Any]], lock: threading.Lock) -> None:
        self.info = info
        self._seen, self._lock = seen, lock

    def ensure_started(self, deadline: float = 0) -> None:
        pass

    def call(self, columns: list[list[Any]], deadline: float = 0) -> list[Any]:
        with self._lock:
            self._seen.append(columns[0])
        return [f"<{value}>" for value in columns[0]]

    def close(self, kill: bool = False) -> None:
        pass

    def kill(self) -> None:
        pass


def recording_pool(size: int, info: dict[str, Any]) -> tuple[WorkerPool, list[list[Any]]]:
    function = SimpleNamespace(name="F", object_name=SimpleNamespace(dotted="DB.S.F"))
    pool = WorkerPool(function, Path("."), Path("log"), 1.0, size)  # type: ignore[arg-type]
    seen: list[list[Any]] = []
    lock = threading.Lock()
    pool._new_worker = lambda: RecordingWorker(info, seen, lock)  # type: ignore[method-assign]
    return pool, seen


@pytest.mark.parametrize(
    ("rows", "size", "info", "sizes"),
    [
        (5, 2, {"vectorized": False, "max_batch_size": None}, [3, 2]),  # scalar: one slice per worker
        (199, 2, {"vectorized": True, "max_batch_size": 32}, [25] * 7 + [24]),
        (64, 2, {"vectorized": True, "max_batch_size": 32}, [32, 32]),
        (1, 4, {"vectorized": True, "max_batch_size": 32}, [1]),
    ],
)
def test_pool_runs_the_planned_batches_in_row_order(rows: int, size: int, info: dict[str, Any], sizes: list[int]):
    pool, seen = recording_pool(size, info)
    values = list(range(rows))
    assert pool.run([values]) == [f"<{v}>" for v in values]
    assert pool.plan(rows) == plan_batches(rows, size, info["vectorized"], info["max_batch_size"])
    assert sorted(batch[0] for batch in seen) == [start for start, _ in pool.plan(rows)]
    assert sorted(map(len, seen), reverse=True) == sorted(sizes, reverse=True)
    for batch in seen:  # contiguous rows, in order
        assert batch == list(range(batch[0], batch[0] + len(batch)))


def test_concurrent_statements_on_a_cold_pool_all_finish() -> None:
    """Statements arriving together on a new pool share its workers without starving each other."""
    pool, _seen = recording_pool(2, {"vectorized": True, "max_batch_size": 4})
    results: dict[int, list[Any]] = {}

    def statement(number: int) -> None:
        values = list(range(number, number + 40))
        results[number] = pool.run([values])

    threads = [threading.Thread(target=statement, args=(n * 100,), daemon=True) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)  # a generous bound, only to prove it does not hang
    assert sorted(results) == [n * 100 for n in range(8)]
    for number, values in results.items():
        assert values == [f"<{v}>" for v in range(number, number + 40)]


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
