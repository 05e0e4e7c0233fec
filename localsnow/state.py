"""The server's state: one account, shared by every session of one home directory."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from fakesnow.instance import FakeSnow

from localsnow.daemon import read_password
from localsnow.functions import FunctionCatalog
from localsnow.packages import PackageSnapshot
from localsnow.paths import Layout
from localsnow.persistence import open_fakesnow
from localsnow.stages import StageStore
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

    def sign(self, path: str) -> str:
        """Signature for a stage-file URL handed to the connector (a 'presigned' URL)."""
        return hmac.new(self.password.encode(), path.encode(), hashlib.sha256).hexdigest()[:32]

    def counts(self) -> dict[str, int]:
        return {"stages": self.stages.count(), "functions": len(self.catalog.all())}

    def close(self) -> None:
        self.runtime.shutdown()
        self.fakesnow.duck_conn.close()


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
    logger.info("opened %s: %s", layout.home, {"functions": len(catalog.all())})
    return ServerState(layout, password, fakesnow, stages, catalog, runtime, packages)
