"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bootstrapped_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small offline T5 (DIR/model, DIR/tokenizer) from training.bootstrap, built once per session."""
    from training.bootstrap import bootstrap  # imports torch: only when a test needs it

    return bootstrap(tmp_path_factory.mktemp("bootstrap") / "t5", quiet=True)


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
