"""Where the local Snowflake keeps its state under one home directory."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "LOCALSNOW_HOME"
# The default home's name, in the project root.
HOME_DIRNAME = ".localsnow"
# The project root is the nearest directory, from a starting one upwards, holding one of these.
# deploy (manifest confinement) uses the same rule: one definition for both, here, because
# localsnow must not import deploy (UDF workers import localsnow).
PROJECT_MARKERS = ("snowflake.yml", "pyproject.toml", ".git")


def project_root(start: Path) -> Path:
    """The nearest folder from `start` upwards holding a project marker; `start` itself if none does."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return start


def resolve_home(home: Path | str | None = None) -> Path:
    """The home directory: the argument, else $LOCALSNOW_HOME, else <project root>/.localsnow.

    The project root is found from the working directory, so every folder of a
    project shares one embedded account (`cd udf && deploy sql ...` included).
    """
    if home is None:
        home = os.environ.get(HOME_ENV) or project_root(Path.cwd()) / HOME_DIRNAME
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
    def port_file(self) -> Path:
        """The port chosen with `start --port N`, kept for every later start (absent: any free port)."""
        return self.home / "port"

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
