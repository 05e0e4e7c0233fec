"""Plan -> statements (compile), then run them (apply).

``compile_plan`` is pure and is also what ``plan --format sql`` prints, so
the SQL a reviewer reads is exactly the SQL apply runs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from deploy.artifacts import HashCache
from deploy.errors import PlanStale, PolicyViolation
from deploy.local_file import LocalFile
from deploy.names import StagePath
from deploy.payloads import (
    DatabaseProps,
    FunctionProps,
    ListedVersion,
    SchemaProps,
    StageProps,
    StageRemoval,
    StageVersion,
)
from deploy.plan import Action, Change, Kind, Plan
from deploy.provenance import Provenance, ReleaseRecord, gather
from deploy.session import Session
from deploy.spec import MARKER_NAME, marker_content, split_import
from deploy.sql import ident, literal, put_source, qualified, remove_statement, stage_location
from deploy.state import RELEASES_FOLDER, split_tag, tag
from deploy.text import one_line


@dataclass(frozen=True)
class Step:
    sql: str
    upload_bytes: int = 0
    marker: bytes | None = None  # written to the PUT's local path just before it runs
    marker_path: str | None = None
    upload_name: str | None = None  # a PUT's file name, shown by the upload progress (deploy.upload_progress)

    @property
    def is_ddl(self) -> bool:
        return not self.sql.startswith(("PUT ", "REMOVE "))


# Called before each step; may return a function called with the step's seconds once it ran.
OnStep = Callable[[int, int, Step], Callable[[float], None] | None]


@dataclass(frozen=True)
class ApplyResult:
    statements: int
    ddl: int
    files_uploaded: int
    bytes_uploaded: int
    removed_paths: int
    seconds: float


def _put(local: str | Path, db: str, sc: str, stage: str, prefix: str) -> str:
    # AUTO_COMPRESS=FALSE: Snowflake would otherwise store model.safetensors.gz,
    # which the UDF cannot import under its own name.
    return f"PUT {put_source(str(local))} {stage_location(db, sc, stage, prefix)} AUTO_COMPRESS=FALSE OVERWRITE=TRUE"


def _function_ddl(a: FunctionProps) -> str:
    args = ", ".join(f"{ident(n)} {t}" for n, t in a.args)
    imports = []
    for imp in a.imports:
        # Imports are normalised paths of declared stages (identifier names, stored upper-case),
        # which read back as written: @DB.S.LLM/<version>/<file>.
        path = StagePath.parse(imp)
        imports.append(literal(stage_location(*path.stage.parts, path.path)))
    packages = ", ".join(literal(p) for p in a.packages)
    return (
        f"CREATE OR REPLACE FUNCTION {qualified(a.database, a.schema, a.name)}({args})"
        f" COPY GRANTS RETURNS {a.returns} LANGUAGE PYTHON {a.null_handling} {a.volatility}"
        f" RUNTIME_VERSION = {literal(a.runtime)}"
        f" PACKAGES = ({packages})"
        f" IMPORTS = ({', '.join(imports)})"
        f" HANDLER = {literal(a.handler)}"
        f" COMMENT = {literal(a.comment)}"
    )


def _uploaded(u: LocalFile) -> str | Path:
    """The local file a PUT reads; a plan read from a file has one once deploy.saved_plan resolved it."""
    if u.source is None:
        raise PlanStale(f"{u.name}: the plan names its file as {u.ref}, not resolved to a local file")
    return u.source


def compile_change(change: Change, marker_dir: Path, provenance: Provenance | None = None) -> list[Step]:
    # Each (kind, action) with the payloads the diff gives it (deploy.payloads; docs/plan-format.md).
    match change.kind, change.action, change.after, change.before:
        case Kind.DATABASE, Action.CREATE, DatabaseProps() as a, _:
            return [Step(f"CREATE DATABASE IF NOT EXISTS {qualified(a.name)}")]
        case Kind.SCHEMA, Action.CREATE, SchemaProps() as a, _:
            return [Step(f"CREATE SCHEMA IF NOT EXISTS {qualified(a.database, a.name)}")]
        case Kind.STAGE, Action.CREATE, StageProps() as a, _:
            # SSE unless the manifest says full: without ENCRYPTION Snowflake makes SNOWFLAKE_FULL,
            # whose LIST shows padded ciphertext sizes and md5 (see deploy.state).
            encryption = f" ENCRYPTION = (TYPE = {literal(a.encryption)})" if a.encryption else ""
            return [
                Step(
                    f"CREATE STAGE IF NOT EXISTS {qualified(a.database, a.schema, a.name)}"
                    f"{encryption} COMMENT = {literal(a.comment)}"
                )
            ]
        case Kind.STAGE, Action.UPDATE, StageProps() as a, _:
            # Takeover or a new comment; encryption cannot be altered (see diff.stage_warnings).
            # ALTER STAGE <name> SET COMMENT: SnowDDL resolver/stage.py `_compare_comment`,
            # Terraform provider pkg/sdk/stages_ext_test.go.
            return [Step(f"ALTER STAGE {qualified(a.database, a.schema, a.name)} SET COMMENT = {literal(a.comment)}")]
        case Kind.STAGE, Action.DELETE, _, StageRemoval() as b:
            if b.foreign_files:
                # Files the tool did not put there stay, and so does their stage.
                return [Step(remove_statement(b.database, b.schema, b.name, p)) for p in change.removes]
            return [Step(f"DROP STAGE IF EXISTS {qualified(b.database, b.schema, b.name)}")]
        case Kind.STAGE_VERSION, Action.CREATE | Action.UPDATE, StageVersion() as a, _:
            db, sc, st, ver = a.database, a.schema, a.stage, a.version
            steps = [Step(remove_statement(db, sc, st, p)) for p in change.removes]
            steps += [
                Step(_put(_uploaded(u), db, sc, st, f"{ver}/"), upload_bytes=u.size, upload_name=f"{ver}/{u.name}")
                for u in change.uploads
            ]
            marker = marker_content(a.files)
            marker_path = str(marker_dir / ver / MARKER_NAME)
            # The marker goes last: the version is complete only once it is there.
            steps.append(
                Step(_put(marker_path, db, sc, st, f"{ver}/"), len(marker), marker, marker_path, f"{ver}/{MARKER_NAME}")
            )
            return steps
        case Kind.STAGE_VERSION, Action.DELETE, _, ListedVersion() as b:
            return [Step(remove_statement(b.database, b.schema, b.stage, p)) for p in change.removes]
        case Kind.FUNCTION, Action.CREATE | Action.REPLACE, FunctionProps() as a, _:
            if provenance is not None:
                return release_steps(a, provenance, marker_dir)
            return [Step(_function_ddl(a))]
        case Kind.FUNCTION, Action.DELETE, _, FunctionProps() as b:
            return [Step(f"DROP FUNCTION IF EXISTS {b.function_identity.sql}")]
    raise ValueError(f"cannot compile {change.action.word} of {change.kind.value} {change.name}")


def compile_plan(plan: Plan, marker_dir: Path, provenance: Provenance | None = None) -> list[Step]:
    """The plan's statements; with ``provenance`` (apply) also the release records and a stamped comment."""
    return [step for change in plan.changes for step in compile_change(change, marker_dir, provenance)]


def release_steps(a: FunctionProps, provenance: Provenance, marker_dir: Path) -> list[Step]:
    """Leave a release record in each version the function imports (deploy.provenance), then CREATE it
    with provenance in its comment's tag (spec hash and user text kept).

    Records first (write-ahead): a crash after the DDL would otherwise leave a live release that no
    later apply records (the function is then as planned), and its versions' provenance unknown for
    good. A crash between the records and the DDL leaves a record of a release prepared on complete
    versions; the next apply replaces the function and records it again (docs/crash-safety.md).
    """
    user, _, spec = split_tag(a.comment)
    user = user.strip()
    steps: list[Step] = []
    record = ReleaseRecord(a.identity, a.imports, provenance, a.release_properties(user), spec)
    content, name = record.to_bytes(), record.file_name()
    versions = sorted({(StagePath.parse(i).stage.parts, split_import(i)[1]) for i in a.imports})
    for (db, sc, st), version in versions:
        if not version:
            continue  # an import at the stage root is no version the tool keeps
        folder = hashlib.sha256(f"{db}.{sc}.{st}/{version}".encode()).hexdigest()[:16]  # any stage name
        local = str(marker_dir / RELEASES_FOLDER / folder / name)
        put = _put(local, db, sc, st, f"{version}/{RELEASES_FOLDER}/")
        steps.append(Step(put, len(content), content, local, f"{version}/{RELEASES_FOLDER}/{name}"))
    steps.append(Step(_function_ddl(replace(a, comment=f"{user} {tag(spec, provenance.tag_fields())}".strip()))))
    return steps


def check_policy(plan: Plan, *, allow_destroy: bool) -> None:
    destroys = [c for c in plan.changes if c.is_destroy]
    if destroys and not allow_destroy:
        names = ", ".join(f"{c.kind.value} {one_line(c.name)}" for c in destroys[:5])
        more = f" and {len(destroys) - 5} more" if len(destroys) > 5 else ""
        raise PolicyViolation(f"the plan destroys {names}{more}; re-run with --allow-destroy to permit it")


def check_local_files(plan: Plan, hashes: HashCache) -> None:
    """Refuse to upload a file whose content moved since the plan was made."""
    for change in plan.changes:
        for u in change.uploads:
            path = Path(_uploaded(u))  # a plan read from a file has it once deploy.saved_plan.check resolved it
            if not path.is_file():
                raise PlanStale(f"{u.source} no longer exists; re-run `deploy plan`")
            size, digest = hashes.digest(path)
            if digest != u.sha256 or size != u.size:
                raise PlanStale(f"{u.source} changed since the plan was made; re-run `deploy plan`")


def apply_plan(
    plan: Plan,
    session: Session,
    *,
    marker_dir: Path,
    hashes: HashCache,
    allow_destroy: bool = False,
    on_step: OnStep | None = None,
    provenance: Provenance | None = None,
) -> ApplyResult:
    check_policy(plan, allow_destroy=allow_destroy)
    check_local_files(plan, hashes)
    if provenance is None:  # when, by whom, from which commit and training run (deploy.provenance)
        versions = [c for c in plan.changes if c.kind is Kind.STAGE_VERSION and c.action is not Action.DELETE]
        sources = [str(u.source) for c in versions for u in c.uploads]
        provenance = gather(session.conn, sources, tuple(c.name for c in versions))
    steps = compile_plan(plan, marker_dir, provenance)
    t0 = time.perf_counter()
    start_count = session.log.count
    files = sent = removed = ddl = 0
    for i, step in enumerate(steps):
        finished = on_step(i, len(steps), step) if on_step else None
        if step.marker is not None and step.marker_path:
            Path(step.marker_path).parent.mkdir(parents=True, exist_ok=True)
            Path(step.marker_path).write_bytes(step.marker)
        started = time.perf_counter()
        session.execute(step.sql)
        if finished is not None:
            finished(time.perf_counter() - started)
        if step.sql.startswith("PUT "):
            files += 1
            sent += step.upload_bytes
        elif step.sql.startswith("REMOVE "):
            removed += 1
        else:
            ddl += 1
    return ApplyResult(session.log.count - start_count, ddl, files, sent, removed, time.perf_counter() - t0)
