"""PACKAGES are enforced at run time: a Python UDF imports the standard library, its IMPORTS, its
declared packages and their dependencies, and nothing else (ModuleNotFoundError, as in Snowflake);
its workers run on Snowflake's channel line of the libraries (.venv-compat) when it is built.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import snowflake.connector

from localsnow import udf_runtime
from localsnow.packages import distribution_names
from localsnow.udf_imports import requirement_applies, resolve

RUNTIME = "LANGUAGE PYTHON RUNTIME_VERSION = '3.11'"


@pytest.fixture(scope="module")
def cursor(local_snowflake: dict[str, Any]) -> Iterator[snowflake.connector.cursor.SnowflakeCursor]:
    connection = snowflake.connector.connect(**local_snowflake)
    cur = connection.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS PKGS")
    cur.execute("CREATE SCHEMA IF NOT EXISTS PKGS.PUBLIC")
    cur.execute("USE SCHEMA PKGS.PUBLIC")
    yield cur
    connection.close()


def call(cur: Any, name: str, packages: list[str], body: str) -> str:
    """Create NAME(x VARCHAR) RETURNS VARCHAR from an inline body with handler `f`; return F('a')."""
    declared = f"PACKAGES = ({', '.join(repr(p) for p in packages)}) " if packages else ""
    cur.execute(
        f"CREATE OR REPLACE FUNCTION {name}(x VARCHAR) RETURNS VARCHAR {RUNTIME} {declared}HANDLER = 'f' "
        f"AS $$\n{textwrap.dedent(body)}\n$$"
    )
    return cur.execute(f"SELECT {name}('a')").fetchone()[0]


def import_error(cur: Any, name: str, packages: list[str], body: str) -> snowflake.connector.ProgrammingError:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        call(cur, name, packages, body)
    assert (info.value.errno, info.value.sqlstate) == (100357, "P0000")
    return info.value


@pytest.mark.parametrize("module", ["numpy", "pandas", "torch"])
def test_an_undeclared_package_is_not_importable(cursor, module: str) -> None:
    error = import_error(cursor, f"NO_{module.upper()}", [], f"import {module}\ndef f(x):\n    return x\n")
    # Snowflake's words, the handler's own frame first: no worker or importlib frames.
    message = error.raw_msg
    assert message.startswith("Python Interpreter Error:\nTraceback (most recent call last):\n  File "), message
    assert "_udf_code.py" in error.raw_msg and "importlib" not in error.raw_msg and "udf_worker" not in error.raw_msg
    assert f"ModuleNotFoundError: No module named '{module}'" in error.raw_msg
    assert error.raw_msg.endswith(f" in function NO_{module.upper()} with handler f")


def test_a_declared_package_and_its_dependencies_import(cursor) -> None:
    body = """
        import dateutil, numpy, pandas, pytz
        def f(x):
            return pandas.__name__ + " " + numpy.__name__
    """
    assert call(cursor, "WITH_PANDAS", ["pandas"], body) == "pandas numpy"  # numpy etc.: pandas' dependencies


def test_a_dependency_does_not_bring_its_dependents(cursor) -> None:
    # pandas needs numpy, not the other way round; a lazy import is checked when it runs.
    error = import_error(cursor, "NUMPY_ONLY", ["numpy"], "import numpy\ndef f(x):\n    import pandas\n    return x\n")
    assert "ModuleNotFoundError: No module named 'pandas'" in error.raw_msg


def test_channel_names_and_spellings_map_to_distributions(cursor) -> None:
    body = """
        import torch
        def f(x):
            return torch.__name__
    """
    assert call(cursor, "WITH_PYTORCH", ["pytorch"], body) == "torch"  # the channel's name for torch
    assert distribution_names(["PyTorch", "Scikit_Learn==1.5.1", "snowflake-snowpark-python"]) == [
        "torch",
        "scikit-learn",
        "snowflake-snowpark-python",
    ]


def test_the_standard_library_and_snowflake_module_need_no_packages(cursor) -> None:
    body = """
        import json, sqlite3, zoneinfo
        import _snowflake
        def f(x):
            return json.dumps([x, callable(_snowflake.vectorized)])
    """
    assert call(cursor, "STDLIB_ONLY", [], body) == '["a", true]'


def test_the_server_and_project_are_not_importable(cursor) -> None:
    for module in ("localsnow", "deploy", "duckdb"):
        error = import_error(cursor, f"NO_{module.upper()}", [], f"def f(x):\n    import {module}\n    return x\n")
        assert f"ModuleNotFoundError: No module named '{module}'" in error.raw_msg


@pytest.mark.skipif(
    udf_runtime.choose_worker_python().warning is not None,
    reason="no .venv-compat: build it with `make compat` (scripts/compat_env.sh)",
)
def test_workers_run_snowflakes_transformers(cursor) -> None:
    body = """
        import transformers
        def f(x):
            return transformers.__version__
    """
    assert call(cursor, "TRANSFORMERS_VERSION", ["transformers"], body).startswith("4.41.")


def test_without_the_compat_env_workers_fall_back_with_a_warning(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(udf_runtime.UDF_PYTHON_ENV, raising=False)
    monkeypatch.setattr(udf_runtime, "project_roots", lambda home=None: [tmp_path])
    chosen = udf_runtime.choose_worker_python()
    assert chosen.path == sys.executable
    assert chosen.warning and "make compat" in chosen.warning and udf_runtime.UDF_PYTHON_ENV in chosen.warning
    # a complete compat env (its stamp) is chosen; an explicit interpreter wins over both
    python = tmp_path / ".venv-compat" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    assert udf_runtime.choose_worker_python().warning is not None  # no stamp: an interrupted build
    (tmp_path / ".venv-compat" / ".compat-stamp").write_text("key\n")
    assert udf_runtime.choose_worker_python() == udf_runtime.WorkerPython(
        str(python), ".venv-compat (Snowflake's channel line)"
    )
    monkeypatch.setenv(udf_runtime.UDF_PYTHON_ENV, "/opt/python")
    assert udf_runtime.choose_worker_python().path == "/opt/python"


def fake_distribution(name: str, requires: list[str], modules: list[str]) -> Any:
    return SimpleNamespace(
        metadata={"Name": name},
        version="1.0",
        requires=requires,
        read_text=lambda file: "\n".join(modules) if file == "top_level.txt" else None,
    )


def test_dependencies_honour_markers_and_requested_extras_only() -> None:
    installed = [
        fake_distribution(
            "Top_Pkg", ["dep-a>=1", "dep-b; extra == 'fast'", "dep-c[speed]; python_version >= '3'"], ["top"]
        ),
        fake_distribution("dep.a", ["never; python_version < '3'"], ["dep_a"]),
        fake_distribution("dep-b", [], ["dep_b"]),
        fake_distribution("dep-c", ["dep-d; extra == 'speed'", "dep-e; extra == 'other'"], ["dep_c"]),
        fake_distribution("dep-d", [], ["dep_d"]),
        fake_distribution("dep-e", [], ["dep_e"]),
        fake_distribution("never", [], ["never"]),
    ]
    closure = resolve(["top-pkg"], installed)
    assert closure.modules == {"top", "dep_a", "dep_c", "dep_d"}
    assert closure.missing == []
    assert resolve(["top_pkg", "absent"], installed).missing == ["absent"]
    assert requirement_applies('sys_platform == "win32" or (python_version >= "3.8" and extra == "Dev_X")', {
        "sys_platform": "linux", "python_version": "3.11"}, ["dev-x"])  # fmt: skip
