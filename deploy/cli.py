"""The `deploy` command: parses arguments, calls one library function, prints, sets the exit status.

Exit status: 0 success / no changes, 2 changes pending (plan, drift),
1 an expected error (one readable line), 3 an unexpected one (traceback with --debug).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deploy import reconcile
from deploy.apply import ApplyResult
from deploy.artifacts import default_cache_dir
from deploy.errors import DeployError
from deploy.plan import Plan
from deploy.render import render
from deploy.render.common import human_bytes
from deploy.session import Session
from deploy.spec import DeclaredNames
from deploy.sql import literal, qualified

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Plan, apply and check the T5 summarizer's deployment to Snowflake.",
)
local_app = typer.Typer(no_args_is_help=True, help="Manage the embedded local Snowflake.")
app.add_typer(local_app, name="local")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sql = "sql"


class RowFormat(StrEnum):
    table = "table"
    json = "json"


class EvalFormat(StrEnum):
    text = "text"
    json = "json"


class Split(StrEnum):
    validation = "validation"
    train = "train"


# Accepted before or after the subcommand: `deploy -c prod plan` and `deploy plan -c prod`.
ConnectionOption = Annotated[
    str | None,
    typer.Option("--connection", "-c", help="Connection name (connections.toml); `local` is the embedded Snowflake."),
]


@dataclass
class Options:
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


def _opts(ctx: typer.Context) -> Options:
    return ctx.obj


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"deploy {version('t5-snowflake-deploy')}", markup=False)
        except PackageNotFoundError:  # run from a source tree that was never installed
            out.print("deploy (not installed: no version)", markup=False)
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


@contextmanager
def _session(opts: Options, connection: str | None = None):
    from deploy.connection import connect, resolve_target
    from deploy.local_account import with_manifest_defaults

    # --env: the environment's connection (unless --connection), warehouse and role (deploy.connection).
    environment = opts.names().environment if opts.env else None
    # The `local` connection's default database and schema are the manifests' (the environment's).
    spec = with_manifest_defaults(resolve_target(connection or opts.connection, environment), opts.manifests, opts.env)
    session = Session(connect(spec))
    try:
        yield session
    finally:
        session.close()


def _colour(text: str) -> Text:
    """Colour a rendered plan by each line's leading symbol; the renderers stay plain."""
    styles = {"+": "green", "~": "yellow", "-": "red", "-/+": "magenta"}
    result = Text()
    for line in text.splitlines(keepends=True):
        head = line.strip().split(" ", 1)[0]
        style = styles.get(head) or (
            "bold"
            if line.startswith(("Plan:", "No changes"))
            else "dim"
            if line.strip().startswith("# (")
            else "yellow"
            if line.startswith("Warning")
            else None
        )
        result.append(line, style=style)
    return result


def _emit(text: str, fmt: str, out_file: Path | None) -> None:
    if out_file is not None:
        out_file.write_text(text)
        err.print(f"Wrote {fmt} to {out_file}")
    elif fmt == "text" and out.is_terminal:
        out.print(_colour(text), end="")
    else:
        sys.stdout.write(text)


def _render(plan: Plan, fmt: PlanFormat, opts: Options, **kw: Any) -> str:
    if fmt is PlanFormat.sql:
        return render(plan, "sql", marker_dir=opts.workspace.marker_dir)
    if fmt in (PlanFormat.json,):
        return render(plan, "json")
    return render(plan, fmt.value, **kw)


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check the manifests against the JSON Schema and the local artifacts; no account needed."""
    desired = _opts(ctx).workspace.desired()
    files = sum(len(s.files) for s in desired.stages.values())
    out.print(
        f"Manifests valid: {len(desired.stages)} stage(s) holding {files} file(s), "
        f"{len(desired.functions)} function(s), from {len(desired.manifest_files)} file(s)."
        + (
            f" Environment {desired.environment.name}: {', '.join(f'{d}.{s}' for d, s in desired.schemas)}."
            if desired.environment
            else ""
        )
    )
    _warn_stale_snowflake_yml(_opts(ctx), desired)


def _warn_stale_snowflake_yml(opts: Options, desired: Any) -> None:
    """A warning, not an error: snowflake.local.yml follows the artifacts' versions (every training run),
    and T5_DATABASE / T5_SCHEMA point the manifests at another environment than the committed files."""
    from deploy import snowflake_yml

    root = snowflake_yml.project_root_of(opts.manifests)
    if (root / snowflake_yml.PROJECT_FILE).is_file():
        for problem in snowflake_yml.stale(snowflake_yml.generate(desired, root), root):
            err.print(f"warning: {problem}; run `{snowflake_yml.REGENERATE}` before `snow snowpark deploy`")


@app.command("snowflake-yml")
def snowflake_yml_command(
    ctx: typer.Context,
    write: Annotated[bool, typer.Option("--write", help="Write them beside manifests/ instead of printing.")] = False,
) -> None:
    """snowflake.yml and requirements.txt for the Snowflake CLI (`snow snowpark build/deploy`), from the manifests."""
    from deploy import snowflake_yml

    opts = _opts(ctx)
    root = snowflake_yml.project_root_of(opts.manifests)
    generated = snowflake_yml.generate(opts.workspace.desired(), root)
    if not write:
        for name, text in generated.files.items():
            out.print(f"# ---- {name}\n{text}", markup=False, end="")
        return
    written = snowflake_yml.write(generated, root)
    out.print(", ".join(str(p) for p in written) + " written." if written else "Up to date.", markup=False)


@app.command()
def plan(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the plan here (JSON with --format json is what `apply --plan` reads)."),
    ] = None,
) -> None:
    """Diff the live account against the manifests. Exit 0: no changes, 2: changes pending."""
    from deploy import saved_plan

    opts = _opts(ctx)
    desired = opts.workspace.desired()
    with _session(opts, connection) as session:
        the_plan, _ = reconcile.plan(session, desired)
    # Portable sources, the scope and the manifests' digest: what `apply --plan` checks (docs/plan-format.md).
    scope = saved_plan.current_scope(connection or opts.connection, desired)
    the_plan = saved_plan.stamp(the_plan, desired, scope, saved_plan.SourceRoots.of(desired, opts.cache_dir))
    _emit(_render(the_plan, fmt, opts), fmt.value, out_file)
    raise typer.Exit(EXIT_OK if the_plan.is_empty else EXIT_CHANGES)


def _confirm(yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise DeployError(f"refusing to {what} without confirmation; pass --yes (non-interactive run)")
    if not typer.confirm(f"Do you want to {what}?", default=False):
        raise DeployError("cancelled; nothing was changed")


def _report(result: ApplyResult, verb: str) -> None:
    out.print(
        f"{verb} complete: {result.statements} statement(s) ({result.ddl} DDL), "
        f"{result.files_uploaded} file(s) uploaded ({human_bytes(result.bytes_uploaded)}), "
        f"{result.removed_paths} path(s) removed, {result.seconds:.2f} s."
    )


def _progress(the_plan: Plan):
    """Each step on stderr: a bar with bytes and throughput on a terminal, a line per file in CI logs."""
    from deploy.upload_progress import StepPrinter

    return StepPrinter(err, the_plan.upload_bytes)


@app.command()
def apply(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Apply a plan saved with `plan --format json --out`, if still current."),
    ] = None,
    allow_destroy: Annotated[
        bool, typer.Option("--allow-destroy", help="Permit dropping managed functions/stages that left the manifests.")
    ] = False,
) -> None:
    """Make the account match the manifests: create, upload, replace, prune."""
    opts = _opts(ctx)
    if plan_file is not None:
        _apply_saved(opts, plan_file, connection, yes=yes, allow_destroy=allow_destroy)
        return
    desired = opts.workspace.desired()
    with _session(opts, connection) as session:
        the_plan, _ = reconcile.plan(session, desired)
        _emit(render(the_plan, "text"), "text", None)
        observe_statements = session.log.count
        if the_plan.is_empty:
            out.print(
                f"Apply complete: 0 DDL, 0 bytes uploaded; {observe_statements} read-only "
                f"statement(s), {session.log.seconds:.2f} s."
            )
            return
        _confirm(yes, "apply these changes")

        def replanned(current: Plan) -> None:  # another apply ran while this one waited for the lock
            out.print("The account changed since this plan was shown; the plan under the lock is:")
            _emit(render(current, "text"), "text", None)
            if not current.is_empty:
                _confirm(yes, "apply these changes")

        with _progress(the_plan) as progress:
            result = reconcile.apply_locked(
                session, opts.workspace, desired, the_plan,
                allow_destroy=allow_destroy, on_step=progress, on_replan=replanned,
            )  # fmt: skip
    if result is None:
        out.print("Apply complete: nothing left to do (another apply made these changes).")
        return
    _report(result, "Apply")


def _apply_saved(opts: Options, plan_file: Path, connection: str | None, *, yes: bool, allow_destroy: bool) -> None:
    """`apply --plan`: read the file, refuse it for another target or other manifests, then apply it
    while the account is as it was (deploy.saved_plan names each cause)."""
    from deploy import saved_plan

    saved = saved_plan.load(plan_file)  # before anything else: a Markdown file needs no artifacts nor account
    desired = opts.workspace.desired()
    scope = saved_plan.current_scope(connection or opts.connection, desired)
    checked = saved_plan.check(saved, desired, scope, saved_plan.SourceRoots.of(desired, opts.cache_dir))
    _emit(render(checked, "text"), "text", None)
    if checked.is_empty:
        return
    _confirm(yes, "apply this saved plan")
    ws = opts.workspace
    with _session(opts, connection) as session, _progress(checked) as progress:
        result = reconcile.apply_saved_locked(
            session, checked, desired, ws, allow_destroy=allow_destroy, on_step=progress
        )  # the account check runs under the lock (deploy.lock)
    _report(result, "Apply")


@app.command()
def drift(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f")] = PlanFormat.text,
) -> None:
    """Report what changed in the account since the last apply (not manifest edits). Exit 0: clean, 2: drift."""
    from deploy import drift as drift_report

    opts = _opts(ctx)
    desired = opts.workspace.desired()
    with _session(opts, connection) as session:
        the_plan, _ = reconcile.plan(session, desired)
    report = drift_report.report(the_plan)
    if fmt in (PlanFormat.text, PlanFormat.markdown):
        # Warnings (e.g. a stage whose encryption differs and cannot be altered) show here too.
        text = _render(report.drift, fmt, opts, title=drift_report.TITLE, empty=drift_report.CLEAN)
        text += f"\n{report.note}\n" if report.note else ""
    else:
        text = _render(report.drift, fmt, opts)
    _emit(text, fmt.value, None)
    raise typer.Exit(EXIT_OK if report.is_clean else EXIT_CHANGES)


@app.command()
def destroy(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y")] = False,
) -> None:
    """Remove what t5-deploy manages (its functions, stages and versions); foreign objects stay."""
    opts = _opts(ctx)
    desired = opts.workspace.desired()
    with _session(opts, connection) as session, reconcile.locked(session, desired, "destroy"):
        from deploy.observe import observe

        the_plan = reconcile.destroy_plan(desired, observe(session, desired))
        _emit(render(the_plan, "text"), "text", None)
        if the_plan.is_empty:
            return
        _confirm(yes, "destroy these objects")
        with _progress(the_plan) as progress:
            result = reconcile.apply(session, opts.workspace, the_plan, allow_destroy=True, on_step=progress)
    _report(result, "Destroy")


@app.command()
def unlock(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    force: Annotated[bool, typer.Option("--force", help="Break the lock (only when its apply is gone).")] = False,
) -> None:
    """Show, or with --force break, the apply lock of the manifests' schemas (deploy.lock)."""
    opts = _opts(ctx)
    desired = opts.names()
    with _session(opts, connection) as session:
        locks = reconcile.force_unlock(session, desired) if force else reconcile.lock_status(session, desired)
    for held in locks:
        who = held.holder.describe() if held.holder else "an unknown holder"
        out.print(f"{'broke the lock' if force else 'locked'}: {held.target} by {who}", markup=False)
    if not locks:
        out.print("no lock held", markup=False)
    elif not force:
        out.print("if that apply is gone, break the lock with `deploy unlock --force`", markup=False)


def _function_identity(opts: Options, name: str | None) -> tuple[str, str, str]:
    return opts.names().function(name).parts  # names only: no artifact needed


@app.command()
def call(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to summarize; '-' reads standard input.")],
    connection: ConnectionOption = None,
    function: Annotated[
        str | None, typer.Option("--function", help="Function name, when manifests declare several.")
    ] = None,
) -> None:
    """Summarize TEXT with the deployed function (SELECT SUMMARIZE(...)) and print the result alone."""
    opts = _opts(ctx)
    if text == "-":
        text = sys.stdin.read()
    db, sc, name = _function_identity(opts, function)
    with _session(opts, connection) as session:
        rows = session.query(f"SELECT {qualified(db, sc, name)}({literal(text)}) AS RESULT")
    value = next(iter(rows[0].values())) if rows else None
    sys.stdout.write(("NULL" if value is None else str(value)) + "\n")


@app.command("sql")
def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One SQL statement; '-' reads standard input.")],
    connection: ConnectionOption = None,
    fmt: Annotated[RowFormat, typer.Option("--format", "-f")] = RowFormat.table,
) -> None:
    """Run one statement through the connection and print its result."""
    opts = _opts(ctx)
    if query == "-":
        query = sys.stdin.read()
    with _session(opts, connection) as session:
        rows = session.query(query, keep_names=True)  # `COUNT(*)`, `SUMMARIZE(ARTICLE)`, quoted `x` as given
    if fmt is RowFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    _print_rows(rows)
    err.print(f"{len(rows)} row(s)")


def _print_rows(rows: list[dict[str, Any]]) -> None:
    """A table when it fits the terminal; otherwise one `column: value` block per row (like psql's \\x)."""
    columns = list(rows[0]) if rows else []
    cell = lambda v: "NULL" if v is None else str(v)  # noqa: E731
    widths = [max([len(c)] + [len(cell(r[c])) for r in rows]) for c in columns]
    # A table while all but the widest column fit with room to fold the widest.
    if sum(widths) - max(widths, default=0) + 3 * len(columns) + 30 <= out.width:
        table = Table()
        for col in columns:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*(Text(cell(v)) for v in r.values()))  # Text: values are not markup
        out.print(table)
        return
    pad = max((len(c) for c in columns), default=0)
    for i, r in enumerate(rows):
        out.print(Text(f"-[ row {i + 1} ]" + "-" * 20, style="dim"))
        for c in columns:
            out.print(Text(f"{c:<{pad}} | {cell(r[c])}"))


def _manifest_schema(opts: Options, database: str | None, schema: str | None) -> tuple[str, str]:
    """--database/--schema, else the one schema the manifests deploy to."""
    from deploy.evaluation import single_name

    db = single_name(database, "database") if database else None
    sc = single_name(schema, "schema") if schema else None
    if db and sc:
        return db, sc

    declared = opts.names().only_schema()  # names only: no artifact needed
    return db or declared[0], sc or declared[1]


TableOption = Annotated[
    str,
    typer.Option(
        "--table", "-t", help="Table: bare (in the function's database and schema), SCHEMA.TABLE or DB.SCHEMA.TABLE."
    ),
]


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
    from deploy.evaluation import resolve_table, split_name
    from deploy.sample_data import load_sample_data

    opts = _opts(ctx)
    qualified_name = len(split_name(table)) == 3  # needs no defaults (nor manifests)
    target = resolve_table(table, *(("", "") if qualified_name else _manifest_schema(opts, database, schema)))
    with _session(opts, connection) as session:
        result = load_sample_data(session, target, split=split.value, limit=limit, replace=replace)
    out.print(
        f"Loaded {result.rows} row(s) of the bundled BBC News {result.split} split into {result.table} "
        f"({'replaced' if result.replaced else 'new table'}; {result.statements} INSERT statement(s), "
        f"{result.seconds:.2f} s)."
    )
    out.print(Text(f"Try: deploy sql 'SELECT ID, TITLE, SUMMARIZE(ARTICLE) FROM {result.table} ORDER BY ID LIMIT 3'"))


_METRIC_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}


def _clip(text: str, width: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."


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
    function: Annotated[
        str | None, typer.Option("--function", help="Function name, when manifests declare several.")
    ] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples to show.")] = 3,
    fmt: Annotated[EvalFormat, typer.Option("--format", "-f")] = EvalFormat.text,
    connection: ConnectionOption = None,
) -> None:
    """Score the deployed function with ROUGE against a reference column, next to Lead-3 (one SELECT, timed)."""
    from deploy.evaluation import EvalQuery, dotted, evaluate, require_rouge, resolve_table, single_name

    require_rouge()  # before connecting (which may mean a browser sign-in)
    opts = _opts(ctx)
    db, sc, name = _function_identity(opts, function)
    query = EvalQuery(
        function=(db, sc, name),
        table=resolve_table(table, db, sc),
        input=single_name(input_column),
        reference=single_name(reference),
        key=single_name(key),
        where=where,
        limit=limit or None,
    )
    err.print(
        Text(
            f"Running {name} on {'up to ' + str(limit) if limit else 'all'} row(s) of {dotted(query.table)} ...",
            style="dim",
        )
    )
    with _session(opts, connection) as session:
        result = evaluate(session, query, examples=examples)
    if fmt is EvalFormat.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    out.print(Text(f"{result.function} on {result.table}", style="bold"))
    scores = Table()
    scores.add_column("metric")
    scores.add_column(name, justify="right")
    scores.add_column("Lead-3", justify="right")
    for metric, label in _METRIC_NAMES.items():
        scores.add_row(label, f"{result.rouge[metric]:.2f}", f"{result.lead3[metric]:.2f}")
    out.print(scores)
    skipped = f", {result.skipped} skipped (NULL {query.input} or {query.reference})" if result.skipped else ""
    empty = f"; {result.null_outputs} NULL output(s) scored as empty" if result.null_outputs else ""
    out.print(Text(f"{result.rows} row(s) scored{skipped}{empty}."))
    out.print(
        f"Query: {result.seconds:.2f} s for {result.rows + result.skipped} row(s), {result.rows_per_second:.2f} rows/s "
        "(wall time of the one SELECT; the first call after a deploy also loads the model)."
    )
    for example in result.examples:
        out.print()
        out.print(Text(f"{query.key} {example.key}", style="bold"))
        out.print(Text.assemble(("  summary:   ", "dim"), _clip(example.summary) or "(empty)"))
        out.print(Text.assemble(("  reference: ", "dim"), _clip(example.reference)))


class LocalFormat(StrEnum):
    text = "text"
    json = "json"
    toml = "toml"


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


def _local_spec(ctx: typer.Context, home: Path | None):
    from deploy.local_account import local_spec

    return local_spec(home, _opts(ctx).manifests, _opts(ctx).env)


def _print_local(facts: dict[str, Any], fmt: LocalFormat, name: str) -> None:
    """Status in the chosen format; only json and toml show the password (the user's own local account's)."""
    from deploy.local_account import connections_toml

    connection = facts.get("connection")
    if fmt is LocalFormat.json:
        sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        return
    if fmt is LocalFormat.toml:
        if connection is None:
            raise DeployError(
                f"the embedded Snowflake of {facts['home']} is not running, so it has no port to connect to: "
                "`deploy local start --format toml` starts it and prints the section"
            )
        sys.stdout.write(connections_toml(connection, name))
        return
    kept = facts.get("kept_port")
    out.print(f"running: {'yes (pid ' + str(facts['pid']) + ')' if facts['running'] else 'no'}")
    out.print(f"port: {facts['port'] or '-'} ({f'kept: {kept}' if kept else 'any free port at each start'})")
    out.print(Text(f"home: {facts['home']}"))
    out.print(f"stages: {facts['stages']}, functions: {facts['functions']}")
    if connection is not None:
        shown = ", ".join(f"{k}={v}" for k, v in connection.items() if k != "password" and k in _CONNECTION_SHOWN)
        out.print(Text(f"connection: {shown}"))
        out.print("password: shown by `deploy local status --format json` (or --format toml) only")


_CONNECTION_SHOWN = ("host", "port", "protocol", "account", "user", "database", "schema", "warehouse", "role")


@local_app.command("start")
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
        out.print(f"Embedded Snowflake running on {kw['host']}:{kw['port']}{kept}")
        return
    _print_local(status_facts(spec), fmt, name)


@local_app.command("stop")
def local_stop(ctx: typer.Context, home: LocalHomeOption = None) -> None:
    """Stop the embedded Snowflake; its state stays on disk."""
    import localsnow

    out.print("Stopped." if localsnow.stop(_local_spec(ctx, home).local_home) else "Not running.")


@local_app.command("status")
def local_status(
    ctx: typer.Context,
    home: LocalHomeOption = None,
    fmt: LocalFormatOption = LocalFormat.text,
    name: LocalNameOption = "local",
) -> None:
    """Show whether the embedded Snowflake runs, where, what it holds, and how to connect to it."""
    from deploy.local_account import status_facts

    _print_local(status_facts(_local_spec(ctx, home)), fmt, name)


@local_app.command("reset")
def local_reset(
    ctx: typer.Context,
    home: LocalHomeOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y")] = False,
) -> None:
    """Stop the embedded Snowflake and wipe its objects and files (its password and kept port stay)."""
    import localsnow

    target = _local_spec(ctx, home).local_home
    _confirm(yes, "wipe the embedded Snowflake's state")
    localsnow.reset(target)
    out.print("Embedded Snowflake state wiped.")


# --- history: status, history, rollback (deploy.history; names only, no artifacts) ------------------


class InfoFormat(StrEnum):
    text = "text"
    json = "json"


def _provenance_line(p: Any) -> str:
    """`applied 2024-05-01T12:00:00Z by CI, commit 3f2a9c1b4d5e, run 20240501-tiny` (unknown where not recorded)."""
    verb = "rolled back" if p.via == "rollback" else "applied"
    commit = p.commit[:12] if p.commit else "unknown"
    return f"{verb} {p.at or 'unknown'} by {p.by or 'unknown'}, commit {commit}, run {p.run or 'unknown'}"


@app.command("status")
def status_command(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.text,
) -> None:
    """Show the live version of each function and of each stage it imports, with who applied it, when, from which
    commit and training run."""
    from deploy import history

    opts = _opts(ctx)
    names = opts.names()
    with _session(opts, connection) as session:
        report = history.status(session, names)
    if fmt is InfoFormat.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    for fn in report.functions:
        if not fn.deployed:
            out.print(Text(f"{fn.identity}: not deployed"))
            continue
        out.print(Text(f"{fn.identity}: {_provenance_line(fn.provenance)}", style="bold"))
        if fn.note:
            out.print(Text(f"  note: {fn.note}", style="yellow"))
        for v in fn.live:
            state = "" if v.complete else " (INCOMPLETE: no completion marker)"
            out.print(Text(f"  {v.stage} {v.version}{state}: {_provenance_line(v.provenance)}"))
    for fqn in report.unimported_stages:
        out.print(Text(f"{fqn}: no deployed function imports it"))


@app.command("history")
def history_command(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.text,
) -> None:
    """List the complete versions still on each stage, newest first; `*` marks the live one."""
    from deploy import history

    opts = _opts(ctx)
    names = opts.names()
    with _session(opts, connection) as session:
        stages = history.history(session, names)
    if fmt is InfoFormat.json:
        sys.stdout.write(json.dumps({"stages": [s.to_dict() for s in stages]}, indent=2) + "\n")
        return
    for st in stages:
        out.print(Text(f"{st.stage}" + ("" if st.exists else ": does not exist"), style="bold"))
        for v in st.versions:
            out.print(Text(f"  {'*' if v.live else ' '} {v.version}  {_provenance_line(v.provenance)}"))


@app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option("--to", help="A version (`deploy history`); default: the release applied before the live one."),
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="Function name, when manifests declare several.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Roll back without asking.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """Re-point the function to an earlier complete release kept on its stages, without uploading artifacts."""
    from deploy import history

    opts = _opts(ctx)
    names = opts.names()

    def confirm(result: Any) -> None:
        for stage, before, after in result.changed_versions():
            out.print(Text(f"  {stage}: {before} -> {after}"))
        out.print(Text(f"  that release: {_provenance_line(result.target)}"))
        _confirm(yes, f"roll {result.function} back")

    with _session(opts, connection) as session:
        result = history.rollback(
            session, names, function=function, to=to, marker_dir=opts.workspace.marker_dir, confirm=confirm
        )
    out.print(
        Text(
            f"Rollback complete: {result.function} runs the release above ({result.statements} statement(s), "
            "no artifact uploaded). `deploy plan` shows the way back to the manifests' versions."
        )
    )


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
        err.print(Text.assemble(("Error: ", "red"), str(e)))
        return EXIT_ERROR
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        return EXIT_ERROR
    except Exception as e:
        if _is_usage_error(e):
            e.show()  # type: ignore[attr-defined]
            return EXIT_ERROR  # 2 means "changes pending" here, not a usage error
        if debug:
            traceback.print_exc()
        else:
            err.print(
                Text.assemble(
                    ("Unexpected error: ", "red"), f"{type(e).__name__}: {e} (re-run with --debug for a traceback)"
                )
            )
        return EXIT_BUG
    return rc if isinstance(rc, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
