"""Fixtures for the embedded Snowflake's tests: a connection to a module's own server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector

DATABASE = "LS_TEST"


@pytest.fixture(scope="module")
def conn(local_snowflake: dict[str, Any]) -> Iterator[snowflake.connector.SnowflakeConnection]:
    """A connection with database LS_TEST and schema PUBLIC created and in use."""
    connection = snowflake.connector.connect(**local_snowflake)
    connection.cursor().execute(f'CREATE DATABASE IF NOT EXISTS "{DATABASE}"')
    connection.cursor().execute(f'CREATE SCHEMA IF NOT EXISTS "{DATABASE}"."PUBLIC"')
    connection.cursor().execute(f'USE SCHEMA "{DATABASE}"."PUBLIC"')
    yield connection
    connection.close()
