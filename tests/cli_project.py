"""Shared by the end-to-end CLI tests: a throwaway copy of the project, an isolated environment, the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import snowflake.connector

import localsnow
from deploy.cli import main

ROOT = Path(__file__).resolve().parents[1]


def copy_project(root: Path, artifacts: Path) -> Path:
    """The repository's manifests, handler and project file, with `artifacts` as artifacts/latest, under `root`."""
    shutil.copytree(ROOT / "manifests", root / "manifests")
    shutil.copy(ROOT / "snowflake.yml", root / "snowflake.yml")  # marks the project root files must stay in
    (root / "udf").mkdir()
    shutil.copy(ROOT / "udf" / "handler.py", root / "udf" / "handler.py")
    shutil.copytree(artifacts, root / "artifacts" / "latest")
    return root


SHOUT_HANDLER = "def shout(text):\n    return None if text is None else text.upper()\n"


def small_project(root: Path, manifest: str, handler: str = SHOUT_HANDLER) -> Path:
    """A minimal project under `root`: the project file, one manifest and udf/handler.py (no model)."""
    (root / "snowflake.yml").write_text("definition_version: '2'\n")
    (root / "manifests").mkdir()
    (root / "manifests" / "manifest.yaml").write_text(manifest, encoding="utf-8")
    (root / "udf").mkdir()
    (root / "udf" / "handler.py").write_text(handler)
    return root


@contextmanager
def project_environment(project: Path, home: Path, snowflake_home: Path) -> Iterator[Path]:
    """cwd = project, an embedded Snowflake in `home`, no user config; stops the server after."""
    mp = pytest.MonkeyPatch()
    mp.chdir(project)
    mp.setenv("LOCALSNOW_HOME", str(home))
    mp.setenv("SNOWFLAKE_HOME", str(snowflake_home))  # no user config
    mp.setenv("T5_DEPLOY_CACHE", str(project / ".cache"))
    for var in ("T5_DATABASE", "T5_SCHEMA", "T5_ARTIFACTS", "SNOWFLAKE_DEFAULT_CONNECTION_NAME"):
        mp.delenv(var, raising=False)
    try:
        yield home
    finally:
        localsnow.stop(home)
        mp.undo()


def deploy(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `deploy --connection local ARGS`; (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main(["--connection", "local", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@contextmanager
def sql_runner(home: Path) -> Iterator[Callable[[str], list[tuple]]]:
    """A function running one statement on the embedded Snowflake in `home`, through the real connector."""
    conn = snowflake.connector.connect(**localsnow.ensure_running(home))
    cur = conn.cursor()
    try:
        yield lambda statement: cur.execute(statement).fetchall()
    finally:
        conn.close()
