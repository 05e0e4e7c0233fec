"""Which definition of each Python UDF a statement runs: CREATE OR REPLACE is atomic for callers.

Snowflake: "CREATE OR REPLACE <object> statements are atomic. That is, when an object is replaced,
the old object is deleted and the new object is created in a single transaction"
(https://docs.snowflake.com/en/sql-reference/sql/create, general usage notes). A caller never
finds the function missing, and each statement runs one whole definition.

Here every definition has its own DuckDB function, `_ls_udf_<id>`, and a statement names the ids
its rewrite found in the catalog. Just before it runs, `bind` maps each id to a definition that is
still live (the named one, or, if that was replaced meanwhile, the current one of the same
signature) and leases it for the statement's whole run. A replace publishes the new definition
(registered beforehand under its own name), then retires the old one; a retired definition is
finished (DuckDB function removed, workers stopped) when its last lease ends, never under a
running statement.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from localsnow import errors
from localsnow.functions import FunctionDef, FunctionKey

NAME_PREFIX = "_ls_udf_"
# The rewrite's SQL may spell the name upper-case (sqlglot writes Snowflake's unquoted names so).
_CALL_NAME = re.compile(re.escape(NAME_PREFIX) + r"([0-9a-f]{32})", re.IGNORECASE)
# Ids of finished definitions remembered to remap a statement rewritten just before the replace.
_GONE_KEPT = 4096


def sql_name(function: FunctionDef) -> str:
    return f"{NAME_PREFIX}{function.id}"


@dataclass
class _Live:
    """A registered definition and the deadlines of the statements running it (one per lease)."""

    function: FunctionDef
    retired: bool = False
    deadlines: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Lease:
    """The definitions one statement runs, until `DefinitionVersions.release`."""

    sql: str
    ids: tuple[str, ...]
    deadline: float = math.inf


class DefinitionVersions:
    """Thread-safe bookkeeping of live, current and finished definitions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._current: dict[FunctionKey, str] = {}
        self._gone: OrderedDict[str, FunctionDef] = OrderedDict()

    def add(self, function: FunctionDef, publish: bool = True) -> None:
        """A definition whose DuckDB function exists; published, statements resolve its signature to it."""
        with self._lock:
            self._live[function.id] = _Live(function)
            if publish:
                self._current[function.key] = function.id

    def publish(self, function: FunctionDef) -> FunctionDef | None:
        """Statements resolve the signature to `function` from now; returns the definition they did."""
        with self._lock:
            previous = self._current.get(function.key)
            if function.id in self._live:
                self._current[function.key] = function.id
            live = self._live.get(previous) if previous and previous != function.id else None
            return live.function if live is not None else None

    def retire(self, function: FunctionDef) -> bool:
        """No new statement runs `function`; True when none runs it now (finish it), else the last lease does."""
        with self._lock:
            if self._current.get(function.key) == function.id:
                del self._current[function.key]
            self._gone[function.id] = function
            while len(self._gone) > _GONE_KEPT:
                self._gone.popitem(last=False)
            live = self._live.get(function.id)
            if live is None:
                return True
            live.retired = True
            if live.deadlines:
                return False
            del self._live[function.id]
            return True

    def is_live(self, function_id: str) -> bool:
        with self._lock:
            return function_id in self._live

    def bind(self, sql: str, deadline: float = math.inf) -> Lease:
        """The statement with each definition it names mapped to a live one, leased until `release`."""
        named = {function_id.lower() for function_id in _CALL_NAME.findall(sql)}
        if not named:
            return Lease(sql, ())
        with self._lock:
            targets = {}
            for function_id in named:
                target = self._resolve(function_id)
                if target is not None:
                    targets[function_id] = target
            leased = tuple(sorted(set(targets.values())))
            for function_id in leased:
                self._live[function_id].deadlines.append(deadline)
        bound = _CALL_NAME.sub(lambda m: NAME_PREFIX + targets.get(m[1].lower(), m[1]), sql)
        return Lease(bound, leased, deadline)

    def _resolve(self, function_id: str) -> str | None:
        live = self._live.get(function_id)
        if live is not None and not live.retired:
            return function_id
        replaced = live.function if live is not None else self._gone.get(function_id)
        if replaced is None:
            return None  # not one of ours: DuckDB reports it
        current = self._current.get(replaced.key)
        if current is None:  # dropped after the statement was compiled
            raise errors.compilation_error(
                f"Unknown user-defined function {replaced.object_name.dotted}.", errors.UNKNOWN_FUNCTION
            )
        return current

    def release(self, lease: Lease) -> list[FunctionDef]:
        """End a statement's lease; returns the retired definitions no statement runs any more."""
        finished = []
        with self._lock:
            for function_id in lease.ids:
                live = self._live[function_id]
                live.deadlines.remove(lease.deadline)
                if live.retired and not live.deadlines:
                    del self._live[function_id]
                    finished.append(live.function)
        return finished

    def deadline(self, function_id: str) -> float:
        """When the statements running a definition must end: the latest of their deadlines, so that
        a batch shared by statements is never cut before its own statement's limit."""
        with self._lock:
            live = self._live.get(function_id)
            return max(live.deadlines, default=math.inf) if live is not None else math.inf

    def live(self) -> list[FunctionDef]:
        with self._lock:
            return [live.function for live in self._live.values()]
