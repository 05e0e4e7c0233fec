"""`deploy eval`: score the deployed function with ROUGE against a reference column, through SQL.

One query runs the function where it is deployed:

    SELECT key, input, reference, DB.SCHEMA.FN(input) FROM table [WHERE ...] ORDER BY key LIMIT n

and the rows it returns are scored here: ROUGE-1/2/L/Lsum of the function's
outputs against the references, and Lead-3 (the first three sentences of the
input) on the same rows as the baseline any summarizer should beat. Scoring is
`training.rouge`'s, the same the training job reports, so the numbers compare.

Rows whose input or reference is NULL are left out of the scores (and
counted); a NULL output for a non-NULL input counts as an empty summary.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from deploy.errors import DeployError, SnowflakeError
from deploy.names import FQN, InvalidName, split_parts
from deploy.session import Session
from deploy.sql import literal, qualified

ROUGE_EXTRA_HINT = "pip install 't5-snowflake-deploy[eval]' (or [ml])"
# Column aliases of the evaluation query (Session lower-cases result column names).
KEY, INPUT, REFERENCE, OUTPUT = "KEY", "INPUT", "REFERENCE", "OUTPUT"


# --- Names --------------------------------------------------------------------------------------


# How each way a name fails to parse reads to the user.
_NAME_PROBLEMS = {
    InvalidName.UNBALANCED: "unbalanced double quote in name {name!r}",
    InvalidName.EMPTY_QUOTED: "empty quoted identifier in name {name!r}",
    InvalidName.AFTER_QUOTE: "not a valid name: {name!r} (expected '.' after a quoted part)",
}
_NOT_A_NAME = (
    "not a valid name: {name!r} (use letters, digits, _ and $, or double-quote a part: 'db.schema.\"My Table\"')"
)


def split_name(name: str) -> list[str]:
    """Parts of a dotted SQL name as Snowflake resolves them: bare parts upper-cased, "quoted" parts verbatim.

    `news` -> ["NEWS"]; `db.sc."My Table"` -> ["DB", "SC", "My Table"].
    """
    try:
        return list(split_parts(name))
    except InvalidName as e:
        raise DeployError(_NAME_PROBLEMS.get(e.reason, _NOT_A_NAME).format(name=name)) from None


def resolve_table(name: str, database: str, schema: str) -> tuple[str, str, str]:
    """(database, schema, table) for `table`, `schema.table` or `database.schema.table`; defaults fill the rest."""
    parts = split_name(name)
    if len(parts) > 3:
        raise DeployError(f"not a table name: {name!r} (at most database.schema.table)")
    return FQN.from_parts(parts, database, schema).parts


def single_name(name: str, what: str = "column") -> str:
    """One identifier (a column, a database, a schema): upper-cased unless double-quoted."""
    parts = split_name(name)
    if len(parts) != 1:
        raise DeployError(f"not a {what} name: {name!r}")
    return parts[0]


def dotted(parts: Sequence[str]) -> str:
    """A name for messages: the parts joined by dots, unquoted."""
    return ".".join(parts)


# --- Query --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalQuery:
    """What to evaluate: `function(input)` against `reference`, over the rows of `table`, ordered by `key`."""

    function: tuple[str, str, str]
    table: tuple[str, str, str]
    input: str = "ARTICLE"
    reference: str = "SUMMARY"
    key: str = "ID"
    where: str | None = None  # a SQL condition, inserted as written (the user's own statement, as `deploy sql`)
    limit: int | None = 100  # None or 0: every row

    @property
    def columns(self) -> tuple[str, str, str]:
        return self.key, self.input, self.reference

    def sql(self) -> str:
        key, inp, ref = (qualified(c) for c in self.columns)
        fn = qualified(*self.function)
        statement = (
            f"SELECT {key} AS {qualified(KEY)}, {inp} AS {qualified(INPUT)}, {ref} AS {qualified(REFERENCE)}, "
            f"{fn}({inp}) AS {qualified(OUTPUT)} FROM {qualified(*self.table)}"
        )
        if self.where and self.where.strip():
            statement += f" WHERE ({self.where.strip()})"
        statement += f" ORDER BY {key}"
        if self.limit:
            statement += f" LIMIT {int(self.limit)}"
        return statement


def columns_sql(table: tuple[str, str, str]) -> str:
    """The columns of a table or view, in order, from its database's INFORMATION_SCHEMA."""
    db, sc, name = table
    return (
        f"SELECT COLUMN_NAME FROM {qualified(db, 'INFORMATION_SCHEMA', 'COLUMNS')} "
        f"WHERE TABLE_SCHEMA = {literal(sc)} AND TABLE_NAME = {literal(name)} ORDER BY ORDINAL_POSITION"
    )


# --- Scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    key: Any
    summary: str
    reference: str


@dataclass(frozen=True)
class Scorable:
    """The rows that can be scored, and how many could not."""

    keys: list[Any] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    skipped: int = 0  # NULL input or NULL reference
    null_outputs: int = 0  # NULL output for a non-NULL input: scored as ""


def scorable(rows: Sequence[dict[str, Any]]) -> Scorable:
    """Split query rows (keys key/input/reference/output) into scorable pairs and a count of skipped rows."""
    keys: list[Any] = []
    inputs: list[str] = []
    references: list[str] = []
    outputs: list[str] = []
    skipped = null_outputs = 0
    for row in rows:
        inp, ref, out = row[INPUT.lower()], row[REFERENCE.lower()], row[OUTPUT.lower()]
        if inp is None or ref is None:
            skipped += 1
            continue
        null_outputs += out is None
        keys.append(row[KEY.lower()])
        inputs.append(str(inp))
        references.append(str(ref))
        outputs.append("" if out is None else str(out))
    return Scorable(keys, inputs, references, outputs, skipped, null_outputs)


@dataclass(frozen=True)
class EvalResult:
    function: str
    table: str
    rows: int  # scored
    skipped: int
    null_outputs: int
    seconds: float  # wall time of the query (the function ran on rows + skipped rows)
    rouge: dict[str, float]
    lead3: dict[str, float]
    examples: list[Example]

    @property
    def rows_per_second(self) -> float:
        fetched = self.rows + self.skipped
        return round(fetched / self.seconds, 2) if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["seconds"] = round(self.seconds, 3)
        doc["rows_per_second"] = self.rows_per_second
        return doc


def require_rouge() -> None:
    if importlib.util.find_spec("rouge_score") is None:
        raise DeployError(
            f"ROUGE needs the rouge-score package, which is not installed; install it with {ROUGE_EXTRA_HINT}"
        )


def score(
    rows: Sequence[dict[str, Any]], *, seconds: float, function: str, table: str, examples: int = 3
) -> EvalResult:
    """ROUGE of the outputs against the references, and Lead-3 of the inputs, over the scorable rows."""
    from training.rouge import lead3_scores, rouge

    s = scorable(rows)
    if not s.keys:
        raise DeployError(
            f"nothing to score: all {s.skipped} row(s) of {table} have a NULL input or reference"
            if s.skipped
            else f"no rows to evaluate in {table}"
        )
    return EvalResult(
        function=function,
        table=table,
        rows=len(s.keys),
        skipped=s.skipped,
        null_outputs=s.null_outputs,
        seconds=seconds,
        rouge=rouge(s.outputs, s.references),
        lead3=lead3_scores(s.inputs, s.references),
        examples=[Example(k, o, r) for k, o, r in zip(s.keys[:examples], s.outputs, s.references, strict=False)],
    )


# --- Against an account -------------------------------------------------------------------------


def table_columns(session: Session, table: tuple[str, str, str]) -> list[str] | None:
    """Column names of `table`, or None where it does not exist (or the role cannot see it)."""
    try:
        rows = session.query(columns_sql(table))
    except SnowflakeError:
        return None  # e.g. the database does not exist
    return [r["column_name"] for r in rows] or None


def _diagnose(session: Session, query: EvalQuery, error: SnowflakeError) -> DeployError:
    """A one-line reason for a failed evaluation query where it is a missing table or column; else the error."""
    table = dotted(query.table)
    columns = table_columns(session, query.table)
    if columns is None:
        return DeployError(f"table {table} does not exist (or this role cannot see it)")
    for option, column in zip(("--key", "--input", "--reference"), query.columns, strict=True):
        if column not in columns:
            return DeployError(
                f"table {table} has no column {column} (pass {option}; its columns: {', '.join(columns)})"
            )
    return error


def evaluate(session: Session, query: EvalQuery, *, examples: int = 3) -> EvalResult:
    """Run the evaluation query (timed) and score what it returns."""
    require_rouge()
    t0 = time.perf_counter()
    try:
        rows = session.query(query.sql())
    except SnowflakeError as e:
        raise _diagnose(session, query, e) from None
    seconds = time.perf_counter() - t0
    where = f" matching {query.where.strip()!r}" if query.where and query.where.strip() else ""
    if not rows:
        raise DeployError(f"no rows to evaluate in {dotted(query.table)}{where}")
    return score(rows, seconds=seconds, function=dotted(query.function), table=dotted(query.table), examples=examples)
