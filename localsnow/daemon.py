"""Start, find, stop and reset the background server of a home directory.

The server writes home/server.json (pid, port) once it listens; clients find it
there and confirm with a health request that names the same home. Starting is
serialized by a file lock, so concurrent callers share one server. A port chosen
with `start --port N` is kept in home/port and reused by every later start, on
demand or not, so clients configured with it keep working across restarts. Only
the standard library is imported here: this runs in every client process.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from localsnow.paths import Layout, remove_tree, resolve_home

USER = "LOCALSNOW"
ACCOUNT = "local"
# The account's one warehouse and the user's role, as a Snowflake user's DEFAULT_WAREHOUSE and
# DEFAULT_ROLE would give them (snowflake-cli's `snow connection test` wants a warehouse set).
WAREHOUSE = "LOCALSNOW_WH"
ROLE = "ACCOUNTADMIN"
HOST = "127.0.0.1"
# A UDF call may load a model before answering; the connector must wait, not retry.
STATEMENT_TIMEOUT_S = 900
SOCKET_TIMEOUT_S = 60  # the connector's own default read timeout
LOGIN_TIMEOUT_S = 60
START_TIMEOUT_S = 90.0
# Connector 4.x probes cloud metadata endpoints (169.254.169.254, metadata.google.internal)
# at every login to report the platform; for a server on 127.0.0.1 that is pure leakage.
# A 0 s timeout makes the connector skip every network probe (the environment-only checks
# remain). Only local connections get it: real accounts keep the connector's default.
PLATFORM_DETECTION_OFF = 0.0
# The connector's own switch, for the server and its UDF workers: any connector login
# made there (a handler using it) skips the probes too. Set in their environment only.
DISABLE_PLATFORM_DETECTION_ENV = "SNOWFLAKE_DISABLE_PLATFORM_DETECTION"
STOP_TIMEOUT_S = 20.0
ANY_PORT = 0
HEALTH_PATH = "/localsnow/health"
STATUS_PATH = "/localsnow/status"


class StartError(RuntimeError):
    """The server cannot be started as asked; the message says why and what to do."""


def connect_kwargs(port: int, password: str) -> dict[str, Any]:
    """Keyword arguments for snowflake.connector.connect() (and Snowpark's Session.builder.configs)."""
    return {
        "host": HOST,
        "port": port,
        "protocol": "http",
        "account": ACCOUNT,
        "user": USER,
        "password": password,
        "warehouse": WAREHOUSE,
        "role": ROLE,
        "network_timeout": STATEMENT_TIMEOUT_S,
        # One HTTP request's wait: a statement running longer is answered "in progress" and polled
        # (localsnow.async_queries), so this bounds only how long a dead server keeps a client waiting.
        "socket_timeout": SOCKET_TIMEOUT_S,
        "login_timeout": LOGIN_TIMEOUT_S,
        # Loopback only: no cloud-metadata probes at login (http: no OCSP/CRL either).
        "platform_detection_timeout_seconds": PLATFORM_DETECTION_OFF,
    }


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.home.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_password(layout: Layout) -> str:
    """The home's random password, created on first use (mode 0600)."""
    try:
        fd = os.open(layout.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return layout.password_file.read_text("utf-8").strip()
    with os.fdopen(fd, "w") as handle:
        password = secrets.token_urlsafe(24)
        handle.write(password)
    return password


def _server_file(layout: Layout) -> dict[str, Any] | None:
    try:
        return json.loads(layout.server_file.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not: nobody may be reaping orphans here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, now reaped
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


# Straight to 127.0.0.1, whatever HTTP(S)_PROXY says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(port: int, path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def _running_server(layout: Layout) -> dict[str, Any] | None:
    info = _server_file(layout)
    if not info or not _alive(int(info["pid"])):
        return None
    health = _get_json(int(info["port"]), HEALTH_PATH)
    if not health or health.get("home") != str(layout.home) or health.get("pid") != info["pid"]:
        return None
    return info


def _spawn(layout: Layout, port: int) -> int:
    """Start `python -m localsnow serve` detached (reparented, own session, logs to a file); its pid."""
    env = dict(os.environ, LOCALSNOW_LOG=str(layout.log_file))
    env[DISABLE_PLATFORM_DETECTION_ENV] = "true"
    source = Path(__file__).resolve().parent.parent
    if source.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "localsnow", "serve", "--home", str(layout.home), "--port", str(port), "--daemon"]
    # The shell backgrounds the server and exits, so it is not left as our child; it prints the pid.
    started = subprocess.run(
        ["/bin/sh", "-c", '"$@" </dev/null >>"$LOCALSNOW_LOG" 2>&1 & echo $!', "sh", *command],
        env=env,
        cwd=layout.home,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(started.stdout.split()[-1])


def kept_port(layout: Layout) -> int | None:
    """The port chosen with `start --port N` (None: any free port)."""
    try:
        port = int(layout.port_file.read_text("utf-8").strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def _keep_port(layout: Layout, port: int) -> None:
    if port == ANY_PORT:
        layout.port_file.unlink(missing_ok=True)
    else:
        layout.port_file.write_text(f"{port}\n", "utf-8")


def _check_port_free(port: int) -> None:
    """Fail now, naming the port and the fix, rather than after the start timeout."""
    if port == ANY_PORT:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
    try:
        probe.bind((HOST, port))
    except OSError as err:
        why = "is in use by another program" if err.errno == errno.EADDRINUSE else f"cannot be bound ({err.strerror})"
        raise StartError(
            f"port {port} on {HOST} {why}; free it, or start on another port with `deploy local start --port N` "
            "(`--port 0`: any free port, chosen anew at each start)"
        ) from None
    finally:
        probe.close()


def _log_tail(layout: Layout, lines: int = 20) -> str:
    try:
        return "\n".join(layout.log_file.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_running(home: Path | str | None = None, port: int | None = None) -> dict[str, Any]:
    """Start the home's server unless it runs; return snowflake.connector.connect() kwargs.

    `port` None starts on the kept port (`start --port N` before), else on any free one.
    A port given is kept for later starts (0 forgets it); asking for a port other than the
    one a running server listens on is an error: the server's clients would lose it.
    """
    layout = Layout(resolve_home(home))
    with _locked(layout):
        password = read_password(layout)
        info = _running_server(layout)
        if info is not None and port not in (None, ANY_PORT) and int(info["port"]) != port:
            raise StartError(
                f"the local Snowflake of {layout.home} already runs on port {info['port']}; to move it to "
                f"port {port}, stop it first (`deploy local stop`), then `deploy local start --port {port}`"
            )
        if info is None:
            wanted = kept_port(layout) if port is None else port
            _check_port_free(wanted or ANY_PORT)
            layout.server_file.unlink(missing_ok=True)
            info = _wait_started(layout, _spawn(layout, wanted or ANY_PORT))
        if port is not None:
            _keep_port(layout, port)
    return connect_kwargs(int(info["port"]), password)


def _wait_started(layout: Layout, pid: int) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while (info := _running_server(layout)) is None:
        if not _alive(pid):
            raise StartError(f"the local Snowflake exited while starting; log {layout.log_file}:\n{_log_tail(layout)}")
        if time.monotonic() > deadline:
            raise StartError(
                f"local Snowflake did not start within {START_TIMEOUT_S:g} s; "
                f"log {layout.log_file}:\n{_log_tail(layout)}"
            )
        time.sleep(0.1)
    return info


def _is_our_server(pid: int, layout: Layout) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file, checked alive above
    return b"localsnow" in cmdline and str(layout.home).encode() in cmdline


def stop(home: Path | str | None = None) -> bool:
    """Stop the home's server; True if one was running."""
    layout = Layout(resolve_home(home))
    if not layout.server_file.exists():
        return False
    with _locked(layout):
        info = _server_file(layout)
        if not info:
            return False
        pid = int(info["pid"])
        running = _alive(pid) and _is_our_server(pid, layout)
        if running:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        layout.server_file.unlink(missing_ok=True)
        return running


def _offline_counts(layout: Layout) -> dict[str, int]:
    functions = 0
    with suppress(OSError, ValueError, KeyError):
        functions = len(json.loads(layout.functions_file.read_text("utf-8"))["functions"])
    stages = 0
    if layout.global_db.exists():
        import duckdb

        with suppress(duckdb.Error), duckdb.connect(str(layout.global_db), read_only=True) as db:
            stages = db.execute("SELECT count(*) FROM _fs_information_schema._fs_stages").fetchone()[0]  # type: ignore[index]
    return {"stages": stages, "functions": functions}


def status(home: Path | str | None = None) -> dict[str, Any]:
    """running, pid, port, kept_port, home, and how many stages and functions the account holds."""
    layout = Layout(resolve_home(home))
    info = _running_server(layout) if layout.home.exists() else None
    counts = _get_json(int(info["port"]), STATUS_PATH) if info else None
    if counts is None:
        counts = _offline_counts(layout)
    return {
        "running": info is not None,
        "pid": info["pid"] if info else None,
        "port": info["port"] if info else None,
        # What a start (on demand or not) will listen on; None: any free port.
        "kept_port": kept_port(layout),
        "home": str(layout.home),
        "stages": counts.get("stages", 0),
        "functions": counts.get("functions", 0),
    }


def running_connection(home: Path | str | None = None) -> dict[str, Any] | None:
    """connect() kwargs of the home's running server, password included; None when it is not running."""
    layout = Layout(resolve_home(home))
    info = _running_server(layout) if layout.server_file.exists() else None
    if info is None:
        return None
    return connect_kwargs(int(info["port"]), layout.password_file.read_text("utf-8").strip())


def reset(home: Path | str | None = None) -> None:
    """Stop the server and delete all of the home's state: objects, stage files, functions, logs.

    The password and the kept port stay: they are how clients reach the account, and a
    client configured from `deploy local status` keeps working after a reset.
    """
    layout = Layout(resolve_home(home))
    stop(layout.home)
    if layout.home.exists():
        with _locked(layout):
            for child in layout.home.iterdir():
                if child in (layout.lock_file, layout.password_file, layout.port_file):
                    continue
                if child.is_dir() and not child.is_symlink():
                    remove_tree(child)
                else:
                    child.unlink(missing_ok=True)
