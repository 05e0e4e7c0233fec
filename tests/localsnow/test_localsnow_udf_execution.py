"""Executing Python UDFs: staged handlers run in worker processes, as Snowflake runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import snowflake.connector
from ls_helpers import put, query

from localsnow.udf_runtime import default_processes

HANDLER = """
import json, os, sys

import _snowflake
import pandas as pd

IMPORT_DIR = sys._xoptions["snowflake_import_directory"]
with open(os.path.join(IMPORT_DIR, "settings.json")) as f:
    SETTINGS = json.load(f)


def log(line):
    with open(SETTINGS["log"], "a") as f:
        f.write(line + "\\n")


READ_ONLY = os.stat(IMPORT_DIR).st_mode & 0o222 == 0
log(f"load {os.getpid()} {sorted(os.listdir(IMPORT_DIR))} read-only={READ_ONLY}")


@_snowflake.vectorized(input=pd.DataFrame, max_batch_size=32)
def shout(batch):
    log(f"batch {len(batch)} {list(batch.columns)}")
    return batch[0].map(lambda text: None if text is None else SETTINGS["prefix"] + text.upper())


def repeat(text, times):
    return text * times


def kind(value):
    return "null" if value is None else type(value).__name__


def fail(text):
    raise ValueError(f"cannot summarize {text!r}")
"""

PYTHON = "LANGUAGE PYTHON RUNTIME_VERSION = '3.11'"
# Every function importing the module imports pandas, so each declares it, as Snowflake requires.
IMPORTS = "IMPORTS = ('@LLM/ab12/handler.py', '@LLM/ab12/settings.json') PACKAGES = ('pandas')"


@pytest.fixture(scope="module")
def handler_log(conn: snowflake.connector.SnowflakeConnection, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage the handler and create the functions; returns the file the handler logs to."""
    source = tmp_path_factory.mktemp("handler")
    log = source / "calls.log"
    (source / "handler.py").write_text(HANDLER)
    (source / "settings.json").write_text(json.dumps({"log": str(log), "prefix": "> "}))
    query(conn, "CREATE STAGE IF NOT EXISTS LLM")
    for name in ("handler.py", "settings.json"):
        put(conn, source / name, "@LLM/ab12/")
    for sql in [
        f'CREATE OR REPLACE FUNCTION "LS_TEST"."PUBLIC"."SUMMARIZE"("TEXT" VARCHAR) COPY GRANTS RETURNS VARCHAR '
        f"{PYTHON} {IMPORTS} HANDLER = 'handler.shout'",
        f"CREATE OR REPLACE FUNCTION REPEAT_TEXT(t VARCHAR, n NUMBER) RETURNS VARCHAR {PYTHON} {IMPORTS} "
        "HANDLER = 'handler.repeat'",
        f"CREATE OR REPLACE FUNCTION KIND(v VARCHAR) RETURNS VARCHAR {PYTHON} {IMPORTS} HANDLER = 'handler.kind'",
        f"CREATE OR REPLACE FUNCTION KIND_STRICT(v VARCHAR) RETURNS VARCHAR RETURNS NULL ON NULL INPUT {PYTHON} "
        f"{IMPORTS} HANDLER = 'handler.kind'",
        f"CREATE OR REPLACE FUNCTION FAIL(t VARCHAR) RETURNS VARCHAR {PYTHON} {IMPORTS} HANDLER = 'handler.fail'",
    ]:
        query(conn, sql)
    query(conn, "CREATE OR REPLACE TABLE news (id NUMBER, article VARCHAR)")
    query(conn, "INSERT INTO news SELECT range, 'article number ' || range FROM range(300)")
    return log


def log_lines(log: Path, kind: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith(kind + " ")]


def test_vectorized_udf_over_a_table(conn, handler_log: Path) -> None:
    rows = query(conn, "SELECT id, SUMMARIZE(article) FROM news ORDER BY id")
    assert rows == [(i, f"> ARTICLE NUMBER {i}") for i in range(300)]
    sizes = [int(line.split()[1]) for line in log_lines(handler_log, "batch")]
    assert sum(sizes) == 300 and max(sizes) <= 32  # batches respect max_batch_size
    assert all(line.endswith("[0]") for line in log_lines(handler_log, "batch"))  # columns 0..n-1

    loads = log_lines(handler_log, "load")  # one import per worker process of the function's pool
    assert 1 <= len(loads) <= default_processes()
    query(conn, "SELECT SUMMARIZE(article) FROM news")
    assert log_lines(handler_log, "load") == loads  # the workers stay up: no process imports it twice
    # the imports, flattened by base name into one read-only directory
    assert all(load.endswith("['handler.py', 'settings.json'] read-only=True") for load in loads)


def test_qualified_and_unqualified_calls(conn, handler_log: Path) -> None:
    assert query(conn, """SELECT "LS_TEST"."PUBLIC"."SUMMARIZE"('some text')""") == [("> SOME TEXT",)]
    assert query(conn, "SELECT summarize('x'), PUBLIC.SUMMARIZE('y')") == [("> X", "> Y")]
    with pytest.raises(snowflake.connector.ProgrammingError, match="Unknown user-defined function"):
        query(conn, 'SELECT "LS_TEST"."PUBLIC"."NO_SUCH_FN"(1)')


def test_scalar_udf_with_coerced_arguments(conn, handler_log: Path) -> None:
    assert query(conn, "SELECT REPEAT_TEXT('ab', 3), REPEAT_TEXT(7, '2')") == [("ababab", "77")]
    rows = query(conn, "SELECT REPEAT_TEXT(article, 2) FROM news WHERE id < 2 ORDER BY id")
    assert rows == [("article number 0article number 0",), ("article number 1article number 1",)]


def test_null_handling(conn, handler_log: Path) -> None:
    assert query(conn, "SELECT KIND(NULL), KIND('a'), KIND_STRICT(NULL), KIND_STRICT('a')") == [
        ("null", "str", None, "str")
    ]
    assert query(conn, "SELECT SUMMARIZE(NULL)") == [(None,)]


def test_raising_handler_is_a_clean_error(conn, handler_log: Path) -> None:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        query(conn, "SELECT FAIL(article) FROM news")
    error = info.value
    assert (error.errno, error.sqlstate) == (100357, "P0000")
    assert "Python Interpreter Error" in error.msg
    assert "ValueError: cannot summarize 'article number" in error.msg
    assert "in function FAIL with handler handler.fail" in error.msg
    assert query(conn, "SELECT SUMMARIZE('still fine')") == [("> STILL FINE",)]  # the server carries on


def test_replace_restarts_the_worker(conn, handler_log: Path) -> None:
    sql = (
        f"CREATE OR REPLACE FUNCTION KIND(v VARCHAR) RETURNS VARCHAR {PYTHON} HANDLER = 'kind' "
        "AS $$\ndef kind(value):\n    return 'replaced'\n$$"
    )
    query(conn, sql)
    assert query(conn, "SELECT KIND('a')") == [("replaced",)]


def test_broken_handler_module_is_a_clean_error(conn, handler_log: Path) -> None:
    query(
        conn,
        f"CREATE OR REPLACE FUNCTION BROKEN(v VARCHAR) RETURNS VARCHAR {PYTHON} {IMPORTS} "
        "HANDLER = 'handler.no_such_function'",
    )
    with pytest.raises(snowflake.connector.ProgrammingError, match=r"AttributeError.*no_such_function"):
        query(conn, "SELECT BROKEN('a')")
