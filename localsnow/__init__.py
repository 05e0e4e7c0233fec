"""The embedded local Snowflake: fakesnow's HTTP server, extended and made persistent.

The real snowflake-connector-python talks to it over HTTP on 127.0.0.1. Besides
what fakesnow emulates, it provides Python function DDL and metadata, stage
file commands (PUT to a prefix, LIST, REMOVE, GET, DROP STAGE),
information_schema.packages from a bundled snapshot, and execution of Python
UDFs in worker processes laid out as Snowflake lays them out.

    import snowflake.connector, localsnow
    conn = snowflake.connector.connect(**localsnow.ensure_running(), database="T5_DEMO")

The kwargs (host, port, protocol, account, user, password, warehouse, role and
timeouts) keep the connector on loopback: no cloud-metadata probes at login.

State lives under one home directory (argument, else $LOCALSNOW_HOME, else
.localsnow in the project root: the nearest folder up from the working directory
holding snowflake.yml, pyproject.toml or .git); the server runs as a background
daemon shared by all clients of that home, on the port kept by `start --port N`
or any free one. This module stays import-light: UDF workers import it too.
"""

from localsnow.daemon import StartError, ensure_running, reset, running_connection, status, stop
from localsnow.paths import project_root, resolve_home, stage_root

__all__ = [
    "StartError",
    "ensure_running",
    "project_root",
    "reset",
    "resolve_home",
    "running_connection",
    "stage_root",
    "status",
    "stop",
]
