"""The server's state: one account, shared by every session of one home directory."""

from __future__ import annotations

import hashlib
import hmac
import logging
from contextlib import suppress
from dataclasses import dataclass

from fakesnow.instance import FakeSnow

from localsnow import warehouses
from localsnow.daemon import ACCOUNT, read_password
from localsnow.functions import FunctionCatalog
from localsnow.packages import PackageSnapshot
from localsnow.paths import Layout
from localsnow.persistence import open_fakesnow
from localsnow.sessions import SessionRegistry
from localsnow.stages import StageStore
from localsnow.temporary import TemporaryObjects
from localsnow.udf_runtime import UdfRuntime

logger = logging.getLogger("localsnow.state")


@dataclass
class ServerState:
    layout: Layout
    password: str
    fakesnow: FakeSnow
    stages: StageStore
    catalog: FunctionCatalog
    runtime: UdfRuntime
    packages: PackageSnapshot
    sessions: SessionRegistry
    temporary: TemporaryObjects
    # CURRENT_ACCOUNT(): the account locator, upper case as Snowflake prints it.
    account: str = ACCOUNT.upper()

    def sign(self, path: str) -> str:
        """Signature for a stage-file URL handed to the connector (a 'presigned' URL)."""
        return hmac.new(self.password.encode(), path.encode(), hashlib.sha256).hexdigest()[:32]

    def counts(self) -> dict[str, int]:
        return {"stages": self.stages.count(), "functions": len(self.catalog.all())}

    def close(self) -> None:
        for session in self.sessions.all():
            self.end_session(session.token)
        self.runtime.shutdown()
        self.fakesnow.duck_conn.close()

    def warehouse_exists(self, name: str) -> bool:
        return any(row[0] == name for row in warehouses.rows(self.fakesnow.duck_conn))

    def end_session(self, token: str) -> None:
        """The client closed its session (or the server stops): drop its temporary objects."""
        session = self.sessions.close(token)
        if session is None:
            return
        dropped = self.temporary.end_session(session.id)
        for function in self.catalog.end_session(session.id):  # TEMPORARY functions end with it too
            self.runtime.unregister(function)
            dropped += 1
        with suppress(Exception):
            session.conn._duck_conn.close()
        logger.info("session %d ended (%d temporary objects dropped)", session.id, dropped)


def open_state(layout: Layout) -> ServerState:
    packages = PackageSnapshot.load()
    password = read_password(layout)
    fakesnow = open_fakesnow(layout, packages)
    # The password keys the emulated per-upload encryption of SNOWFLAKE_FULL stages (LIST md5).
    stages = StageStore(fakesnow.duck_conn, layout.stages_dir, password.encode())
    catalog = FunctionCatalog(layout.functions_file)
    runtime = UdfRuntime(layout, stages, fakesnow.duck_conn)
    for function in catalog.all():
        runtime.register(function)
    warehouses.create_table(fakesnow.duck_conn)
    temporary = TemporaryObjects(fakesnow.duck_conn, stages)
    if dropped := temporary.end_all():
        logger.info("dropped %d temporary objects left by sessions of an earlier run", dropped)
    logger.info("opened %s: %s", layout.home, {"functions": len(catalog.all())})
    return ServerState(layout, password, fakesnow, stages, catalog, runtime, packages, SessionRegistry(), temporary)
