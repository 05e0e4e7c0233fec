"""`deploy status`, `history` and `rollback`: what runs, what is kept, and the way back. No printing here.

Works from the manifests' names alone (deploy.manifest.load_names): no artifact is read. Provenance
comes from the function's ownership tag and the release records in the version folders
(deploy.provenance).

A function imports one version per stage (content versions: the model's changes with a training
run, the handler's with a code or settings edit), so a *release* is the set of versions a function
imports. ``rollback`` re-creates the function on an earlier release found in the release records:
CREATE OR REPLACE FUNCTION ... COPY GRANTS with the release's IMPORTS and the function's other
properties as DESCRIBE shows them, nothing uploaded but the rollback's own release record.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from deploy.apply import Step, release_steps
from deploy.errors import DeployError
from deploy.names import StagePath
from deploy.observe import observe
from deploy.payloads import FunctionProps
from deploy.provenance import VIA_APPLY, VIA_ROLLBACK, Provenance, ReleaseRecord, connection_user, utc_now
from deploy.session import Session
from deploy.spec import MARKER_NAME, DeclaredNames, split_import
from deploy.sql import file_url, stage_location
from deploy.state import (
    EPOCH,
    RELEASES_FOLDER,
    Observed,
    ObservedFunction,
    ObservedStage,
    split_tag,
    tag,
    tag_fields,
)


def observe_names(session: Session, names: DeclaredNames) -> Observed:
    """observe() over the manifests' names: it needs the functions' packages only to read the channel."""
    scope = SimpleNamespace(
        databases=names.databases,
        schemas=names.schemas,
        stages=names.stages,
        functions={identity: SimpleNamespace(packages=()) for identity in names.functions},
    )
    return observe(session, scope)  # type: ignore[arg-type]


class RecordReader:
    """Release records of stage versions, fetched with GET once per version folder."""

    def __init__(self, session: Session, observed: Observed):
        self.session = session
        self.observed = observed
        self._cache: dict[tuple[str, str], list[ReleaseRecord]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="deploy-history-")

    def close(self) -> None:
        self._tmp.cleanup()

    def records(self, stage: str, version: str) -> list[ReleaseRecord]:
        key = (stage, version)
        if key not in self._cache:
            self._cache[key] = self._fetch(stage, version)
        return self._cache[key]

    def _fetch(self, stage: str, version: str) -> list[ReleaseRecord]:
        obs = self.observed.stages.get(stage)
        if obs is None or not obs.release_records(version):
            return []  # a version from before release records (or none made live): provenance unknown
        target = Path(self._tmp.name) / f"{len(self._cache)}"
        target.mkdir()
        where = stage_location(obs.database, obs.schema, obs.name, f"{version}/{RELEASES_FOLDER}/")
        self.session.query(f"GET {where} {file_url(str(target))}")
        out = []
        for path in sorted(target.rglob("*.json")):
            if (record := ReleaseRecord.from_bytes(path.read_bytes())) is not None:
                out.append(record)
        return out

    def uploaded_by(self, stage: str, version: str) -> Provenance:
        """Provenance of the apply that uploaded ``version``; unknown fields None."""
        records = self.records(stage, version)
        mine = [r for r in records if f"{stage}/{version}" in r.provenance.uploaded]
        chosen = min(mine or records, key=lambda r: r.provenance.at or "", default=None)
        return chosen.provenance if chosen else Provenance()


# --- what the results hold -------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    stage: str
    version: str
    complete: bool
    written: str | None  # the completion marker's LIST last_modified
    live: bool
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["provenance"] = _provenance_dict(self.provenance)
        return d


@dataclass(frozen=True)
class FunctionStatus:
    identity: str
    deployed: bool
    managed: bool
    provenance: Provenance  # from the comment's tag
    live: tuple[VersionInfo, ...]  # one per imported stage version
    note: str | None = None  # e.g. a rollback in effect

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "deployed": self.deployed,
            "managed": self.managed,
            "provenance": _provenance_dict(self.provenance),
            "live": [v.to_dict() for v in self.live],
            "note": self.note,
        }


@dataclass(frozen=True)
class StatusReport:
    functions: tuple[FunctionStatus, ...]
    unimported_stages: tuple[str, ...] = field(default=())  # declared stages no deployed function imports

    def to_dict(self) -> dict[str, Any]:
        return {"functions": [f.to_dict() for f in self.functions], "unimported_stages": list(self.unimported_stages)}


@dataclass(frozen=True)
class StageHistory:
    stage: str
    exists: bool
    versions: tuple[VersionInfo, ...]  # complete ones, newest first

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "exists": self.exists, "versions": [v.to_dict() for v in self.versions]}


@dataclass(frozen=True)
class RollbackResult:
    function: str
    before: tuple[str, ...]  # imports
    after: tuple[str, ...]
    target: Provenance  # of the release now running
    provenance: Provenance  # of the rollback itself
    statements: int

    def changed_versions(self) -> list[tuple[str, str, str]]:
        """(stage, from version, to version) for each stage whose version moves."""
        b, a = _versions_by_stage(self.before), _versions_by_stage(self.after)
        return [(s, b.get(s, "(none)"), a.get(s, "(none)")) for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "before": list(self.before),
            "after": list(self.after),
            "changed": [{"stage": s, "from": f, "to": t} for s, f, t in self.changed_versions()],
            "target": _provenance_dict(self.target),
            "rollback": _provenance_dict(self.provenance),
            "statements": self.statements,
        }


def _provenance_dict(p: Provenance) -> dict[str, Any]:
    return {"applied_at": p.at, "applied_by": p.by, "commit": p.commit, "training_run": p.run, "via": p.via}


def _versions_by_stage(imports: tuple[str, ...] | list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for imp in imports:
        stage, version, _ = split_import(imp)
        if version:
            out[stage] = version
    return out


def _function_provenance(fn: ObservedFunction) -> Provenance:
    return Provenance.from_tag(tag_fields(fn.comment))


def rollback_note(fn: ObservedFunction) -> str | None:
    """What to say about a function a `deploy rollback` re-pointed (its tag says via=rollback); None otherwise.

    A rollback is deliberate, not a hand edit: plan and drift still show the way back to the
    manifests' release (a function replace), and this line says why the account differs.
    """
    p = _function_provenance(fn)
    if p.via != VIA_ROLLBACK:
        return None
    versions = ", ".join(f"{s} {v}" for s, v in sorted(_versions_by_stage(fn.imports).items()))
    return (
        f"rolled back by {p.by or 'unknown'} at {p.at or 'unknown'} (deploy rollback) to {versions}; "
        "`deploy apply` returns it to the manifests' versions"
    )


def _version_info(stage: ObservedStage, version: str, live: bool, reader: RecordReader) -> VersionInfo:
    files = stage.versions().get(version, {})
    marker = files.get(MARKER_NAME)
    return VersionInfo(
        stage.fqn,
        version,
        marker is not None,
        marker.last_modified if marker else None,
        live,
        reader.uploaded_by(stage.fqn, version),
    )


def _live_versions(observed: Observed, names: DeclaredNames) -> dict[str, set[str]]:
    live: dict[str, set[str]] = {}
    for identity in names.functions:
        if (fn := observed.functions.get(identity)) is not None:
            for stage, version in _versions_by_stage(fn.imports).items():
                live.setdefault(stage, set()).add(version)
    return live


# --- status and history ----------------------------------------------------------------------


def status(session: Session, names: DeclaredNames) -> StatusReport:
    observed = observe_names(session, names)
    reader = RecordReader(session, observed)
    try:
        functions = []
        for identity in names.functions:
            fn = observed.functions.get(identity)
            if fn is None:
                functions.append(FunctionStatus(identity, False, False, Provenance(), ()))
                continue
            live = []
            for stage_fqn, version in sorted(_versions_by_stage(fn.imports).items()):
                stage = observed.stages.get(stage_fqn)
                if stage is None:
                    live.append(VersionInfo(stage_fqn, version, False, None, True, Provenance()))
                else:
                    live.append(_version_info(stage, version, True, reader))
            prov = _function_provenance(fn)
            if prov.run is None:  # an apply that uploaded no artifacts: the run of the versions it imports
                runs = sorted({v.provenance.run for v in live if v.provenance.run})
                prov = Provenance(prov.at, prov.by, prov.commit, ",".join(runs) or None, prov.via)
            functions.append(FunctionStatus(identity, True, fn.managed, prov, tuple(live), rollback_note(fn)))
        imported = _live_versions(observed, names)
        unimported = tuple(fqn for fqn in names.stages if fqn not in imported)
        return StatusReport(tuple(functions), unimported)
    finally:
        reader.close()


def _newest_first(stage: ObservedStage, versions: list[str], reader: RecordReader) -> list[str]:
    files = stage.versions()

    def key(v: str) -> tuple[datetime, str, str]:
        marker = files[v].get(MARKER_NAME)
        when = marker.modified_at if marker else None
        return (when or EPOCH, reader.uploaded_by(stage.fqn, v).at or "", v)

    return sorted(versions, key=key, reverse=True)


def history(session: Session, names: DeclaredNames) -> tuple[StageHistory, ...]:
    """Complete versions still on each declared stage, newest first, the live ones marked."""
    observed = observe_names(session, names)
    live = _live_versions(observed, names)
    reader = RecordReader(session, observed)
    try:
        out = []
        for fqn in names.stages:
            stage = observed.stages.get(fqn)
            if stage is None:
                out.append(StageHistory(fqn, False, ()))
                continue
            complete = [v for v, files in stage.versions().items() if MARKER_NAME in files]
            infos = tuple(
                _version_info(stage, v, v in live.get(fqn, set()), reader)
                for v in _newest_first(stage, complete, reader)
            )
            out.append(StageHistory(fqn, True, infos))
        return tuple(out)
    finally:
        reader.close()


# --- rollback ----------------------------------------------------------------------------------


def _releases(fn: ObservedFunction, observed: Observed, reader: RecordReader) -> list[ReleaseRecord]:
    """This function's release records found in the complete versions of the stages it imports, newest first."""
    stages = set(_versions_by_stage(fn.imports))
    found: dict[tuple[str, str, str], ReleaseRecord] = {}
    for fqn in sorted(stages):
        stage = observed.stages.get(fqn)
        if stage is None:
            continue
        for version, files in stage.versions().items():
            if MARKER_NAME not in files:
                continue
            for r in reader.records(fqn, version):
                if r.function == fn.identity:
                    found[(r.provenance.at or "", r.provenance.apply_id, r.provenance.via)] = r
    return sorted(found.values(), key=lambda r: (r.provenance.at or "", r.provenance.apply_id), reverse=True)


def _default_target(fn: ObservedFunction, releases: list[ReleaseRecord]) -> ReleaseRecord:
    """The release applied before the live one: older than the newest apply that made the live imports."""
    live = set(fn.imports)
    applies = [r for r in releases if r.provenance.via == VIA_APPLY]
    current = next((i for i, r in enumerate(applies) if set(r.imports) == live), None)
    earlier = applies[current + 1 :] if current is not None else applies
    for r in earlier:
        if set(r.imports) != live:
            return r
    raise DeployError(
        f"{fn.identity} has no earlier release recorded in the release records of the versions still on its stages; "
        "`deploy history` lists the versions kept, `deploy rollback --to VERSION` picks one"
    )


def _target_for_version(
    fn: ObservedFunction, observed: Observed, releases: list[ReleaseRecord], version: str
) -> ReleaseRecord:
    """The imports of the release that introduced ``version`` on one of the function's stages.

    Without a record of it (a version uploaded before release records), the live imports with
    that one stage moved to ``version``.
    """
    live = _versions_by_stage(fn.imports)
    holders = [s for s in sorted(live) if (st := observed.stages.get(s)) is not None and version in st.versions()]
    if not holders:
        raise DeployError(
            f"version {version} is on none of the stages {fn.identity} imports ({', '.join(sorted(live))}); "
            "`deploy history` lists the versions kept"
        )
    key = f"{holders[0]}/{version}"
    introduced = [r for r in releases if key in r.provenance.uploaded]
    using = [r for r in releases if any(split_import(i)[:2] == (holders[0], version) for i in r.imports)]
    chosen = (introduced or using or [None])[-1]  # releases are newest first: the earliest one
    if chosen is not None:
        return chosen
    moved = []
    for imp in fn.imports:
        stage, _, file = split_import(imp)
        if stage == holders[0]:
            path = StagePath.parse(imp)
            moved.append(StagePath(path.stage, f"{version}/{file}").normalized)
        else:
            moved.append(imp)
    return ReleaseRecord(fn.identity, tuple(sorted(moved)), Provenance())


def _target_for(fn: ObservedFunction, observed: Observed, releases: list[ReleaseRecord], to: str) -> ReleaseRecord:
    return _target_for_version(fn, observed, releases, to.strip().lower())


def _missing(imports: tuple[str, ...], observed: Observed) -> list[str]:
    """Why a release cannot run now: a stage, version, marker or file no longer there."""
    problems = []
    for imp in imports:
        stage_fqn, version, file = split_import(imp)
        stage = observed.stages.get(stage_fqn)
        if stage is None:
            problems.append(f"stage {stage_fqn} does not exist")
            continue
        files = stage.versions().get(version)
        if files is None:
            problems.append(f"{stage_fqn}/{version} is no longer on the stage (pruned)")
        elif MARKER_NAME not in files:
            problems.append(f"{stage_fqn}/{version} has no completion marker (an interrupted upload)")
        elif file not in files:
            problems.append(f"{stage_fqn}/{version}/{file} is missing")
    return sorted(set(problems))


def _properties(fn: ObservedFunction, imports: tuple[str, ...], comment: str) -> FunctionProps:
    """What CREATE FUNCTION renders (deploy.apply), from DESCRIBE: all as live, but the imports."""
    return FunctionProps(
        database=fn.database,
        schema=fn.schema,
        name=fn.name,
        args=fn.args,
        returns=fn.returns,
        runtime=fn.runtime,
        handler=fn.handler,
        packages=fn.packages,
        imports=imports,
        null_handling=fn.null_handling,
        volatility=fn.volatility,
        comment=comment,
    )


def rollback(
    session: Session,
    names: DeclaredNames,
    *,
    function: str | None,
    to: str | None,
    marker_dir: Path,
    confirm: Callable[[RollbackResult], None] | None = None,
) -> RollbackResult:
    """Re-point the function to an earlier release; ``confirm`` sees the plan first and may raise to cancel."""
    declared = names.function(function)
    observed = observe_names(session, names)
    fn = observed.functions.get(declared.identity)
    if fn is None:
        raise DeployError(f"{declared.identity} is not deployed; nothing to roll back (run `deploy apply`)")
    if not fn.managed:
        raise DeployError(f"{declared.identity} is not managed by deploy (no ownership tag); it is not rolled back")
    if fn.body:
        raise DeployError(
            f"{declared.identity} has inline code; rollback re-creates functions with staged handlers only"
        )
    reader = RecordReader(session, observed)
    try:
        releases = _releases(fn, observed, reader)
        chosen = _default_target(fn, releases) if to is None else _target_for(fn, observed, releases, to)
    finally:
        reader.close()
    imports, target = chosen.imports, chosen.provenance
    if set(imports) == set(fn.imports):
        raise DeployError(f"{declared.identity} already runs that release; nothing to roll back")
    if problems := _missing(imports, observed):
        raise DeployError(f"cannot roll {declared.identity} back: " + "; ".join(problems))
    # The tag says it is a rollback, when and by whom, and the commit and run of the release it now runs.
    prov = Provenance(utc_now(), connection_user(session.conn), target.commit, target.run, VIA_ROLLBACK)
    result = RollbackResult(declared.identity, fn.imports, tuple(sorted(imports)), target, prov, 0)
    if confirm is not None:
        confirm(result)
    if chosen.properties is not None:
        # The release as it was created, spec hash included: plan then sees the manifests' side move
        # (the way forward), not a hand edit, and `drift` reports no drift (deploy.diff.function_origins).
        recorded = FunctionProps.from_dict({"comment": "", **chosen.properties})
        props = replace(recorded, imports=result.after, comment=f"{recorded.comment} {tag(chosen.spec)}")
    else:  # a release recorded without its properties: the live ones, the release's imports, no spec
        props = _properties(fn, result.after, split_tag(fn.comment)[0])
    steps = release_steps(props, prov, marker_dir)
    start = session.log.count
    for step in steps:
        _run(session, step)
    return RollbackResult(result.function, result.before, result.after, target, prov, session.log.count - start)


def _run(session: Session, step: Step) -> None:
    if step.marker is not None and step.marker_path:
        Path(step.marker_path).parent.mkdir(parents=True, exist_ok=True)
        Path(step.marker_path).write_bytes(step.marker)
    session.execute(step.sql)
