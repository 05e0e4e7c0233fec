"""scripts/demo.sh's deploy commands, each a real subprocess, on a fresh embedded Snowflake: loopback only.

The other end-to-end tests run the CLI in-process; here every command is its own
interpreter, as in the demo, so the guard's subprocess side (tests/netguard) covers
the CLI, the localsnow server it starts and the server's UDF workers. None of them
may try an address beyond loopback (the connector's cloud-metadata probes included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import netguard
import pytest
from cli_project import copy_project, project_environment

import localsnow
from localsnow.daemon import DISABLE_PLATFORM_DETECTION_ENV
from training.corpus import load_split

pytestmark = pytest.mark.slow

ROWS = 3


def _deploy(*args: str, expect: int = 0) -> str:
    """`python -m deploy ARGS` in a subprocess; its stdout."""
    run = subprocess.run(
        [sys.executable, "-m", "deploy", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == expect, f"deploy {' '.join(args)[:200]} exited {run.returncode}:\n{run.stderr[-3000:]}"
    return run.stdout


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return found


def test_demo_commands_stay_on_loopback(
    bootstrapped_artifacts: Path, tmp_path: Path, netguard_log: netguard.Log
) -> None:
    project = copy_project(tmp_path / "project", bootstrapped_artifacts)
    home = tmp_path / "localsnow"
    start = os.path.getsize(netguard_log.path)
    local = ("--connection", "local")
    with project_environment(project, home, tmp_path / "snowflake-home"):
        _deploy("validate")
        _deploy(*local, "plan", expect=2)
        _deploy(*local, "apply", "--yes")
        assert _deploy(*local, "call", load_split("validation")[0]["article"]).strip()
        _deploy(*local, "plan", expect=0)
        _deploy(*local, "drift", expect=0)
        _deploy(*local, "sample-data", "--table", "NEWS", "--split", "validation", "--limit", str(ROWS), "--replace")
        scores = json.loads(_deploy(*local, "eval", "--table", "NEWS", "--limit", "0", "--format", "json"))
        assert scores["rows"] == ROWS and set(scores["rouge"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}

        # The server and its UDF workers (still up after eval) carry the guard and the connector's switch.
        server = localsnow.status(home)["pid"]
        workers = [pid for pid in _children(server) if b"udf_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert workers, "no UDF worker is running"
        for pid in [server, *workers]:
            environ = _environ(pid)
            assert environ[DISABLE_PLATFORM_DETECTION_ENV] == "true"
            assert environ[netguard.LOG_ENV] == netguard_log.path
            assert netguard.SITE_DIR in environ["PYTHONPATH"].split(os.pathsep)

    records, _ = netguard.read(netguard_log.path, start)
    assert not records, netguard.report(records)
