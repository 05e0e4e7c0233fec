"""Network guard for the test suite: nothing may reach beyond loopback.

Patches the socket module so that connecting to, sending to, or resolving any
address other than loopback (127.0.0.0/8, ::1, "localhost") is blocked *before*
the syscall -- nothing leaves the machine -- and recorded as one JSON line in a
log file. tests/conftest.py installs it in the pytest process and, through
PYTHONPATH, in every Python subprocess the tests start (pythonpath/sitecustomize.py
calls :func:`install_from_env`), then fails the test whose run logged a record.

Standard library only, and importable without side effects: subprocesses of a
second virtual environment (tests/test_transformers4_compat.py) load it too.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import socket
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

# Names the log file; a process without it is not guarded (the guard is inert).
LOG_ENV = "NETGUARD_LOG"
# The directory to put on a subprocess's PYTHONPATH: it holds only sitecustomize.py.
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pythonpath")
LOOPBACK_NAMES = frozenset({"localhost"})
_STDLIB = os.path.dirname(os.__file__)

_lock = threading.Lock()
_originals: dict[str, Any] = {}
_log_path: str | None = None
_acknowledged: set[str] = set()


def is_loopback(host: Any) -> bool:
    """Whether `host` (IP literal or name, str or bytes) stays on this machine's loopback."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%", 1)[0].rstrip(".").lower()  # [::1], fe80::1%eth0, "localhost."
    if host in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost: resolving it may query DNS
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _is_ip_literal(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0].decode() if isinstance(address[0], bytes) else address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return repr(address)


def _package(filename: str) -> str:
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep, _STDLIB + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1].split(os.sep, 1)[0]
    return filename


def _where() -> str:
    """Who tried: the entry frame of each package on the stack, innermost first.

    Consecutive frames of one package (urllib3, http, snowflake...) show as its outermost
    one, so the caller that started a request stays visible through the HTTP layers.
    """
    runs: list[traceback.FrameSummary] = []
    last = None
    for frame in reversed([f for f in traceback.extract_stack() if f.filename != __file__]):
        package = _package(frame.filename)
        if package == last:
            runs[-1] = frame
        else:
            runs.append(frame)
        last = package
    return " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in runs[:12])


def _record(kind: str, target: str) -> str:
    entry = {
        "id": uuid.uuid4().hex,
        "kind": kind,
        "target": target,
        "pid": os.getpid(),
        "process": " ".join([os.path.basename(sys.executable), *sys.argv])[:200],
        "where": _where(),
    }
    line = json.dumps(entry) + "\n"
    if _log_path:
        # One short O_APPEND write per record: lines from concurrent processes do not interleave.
        with _lock, contextlib.suppress(OSError), open(_log_path, "a", encoding="utf-8") as handle:
            handle.write(line)
    return f"netguard: {kind} {target} blocked (only loopback is allowed here)"


def _blocked_connect(kind: str, sock: socket.socket, address: Any) -> str | None:
    """The refusal message if `address` leaves loopback on an internet socket, else None."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None  # AF_UNIX, socketpair, netlink: local by construction
    host = address[0] if isinstance(address, tuple) and address else address
    return None if is_loopback(host) else _record(kind, _describe(address))


def _connect(self: socket.socket, address: Any) -> None:
    if message := _blocked_connect("connect", self, address):
        raise OSError(errno.ENETUNREACH, message)
    return _originals["connect"](self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if _blocked_connect("connect", self, address):
        return errno.ENETUNREACH
    return _originals["connect_ex"](self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    # sendto(data, address) or sendto(data, flags, address)
    if args and (message := _blocked_connect("sendto", self, args[-1])):
        raise OSError(errno.ENETUNREACH, message)
    return _originals["sendto"](self, data, *args)


def _sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
    # sendmsg(buffers[, ancdata[, flags[, address]]])
    if len(args) >= 3 and args[2] is not None and (message := _blocked_connect("sendto", self, args[2])):
        raise OSError(errno.ENETUNREACH, message)
    return _originals["sendmsg"](self, buffers, *args)


def _check_name(kind: str, host: Any, port: Any = None) -> None:
    # None/"" is the wildcard of a bind; an IP literal resolves without a query.
    if host is None or host in ("", b"") or is_loopback(host) or _is_ip_literal(host):
        return
    target = str(host.decode() if isinstance(host, bytes) else host) + (f":{port}" if port is not None else "")
    raise socket.gaierror(socket.EAI_NONAME, _record(kind, target))


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    _check_name("resolve", host, port)
    return _originals["getaddrinfo"](host, port, *args, **kwargs)


def _gethostbyname(host: str) -> str:
    _check_name("resolve", host)
    return _originals["gethostbyname"](host)


def _gethostbyname_ex(host: str) -> Any:
    _check_name("resolve", host)
    return _originals["gethostbyname_ex"](host)


def _gethostbyaddr(host: str) -> Any:
    if not is_loopback(host):  # a reverse lookup queries DNS even for an IP literal
        raise socket.herror(1, _record("reverse-resolve", str(host)))
    return _originals["gethostbyaddr"](host)


def _getnameinfo(address: Any, flags: int) -> Any:
    host = address[0] if isinstance(address, tuple) and address else address
    if not flags & socket.NI_NUMERICHOST and not is_loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, _record("reverse-resolve", _describe(address)))
    return _originals["getnameinfo"](address, flags)


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    # Checked here too so the refusal names the host as the caller gave it.
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        raise OSError(errno.ENETUNREACH, _record("connect", _describe(address)))
    return _originals["create_connection"](address, *args, **kwargs)


_SOCKET_METHODS = {"connect": _connect, "connect_ex": _connect_ex, "sendto": _sendto, "sendmsg": _sendmsg}
_MODULE_FUNCTIONS = {
    "getaddrinfo": _getaddrinfo,
    "gethostbyname": _gethostbyname,
    "gethostbyname_ex": _gethostbyname_ex,
    "gethostbyaddr": _gethostbyaddr,
    "getnameinfo": _getnameinfo,
    "create_connection": _create_connection,
}


def install(log_path: str | os.PathLike[str] | None) -> None:
    """Guard this process; records go to `log_path` (None: blocked but not logged). Idempotent."""
    global _log_path
    _log_path = os.fspath(log_path) if log_path is not None else None
    if _originals:
        return
    for name, guarded in _SOCKET_METHODS.items():
        if hasattr(socket.socket, name):
            _originals[name] = getattr(socket.socket, name)
            setattr(socket.socket, name, guarded)
    for name, guarded in _MODULE_FUNCTIONS.items():
        _originals[name] = getattr(socket, name)
        setattr(socket, name, guarded)


def uninstall() -> None:
    """Restore the socket module."""
    for name, original in _originals.items():
        setattr(socket.socket if name in _SOCKET_METHODS else socket, name, original)
    _originals.clear()


def install_from_env() -> None:
    """What sitecustomize.py runs in each subprocess: guard it if $NETGUARD_LOG names a log."""
    if path := os.environ.get(LOG_ENV):
        install(path)


def guarded_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a subprocess, with the guard on its PYTHONPATH when this process is guarded.

    For tests that build a subprocess environment from scratch (e.g. without PYTHONPATH).
    """
    if _log_path is None:
        return env
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITE_DIR]
    return {**env, "PYTHONPATH": os.pathsep.join([SITE_DIR, *paths]), LOG_ENV: _log_path}


def read(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Records written to `path` after byte `offset`, and the new offset (complete lines only)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    records = [json.loads(line) for line in complete.splitlines() if line.strip()]
    return records, offset + len(complete)


@contextlib.contextmanager
def caught() -> Iterator[list[dict[str, Any]]]:
    """Collect (and excuse) the records logged inside the block; for the guard's own tests."""
    assert _log_path, "netguard is not installed with a log"
    seen: list[dict[str, Any]] = []
    start = os.path.getsize(_log_path) if os.path.exists(_log_path) else 0
    try:
        yield seen
    finally:
        seen += read(_log_path, start)[0]
        _acknowledged.update(record["id"] for record in seen)


def unexcused(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records not collected by :func:`caught`."""
    return [record for record in records if record["id"] not in _acknowledged]


class Log:
    """Reads a log incrementally: each call to :meth:`new` returns what was logged since the last."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.offset = 0

    def new(self) -> list[dict[str, Any]]:
        """Unexcused records logged since the previous call."""
        records, self.offset = read(self.path, self.offset)
        return unexcused(records)


def report(records: list[dict[str, Any]]) -> str:
    """A failure message naming each address and the process that tried it."""
    lines = [f"{len(records)} attempt(s) to reach beyond loopback:"]
    lines += [f"  {r['kind']} {r['target']} by pid {r['pid']} ({r['process']}) at {r['where']}" for r in records]
    return "\n".join(lines)
