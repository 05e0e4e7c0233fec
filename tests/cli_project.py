"""Shared by the end-to-end CLI tests: a throwaway copy of the project, an isolated environment, the CLI."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
import snowflake.connector

import localsnow
from deploy.cli import main

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (scripts/ is not a package), loaded once per process."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look the module up while the class is built
        spec.loader.exec_module(module)
    return module


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


HANDLER_FILE = "../udf/handler.py"  # small_project's handler, as a manifest in manifests/ names it


def shout_manifest(
    database: str,
    schema: str,
    *,
    stages: Mapping[str, str | Mapping[str, str]] | None = None,
    comment: str | None = None,
    top: str = "",
    function: str = "",
    extra: str = "",
) -> str:
    """A manifest for small_project: the function SHOUT(TEXT VARCHAR) -> VARCHAR (handler.shout), importing each
    stage in order.

    stages: name -> what its `files:` takes (`from:`), or name -> {"comment": ..., "encryption": ..., "from": ...};
    default: CODE holding the handler. comment: the function's. top, function, extra: more YAML at the top level
    after `schema:`, under the function after `imports:`, and at the end (e.g. `environments:`).
    """
    declared = stages if stages is not None else {"CODE": HANDLER_FILE}
    lines = ["apiVersion: 1", f"database: {database}", f"schema: {schema}", *_yaml_lines(top), "stages:"]
    for name, stage in declared.items():
        properties = {"from": stage} if isinstance(stage, str) else dict(stage)
        source = properties.pop("from")
        lines += [f"  {name}:", *(f"    {k}: {v}" for k, v in properties.items())]
        lines += ["    files:", f"      - from: {source}"]
    lines += ["functions:", "  SHOUT:", "    args:", "      - {name: TEXT, type: VARCHAR}", "    returns: VARCHAR"]
    lines += ['    runtime: "3.11"', "    handler: handler.shout", *([f"    comment: {comment}"] if comment else [])]
    lines += ["    imports:", *(f"      - stage: {name}" for name in declared)]
    lines += [f"    {line}" for line in _yaml_lines(function)] + _yaml_lines(extra)
    return "\n".join(lines) + "\n"


def _yaml_lines(text: str) -> list[str]:
    return textwrap.dedent(text).splitlines()


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
