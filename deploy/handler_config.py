"""A function's `settings` -> the udf_config.json file its handler reads inside Snowflake.

A Python UDF cannot be given parameters other than its imports, so the
settings travel as a small JSON file staged beside the handler module and
imported with it. The file is generated from the manifest, written once under
the local cache (named by its sha256, so a saved plan finds it again) and
uploaded like any other artifact: changing a setting makes a new stage version
and re-creates the function, and drift is checked as for every staged file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from deploy.spec import LocalFile

# udf/handler.py reads this name from its import directory (it cannot import
# this package inside Snowflake; a test keeps the two names equal).
CONFIG_NAME = "udf_config.json"
CONFIG_FORMAT = 1


@cache
def defaults() -> dict[str, Any]:
    """Every setting's default, from the manifest schema (its single source)."""
    from deploy.manifest import manifest_schema

    properties = manifest_schema()["$defs"]["settings"]["properties"]
    return {name: spec["default"] for name, spec in properties.items()}


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
    return LocalFile(CONFIG_NAME, path, len(content), digest)
