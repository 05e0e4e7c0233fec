"""Helpers for the embedded Snowflake's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import snowflake.connector


def query(connection: snowflake.connector.SnowflakeConnection, sql: str) -> list[tuple[Any, ...]]:
    return connection.cursor().execute(sql).fetchall()  # type: ignore[union-attr]


def put(connection: snowflake.connector.SnowflakeConnection, path: Path, target: str) -> None:
    """PUT one file as the reconciler does: quoted source and target, no compression."""
    rows = query(connection, f"PUT 'file://{path}' '{target}' AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
    assert rows[0][6] == "UPLOADED", rows
