"""The README's "Use your own client" examples, run as written against the embedded Snowflake.

Each block marked `<!-- readme-test: python|bash -->` runs in a copy of the project where
`deploy apply` and `deploy sample-data` have run (what `make demo` leaves), with `.venv`
activated as the README says, a fresh home folder (so `~/.snowflake` is the test's) and no
LOCALSNOW_HOME: the blocks find the project's embedded Snowflake as a user's shell would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_project import ROOT, copy_project

import localsnow

pytestmark = pytest.mark.slow

_BLOCK = re.compile(r"<!-- readme-test: (?P<lang>python|bash) -->\n```(?P=lang)\n(?P<code>.*?)```", re.DOTALL)
SNOW_VENV = ROOT / ".venv-snow"


def readme_blocks() -> dict[str, str]:
    blocks = {m["lang"]: m["code"] for m in _BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert set(blocks) == {"python", "bash"}, "README lost a tested client example"
    return blocks


@pytest.fixture(scope="module")
def user_shell(tmp_path_factory: pytest.TempPathFactory, bootstrapped_artifacts: Path) -> Iterator[tuple[Path, dict]]:
    """(project folder, environment) after `deploy apply` and `deploy sample-data`, the server running."""
    if not SNOW_VENV.is_dir():
        if os.environ.get("T5_SKIP_SNOWCLI") == "1":
            pytest.skip("T5_SKIP_SNOWCLI=1 and .venv-snow is missing")
        pytest.fail(f"{SNOW_VENV} is missing: run `make snowcli`")
    root = tmp_path_factory.mktemp("readme")
    project = copy_project(root / "project", bootstrapped_artifacts)
    shutil.copytree(ROOT / "docs" / "examples", project / "docs" / "examples")
    for venv in (".venv", ".venv-snow"):
        (project / venv).symlink_to(ROOT / venv)
    (root / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCALSNOW_", "SNOWFLAKE_HOME", "T5_"))}
    env.pop("SNOWFLAKE_DEFAULT_CONNECTION_NAME", None)
    # `source .venv/bin/activate`, as the README says, and a home folder of the test's own.
    env.update(HOME=str(root / "home"), VIRTUAL_ENV=str(ROOT / ".venv"))
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    try:
        for command in (["apply", "--yes"], ["sample-data", "--table", "NEWS", "--limit", "3", "--replace"]):
            subprocess.run(["deploy", *command], cwd=project, env=env, check=True, capture_output=True, timeout=600)
        yield project, env
    finally:
        localsnow.stop(project / ".localsnow")


def run_block(project: Path, env: dict, command: list[str]) -> str:
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{command[0]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_python_example_with_the_connector_and_snowpark(user_shell: tuple[Path, dict]) -> None:
    project, env = user_shell
    out = run_block(project, env, [sys.executable, "-c", readme_blocks()["python"]])
    lines = out.splitlines()
    assert lines[0].startswith("[(1, '") and "(2, '" in lines[0]  # (ID, summary) rows from the connector
    assert lines[1].split() == ["ID", "SUMMARY"]  # the DataFrame's columns, as aliased
    assert not (project / "udf" / ".localsnow").exists()


def test_bash_example_with_snow_and_the_notebook(user_shell: tuple[Path, dict]) -> None:
    project, env = user_shell
    out = run_block(project, env, ["bash", "-euo", "pipefail", "-c", readme_blocks()["bash"]])
    assert "Status" in out and "LOCALSNOW_WH" in out  # snow connection test
    assert "SUMMARIZE(ARTICLE)" in out  # snow sql's column, as Snowflake names it
    assert "drift: exit 2" in out
    assert (Path(env["HOME"]) / ".snowflake" / "connections.toml").read_text().startswith("[local]")
    # deploy apply took the function back: nothing left to do.
    drift = subprocess.run(
        ["deploy", "-c", "local", "drift"], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert drift.returncode == 0, drift.stdout + drift.stderr
