"""A fakesnow instance whose state lives in DuckDB files under the home directory.

fakesnow keeps one DuckDB database per Snowflake database (ATTACHed by name)
plus a `_fs_global` catalog for cross-database metadata such as stages. In
server mode both are in memory. Here `_fs_global` is a file and every database
is created as a file (fakesnow's own `db_path` support), re-attached on start:
DuckDB's write-ahead log makes each statement durable, so even a killed server
keeps what it acknowledged, and nothing has to be replayed.
"""

from __future__ import annotations

import logging
import os
from contextlib import suppress

import fakesnow.macros as macros
import fakesnow.transforms.stage as fakesnow_stage
from fakesnow import info_schema
from fakesnow.instance import GLOBAL_DATABASE_NAME, FakeSnow
from fakesnow.transforms import show

from localsnow.names import quote_identifier
from localsnow.packages import PACKAGES_TABLE, PackageSnapshot
from localsnow.paths import Layout

logger = logging.getLogger("localsnow.persistence")


def use_stage_root(layout: Layout) -> None:
    """Point fakesnow's stage bucket (a temp dir by default) at the home directory."""
    default = fakesnow_stage.LOCAL_BUCKET_PATH
    fakesnow_stage.LOCAL_BUCKET_PATH = str(layout.stages_dir.resolve())
    if default != fakesnow_stage.LOCAL_BUCKET_PATH:
        with suppress(OSError):
            os.rmdir(default)  # the empty temp dir fakesnow made at import


def open_fakesnow(layout: Layout, snapshot: PackageSnapshot) -> FakeSnow:
    layout.create()
    use_stage_root(layout)
    # A login naming a database or schema that does not exist leaves the session without a
    # current one, as in Snowflake (snowflake-connector-python#26: "silently ignored if they
    # don't exist"); fakesnow would create them, hiding a missing `CREATE DATABASE`.
    instance = FakeSnow(db_path=layout.databases_dir, create_database_on_connect=False, create_schema_on_connect=False)
    duck = instance.duck_conn
    # Swap the in-memory global catalog for a file; its creation SQL is idempotent.
    duck.execute(f"DETACH {GLOBAL_DATABASE_NAME}")
    duck.execute(f"ATTACH '{layout.global_db}' AS {GLOBAL_DATABASE_NAME}")
    duck.execute(info_schema.fs_global_creation_sql())
    duck.execute(show.fs_global_creation_sql())
    for db_file in sorted(layout.databases_dir.glob("*.db")):
        attach_database(instance, db_file.stem)
    load_packages(instance, snapshot)
    return instance


def attach_database(instance: FakeSnow, name: str) -> None:
    path = instance.db_path / f"{name}.db"  # type: ignore[operator]
    duck = instance.duck_conn
    duck.execute(f"ATTACH IF NOT EXISTS '{path}' AS {quote_identifier(name)}")
    duck.execute(info_schema.per_db_creation_sql(name))
    duck.execute(macros.creation_sql(name))
    logger.info("attached database %s", name)


def forget_database(layout: Layout, name: str) -> None:
    """Delete a dropped database's file, so that a restart does not bring it back."""
    base = layout.databases_dir / f"{name}.db"
    for path in (base, base.with_name(f"{base.name}.wal")):
        path.unlink(missing_ok=True)


def load_packages(instance: FakeSnow, snapshot: PackageSnapshot) -> None:
    """(Re)load the package snapshot into the table information_schema.packages maps to."""
    duck = instance.duck_conn
    duck.execute(
        f"CREATE OR REPLACE TABLE {PACKAGES_TABLE} (PACKAGE_NAME VARCHAR, VERSION VARCHAR, "
        "LANGUAGE VARCHAR, RUNTIME_VERSION VARCHAR)"
    )
    duck.executemany(f"INSERT INTO {PACKAGES_TABLE} VALUES (?, ?, ?, ?)", snapshot.rows())
