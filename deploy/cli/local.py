"""`deploy local start|stop|status|reset`: the embedded Snowflake (localsnow) in the background."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deploy.cli import output
from deploy.cli.context import confirm, options
from deploy.cli.output import LocalFormat
from deploy.errors import DeployError

if TYPE_CHECKING:
    from deploy.connection import ConnectionSpec

app = typer.Typer(no_args_is_help=True, help="Manage the embedded local Snowflake.")

LocalHomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="State directory (default: the `local` connection's `home`, $LOCALSNOW_HOME, "
        "else .localsnow in the project root, found from the working directory).",
    ),
]
LocalFormatOption = Annotated[
    LocalFormat,
    typer.Option(
        "--format",
        "-f",
        help="text; json: status plus `connection` (kwargs for snowflake.connector.connect / Snowpark), "
        "password included; toml: that connection as a connections.toml section.",
    ),
]
LocalNameOption = Annotated[str, typer.Option("--name", help="Section name of --format toml.")]


def _local_spec(ctx: typer.Context, home: Path | None) -> ConnectionSpec:
    from deploy.local_account import local_spec

    return local_spec(home, options(ctx).manifests, options(ctx).env)


@app.command("start")
def local_start(
    ctx: typer.Context,
    home: LocalHomeOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Listen on this 127.0.0.1 port, now and at every later start, on demand or not (0: any free port).",
        ),
    ] = None,
    fmt: LocalFormatOption = LocalFormat.text,
    name: LocalNameOption = "local",
) -> None:
    """Start the embedded Snowflake in the background (commands that need it start it on their own)."""
    import localsnow
    from deploy.local_account import status_facts

    spec = _local_spec(ctx, home)
    try:
        kw = localsnow.ensure_running(spec.local_home, port)
    except localsnow.StartError as e:
        raise DeployError(str(e)) from None
    if fmt is LocalFormat.text:
        kept = " (kept for later starts)" if port else ""
        output.out.print(f"Embedded Snowflake running on {kw['host']}:{kw['port']}{kept}")
        return
    output.local_facts(status_facts(spec), fmt, name)


@app.command("stop")
def local_stop(ctx: typer.Context, home: LocalHomeOption = None) -> None:
    """Stop the embedded Snowflake; its state stays on disk."""
    import localsnow

    output.out.print("Stopped." if localsnow.stop(_local_spec(ctx, home).local_home) else "Not running.")


@app.command("status")
def local_status(
    ctx: typer.Context,
    home: LocalHomeOption = None,
    fmt: LocalFormatOption = LocalFormat.text,
    name: LocalNameOption = "local",
) -> None:
    """Show whether the embedded Snowflake runs, where, what it holds, and how to connect to it."""
    from deploy.local_account import status_facts

    output.local_facts(status_facts(_local_spec(ctx, home)), fmt, name)


@app.command("reset")
def local_reset(
    ctx: typer.Context,
    home: LocalHomeOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y")] = False,
) -> None:
    """Stop the embedded Snowflake and wipe its objects and files (its password and kept port stay)."""
    import localsnow

    target = _local_spec(ctx, home).local_home
    confirm(yes, "wipe the embedded Snowflake's state")
    localsnow.reset(target)
    output.out.print("Embedded Snowflake state wiped.")
