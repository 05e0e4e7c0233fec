"""Environments (issue 11): one set of manifests, several targets chosen with `deploy --env NAME`.

The manifest declares `dev` and `prod` under `environments:`; each overrides the database (prod also
the schema, a setting and the role) and names its connection. Both are applied to one embedded
Snowflake through the CLI; each plan names its target, a setting changed for prod plans only prod,
a saved plan for dev is refused for prod as another target, and mistakes name the file, line and field.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_project import project_environment, shout_manifest, small_project, sql_runner

from deploy.cli import main
from deploy.errors import ManifestInvalid
from deploy.manifest import load_names

# One manifest, three targets; the base and each environment differ in database, schema, role or settings.
ENVIRONMENTS = textwrap.dedent(
    """\
    environments:
      dev:
        connection: local
        database: T5_ENV_DEV
      prod:
        connection: local
        database: ${T5_DATABASE:-T5_ENV_PROD}
        schema: SERVE
        role: PROD_ROLE
        functions:
          SHOUT:
            settings:
              num_beams: 4
      elsewhere:
        connection: not_configured
        database: T5_ENV_ELSEWHERE
    """
)
MANIFEST = shout_manifest(
    "${T5_DATABASE:-T5_ENV_BASE}", "APP", function="settings:\n  num_beams: 1", extra=ENVIRONMENTS
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`deploy ARGS` with no --connection: the environment's own connection is used."""
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "project").mkdir()
    root = small_project(tmp_path / "project", MANIFEST)
    with project_environment(root, tmp_path / "localsnow", tmp_path / "snowflake_home") as home:
        yield root, home


def test_dev_and_prod_are_two_targets_of_one_manifest(project, capsys):
    root, home = project
    rc, out, err = run(capsys, "--env", "dev", "plan")
    assert rc == 2, out + err
    assert out.splitlines()[0] == "Target: environment 'dev': T5_ENV_DEV.APP through connection 'local'"
    rc, out, err = run(capsys, "--env", "prod", "plan", "--format", "markdown")
    assert rc == 2, out + err
    assert "**Target:** environment `prod`: `T5_ENV_PROD.SERVE` through connection `local`" in out
    rc, out, err = run(capsys, "--env", "prod", "plan", "--format", "json")
    assert json.loads(out)["scope"]["environment"] == "prod"
    assert json.loads(out)["scope"]["schemas"] == ["T5_ENV_PROD.SERVE"]

    targets = {
        env: f"Target: environment '{env}': {schema} through connection 'local'"
        for env, schema in (("dev", "T5_ENV_DEV.APP"), ("prod", "T5_ENV_PROD.SERVE"))
    }
    for env in ("dev", "prod"):
        rc, out, err = run(capsys, "--env", env, "apply", "--yes")
        assert rc == 0, out + err
        # apply names its target as plan does.
        assert out.splitlines()[0] == targets[env]
    with sql_runner(home) as sql:
        assert sql("SELECT T5_ENV_DEV.APP.SHOUT('dev')") == [("DEV",)]
        assert sql("SELECT T5_ENV_PROD.SERVE.SHOUT('prod')") == [("PROD",)]
        # The two differ only by prod's setting: another settings file, so another stage version.
        configs = {
            db: {row[0].split("/")[-2] for row in sql(f"LIST @{db}.{sc}.CODE") if row[0].endswith("udf_config.json")}
            for db, sc in (("T5_ENV_DEV", "APP"), ("T5_ENV_PROD", "SERVE"))
        }
        assert len(configs["T5_ENV_DEV"]) == len(configs["T5_ENV_PROD"]) == 1
        assert configs["T5_ENV_DEV"] != configs["T5_ENV_PROD"]
    # The environment's database, schema and role are the session's (the `local` connection's defaults).
    rc, out, err = run(
        capsys, "--env", "prod", "sql", "SELECT CURRENT_DATABASE() AS D, CURRENT_ROLE() AS R", "-f", "json"
    )
    assert rc == 0, out + err
    assert json.loads(out) == [{"D": "T5_ENV_PROD", "R": "PROD_ROLE"}]

    for env in ("dev", "prod"):
        rc, out, err = run(capsys, "--env", env, "plan")
        assert rc == 0 and "No changes." in out, out + err
        rc, out, err = run(capsys, "--env", env, "drift")  # drift names its target too
        assert rc == 0 and out.splitlines()[0] == targets[env], out + err
    # Without --env: the manifest as written, today's behaviour (no target line).
    rc, out, err = run(capsys, "--connection", "local", "plan")
    assert rc == 2 and "T5_ENV_BASE" in out and "Target:" not in out, out + err

    # A setting changed for prod: a plan for prod only.
    manifest = root / "manifests" / "manifest.yaml"
    manifest.write_text(MANIFEST.replace("num_beams: 4", "num_beams: 2"))
    rc, out, err = run(capsys, "--env", "prod", "plan")
    assert rc == 2, out + err
    assert "T5_ENV_PROD.SERVE.SHOUT(VARCHAR)" in out and "T5_ENV_DEV" not in out
    rc, out, err = run(capsys, "--env", "dev", "plan")
    assert rc == 0, out + err


def test_a_saved_plan_for_dev_is_refused_for_prod(project, capsys, tmp_path):
    saved = tmp_path / "dev-plan.json"
    rc, out, err = run(capsys, "--env", "dev", "plan", "--format", "json", "--out", str(saved))
    assert rc == 2, out + err
    rc, out, err = run(capsys, "--env", "prod", "apply", "--yes", "--plan", str(saved))
    assert rc == 1
    assert "the plan is for another target" in err
    assert "environment 'dev' -> 'prod'" in err and "--env dev" in err
    rc, out, err = run(capsys, "--env", "dev", "apply", "--yes", "--plan", str(saved))
    assert rc == 0, out + err
    # A plan made without --env is for another target than one with it, and the other way round.
    rc, out, err = run(capsys, "--connection", "local", "apply", "--yes", "--plan", str(saved))
    assert rc == 1 and "environment 'dev' -> none (no --env)" in err


def test_the_environment_names_the_connection_unless_connection_is_given(project, capsys):
    rc, out, err = run(capsys, "--env", "elsewhere", "plan")
    assert rc == 1 and "not_configured" in err, out + err
    rc, out, err = run(capsys, "--env", "elsewhere", "--connection", "local", "plan")
    assert rc == 2, out + err
    assert out.splitlines()[0] == "Target: environment 'elsewhere': T5_ENV_ELSEWHERE.APP through connection 'local'"


def test_unknown_environment_names_the_declared_ones(project, capsys, monkeypatch):
    rc, out, err = run(capsys, "--env", "staging", "validate")
    assert rc == 1
    assert "manifests/manifest.yaml:19: environments: environment 'staging' is not declared" in err
    assert "declared: dev, elsewhere, prod" in err
    monkeypatch.setenv("T5_DEPLOY_ENV", "staging")  # the option's environment variable
    rc, out, err = run(capsys, "validate")
    assert rc == 1 and "'staging' is not declared" in err
    monkeypatch.setenv("T5_DEPLOY_ENV", "prod")
    rc, out, err = run(capsys, "validate")
    assert rc == 0 and "Environment prod: T5_ENV_PROD.SERVE." in out, out + err


def test_precedence_entry_over_manifest_variables_where_the_entry_reads_them(tmp_path):
    """The entry beats the top-level value; an environment variable wins only where the entry reads it."""
    root = small_project(tmp_path, MANIFEST) / "manifests"

    def schemas(environ: dict[str, str], env: str | None) -> tuple:
        return load_names(root, environ=environ, env=env).schemas

    assert schemas({}, None) == (("T5_ENV_BASE", "APP"),)
    assert schemas({"T5_DATABASE": "T5_X"}, None) == (("T5_X", "APP"),)
    assert schemas({"T5_DATABASE": "T5_X"}, "dev") == (("T5_ENV_DEV", "APP"),)  # dev writes a fixed name
    assert schemas({"T5_DATABASE": "T5_X"}, "prod") == (("T5_X", "SERVE"),)  # prod reads the variable
    assert schemas({}, "prod") == (("T5_ENV_PROD", "SERVE"),)


BAD = textwrap.dedent(
    """\
    apiVersion: 1
    database: T5_ENV_BASE
    schema: APP
    stages:
      CODE:
        files:
          - from: ../udf/handler.py
    functions:
      SHOUT:
        args: []
        returns: VARCHAR
        runtime: "3.11"
        handler: handler.shout
        imports:
          - stage: CODE
    environments:
      prod:
        databse: T5_PROD
        warehouse: "bad warehouse"
        functions:
          SHOUT:
            settings:
              num_beams: 99
      Bad Env: {}
    """
)


def test_schema_errors_name_file_line_and_field(tmp_path):
    root = small_project(tmp_path, BAD) / "manifests"
    with pytest.raises(ManifestInvalid) as e:
        load_names(root, display_root=tmp_path)
    problems = e.value.problems
    assert any(p.startswith("manifests/manifest.yaml:18: environments.prod.databse: unknown key") for p in problems)
    assert any(
        p.startswith("manifests/manifest.yaml:19: environments.prod.warehouse: 'bad warehouse' is not a valid")
        for p in problems
    )
    assert any(
        p.startswith("manifests/manifest.yaml:23: environments.prod.functions.SHOUT.settings.num_beams: 99")
        for p in problems
    )
    assert any(p.startswith("manifests/manifest.yaml:24: environments: 'Bad Env' does not match") for p in problems)
    # What only the chosen environment can tell: a function it does not declare, a reserved schema.
    (root / "manifest.yaml").write_text(BAD.split("environments:")[0] + STAGING)
    with pytest.raises(ManifestInvalid) as e:
        load_names(root, display_root=tmp_path, env="staging")
    problems = e.value.problems
    assert (
        "manifests/manifest.yaml:20: environments.staging.functions.NOPE: function 'NOPE' is not declared in this "
        "manifest's functions (declared: SHOUT)" in problems
    )
    assert any(
        p.startswith("manifests/manifest.yaml:18: schema: INFORMATION_SCHEMA is the read-only") for p in problems
    )


STAGING = """\
environments:
  staging:
    schema: INFORMATION_SCHEMA
    functions:
      NOPE:
        settings:
          num_beams: 2
"""
