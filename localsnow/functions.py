"""The function catalog: Python UDF definitions, persisted as one JSON file."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localsnow.names import ObjectName, StageLocation
from localsnow.sqltypes import SqlType

FunctionKey = tuple[str, str, str, tuple[str, ...]]


@dataclass
class FunctionDef:
    """Everything CREATE FUNCTION said, as SHOW and DESCRIBE report it back."""

    id: str
    database: str
    schema: str
    name: str
    arg_names: list[str]
    arg_types: list[SqlType]
    returns: SqlType
    handler: str
    runtime_version: str
    # The IMPORTS strings exactly as given, and what they resolved to at CREATE time.
    imports: list[str]
    import_locations: list[tuple[str, str, str, str]]
    packages: list[str]
    installed_packages: list[str]
    created_on: float
    comment: str | None = None
    body: str | None = None
    null_handling: str = "CALLED ON NULL INPUT"
    volatility: str = "VOLATILE"
    is_secure: bool = False
    external_access_integrations: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    language: str = "PYTHON"
    # The session that created a TEMPORARY function; None for a permanent one. A temporary
    # function lasts as long as the session that created it (docs sql-reference/sql/create-function,
    # TEMP | TEMPORARY; Snowpark's UDFRegistration: UDFs "for the current session or permanently").
    session_id: int | None = None

    @property
    def temporary(self) -> bool:
        return self.session_id is not None

    @property
    def object_name(self) -> ObjectName:
        return ObjectName(self.database, self.schema, self.name)

    @property
    def key(self) -> FunctionKey:
        return (self.database, self.schema, self.name, tuple(t.base for t in self.arg_types))

    @property
    def signature_types(self) -> str:
        return ", ".join(t.base for t in self.arg_types)

    @property
    def stage_imports(self) -> list[StageLocation]:
        return [StageLocation(ObjectName(db, s, n), p) for db, s, n, p in self.import_locations]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["arg_types"] = [t.to_dict() for t in self.arg_types]
        data["returns"] = self.returns.to_dict()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionDef:
        data = dict(data)
        data["arg_types"] = [SqlType.from_dict(t) for t in data["arg_types"]]
        data["returns"] = SqlType.from_dict(data["returns"])
        data["import_locations"] = [tuple(loc) for loc in data["import_locations"]]
        return cls(**data)


class FunctionCatalog:
    """Thread-safe; every change to a permanent function is written through to disk atomically.

    Temporary functions live in memory only: no session outlives the server, so a restart
    finds none.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.RLock()
        self._functions: dict[FunctionKey, FunctionDef] = {}
        if path.exists():
            for item in json.loads(path.read_text("utf-8"))["functions"]:
                function = FunctionDef.from_json(item)
                self._functions[function.key] = function

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        payload = {"functions": [f.to_json() for f in self._functions.values() if not f.temporary]}
        tmp.write_text(json.dumps(payload, indent=1), "utf-8")
        os.replace(tmp, self._path)

    def get(self, key: FunctionKey) -> FunctionDef | None:
        with self._lock:
            return self._functions.get(key)

    def put(self, function: FunctionDef) -> FunctionDef | None:
        """Store `function`, returning the definition it replaced, if any."""
        with self._lock:
            previous = self._functions.get(function.key)
            self._functions[function.key] = function
            self._save()
            return previous

    def remove(self, key: FunctionKey) -> FunctionDef | None:
        with self._lock:
            removed = self._functions.pop(key, None)
            if removed:
                self._save()
            return removed

    def end_session(self, session_id: int) -> list[FunctionDef]:
        """Remove and return the temporary functions of a session that ended."""
        with self._lock:
            ended = [f for f in self._functions.values() if f.session_id == session_id]
            for function in ended:
                del self._functions[function.key]
            return ended

    def named(self, name: ObjectName) -> list[FunctionDef]:
        with self._lock:
            return [
                f
                for f in self._functions.values()
                if (f.database, f.schema, f.name) == (name.database, name.schema, name.name)
            ]

    def all(self) -> list[FunctionDef]:
        with self._lock:
            return sorted(self._functions.values(), key=lambda f: (f.database, f.schema, f.name))

    def in_scope(self, database: str | None = None, schema: str | None = None) -> list[FunctionDef]:
        return [
            f
            for f in self.all()
            if (database is None or f.database == database) and (schema is None or f.schema == schema)
        ]
