"""The one printer of the `deploy` command: commands hand it the results library functions return.

Results go to stdout (plans, rows, reports), everything about the run to stderr (progress, "Wrote ...",
row counts, warnings, errors), so `deploy plan --format json > plan.json` and pipes stay clean. Values
that come from the account or the user are printed as Text or with markup off: never read as markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deploy.apply import ApplyResult
from deploy.plan import Plan
from deploy.render import render
from deploy.units import human_bytes

if TYPE_CHECKING:
    from deploy.evaluation import EvalQuery, EvalResult
    from deploy.history import RollbackResult, StageHistory, StatusReport
    from deploy.lock import HeldLock
    from deploy.provenance import Provenance
    from deploy.sample_data import LoadResult

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sql = "sql"


class SavedPlanFormat(StrEnum):
    """What `deploy show` renders a saved plan as (SQL needs this checkout's paths: `plan --format sql`)."""

    text = "text"
    markdown = "markdown"


class RowFormat(StrEnum):
    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    """eval, status and history: text for a person, JSON for a program."""

    text = "text"
    json = "json"


class LocalFormat(StrEnum):
    text = "text"
    json = "json"
    toml = "toml"


# --- plans -----------------------------------------------------------------------------------


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


def emit(text: str, fmt: str, out_file: Path | None = None) -> None:
    """A rendered plan or report: to `out_file` (saying so on stderr), else stdout, coloured on a terminal."""
    if out_file is not None:
        out_file.write_text(text)
        err.print(f"Wrote {fmt} to {out_file}")
    elif fmt == "text" and out.is_terminal:
        out.print(_colour(text), end="")
    else:
        sys.stdout.write(text)


def render_plan(plan: Plan, fmt: str, *, marker_dir: Path | None = None, **options: Any) -> str:
    """The plan in `fmt` (text, json, markdown, sql); SQL names the local completion markers it PUTs."""
    if fmt == PlanFormat.sql:
        return render(plan, "sql", marker_dir=marker_dir)
    if fmt == PlanFormat.json:
        return render(plan, "json")
    return render(plan, str(fmt), **options)


def show_plan(plan: Plan) -> None:
    """The plan as apply and destroy show it before asking."""
    emit(render(plan, "text"), "text")


def apply_report(result: ApplyResult, verb: str) -> None:
    out.print(
        f"{verb} complete: {result.statements} statement(s) ({result.ddl} DDL), "
        f"{result.files_uploaded} file(s) uploaded ({human_bytes(result.bytes_uploaded)}), "
        f"{result.removed_paths} path(s) removed, {result.seconds:.2f} s."
    )


def nothing_to_apply(read_only_statements: int, seconds: float) -> None:
    out.print(
        f"Apply complete: 0 DDL, 0 bytes uploaded; {read_only_statements} read-only statement(s), {seconds:.2f} s."
    )


def progress(plan: Plan):
    """Each apply step on stderr: a bar with bytes and throughput on a terminal, a line per file in CI logs."""
    from deploy.upload_progress import StepPrinter

    return StepPrinter(err, plan.upload_bytes)


def line(text: str, style: str | None = None) -> None:
    """One line of the command's own words around values that must not be read as markup."""
    out.print(Text(text, style=style or ""))


def warning(text: str) -> None:
    err.print(Text(f"warning: {text}"))


def write_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


# --- rows: `deploy sql` ----------------------------------------------------------------------


def rows(result: list[dict[str, Any]], fmt: RowFormat) -> None:
    if fmt is RowFormat.json:
        write_json(result)
        return
    _rows_table(result)
    err.print(f"{len(result)} row(s)")


def _rows_table(rows: list[dict[str, Any]]) -> None:
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


def value(result: Any) -> None:
    """`deploy call`: the result alone, NULL for SQL NULL (a pipe gets exactly the text)."""
    sys.stdout.write(("NULL" if result is None else str(result)) + "\n")


# --- eval ------------------------------------------------------------------------------------

_METRIC_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}


def _clip(text: str, width: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."


def eval_start(function: str, limit: int, table: str) -> None:
    rows = f"up to {limit}" if limit else "all"
    err.print(Text(f"Running {function} on {rows} row(s) of {table} ...", style="dim"))


def eval_result(result: EvalResult, query: EvalQuery, function: str, fmt: ReportFormat) -> None:
    """ROUGE of the function next to Lead-3, counts, the query's time, a few examples (deploy.evaluation)."""
    if fmt is ReportFormat.json:
        write_json(result.to_dict())
        return
    out.print(Text(f"{result.function} on {result.table}", style="bold"))
    scores = Table()
    scores.add_column("metric")
    scores.add_column(function, justify="right")
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


def sample_data_loaded(result: LoadResult) -> None:
    out.print(
        f"Loaded {result.rows} row(s) of the bundled BBC News {result.split} split into {result.table} "
        f"({'replaced' if result.replaced else 'new table'}; {result.statements} INSERT statement(s), "
        f"{result.seconds:.2f} s)."
    )
    out.print(Text(f"Try: deploy sql 'SELECT ID, TITLE, SUMMARIZE(ARTICLE) FROM {result.table} ORDER BY ID LIMIT 3'"))


# --- the embedded Snowflake: `deploy local` --------------------------------------------------

_CONNECTION_SHOWN = ("host", "port", "protocol", "account", "user", "database", "schema", "warehouse", "role")


def local_facts(facts: dict[str, Any], fmt: LocalFormat, name: str) -> None:
    """Status in the chosen format; only json and toml show the password (the user's own local account's)."""
    from deploy.errors import DeployError
    from deploy.local_account import connections_toml

    connection = facts.get("connection")
    if fmt is LocalFormat.json:
        write_json(facts)
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


# --- history: status, history, rollback ------------------------------------------------------


def provenance_line(p: Provenance) -> str:
    """`applied 2024-05-01T12:00:00Z by CI, commit 3f2a9c1b4d5e, run 20240501-tiny` (unknown where not recorded)."""
    verb = "rolled back" if p.via == "rollback" else "applied"
    commit = p.commit[:12] if p.commit else "unknown"
    return f"{verb} {p.at or 'unknown'} by {p.by or 'unknown'}, commit {commit}, run {p.run or 'unknown'}"


def live_status(report: StatusReport, fmt: ReportFormat) -> None:
    """`deploy status` (deploy.history.StatusReport)."""
    if fmt is ReportFormat.json:
        write_json(report.to_dict())
        return
    for fn in report.functions:
        if not fn.deployed:
            out.print(Text(f"{fn.identity}: not deployed"))
            continue
        out.print(Text(f"{fn.identity}: {provenance_line(fn.provenance)}", style="bold"))
        if fn.note:
            out.print(Text(f"  note: {fn.note}", style="yellow"))
        for v in fn.live:
            state = "" if v.complete else " (INCOMPLETE: no completion marker)"
            out.print(Text(f"  {v.stage} {v.version}{state}: {provenance_line(v.provenance)}"))
    for fqn in report.unimported_stages:
        out.print(Text(f"{fqn}: no deployed function imports it"))


def stage_history(stages: Sequence[StageHistory], fmt: ReportFormat) -> None:
    """`deploy history` (deploy.history.StageHistory per stage)."""
    if fmt is ReportFormat.json:
        write_json({"stages": [s.to_dict() for s in stages]})
        return
    for st in stages:
        out.print(Text(f"{st.stage}" + ("" if st.exists else ": does not exist"), style="bold"))
        for v in st.versions:
            out.print(Text(f"  {'*' if v.live else ' '} {v.version}  {provenance_line(v.provenance)}"))


def rollback_preview(result: RollbackResult) -> None:
    """What a rollback will change, before it asks (deploy.history.RollbackResult)."""
    for stage, before, after in result.changed_versions():
        out.print(Text(f"  {stage}: {before} -> {after}"))
    out.print(Text(f"  that release: {provenance_line(result.target)}"))


def rollback_done(result: RollbackResult) -> None:
    out.print(
        Text(
            f"Rollback complete: {result.function} runs the release above ({result.statements} statement(s), "
            "no artifact uploaded). `deploy plan` shows the way back to the manifests' versions."
        )
    )


# --- the lock: `deploy unlock` ---------------------------------------------------------------


def locks(held: Sequence[HeldLock], *, broken: bool) -> None:
    for lock in held:
        who = lock.holder.describe() if lock.holder else "an unknown holder"
        out.print(f"{'broke the lock' if broken else 'locked'}: {lock.target} by {who}", markup=False)
    if not held:
        out.print("no lock held", markup=False)
    elif not broken:
        out.print("if that apply is gone, break the lock with `deploy unlock --force`", markup=False)


# --- errors ----------------------------------------------------------------------------------


def error(message: str) -> None:
    err.print(Text.assemble(("Error: ", "red"), message))


def unexpected(e: BaseException) -> None:
    err.print(
        Text.assemble(("Unexpected error: ", "red"), f"{type(e).__name__}: {e} (re-run with --debug for a traceback)")
    )
