"""A Python UDF worker process: imports the handler once, then runs batches on request.

Started by the server as
    python -X snowflake_import_directory=<dir>/ -m localsnow.udf_worker --fd N ...
so that the handler sees its IMPORTS the way Snowflake lays them out: one flat,
read-only directory named by sys._xoptions["snowflake_import_directory"], which
is also on sys.path (a handler `handler.summarize` imports module `handler`).
--packages names the Python distributions of the function's PACKAGES: the handler
may import them, their dependencies, the standard library, its IMPORTS and
`_snowflake`, and nothing else (localsnow.udf_imports), as in Snowflake. The
worker itself imports only the standard library before the handler, so nothing
it loaded can leak to the handler through sys.modules (and localsnow is hidden).
--memory-mb bounds the process's data segment (RLIMIT_DATA): past it, allocations fail with
MemoryError (localsnow.udf_limits says why not RLIMIT_AS).
Messages are pickled tuples over a socket inherited as fd N:
    -> ("ready", {...}) | ("error", text)          once, after importing the handler
    <- ("call", [column, ...])  -> ("ok", values) | ("error", text) | ("memory-exhausted", text)
    <- ("stop",)
After "memory-exhausted" the worker exits: what the handler kept may not be freed, and the
server starts a fresh worker for the next call.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import resource
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from localsnow import udf_imports

INLINE_MODULE = "_udf_code"
DROP_PATH_ENV = "LOCALSNOW_WORKER_DROP_PATH"
MEMORY_EXHAUSTED = "memory-exhausted"
_RESERVE_BYTES = 4 * 2**20


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localsnow.udf_worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--arg-types", default="", help="comma-separated DuckDB types")
    parser.add_argument("--return-type", required=True, help="DuckDB type")
    parser.add_argument("--inline-dir", help="directory holding _udf_code.py (inline body)")
    parser.add_argument("--packages", default="", help="comma-separated distributions the handler may import")
    parser.add_argument("--memory-mb", type=int, default=0, help="data segment limit in MiB (0: none)")
    return parser.parse_args(argv)


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _install_snowflake_stub() -> None:
    from localsnow import snowflake_stub

    sys.modules["_snowflake"] = snowflake_stub


def _isolate_sys_path(import_dir: str | None, inline_dir: str | None) -> list[str]:
    """Show the handler its imports, not the server's working tree; returns the handler's code paths."""
    dropped = {os.path.realpath(p) for p in os.environ.get(DROP_PATH_ENV, "").split(os.pathsep) if p}
    dropped.add(os.path.realpath(os.getcwd()))
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) not in dropped]
    front = [d for d in (inline_dir, import_dir) if d]
    if import_dir:
        # Snowflake puts imported .zip archives on the path too (zipimport).
        front += sorted(str(p) for p in Path(import_dir).glob("*.zip"))
    sys.path[:0] = front
    return front


def _enforce_packages(packages: list[str], code_paths: list[str]) -> None:
    """Let the handler import only what Snowflake would give it; say what the environment lacks."""
    closure = udf_imports.resolve(packages)
    print(
        f"localsnow: Python {sys.version.split()[0]} at {sys.executable}; PACKAGES resolve to "
        + (", ".join(f"{n} {v}" for n, v in sorted(closure.distributions.items())) or "nothing"),
        flush=True,
    )
    for name in closure.missing:
        print(
            f"localsnow: WARNING: '{name}' (from PACKAGES) is not installed in {sys.prefix}; the handler cannot "
            f"import it. Install it there (scripts/compat_env.sh builds .venv-compat) or set LOCALSNOW_UDF_PYTHON",
            flush=True,
        )
    udf_imports.ImportPolicy(closure.modules, code_paths).install()


def _load_handler(spec: str, inline_dir: str | None) -> Callable[..., Any]:
    if inline_dir:
        module_name, attribute = INLINE_MODULE, spec
    else:
        module_name, _, attribute = spec.rpartition(".")
        if not module_name:
            raise ValueError(f"handler '{spec}' must be <module>.<function> for staged code")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"handler '{spec}' is not callable")
    return target


def _format_error(error: BaseException) -> str:
    """The traceback from the handler's frames on, as Snowflake shows it: without the worker's
    frames nor importlib's (its import_module loads the handler's module)."""
    summary = traceback.TracebackException.from_exception(error)
    hidden = {os.path.realpath(__file__), os.path.realpath(importlib.__file__)}
    summary.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in summary.stack
            if os.path.realpath(frame.filename) not in hidden and not frame.filename.startswith("<frozen importlib")
        ]
    )
    return "".join(summary.format()).rstrip()


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    # pandas' missing markers; a worker whose handler never imported pandas has none.
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _to_plain(value: Any, duck_type: str) -> Any:
    """A handler's value as the plain Python value of the declared return type."""
    if hasattr(value, "item") and not isinstance(value, bytes | str):
        value = value.item()  # numpy scalar
    if duck_type == "DOUBLE":
        return None if value is None else float(value)
    if _is_missing(value):
        return None
    if duck_type == "VARCHAR":
        return value if isinstance(value, str) else str(value)
    if duck_type == "BIGINT":
        return int(value)
    if duck_type == "BOOLEAN":
        return bool(value)
    if duck_type == "TIMESTAMP" and hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if duck_type == "DATE" and isinstance(value, datetime.datetime):
        return value.date()
    return value


def _frame(columns: list[list[Any]], arg_types: list[str]) -> Any:
    """A DataFrame with integer column labels 0..n-1, typed as Snowflake passes them."""
    import pandas as pd

    series = {}
    for index, (values, duck_type) in enumerate(zip(columns, arg_types, strict=True)):
        if duck_type == "BIGINT":
            series[index] = pd.Series(pd.array(values, dtype="Int64"))
        elif duck_type == "DOUBLE":
            series[index] = pd.Series([math.nan if v is None else v for v in values], dtype="float64")
        elif duck_type == "BOOLEAN":
            series[index] = pd.Series(pd.array(values, dtype="boolean"))
        elif duck_type == "TIMESTAMP":
            series[index] = pd.Series(pd.to_datetime(values))
        else:
            series[index] = pd.Series(values, dtype=object)
    return pd.DataFrame(series)


def _output_list(output: Any, expected: int) -> list[Any]:
    if hasattr(output, "ndim") and getattr(output, "ndim", 1) == 2:
        output = output.iloc[:, 0] if hasattr(output, "iloc") else output[:, 0]
    values = output.tolist() if hasattr(output, "tolist") else list(output)
    if len(values) != expected:
        raise ValueError(f"vectorized UDF returned {len(values)} values for a batch of {expected} rows")
    return values


class Runner:
    def __init__(self, handler: Callable[..., Any], arg_types: list[str], return_type: str) -> None:
        self.handler = handler
        self.arg_types = arg_types
        self.return_type = return_type
        self.vectorized = getattr(handler, "_sf_vectorized_input", None) is not None
        self.max_batch_size: int | None = getattr(handler, "_sf_max_batch_size", None)

    def run(self, columns: list[list[Any]]) -> list[Any]:
        rows = len(columns[0]) if columns else 0
        if self.vectorized:
            values: list[Any] = []
            step = self.max_batch_size or rows or 1
            for start in range(0, rows, step):
                batch = [column[start : start + step] for column in columns]
                output = self.handler(_frame(batch, self.arg_types))
                values += _output_list(output, len(batch[0]))
        else:
            values = [self.handler(*row) for row in zip(*columns, strict=True)]
        return [_to_plain(v, self.return_type) for v in values]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    channel = Connection(args.fd)
    _limit_memory(args.memory_mb)
    reserve = bytearray(_RESERVE_BYTES)
    _install_snowflake_stub()
    code_paths = _isolate_sys_path(sys._xoptions.get("snowflake_import_directory"), args.inline_dir)  # type: ignore[arg-type]
    try:
        _enforce_packages([p for p in args.packages.split(",") if p], code_paths)
        runner = Runner(
            _load_handler(args.handler, args.inline_dir),
            [t for t in args.arg_types.split(",") if t],
            args.return_type,
        )
    except BaseException as error:
        channel.send(("error", _format_error(error)))
        return 1
    channel.send(("ready", {"vectorized": runner.vectorized, "max_batch_size": runner.max_batch_size}))
    while True:
        try:
            message = channel.recv()
        except (EOFError, OSError):
            return 0  # the server went away
        if message[0] != "call":
            return 0
        try:
            reply: tuple[str, Any] = ("ok", runner.run(message[1]))
        except MemoryError as error:
            reserve.clear()  # room to format the traceback at the limit
            reply = (MEMORY_EXHAUSTED, _format_error(error))
        except Exception as error:
            reply = ("error", _format_error(error))
        channel.send(reply)  # the handler's frames (and what they held) are freed by now
        if reply[0] == MEMORY_EXHAUSTED:
            return 3


if __name__ == "__main__":
    sys.exit(main())
