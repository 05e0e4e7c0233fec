"""What every command shares: the global options, the session they open, confirmation, exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from deploy import reconcile
from deploy.cli.output import ReportFormat
from deploy.errors import DeployError
from deploy.session import Session
from deploy.spec import DeclaredNames

# 0 success / no changes, 2 changes pending (plan, drift), 1 an expected error (one readable line),
# 3 an unexpected one (traceback with --debug).
EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3

# Accepted before or after the subcommand: `deploy -c prod plan` and `deploy plan -c prod`.
ConnectionOption = Annotated[
    str | None,
    typer.Option("--connection", "-c", help="Connection name (connections.toml); `local` is the embedded Snowflake."),
]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f")]
FunctionOption = Annotated[
    str | None, typer.Option("--function", help="Function name, when manifests declare several.")
]


@dataclass
class Options:
    """The global options (`deploy --connection ... --manifests ... --env ... COMMAND`)."""

    connection: str | None
    manifests: Path
    cache_dir: Path
    debug: bool
    env: str | None = None  # --env: an environment declared under the manifests' `environments:`

    @property
    def workspace(self) -> reconcile.Workspace:
        return reconcile.Workspace(self.manifests, self.cache_dir, self.env)

    def names(self) -> DeclaredNames:
        """The manifests' names (no artifact opened), for the chosen environment."""
        from deploy.manifest import load_names

        return load_names(self.manifests, env=self.env)

    def function(self, name: str | None) -> tuple[str, str, str]:
        """(database, schema, name) of the function to use: names only, no artifact needed."""
        return self.names().function(name).parts


def options(ctx: typer.Context) -> Options:
    return ctx.obj


@contextmanager
def session(opts: Options, connection: str | None = None) -> Iterator[Session]:
    """A session on the command's connection (its own --connection, else the global one, else --env's)."""
    from deploy.connection import connect, resolve_target
    from deploy.local_account import with_manifest_defaults

    # --env: the environment's connection (unless --connection), warehouse and role (deploy.connection).
    environment = opts.names().environment if opts.env else None
    # The `local` connection's default database and schema are the manifests' (the environment's).
    spec = with_manifest_defaults(resolve_target(connection or opts.connection, environment), opts.manifests, opts.env)
    opened = Session(connect(spec))
    try:
        yield opened
    finally:
        opened.close()


T = TypeVar("T")


def read_by_names(ctx: typer.Context, connection: str | None, read: Callable[[Session, DeclaredNames], T]) -> T:
    """`read(session, the manifests' names)` on the command's connection: the commands that need no artifact."""
    opts = options(ctx)
    names = opts.names()  # before connecting: a manifest problem needs no sign-in
    with session(opts, connection) as opened:
        return read(opened, names)


def confirm(yes: bool, what: str) -> None:
    """Ask on a terminal; without one, refuse unless --yes (a CI job never waits on a prompt)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise DeployError(f"refusing to {what} without confirmation; pass --yes (non-interactive run)")
    if not typer.confirm(f"Do you want to {what}?", default=False):
        raise DeployError("cancelled; nothing was changed")
