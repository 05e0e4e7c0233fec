"""The embedded Snowflake as the `local` connection: its default names, and how another client connects.

The `local` connection's default database and schema are the one pair the manifests
deploy to, so unqualified SQL (``SELECT ID, SUMMARIZE(ARTICLE) FROM NEWS``) works after
``deploy apply``. Before the first apply that database does not exist; the login still
succeeds and the session simply has no current database, as in Snowflake, where the
connector's database and schema "can be silently ignored if they don't exist"
(snowflake-connector-python#26).

``deploy local status --format json|toml`` gives any client (the connector, Snowpark,
snowflake-cli) the same connection: host, port, protocol, account, user, password,
database, schema, warehouse and role, plus the connector timeouts the embedded Snowflake
needs. That output is the one place the password is printed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from deploy.connection import LOCAL, ConnectionConfigError, ConnectionSpec, resolve_connection
from deploy.errors import ManifestInvalid
from deploy.manifest import load_names
from localsnow.paths import project_root

log = logging.getLogger(__name__)

# The keys every client needs, in the order they are shown; the connector's tuning keys follow.
CONNECTION_KEYS = ("host", "port", "protocol", "account", "user", "password", "database", "schema", "warehouse", "role")
# Set by localsnow for the embedded server; a client gets them too (a UDF call that loads a model
# outlasts the connector's defaults). snowflake-cli passes keys it does not know to the connector
# unchanged (ConnectionConfig._other_settings, snowflake-cli 3.30 api/config.py).
_CLIENT_TUNING = ("login_timeout", "network_timeout", "socket_timeout", "platform_detection_timeout_seconds")


def _manifests_target(manifests: Path) -> Path:
    """The manifests path; a relative one missing here is looked up from the project root (`cd udf`)."""
    if manifests.exists() or manifests.is_absolute():
        return manifests
    return project_root(Path.cwd()) / manifests


def manifest_location(
    manifests: Path, environ: Mapping[str, str] | None = None, env: str | None = None
) -> tuple[str, str] | None:
    """The one (database, schema) the manifests deploy to, or None (none, several, or invalid manifests).

    The manifests' names only (``load_names``, with ${VAR:-default} applied): no artifact is
    opened, so a project without a trained model still gets its defaults. With ``env``, the
    environment's (``deploy --env``).
    """
    target = _manifests_target(manifests)
    if not target.exists():
        return None
    try:
        schemas = load_names(target, environ=environ, env=env).schemas
    except ManifestInvalid as e:
        log.debug("no default database from %s: %s", target, "; ".join(e.problems))
        return None
    return schemas[0] if len(schemas) == 1 else None


def with_manifest_defaults(spec: ConnectionSpec, manifests: Path, env: str | None = None) -> ConnectionSpec:
    """A local spec with the manifests' (or their environment ``env``'s) database and schema where the user set none."""
    if not spec.is_local or "schema" in spec.params:
        return spec
    location = manifest_location(manifests, env=env)
    if location is None or str(spec.params.get("database", location[0])).upper() != location[0]:
        return spec  # another database was chosen: the manifests' schema need not exist there
    label = f"manifests {manifests}" + (f" (environment {env})" if env else "")
    params, sources = dict(spec.params), dict(spec.sources)
    for key, value in zip(("database", "schema"), location, strict=True):
        if key not in params:
            params[key], sources[key] = value, label
    return replace(spec, params=params, sources=sources)


def local_spec(home: Path | None, manifests: Path, env: str | None = None) -> ConnectionSpec:
    """The `local` connection as deploy uses it, with `home` (--home) over its own."""
    spec = resolve_connection(LOCAL)
    if not spec.is_local:
        raise ConnectionConfigError(
            f"the '{LOCAL}' connection is defined with another account or host ({spec.sources.get('account')}), "
            "so it is not the embedded Snowflake; rename that definition to use `deploy local`"
        )
    if home is not None:
        spec = replace(spec, local_home=home, sources={**spec.sources, "home": "--home"})
    return with_manifest_defaults(spec, manifests, env)


def client_connection(spec: ConnectionSpec, server: Mapping[str, Any]) -> dict[str, Any]:
    """What a client passes to connect(**c) or Session.builder.configs(c): the server's kwargs, the spec's names."""
    merged = {**server, **{k: v for k, v in spec.params.items() if k in CONNECTION_KEYS}}
    ordered = {k: merged[k] for k in CONNECTION_KEYS if merged.get(k) is not None}
    ordered.update({k: server[k] for k in _CLIENT_TUNING if k in server})
    return ordered


def status_facts(spec: ConnectionSpec) -> dict[str, Any]:
    """localsnow's status plus `connection` (None while the server is not running)."""
    import localsnow

    facts = localsnow.status(spec.local_home)
    server = localsnow.running_connection(spec.local_home)
    facts["connection"] = client_connection(spec, server) if server is not None else None
    return facts


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string (ASCII, escaped) is a valid TOML basic string.
    return json.dumps(str(value))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def connections_toml(connection: Mapping[str, Any], name: str = LOCAL) -> str:
    """A connections.toml section, as the connector and snowflake-cli read it (`[name]`, one key a line)."""
    header = name if _BARE_KEY.fullmatch(name) else _toml_value(name)
    lines = [f"[{header}]", *(f"{key} = {_toml_value(value)}" for key, value in connection.items())]
    return "\n".join(lines) + "\n"
