"""Serving commands: call, sql, sample-data, eval. Names only: they run without the artifacts (deploy.serving)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from deploy import serving
from deploy.cli import output
from deploy.cli.context import ConnectionOption, FunctionOption, ReportFormatOption, options, session
from deploy.cli.output import ReportFormat, RowFormat

app = typer.Typer()


class Split(StrEnum):
    validation = "validation"
    train = "train"


TableOption = Annotated[
    str,
    typer.Option(
        "--table", "-t", help="Table: bare (in the function's database and schema), SCHEMA.TABLE or DB.SCHEMA.TABLE."
    ),
]


def _argument(text: str) -> str:
    """An argument as given, or standard input for '-'."""
    return sys.stdin.read() if text == "-" else text


@app.command()
def call(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to summarize; '-' reads standard input.")],
    connection: ConnectionOption = None,
    function: FunctionOption = None,
) -> None:
    """Summarize TEXT with the deployed function (SELECT SUMMARIZE(...)) and print the result alone."""
    opts = options(ctx)
    text = _argument(text)
    target = opts.function(function)
    with session(opts, connection) as opened:
        result = serving.call_function(opened, target, text)
    output.value(result)


@app.command("sql")
def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One SQL statement; '-' reads standard input.")],
    connection: ConnectionOption = None,
    fmt: Annotated[RowFormat, typer.Option("--format", "-f")] = RowFormat.table,
) -> None:
    """Run one statement through the connection and print its result."""
    opts = options(ctx)
    query = _argument(query)
    with session(opts, connection) as opened:
        rows = serving.run_statement(opened, query)
    output.rows(rows, fmt)


@app.command("sample-data")
def sample_data(
    ctx: typer.Context,
    table: TableOption = "NEWS",
    split: Annotated[Split, typer.Option("--split", help="Bundled BBC News split.")] = Split.validation,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="First N rows of the split (default: all).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Recreate the table if it exists (its rows are lost).")
    ] = False,
    database: Annotated[str | None, typer.Option("--database", help="Default: the manifests' database.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Default: the manifests' schema.")] = None,
    connection: ConnectionOption = None,
) -> None:
    """Load the bundled BBC News articles into a table (ID, CATEGORY, TITLE, ARTICLE, SUMMARY) to try SUMMARIZE on."""
    from deploy.sample_data import load_sample_data

    opts = options(ctx)
    target = serving.sample_table(table, database, schema, opts.names)
    with session(opts, connection) as opened:
        result = load_sample_data(opened, target, split=split.value, limit=limit, replace=replace)
    output.sample_data_loaded(result)


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    table: TableOption = "NEWS",
    input_column: Annotated[str, typer.Option("--input", help="Column of texts to summarize.")] = "ARTICLE",
    reference: Annotated[str, typer.Option("--reference", help="Column of reference summaries.")] = "SUMMARY",
    key: Annotated[str, typer.Option("--key", help="Column that orders the rows and names the examples.")] = "ID",
    where: Annotated[
        str | None, typer.Option("--where", help="SQL condition selecting the rows, run as written.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most N rows (0: all).")] = 100,
    function: FunctionOption = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples to show.")] = 3,
    fmt: ReportFormatOption = ReportFormat.text,
    connection: ConnectionOption = None,
) -> None:
    """Score the deployed function with ROUGE against a reference column, next to Lead-3 (one SELECT, timed)."""
    from deploy.evaluation import EvalQuery, dotted, evaluate, require_rouge, resolve_table, single_name

    require_rouge()  # before connecting (which may mean a browser sign-in)
    opts = options(ctx)
    db, sc, name = opts.function(function)
    query = EvalQuery(
        function=(db, sc, name),
        table=resolve_table(table, db, sc),
        input=single_name(input_column),
        reference=single_name(reference),
        key=single_name(key),
        where=where,
        limit=limit or None,
    )
    output.eval_start(name, limit, dotted(query.table))
    with session(opts, connection) as opened:
        result = evaluate(opened, query, examples=examples)
    output.eval_result(result, query, name, fmt)
