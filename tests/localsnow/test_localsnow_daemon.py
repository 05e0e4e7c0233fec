"""The daemon: one server per home, shared by client processes, state kept across restarts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import snowflake.connector

import localsnow

ROOT = Path(__file__).resolve().parents[2]

WRITE = """
    import json, os, sys
    import snowflake.connector, localsnow
    home, data = sys.argv[1], sys.argv[2]
    conn = snowflake.connector.connect(**localsnow.ensure_running(home))
    cur = conn.cursor()
    for sql in [
        'CREATE DATABASE IF NOT EXISTS "T5_DEMO"',
        'CREATE SCHEMA IF NOT EXISTS "T5_DEMO"."PUBLIC"',
        'CREATE STAGE IF NOT EXISTS "T5_DEMO"."PUBLIC"."LLM" ENCRYPTION = (TYPE = \\'SNOWFLAKE_SSE\\') '
        'COMMENT = \\'code\\'',
        f"PUT 'file://{data}' '@\\"T5_DEMO\\".\\"PUBLIC\\".\\"LLM\\"/v1/' AUTO_COMPRESS=FALSE",
        'CREATE TABLE "T5_DEMO"."PUBLIC".NEWS (ID NUMBER, ARTICLE VARCHAR)',
        "INSERT INTO \\"T5_DEMO\\".\\"PUBLIC\\".NEWS VALUES (1, 'a'), (2, 'b')",
        "CREATE FUNCTION \\"T5_DEMO\\".\\"PUBLIC\\".SHOUT(t VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        "RUNTIME_VERSION = '3.11' IMPORTS = ('@\\"T5_DEMO\\".\\"PUBLIC\\".\\"LLM\\"/v1/shout.py') "
        "HANDLER = 'shout.shout'",
        'CREATE STAGE "T5_DEMO"."PUBLIC"."FULL"',
        f"PUT 'file://{data}' '@\\"T5_DEMO\\".\\"PUBLIC\\".\\"FULL\\"/v1/' AUTO_COMPRESS=FALSE",
    ]:
        cur.execute(sql)
    shouted = 'SELECT "T5_DEMO"."PUBLIC".SHOUT(ARTICLE) FROM "T5_DEMO"."PUBLIC".NEWS ORDER BY ID'
    full = cur.execute('LIST @"T5_DEMO"."PUBLIC"."FULL"').fetchall()
    print(json.dumps({"shouted": cur.execute(shouted).fetchall(), "full": [r[:3] for r in full]}))
"""

READ = """
    import json, sys
    import snowflake.connector, localsnow
    conn = snowflake.connector.connect(**localsnow.ensure_running(sys.argv[1]), database="T5_DEMO", schema="PUBLIC")
    cur = conn.cursor()
    print(json.dumps({
        "list": [r[:3] for r in cur.execute("LIST @LLM").fetchall()],
        "full": [r[:3] for r in cur.execute('LIST @"FULL"').fetchall()],
        "rows": cur.execute("SELECT ID, SHOUT(ARTICLE) FROM NEWS ORDER BY ID").fetchall(),
        "stages": sorted((r[1], r[8], r[10]) for r in cur.execute("SHOW STAGES").fetchall()),
        "functions": [r[8] for r in cur.execute("SHOW USER FUNCTIONS").fetchall()],
    }))
"""


def run_client(script: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("localsnow-daemon")
    yield path
    localsnow.stop(path)


def test_concurrent_starts_share_one_server(home: Path) -> None:
    script = "import json, sys, localsnow; print(json.dumps(localsnow.ensure_running(sys.argv[1])['port']))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    starts = [
        subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    ports = {json.loads(p.communicate(timeout=120)[0]) for p in starts}
    assert len(ports) == 1
    kwargs = localsnow.ensure_running(home)
    assert kwargs["port"] in ports
    assert {k: kwargs[k] for k in ("host", "protocol", "account")} == {
        "host": "127.0.0.1", "protocol": "http", "account": "local",
    }  # fmt: skip
    assert kwargs["network_timeout"] >= 600 and kwargs["login_timeout"]
    state = localsnow.status(home)
    assert state["running"] and state["port"] == kwargs["port"] and state["home"] == str(home)
    assert "serving" in (home / "server.log").read_text()  # the server logs to its home


def test_wrong_password_is_refused(home: Path) -> None:
    kwargs = {**localsnow.ensure_running(home), "password": "not-the-password", "login_timeout": 5}
    with pytest.raises(snowflake.connector.DatabaseError, match="Incorrect username or password"):
        snowflake.connector.connect(**kwargs)


def test_state_survives_stop_and_start(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "shout.py"
    data.write_text("def shout(text):\n    return text.upper()\n")
    written = json.loads(run_client(WRITE, str(home), str(data)))
    assert written["shouted"] == [["A"], ["B"]]

    assert localsnow.stop(home) is True
    assert localsnow.stop(home) is False
    offline = localsnow.status(home)
    assert (offline["running"], offline["stages"], offline["functions"]) == (False, 2, 1)

    seen = json.loads(run_client(READ, str(home)))  # starts the server again
    assert seen == {
        # an SNOWFLAKE_SSE stage lists the plaintext size and md5, and stays SSE across a restart
        "list": [["llm/v1/shout.py", data.stat().st_size, hashlib.md5(data.read_bytes()).hexdigest()]],
        "full": written["full"],  # a SNOWFLAKE_FULL stage's ciphertext md5 is that of the stored upload
        "rows": [[1, "A"], [2, "B"]],
        "stages": [["FULL", "", "INTERNAL"], ["LLM", "code", "INTERNAL NO CSE"]],
        "functions": ["SHOUT(VARCHAR) RETURN VARCHAR"],
    }
    assert localsnow.status(home)["running"]


def test_reset_wipes_everything_but_the_credentials(home: Path) -> None:
    password = localsnow.ensure_running(home)["password"]
    localsnow.reset(home)
    assert localsnow.status(home) == {
        "running": False, "pid": None, "port": None, "kept_port": None, "home": str(home), "stages": 0,
        "functions": 0,
    }  # fmt: skip
    kwargs = localsnow.ensure_running(home)
    # A client configured from `deploy local status` keeps working after a reset.
    assert kwargs["password"] == password
    conn = snowflake.connector.connect(**kwargs)
    assert "T5_DEMO" not in [r[1] for r in conn.cursor().execute("SHOW DATABASES").fetchall()]
    conn.close()
