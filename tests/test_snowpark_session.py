"""Snowpark's everyday session and DataFrame calls against the embedded Snowflake.

Each test drives the real Snowpark 1.56 (or the connector it wraps) against a local
server with its own home: session creation and close, the current_* names, USE
WAREHOUSE/ROLE, create_dataframe, write_pandas, save_as_table, range, RESULT_SCAN,
LAST_QUERY_ID, and the temporary objects Snowpark creates, which must end with
their session and with the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import snowflake.connector
from snowflake.connector.errors import ProgrammingError
from snowflake.snowpark import Session
from snowflake.snowpark.functions import col

import localsnow

DATABASE, SCHEMA = "T5_SNOWPARK", "PUBLIC"
WAREHOUSE = "LOCALSNOW_WH"


def _create_database(kwargs: dict[str, Any]) -> None:
    conn = snowflake.connector.connect(**kwargs)
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        conn.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("localsnow")
    mp = pytest.MonkeyPatch()
    mp.setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
    try:
        _create_database(localsnow.ensure_running(home))
        yield home
    finally:
        localsnow.stop(home)
        mp.undo()


@pytest.fixture
def config(home: Path) -> dict[str, Any]:
    return {**localsnow.ensure_running(home), "database": DATABASE, "schema": SCHEMA}


@pytest.fixture
def session(config: dict[str, Any]) -> Iterator[Session]:
    session = Session.builder.configs(config).create()
    try:
        yield session
    finally:
        session.close()


def _stage_names(config: dict[str, Any]) -> set[str]:
    conn = snowflake.connector.connect(**config)
    try:
        return {row[1] for row in conn.cursor().execute(f"SHOW STAGES IN SCHEMA {DATABASE}.{SCHEMA}").fetchall()}
    finally:
        conn.close()


def _table_names(config: dict[str, Any]) -> set[str]:
    conn = snowflake.connector.connect(**config)
    try:
        return {row[1] for row in conn.cursor().execute(f"SHOW TABLES IN SCHEMA {DATABASE}.{SCHEMA}").fetchall()}
    finally:
        conn.close()


def test_current_names_are_snowflakes(session: Session) -> None:
    assert session.get_current_role() == '"ACCOUNTADMIN"'
    assert session.get_current_warehouse() == f'"{WAREHOUSE}"'
    assert session.get_current_database() == f'"{DATABASE}"'
    assert session.get_current_schema() == f'"{SCHEMA}"'
    assert session.get_current_user() == '"LOCALSNOW"'
    (row,) = session.sql(
        "select current_role(), current_warehouse(), current_session(), current_user(), current_account(), "
        "current_database(), current_schema()"
    ).collect()
    assert row.as_dict() == {
        "CURRENT_ROLE()": "ACCOUNTADMIN",
        "CURRENT_WAREHOUSE()": WAREHOUSE,
        "CURRENT_SESSION()": str(session.session_id),
        "CURRENT_USER()": "LOCALSNOW",
        "CURRENT_ACCOUNT()": "LOCAL",
        "CURRENT_DATABASE()": DATABASE,
        "CURRENT_SCHEMA()": SCHEMA,
    }
    assert isinstance(session.session_id, int)
    assert session.sql("select current_version()").collect()[0][0]


def test_the_login_role_and_warehouse_are_the_sessions(config: dict[str, Any]) -> None:
    with Session.builder.configs({**config, "role": "sysadmin", "warehouse": WAREHOUSE}).create() as session:
        assert session.get_current_role() == '"SYSADMIN"'
        assert session.sql("select current_role()").collect()[0][0] == "SYSADMIN"
    # A warehouse that does not exist leaves the session without one, as in Snowflake.
    with Session.builder.configs({**config, "warehouse": "NO_SUCH_WH"}).create() as session:
        assert session.sql("select current_warehouse()").collect()[0][0] is None


def test_use_warehouse_and_role_are_remembered_per_session(config: dict[str, Any], session: Session) -> None:
    with Session.builder.configs(config).create() as other:
        other.use_role("SYSADMIN")
        assert other.get_current_role() == '"SYSADMIN"'
        other.sql("CREATE WAREHOUSE IF NOT EXISTS OTHER_WH").collect()
        # CREATE WAREHOUSE makes it the session's current warehouse (create-warehouse usage notes).
        assert other.get_current_warehouse() == '"OTHER_WH"'
        other.use_warehouse(WAREHOUSE)
        assert other.get_current_warehouse() == f'"{WAREHOUSE}"'
        other.use_warehouse("OTHER_WH")
        shown = {r["name"]: r["is_current"] for r in other.sql("SHOW WAREHOUSES").collect()}
        assert shown == {WAREHOUSE: "N", "OTHER_WH": "Y"}
        with pytest.raises(ProgrammingError, match="Object does not exist"):
            other.use_warehouse("NO_SUCH_WH")
    assert session.get_current_role() == '"ACCOUNTADMIN"'
    assert session.get_current_warehouse() == f'"{WAREHOUSE}"'
    assert session.sql("CREATE WAREHOUSE IF NOT EXISTS OTHER_WH").collect()[0][0] == (
        "OTHER_WH already exists, statement succeeded."
    )


def test_create_dataframe_from_lists_and_pandas(session: Session) -> None:
    listed = session.create_dataframe([(1, "a"), (2, "b")], schema=["ID", "NAME"])
    assert listed.columns == ["ID", "NAME"]
    assert [r.as_dict() for r in listed.sort("ID").collect()] == [{"ID": 1, "NAME": "a"}, {"ID": 2, "NAME": "b"}]
    assert listed.filter(col("ID") > 1).select("NAME").collect()[0]["NAME"] == "b"
    frame = session.create_dataframe(pd.DataFrame({"ID": [3, 4], "NAME": ["c", "d"]}))
    assert frame.count() == 2
    assert [tuple(r) for r in frame.sort("ID").collect()] == [(3, "c"), (4, "d")]


def test_write_pandas_save_as_table_and_table_reads(session: Session) -> None:
    written = session.write_pandas(
        pd.DataFrame({"ID": [1, 2, 3], "KIND": ["x", "y", "x"]}), "PANDAS_T", auto_create_table=True, overwrite=True
    )
    assert written.count() == 3
    table = session.table("PANDAS_T").to_pandas().sort_values("ID").reset_index(drop=True)
    assert list(table.columns) == ["ID", "KIND"]
    assert table["KIND"].tolist() == ["x", "y", "x"]

    source = session.create_dataframe([(1, "a"), (2, "b")], schema=["ID", "NAME"])
    source.write.save_as_table("SAVED_T", mode="overwrite")
    session.create_dataframe([(3, "b")], schema=["ID", "NAME"]).write.save_as_table("SAVED_T", mode="append")
    saved = session.table("SAVED_T")
    assert saved.count() == 3
    grouped = saved.group_by("NAME").count().sort("NAME").collect()
    assert [(r["NAME"], r["COUNT"]) for r in grouped] == [("a", 1), ("b", 2)]
    source.write.save_as_table("SAVED_T", mode="overwrite")
    assert [r["ID"] for r in session.table("SAVED_T").sort(col("ID").desc()).collect()] == [2, 1]


def test_range(session: Session) -> None:
    assert [r["ID"] for r in session.range(5).collect()] == [0, 1, 2, 3, 4]
    assert [r["ID"] for r in session.range(2, 10, 3).collect()] == [2, 5, 8]
    assert session.range(100).filter(col("ID") >= 90).count() == 10


def test_result_scan_and_last_query_id(config: dict[str, Any], session: Session) -> None:
    # Snowpark reads a SHOW result through RESULT_SCAN when a DataFrame is built on it.
    names = session.sql("SHOW WAREHOUSES").filter(col('"name"') == WAREHOUSE).select('"name"').collect()
    assert [r[0] for r in names] == [WAREHOUSE]
    conn = snowflake.connector.connect(**config)
    try:
        cur = conn.cursor()
        cur.execute("select 42 as answer")
        first = cur.sfqid
        assert cur.execute("select last_query_id()").fetchall() == [(first,)]
        assert cur.execute(f"select answer + 1 from table(result_scan('{first}'))").fetchall() == [(43,)]
        cur.execute("select 7 as n")
        assert cur.execute("select n * 2 from table(result_scan(last_query_id()))").fetchall() == [(14,)]
        assert cur.execute("select last_query_id(1)").fetchall() == [(first,)]
    finally:
        conn.close()


def test_cancel_all_queries_answers_as_snowflake(session: Session) -> None:
    text = session.sql(f"select system$cancel_all_queries({session.session_id})").collect()[0][0]
    assert text == "0 cancelled."


def test_temporary_objects_end_with_their_session(config: dict[str, Any]) -> None:
    session = Session.builder.configs(config).create()
    session.sql("CREATE SCOPED TEMPORARY STAGE SESSION_STAGE").collect()
    session.create_dataframe([(1,)], schema=["X"]).write.save_as_table("SESSION_T", table_type="temporary")
    session.sql("CREATE TEMPORARY TABLE SESSION_T2 (A INT)").collect()
    assert session.table(f"{DATABASE}.{SCHEMA}.SESSION_T").collect()[0]["X"] == 1  # qualified names reach it
    assert {"SESSION_STAGE"} <= _stage_names(config)
    assert {"SESSION_T", "SESSION_T2"} <= _table_names(config)
    session.close()
    assert "SESSION_STAGE" not in _stage_names(config)
    assert not {"SESSION_T", "SESSION_T2"} & _table_names(config)
    assert not any(n.startswith("SNOWPARK_TEMP_") for n in _stage_names(config) | _table_names(config))


def test_a_permanent_table_that_replaces_a_temporary_one_stays(config: dict[str, Any]) -> None:
    with Session.builder.configs(config).create() as session:
        session.sql("CREATE TEMPORARY TABLE KEPT_T (A INT)").collect()
        session.sql("CREATE OR REPLACE TABLE KEPT_T (A INT)").collect()
    assert "KEPT_T" in _table_names(config)


def test_temporary_objects_do_not_survive_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "restart"
    kwargs = localsnow.ensure_running(home)
    try:
        _create_database(kwargs)
        config = {**kwargs, "database": DATABASE, "schema": SCHEMA}
        conn = snowflake.connector.connect(**config)  # never closed: only the restart ends it
        conn.cursor().execute("CREATE TEMPORARY STAGE LEFT_STAGE")
        conn.cursor().execute("CREATE TEMPORARY TABLE LEFT_T (A INT)")
        conn.cursor().execute("CREATE TABLE KEPT_T (A INT)")
        localsnow.stop(home)
        config = {**localsnow.ensure_running(home), "database": DATABASE, "schema": SCHEMA}
        assert "LEFT_STAGE" not in _stage_names(config)
        assert _table_names(config) == {"KEPT_T"}
    finally:
        localsnow.stop(home)


_CONTEXT_MANAGER_SCRIPT = textwrap.dedent(
    """
    import json, os
    from snowflake.snowpark import Session

    config = json.loads(os.environ["SNOWPARK_CONFIG"])
    with Session.builder.configs(config).create() as session:
        print(session.sql("select 40 + 2 as answer").collect()[0]["ANSWER"])
        print(session.get_current_warehouse())
    """
)


def test_the_context_manager_exits_zero(config: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "with_session.py"
    script.write_text(_CONTEXT_MANAGER_SCRIPT, "utf-8")
    env = dict(os.environ, SNOWPARK_CONFIG=json.dumps(config))
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["42", f'"{WAREHOUSE}"']
