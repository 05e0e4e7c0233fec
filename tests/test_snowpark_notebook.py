"""The notebook flow this project replaces, run with Snowpark against the embedded Snowflake.

docs/examples/snowpark_notebook.py is the flow as its readers write it (stages, PUT,
add_import, udf.register of a plain function that loads the model from the import
directory, SQL and DataFrame calls, close); here it runs as a script and must exit 0.
The function it registers is checked afterwards with DESCRIBE FUNCTION, as Snowpark
created it. The other tests cover what Snowpark sends that the flow does not show:
the packages it adds itself, and a function too large to inline, uploaded as a zip.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import snowflake.connector

import localsnow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "examples" / "snowpark_notebook.py"
DATABASE, SCHEMA = "T5_NOTEBOOK", "PUBLIC"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh embedded Snowflake; one UDF worker per function, so the flow loads the model once."""
    home = tmp_path_factory.mktemp("localsnow")
    mp = pytest.MonkeyPatch()
    mp.setenv("LOCALSNOW_HOME", str(home))
    mp.setenv("LOCALSNOW_UDF_PROCESSES", "1")
    mp.setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
    try:
        localsnow.ensure_running(home)
        yield home
    finally:
        localsnow.stop(home)
        mp.undo()


def _describe(home: Path, signature: str) -> dict[str, Any]:
    conn = snowflake.connector.connect(**localsnow.ensure_running(home), database=DATABASE, schema=SCHEMA)
    try:
        return dict(conn.cursor().execute(f"DESCRIBE FUNCTION {signature}").fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def notebook_run(home: Path, bootstrapped_artifacts: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(bootstrapped_artifacts / "model"), str(bootstrapped_artifacts / "tokenizer")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_notebook_flow_exits_0_and_reports_each_step(notebook_run: subprocess.CompletedProcess[str]) -> None:
    assert notebook_run.returncode == 0, f"stdout:\n{notebook_run.stdout}\nstderr:\n{notebook_run.stderr}"
    lines = notebook_run.stdout.splitlines()
    # The server runs (the fixture started it), so the documented command supplies the connection.
    assert lines[0] == "connection: deploy local status --format json"
    assert f"session: {DATABASE}.{SCHEMA}" in [line.replace('"', "") for line in lines]
    for stage in ("T5_P_TOKENIZER", "T5_P_MODEL", "LLM"):
        assert f"create stage {stage}: Stage area {stage} successfully created." in lines
    staged = [("model.safetensors", "T5_P_MODEL"), ("config.json", "T5_P_MODEL"), ("spiece.model", "T5_P_TOKENIZER")]
    for name, stage in staged:
        assert f"put {name} -> @{stage}: UPLOADED" in lines
    assert "register SUMMARIZE: done" in lines
    assert lines[-1] == "session closed"


def test_sql_and_dataframe_calls_give_the_same_summary(
    home: Path, notebook_run: subprocess.CompletedProcess[str]
) -> None:
    assert notebook_run.returncode == 0, notebook_run.stderr
    lines = notebook_run.stdout.splitlines()
    (sql_line,) = [line for line in lines if line.startswith("select SUMMARIZE('...'): ")]
    summary = ast.literal_eval(sql_line.split(": ", 1)[1])  # the script prints repr() of the value
    assert isinstance(summary, str) and summary.strip()
    # The DataFrame's table: a header naming ID and SUMMARY, then rows 1 and 2.
    header = next(i for i, line in enumerate(lines) if line.split() == ["ID", "SUMMARY"])
    rows = lines[header + 1 : header + 3]
    assert [row.split()[0] for row in rows] == ["1", "2"]
    # Row 1 holds the article the SQL call summarized; the same (warm) worker answers it again here.
    conn = snowflake.connector.connect(**localsnow.ensure_running(home), database=DATABASE, schema=SCHEMA)
    try:
        ((again,),) = conn.cursor().execute("SELECT SUMMARIZE(ARTICLE) FROM NEWS WHERE ID = 1").fetchall()
    finally:
        conn.close()
    assert again == summary
    assert rows[0].split(None, 1)[1].strip() == summary.strip()


def test_the_registered_function_is_what_snowpark_sent(
    home: Path, notebook_run: subprocess.CompletedProcess[str]
) -> None:
    assert notebook_run.returncode == 0, notebook_run.stderr
    described = _describe(home, "SUMMARIZE(VARCHAR)")
    assert described["handler"] == "compute"  # Snowpark's generated wrapper around the pickled function
    assert described["body"].lstrip().startswith("import pickle")
    imports = described["imports"]
    for path in ("@T5_P_MODEL/model.safetensors", "@T5_P_MODEL/config.json", "@T5_P_TOKENIZER/spiece.model"):
        assert path in imports
    # Snowpark adds cloudpickle at least as new as its own (session.py, _get_req_identifiers_list).
    assert described["packages"] == (
        f"['transformers','sentencepiece','pytorch','cloudpickle>={cloudpickle.__version__}']"
    )
    installed = described["installed_packages"]
    assert "'transformers==4.41.2'" in installed and "'pytorch==2.5.1'" in installed
    assert "'cloudpickle==3.1.1'" in installed


def test_cloudpickle_newer_than_the_channel_is_refused_with_the_cause(home: Path) -> None:
    """Snowpark adds 'cloudpickle>=<local version>'; Snowflake's channel stops at 3.1.1 (packages.json)."""
    conn = snowflake.connector.connect(**localsnow.ensure_running(home))
    cur = conn.cursor()
    try:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
        cur.execute(f"USE SCHEMA {DATABASE}.{SCHEMA}")
        create = (
            "CREATE OR REPLACE FUNCTION ECHO(X VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON RUNTIME_VERSION=3.11 "
            "PACKAGES=('{}') HANDLER='echo' AS $$\ndef echo(x):\n    return x\n$$"
        )
        with pytest.raises(snowflake.connector.ProgrammingError) as refused:
            cur.execute(create.format("cloudpickle>=3.1.2"))
        assert refused.value.errno == 100357
        assert "Cannot create a Python function with the specified packages" in refused.value.msg
        assert "cloudpickle 3.1.1" in refused.value.msg and "pip install 'cloudpickle==3.1.1'" in refused.value.msg
        cur.execute(create.format("cloudpickle>=3.1.1"))
        assert cur.execute("SELECT ECHO('hi')").fetchall() == [("hi",)]
    finally:
        conn.close()
    assert _describe(home, "ECHO(VARCHAR)")["installed_packages"] == "['cloudpickle==3.1.1']"


def test_a_function_too_large_to_inline_runs_from_the_zip_snowpark_uploads(home: Path) -> None:
    """Above 8 KiB of code, Snowpark uploads udf_py_<n>.zip to the stage and imports it (udf_utils.py)."""
    from snowflake.snowpark import Session
    from snowflake.snowpark.types import StringType

    padding = "x" * 20_000  # captured by value: the pickled closure outgrows the inline limit

    def shout(text: str) -> str:
        return text.upper() + str(len(padding))

    session = Session.builder.configs(localsnow.ensure_running(home)).create()
    try:
        session.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}").collect()
        session.sql(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}").collect()
        session.use_schema(f"{DATABASE}.{SCHEMA}")
        session.sql("CREATE STAGE IF NOT EXISTS CODE").collect()
        session.udf.register(
            shout,
            name="SHOUT",
            is_permanent=True,
            stage_location="@CODE",
            replace=True,
            input_types=[StringType()],
            return_type=StringType(),
            comment="shouts",  # Snowpark sends COMMENT ON FUNCTION SHOUT(STRING) IS 'shouts' after CREATE
        )
        assert session.sql("SELECT SHOUT('abc')").collect()[0][0] == "ABC20000"
        shown = session.sql("SHOW USER FUNCTIONS LIKE 'SHOUT'").collect()
        assert [row["description"] for row in shown] == ["shouts"]
        staged = [row[0] for row in session.sql("LS @CODE").collect()]
    finally:
        session.close()
    described = _describe(home, "SHOUT(VARCHAR)")
    assert described["body"] is None
    (zip_name,) = [name.rsplit("/", 1)[1] for name in staged if name.endswith(".zip")]
    assert described["imports"] == f"[@CODE/SHOUT/{zip_name}]"
    assert described["handler"] == f"{zip_name.removesuffix('.zip')}.compute"


def test_a_temporary_udf_ends_with_its_session(home: Path) -> None:
    """Snowpark registers a UDF as TEMPORARY unless is_permanent=True (udf_utils.py); it goes with the session."""
    from snowflake.snowpark import Session
    from snowflake.snowpark.types import IntegerType

    with Session.builder.configs(localsnow.ensure_running(home)).create() as session:
        session.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}").collect()
        session.sql(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}").collect()
        session.use_schema(f"{DATABASE}.{SCHEMA}")
        session.udf.register(lambda x: x + 1, name="PLUS_ONE", input_types=[IntegerType()], return_type=IntegerType())
        assert session.sql("SELECT PLUS_ONE(41)").collect()[0][0] == 42
        listed = [row["name"] for row in session.sql("SHOW USER FUNCTIONS LIKE 'PLUS_ONE'").collect()]
        assert listed == ["PLUS_ONE"]
    conn = snowflake.connector.connect(**localsnow.ensure_running(home), database=DATABASE, schema=SCHEMA)
    try:
        assert conn.cursor().execute("SHOW USER FUNCTIONS LIKE 'PLUS_ONE'").fetchall() == []
        with pytest.raises(snowflake.connector.ProgrammingError):
            conn.cursor().execute("SELECT PLUS_ONE(41)")
    finally:
        conn.close()
