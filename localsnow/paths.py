"""Where the local Snowflake keeps its state under one home directory."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "LOCALSNOW_HOME"


def resolve_home(home: Path | str | None = None) -> Path:
    """The home directory: the argument, else $LOCALSNOW_HOME, else ./.localsnow."""
    if home is None:
        home = os.environ.get(HOME_ENV) or Path.cwd() / ".localsnow"
    return Path(home).expanduser().resolve()


@dataclass(frozen=True)
class Layout:
    """Every path the server and its clients agree on, derived from the home."""

    home: Path

    @property
    def server_file(self) -> Path:
        """pid and port of the running server (absent when stopped)."""
        return self.home / "server.json"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def global_db(self) -> Path:
        """fakesnow's cross-database catalog: stage metadata, comments."""
        return self.state_dir / "global.duckdb"

    @property
    def databases_dir(self) -> Path:
        """One DuckDB file per Snowflake database."""
        return self.state_dir / "databases"

    @property
    def functions_file(self) -> Path:
        return self.state_dir / "functions.json"

    @property
    def stages_dir(self) -> Path:
        """Stage files, laid out <DB>/<SCHEMA>/<STAGE>/<path> (fakesnow's bucket)."""
        return self.home / "stages"

    @property
    def udf_dir(self) -> Path:
        """Per function definition: flattened imports, inline code, scratch."""
        return self.home / "udf"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def create(self) -> None:
        for path in (self.state_dir, self.databases_dir, self.stages_dir, self.udf_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)


def stage_root(home: Path | str | None = None) -> Path:
    """The directory holding stage files (<DB>/<SCHEMA>/<STAGE>/<path>)."""
    return Layout(resolve_home(home)).stages_dir


def remove_tree(path: Path) -> None:
    """rmtree that also removes read-only trees (UDF import directories are 0555)."""
    if not path.exists():
        return
    for root, _dirs, _files in os.walk(path):
        os.chmod(root, os.stat(root).st_mode | stat.S_IRWXU)
    shutil.rmtree(path)
