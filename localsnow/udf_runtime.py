"""Runs Python UDFs: DuckDB functions that forward batches to per-function worker processes.

Each function definition is registered on the shared DuckDB database as a
vectorized (arrow) function named `_ls_udf_<id>`; queries are rewritten to call
it. Calls go to one long-lived worker process per definition, so a handler's
module (and the model it loads) is imported once, as in a Snowflake Python
process; a replaced or dropped definition stops its worker.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

import localsnow
from localsnow.functions import FunctionDef
from localsnow.paths import Layout, remove_tree
from localsnow.stages import StageStore
from localsnow.udf_worker import DROP_PATH_ENV

logger = logging.getLogger("localsnow.udf")

TIMEOUT_ENV = "LOCALSNOW_UDF_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0
# DuckDB reports a UDF's exception as text; this marker carries our error's key through it.
ERROR_MARKER = "localsnow-udf-error:"
_MARKER_PATTERN = re.compile(re.escape(ERROR_MARKER) + r"([0-9a-f]{32})")

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BLOB": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


class UdfError(Exception):
    """A handler failure, worker crash or timeout, already worded for the user."""


def sql_name(function: FunctionDef) -> str:
    return f"_ls_udf_{function.id}"


def executable(function: FunctionDef) -> bool:
    """Whether every argument and the result has a type the runtime can pass."""
    types = [*function.arg_types, function.returns]
    return bool(function.arg_types) and all(t.duckdb for t in types)


def _package_parent() -> str | None:
    """The source tree holding `localsnow`, when it is not installed in site-packages."""
    parent = Path(localsnow.__file__).resolve().parent.parent
    return None if parent.name in ("site-packages", "dist-packages") else str(parent)


class Worker:
    """One handler process; calls are serialized, as DuckDB may call from several threads."""

    def __init__(self, function: FunctionDef, directory: Path, log_path: Path, timeout: float):
        self.function = function
        self.directory = directory
        self.log_path = log_path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None

    def _start(self) -> None:
        function = self.function
        inline_dir = self.directory / "code" if function.body is not None else None
        scratch = self.directory / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        parent_end, child_end = socket.socketpair()
        imports = f"snowflake_import_directory={self.directory / 'imports'}/"
        command = [sys.executable, "-X", imports, "-m", "localsnow.udf_worker"]
        command += ["--fd", str(child_end.fileno()), "--handler", function.handler]
        command += ["--arg-types", ",".join(t.duckdb or "" for t in function.arg_types)]
        command += ["--return-type", function.returns.duckdb or ""]
        if inline_dir:
            command += ["--inline-dir", str(inline_dir)]
        env = dict(os.environ)
        if source := _package_parent():
            env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
            env[DROP_PATH_ENV] = source
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                pass_fds=[child_end.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=scratch,
                env=env,
            )
        child_end.close()
        self._channel = Connection(parent_end.detach())
        logger.info("started worker pid %s for %s", self._process.pid, function.object_name.dotted)
        status, payload = self._receive()
        if status != "ready":
            self.close()
            raise UdfError(str(payload))

    def _receive(self) -> tuple[str, Any]:
        assert self._channel and self._process
        if not self._channel.poll(self.timeout):
            self.close(kill=True)
            raise UdfError(
                f"Python UDF worker did not answer within {self.timeout:g} seconds "
                f"(set {TIMEOUT_ENV} to change the limit)"
            )
        try:
            return self._channel.recv()
        except (EOFError, OSError):
            code = self._process.wait(timeout=5)
            self.close()
            raise UdfError(f"Python UDF worker exited unexpectedly (exit code {code}); see {self.log_path}") from None

    def call(self, columns: list[list[Any]]) -> list[Any]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self.close()
                self._start()
            assert self._channel
            try:
                self._channel.send(("call", columns))
            except OSError:
                self.close()
                raise UdfError("Python UDF worker went away; retry the query") from None
            status, payload = self._receive()
        if status != "ok":
            raise UdfError(str(payload))
        return payload

    def close(self, kill: bool = False) -> None:
        """Stop the process: ask it to exit (a busy one is killed after 2 s), or kill it now."""
        if kill and self._process is not None:
            self._process.kill()
        if self._channel is not None:
            with contextlib.suppress(OSError):
                self._channel.send(("stop",))
            self._channel.close()
            self._channel = None
        if self._process is not None:
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class UdfRuntime:
    def __init__(
        self, layout: Layout, stages: StageStore, duck: duckdb.DuckDBPyConnection, timeout: float | None = None
    ) -> None:
        self._layout = layout
        self._stages = stages
        self._duck = duck
        self._timeout = timeout or float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
        self._workers: dict[str, Worker] = {}
        self._errors: dict[str, str] = {}
        self._callables: dict[str, Callable[..., pa.Array]] = {}
        self._lock = threading.Lock()
        self._register_lock = threading.Lock()

    # -- registration -------------------------------------------------------------------------

    def register(self, function: FunctionDef) -> None:
        """Make `_ls_udf_<id>` callable from every session.

        DuckDB keeps a registered function in the database's catalog but only a borrowed
        reference to the Python callable, owned by the registering connection: register on
        the long-lived main connection and keep the callable alive here (a collected one
        crashes the process when called).
        """
        if not executable(function):
            return  # metadata only; calling it reports the unsupported type
        implementation = self._callable(function)
        with self._register_lock:
            self._duck.create_function(
                sql_name(function),
                implementation,
                [duckdb.sqltype(t.duckdb) for t in function.arg_types],  # type: ignore[arg-type]
                duckdb.sqltype(function.returns.duckdb),  # type: ignore[arg-type]
                type="arrow",
                null_handling="special",
                side_effects=function.volatility == "VOLATILE",
            )
            self._callables[function.id] = implementation

    def unregister(self, function: FunctionDef) -> None:
        with self._register_lock:
            if self._callables.pop(function.id, None) is not None:
                self._duck.remove_function(sql_name(function))
        with self._lock:
            worker = self._workers.pop(function.id, None)
        if worker:
            worker.close()
        remove_tree(self._layout.udf_dir / function.id)

    def _callable(self, function: FunctionDef) -> Callable[..., pa.Array]:
        def call(*arrays: pa.Array) -> pa.Array:
            return self._run(function, arrays)

        # DuckDB checks the callable's arity against the declared argument types.
        call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(function.arg_types))]
        )
        return call

    # -- execution ----------------------------------------------------------------------------

    def _run(self, function: FunctionDef, arrays: tuple[pa.Array, ...]) -> pa.Array:
        try:
            columns = [array.to_pylist() for array in arrays]
            rows = len(columns[0])
            if function.null_handling == "CALLED ON NULL INPUT":
                keep = list(range(rows))
            else:  # RETURNS NULL ON NULL INPUT: the handler never sees a NULL
                keep = [i for i in range(rows) if all(c[i] is not None for c in columns)]
            values: list[Any] = [None] * rows
            if keep:
                subset = [[column[i] for i in keep] for column in columns]
                for index, value in zip(keep, self._worker(function).call(subset), strict=True):
                    values[index] = value
            return pa.array(values, type=_ARROW_TYPES[function.returns.duckdb or "VARCHAR"])
        except UdfError as error:
            key = uuid.uuid4().hex
            self._errors[key] = (
                f"Python Interpreter Error:\n{error}\n in function {function.name} with handler {function.handler}"
            )
            raise RuntimeError(ERROR_MARKER + key) from None

    def take_error(self, text: str) -> str | None:
        """The user-facing message behind a DuckDB error raised by `_run`, if it is one."""
        match = _MARKER_PATTERN.search(text)
        return self._errors.pop(match.group(1), None) if match else None

    def _worker(self, function: FunctionDef) -> Worker:
        with self._lock:
            worker = self._workers.get(function.id)
            if worker is None:
                directory = self._materialize(function)
                log_path = self._layout.logs_dir / f"udf-{function.name.lower()}-{function.id[:8]}.log"
                worker = Worker(function, directory, log_path, self._timeout)
                self._workers[function.id] = worker
            return worker

    def _materialize(self, function: FunctionDef) -> Path:
        """Lay the imports out flat and read-only, as Snowflake does; inline code beside them."""
        directory = self._layout.udf_dir / function.id
        imports = directory / "imports"
        if not imports.is_dir():
            staging = directory / f"imports.tmp-{uuid.uuid4().hex[:8]}"
            staging.mkdir(parents=True)
            try:
                for text, location in zip(function.imports, function.stage_imports, strict=True):
                    file = self._stages.file(location)
                    if file is None:
                        raise UdfError(f"Failed to access import {text}: file does not exist on the stage")
                    target = staging / Path(location.path).name
                    shutil.copyfile(file.path, target)
                    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                staging.chmod(0o555)
                os.replace(staging, imports)
            finally:
                remove_tree(staging)
        if function.body is not None:
            code = directory / "code"
            code.mkdir(exist_ok=True)
            (code / "_udf_code.py").write_text(function.body, "utf-8")
        return directory

    def shutdown(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close()
