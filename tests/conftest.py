"""Shared pytest fixtures."""

import os
from collections.abc import Iterator
from pathlib import Path

import netguard
import pytest


@pytest.fixture(scope="session", autouse=True)
def netguard_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netguard.Log]:
    """No test reaches beyond loopback: the embedded Snowflake is on 127.0.0.1 and nothing else is needed.

    Guards this process and, through PYTHONPATH (tests/netguard/pythonpath/sitecustomize.py),
    every Python subprocess started from it -- the localsnow server, its UDF workers, CLI runs.
    A connect, send or name lookup outside loopback is refused before the syscall and logged
    to one file; `_no_outbound` fails the test during which it was logged, naming address
    and process. What is logged between tests (module fixtures) fails the next test or,
    at the end, the session.
    """
    path = tmp_path_factory.mktemp("netguard") / "attempts.jsonl"
    path.touch()
    log = netguard.Log(path)
    mp = pytest.MonkeyPatch()
    mp.setenv(netguard.LOG_ENV, str(path))
    mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [netguard.SITE_DIR, os.environ.get("PYTHONPATH")])))
    netguard.install(path)
    try:
        yield log
    finally:
        netguard.uninstall()
        mp.undo()
    if records := log.new():
        pytest.fail(netguard.report(records), pytrace=False)


@pytest.fixture(autouse=True)
def _no_outbound(netguard_log: netguard.Log) -> Iterator[None]:
    yield
    if records := netguard_log.new():
        pytest.fail(netguard.report(records), pytrace=False)


@pytest.fixture(scope="session")
def bootstrapped_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small offline T5 (DIR/model, DIR/tokenizer) from training.bootstrap, built once per session."""
    from training.bootstrap import bootstrap  # imports torch: only when a test needs it

    # Seeded so that the untrained model answers every bundled article with some text, and
    # different texts differently (tests rely on both; seeds 0, 1 and 4 miss one or the other).
    return bootstrap(tmp_path_factory.mktemp("bootstrap") / "t5", quiet=True, seed=3)


@pytest.fixture(scope="module")
def local_snowflake(tmp_path_factory: pytest.TempPathFactory):
    """connect() kwargs for an embedded Snowflake (localsnow) with a fresh home, one per test module.

    The server is a background daemon on a free 127.0.0.1 port, stopped after the module; its
    state lives in a temporary home, so modules never see each other's objects. Use it as
    `snowflake.connector.connect(**local_snowflake, database=..., schema=...)`.
    """
    import localsnow

    home = tmp_path_factory.mktemp("localsnow")
    try:
        yield localsnow.ensure_running(home)
    finally:
        localsnow.stop(home)
