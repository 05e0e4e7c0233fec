"""History commands: status, history, rollback (deploy.history). Names only: no artifact is read."""

from __future__ import annotations

from typing import Annotated

import typer

from deploy.cli import output
from deploy.cli.context import ConnectionOption, FunctionOption, ReportFormatOption, confirm, options, read_by_names
from deploy.cli.output import ReportFormat
from deploy.session import Session
from deploy.spec import DeclaredNames

app = typer.Typer()


@app.command("status")
def status_command(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: ReportFormatOption = ReportFormat.text,
) -> None:
    """Show the live version of each function and of each stage it imports, with who applied it, when, from which
    commit and training run."""
    from deploy import history

    output.live_status(read_by_names(ctx, connection, history.status), fmt)


@app.command("history")
def history_command(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: ReportFormatOption = ReportFormat.text,
) -> None:
    """List the complete versions still on each stage, newest first; `*` marks the live one."""
    from deploy import history

    output.stage_history(read_by_names(ctx, connection, history.history), fmt)


@app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option("--to", help="A version (`deploy history`); default: the release applied before the live one."),
    ] = None,
    function: FunctionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Roll back without asking.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """Re-point the function to an earlier complete release kept on its stages, without uploading artifacts."""
    from deploy import history

    marker_dir = options(ctx).workspace.marker_dir

    def preview_and_confirm(result: history.RollbackResult) -> None:
        output.rollback_preview(result)
        confirm(yes, f"roll {result.function} back")

    def roll_back(opened: Session, names: DeclaredNames) -> history.RollbackResult:
        return history.rollback(
            opened, names, function=function, to=to, marker_dir=marker_dir, confirm=preview_and_confirm
        )

    output.rollback_done(read_by_names(ctx, connection, roll_back))
