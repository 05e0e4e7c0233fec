"""The embedded local Snowflake: fakesnow's HTTP server, extended and made persistent.

The real snowflake-connector-python talks to it over HTTP on 127.0.0.1. Besides
what fakesnow emulates, it provides Python function DDL and metadata, stage
file commands (PUT to a prefix, LIST, REMOVE, GET, DROP STAGE),
information_schema.packages from a bundled snapshot, and execution of Python
UDFs in worker processes laid out as Snowflake lays them out.

    import snowflake.connector, localsnow
    conn = snowflake.connector.connect(**localsnow.ensure_running(), database="T5_DEMO")

The kwargs keep the connector on loopback: no cloud-metadata probes at login.

State lives under one home directory (argument, else $LOCALSNOW_HOME, else
./.localsnow); the server runs as a background daemon shared by all clients of
that home. This module stays import-light: UDF workers import it too.
"""

from localsnow.daemon import ensure_running, reset, status, stop
from localsnow.paths import resolve_home, stage_root

__all__ = ["ensure_running", "reset", "resolve_home", "stage_root", "status", "stop"]
