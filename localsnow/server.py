"""The HTTP server: fakesnow's Starlette routes, with login and query handling wrapped.

Statements the local Snowflake implements itself are answered here; others are
rewritten and run on the fakesnow session, or passed to fakesnow's own route
unchanged. Started by `python -m localsnow serve`.
"""

from __future__ import annotations

import contextvars
import gzip
import hmac
import json
import logging
import os
import re
import secrets
import socket
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import fakesnow.server as fakesnow_server
import snowflake.connector.errors as sf_errors
import uvicorn
from fakesnow.converter import from_binding
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deploy import names
from localsnow import errors, faults
from localsnow.async_queries import RESULT_ROUTE, InProgress
from localsnow.context import BUCKET_ROUTE, Context, Delegate, Transfer
from localsnow.daemon import HEALTH_PATH, STATUS_PATH, USER
from localsnow.dispatch import route
from localsnow.execution import execute
from localsnow.paths import Layout, resolve_home
from localsnow.responses import ResultSet, error_body, result_body
from localsnow.sessions import DEFAULT_ROLE, DEFAULT_WAREHOUSE
from localsnow.stage_upload import IncompleteUpload, open_for_reading, receive_to_file, sweep_partial_uploads
from localsnow.state import ServerState, open_state

logger = logging.getLogger("localsnow.server")

_FORMATTED_PREFIX = re.compile(r"^\d{6} \([0-9A-Z]+\): (?:[\w-]+: )?")
_REPLACED_ROUTES = {"/session/v1/login-request", "/session", "/queries/v1/query-request", "/fs_bucket/{path:path}"}
# Exceptions fakesnow's route logs before answering HTTP 500, per request.
_fakesnow_failures: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "fakesnow_failures", default=None
)


class _CaptureFailures(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        failures = _fakesnow_failures.get()
        if failures is not None and record.exc_info and record.exc_info[1]:
            failures.append(record.exc_info[1])


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


def _identifier(text: str | None) -> str | None:
    """A login parameter's name (role, warehouse, user) as Snowflake resolves it: unquoted upper-cased."""
    if not text:
        return None
    try:
        return names.parse_identifier(text)
    except names.InvalidName:
        return text.upper()


def _bindings(bindings: dict[str, Any] | None) -> Any:
    """Bound parameters as fakesnow's cursor takes them (array bindings are not rewritten)."""
    if not bindings:
        return None
    if not all(k.isdigit() for k in bindings):
        return {name: from_binding(b) for name, b in bindings.items()}
    if any(isinstance(b["value"], list) for b in bindings.values()):
        raise errors.unsupported("array binding of a rewritten statement")
    return tuple(from_binding(bindings[str(i)]) for i in range(1, len(bindings) + 1))


def _unsupported_by_fakesnow(failures: list[BaseException]) -> dict[str, Any]:
    detail = str(failures[-1]).strip().splitlines()[0] if failures else "see the server log"
    return error_body(errors.sql_error(f"SQL execution error: {detail}", 100000, "22000"))


def _login_namespace(conn: Any) -> tuple[str | None, str | None]:
    """The session's current database and schema after login, as Snowflake sets them.

    A database or schema that does not exist is ignored, not an error (snowflake-connector-python
    issue #26: "silently ignored if they don't exist"); a database named without a schema lands
    in its PUBLIC schema when there is one (docs sql-reference/sql/use-database: "the PUBLIC
    schema ... is used by default"). fakesnow would keep the names and use DuckDB's `main`.
    """
    if conn.database and not conn.database_set:
        conn.database, conn._schema = None, None
    elif conn.database_set and not conn.schema_set and conn._schema:
        conn._schema = None  # named but missing: no current schema
    elif conn.database_set and not conn.schema_set:
        public = conn._duck_conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE upper(catalog_name) = ? AND schema_name = 'PUBLIC'",
            [conn.database.upper()],
        ).fetchall()
        if public:
            conn.cursor().execute(f"USE SCHEMA {names.quote(conn.database)}.PUBLIC")
    return conn.database, conn._schema if conn.schema_set else None


class App:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.in_progress = InProgress()

    def _check_signature(self, request: Request) -> Path | None:
        relative = request.path_params["path"]
        expected = self.state.sign(relative)
        if not hmac.compare_digest(request.query_params.get("sig", ""), expected):
            return None
        root = self.state.layout.stages_dir.resolve()
        target = (root / relative).resolve()
        return target if target.is_relative_to(root) and target != root else None

    async def login(self, request: Request) -> Response:
        body = await _json_body(request)
        password = str((body.get("data") or {}).get("PASSWORD") or "")
        if not hmac.compare_digest(password.encode(), self.state.password.encode()):
            return JSONResponse(
                {
                    "data": {"errorCode": "390100"},
                    "code": "390100",
                    "message": "Incorrect username or password was specified.",
                    "success": False,
                }
            )
        response = await fakesnow_server.login_request(request)  # reads the cached body
        return await run_in_threadpool(self._open_session, request, body, response)

    def _open_session(self, request: Request, body: dict[str, Any], response: Response) -> Response:
        """Add what Snowflake's login answer has and fakesnow's lacks: the session id, role and
        warehouse (the connector reads data.sessionId and sessionInfo.roleName/warehouseName,
        connector auth/_auth.py)."""
        payload = json.loads(bytes(response.body))
        data = payload.get("data") or {}
        token = data.get("token")
        conn = fakesnow_server.sessions.get(token) if token else None
        if conn is None:
            return response
        user = _identifier((body.get("data") or {}).get("LOGIN_NAME")) or USER
        role = _identifier(request.query_params.get("roleName")) or DEFAULT_ROLE
        warehouse = _identifier(request.query_params.get("warehouse")) or DEFAULT_WAREHOUSE
        # A warehouse that does not exist leaves the session without one, as in Snowflake.
        if not self.state.warehouse_exists(warehouse):
            warehouse = None
        session = self.state.sessions.open(token, conn, user, role, warehouse)
        self.state.runtime.parameters.login(conn, (body.get("data") or {}).get("SESSION_PARAMETERS"))
        database, schema = _login_namespace(conn)
        data["sessionId"] = session.id
        # Without a master token the connector skips its logout (network.py delete_session: "Connection
        # is closed"), and the session would never end here; Snowflake's login answer carries one.
        data.setdefault("masterToken", secrets.token_urlsafe(32))
        data.setdefault("sessionInfo", {}).update(
            {"roleName": role, "warehouseName": warehouse, "databaseName": database, "schemaName": schema}
        )
        logger.info("session %d opened (role %s, warehouse %s)", session.id, role, warehouse)
        return JSONResponse(payload)

    async def session(self, request: Request) -> Response:
        """fakesnow's /session route (heartbeat, delete); a deleted session's temporary objects go."""
        token = fakesnow_server.to_token(request) if request.headers.get("Authorization") else None
        if token and request.query_params.get("delete") and self.state.sessions.get(token):
            await run_in_threadpool(self.state.end_session, token)
        return await fakesnow_server.session(request)

    async def query(self, request: Request) -> Response:
        try:
            conn = fakesnow_server.to_conn(fakesnow_server.to_token(request))
        except fakesnow_server.ServerError as error:
            return JSONResponse(
                {"data": None, "code": error.code, "message": error.message, "success": False},
                status_code=error.status_code,
            )
        body = await _json_body(request)
        sql = body["sqlText"]
        logger.debug("statement%s: %s", " (describe only)" if body.get("describeOnly") else "", sql[:2000])
        session = self.state.sessions.get(fakesnow_server.to_token(request))
        if session is None:  # a token fakesnow knows but this server never opened: cannot happen
            return JSONResponse(error_body(errors.sql_error("Session no longer exists.", 390111, "08001")))

        base_url = f"{request.url.scheme}://{request.url.netloc}"

        async def run() -> Response:
            ctx = Context(self.state, conn, base_url, session, body.get("bindings"))
            ctx.request = self.state.sessions.start_request(session)
            try:
                return await self._answer(request, ctx, sql, body)
            finally:
                self.state.sessions.end_request(session, ctx.request)

        # Past a few seconds the answer is "in progress" and the client polls (localsnow.async_queries).
        return await self.in_progress.answer(fakesnow_server.to_token(request), request, run)

    async def query_result(self, request: Request) -> Response:
        """Where a client polls for a statement answered "in progress" (``getResultUrl``)."""
        token = fakesnow_server.to_token(request) if request.headers.get("Authorization") else None
        return await self.in_progress.result(request, token)

    async def _answer(self, request: Request, ctx: Context, sql: str, body: dict[str, Any]) -> Response:
        conn = ctx.conn
        try:
            outcome = await run_in_threadpool(route, ctx, sql)
            if isinstance(outcome, ResultSet):
                payload = result_body(outcome, conn.database, conn.schema)
                self.state.sessions.remember_result(payload["data"]["queryId"], outcome)
                return self._answered(ctx, payload)
            if isinstance(outcome, Transfer):
                return JSONResponse({"data": outcome.data, "success": True})
            return await self._delegate(request, ctx, sql, body, outcome)
        except sf_errors.DatabaseError as error:
            logger.info("statement failed: %s", (error.raw_msg or "").split("\n")[0])
            return self._answered(ctx, error_body(error))
        except Exception as error:
            logger.exception("internal error")
            return self._answered(ctx, error_body(errors.sql_error(f"Internal error: {error}", 100000, "XX000")))

    @staticmethod
    def _answered(ctx: Context, payload: dict[str, Any], status: int = 200) -> Response:
        """Note the statement's query id for LAST_QUERY_ID() (failed statements count too), and
        answer with the session's role and warehouse after it, as Snowflake does: the connector
        takes finalRoleName / finalWarehouseName from every answer (connection.py)."""
        data = payload.get("data")
        query_id = data.get("queryId") if isinstance(data, dict) else None
        if query_id:
            ctx.session.query_ids.append(str(query_id))
        if payload.get("success") and isinstance(data, dict) and "rowtype" in data:
            data["finalRoleName"] = ctx.session.role
            data["finalWarehouseName"] = ctx.session.warehouse
        return JSONResponse(payload, status_code=status)

    async def _delegate(
        self, request: Request, ctx: Context, sql: str, body: dict[str, Any], outcome: Delegate
    ) -> Response:
        if outcome.sql is None and outcome.like is None:
            payload, status = await self._fakesnow_query(request)
        else:
            run = (ctx.conn, outcome.sql or sql, _bindings(ctx.bindings), self.state.runtime, outcome.like)
            describe_only = bool(body.get("describeOnly"))
            payload, status = await run_in_threadpool(execute, *run, describe_only=describe_only), 200
        if payload.get("success") and outcome.after:
            await run_in_threadpool(outcome.after)
        return self._answered(ctx, payload, status)

    async def _fakesnow_query(self, request: Request) -> tuple[dict[str, Any], int]:
        """fakesnow's own route, its failures made into Snowflake error bodies."""
        failures: list[BaseException] = []
        token = _fakesnow_failures.set(failures)
        try:
            response = await fakesnow_server.query_request(request)
        finally:
            _fakesnow_failures.reset(token)
        if response.status_code >= 500:
            return _unsupported_by_fakesnow(failures), 200  # a 500 is retried until the timeout
        payload = json.loads(bytes(response.body))
        if not payload.get("success") and isinstance(payload.get("message"), str):
            # fakesnow sends the formatted text ("002003 (02000): None: ..."); the connector adds its own.
            payload["message"] = _FORMATTED_PREFIX.sub("", payload["message"])
            if (name := errors.duckdb_already_exists(payload["message"])) is not None:
                payload = error_body(errors.already_exists(name))  # Snowflake's 002002 (deploy.lock needs it)
        return payload, response.status_code

    async def bucket_put(self, request: Request) -> Response:
        """One stage file from the connector's presigned-URL PUT, streamed to disk (never held whole)."""
        target = self._check_signature(request)
        if target is None:
            return Response(status_code=403)
        length = request.headers.get("content-length")
        try:
            size = await receive_to_file(request.stream(), target, int(length) if length else None)
        except (ClientDisconnect, IncompleteUpload) as error:
            logger.info("upload of %s abandoned: %s", request.path_params["path"], error or "client disconnected")
            return Response(status_code=400)
        logger.info("stored %d bytes at %s", size, request.path_params["path"])
        return Response()

    async def bucket_get(self, request: Request) -> Response:
        target = self._check_signature(request)
        if target is None:
            return Response(status_code=403)
        opened = await run_in_threadpool(open_for_reading, target)
        if opened is None:
            return Response(status_code=404)
        size, chunks = opened
        return StreamingResponse(chunks, media_type="application/octet-stream", headers={"content-length": str(size)})

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"home": str(self.state.layout.home), "pid": os.getpid()})

    async def status(self, _request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.state.counts))


def create_app(state: ServerState) -> Starlette:
    app = App(state)
    fakesnow_server.shared_fs = state.fakesnow
    capture = _CaptureFailures()
    fakesnow_logger = logging.getLogger("fakesnow.server")
    if not any(isinstance(h, _CaptureFailures) for h in fakesnow_logger.handlers):
        fakesnow_logger.addHandler(capture)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    routes = [
        Route("/session/v1/login-request", app.login, methods=["POST"]),
        Route("/session", app.session, methods=["POST"]),
        Route("/queries/v1/query-request", app.query, methods=["POST"]),
        Route(RESULT_ROUTE, app.query_result, methods=["GET"]),
        Route(f"{BUCKET_ROUTE}/{{path:path}}", app.bucket_put, methods=["PUT"]),
        Route(f"{BUCKET_ROUTE}/{{path:path}}", app.bucket_get, methods=["GET"]),
        Route(HEALTH_PATH, app.health, methods=["GET"]),
        Route(STATUS_PATH, app.status, methods=["GET"]),
        *(r for r in fakesnow_server.routes if getattr(r, "path", None) not in _REPLACED_ROUTES),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=faults.middleware())  # tests only


def _configure_logging(layout: Layout) -> None:
    handler = logging.FileHandler(layout.log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    # LOCALSNOW_LOG_LEVEL=DEBUG logs every statement's text (it may hold literals: debugging only).
    root.setLevel(os.environ.get("LOCALSNOW_LOG_LEVEL", "INFO").upper())
    logging.captureWarnings(True)
    # fakesnow converts every result this way; the note would repeat on each query.
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")


def _write_server_file(layout: Layout, port: int) -> None:
    temp = layout.server_file.with_suffix(".tmp")
    info = {"pid": os.getpid(), "port": port, "home": str(layout.home), "started": time.time()}
    temp.write_text(json.dumps(info), "utf-8")
    os.replace(temp, layout.server_file)


def serve(home: Path | str | None, port: int = 0, daemon: bool = False) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM."""
    layout = Layout(resolve_home(home))
    layout.create()
    if daemon:
        with suppress(OSError):
            os.setsid()  # no terminal signals from the starting shell
    _configure_logging(layout)
    state = open_state(layout)
    # After open_state: DuckDB's lock on the state files means no other server of this home runs.
    sweep_partial_uploads(layout.stages_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound_port = sock.getsockname()[1]
    _write_server_file(layout, bound_port)
    logger.info("serving %s on 127.0.0.1:%d (pid %d)", layout.home, bound_port, os.getpid())
    config = uvicorn.Config(
        create_app(state),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        info_text = layout.server_file.read_text("utf-8") if layout.server_file.exists() else ""
        if info_text and json.loads(info_text).get("pid") == os.getpid():
            layout.server_file.unlink(missing_ok=True)
        logger.info("stopped")
