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


def test_show_reads_only_a_saved_plan(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """`deploy show` needs neither account nor manifests; it refuses what is not a saved plan as `apply --plan` does."""
    markdown = tmp_path / "plan.md"
    markdown.write_text("### t5-deploy plan\n\nNo changes.\n")
    assert main(["--manifests", str(tmp_path / "none"), "show", str(markdown), "--format", "markdown"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "is not a saved plan: it is Markdown" in err and "deploy plan --format json --out" in err
    assert main(["show", str(tmp_path / "missing.json")]) == EXIT_ERROR
    assert "missing.json does not exist" in capsys.readouterr().err
    assert main(["show", str(markdown), "--format", "sql"]) == EXIT_ERROR  # SQL needs local paths: `plan -f sql`
    assert "Invalid value for '--format'" in capsys.readouterr().err
