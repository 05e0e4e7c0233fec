"""The `deploy` command: global options, the command groups, and how errors become exit statuses.

One module per command group: reconcile (validate, snowflake-yml, plan, show, apply, drift, destroy,
unlock), serving (call, sql, sample-data, eval), local (the embedded Snowflake) and history (status,
history, rollback). A command parses its options, calls library functions (deploy.*, where the SQL
lives) that return results, and hands them to deploy.cli.output, the one printer. That is
snowflake-cli's split: snowflake/cli/_plugins/<group>/commands.py call the group's manager.py and
return CommandResult objects (snowflake/cli/api/output/types.py) that snowflake/cli/_app/printing.py
prints.

Exit status: 0 success / no changes, 2 changes pending (plan, drift),
1 an expected error (one readable line), 3 an unexpected one (traceback with --debug).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from deploy.artifacts import default_cache_dir
from deploy.cli import history, local, output, reconcile, serving
from deploy.cli.context import EXIT_BUG, EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Options
from deploy.errors import DeployError

__all__ = ["EXIT_BUG", "EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Plan, apply and check the T5 summarizer's deployment to Snowflake.",
)
# Nameless groups add their commands at the top level (`deploy plan`, not `deploy reconcile plan`):
# Typer >= 0.15, https://typer.tiangolo.com/tutorial/one-file-per-command/
app.add_typer(reconcile.app)
app.add_typer(serving.app)
app.add_typer(local.app, name="local")
app.add_typer(history.app)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            output.out.print(f"deploy {version('t5-snowflake-deploy')}", markup=False)
        except PackageNotFoundError:  # run from a source tree that was never installed
            output.out.print("deploy (not installed: no version)", markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    ctx: typer.Context,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            "-c",
            envvar="T5_DEPLOY_CONNECTION",
            help="Connection name (connections.toml); `local` is the embedded Snowflake.",
        ),
    ] = None,
    manifests: Annotated[
        Path, typer.Option("--manifests", "-m", envvar="T5_DEPLOY_MANIFESTS", help="Manifest file or directory.")
    ] = Path("manifests"),
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Hash cache and completion markers.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Log SQL and show tracebacks.")] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            envvar="T5_DEPLOY_ENV",
            help="Environment (the manifests' `environments:`): its database, schema, settings and connection.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    _configure_logging(debug)
    ctx.obj = Options(connection, manifests, cache_dir or default_cache_dir(), debug, env or None)


def _configure_logging(debug: bool) -> None:
    """Our loggers to stderr (WARNING, or DEBUG with --debug); the connector's stay quiet."""
    logger = logging.getLogger("deploy")
    for h in [h for h in logger.handlers if getattr(h, "_deploy_cli", False)]:
        logger.removeHandler(h)
    handler = logging.StreamHandler()  # binds the current sys.stderr
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler._deploy_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
    logging.getLogger("snowflake.connector").setLevel(logging.WARNING if debug else logging.ERROR)


def _is_usage_error(error: Exception) -> bool:
    """A bad command, option or value: Click's exceptions (Typer 0.2x vendors Click as typer._click)."""
    import click
    from typer.exceptions import TyperException

    return isinstance(error, click.ClickException) or (isinstance(error, TyperException) and hasattr(error, "show"))


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rc = app(args=argv, prog_name="deploy", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except DeployError as e:
        output.error(str(e))
        return EXIT_ERROR
    except (typer.Abort, KeyboardInterrupt):
        output.err.print("Aborted.")
        return EXIT_ERROR
    except Exception as e:
        if _is_usage_error(e):
            e.show()  # type: ignore[attr-defined]
            return EXIT_ERROR  # 2 means "changes pending" here, not a usage error
        if debug:
            traceback.print_exc()
        else:
            output.unexpected(e)
        return EXIT_BUG
    return rc if isinstance(rc, int) else EXIT_OK
