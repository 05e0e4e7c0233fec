"""The Snowflake CLI (`snow`, snowflake-cli 3.30 in .venv-snow) against the embedded Snowflake.

`snow` runs as a subprocess with its own SNOWFLAKE_HOME: config.toml (air-gapped, so it never
asks PyPI for a newer version: snowflake/cli/_app/version_check.py) and connections.toml as
`deploy local status --format toml` prints it. The network guard reaches it through PYTHONPATH
(tests/conftest.py). `make snowcli` builds .venv-snow; T5_SKIP_SNOWCLI=1 skips these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_project import ROOT, copy_project, deploy, project_environment

from deploy.snowflake_yml import LOCAL_FILE, PROJECT_FILE, REQUIREMENTS_FILE

SNOW = ROOT / ".venv-snow" / "bin" / "snow"
# Air-gapped: no version check against PyPI; no log files under the temporary home.
SNOW_CONFIG = "[cli]\nair_gapped = true\nignore_new_version_warning = true\n\n[cli.logs]\nsave_logs = false\n"
ARTICLE = "The central bank raised interest rates on Tuesday to fight inflation, its third rise this year."


@pytest.fixture(scope="module")
def snow_bin() -> Path:
    if SNOW.is_file():
        return SNOW
    if os.environ.get("T5_SKIP_SNOWCLI") == "1":
        pytest.skip("T5_SKIP_SNOWCLI=1 and .venv-snow is missing: the Snowflake CLI tests do not run")
    pytest.fail(f"{SNOW} is missing: run `make snowcli` (or set T5_SKIP_SNOWCLI=1 to skip these tests)")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, bootstrapped_artifacts: Path, snow_bin: Path) -> Iterator[Path]:
    """A project copy with the function applied, and a SNOWFLAKE_HOME whose `local` connection reaches it."""
    root = tmp_path_factory.mktemp("snowproject")
    project = copy_project(root / "project", bootstrapped_artifacts)
    snowflake_home = root / "snowflake-home"
    snowflake_home.mkdir()
    with project_environment(project, root / "localsnow", snowflake_home):
        from deploy.cli import main

        assert main(["--connection", "local", "apply", "--yes"]) == 0
        toml = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "deploy"), "local", "status", "--format", "toml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # snow refuses config files others may read (snowflake/cli/api/config.py: 0600).
        for name, text in (
            ("config.toml", SNOW_CONFIG),
            ("connections.toml", toml),
        ):
            (snowflake_home / name).write_text(text)
            (snowflake_home / name).chmod(0o600)
        yield project


def snow(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`snow ARGS --connection local` in the project folder, with the test's SNOWFLAKE_HOME (os.environ)."""
    done = subprocess.run(
        [str(SNOW), *args, "--connection", "local"], capture_output=True, text=True, cwd=os.getcwd(), timeout=300
    )
    if check:
        assert done.returncode == 0, f"snow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def snow_json(*args: str) -> object:
    return json.loads(snow(*args, "--format", "json").stdout)


def test_connection_test_has_a_warehouse(project: Path) -> None:
    result = snow_json("connection", "test")
    assert result["Status"] == "OK"
    assert result["Database"] == "T5_DEMO"
    assert result["Warehouse"] != "not set"


def test_sql(project: Path) -> None:
    rows = snow_json("sql", "-q", "SELECT 1 AS ONE, CURRENT_DATABASE() AS DB, CURRENT_SCHEMA() AS SC")
    assert rows == [{"ONE": 1, "DB": "T5_DEMO", "SC": "PUBLIC"}]


def test_stage_copy_both_ways_and_list(project: Path, tmp_path: Path) -> None:
    snow("sql", "-q", "CREATE STAGE IF NOT EXISTS SNOW_SCRATCH")
    local = tmp_path / "note.txt"
    local.write_text("hello from snow\n")
    snow("stage", "copy", str(local), "@SNOW_SCRATCH/in/")
    names = [r["name"] for r in snow_json("stage", "list-files", "@SNOW_SCRATCH")]
    assert names == ["snow_scratch/in/note.txt"]
    back = tmp_path / "back"
    back.mkdir()
    snow("stage", "copy", "@SNOW_SCRATCH/in/note.txt", str(back))
    assert (back / "note.txt").read_text() == "hello from snow\n"


def test_object_list_and_describe_function(project: Path) -> None:
    listed = snow_json("object", "list", "function", "--like", "SUMM%")
    assert [(r["name"], r["arguments"]) for r in listed] == [("SUMMARIZE", "SUMMARIZE(VARCHAR) RETURN VARCHAR")]
    # snow sends `describe function IDENTIFIER('SUMMARIZE')(VARCHAR)` (cli/api/identifiers.py).
    described = {r["property"]: r["value"] for r in snow_json("object", "describe", "function", "SUMMARIZE(VARCHAR)")}
    assert described["handler"] == "handler.summarize"
    assert described["signature"] == "(TEXT VARCHAR)"


def test_snowpark_build_deploy_execute_then_drift_and_restore(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """snowflake.yml from the manifests deploys a working function; deploy sees it and takes it back."""
    assert deploy(capsys, "snowflake-yml", "--write")[0] == 0
    rc, _, err = deploy(capsys, "validate")
    assert rc == 0 and "warning" not in err, err

    build = snow("snowpark", "build")
    assert "No external dependencies." in build.stdout  # every package is in the channel: nothing downloaded
    requirements = (project / "requirements.snowflake.txt").read_text().split()
    assert sorted(requirements) == sorted(
        line for line in (project / REQUIREMENTS_FILE).read_text().splitlines() if line and not line.startswith("#")
    )

    deployed = snow_json("snowpark", "deploy", "--replace")
    assert [(r["object"], r["status"]) for r in deployed] == [
        ("T5_DEMO.PUBLIC.SUMMARIZE(TEXT VARCHAR)", "definition updated")
    ]
    described = {r["property"]: r["value"] for r in snow_json("object", "describe", "function", "SUMMARIZE(VARCHAR)")}
    assert "@T5_DEMO.PUBLIC.LLM/handler.py" in described["imports"]  # snow's own upload of the handler
    assert "model.safetensors" in described["imports"] and "udf_config.json" in described["imports"]

    summary = snow_json("snowpark", "execute", "function", f"SUMMARIZE('{ARTICLE}')")
    assert isinstance(summary, dict) and len(summary) == 1
    assert str(next(iter(summary.values()))).strip()  # the model loaded from the imports and answered

    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2 and "SUMMARIZE" in out, out
    assert deploy(capsys, "apply", "--yes")[0] == 0
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 0, out


def test_repository_snowflake_yml_is_generated(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The committed files equal what the manifests generate; the versioned imports are not committed."""
    assert deploy(capsys, "snowflake-yml", "--write")[0] == 0
    for name in (PROJECT_FILE, REQUIREMENTS_FILE):
        assert (ROOT / name).read_text() == (project / name).read_text(), (
            f"{name} is stale: run `deploy snowflake-yml --write`"
        )
    assert "/model.safetensors" in (project / LOCAL_FILE).read_text()
    assert "model.safetensors" not in (ROOT / PROJECT_FILE).read_text()


def test_validate_warns_about_a_stale_generated_file_only(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(capsys, "snowflake-yml", "--write")[0] == 0
    local = project / LOCAL_FILE
    text = local.read_text()
    try:
        local.write_text(text.replace("model.safetensors", "model.bin"))
        rc, _, err = deploy(capsys, "validate")
        assert rc == 0 and f"warning: {LOCAL_FILE} does not match the manifests" in err, err
        assert "deploy snowflake-yml --write" in err
        local.write_text("# written by hand\nentities: {}\n")  # not generated: the user's own file
        rc, _, err = deploy(capsys, "validate")
        assert rc == 0 and "warning" not in err, err
    finally:
        local.write_text(text)
