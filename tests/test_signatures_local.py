"""Sized argument types deploy once on the embedded Snowflake: the next plan is empty.

Real Snowflake's DESCRIBE prints the signature without lengths or precision and the
return type with them (Terraform provider pkg/sdk/testint/functions_integration_test.go);
the embedded one must print the same for this round trip to mean anything.
"""

from __future__ import annotations

import textwrap

import pytest
from cli_project import deploy, project_environment, small_project, sql_runner

MANIFEST = textwrap.dedent(
    """\
    apiVersion: 1
    database: T5_SIGNATURES
    schema: PUBLIC
    stages:
      CODE:
        files:
          - from: ../udf/handler.py
    functions:
      LABEL:
        args:
          - {name: TEXT, type: VARCHAR(100)}
          - {name: AMOUNT, type: "NUMBER(36, 2)"}
        returns: VARCHAR(100)
        runtime: "3.11"
        handler: handler.label
        imports:
          - stage: CODE
    """
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    handler = "def label(text, amount):\n    return f'{text}: {amount}'\n"
    project = small_project(tmp_path_factory.mktemp("signatures"), MANIFEST, handler)
    with project_environment(project, tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("sf")) as home:
        yield home


def test_sized_arguments_apply_once_then_plan_nothing(env, capsys) -> None:
    rc, _, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, err
    with sql_runner(env) as sql:
        described = dict(sql("DESCRIBE FUNCTION T5_SIGNATURES.PUBLIC.LABEL(VARCHAR, NUMBER)"))
        (show,) = [r for r in sql("SHOW USER FUNCTIONS IN SCHEMA T5_SIGNATURES.PUBLIC") if r[1] == "LABEL"]
    assert described["signature"] == "(TEXT VARCHAR, AMOUNT NUMBER)"
    assert described["returns"] == "VARCHAR(100)"
    assert show[8] == "LABEL(VARCHAR, NUMBER) RETURN VARCHAR"
    for command in ("plan", "drift"):
        rc, out, err = deploy(capsys, command)
        assert rc == 0, (command, out, err)
        assert "No changes." in out or command == "drift", out
