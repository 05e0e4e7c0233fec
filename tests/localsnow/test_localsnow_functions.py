"""Python function DDL and metadata, and information_schema.packages."""

from __future__ import annotations

import pytest
import snowflake.connector
from ls_helpers import put, query

LLM = '"LS_TEST"."PUBLIC"."LLM"'
MODEL = '"LS_TEST"."PUBLIC"."T5_P_MODEL"'
IMPORTS = (f"@{LLM}/ab12/handler.py", f"@{MODEL}/cd34/config.json")
FN = '"LS_TEST"."PUBLIC"."SUMMARIZE"'


def create_sql(
    comment: str = "managed-by=deploy",
    imports: tuple[str, ...] = IMPORTS,
    packages: tuple[str, ...] = ("transformers", "pytorch", "sentencepiece", "pandas"),
    handler: str = "handler.summarize",
    replace: bool = True,
) -> str:
    quoted = ", ".join(f"'{i}'" for i in imports)
    pkgs = ",".join(f"'{p}'" for p in packages)
    return (
        f'CREATE {"OR REPLACE " if replace else ""}FUNCTION {FN}("TEXT" VARCHAR) COPY GRANTS '
        "RETURNS VARCHAR LANGUAGE PYTHON CALLED ON NULL INPUT VOLATILE RUNTIME_VERSION = '3.11' "
        f"COMMENT = '{comment}' IMPORTS = ({quoted}) PACKAGES = ({pkgs}) HANDLER = '{handler}'"
    )


@pytest.fixture(scope="module")
def staged(conn: snowflake.connector.SnowflakeConnection, tmp_path_factory: pytest.TempPathFactory) -> None:
    source = tmp_path_factory.mktemp("udf")
    (source / "handler.py").write_text("def summarize(text):\n    return text\n")
    (source / "config.json").write_text("{}")
    for stage in (LLM, MODEL):
        query(conn, f"CREATE STAGE IF NOT EXISTS {stage}")
    put(conn, source / "handler.py", f"@{LLM}/ab12/")
    put(conn, source / "config.json", f"@{MODEL}/cd34/")
    put(conn, source / "config.json", f"@{LLM}/ef56/")


def describe(conn: snowflake.connector.SnowflakeConnection) -> dict[str, str | None]:
    cur = conn.cursor().execute(f"DESCRIBE FUNCTION {FN}(VARCHAR)")
    assert [d.name for d in cur.description] == ["property", "value"]
    return dict(cur.fetchall())


def show(conn: snowflake.connector.SnowflakeConnection, sql: str) -> list[dict[str, object]]:
    cur = conn.cursor().execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_create_show_describe(conn, staged) -> None:
    assert query(conn, create_sql()) == [("Function SUMMARIZE successfully created.",)]
    (row,) = show(conn, 'SHOW USER FUNCTIONS IN SCHEMA "LS_TEST"."PUBLIC"')
    assert list(row) == [
        "created_on", "name", "schema_name", "is_builtin", "is_aggregate", "is_ansi",
        "min_num_arguments", "max_num_arguments", "arguments", "description", "catalog_name",
        "is_table_function", "valid_for_clustering", "is_secure", "secrets",
        "external_access_integrations", "is_external_function", "language", "is_memoizable",
        "is_data_metric",
    ]  # fmt: skip
    assert row["created_on"] is not None
    assert {k: row[k] for k in ("name", "schema_name", "catalog_name", "language", "is_builtin")} == {
        "name": "SUMMARIZE",
        "schema_name": "PUBLIC",
        "catalog_name": "LS_TEST",
        "language": "PYTHON",
        "is_builtin": "N",
    }
    assert row["arguments"] == "SUMMARIZE(VARCHAR) RETURN VARCHAR"
    assert (row["min_num_arguments"], row["max_num_arguments"]) == (1, 1)
    assert row["description"] == "managed-by=deploy"

    props = describe(conn)
    assert props["signature"] == "(TEXT VARCHAR)"
    assert props["returns"] == "VARCHAR(16777216)"
    assert props["language"] == "PYTHON"
    assert props["null handling"] == "CALLED ON NULL INPUT"
    assert props["volatility"] == "VOLATILE"
    assert props["imports"] == f"[{IMPORTS[0]},{IMPORTS[1]}]"
    assert props["handler"] == "handler.summarize"
    assert props["runtime_version"] == "3.11"
    assert props["packages"] == "['transformers','pytorch','sentencepiece','pandas']"
    assert props["installed_packages"] == (
        "['transformers==4.41.2','pytorch==2.5.1','sentencepiece==0.1.99','pandas==2.1.4']"
    )
    assert {"body", "secrets"} <= set(props)
    assert "external_access_integrations" not in props  # absent without integrations


def test_show_scopes_and_like(conn, staged) -> None:
    query(conn, create_sql())
    assert [r["name"] for r in show(conn, "SHOW USER FUNCTIONS LIKE 'summ%'")] == ["SUMMARIZE"]
    assert show(conn, "SHOW USER FUNCTIONS LIKE 'nothing%' IN ACCOUNT") == []
    assert [r["name"] for r in show(conn, 'SHOW USER FUNCTIONS IN DATABASE "LS_TEST"')] == ["SUMMARIZE"]
    assert [r["name"] for r in show(conn, "SHOW USER FUNCTIONS IN SCHEMA PUBLIC")] == ["SUMMARIZE"]
    query(conn, 'CREATE DATABASE IF NOT EXISTS "OTHER_DB"')
    assert show(conn, 'SHOW USER FUNCTIONS IN DATABASE "OTHER_DB"') == []
    query(conn, 'USE SCHEMA "LS_TEST"."PUBLIC"')


def test_replace_changes_describe(conn, staged) -> None:
    query(conn, create_sql())
    query(conn, create_sql(comment="v2", imports=(f"@{LLM}/ab12/handler.py",), packages=("pandas==2.1.4",)))
    props = describe(conn)
    assert props["imports"] == f"[@{LLM}/ab12/handler.py]"
    assert props["packages"] == "['pandas==2.1.4']"
    assert props["installed_packages"] == "['pandas==2.1.4']"
    (row,) = show(conn, "SHOW USER FUNCTIONS LIKE 'SUMMARIZE'")
    assert row["description"] == "v2"


def test_create_without_replace_and_if_not_exists(conn, staged) -> None:
    query(conn, create_sql())
    with pytest.raises(snowflake.connector.ProgrammingError, match="already exists") as info:
        query(conn, create_sql(replace=False))
    assert info.value.errno == 2002
    sql = create_sql(replace=False).replace("CREATE FUNCTION", "CREATE FUNCTION IF NOT EXISTS")
    assert query(conn, sql) == [("SUMMARIZE already exists, statement succeeded.",)]


def test_unqualified_names_use_the_session_schema(conn, staged) -> None:
    sql = (
        "CREATE OR REPLACE FUNCTION echo(x varchar, n number) RETURNS varchar LANGUAGE PYTHON "
        "RUNTIME_VERSION = '3.11' HANDLER = 'echo' AS $$\ndef echo(x, n):\n    return x\n$$"
    )
    query(conn, sql)
    props = dict(query(conn, "DESC FUNCTION echo(VARCHAR, NUMBER)"))
    assert props["signature"] == "(X VARCHAR, N NUMBER)"
    assert props["body"] == "\ndef echo(x, n):\n    return x\n"
    assert props["imports"] == "[]"
    assert query(conn, "DROP FUNCTION LS_TEST.PUBLIC.ECHO(varchar, number(38,0))") == [("ECHO successfully dropped.",)]


def test_drop_function(conn, staged) -> None:
    query(conn, create_sql())
    assert query(conn, f"DROP FUNCTION {FN}(VARCHAR)") == [("SUMMARIZE successfully dropped.",)]
    assert show(conn, 'SHOW USER FUNCTIONS IN SCHEMA "LS_TEST"."PUBLIC"') == []
    with pytest.raises(snowflake.connector.ProgrammingError, match=r"LS_TEST\.PUBLIC\.SUMMARIZE\(VARCHAR\)"):
        describe(conn)
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist or not authorized"):
        query(conn, f"DROP FUNCTION {FN}(VARCHAR)")
    assert query(conn, f"DROP FUNCTION IF EXISTS {FN}(VARCHAR)") == [
        ("Drop statement executed successfully (SUMMARIZE already dropped).",)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"imports": (f"@{LLM}/ab12/missing.py",)}, r"Failed to access import '@.*missing\.py'"),
        ({"imports": ('@"LS_TEST"."PUBLIC"."NO_STAGE"/a.py',)}, "does not exist or not authorized"),
        (
            {"imports": (f"@{MODEL}/cd34/config.json", f"@{LLM}/ef56/config.json")},
            "Duplicate import file name 'config.json'",
        ),
        ({"packages": ("transformers", "no-such-package")}, "Cannot create a Python function with the specified"),
        ({"packages": ("transformers==99.0",)}, "specified packages"),
    ],
)  # fmt: skip
def test_create_validates_like_snowflake(conn, staged, change: dict, message: str) -> None:
    query(conn, f"DROP FUNCTION IF EXISTS {FN}(VARCHAR)")
    with pytest.raises(snowflake.connector.ProgrammingError, match=message):
        query(conn, create_sql(**change))
    assert show(conn, "SHOW USER FUNCTIONS LIKE 'SUMMARIZE'") == []  # nothing was created


def test_information_schema_packages(conn) -> None:
    cur = conn.cursor().execute(
        "SELECT package_name, version, language FROM information_schema.packages WHERE language = 'python'"
    )
    assert [d.name for d in cur.description] == ["PACKAGE_NAME", "VERSION", "LANGUAGE"]
    rows = set(cur.fetchall())
    for expected in [
        ("transformers", "4.41.2"),
        ("pytorch", "2.5.1"),
        ("sentencepiece", "0.1.99"),
        ("tokenizers", "0.19.1"),
    ]:
        assert (*expected, "python") in rows
    qualified = query(
        conn,
        'SELECT DISTINCT version FROM "LS_TEST".information_schema.packages '
        "WHERE package_name = 'transformers' AND runtime_version = '3.11' ORDER BY version",
    )
    assert qualified == [("4.39.3",), ("4.41.2",)]
