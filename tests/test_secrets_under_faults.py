"""Passwords, passphrases and tokens appear nowhere a failing run writes, with --debug too (issue 12).

Each case runs the real CLI (`python -m deploy --debug`) against a failure -- a refused login,
a closed port, a black hole, a server that goes silent mid-statement, an answer that is not
Snowflake's, a wrong key passphrase -- with a fresh secret set through env or connections.toml.
Then stdout, stderr and every file the run left under the test's directory (cache, logs, a
plan file it was asked to write) are searched for the secret.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, shout_manifest, small_project
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_remote import ACCEPT_THEN_SILENT, BROKEN_RESULT, GARBAGE, REFUSE, remote_account

ROOT = Path(__file__).resolve().parents[1]
# Generous: a hang shows as this timeout, not as a stuck suite.
BOUND_S = 120
MANIFEST = shout_manifest("FAULTS", "APP", stages={"CODE": HANDLER_FILE})


@dataclass
class Case:
    """What a run is given: connections.toml text, env, args; the secrets that must not leak."""

    toml: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("sql", "SELECT 1")
    secrets: tuple[str, ...] = ()


def _secret(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(10)}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _remote(port: int, extra: str = "") -> str:
    return f'[remote]\naccount = "acct"\nuser = "U"\nhost = "127.0.0.1"\nport = {port}\nprotocol = "http"\n{extra}'


def _encrypted_key(path: Path, passphrase: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    path.chmod(0o600)


def _run(tmp_path: Path, case: Case) -> tuple[int, str, str]:
    (tmp_path / "project").mkdir()
    project = small_project(tmp_path / "project", MANIFEST)
    snowflake_home = tmp_path / "snowflake-home"
    snowflake_home.mkdir(exist_ok=True)
    (snowflake_home / "connections.toml").write_text(case.toml)
    (snowflake_home / "connections.toml").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "PRIVATE_KEY"))}
    env.update(
        SNOWFLAKE_HOME=str(snowflake_home),
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
        LOCALSNOW_HOME=str(tmp_path / "localsnow"),
        T5_DEPLOY_CACHE=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        **case.env,
    )
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "--debug", "--connection", "remote", *case.args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )
    return done.returncode, done.stdout, done.stderr


def _written(tmp_path: Path, inputs: set[Path]) -> Iterator[tuple[Path, bytes]]:
    for path in tmp_path.rglob("*"):
        if path.is_file() and path not in inputs:
            yield path, path.read_bytes()


def _assert_secret_free(tmp_path: Path, case: Case, rc: int, out: str, err: str) -> None:
    assert rc != 0, f"the run was meant to fail:\n{err}"
    inputs = {tmp_path / "snowflake-home" / "connections.toml", tmp_path / "key.p8"}
    for secret in case.secrets:
        assert secret not in out, f"secret in stdout:\n{out}"
        assert secret not in err, f"secret in stderr:\n{err}"
        for path, data in _written(tmp_path, inputs):
            assert secret.encode() not in data, f"secret in {path}"


# Short waits keep each case to seconds; test_dead_server checks the default bounds.
FAST = {"T5_DEPLOY_LOGIN_TIMEOUT": "3", "T5_DEPLOY_SOCKET_TIMEOUT": "3", "T5_DEPLOY_UNREACHABLE_AFTER": "4"}


def test_refused_password_from_env(tmp_path: Path) -> None:
    password = _secret("pw")
    with remote_account(REFUSE) as remote:
        case = Case(_remote(remote.port), {"SNOWFLAKE_PASSWORD": password, **FAST}, secrets=(password,))
        rc, out, err = _run(tmp_path, case)
    assert "Incorrect username or password" in err
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_closed_port_password_in_connections_toml_with_plan_file(tmp_path: Path) -> None:
    password = _secret("pw")
    plan_file = tmp_path / "plan.json"
    case = Case(
        _remote(_closed_port(), f'password = "{password}"\n'),
        FAST,
        ("plan", "--format", "json", "--out", str(plan_file)),
        (password,),
    )
    rc, out, err = _run(tmp_path, case)
    assert "check the network" in " ".join(err.split())
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_black_hole_login_times_out(tmp_path: Path) -> None:
    password = _secret("pw")
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        case = Case(_remote(hole.getsockname()[1], f'password = "{password}"\n'), FAST, secrets=(password,))
        rc, out, err = _run(tmp_path, case)
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_server_silent_mid_statement(tmp_path: Path) -> None:
    password = _secret("pw")
    with remote_account(ACCEPT_THEN_SILENT) as remote:
        case = Case(_remote(remote.port), {"SNOWFLAKE_PASSWORD": password, **FAST}, secrets=(password,))
        rc, out, err = _run(tmp_path, case)
        assert remote.queries_seen.is_set()
    assert rc == 1
    assert "connection was lost" in " ".join(err.split())
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_login_answer_not_snowflake(tmp_path: Path) -> None:
    password = _secret("pw")
    with remote_account(GARBAGE) as remote:
        case = Case(_remote(remote.port, f'password = "{password}"\n'), FAST, secrets=(password,))
        rc, out, err = _run(tmp_path, case)
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_unexpected_exception_traceback_with_debug(tmp_path: Path) -> None:
    password, passphrase = _secret("pw"), _secret("pass")
    with remote_account(BROKEN_RESULT) as remote:
        env = {"SNOWFLAKE_PASSWORD": password, "PRIVATE_KEY_PASSPHRASE": passphrase, **FAST}
        case = Case(_remote(remote.port), env, secrets=(password, passphrase))
        rc, out, err = _run(tmp_path, case)
    assert "Traceback" in err  # --debug prints the unexpected error's traceback
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_wrong_key_passphrase(tmp_path: Path) -> None:
    right, wrong = _secret("pass"), _secret("pass")
    _encrypted_key(tmp_path / "key.p8", right)
    toml = _remote(_closed_port(), f'private_key_file = "{tmp_path / "key.p8"}"\n')
    case = Case(toml, {"PRIVATE_KEY_PASSPHRASE": wrong, **FAST}, secrets=(right, wrong))
    rc, out, err = _run(tmp_path, case)
    assert rc == 1 and "wrong passphrase" in err
    _assert_secret_free(tmp_path, case, rc, out, err)


def test_key_pair_login_refused(tmp_path: Path) -> None:
    passphrase = _secret("pass")
    _encrypted_key(tmp_path / "key.p8", passphrase)
    with remote_account(REFUSE) as remote:
        toml = _remote(
            remote.port, f'private_key_file = "{tmp_path / "key.p8"}"\nprivate_key_file_pwd = "{passphrase}"\n'
        )
        case = Case(toml, FAST, secrets=(passphrase,))
        rc, out, err = _run(tmp_path, case)
    _assert_secret_free(tmp_path, case, rc, out, err)


@pytest.mark.parametrize("where", ["env", "toml"])
def test_oauth_token_to_closed_port(tmp_path: Path, where: str) -> None:
    token = _secret("token")
    extra = 'authenticator = "oauth"\n' + (f'token = "{token}"\n' if where == "toml" else "")
    env = {"SNOWFLAKE_TOKEN": token, **FAST} if where == "env" else FAST
    case = Case(_remote(_closed_port(), extra), env, secrets=(token,))
    rc, out, err = _run(tmp_path, case)
    _assert_secret_free(tmp_path, case, rc, out, err)
