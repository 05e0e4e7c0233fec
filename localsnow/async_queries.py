"""Long statements answered as Snowflake does: "in progress", then the client polls for the result.

Snowflake does not hold a query request open for the whole statement: a statement still
running after a while is answered with code 333333 ("query in progress") and a
``getResultUrl``; the connector then GETs that URL until the answer is something else
(snowflake-connector-python network.py ``_post_request``: ``while ret.get("code") in
(QUERY_IN_PROGRESS_CODE, QUERY_IN_PROGRESS_ASYNC_CODE)``, ``ret["data"]["getResultUrl"]``;
its DEFAULT_SOCKET_CONNECT_TIMEOUT = 60 is commented "don't reduce less than 45 seconds"
for that reason). Doing the same here means every HTTP request the embedded server
answers is answered within :data:`ANSWER_WITHIN_S`, so a client's read timeout can be short
(a dead server is noticed) without cutting a UDF that runs for minutes.

A request retried by the connector (same ``requestId``, with ``retryCount``: connection.py
``cmd_query`` and network.py ``RetryCtx.add_retry_params``) joins the statement it
retries instead of running it again, as Snowflake dedupes a retried request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("localsnow.async_queries")

QUERY_IN_PROGRESS = "333333"
# Longest one HTTP answer waits for its statement; LOCALSNOW_ANSWER_WITHIN_S overrides (tests).
ANSWER_WITHIN_ENV = "LOCALSNOW_ANSWER_WITHIN_S"
ANSWER_WITHIN_S = 20.0
# A finished statement nobody polls for (its client died) is forgotten after this.
KEEP_UNCLAIMED_S = 600.0
RESULT_ROUTE = "/queries/{query_id}/result"


def answer_within() -> float:
    try:
        return float(os.environ.get(ANSWER_WITHIN_ENV, "") or ANSWER_WITHIN_S)
    except ValueError:
        return ANSWER_WITHIN_S


@dataclass
class _Running:
    task: asyncio.Task[Response]
    token: str  # the session that ran it: only it may collect the answer
    request_id: str | None


class InProgress:
    """The statements of one server that outlived their first HTTP answer."""

    def __init__(self, within: Callable[[], float] = answer_within) -> None:
        self._within = within
        self._by_id: dict[str, _Running] = {}
        self._by_request: dict[tuple[str, str], str] = {}

    async def answer(self, token: str, request: Request, run: Callable[[], Coroutine[Any, Any, Response]]) -> Response:
        """``run()``'s response if it finishes in time, else an in-progress answer to poll."""
        request_id = request.query_params.get("requestId")
        known = self._by_request.get((token, request_id)) if request_id else None
        if known is not None and known in self._by_id:
            logger.info("request %s retried: joining its running statement", request_id)
            return await self._wait(known)
        query_id = str(uuid.uuid4())
        task = asyncio.ensure_future(run())
        loop = asyncio.get_running_loop()
        task.add_done_callback(lambda _: loop.call_later(KEEP_UNCLAIMED_S, self._forget, query_id))
        self._by_id[query_id] = _Running(task, token, request_id)
        if request_id:
            self._by_request[(token, request_id)] = query_id
        return await self._wait(query_id)

    async def result(self, request: Request, token: str | None) -> Response:
        """The route behind ``getResultUrl``."""
        query_id = request.path_params["query_id"]
        running = self._by_id.get(query_id)
        if running is None or running.token != token:
            return JSONResponse(
                {"data": None, "code": "000709", "message": f"Statement {query_id} not found", "success": False}
            )
        return await self._wait(query_id)

    async def _wait(self, query_id: str) -> Response:
        running = self._by_id[query_id]
        done, _ = await asyncio.wait({running.task}, timeout=self._within())
        if not done:
            return _in_progress(query_id)
        self._forget(query_id)
        return running.task.result()

    def _forget(self, query_id: str) -> None:
        running = self._by_id.pop(query_id, None)
        if running is not None and running.request_id:
            self._by_request.pop((running.token, running.request_id), None)


def _in_progress(query_id: str) -> Response:
    return JSONResponse(
        {
            "data": {"queryId": query_id, "getResultUrl": RESULT_ROUTE.format(query_id=query_id)},
            "code": QUERY_IN_PROGRESS,
            "message": "Query execution is in progress.",
            "success": True,
        }
    )
