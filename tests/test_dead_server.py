"""A server that dies or never answers is an error within a minute, not a hang (issue 12).

Each case runs the real CLI (`python -m deploy`) in a subprocess, so a hang shows as the
subprocess timeout rather than a stuck suite. The embedded server is killed while a UDF it
runs blocks on a gate file the test controls: the kill happens with the statement in flight.
Real-style connections point at loopback sockets: a closed port (refused) and a black hole
(a listening socket that never answers).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_project import sql_runner
from connector_polls import PingPongs

import localsnow
from deploy.connection import (
    DEFAULT_LOGIN_TIMEOUT,
    DEFAULT_SOCKET_TIMEOUT,
    DEFAULT_UNREACHABLE_AFTER,
    UNREACHABLE_ENV,
    connect,
    resolve_connection,
)
from deploy.errors import DeployError, SnowflakeError
from deploy.session import PROBE_EVERY_S, ConnectionLost, Session, Watch, repeatable
from localsnow.async_queries import ANSWER_WITHIN_ENV
from localsnow.paths import Layout

ROOT = Path(__file__).resolve().parents[1]
# Generous: "within a minute" plus a loaded 2-core machine's start-up of the CLI.
BOUND_S = 90
GATE_BODY = (
    "import os, time\n"
    "def handler(d):\n"
    "    open(os.path.join(d, 'started'), 'w').close()\n"
    "    while not os.path.exists(os.path.join(d, 'release')):\n"
    "        time.sleep(0.05)\n"
    "    return 'released'\n"
)


def _cli_env(tmp_path: Path, home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_USER", "SNOWFLAKE_ACCOUNT"):
        env.pop(var, None)
    snowflake_home = tmp_path / "snowflake-home"
    snowflake_home.mkdir(exist_ok=True)
    env.update(
        LOCALSNOW_HOME=str(home),
        SNOWFLAKE_HOME=str(snowflake_home),
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
        T5_DEPLOY_CACHE=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        **extra,
    )
    return env


def _deploy(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _flat(text: str) -> str:
    """Rich wraps long lines to the console width; compare words."""
    return " ".join(text.split())


@pytest.fixture
def gated_server(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(home, gate): an embedded Snowflake with GATE(dir), a UDF that blocks until dir/release exists."""
    home, gate = tmp_path / "home", tmp_path / "gate"
    gate.mkdir()
    try:
        with sql_runner(home) as run:
            run("CREATE DATABASE FAULTS")
            run(
                "CREATE FUNCTION FAULTS.PUBLIC.GATE(D VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
                f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${GATE_BODY}$$"
            )
        yield home, gate
    finally:
        (gate / "release").touch()  # lets an orphaned UDF worker finish
        localsnow.stop(home)


def _wait_for(path: Path, proc: subprocess.Popen[str], limit_s: float = 180) -> None:
    """Until `path` exists (the UDF started); fails early if the CLI already exited."""
    deadline = time.monotonic() + limit_s
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"deploy exited {proc.returncode} before the UDF started:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"the UDF did not start within {limit_s} s")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"deploy still waiting {BOUND_S} s after the server died:\n{err[-3000:]}")
    return proc.returncode, out, err, time.monotonic() - t0


@pytest.mark.slow
def test_embedded_server_killed_mid_statement(tmp_path: Path, gated_server: tuple[Path, Path]) -> None:
    home, gate = gated_server
    proc = _deploy(
        _cli_env(tmp_path, home), tmp_path, "--connection", "local", "sql", f"SELECT FAULTS.PUBLIC.GATE('{gate}')"
    )
    try:
        _wait_for(gate / "started", proc)
        os.kill(int(localsnow.status(home)["pid"]), signal.SIGKILL)
        rc, _out, err, seconds = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    flat = _flat(err)
    assert rc == 1, err
    assert "connection was lost" in flat
    assert "deploy local status" in flat and Layout(home).log_file.name in flat
    assert "It changes nothing if run again" in flat  # a SELECT
    assert "Traceback" not in err
    print(f"embedded server killed mid-statement: exit {rc} after {seconds:.1f} s")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _real_style(tmp_path: Path, port: int) -> None:
    (tmp_path / "snowflake-home").mkdir(exist_ok=True)
    path = tmp_path / "snowflake-home" / "connections.toml"
    path.write_text(
        f'[remote]\naccount = "acct"\nuser = "U"\nhost = "127.0.0.1"\nport = {port}\nprotocol = "http"\n'
        'password = "not-used-here"\n'
    )
    path.chmod(0o600)


def test_closed_port_at_login(tmp_path: Path) -> None:
    _real_style(tmp_path, _closed_port())
    proc = _deploy(_cli_env(tmp_path, tmp_path / "home"), tmp_path, "--connection", "remote", "sql", "SELECT 1")
    rc, _, err, seconds = _finish(proc)
    flat = _flat(err)
    assert rc == 1, err
    assert "cannot connect with connection 'remote'" in flat
    assert "check the network" in flat and "account identifier" in flat
    assert seconds < 60
    print(f"closed port at login: exit {rc} after {seconds:.1f} s")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_black_hole_at_login(tmp_path: Path, black_hole: int) -> None:
    _real_style(tmp_path, black_hole)
    # Short socket timeout to keep the suite quick; the defaults' bound is checked below.
    env = _cli_env(tmp_path, tmp_path / "home", T5_DEPLOY_SOCKET_TIMEOUT="3", T5_DEPLOY_LOGIN_TIMEOUT="2")
    rc, _, err, seconds = _finish(_deploy(env, tmp_path, "--connection", "remote", "sql", "SELECT 1"))
    assert rc == 1, err
    assert "check the network" in _flat(err)
    print(f"black hole at login (socket 3 s, login 2 s): exit {rc} after {seconds:.1f} s")


def test_default_waits_end_within_a_minute() -> None:
    # A login is not retried past login_timeout, but an attempt in flight runs to its socket timeout
    # (connector connection.py docstring): the longest black-holed login is about one socket timeout.
    assert max(DEFAULT_SOCKET_TIMEOUT, DEFAULT_LOGIN_TIMEOUT) < 60
    # A statement: the server is asked every PROBE_EVERY_S and given up after DEFAULT_UNREACHABLE_AFTER.
    assert DEFAULT_UNREACHABLE_AFTER + 2 * PROBE_EVERY_S < 60
    assert UNREACHABLE_ENV.startswith("T5_DEPLOY_")


@pytest.mark.parametrize(
    ("sql", "safe"),
    [
        ("SHOW STAGES IN SCHEMA D.S", True),
        ("DESCRIBE FUNCTION D.S.F(VARCHAR)", True),
        ("LIST @D.S.ST", True),
        ("SELECT 1", True),
        ("CREATE OR REPLACE FUNCTION D.S.F() RETURNS INT AS '1'", True),
        ("CREATE STAGE IF NOT EXISTS D.S.ST", True),
        ("CREATE SCHEMA IF NOT EXISTS D.S", True),
        ("DROP TABLE IF EXISTS D.S.T", True),
        ("PUT 'file:///a/b' @D.S.ST/v1 AUTO_COMPRESS=FALSE OVERWRITE=TRUE", True),
        ("PUT 'file:///a/b' @D.S.ST/v1 AUTO_COMPRESS=FALSE", False),
        ("CREATE TABLE D.S.LOCK (X INT)", False),  # the apply lock relies on "already exists"
        ("INSERT INTO D.S.T VALUES (1)", False),
        ("REMOVE @D.S.ST/v1/a", False),
        ("ALTER FUNCTION D.S.F() RENAME TO D.S.G", False),
        ("DROP FUNCTION D.S.F()", False),
    ],
)
def test_which_statements_are_retried(sql: str, safe: bool) -> None:
    assert repeatable(sql) is safe


def test_long_statement_on_a_live_server_is_not_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short read timeout and grace, a statement outliving both: polled, probed alive, answered."""
    home, gate = tmp_path / "home", tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "snowflake-home").mkdir()
    monkeypatch.setenv(ANSWER_WITHIN_ENV, "1")  # read by the server it starts
    monkeypatch.setenv("LOCALSNOW_HOME", str(home))
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path / "snowflake-home"))
    monkeypatch.setenv("T5_DEPLOY_SOCKET_TIMEOUT", "3")
    monkeypatch.setenv(UNREACHABLE_ENV, "2")
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
    polls, network_log = PingPongs(), logging.getLogger("snowflake.connector.network")
    level = network_log.level
    result: dict[str, object] = {}
    try:
        session = Session(connect(resolve_connection("local")))
        assert session.watch is not None and session.watch.unreachable_after == 2
        session.query("CREATE DATABASE FAULTS")
        session.query(
            "CREATE FUNCTION FAULTS.PUBLIC.GATE(D VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
            f"RUNTIME_VERSION = '3.11' HANDLER = 'handler' AS $${GATE_BODY}$$"
        )
        network_log.addHandler(polls)
        network_log.setLevel(logging.DEBUG)

        def call() -> None:
            try:
                result["rows"] = session.query(f"SELECT FAULTS.PUBLIC.GATE('{gate}') AS R")
            except Exception as e:
                result["error"] = e

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        # Eight 1 s answers: longer than the read timeout (3 s), the grace (2 s) and two probe periods.
        for _ in range(8):
            assert polls.seen.acquire(timeout=120), "the client never polled"
        assert caller.is_alive(), result
        (gate / "release").touch()
        caller.join(timeout=120)
        assert result.get("rows") == [{"r": "released"}], result
        session.close()
    finally:
        (gate / "release").touch()
        network_log.removeHandler(polls)
        network_log.setLevel(level)
        localsnow.stop(home)


class _FlakyConn:
    """A connection whose statements fail with the given connector errors first, then answer."""

    def __init__(self, failures: list[Exception], block: threading.Event | None = None) -> None:
        self.failures, self.block, self.ran = failures, block, []

    def cursor(self) -> _FlakyConn:
        return self

    def execute(self, sql: str) -> None:
        self.ran.append(sql)
        if self.block is not None:
            self.block.wait()
        if self.failures:
            raise self.failures.pop(0)

    description = (("X",),)

    def fetchall(self) -> list[tuple[int]]:
        return [(1,)]

    def close(self, retry: bool = True) -> None:
        pass


def _no_answer() -> Exception:
    from snowflake.connector.errorcode import ER_FAILED_TO_REQUEST
    from snowflake.connector.errors import OperationalError

    return OperationalError(msg="Failed to execute request: connection reset", errno=ER_FAILED_TO_REQUEST)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    import deploy.session

    monkeypatch.setattr(deploy.session, "RETRY_BACKOFF_S", (0.0, 0.0))
    monkeypatch.setattr(deploy.session, "PROBE_EVERY_S", 0.01)


def test_repeatable_statement_is_retried_after_a_drop(quick: None) -> None:
    conn = _FlakyConn([_no_answer()])
    session = Session(conn, Watch(lambda: True, 30, "HINT"))
    assert session.query("SHOW STAGES IN SCHEMA D.S") == [{"x": 1}]
    assert conn.ran == ["SHOW STAGES IN SCHEMA D.S"] * 2
    assert session.log.count == 1  # one statement, however many attempts


def test_unsafe_statement_is_not_retried(quick: None) -> None:
    conn = _FlakyConn([_no_answer()])
    session = Session(conn, Watch(lambda: True, 30, "HINT"))
    with pytest.raises(ConnectionLost, match="may or may not have run") as lost:
        session.query("REMOVE @D.S.ST/v1/a")
    assert conn.ran == ["REMOVE @D.S.ST/v1/a"]
    assert "HINT" in str(lost.value) and "connection reset" in str(lost.value)


def test_retries_end_with_a_clear_error(quick: None) -> None:
    conn = _FlakyConn([_no_answer(), _no_answer(), _no_answer()])
    session = Session(conn, Watch(lambda: True, 30, "HINT"))
    with pytest.raises(ConnectionLost, match="after 3 attempts"):
        session.query("CREATE OR REPLACE FUNCTION D.S.F() RETURNS INT AS '1'")
    assert len(conn.ran) == 3


def test_a_silent_server_ends_the_statement_and_the_session(quick: None) -> None:
    release = threading.Event()
    conn = _FlakyConn([], block=release)
    session = Session(conn, Watch(lambda: False, 0.05, "check `deploy local status`"))
    try:
        with pytest.raises(ConnectionLost, match="no answer from the server") as lost:
            session.query("SELECT 1")
        assert "deploy local status" in str(lost.value)
        with pytest.raises(ConnectionLost, match="lost before"):
            session.query("SELECT 2")
        assert conn.ran == ["SELECT 1"]  # not resent to a server that is gone
    finally:
        release.set()
    session.close()


def test_a_failed_statement_is_not_retried(quick: None) -> None:
    from snowflake.connector.errors import ProgrammingError

    conn = _FlakyConn([ProgrammingError(msg="Object does not exist", errno=2003)])
    session = Session(conn, Watch(lambda: True, 30, "HINT"))
    with pytest.raises(SnowflakeError, match="Object does not exist"):
        session.query("SHOW STAGES IN SCHEMA D.S")
    assert len(conn.ran) == 1


@pytest.mark.slow
def test_ctrl_c_mid_statement_aborts(tmp_path: Path, gated_server: tuple[Path, Path]) -> None:
    """The statement runs on a worker thread; Ctrl-C still ends the command at once."""
    home, gate = gated_server
    proc = _deploy(
        _cli_env(tmp_path, home), tmp_path, "--connection", "local", "sql", f"SELECT FAULTS.PUBLIC.GATE('{gate}')"
    )
    try:
        _wait_for(gate / "started", proc)
        proc.send_signal(signal.SIGINT)
        rc, _out, err, _seconds = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert rc in (1, 130), err  # 130: Typer's own answer to an interrupt, as a shell's


def test_timeout_settings_precedence(tmp_path: Path) -> None:
    """Defaults < connections.toml < T5_DEPLOY_* (with SNOWFLAKE_*) < SNOWFLAKE_CONNECTIONS_<NAME>_*."""
    _real_style(tmp_path, 1)
    (tmp_path / "snowflake-home" / "connections.toml").write_text(
        '[remote]\naccount = "acct"\nuser = "U"\nlogin_timeout = 5\nnetwork_timeout = 600\n'
    )
    home = tmp_path / "snowflake-home"
    spec = resolve_connection("remote", environ={"T5_DEPLOY_LOGIN_TIMEOUT": "7"}, home=home)
    assert spec.params["login_timeout"] == 7 and spec.sources["login_timeout"] == "env T5_DEPLOY_LOGIN_TIMEOUT"
    assert spec.params["network_timeout"] == 600  # the file beats the default
    assert spec.params["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT and spec.sources["socket_timeout"] == "default"
    env = {"T5_DEPLOY_LOGIN_TIMEOUT": "7", "SNOWFLAKE_CONNECTIONS_REMOTE_LOGIN_TIMEOUT": "9"}
    assert resolve_connection("remote", environ=env, home=home).params["login_timeout"] == 9
    with pytest.raises(DeployError, match="login_timeout from env T5_DEPLOY_LOGIN_TIMEOUT must be an integer"):
        resolve_connection("remote", environ={"T5_DEPLOY_LOGIN_TIMEOUT": "soon"}, home=home)
