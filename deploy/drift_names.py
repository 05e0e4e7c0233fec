"""`deploy drift` without artifacts: the account against what t5-deploy last applied, from the manifests' names.

A runner without `artifacts/` cannot hash what the manifests want, but drift needs none of it: the
account records what was applied (docs/plan-format.md, "Origin"). A managed function's comment tag
holds the spec hash it was created with; a completed version's marker lists its files with size and
sha256; stages carry the ownership tag. Each check is the diff's own (deploy.diff), fed with these
records instead of the manifests' properties. What this cannot see: a manifest or artifact change
(that is `deploy plan`'s, and not drift), a missing function's imports (the artifacts' versions: any
deployed declared stage stands for them), and a file replaced by one of the same size (the marker
records sha256, LIST shows md5: `plan` with the artifacts compares md5 on SSE stages).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from deploy import TOOL_NAME, diff
from deploy.drift import DriftReport
from deploy.history import observe_names  # observe() over the manifests' names, as `status` and `history` read
from deploy.local_file import LocalFile
from deploy.payloads import StageProps
from deploy.plan import Action, Change, Kind, Plan
from deploy.session import Session
from deploy.spec import MARKER_NAME, DeclaredNames, FunctionName, content_version, marker_files
from deploy.sql import file_url, stage_location
from deploy.state import Observed, ObservedFunction, ObservedStage, RemoteFile, split_tag

NAMES_ONLY = (
    "The artifacts were not found here, so drift compared the account with what "
    f"{TOOL_NAME} last applied (ownership tags and completion markers); changes to the manifests' "
    "properties or the artifacts were not compared."
)


def report(session: Session, names: DeclaredNames) -> DriftReport:
    """The account's side of a plan, from the manifests' names and what the account records."""
    observed = observe_names(session, names)
    served = diff.served_versions(observed)
    changes = [c for c in diff.missing_containers(names.databases, names.schemas, observed) if c.from_account]
    with tempfile.TemporaryDirectory(prefix="deploy-drift-") as tmp:
        markers = _MarkerReader(session, Path(tmp))
        for fqn in names.stages:
            changes += _stage_drift(fqn, observed.stages.get(fqn), served.get(fqn, set()), markers)
    for identity, fn in names.functions.items():
        if (c := _function_drift(fn, observed.functions.get(identity), names, observed)) is not None:
            changes.append(c)
    return DriftReport(Plan(tuple(changes), observed.fingerprint(), (NAMES_ONLY,)), from_manifests=0)


def _function_drift(
    fn: FunctionName, have: ObservedFunction | None, names: DeclaredNames, observed: Observed
) -> Change | None:
    """Missing, untagged, or no longer hashing to the spec its own tag records (deploy.diff.function_origins)."""
    if have is None:
        # The manifests' imports need the artifacts' versions: any deployed declared stage stands for them.
        if diff.missing_function_origins(names.stages, observed) != diff.ACCOUNT:
            return None  # nothing of these manifests deployed: a first apply, not drift
        return Change(Action.CREATE, Kind.FUNCTION, fn.identity, ("it does not exist",), origins=diff.ACCOUNT)
    _, managed, spec = split_tag(have.comment)
    args = tuple((a.name, a.type) for a in fn.args)
    if not managed:
        reason = f"{diff.NOT_MANAGED}; it will be taken over"
    elif diff.declared_live_spec(args, have) != spec:
        reason = f"{diff.CHANGED_OUTSIDE} (spec {spec})"
    else:
        return None
    before = diff.observed_properties(have)
    return Change(Action.REPLACE, Kind.FUNCTION, fn.identity, (reason,), before=before, origins=diff.ACCOUNT)


def _stage_drift(fqn: str, obs: ObservedStage | None, served: set[str], markers: _MarkerReader) -> list[Change]:
    """The stage (missing, untagged) and the versions live functions import from it."""
    if obs is None:
        if not served:
            return []  # no live function imports from it: new to the manifests (diff.missing_stage), not drift
        gone = ("the version a live function imports is missing",)
        versions = [Change(Action.CREATE, Kind.STAGE_VERSION, f"{fqn}/{v}", gone, origins=diff.ACCOUNT) for v in served]
        return [diff.missing_stage(fqn, served=True), *sorted(versions, key=lambda c: c.name)]
    changes = []
    if not obs.managed:
        before = StageProps(obs.database, obs.schema, obs.name, obs.comment)
        changes.append(
            Change(Action.UPDATE, Kind.STAGE, fqn, (diff.UNTAGGED_STAGE,), before=before, origins=diff.ACCOUNT)
        )
    # Only the versions live functions import: `plan` checks the manifests' version, which is the served one
    # once applied, and never repairs older ones (rollback targets), so drift there could never be cleared.
    versions = obs.versions()
    for version in sorted(served):
        if (c := _version_drift(obs, version, versions.get(version, {}), markers)) is not None:
            changes.append(c)
    return changes


def _version_drift(
    obs: ObservedStage, version: str, there: dict[str, RemoteFile], markers: _MarkerReader
) -> Change | None:
    name = f"{obs.fqn}/{version}"
    if not there:
        reason = "the version a live function imports is missing"
        return Change(Action.CREATE, Kind.STAGE_VERSION, name, (reason,), origins=diff.ACCOUNT)
    if MARKER_NAME not in there:  # served, so its upload had completed: the marker was removed
        reason = "completion marker missing from the version a live function imports"
        return Change(Action.UPDATE, Kind.STAGE_VERSION, name, (reason,), origins=diff.ACCOUNT)
    files = markers.files(obs, version)
    if files is None or content_version(files) != version:
        reasons = ["completion marker does not list this version's files (edited or replaced outside t5-deploy)"]
        extra: list[str] = []
    else:
        reasons, _, extra = diff.version_file_reasons(files, there, obs.encryption)
    if not reasons:
        return None
    return Change(
        Action.UPDATE,
        Kind.STAGE_VERSION,
        name,
        tuple(reasons),
        removes=tuple(f"{version}/{n}" for n in extra),
        origins=diff.ACCOUNT,
    )


class _MarkerReader:
    """A version's completion marker (deploy.spec.marker_content), fetched with GET, as the files it lists."""

    def __init__(self, session: Session, tmp: Path):
        self.session, self.tmp = session, tmp

    def files(self, obs: ObservedStage, version: str) -> tuple[LocalFile, ...] | None:
        target = self.tmp / f"{len(list(self.tmp.iterdir()))}"
        target.mkdir()
        where = stage_location(obs.database, obs.schema, obs.name, f"{version}/{MARKER_NAME}")
        # GET's path is a prefix (docs.snowflake.com/en/sql-reference/sql/get): the marker, and any file whose
        # name merely starts with it; only the marker's own name is read below.
        self.session.query(f"GET {where} {file_url(str(target))}")
        try:
            return marker_files((target / MARKER_NAME).read_bytes())
        except OSError:
            return None  # GET found no marker of that name
