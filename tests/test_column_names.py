"""Result columns carry Snowflake's names, through the real connector, Snowpark and `deploy sql`.

Snowflake names an unaliased expression by its text as written, upper-cased whole (quoted
identifiers and string literals too), whitespace kept; a column reference by the column's name;
an alias as written, upper-cased unless quoted. Sources: snowpark-python
tests/integ/test_column_names.py (names read back from real accounts: `"C C" LIKE 'V%'`,
`'A'`, `UPPER("A")`), docs developer-guide/snowpark/python/working-with-dataframes
(`SELECT count(*)` → `COUNT(*)`), docs sql-reference/operators-arithmetic (`n1 * n2` → `N1 * N2`).
The embedded Snowflake must never show its internal names (`_ls_udf_<id>(CAST(...))`, DuckDB's
`count_star()`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
from cli_project import deploy, project_environment, shout_manifest, small_project

import localsnow

MANIFEST = shout_manifest("LS_NAMES", "PUBLIC")
PYTHON = "LANGUAGE PYTHON RUNTIME_VERSION = '3.11'"
SETUP = [
    "CREATE DATABASE IF NOT EXISTS LS_NAMES",
    "CREATE SCHEMA IF NOT EXISTS LS_NAMES.PUBLIC",
    "USE SCHEMA LS_NAMES.PUBLIC",
    'CREATE TABLE NEWS (ID NUMBER, ARTICLE VARCHAR, "note" VARCHAR)',
    "INSERT INTO NEWS VALUES (1, 'first story', 'a'), (2, 'second story', 'b')",
    f"CREATE FUNCTION SUMMARIZE(TEXT VARCHAR) RETURNS VARCHAR {PYTHON} HANDLER = 'first_word' "
    "AS $$\ndef first_word(text):\n    return text.split()[0]\n$$",
    # Fails when called: describing a query that calls it must not run it.
    f"CREATE FUNCTION REFUSE(TEXT VARCHAR) RETURNS VARCHAR {PYTHON} HANDLER = 'refuse' "
    "AS $$\ndef refuse(text):\n    raise ValueError('called')\n$$",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = small_project(tmp_path_factory.mktemp("names"), MANIFEST)
    with project_environment(project, tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("sf")) as home:
        yield home


@pytest.fixture(scope="module")
def cur(home: Path) -> Iterator[snowflake.connector.cursor.SnowflakeCursor]:
    conn = snowflake.connector.connect(**localsnow.ensure_running(home))
    cursor = conn.cursor()
    for statement in SETUP:
        cursor.execute(statement)
    yield cursor
    conn.close()


CASES = [
    ("SELECT SUMMARIZE(ARTICLE) FROM NEWS", ["SUMMARIZE(ARTICLE)"]),
    ("select id, summarize(article) from news", ["ID", "SUMMARIZE(ARTICLE)"]),
    ('select "LS_NAMES"."PUBLIC".summarize(article) from news', ['"LS_NAMES"."PUBLIC".SUMMARIZE(ARTICLE)']),
    ("select summarize(article) as s, summarize(article) t from news", ["S", "T"]),
    ('select 1 as "x", id as b, "note", news.article from news', ["x", "B", "note", "ARTICLE"]),
    ("select * from news", ["ID", "ARTICLE", "note"]),
    ("SELECT COUNT(*) FROM NEWS", ["COUNT(*)"]),
    ("select count(*) from news", ["COUNT(*)"]),
    ("select max(id), id + 1, id*2, id::varchar from news group by id", ["MAX(ID)", "ID + 1", "ID*2", "ID::VARCHAR"]),
    ("select 'abc', upper(\"note\") from news", ["'ABC'", 'UPPER("NOTE")']),
    ("select  upper( article ) ,id  from news", ["UPPER( ARTICLE )", "ID"]),  # blanks as written
    ("select count(*) from news union all select 1", ["COUNT(*)"]),
    # Inner names matter too: a star or a quoted reference sees Snowflake's name.
    ("select * from (select summarize(article) from news)", ["SUMMARIZE(ARTICLE)"]),
    ('select "COUNT(*)" from (select count(*) from news)', ["COUNT(*)"]),
    ("with c as (select count(*) from news) select * from c", ["COUNT(*)"]),
    ("select x from (select summarize(article) as x from news)", ["X"]),
]


@pytest.mark.parametrize(("sql", "names"), CASES)
def test_result_columns_have_snowflakes_names(cur, sql: str, names: list[str]) -> None:
    cur.execute(sql)
    assert [column.name for column in cur.description] == names


def test_renamed_udf_calls_still_return_their_values(cur) -> None:
    cur.execute("select id, summarize(article) from news where summarize(article) like 's%' order by id")
    assert cur.fetchall() == [(2, "second")]


def test_describe_names_a_udf_call_without_running_it(cur) -> None:
    described = cur.describe("SELECT ID, REFUSE(ARTICLE) FROM NEWS")
    assert [column.name for column in described] == ["ID", "REFUSE(ARTICLE)"]
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="called"):
        cur.execute("SELECT ID, REFUSE(ARTICLE) FROM NEWS")


def test_snowpark_sees_snowflakes_names(home: Path, cur) -> None:
    from snowflake.snowpark import Session
    from snowflake.snowpark.functions import call_udf, col, lit, upper

    with Session.builder.configs(
        {**localsnow.ensure_running(home), "database": "LS_NAMES", "schema": "PUBLIC"}
    ).create() as session:
        news = session.table("NEWS")
        frame = news.select(col("ID"), call_udf("SUMMARIZE", col("ARTICLE")), upper(col('"note"')), lit("x"))
        # Snowpark quotes what Snowflake names `SUMMARIZE("ARTICLE")`, `UPPER("note")` upper-cased, `'X'`.
        assert frame.columns == ["ID", '"SUMMARIZE(""ARTICLE"")"', '"UPPER(""NOTE"")"', "\"'X'\""]
        assert frame.sort(col("ID")).collect()[0][1] == "first"
        assert session.sql("select count(*) from news").collect()[0].as_dict() == {"COUNT(*)": 2}


def test_deploy_sql_json_keeps_the_names(cur, capsys) -> None:
    query = 'SELECT ID AS b, 1 AS "x", COUNT(*), LS_NAMES.PUBLIC.SUMMARIZE(ARTICLE) FROM LS_NAMES.PUBLIC.NEWS'
    rc, out, err = deploy(capsys, "sql", "--format", "json", f"{query} GROUP BY ID, ARTICLE ORDER BY ID")
    assert rc == 0, err
    assert json.loads(out) == [
        {"B": 1, "x": 1, "COUNT(*)": 1, "LS_NAMES.PUBLIC.SUMMARIZE(ARTICLE)": "first"},
        {"B": 2, "x": 1, "COUNT(*)": 1, "LS_NAMES.PUBLIC.SUMMARIZE(ARTICLE)": "second"},
    ]
