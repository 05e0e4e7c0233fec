"""Valid but unusual input deploys and round-trips on the embedded Snowflake.

Reserved words as names, comments with an apostrophe, `$$`, a newline and
non-ASCII text: validation must not refuse them, the SQL must quote them, and
once applied the account must read back equal, so plan and drift are clean.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cli_project import deploy, project_environment, small_project, sql_runner

STAGE_COMMENT = "it's a $$ stage — résumé 要約\nsecond line\tand a tab"
FUNCTION_COMMENT = "O'Brien's $$ summary 要約 ✓ \\ backslash"

MANIFEST = textwrap.dedent(
    """\
    apiVersion: 1
    database: T5_ODD
    schema: SELECT
    stages:
      TABLE:
        comment: "it's a $$ stage — résumé 要約\\nsecond line\\tand a tab"
        files:
          - from: ../udf/handler.py
    functions:
      GROUP:
        args:
          - {name: FROM, type: VARCHAR}
        returns: VARCHAR
        runtime: "3.11"
        handler: handler.shout
        packages: [pandas]
        imports:
          - stage: TABLE
        comment: "O'Brien's $$ summary 要約 ✓ \\\\ backslash"
    """
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    project = small_project(tmp_path_factory.mktemp("odd"), MANIFEST)
    with project_environment(project, tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("sf")) as home:
        yield home


def test_unusual_names_and_comments_deploy_and_round_trip(env: Path, capsys) -> None:
    rc, out, err = deploy(capsys, "plan", "--format", "sql")
    assert rc == 2, err
    # The comment's newline and tab are escaped inside its literal: the statement stays on one line.
    (create_stage,) = [line for line in out.splitlines() if line.startswith("CREATE STAGE")]
    assert "\\nsecond line\\tand a tab" in create_stage
    rc, _, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, err
    for command in ("plan", "drift"):
        rc, out, err = deploy(capsys, command)
        assert rc == 0, (command, out, err)
    with sql_runner(env) as sql:
        stages = sql('SHOW STAGES IN SCHEMA "T5_ODD"."SELECT"')
        assert [row[8] for row in stages if row[1] == "TABLE"] == [f"{STAGE_COMMENT} [t5-deploy]"]
        functions = [r for r in sql('SHOW USER FUNCTIONS IN SCHEMA "T5_ODD"."SELECT"') if r[1] == "GROUP"]
        assert len(functions) == 1 and functions[0][9].startswith(FUNCTION_COMMENT), functions
        assert sql("""SELECT "T5_ODD"."SELECT"."GROUP"('it''s quiet')""") == [("IT'S QUIET",)]
