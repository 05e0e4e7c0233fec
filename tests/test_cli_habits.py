"""Exit codes and messages a CI user meets first: usage errors, --version."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from deploy.cli import EXIT_ERROR, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plna"], "No such command 'plna'"),
        (["plan", "--format", "yaml"], "Invalid value for '--format'"),
        (["apply", "--no-such-option"], "No such option: --no-such-option"),
    ],
)
def test_usage_errors_exit_1_with_typers_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_ERROR == 1  # 2 means "changes pending", 3 "unexpected"
    err = capsys.readouterr().err
    assert message in err and "Usage: deploy" in err
    assert "Unexpected error" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"deploy {version('t5-snowflake-deploy')}"
