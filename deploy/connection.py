"""Which Snowflake connection to use, where each setting came from, and opening it.

Follows the Snowflake CLI's conventions so an existing ``snow`` setup just works.

Files live in the config directory: ``$SNOWFLAKE_HOME`` if set, else ``~/.snowflake``
(or, as the connector does, the platform config dir such as ``~/.config/snowflake``
when ``~/.snowflake`` does not exist). As with the connector, a config file writable
by group/others is refused and one readable by them draws an InsecureConfigWarning.

Precedence, lowest first (``layers`` in :func:`resolve_connection` is the one place
this order lives):

1. tool defaults: ``login_timeout``, ``network_timeout``, ``socket_timeout`` (see
   ``DEFAULT_LOGIN_TIMEOUT`` and docs/timeouts.md), ``application`` and a ``QUERY_TAG``
   session parameter;
2. ``config.toml`` ``[connections.<name>]``;
3. ``connections.toml`` ``[<name>]`` -- a connection defined here replaces the
   config.toml one *whole* (2 and 3 never mix fields);
4. generic env vars ``SNOWFLAKE_<KEY>`` (``SNOWFLAKE_USER``, ``SNOWFLAKE_PASSWORD``,
   ... see ``_GENERIC_ENV``; ``PRIVATE_KEY_PASSPHRASE`` belongs here too), and the tool's
   ``T5_DEPLOY_LOGIN_TIMEOUT`` / ``_NETWORK_TIMEOUT`` / ``_SOCKET_TIMEOUT``;
5. connection env vars ``SNOWFLAKE_CONNECTIONS_<NAME>_<KEY>``;
6. the ``--env`` environment's ``warehouse`` and ``role`` (manifests ``environments:``,
   :func:`resolve_target`): the target declared for a deploy beats the connection's own;
7. explicit overrides from the caller (CLI flags).

Layers 4-6 merge per field, as do ``session_parameters`` tables. Connection-specific
env beats generic env, as in every snowflake-cli implementation
(``snow_connector.connect_to_snowflake`` applies ``SNOWFLAKE_<KEY>`` only to keys still
unset; config_ng's ``create_default_sources`` orders ``CliEnvironment`` below
``ConnectionSpecificEnvironment``). Generic env ranks *above* the files here, as in
snowflake-cli's config_ng resolver (``SNOWFLAKE_CLI_CONFIG_V2_ENABLED``); the legacy
resolver documented at docs.snowflake.com ("Managing Snowflake connections") ranks
it below them instead.

Connection name: explicit ``name`` > the ``--env`` environment's ``connection`` >
``SNOWFLAKE_DEFAULT_CONNECTION_NAME`` > ``default_connection_name`` in config.toml >
``default`` if defined > an env-only ``default`` when ``SNOWFLAKE_ACCOUNT``/``SNOWFLAKE_HOST``
is set and no file defines a connection > ``local`` when nothing is configured at all. Otherwise (connections exist
but none is chosen) it is an error rather than a silent deploy to the local fake.

``local`` is the embedded local Snowflake (``localsnow``) unless the user's own
``local`` definition sets another ``account`` or ``host`` (a section pasted from
``deploy local status --format toml``, account ``local`` on 127.0.0.1, still means the
embedded one: its port and password are then taken from the running server). It takes
database, schema, warehouse, role, timeouts and session parameters, plus the tool-only
key ``home`` (state directory; ``LOCALSNOW_HOME`` otherwise, else ``.localsnow`` in
the project root). Its warehouse and role default to localsnow's; the CLI defaults its
database and schema to the manifests' (``deploy.local_account``).
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
import warnings
import weakref
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy import TOOL_NAME, __version__
from deploy.errors import DeployError
from deploy.liveness import http_probe
from deploy.session import NETWORK_ERRNOS, Watch
from localsnow.daemon import ACCOUNT as EMBEDDED_ACCOUNT
from localsnow.daemon import HOST as EMBEDDED_HOST
from localsnow.daemon import StartError

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

    from deploy.spec import Environment

log = logging.getLogger(__name__)

LOCAL = "local"
DEFAULT = "default"
CONFIG_FILE = "config.toml"
CONNECTIONS_FILE = "connections.toml"
JWT = "SNOWFLAKE_JWT"

# Bounded waits (connector 4.x, connection.py docstring and network.py/cursor.py):
# - login_timeout: no login retry after it (auth/by_plugin.py handle_timeout); an attempt in
#   flight still runs to its socket timeout.
# - network_timeout: the retry budget of every other request (network.py fetch) AND the
#   statement's cancel timer (cursor.py execute), so it caps how long a statement may run:
#   generous. Without it the connector retries a failing request (e.g. HTTP 500) forever.
# - socket_timeout: connect and read timeout of one HTTP request (network.py _request_exec;
#   connector default DEFAULT_SOCKET_CONNECT_TIMEOUT = 60 "don't reduce less than 45 seconds":
#   Snowflake answers a running query with "in progress" before that and the client polls).
# With a black-holed host a login thus fails after one socket timeout, under a minute.
# A dead server mid-statement is noticed by deploy.session's probe, not by these.
DEFAULT_LOGIN_TIMEOUT = 30
DEFAULT_NETWORK_TIMEOUT = 900
DEFAULT_SOCKET_TIMEOUT = 50
# Seconds without any answer from the server before a running statement is given up.
DEFAULT_UNREACHABLE_AFTER = 30
# The tool's own overrides, above connections.toml (with the generic SNOWFLAKE_* env).
TIMEOUT_ENV = {
    "T5_DEPLOY_LOGIN_TIMEOUT": "login_timeout",
    "T5_DEPLOY_NETWORK_TIMEOUT": "network_timeout",
    "T5_DEPLOY_SOCKET_TIMEOUT": "socket_timeout",
}
UNREACHABLE_ENV = "T5_DEPLOY_UNREACHABLE_AFTER"
# The connector accepts only [A-Za-z0-9_] application names.
APPLICATION = TOOL_NAME.replace("-", "_")
QUERY_TAG = f"{TOOL_NAME}/{__version__}"

# Source labels.
SRC_DEFAULT = "default"
SRC_NAME_ARG = "--connection"

_DEFAULT_NAME_ENV = "SNOWFLAKE_DEFAULT_CONNECTION_NAME"
_CONNECTION_ENV_PREFIX = "SNOWFLAKE_CONNECTIONS_"
# The connector's documented switch for its own read-permission warning.
_SKIP_PERMISSION_WARNING_ENV = "SF_SKIP_TOKEN_FILE_PERMISSIONS_VERIFICATION"

# Generic env vars, in order: a later entry for the same key wins.
_GENERIC_ENV: tuple[tuple[str, str], ...] = (
    ("SNOWFLAKE_ACCOUNT", "account"),
    ("SNOWFLAKE_USER", "user"),
    ("SNOWFLAKE_PASSWORD", "password"),
    ("SNOWFLAKE_ROLE", "role"),
    ("SNOWFLAKE_WAREHOUSE", "warehouse"),
    ("SNOWFLAKE_DATABASE", "database"),
    ("SNOWFLAKE_SCHEMA", "schema"),
    ("SNOWFLAKE_AUTHENTICATOR", "authenticator"),
    ("SNOWFLAKE_PRIVATE_KEY_PATH", "private_key_file"),
    ("SNOWFLAKE_PRIVATE_KEY_FILE", "private_key_file"),
    ("SNOWFLAKE_PRIVATE_KEY_RAW", "private_key_raw"),
    ("PRIVATE_KEY_PASSPHRASE", "private_key_file_pwd"),  # snowflake-cli's name
    ("SNOWFLAKE_PRIVATE_KEY_FILE_PWD", "private_key_file_pwd"),
    ("SNOWFLAKE_HOST", "host"),
    ("SNOWFLAKE_PORT", "port"),
    ("SNOWFLAKE_PROTOCOL", "protocol"),
    ("SNOWFLAKE_REGION", "region"),
    ("SNOWFLAKE_TOKEN", "token"),
    ("SNOWFLAKE_TOKEN_FILE_PATH", "token_file_path"),
    ("SNOWFLAKE_OAUTH_CLIENT_ID", "oauth_client_id"),
    ("SNOWFLAKE_OAUTH_CLIENT_SECRET", "oauth_client_secret"),
    ("SNOWFLAKE_OAUTH_AUTHORIZATION_URL", "oauth_authorization_url"),
    ("SNOWFLAKE_OAUTH_TOKEN_REQUEST_URL", "oauth_token_request_url"),
    ("SNOWFLAKE_OAUTH_REDIRECT_URI", "oauth_redirect_uri"),
    ("SNOWFLAKE_OAUTH_SCOPE", "oauth_scope"),
    ("SNOWFLAKE_CLIENT_STORE_TEMPORARY_CREDENTIAL", "client_store_temporary_credential"),
)
# Alternative spellings accepted anywhere; the canonical key wins within one source.
_ALIASES = {"private_key_path": "private_key_file", "private_key_passphrase": "private_key_file_pwd"}
# Understood by this tool, never sent to the connector.
_TOOL_KEYS = frozenset({"home"})
# What the embedded local Snowflake honours; everything else is dropped for it.
_LOCAL_KEYS = frozenset({
    "database", "schema", "warehouse", "role", "session_parameters", "login_timeout",
    "network_timeout", "socket_timeout", "application", "client_session_keep_alive",
    "autocommit", "paramstyle", "timezone",
})  # fmt: skip
_KEY_SOURCES = ("private_key_file", "private_key_raw", "private_key")

# Env values are strings; the connector wants real types for these.
_INT_KEYS = frozenset({
    "port", "login_timeout", "network_timeout", "socket_timeout", "client_prefetch_threads",
    "client_session_keep_alive_heartbeat_frequency", "external_browser_timeout",
})  # fmt: skip
_BOOL_KEYS = frozenset({
    "client_session_keep_alive", "client_store_temporary_credential", "autocommit",
    "client_request_mfa_token", "validate_default_parameters", "disable_ocsp_checks",
    "ocsp_fail_open",
})  # fmt: skip
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}

_SECRET_KEYS = frozenset({
    "password", "token", "passcode", "private_key", "private_key_raw", "private_key_file_pwd",
    "oauth_client_secret", "proxy_password", "session_token", "master_token",
})  # fmt: skip
_SECRET_FRAGMENTS = ("password", "passphrase", "secret", "token", "pwd", "passcode")
_SUMMARY_KEYS = (
    "account", "host", "user", "role", "warehouse", "database", "schema", "authenticator",
    "private_key_file", "token_file_path",
)  # fmt: skip

# key -> (value, source label)
_Layer = dict[str, tuple[Any, str]]


class ConnectionConfigError(DeployError):
    """The connection cannot be resolved or opened; the message never holds a secret."""


class InsecureConfigWarning(UserWarning):
    """A config file that may hold secrets is readable by other users."""


def is_secret(key: str) -> bool:
    """Whether a connection parameter's value must never be shown."""
    k = key.lower()
    if k in _SECRET_KEYS:
        return True
    # token_file_path, oauth_token_request_url, ...: locations, not secrets.
    return any(f in k for f in _SECRET_FRAGMENTS) and not k.endswith(("_path", "_file", "_url", "_uri"))


@dataclass(frozen=True)
class ConnectionSpec:
    """A resolved connection: connector kwargs plus where each one came from."""

    name: str
    is_local: bool
    # Connector kwargs before secret materialisation (key files are still paths);
    # holds passwords, so it is kept out of repr.
    params: Mapping[str, Any] = field(repr=False)
    # field -> origin ("connections.toml", "env SNOWFLAKE_USER", "--database", ...);
    # also "name" (how the name was chosen) and, for local, "home".
    sources: Mapping[str, str]
    # State directory of the embedded local Snowflake (None: localsnow's default).
    local_home: Path | None = None

    def describe(self) -> dict[str, str]:
        """A printable summary, every value tagged with its source, secrets redacted."""

        def tagged(value: Any, key: str) -> str:
            src = self.sources.get(key)
            return f"{value} ({src})" if src else str(value)

        out = {
            "name": tagged(self.name, "name"),
            "kind": "local (embedded localsnow)" if self.is_local else "snowflake",
        }
        if self.is_local:
            out["home"] = tagged(self.local_home, "home") if self.local_home else "localsnow default"
        for key in _SUMMARY_KEYS:
            if key in self.params:
                out[key] = tagged(self.params[key], key)
        for key in sorted(self.params):
            if is_secret(key):
                out[key] = tagged("<redacted>", key)
        return out


def resolve_connection(
    name: str | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    target: Mapping[str, Any] | None = None,
    target_label: str = "environment",
) -> ConnectionSpec:
    """Resolve a connection by the precedence in the module docstring.

    ``target`` holds the ``--env`` environment's connection parameters (layer 6), each
    shown with ``target_label`` as its source.

    ``name`` is the ``--connection`` value; ``overrides`` are CLI flags (``None``
    values mean "not given"); ``environ`` defaults to ``os.environ`` and ``home`` (the
    config directory) to ``$SNOWFLAKE_HOME`` / ``~/.snowflake``. Reads only the config
    files: key files are read by :func:`connector_kwargs`.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    files = _read_files(_config_dir(home, env), env)
    generic = _generic_env_layer(env)
    chosen, name_src = _choose_name(name or None, env, files, generic)

    definition = files.connections.get(chosen)
    conn_env = _connection_env_layer(env, chosen, files.connections)
    env_defines_default = chosen == DEFAULT and bool({"account", "host"} & generic.keys())
    if definition is None and not conn_env and not env_defines_default and chosen != LOCAL:
        raise ConnectionConfigError(_undefined_message(chosen, name_src, files))

    file_layer: _Layer = {}
    if definition is not None:
        values, label = definition
        file_layer = _layer((k, v, label) for k, v in values.items())
    is_local = chosen == LOCAL and _names_embedded({**file_layer, **conn_env})

    # THE precedence order, lowest first; see the module docstring.
    layers: list[_Layer] = [
        _defaults_layer(),
        file_layer,  # config.toml or connections.toml, whichever defines it last
        generic,
        conn_env,
        _layer((key, value, target_label) for key, value in (target or {}).items()),
        _override_layer(overrides or {}),
    ]
    merged: _Layer = {}
    for layer in layers:
        for key, (value, src) in layer.items():
            if key == "session_parameters" and key in merged:
                if not isinstance(value, Mapping):
                    raise ConnectionConfigError(f"session_parameters from {src} must be a table")
                value = {**merged[key][0], **value}
            merged[key] = (value, src)

    home_entry = merged.pop("home", None)
    for key in _TOOL_KEYS & merged.keys():
        merged.pop(key)
    local_home: Path | None = None
    sources: dict[str, str] = {"name": name_src}
    if is_local:
        dropped = sorted(k for k in merged if k not in _LOCAL_KEYS)
        if dropped:
            log.debug("local connection ignores %s", ", ".join(dropped))
        merged = {k: v for k, v in merged.items() if k in _LOCAL_KEYS}
        if home_entry is None and env.get("LOCALSNOW_HOME"):
            home_entry = (env["LOCALSNOW_HOME"], "env LOCALSNOW_HOME")
        if home_entry is not None:
            local_home = Path(str(home_entry[0])).expanduser()
            sources["home"] = home_entry[1]
    else:
        _check_key_pair(merged)

    params = {k: _coerce(k, v, src) for k, (v, src) in merged.items()}
    sources.update({k: src for k, (_, src) in merged.items()})
    return ConnectionSpec(chosen, is_local, params, sources, local_home)


def resolve_target(
    name: str | None, environment: Environment | None, *, environ: Mapping[str, str] | None = None
) -> ConnectionSpec:
    """The connection of a run: ``name`` (--connection), else the environment's own, with its warehouse and role."""
    if environment is None:
        return resolve_connection(name, environ=environ)
    label = f"environment {environment.name}" + (f" ({environment.origin})" if environment.origin else "")
    chosen = name or environment.connection
    spec = resolve_connection(chosen, environ=environ, target=environment.connection_overrides(), target_label=label)
    if not name and environment.connection:
        spec = replace(spec, sources={**spec.sources, "name": label})
    return spec


def connector_kwargs(spec: ConnectionSpec) -> dict[str, Any]:
    """The kwargs for ``snowflake.connector.connect``, secrets materialised.

    A key-pair connection's PEM is decrypted here into unencrypted PKCS#8 DER bytes
    (what connector 4.x takes as ``private_key``). For a local spec this starts the
    embedded Snowflake if needed (``localsnow.ensure_running``).
    """
    if spec.is_local:
        return _local_kwargs(spec)
    kwargs = dict(spec.params)
    if "session_parameters" in kwargs:
        kwargs["session_parameters"] = dict(kwargs["session_parameters"])
    passphrase = kwargs.pop("private_key_file_pwd", None)
    if "private_key_file" in kwargs:
        path = Path(str(kwargs.pop("private_key_file"))).expanduser()
        where = f"private key file {path} (from {spec.sources.get('private_key_file')})"
        kwargs["private_key"] = _pem_to_der(_read_key_file(path, where), passphrase, where)
        kwargs.pop("private_key_raw", None)
    elif "private_key_raw" in kwargs:
        where = f"private_key_raw (from {spec.sources.get('private_key_raw')})"
        raw = str(kwargs.pop("private_key_raw")).encode()
        kwargs["private_key"] = _pem_to_der(raw, passphrase, where)
    return kwargs


class ServerUnreachable(ConnectionConfigError):
    """No answer from the server at login; the message says what to check."""


# conn -> how deploy.session notices that its server is gone (weak: a closed connection goes).
_WATCHES: weakref.WeakKeyDictionary[Any, Watch] = weakref.WeakKeyDictionary()


def connect(spec: ConnectionSpec) -> SnowflakeConnection:
    """Open the connection; failures become one readable ConnectionConfigError."""
    kwargs = connector_kwargs(spec)
    import snowflake.connector  # slow import, only when actually connecting

    if spec.is_local:  # the embedded Snowflake's one-request PUT, streamed: flat memory for 1 GB artifacts
        from deploy.streamed_upload import install

        install()

    hint = unreachable_hint(spec, kwargs)
    try:
        conn = snowflake.connector.connect(**kwargs)
    except snowflake.connector.errors.Error as err:
        target = spec.params.get("account") or ("the local Snowflake" if spec.is_local else "?")
        detail = getattr(err, "msg", None) or str(err)
        message = f"cannot connect with connection '{spec.name}' to {target}: {detail}"
        if getattr(err, "errno", None) in NETWORK_ERRNOS:
            raise ServerUnreachable(f"{message}\n  {hint}") from None
        raise ConnectionConfigError(message) from None  # the connector's chain holds the login request
    # Where the connector went (it derives the host from the account when none is given).
    host, port = getattr(conn, "host", None), getattr(conn, "port", None)
    if isinstance(host, str) and host:
        probe = partial(http_probe, kwargs.get("protocol") or "https", host, port or 443)
        with suppress(TypeError):  # a test double that cannot be weakly referenced goes unwatched
            _WATCHES[conn] = Watch(probe, _unreachable_after(), hint)
    return conn


def watch_for(conn: Any) -> Watch | None:
    """How to notice that ``conn``'s server is gone; None for a connection not opened by :func:`connect`."""
    try:
        return _WATCHES.get(conn)
    except TypeError:  # not weak-referenceable: a test double
        return None


def unreachable_hint(spec: ConnectionSpec, kwargs: Mapping[str, Any]) -> str:
    """What to check when the server does not answer, by kind of connection."""
    if spec.is_local:
        from localsnow.paths import Layout, resolve_home

        log_file = Layout(resolve_home(spec.local_home)).log_file
        return (
            f"The local Snowflake stopped answering: check `deploy local status` and its log {log_file}; "
            "`deploy local start` starts it again, then rerun the command."
        )
    where = f"{kwargs.get('host') or 'the account URL'}" + (f":{kwargs['port']}" if kwargs.get("port") else "")
    return (
        f"Snowflake at {where} (connection '{spec.name}', account {spec.params.get('account', '?')}) "
        "did not answer: check the network (VPN, proxy, firewall) and the account identifier; "
        f"the waits are set by login_timeout / socket_timeout / network_timeout ({', '.join(TIMEOUT_ENV)}) "
        f"and {UNREACHABLE_ENV}."
    )


def _unreachable_after() -> float:
    raw = os.environ.get(UNREACHABLE_ENV, "").strip()
    if not raw:
        return DEFAULT_UNREACHABLE_AFTER
    try:
        value = float(raw)
    except ValueError:
        raise ConnectionConfigError(f"{UNREACHABLE_ENV} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConnectionConfigError(f"{UNREACHABLE_ENV} must be positive, got {raw!r}")
    return value


# -- files ------------------------------------------------------------------


@dataclass(frozen=True)
class _Files:
    config_path: Path
    connections_path: Path
    # name -> (definition, file label); connections.toml replaced config.toml's whole.
    connections: dict[str, tuple[dict[str, Any], str]]
    default_name: str | None


def _config_dir(home: Path | None, env: Mapping[str, str]) -> Path:
    if home is not None:
        return Path(home).expanduser()
    if env.get("SNOWFLAKE_HOME"):
        return Path(env["SNOWFLAKE_HOME"]).expanduser()
    dot = Path("~/.snowflake").expanduser()
    if not dot.exists():
        # The connector's own fallback when ~/.snowflake is absent.
        try:
            from platformdirs import user_config_path
        except ImportError:  # pragma: no cover - a connector dependency
            return dot
        platform_dir = user_config_path("snowflake", appauthor=False)
        if platform_dir.exists():
            return platform_dir
    return dot


def _read_files(config_dir: Path, env: Mapping[str, str]) -> _Files:
    config_path, connections_path = config_dir / CONFIG_FILE, config_dir / CONNECTIONS_FILE
    connections: dict[str, tuple[dict[str, Any], str]] = {}

    config = _load_toml(config_path, env)
    default_name = config.get("default_connection_name")
    if default_name is not None and not isinstance(default_name, str):
        raise ConnectionConfigError(f"{config_path}: default_connection_name must be a string")
    section = config.get("connections", {})
    if not isinstance(section, dict):
        raise ConnectionConfigError(f"{config_path}: [connections] must be a table")
    for conn_name, definition in section.items():
        if isinstance(definition, dict):
            connections[conn_name] = (definition, CONFIG_FILE)
        else:
            log.warning("%s: ignoring connections.%s, not a table", config_path, conn_name)

    for conn_name, definition in _load_toml(connections_path, env).items():
        if isinstance(definition, dict):
            connections[conn_name] = (definition, CONNECTIONS_FILE)  # replaces whole
        else:
            log.warning("%s: ignoring top-level %s, not a table", connections_path, conn_name)
    return _Files(config_path, connections_path, connections, default_name or None)


def _load_toml(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        if not path.is_file():
            return {}
        _check_permissions(path, env)
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:  # position only, never the file's text
        raise ConnectionConfigError(f"{path}: invalid TOML: {err}") from None
    except OSError as err:
        raise ConnectionConfigError(f"cannot read {path}: {err.strerror or err}") from None


def _check_permissions(path: Path, env: Mapping[str, str]) -> None:
    """The connector's rules: group/other-writable is an error, readable a warning."""
    if os.name == "nt":
        return
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    fix = f'run `chmod 0600 "{path}"`'
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConnectionConfigError(
            f"{path} is writable by group or others (mode {mode:04o}); anyone who can edit "
            f"it can redirect deployments: {fix}"
        )
    foreign = hasattr(os, "getuid") and st.st_uid not in (0, os.getuid())
    if (mode & (stat.S_IRGRP | stat.S_IROTH) or foreign) and (
        env.get(_SKIP_PERMISSION_WARNING_ENV, "").lower() != "true"
    ):
        what = "is owned by another user" if foreign else "is readable by group or others"
        warnings.warn(
            f"{path} {what} (mode {mode:04o}) and may hold secrets: {fix}",
            InsecureConfigWarning,
            stacklevel=5,  # attribute it to resolve_connection's caller
        )


# -- layers -----------------------------------------------------------------


def _layer(items: Iterable[tuple[str, Any, str]]) -> _Layer:
    """Canonicalise keys; within one source the canonical spelling beats an alias."""
    items = list(items)
    out: _Layer = {}
    for key, value, src in sorted(items, key=lambda item: item[0] not in _ALIASES):
        if value is not None:
            out[_ALIASES.get(key, key)] = (value, src)
    return out


def _defaults_layer() -> _Layer:
    return {
        "login_timeout": (DEFAULT_LOGIN_TIMEOUT, SRC_DEFAULT),
        "network_timeout": (DEFAULT_NETWORK_TIMEOUT, SRC_DEFAULT),
        "socket_timeout": (DEFAULT_SOCKET_TIMEOUT, SRC_DEFAULT),
        "application": (APPLICATION, SRC_DEFAULT),
        "session_parameters": ({"QUERY_TAG": QUERY_TAG}, SRC_DEFAULT),
    }


def _generic_env_layer(env: Mapping[str, str]) -> _Layer:
    pairs = (*_GENERIC_ENV, *TIMEOUT_ENV.items())
    return _layer((key, env[var], f"env {var}") for var, key in pairs if env.get(var))


def _connection_env_layer(env: Mapping[str, str], name: str, known: Mapping[str, Any]) -> _Layer:
    prefix = f"{_CONNECTION_ENV_PREFIX}{name.upper()}_"
    # With connections "prod" and "prod_eu", SNOWFLAKE_CONNECTIONS_PROD_EU_USER is
    # prod_eu's user, not prod's "eu_user".
    longer = tuple(
        f"{_CONNECTION_ENV_PREFIX}{other.upper()}_" for other in known if other.upper().startswith(f"{name.upper()}_")
    )
    return _layer(
        (var[len(prefix) :].lower(), value, f"env {var}")
        for var, value in env.items()
        if var.startswith(prefix) and len(var) > len(prefix) and not var.startswith(longer) and value
    )


def _override_layer(overrides: Mapping[str, Any]) -> _Layer:
    return _layer((key, value, f"--{key.replace('_', '-')}") for key, value in overrides.items())


# -- name -------------------------------------------------------------------


def _choose_name(name: str | None, env: Mapping[str, str], files: _Files, generic: _Layer) -> tuple[str, str]:
    if name:
        return name, SRC_NAME_ARG
    if env.get(_DEFAULT_NAME_ENV):
        return env[_DEFAULT_NAME_ENV], f"env {_DEFAULT_NAME_ENV}"
    if files.default_name:
        return files.default_name, f"{CONFIG_FILE} default_connection_name"
    if DEFAULT in files.connections or _connection_env_layer(env, DEFAULT, files.connections):
        return DEFAULT, "implicit default"
    env_connections = any(var.startswith(_CONNECTION_ENV_PREFIX) for var in env)
    if not files.connections and not env_connections:
        if {"account", "host"} & generic.keys():
            return DEFAULT, "env only (no connection file)"
        return LOCAL, "nothing configured"
    defined = ", ".join(sorted(files.connections)) or "(only via SNOWFLAKE_CONNECTIONS_* env)"
    raise ConnectionConfigError(
        f"no connection chosen and none named '{DEFAULT}': pass --connection NAME, set "
        f"{_DEFAULT_NAME_ENV}, or set default_connection_name in {files.config_path}. "
        f"Defined: {defined}; '{LOCAL}' is the embedded local Snowflake."
    )


def _names_embedded(layer: _Layer) -> bool:
    """Whether a `local` definition leaves the embedded Snowflake: none, or one pasted from `deploy local status`."""
    account, host = (str(layer[k][0]) if k in layer else None for k in ("account", "host"))
    return (account, host) == (None, None) or (account == EMBEDDED_ACCOUNT and host in (EMBEDDED_HOST, "localhost"))


def _undefined_message(name: str, name_src: str, files: _Files) -> str:
    def shown(path: Path, section: str) -> str:
        return f"{path} [{section}]" + ("" if path.is_file() else " (not found)")

    defined = ", ".join(sorted(files.connections)) or "none"
    return (
        f"connection '{name}' (from {name_src}) is not defined. Defined connections: "
        f"{defined}; '{LOCAL}' is always available (embedded local Snowflake). Searched "
        f"{shown(files.config_path, f'connections.{name}')}, "
        f"{shown(files.connections_path, name)} and env "
        f"{_CONNECTION_ENV_PREFIX}{name.upper()}_*."
    )


# -- values and keys --------------------------------------------------------


def _coerce(key: str, value: Any, src: str) -> Any:
    if not isinstance(value, str):
        return value
    if key in _INT_KEYS:
        try:
            return int(value.strip())
        except ValueError:
            raise ConnectionConfigError(f"{key} from {src} must be an integer, got {value!r}") from None
    if key in _BOOL_KEYS:
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ConnectionConfigError(f"{key} from {src} must be true or false, got {value!r}")
    return value


def _check_key_pair(merged: _Layer) -> None:
    """Settle the authenticator for key-pair auth; no file I/O here."""
    key_src = next((k for k in _KEY_SOURCES if k in merged), None)
    auth = merged.get("authenticator")
    if key_src is None:
        if auth is not None and str(auth[0]).upper() == JWT:
            raise ConnectionConfigError(
                f"authenticator {JWT} (from {auth[1]}) needs private_key_file (or private_key_path / private_key_raw)"
            )
        merged.pop("private_key_file_pwd", None)  # a passphrase with nothing to open
        return
    if auth is None:
        merged["authenticator"] = (JWT, f"implied by {key_src}")
    elif str(auth[0]).upper() != JWT:
        raise ConnectionConfigError(
            f'{key_src} (from {merged[key_src][1]}) needs authenticator = "{JWT}", '
            f"but authenticator is {auth[0]!r} (from {auth[1]})"
        )
    else:
        merged["authenticator"] = (JWT, auth[1])


def _read_key_file(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConnectionConfigError(f"{where} does not exist") from None
    except OSError as err:
        raise ConnectionConfigError(f"cannot read {where}: {err.strerror or err}") from None


def _pem_to_der(pem: bytes, passphrase: str | bytes | None, where: str) -> bytes:
    """PEM (optionally encrypted) -> unencrypted PKCS#8 DER; errors never echo secrets."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    password = passphrase.encode() if isinstance(passphrase, str) else passphrase or None
    encrypted = b"ENCRYPTED" in pem  # PKCS#8 and traditional OpenSSL headers both say so
    if encrypted and password is None:
        raise ConnectionConfigError(
            f"{where} is encrypted: set its passphrase in PRIVATE_KEY_PASSPHRASE (or private_key_file_pwd)"
        )
    try:
        # Like snowflake-cli, a passphrase given for an unencrypted key is ignored.
        key = serialization.load_pem_private_key(pem, password=password if encrypted else None)
    except ValueError:
        if encrypted:
            raise ConnectionConfigError(f"cannot decrypt {where}: wrong passphrase (PRIVATE_KEY_PASSPHRASE)?") from None
        raise ConnectionConfigError(f"{where} is not a PEM private key") from None
    except (TypeError, UnsupportedAlgorithm):
        raise ConnectionConfigError(f"{where} is not a usable PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConnectionConfigError(f"{where}: Snowflake takes RSA or EC keys only")
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _local_kwargs(spec: ConnectionSpec) -> dict[str, Any]:
    try:
        import localsnow

        base = dict(localsnow.ensure_running(spec.local_home))
    except ModuleNotFoundError as err:
        raise ConnectionConfigError(
            f"the '{LOCAL}' connection needs the embedded Snowflake (missing module "
            f"{err.name}): pip install 't5-snowflake-deploy[local]'"
        ) from err
    except StartError as err:  # a busy kept port, a server that would not start: already says what to do
        raise ConnectionConfigError(str(err)) from None
    # Tool defaults only fill gaps; what localsnow needs (host, port, credentials,
    # its session parameters) beats them; what the user set beats both.
    defaults = {k: v for k, v in spec.params.items() if spec.sources.get(k) == SRC_DEFAULT}
    given = {k: v for k, v in spec.params.items() if spec.sources.get(k) != SRC_DEFAULT}
    kwargs = {**defaults, **base, **given}
    if "socket_timeout" not in given:
        # localsnow hands other clients a long read timeout; its server answers every request within
        # localsnow.async_queries.ANSWER_WITHIN_S ("in progress", then polled), so ours stays short.
        kwargs["socket_timeout"] = DEFAULT_SOCKET_TIMEOUT
    session = {
        **defaults.get("session_parameters", {}),
        **base.get("session_parameters", {}),
        **given.get("session_parameters", {}),
    }
    if session:
        kwargs["session_parameters"] = session
    return kwargs
