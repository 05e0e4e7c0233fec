"""A function's `settings` -> the udf_config.json file its handler reads inside Snowflake.

A Python UDF cannot be given parameters other than its imports, so the
settings travel as a small JSON file staged beside the handler module and
imported with it. The file is generated from the manifest, written once under
the local cache (named by its sha256, so a saved plan finds it again) and
uploaded like any other artifact: changing a setting makes a new stage version
and re-creates the function, and drift is checked as for every staged file.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from deploy.spec import LocalFile

# udf/handler.py reads this name from its import directory (it cannot import
# this package inside Snowflake; a test keeps the two names equal).
CONFIG_NAME = "udf_config.json"
CONFIG_FORMAT = 1


@cache
def settings_schema() -> dict[str, Any]:
    """udf/handler.py's SETTINGS_SCHEMA, read from its source as a literal.

    The handler is the single source of the settings' rules; importing it would
    need pandas (and its import-time config read), so the one assignment is
    evaluated with ``ast.literal_eval`` instead.
    """
    source = resources.files("udf").joinpath("handler.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "SETTINGS_SCHEMA" and node.value is not None:
            return ast.literal_eval(node.value)
    raise RuntimeError("udf/handler.py defines no SETTINGS_SCHEMA literal")


@cache
def defaults() -> dict[str, Any]:
    """Every setting's default, from the handler's schema (their single source)."""
    return {name: spec["default"] for name, spec in settings_schema()["properties"].items()}


def config_bytes(settings: Mapping[str, Any]) -> bytes:
    """The file's content: every setting spelled out (defaults filled in), stable byte for byte."""
    document = {"format": CONFIG_FORMAT, **defaults(), **settings}
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def materialize(settings: Mapping[str, Any], cache_dir: Path) -> LocalFile:
    """Write the config under ``cache_dir/generated/<sha256>/`` (once) and describe it as a stage file."""
    content = config_bytes(settings)
    digest = hashlib.sha256(content).hexdigest()
    path = cache_dir / "generated" / digest[:32] / CONFIG_NAME
    if not path.is_file() or path.read_bytes() != content:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a concurrent plan never reads a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    return LocalFile(CONFIG_NAME, path, len(content), digest, hashlib.md5(content, usedforsecurity=False).hexdigest())
