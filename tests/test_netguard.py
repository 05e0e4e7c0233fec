"""The suite's network guard (tests/netguard): outside addresses are refused before any packet and named.

No test here sends anything beyond loopback: in this process the guarded socket
calls are swapped for tripwires that fail the test if an outside address ever
reached them, and subprocesses do the same to their own copy of the guard.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netguard
import pytest

OUTSIDE = ("169.254.169.254", 80)  # the cloud metadata address the connector probes
# Armed in each subprocess here: the children only try outside addresses, so reaching
# any real socket call behind the guard means it let one through (exit 99, nothing sent).
TRIPWIRE = """
import os, sys, _netguard
def tripwire(*args, **kwargs):
    sys.stderr.write(f"tripwire: a real socket call {args!r}"); sys.stderr.flush(); os._exit(99)
_netguard._originals.update(dict.fromkeys(_netguard._originals, tripwire))
"""


def _sends_beyond_loopback(name: str, args: tuple[Any, ...]) -> bool:
    """Whether the real socket call `name(*args)` would send a packet beyond loopback."""
    if name in {"connect", "connect_ex", "sendto", "sendmsg"}:
        sock, address = args[0], args[1] if name.startswith("connect") else args[-1]
        return sock.family in (socket.AF_INET, socket.AF_INET6) and not netguard.is_loopback(address[0])
    if name == "create_connection":
        return not netguard.is_loopback(args[0][0])
    if name == "getnameinfo":
        return not args[1] & socket.NI_NUMERICHOST and not netguard.is_loopback(args[0][0])
    if name == "gethostbyaddr":
        return not netguard.is_loopback(args[0])
    host = args[0]  # forward lookups: a wildcard or an IP literal needs no query
    return host not in (None, "", b"") and not netguard.is_loopback(host) and not netguard._is_ip_literal(host)


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """The real socket calls behind the guard, failing the test if one would leave loopback."""
    reached: list[tuple[str, Any]] = []

    def tripwire(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if _sends_beyond_loopback(name, args):
                reached.append((name, args))
                raise AssertionError(f"the guard let {name}{args!r} through")
            return real(*args, **kwargs)

        return call

    for name, real in list(netguard._originals.items()):
        monkeypatch.setitem(netguard._originals, name, tripwire(name, real))
    yield reached
    assert not reached


def test_outside_connect_is_refused_before_the_syscall_and_named(tripwires: list) -> None:
    with netguard.caught() as seen, socket.socket() as sock:
        with pytest.raises(OSError, match=r"netguard: connect 169\.254\.169\.254:80 blocked") as err:
            sock.connect(OUTSIDE)
        assert err.value.errno == errno.ENETUNREACH
        assert sock.connect_ex(("10.0.0.1", 443)) == errno.ENETUNREACH
        with pytest.raises(OSError, match=r"metadata\.google\.internal:80"):
            socket.create_connection(("metadata.google.internal", 80), timeout=1)
    assert [(r["kind"], r["target"]) for r in seen] == [
        ("connect", "169.254.169.254:80"),
        ("connect", "10.0.0.1:443"),
        ("connect", "metadata.google.internal:80"),
    ]
    assert {r["pid"] for r in seen} == {os.getpid()}
    message = netguard.report(seen)
    assert "169.254.169.254:80" in message and f"pid {os.getpid()}" in message
    assert "test_netguard.py" in message  # where the attempt came from


def test_outside_datagrams_and_ipv6_are_refused(tripwires: list) -> None:
    with netguard.caught() as seen, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(OSError, match=r"sendto 192\.0\.2\.1:53"):
            udp.sendto(b"x", ("192.0.2.1", 53))
        with pytest.raises(OSError, match=r"sendto 192\.0\.2\.1:53"):
            udp.sendto(b"x", 0, ("192.0.2.1", 53))
        with pytest.raises(OSError, match=r"sendto 192\.0\.2\.1:53"):
            udp.sendmsg([b"x"], [], 0, ("192.0.2.1", 53))
        try:
            v6 = socket.socket(socket.AF_INET6)
        except OSError:
            pass  # no IPv6 on this machine
        else:
            with v6, pytest.raises(OSError, match=r"\[2001:db8::1\]:80"):
                v6.connect(("2001:db8::1", 80))
    assert len(seen) >= 3


@pytest.mark.parametrize(
    "lookup",
    [
        lambda: socket.getaddrinfo("example.invalid", 443),
        lambda: socket.gethostbyname("example.invalid"),
        lambda: socket.gethostbyname_ex("example.invalid"),
    ],
    ids=["getaddrinfo", "gethostbyname", "gethostbyname_ex"],
)
def test_name_resolution_beyond_loopback_is_refused(tripwires: list, lookup: Any) -> None:
    with netguard.caught() as seen, pytest.raises(socket.gaierror, match=r"netguard: resolve example\.invalid"):
        lookup()
    assert [r["kind"] for r in seen] == ["resolve"]
    assert seen[0]["target"].startswith("example.invalid")


def test_reverse_lookups_beyond_loopback_are_refused(tripwires: list) -> None:
    with netguard.caught() as seen:
        with pytest.raises(socket.herror, match=r"reverse-resolve 192\.0\.2\.7"):
            socket.gethostbyaddr("192.0.2.7")
        with pytest.raises(socket.gaierror, match=r"reverse-resolve 192\.0\.2\.7:80"):
            socket.getnameinfo(("192.0.2.7", 80), 0)
        numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV  # formats the address, asks no one
        assert socket.getnameinfo(("192.0.2.7", 80), numeric) == ("192.0.2.7", "80")
    assert len(seen) == 2


def test_loopback_is_allowed(tripwires: list) -> None:
    with netguard.caught() as seen, socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost", "127.0.0.2"):
            if host == "127.0.0.2":  # all of 127.0.0.0/8 is loopback; nothing listens there
                with socket.socket() as sock:
                    assert sock.connect_ex((host, port)) == errno.ECONNREFUSED
                continue
            with socket.create_connection((host, port), timeout=5):
                server.accept()[0].close()
        assert socket.getaddrinfo("localhost", port)
        assert socket.getaddrinfo(None, port, flags=socket.AI_PASSIVE)  # a wildcard bind address
        assert socket.getaddrinfo("192.0.2.1", 80)  # an IP literal resolves without any query
        # Not an internet socket: not the guard's business.
        with socket.socket(socket.AF_UNIX) as unix, pytest.raises(FileNotFoundError):
            unix.connect("/nonexistent/netguard.sock")
    assert seen == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
        ("localhost", True), ("LOCALHOST.", True), (b"localhost", True),
        ("169.254.169.254", False), ("0.0.0.0", False), ("10.0.0.1", False), ("::", False),
        ("localhost.example.com", False), ("metadata.google.internal", False), ("", False), (None, False),
    ],
)  # fmt: skip
def test_is_loopback(host: Any, loopback: bool) -> None:
    assert netguard.is_loopback(host) is loopback


def _guarded_child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter guarded as the suite's subprocesses are, tripwires armed."""
    return subprocess.run(
        [sys.executable, "-c", TRIPWIRE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_a_subprocess_is_guarded_and_named() -> None:
    assert netguard.SITE_DIR in os.environ["PYTHONPATH"].split(os.pathsep)
    code = """
        import socket
        try:
            socket.create_connection(("169.254.169.254", 80), timeout=1)
        except OSError as error:
            print("refused:", error)
        try:
            socket.getaddrinfo("example.invalid", 80)
        except OSError as error:
            print("refused:", error)
    """
    with netguard.caught() as seen:
        child = _guarded_child(code)
    assert child.returncode == 0, child.stderr
    assert child.stdout.count("refused: ") == 2
    assert [(r["kind"], r["target"]) for r in seen] == [
        ("connect", "169.254.169.254:80"),
        ("resolve", "example.invalid:80"),
    ]
    assert seen[0]["pid"] != os.getpid()
    assert "-c" in seen[0]["process"]
    assert "169.254.169.254:80" in netguard.report(seen)


def test_an_unguarded_test_fails_at_teardown_naming_the_address(tmp_path: Path) -> None:
    # A nested pytest with this suite's conftest as a plugin: the leaking test must error.
    (tmp_path / "test_leak.py").write_text(
        "import socket\n\ndef test_leak():\n    socket.socket().connect_ex(('192.0.2.1', 80))\n"
    )
    tests_dir = str(Path(__file__).parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tests_dir, os.environ["PYTHONPATH"]]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "--rootdir", str(tmp_path),
         "--confcutdir", str(tmp_path), "--basetemp", str(tmp_path / "tmp"), str(tmp_path / "test_leak.py")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout
    assert "ERROR at teardown of test_leak" in run.stdout
    assert "connect 192.0.2.1:80" in run.stdout
    assert "1 passed, 1 error" in run.stdout


def test_the_subprocess_guard_never_breaks_startup(tmp_path: Path) -> None:
    # An unwritable log: still refused, nothing raised at startup.
    child = _guarded_child(
        "import socket\nprint(socket.socket().connect_ex(('192.0.2.1', 80)))",
        NETGUARD_LOG=str(tmp_path / "missing" / "log.jsonl"),
    )
    assert (child.returncode, child.stdout.strip()) == (0, str(errno.ENETUNREACH)), child.stderr

    # No log named: the guard stays out of the process entirely.
    env = {k: v for k, v in os.environ.items() if k != netguard.LOG_ENV}
    code = "import socket, sys; print('_netguard' in sys.modules, socket.getaddrinfo.__module__)"
    inert = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert inert.stdout.split() == ["False", "socket"], inert.stderr

    # A sitecustomize further down the path still runs.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.shadowed_sitecustomize_ran = True\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([netguard.SITE_DIR, str(tmp_path)]))
    code = "import sys, _netguard; print(getattr(sys, 'shadowed_sitecustomize_ran', False))"
    chained = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert chained.stdout.strip() == "True", chained.stderr


def test_guarded_env_restores_the_guard_for_a_scratch_environment() -> None:
    env = netguard.guarded_env({"PATH": os.environ["PATH"]})
    assert env["PYTHONPATH"] == netguard.SITE_DIR
    assert env[netguard.LOG_ENV] == os.environ[netguard.LOG_ENV]
