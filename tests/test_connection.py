"""deploy.connection: precedence, name choice, key-pair, redaction, permissions, connect.

Pure: every test uses a tmp config dir and an explicit environ; nothing touches the
network, the real environment or ~/.snowflake.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deploy.connection import (
    APPLICATION,
    DEFAULT_LOGIN_TIMEOUT,
    DEFAULT_NETWORK_TIMEOUT,
    QUERY_TAG,
    ConnectionConfigError,
    ConnectionSpec,
    InsecureConfigWarning,
    connect,
    connector_kwargs,
    resolve_connection,
)
from deploy.errors import DeployError

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")

PASSWORD = "hunter2-Pa55w0rd"
PASSPHRASE = "correct horse battery staple"
TOKEN = "tok-3f9c1d7e"


def write(home: Path, name: str, text: str, mode: int = 0o600) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(text)
    path.chmod(mode)
    return path


def resolve(home: Path, name: str | None = None, env: dict[str, str] | None = None, **kw: Any):
    return resolve_connection(name, environ=env or {}, home=home, **kw)


# -- precedence -------------------------------------------------------------


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    write(tmp_path, "config.toml", """
[connections.prod]
account = "cfg_acct"
user = "cfg_user"
role = "cfg_role"
warehouse = "cfg_wh"
database = "cfg_db"
schema = "cfg_schema"
""")  # fmt: skip
    write(tmp_path, "connections.toml", """
[prod]
account = "conn_acct"
user = "conn_user"
role = "conn_role"
warehouse = "conn_wh"
database = "conn_db"
""")  # fmt: skip
    env = {
        "SNOWFLAKE_ROLE": "env_role",
        "SNOWFLAKE_WAREHOUSE": "env_wh",
        "SNOWFLAKE_DATABASE": "env_db",
        "SNOWFLAKE_CONNECTIONS_PROD_WAREHOUSE": "connenv_wh",
        "SNOWFLAKE_CONNECTIONS_PROD_DATABASE": "connenv_db",
    }
    spec = resolve(tmp_path, "prod", env, overrides={"database": "flag_db", "schema": None})

    assert not spec.is_local
    got = {k: spec.params.get(k) for k in ("account", "user", "role", "warehouse", "database")}
    assert got == {
        "account": "conn_acct",
        "user": "conn_user",
        "role": "env_role",
        "warehouse": "connenv_wh",
        "database": "flag_db",
    }
    # connections.toml replaced the config.toml definition whole: no schema left,
    # and a None override means "flag not given".
    assert "schema" not in spec.params
    assert spec.sources["account"] == "connections.toml"
    assert spec.sources["role"] == "env SNOWFLAKE_ROLE"
    assert spec.sources["warehouse"] == "env SNOWFLAKE_CONNECTIONS_PROD_WAREHOUSE"
    assert spec.sources["database"] == "--database"
    assert spec.sources["name"] == "--connection"


def test_files_replace_per_connection_not_per_file(tmp_path: Path) -> None:
    write(tmp_path, "config.toml", '[connections.dev]\naccount = "dev_acct"\nuser = "d"\n')
    write(tmp_path, "connections.toml", '[prod]\naccount = "prod_acct"\nuser = "p"\n')
    assert resolve(tmp_path, "dev").sources["account"] == "config.toml"
    assert resolve(tmp_path, "prod").sources["account"] == "connections.toml"


def test_generic_env_fills_and_beats_files(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "a"\nuser = "file_user"\n')
    spec = resolve(tmp_path, "prod", {"SNOWFLAKE_USER": "env_user", "SNOWFLAKE_SCHEMA": "S"})
    assert spec.params["user"] == "env_user"
    assert spec.params["schema"] == "S"


def test_connection_env_only_applies_to_its_own_connection(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "a"\n[prod_eu]\naccount = "b"\n')
    env = {"SNOWFLAKE_CONNECTIONS_PROD_EU_USER": "eu", "SNOWFLAKE_CONNECTIONS_PROD_USER": "p"}
    prod, prod_eu = resolve(tmp_path, "prod", env), resolve(tmp_path, "prod_eu", env)
    assert prod.params["user"] == "p"
    assert "eu_user" not in prod.params
    assert prod_eu.params["user"] == "eu"


def test_connection_defined_only_by_env(tmp_path: Path) -> None:
    env = {"SNOWFLAKE_CONNECTIONS_CI_ACCOUNT": "ci_acct", "SNOWFLAKE_CONNECTIONS_CI_USER": "bot"}
    spec = resolve(tmp_path, "ci", env)
    assert (spec.params["account"], spec.params["user"]) == ("ci_acct", "bot")
    assert not spec.is_local


def test_aliases_canonical_spelling_wins_within_a_source(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", """
[prod]
account = "a"
private_key_path = "/alias.p8"
private_key_file = "/canonical.p8"
""")  # fmt: skip
    spec = resolve(tmp_path, "prod", {})
    assert spec.params["private_key_file"] == "/canonical.p8"
    assert "private_key_path" not in spec.params
    # Higher layer's alias still beats a lower layer's canonical key.
    spec = resolve(tmp_path, "prod", {"SNOWFLAKE_PRIVATE_KEY_PATH": "/env.p8"})
    assert spec.params["private_key_file"] == "/env.p8"


# -- defaults and pass-through ----------------------------------------------


def test_defaults_and_pass_through(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", """
[prod]
account = "a"
user = "u"
home = "/not/for/the/connector"
client_session_keep_alive = true
some_future_option = "kept"
session_parameters = { TIMEZONE = "UTC" }
""")  # fmt: skip
    spec = resolve(tmp_path, "prod", {"SNOWFLAKE_CONNECTIONS_PROD_LOGIN_TIMEOUT": "30"})
    kwargs = connector_kwargs(spec)
    assert kwargs["login_timeout"] == 30  # env string coerced for the connector
    assert kwargs["network_timeout"] == DEFAULT_NETWORK_TIMEOUT
    assert kwargs["application"] == APPLICATION
    assert kwargs["session_parameters"] == {"QUERY_TAG": QUERY_TAG, "TIMEZONE": "UTC"}
    assert kwargs["client_session_keep_alive"] is True
    assert kwargs["some_future_option"] == "kept"
    assert "home" not in kwargs
    assert spec.sources["network_timeout"] == "default"


def test_user_query_tag_and_timeouts_win_over_defaults(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", """
[prod]
account = "a"
network_timeout = 60
session_parameters = { QUERY_TAG = "mine" }
""")  # fmt: skip
    kwargs = connector_kwargs(resolve(tmp_path, "prod"))
    assert kwargs["network_timeout"] == 60
    assert kwargs["login_timeout"] == DEFAULT_LOGIN_TIMEOUT
    assert kwargs["session_parameters"] == {"QUERY_TAG": "mine"}


def test_bad_env_value_names_its_source(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "a"\n')
    with pytest.raises(ConnectionConfigError, match="SNOWFLAKE_CONNECTIONS_PROD_PORT"):
        resolve(tmp_path, "prod", {"SNOWFLAKE_CONNECTIONS_PROD_PORT": "https"})


# -- name resolution --------------------------------------------------------

TWO_CONNECTIONS = """
default_connection_name = "from_config"
[connections.from_config]
account = "c"
[connections.from_env]
account = "e"
[connections.explicit]
account = "x"
[connections.default]
account = "d"
"""


@pytest.mark.parametrize(
    ("name", "env", "expected", "source"),
    [
        ("explicit", {"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "from_env"}, "explicit", "--connection"),
        (
            None,
            {"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "from_env"},
            "from_env",
            "env SNOWFLAKE_DEFAULT_CONNECTION_NAME",
        ),
        (None, {}, "from_config", "config.toml default_connection_name"),
    ],
)
def test_name_precedence(tmp_path: Path, name: str | None, env: dict[str, str], expected: str, source: str) -> None:
    write(tmp_path, "config.toml", TWO_CONNECTIONS)
    spec = resolve(tmp_path, name, env)
    assert (spec.name, spec.sources["name"]) == (expected, source)


def test_connection_named_default_is_the_default(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[other]\naccount = "o"\n[default]\naccount = "d"\n')
    spec = resolve(tmp_path)
    assert (spec.name, spec.params["account"]) == ("default", "d")


@pytest.mark.parametrize("make_dir", [True, False])
def test_local_when_nothing_is_configured(tmp_path: Path, make_dir: bool) -> None:
    home = tmp_path / "snowflake"
    if make_dir:
        write(home, "config.toml", "[cli.logs]\nsave_logs = false\n")
    spec = resolve(home, env={"SNOWFLAKE_USER": "someone"})
    assert (spec.name, spec.is_local) == ("local", True)
    assert spec.sources["name"] == "nothing configured"
    # Credentials meant for a real account are not carried into the local one.
    assert "user" not in spec.params


def test_env_only_configuration_is_not_local(tmp_path: Path) -> None:
    spec = resolve(tmp_path, env={"SNOWFLAKE_ACCOUNT": "acct", "SNOWFLAKE_USER": "ci"})
    assert (spec.name, spec.is_local, spec.params["account"]) == ("default", False, "acct")


def test_no_default_chosen_among_several_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[dev]\naccount = "d"\n[prod]\naccount = "p"\n')
    with pytest.raises(ConnectionConfigError) as err:
        resolve(tmp_path)
    assert "dev, prod" in str(err.value)
    assert "--connection" in str(err.value)


def test_unknown_name_lists_defined_names_and_files(tmp_path: Path) -> None:
    write(tmp_path, "config.toml", '[connections.dev]\naccount = "d"\n')
    write(tmp_path, "connections.toml", '[prod]\naccount = "p"\n')
    with pytest.raises(ConnectionConfigError) as err:
        resolve(tmp_path, env={"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "staging"})
    msg = str(err.value)
    assert "'staging'" in msg
    assert "SNOWFLAKE_DEFAULT_CONNECTION_NAME" in msg  # how the name was chosen
    assert "dev, prod" in msg
    assert str(tmp_path / "config.toml") in msg
    assert str(tmp_path / "connections.toml") in msg
    assert "SNOWFLAKE_CONNECTIONS_STAGING_*" in msg
    assert isinstance(err.value, DeployError)


def test_snowflake_home_from_environ(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "p"\n')
    spec = resolve_connection("prod", environ={"SNOWFLAKE_HOME": str(tmp_path)})
    assert spec.params["account"] == "p"


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", f'[prod]\npassword = "{PASSWORD}"\naccount = \n')
    with pytest.raises(ConnectionConfigError, match=r"connections\.toml: invalid TOML") as err:
        resolve(tmp_path, "prod")
    assert PASSWORD not in str(err.value)


# -- local ------------------------------------------------------------------


def test_user_local_with_account_is_a_real_connection(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[local]\naccount = "mine"\nuser = "u"\n')
    spec = resolve(tmp_path, "local")
    assert not spec.is_local
    assert spec.params["account"] == "mine"


def test_a_local_section_from_deploy_local_status_stays_the_embedded_snowflake(tmp_path: Path) -> None:
    """`deploy local status --format toml` pasted as [local]: port and password come from the server."""
    section = '[local]\nhost = "127.0.0.1"\nport = 9\naccount = "local"\nuser = "LOCALSNOW"\npassword = "old"\n'
    write(tmp_path, "connections.toml", section + 'database = "D"\nnetwork_timeout = 900\n')
    spec = resolve(tmp_path, "local")
    assert spec.is_local
    assert dict(spec.params) == {**{k: v for k, v in spec.params.items() if spec.sources[k] == "default"},
                                 "database": "D", "network_timeout": 900}  # fmt: skip
    write(tmp_path, "connections.toml", section.replace("127.0.0.1", "10.0.0.5"))
    assert not resolve(tmp_path, "local").is_local  # another host: the user's own server


def test_local_home_from_file_and_env(tmp_path: Path) -> None:
    env = {"LOCALSNOW_HOME": "/from/env"}
    spec = resolve(tmp_path, "local", env)
    assert (spec.local_home, spec.sources["home"]) == (Path("/from/env"), "env LOCALSNOW_HOME")
    write(tmp_path, "connections.toml", '[local]\nhome = "/from/file"\ndatabase = "D"\n')
    spec = resolve(tmp_path, "local", env)
    assert spec.is_local
    assert (spec.local_home, spec.sources["home"]) == (Path("/from/file"), "connections.toml")
    assert spec.params["database"] == "D"


class Recorder:
    def __init__(self, result: Any = "CONNECTION") -> None:
        self.calls: list[dict[str, Any]] = []
        self.result = result

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def fake_connect(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    import snowflake.connector

    recorder = Recorder()
    monkeypatch.setattr(snowflake.connector, "connect", recorder)
    return recorder


@pytest.fixture
def fake_localsnow(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    homes: list[Path | None] = []

    def ensure_running(home: Path | None = None) -> dict[str, Any]:
        homes.append(home)
        return {
            "host": "127.0.0.1",
            "port": 54321,
            "protocol": "http",
            "account": "fakesnow",
            "user": "fake",
            "password": "snow",
            "session_parameters": {"FAKESNOW_DB_PATH": "/state/db"},
        }

    module = types.ModuleType("localsnow")
    module.ensure_running = ensure_running  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "localsnow", module)
    return homes


def test_connect_local_uses_localsnow_kwargs_plus_given_names(
    tmp_path: Path, fake_connect: Recorder, fake_localsnow: list[Path | None]
) -> None:
    spec = resolve(
        tmp_path,
        env={"LOCALSNOW_HOME": str(tmp_path / "state")},
        overrides={"database": "T5", "schema": "SUMMARIZER", "warehouse": "WH", "role": None},
    )
    assert connect(spec) == "CONNECTION"
    assert fake_localsnow == [tmp_path / "state"]
    (kwargs,) = fake_connect.calls
    assert (kwargs["host"], kwargs["port"], kwargs["account"]) == ("127.0.0.1", 54321, "fakesnow")
    assert (kwargs["database"], kwargs["schema"], kwargs["warehouse"]) == ("T5", "SUMMARIZER", "WH")
    assert kwargs["login_timeout"] == DEFAULT_LOGIN_TIMEOUT
    assert kwargs["network_timeout"] == DEFAULT_NETWORK_TIMEOUT
    assert kwargs["session_parameters"] == {"FAKESNOW_DB_PATH": "/state/db", "QUERY_TAG": QUERY_TAG}
    assert "role" not in kwargs


def test_connect_real_passes_kwargs_and_wraps_connector_errors(tmp_path: Path, fake_connect: Recorder) -> None:
    from snowflake.connector.errors import DatabaseError

    write(tmp_path, "connections.toml", '[prod]\naccount = "acct"\nuser = "u"\n')
    spec = resolve(tmp_path, "prod", {"SNOWFLAKE_PASSWORD": PASSWORD})
    connect(spec)
    assert fake_connect.calls[0]["password"] == PASSWORD
    assert fake_connect.calls[0]["account"] == "acct"

    fake_connect.result = DatabaseError(msg="Incorrect username or password was specified.")
    with pytest.raises(ConnectionConfigError, match="'prod' to acct: Incorrect username") as err:
        connect(spec)
    assert PASSWORD not in str(err.value)


def test_only_local_connections_skip_the_connectors_platform_probes(
    tmp_path: Path, fake_connect: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import localsnow
    from localsnow.daemon import DISABLE_PLATFORM_DETECTION_ENV, connect_kwargs

    # The real kwargs of a running server, without starting one.
    monkeypatch.setattr(localsnow, "ensure_running", lambda home=None: connect_kwargs(54321, "pw"))
    monkeypatch.delenv(DISABLE_PLATFORM_DETECTION_ENV, raising=False)
    overrides = {"platform_detection_timeout_seconds": 5.0}  # not the user's to turn back on for local
    connect(resolve(tmp_path / "nothing", overrides=overrides))
    write(tmp_path, "connections.toml", '[prod]\naccount = "acct"\nuser = "u"\n')
    connect(resolve(tmp_path, "prod", {"SNOWFLAKE_PASSWORD": PASSWORD}))

    local, real = fake_connect.calls
    # 0 s: connector 4.x skips its 169.254.169.254 / metadata.google.internal probes at login.
    assert local["platform_detection_timeout_seconds"] == 0.0
    assert isinstance(local["platform_detection_timeout_seconds"], float)  # the connector's declared type
    assert (local["host"], local["protocol"]) == ("127.0.0.1", "http")  # plain HTTP: no OCSP or CRL fetches
    assert "platform_detection_timeout_seconds" not in real  # a real account keeps the connector's default
    assert DISABLE_PLATFORM_DETECTION_ENV not in os.environ  # nor is it switched off process-wide


# -- key-pair ---------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(path: Path, key: rsa.RSAPrivateKey, passphrase: str | None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    path.chmod(0o600)
    return path


def key_pair_home(tmp_path: Path, key_file: Path, extra: str = "") -> Path:
    home = tmp_path / "home"
    write(home, "connections.toml", f"""
[prod]
account = "acct"
user = "deployer"
authenticator = "snowflake_jwt"
private_key_file = "{key_file}"
{extra}
""")  # fmt: skip
    return home


def test_key_pair_materialises_loadable_der(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = write_key(tmp_path / "rsa_key.p8", rsa_key, PASSPHRASE)
    spec = resolve(key_pair_home(tmp_path, key_file), "prod", {"PRIVATE_KEY_PASSPHRASE": PASSPHRASE})
    assert spec.sources["private_key_file_pwd"] == "env PRIVATE_KEY_PASSPHRASE"

    kwargs = connector_kwargs(spec)
    assert kwargs["authenticator"] == "SNOWFLAKE_JWT"
    assert not {"private_key_file", "private_key_file_pwd", "private_key_raw"} & kwargs.keys()
    loaded = serialization.load_der_private_key(kwargs["private_key"], password=None)
    assert loaded.private_numbers() == rsa_key.private_numbers()  # type: ignore[union-attr]


def test_key_pair_passphrase_from_config_and_implied_authenticator(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = write_key(tmp_path / "k.p8", rsa_key, PASSPHRASE)
    home = tmp_path / "home"
    write(home, "config.toml", f"""
[connections.prod]
account = "acct"
user = "deployer"
private_key_path = "{key_file}"
private_key_file_pwd = "{PASSPHRASE}"
""")  # fmt: skip
    spec = resolve(home, "prod")
    assert spec.params["authenticator"] == "SNOWFLAKE_JWT"
    assert spec.sources["authenticator"] == "implied by private_key_file"
    assert isinstance(connector_kwargs(spec)["private_key"], bytes)


def test_key_pair_raw_pem_from_env(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = write_key(tmp_path / "k.p8", rsa_key, None).read_text()
    env = {
        "SNOWFLAKE_ACCOUNT": "acct",
        "SNOWFLAKE_USER": "ci",
        "SNOWFLAKE_AUTHENTICATOR": "SNOWFLAKE_JWT",
        "SNOWFLAKE_PRIVATE_KEY_RAW": pem,
        "PRIVATE_KEY_PASSPHRASE": "ignored for an unencrypted key",
    }
    kwargs = connector_kwargs(resolve(tmp_path / "empty", env=env))
    assert serialization.load_der_private_key(kwargs["private_key"], password=None)
    assert "private_key_raw" not in kwargs


def test_wrong_passphrase_is_clear_and_secret_free(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = write_key(tmp_path / "k.p8", rsa_key, PASSPHRASE)
    wrong = "not-the-passphrase-42"
    spec = resolve(key_pair_home(tmp_path, key_file), "prod", {"PRIVATE_KEY_PASSPHRASE": wrong})
    with pytest.raises(ConnectionConfigError) as err:
        connector_kwargs(spec)
    assert "wrong passphrase" in str(err.value)
    assert str(key_file) in str(err.value)
    assert wrong not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_missing_passphrase(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = write_key(tmp_path / "k.p8", rsa_key, PASSPHRASE)
    with pytest.raises(ConnectionConfigError, match=r"encrypted.*PRIVATE_KEY_PASSPHRASE"):
        connector_kwargs(resolve(key_pair_home(tmp_path, key_file), "prod"))


def test_missing_and_invalid_key_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.p8"
    with pytest.raises(ConnectionConfigError, match="does not exist"):
        connector_kwargs(resolve(key_pair_home(tmp_path, missing), "prod"))
    garbage = tmp_path / "garbage.p8"
    garbage.write_text("not a key")
    with pytest.raises(ConnectionConfigError, match="not a PEM private key"):
        connector_kwargs(resolve(key_pair_home(tmp_path, garbage), "prod"))
    with pytest.raises(ConnectionConfigError, match="cannot read"):
        connector_kwargs(resolve(key_pair_home(tmp_path, tmp_path), "prod"))  # a directory


def test_key_with_other_authenticator_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", """
[prod]
account = "a"
authenticator = "externalbrowser"
private_key_file = "/k.p8"
""")  # fmt: skip
    with pytest.raises(ConnectionConfigError, match="needs authenticator"):
        resolve(tmp_path, "prod")


def test_jwt_without_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "a"\nauthenticator = "SNOWFLAKE_JWT"\n')
    with pytest.raises(ConnectionConfigError, match="needs private_key_file"):
        resolve(tmp_path, "prod")


# -- secrets never shown ----------------------------------------------------


def test_repr_and_describe_never_show_secrets(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", f"""
[prod]
account = "acct"
user = "deployer"
password = "{PASSWORD}"
oauth_client_secret = "{PASSWORD}-client"
private_key_file = "/keys/rsa.p8"
private_key_file_pwd = "{PASSPHRASE}"
""")  # fmt: skip
    spec = resolve(tmp_path, "prod", {"SNOWFLAKE_TOKEN": TOKEN})
    described = spec.describe()
    shown = repr(spec) + str(spec) + repr(described)
    for secret in (PASSWORD, PASSPHRASE, TOKEN):
        assert secret not in shown
    assert described["password"] == "<redacted> (connections.toml)"
    assert described["token"] == "<redacted> (env SNOWFLAKE_TOKEN)"
    assert described["private_key_file_pwd"].startswith("<redacted>")
    assert described["account"] == "acct (connections.toml)"
    assert described["private_key_file"] == "/keys/rsa.p8 (connections.toml)"
    assert described["name"] == "prod (--connection)"
    assert described["kind"] == "snowflake"


def test_describe_local(tmp_path: Path) -> None:
    described = resolve(tmp_path, overrides={"database": "T5"}).describe()
    assert described["kind"].startswith("local")
    assert described["database"] == "T5 (--database)"


def test_spec_built_directly_is_still_redacted() -> None:
    spec = ConnectionSpec("x", False, {"password": PASSWORD, "user": "u"}, {"user": "test"})
    assert PASSWORD not in repr(spec) + repr(spec.describe())


# -- file permissions -------------------------------------------------------


@posix_only
def test_group_readable_connections_toml_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "connections.toml", '[prod]\naccount = "a"\n', mode=0o644)
    with pytest.warns(InsecureConfigWarning, match="readable by group or others") as record:
        resolve(tmp_path, "prod")
    assert str(path) in str(record[0].message)
    assert "chmod 0600" in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller, not connection.py


@posix_only
def test_private_files_do_not_warn_and_warning_can_be_skipped(tmp_path: Path) -> None:
    write(tmp_path, "connections.toml", '[prod]\naccount = "a"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve(tmp_path, "prod")
        (tmp_path / "connections.toml").chmod(0o644)
        resolve(tmp_path, "prod", {"SF_SKIP_TOKEN_FILE_PERMISSIONS_VERIFICATION": "true"})


@posix_only
def test_group_writable_config_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "config.toml", '[connections.prod]\naccount = "a"\n', mode=0o664)
    with pytest.raises(ConnectionConfigError, match="writable by group or others"):
        resolve(tmp_path, "prod")
