"""Connecting to the embedded Snowflake: one account per project, a stable port, a connection any client takes.

`deploy local status --format json` gives kwargs that the connector and Snowpark take as-is;
`--format toml` a connections.toml section (connector `connection_name`, snowflake-cli);
`deploy local start --port N` keeps N; every folder of a project reaches the same account;
the `local` connection's default database and schema are the manifests'.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import snowflake.connector
from cli_project import HANDLER_FILE, ROOT, deploy, shout_manifest, small_project

import localsnow
from deploy.local_account import connections_toml, manifest_location

DATABASE, SCHEMA = "T5_CONN", "APP"
MANIFEST = shout_manifest(
    f"${{T5_CONN_DB:-{DATABASE}}}", SCHEMA, stages={"CODE": {"comment": "handler", "from": HANDLER_FILE}}
)
ROWS = 3
CONNECTION_KEYS = ["host", "port", "protocol", "account", "user", "password", "database", "schema", "warehouse", "role"]


def _environ(project: Path, snowflake_home: Path) -> dict[str, str]:
    """A client process's environment: no LOCALSNOW_HOME (the project root decides), no user config."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOCALSNOW_HOME", "T5_CONN_DB")}
    env.update(SNOWFLAKE_HOME=str(snowflake_home), T5_DEPLOY_CACHE=str(project / ".cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["SNOWFLAKE_DISABLE_PLATFORM_DETECTION"] = "true"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project after `deploy apply` and `deploy sample-data`, its account in the default home (.localsnow)."""
    root = small_project(tmp_path_factory.mktemp("conn"), MANIFEST)
    snowflake_home = tmp_path_factory.mktemp("sfhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for key, value in _environ(root, snowflake_home).items():
            mp.setenv(key, value)
        mp.delenv("LOCALSNOW_HOME", raising=False)
        mp.delenv("T5_CONN_DB", raising=False)
        from deploy.cli import main

        try:
            assert main(["--connection", "local", "apply", "--yes"]) == 0
            assert main(["--connection", "local", "sample-data", "--limit", str(ROWS)]) == 0
            yield root
        finally:
            localsnow.stop(root / ".localsnow")


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    monkeypatch.delenv("LOCALSNOW_HOME", raising=False)
    monkeypatch.delenv("T5_CONN_DB", raising=False)
    monkeypatch.setenv("SNOWFLAKE_HOME", str(project / "no-user-config"))
    monkeypatch.setenv("T5_DEPLOY_CACHE", str(project / ".cache"))
    return project


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    rc, out, err = deploy(capsys, "local", "status", "--format", "json", *args)
    assert rc == 0, err
    return json.loads(out)


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_status_json_connection_is_taken_as_is_by_the_connector(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facts = _status(capsys)
    assert (facts["running"], facts["home"], facts["stages"], facts["functions"]) == (
        True,
        str(in_project / ".localsnow"),
        1,
        1,
    )
    connection = facts["connection"]
    assert list(connection)[: len(CONNECTION_KEYS)] == CONNECTION_KEYS
    assert connection["port"] == facts["port"]
    assert (connection["database"], connection["schema"]) == (DATABASE, SCHEMA)
    assert (connection["warehouse"], connection["role"]) == ("LOCALSNOW_WH", "ACCOUNTADMIN")
    conn = snowflake.connector.connect(**connection)
    try:
        cur = conn.cursor()
        assert cur.execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()").fetchall() == [(DATABASE, SCHEMA)]
        # The README's unqualified SQL: the manifests' database and schema are the session's.
        rows = cur.execute("SELECT ID, SHOUT(TITLE) FROM NEWS ORDER BY ID").fetchall()
        assert [r[0] for r in rows] == list(range(1, ROWS + 1)) and all(r[1] == r[1].upper() for r in rows)
    finally:
        conn.close()


def test_the_connection_sets_warehouse_and_role(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = snowflake.connector.connect(**_status(capsys)["connection"])
    try:
        row = conn.cursor().execute("SELECT CURRENT_WAREHOUSE(), CURRENT_ROLE()").fetchone()
        assert row == ("LOCALSNOW_WH", "ACCOUNTADMIN")
        assert (conn.warehouse, conn.role) == ("LOCALSNOW_WH", "ACCOUNTADMIN")  # from the login's sessionInfo
    finally:
        conn.close()


def test_status_json_connection_is_taken_as_is_by_snowpark(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from snowflake.snowpark import Session
    from snowflake.snowpark.functions import call_udf, col

    with Session.builder.configs(_status(capsys)["connection"]).create() as session:
        assert (session.get_current_database(), session.get_current_schema()) == (f'"{DATABASE}"', f'"{SCHEMA}"')
        assert session.get_current_warehouse() == '"LOCALSNOW_WH"'
        shouted = session.table("NEWS").select(col("ID"), call_udf("SHOUT", col("TITLE")).alias("T")).collect()
        assert len(shouted) == ROWS


def test_status_toml_is_a_connections_toml_section(
    in_project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    connection = _status(capsys)["connection"]
    rc, out, err = deploy(capsys, "local", "status", "--format", "toml")
    assert rc == 0, err
    assert out.startswith("[local]\n")
    assert tomllib.loads(out) == {"local": connection}
    # The connector's own connections.toml, by name (its config is read at import: a new process).
    (tmp_path / "connections.toml").write_text(out)
    (tmp_path / "connections.toml").chmod(0o600)
    script = (
        "import snowflake.connector\n"
        "conn = snowflake.connector.connect(connection_name='local')\n"
        "print(conn.cursor().execute('SELECT CURRENT_DATABASE(), COUNT(*) FROM NEWS').fetchall())\n"
    )
    env = _environ(in_project, tmp_path)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([(DATABASE, ROWS)])


def test_a_pasted_local_section_still_means_the_embedded_snowflake(
    in_project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy takes port and password from the running server, so the section survives a restart on a new port."""
    section = connections_toml({**_status(capsys)["connection"], "port": 9, "password": "stale"})
    (tmp_path / "connections.toml").write_text(section)
    (tmp_path / "connections.toml").chmod(0o600)
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path))
    rc, out, err = deploy(capsys, "sql", "SELECT COUNT(*) AS N FROM NEWS", "--format", "json")
    assert rc == 0, err
    assert json.loads(out) == [{"N": ROWS}]


def test_text_outputs_never_show_the_password(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    password = _status(capsys)["connection"]["password"]
    for args in (("local", "status"), ("local", "start")):
        rc, out, err = deploy(capsys, *args)
        assert rc == 0, err
        assert password not in out + err
    assert "port:" in deploy(capsys, "local", "status")[1]
    started = subprocess.run(
        [sys.executable, "-m", "localsnow", "start"],
        capture_output=True, text=True, env=_environ(in_project, in_project / "none"), cwd=in_project, timeout=120,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert password not in started.stdout + started.stderr
    assert password not in (in_project / ".localsnow" / "server.log").read_text()


def test_every_folder_of_the_project_reaches_the_same_account(
    in_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(in_project / ".localsnow")
    monkeypatch.chdir(in_project / "udf")
    rc, out, err = deploy(capsys, "sql", "SELECT ID FROM NEWS ORDER BY ID", "--format", "json")
    assert rc == 0, err
    assert json.loads(out) == [{"ID": i} for i in range(1, ROWS + 1)]
    facts = _status(capsys)
    assert (facts["home"], facts["stages"], facts["functions"]) == (home, 1, 1)
    assert not (in_project / "udf" / ".localsnow").exists()
    # `python -m localsnow` finds the same home: it shares the project-root rule with deploy.
    done = subprocess.run(
        [sys.executable, "-m", "localsnow", "status"],
        capture_output=True, text=True, env=_environ(in_project, in_project / "none"), cwd=in_project / "udf",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["home"] == home


def test_a_kept_port_survives_stop_and_start(
    in_project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "ported"
    port = _free_port()
    try:
        rc, _, err = deploy(capsys, "local", "start", "--home", str(home), "--port", str(port))
        assert rc == 0, err
        assert (_status(capsys, "--home", str(home))["port"], localsnow.status(home)["kept_port"]) == (port, port)
        # Another port while it runs: refused, naming both ports and the fix.
        rc, _, err = deploy(capsys, "local", "start", "--home", str(home), "--port", str(port + 1))
        assert rc == 1 and f"runs on port {port}" in err and "deploy local stop" in err
        for restart in (["local", "start", "--home", str(home)], None):
            assert deploy(capsys, "local", "stop", "--home", str(home))[0] == 0
            if restart:
                assert deploy(capsys, *restart)[0] == 0
            else:  # an on-demand start, by any client of the home
                localsnow.ensure_running(home)
            assert _status(capsys, "--home", str(home))["connection"]["port"] == port
    finally:
        localsnow.stop(home)


def test_a_busy_kept_port_is_a_clear_error(
    in_project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "busy"
    port = _free_port()
    try:
        assert deploy(capsys, "local", "start", "--home", str(home), "--port", str(port))[0] == 0
        localsnow.stop(home)
        with closing(socket.socket()) as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            rc, _, err = deploy(capsys, "local", "start", "--home", str(home))
            assert rc == 1
            assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err
        # --port 0 forgets the kept port: any free one from now on.
        assert deploy(capsys, "local", "start", "--home", str(home), "--port", "0")[0] == 0
        assert localsnow.status(home)["kept_port"] is None
    finally:
        localsnow.stop(home)


def test_home_option_and_a_database_not_created_yet(
    in_project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--home picks another account; logging in to the manifests' database before it exists neither fails nor
    creates it (Snowflake ignores a missing database at login: snowflake-connector-python#26)."""
    home = tmp_path / "elsewhere"
    monkeypatch.setenv("LOCALSNOW_HOME", str(home))  # what `--home` gives deploy's other commands
    try:
        rc, out, err = deploy(capsys, "sql", "SHOW DATABASES", "--format", "json")
        assert rc == 0, err
        assert DATABASE not in [row["name"] for row in json.loads(out)]
        rc, out, err = deploy(capsys, "plan")
        assert rc == 2 and f"+ database {DATABASE}\n" in out, out + err
        monkeypatch.delenv("LOCALSNOW_HOME")
        facts = _status(capsys, "--home", str(home))
        assert (facts["home"], facts["running"], facts["stages"]) == (str(home), True, 0)
        assert deploy(capsys, "local", "stop", "--home", str(home))[1] == "Stopped.\n"
        assert _status(capsys, "--home", str(home))["connection"] is None
        rc, _, err = deploy(capsys, "local", "status", "--home", str(home), "--format", "toml")
        assert rc == 1 and "deploy local start --format toml" in err
    finally:
        localsnow.stop(home)


def test_manifest_location(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    one = small_project(tmp_path / "one", MANIFEST)
    assert manifest_location(one / "manifests", environ={}) == (DATABASE, SCHEMA)
    assert manifest_location(one / "manifests", environ={"T5_CONN_DB": "other"}) == ("OTHER", SCHEMA)
    (one / "manifests" / "second.yaml").write_text("apiVersion: 1\ndatabase: T5_CONN\nschema: ELSEWHERE\n")
    assert manifest_location(one / "manifests", environ={}) is None  # two schemas: no default
    assert manifest_location(tmp_path / "missing", environ={}) is None
