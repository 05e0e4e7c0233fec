"""Pure diff: (desired, observed) -> Plan. No connection, clock or environment.

Order is deterministic: databases and schemas, stages, stage file versions,
functions, then deletions (functions, stages) and pruning of old versions.

Each change says where it comes from (plan.Origin), read from what the account records of
t5-deploy's last apply: the spec hash in a function's comment, the ownership tag on stages and
functions, the completion marker of a version, and the versions live functions import.
The rules, and what the account cannot tell, are in docs/plan-format.md ("Origin").
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from deploy import TOOL_NAME, runtimes
from deploy.local_file import LocalFile
from deploy.names import FQN, StagePath
from deploy.packages import runtimes_offering, satisfying, split_spec, versions_for
from deploy.payloads import (
    DatabaseProps,
    FunctionProps,
    ListedVersion,
    SchemaProps,
    StageProps,
    StageRemoval,
    StageVersion,
    VersionFile,
)
from deploy.plan import Action, Change, Kind, Origin, Plan, origins
from deploy.spec import MARKER_NAME, Desired, FunctionSpec, StageSpec, split_import
from deploy.sql import argument_type
from deploy.state import (
    EPOCH,
    SNOWFLAKE_FULL,
    Observed,
    ObservedFunction,
    ObservedStage,
    RemoteFile,
    listed_sizes,
    plaintext_md5,
    split_tag,
    tag,
)
from deploy.units import human_bytes

ACCOUNT = (Origin.ACCOUNT,)
MANIFESTS = (Origin.MANIFESTS,)

NOT_MANAGED = f"exists but is not managed by {TOOL_NAME}"
CHANGED_OUTSIDE = f"changed outside {TOOL_NAME}: the live function no longer matches the spec its comment records"

_COMPARED = (
    "args",
    "returns",
    "language",
    "runtime",
    "handler",
    "packages",
    "imports",
    "null_handling",
    "volatility",
    "body",
    "comment",
)


def _import_path(st: StageSpec, file: str) -> str:
    """Where ``file`` of ``st``'s current version is imported from, normalised as observe reads it back."""
    return StagePath(FQN(st.database, st.schema, st.name), f"{st.version}/{file}").normalized


def function_properties(fn: FunctionSpec, stages: dict[str, StageSpec]) -> FunctionProps:
    """Everything CREATE FUNCTION renders, normalised as DESCRIBE FUNCTION is parsed.

    The COMMENT ends with the ownership tag carrying a hash of all other
    properties, so a hand edit that keeps the comment is still caught field by field.
    """
    props = FunctionProps(
        database=fn.database,
        schema=fn.schema,
        name=fn.name,
        args=tuple((a.name, a.type) for a in fn.args),
        returns=fn.returns,
        runtime=fn.runtime,
        handler=fn.handler,
        packages=tuple(sorted(p.lower() for p in fn.packages)),
        imports=tuple(sorted(_import_path(stages[ref.stage], ref.file) for ref in fn.imports)),
        null_handling=fn.null_handling,
        volatility=fn.volatility,
        comment=fn.comment,
    )
    spec = _spec_hash(props)
    return replace(props, comment=f"{fn.comment} {tag(spec)}".strip(), spec=spec)


def _spec_hash(props: FunctionProps) -> str:
    """The hash the ownership tag records: over the dict form (no spec), so tags written before stay valid."""
    return hashlib.sha256(json.dumps(props.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def live_spec(want: FunctionProps, have: ObservedFunction) -> str:
    """The spec hash of the live function, computed as ``function_properties`` computes the manifests'.

    Equal to the hash its comment records while the function is as t5-deploy created it. DESCRIBE
    shows argument types without length (VARCHAR(100) as VARCHAR): where the reduced types agree,
    the manifests' spelling stands in for the live one, so only a length change escapes this check
    (and moves the manifests' own hash).
    """
    return declared_live_spec(want.args, have)


def declared_live_spec(args: tuple[tuple[str, str], ...], have: ObservedFunction) -> str:
    """``live_spec`` from the declared arguments alone (the manifests' names, no artifact): all it needs."""
    props = replace(observed_properties(have), comment=split_tag(have.comment)[0])
    if tuple((n, argument_type(t)) for n, t in args) == props.args:
        props = replace(props, args=args)
    return _spec_hash(props)


def _described_args(props: FunctionProps) -> tuple[tuple[str, str], ...]:
    """The arguments as DESCRIBE's signature prints them: no length or precision (VARCHAR(100) -> VARCHAR;
    Terraform provider pkg/sdk/testint/functions_integration_test.go)."""
    return tuple((n, argument_type(t)) for n, t in props.args)


def function_origins(want: FunctionProps, have: ObservedFunction) -> tuple[Origin, ...]:
    """Account: untagged, or the live function no longer hashes to the spec its comment records.
    Manifests: the recorded spec is not the one the manifests give now. Both may hold."""
    _, managed, spec = split_tag(have.comment)
    if not managed or spec == want.spec:
        return ACCOUNT  # untagged, or the manifests are as last applied: any difference is the account's
    if not _field_reasons(want, have):
        # The live function shows what the manifests want: only what DESCRIBE cannot show moved
        # (an argument's length) or the tag itself.
        return MANIFESTS
    return origins(account=live_spec(want, have) != spec, manifests=True)


def observed_properties(fn: ObservedFunction) -> FunctionProps:
    return FunctionProps(
        database=fn.database,
        schema=fn.schema,
        name=fn.name,
        args=tuple((n, t) for n, t in fn.args),
        returns=fn.returns,
        runtime=fn.runtime,
        handler=fn.handler,
        packages=tuple(sorted(fn.packages)),
        imports=tuple(sorted(fn.imports)),
        null_handling=fn.null_handling,
        volatility=fn.volatility,
        comment=fn.comment,
        language=fn.language,
        body=fn.body,
    )


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _import_reasons(before: tuple[str, ...], after: tuple[str, ...]) -> list[str]:
    """Explain import changes per stage: a version bump reads as one line."""

    def by_stage(paths: tuple[str, ...]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for p in paths:
            stage, version, _ = split_import(p)
            out.setdefault(stage, set()).add(version)
        return out

    b, a = by_stage(before), by_stage(after)
    reasons = []
    for stage in sorted(set(b) | set(a)):
        if b.get(stage) != a.get(stage):
            old = ", ".join(sorted(b.get(stage, set()))) or "(none)"
            new = ", ".join(sorted(a.get(stage, set()))) or "(none)"
            reasons.append(f"imports from {stage}: version {old} -> {new}")
    if not reasons:
        removed = sorted(set(before) - set(after))
        added = sorted(set(after) - set(before))
        reasons += [f"import removed: {p}" for p in removed] + [f"import added: {p}" for p in added]
    return reasons


def _field_reasons(want: FunctionProps, have: ObservedFunction) -> list[str]:
    got = observed_properties(have)
    # The user's comment is compared without the tag: the tag's spec hash moves
    # whenever another field does, which would only repeat that field's reason.
    # Arguments are compared as DESCRIBE prints them; a changed length still moves the spec hash in the tag.
    got = replace(got, comment=split_tag(got.comment)[0])
    want = replace(want, comment=split_tag(want.comment)[0], args=_described_args(want))
    reasons: list[str] = []
    for key in _COMPARED:
        wanted, observed = getattr(want, key), getattr(got, key)
        if wanted == observed:
            continue
        if key == "imports":
            reasons += _import_reasons(observed, wanted)
        elif key == "body":
            reasons.append("body: inline code was added outside the manifests")
        else:
            reasons.append(f"{key}: {_short(observed)} -> {_short(wanted)}")
    return reasons


def compare_function(want: FunctionProps, have: ObservedFunction) -> list[str]:
    """Field-by-field differences, each as a readable reason."""
    reasons = _field_reasons(want, have)
    _, managed, spec = split_tag(have.comment)
    if not reasons and managed and spec != want.spec:
        reasons.append(f"ownership tag records spec {spec}, the manifests give {want.spec}")
    if reasons and managed and Origin.ACCOUNT in function_origins(want, have):
        reasons.insert(0, CHANGED_OUTSIDE)
    elif not managed:
        reasons.insert(0, f"{NOT_MANAGED}; it will be taken over")
    return reasons


def function_delete(fn: ObservedFunction, reason: str, why: tuple[Origin, ...] = ()) -> Change:
    return Change(Action.DELETE, Kind.FUNCTION, fn.identity, (reason,), before=observed_properties(fn), origins=why)


def stage_delete(st: ObservedStage, reason: str, why: tuple[Origin, ...] = ()) -> Change:
    """Drop a managed stage; one that also holds foreign files keeps them and loses only managed versions."""
    foreign = [f.path for f in st.foreign_files()]
    if foreign:
        reason += f"; {len(foreign)} foreign file(s) keep the stage, only managed versions go"
    return Change(
        Action.DELETE,
        Kind.STAGE,
        st.fqn,
        (reason,),
        before=StageRemoval(st.database, st.schema, st.name, tuple(foreign)),
        removes=tuple(f"{v}/" for v in sorted(st.versions())),
        origins=why,
    )


def _stage_after(st: StageSpec) -> StageProps:
    return StageProps(st.database, st.schema, st.name, f"{st.comment} {tag()}".strip(), st.encryption)


UNTAGGED_STAGE = f"{NOT_MANAGED}; taking it over: its comment gets the ownership tag"


def missing_stage(fqn: str, served: bool, after: StageProps | None = None) -> Change:
    """A declared stage that does not exist: dropped in the account when a live function imports from it."""
    why = ACCOUNT if served else MANIFESTS
    reason = "it does not exist" + (", but a live function imports from it" if served else "")
    return Change(Action.CREATE, Kind.STAGE, fqn, (reason,), after=after, origins=why)


def _stage_change(st: StageSpec, obs: ObservedStage | None, served: bool) -> Change | None:
    """Create a missing stage; take over an untagged one, or fix its comment (ALTER STAGE ... SET COMMENT).

    A missing stage that a live function imports from was dropped in the account; one that no
    function uses is new to the manifests. The stage's tag records no hash of its comment, so a
    comment that differs under an intact tag counts as the manifests' (docs/plan-format.md, "Origin").
    """
    if obs is None:
        return missing_stage(st.fqn, served, _stage_after(st))
    user_comment, managed, _ = split_tag(obs.comment)
    reasons = []
    if not managed:
        reasons.append(UNTAGGED_STAGE)
    if user_comment.strip() != st.comment.strip():
        reasons.append(f"comment: {_short(user_comment)} -> {_short(st.comment)}")
    if not reasons:
        return None
    before = StageProps(obs.database, obs.schema, obs.name, obs.comment)
    why = MANIFESTS if managed else ACCOUNT
    return Change(Action.UPDATE, Kind.STAGE, st.fqn, tuple(reasons), before=before, after=_stage_after(st), origins=why)


def stage_warnings(desired: Desired, observed: Observed) -> list[str]:
    """Stages whose encryption differs from the manifest's: reported, never changed.

    Snowflake has no ALTER for an internal stage's encryption (CREATE STAGE internalStageParams;
    the Terraform provider marks `encryption` ForceNew, pkg/resources/internal_stage.go; SnowDDL
    re-creates, resolver/stage.py `_is_replace_required`). Re-creating would drop every version,
    the live one included, so the tool leaves that to the user; LIST is read by the stage's real type.
    """
    out = []
    for st in desired.stages.values():
        obs = observed.stages.get(st.fqn)
        if obs is None or obs.encryption is None or obs.encryption == st.encryption:
            continue
        keep = "full" if obs.encryption == SNOWFLAKE_FULL else "sse"
        out.append(
            f"{st.origin}.encryption: stage {st.fqn} is {obs.encryption}, the manifest asks for {st.encryption}; "
            "Snowflake cannot change a stage's encryption in place, so it is left as it is and its files are "
            f"compared by {obs.encryption}'s rules. To switch, give the stage a new name in the manifest (apply "
            "creates it, moves the function to it, and drops the old one with --allow-destroy) or drop it by "
            f"hand and apply; to keep it, set `encryption: {keep}`"
        )
    return out


def _version_doc(st: StageSpec) -> StageVersion:
    files = tuple(VersionFile(f.name, f.size, f.sha256) for f in st.files)
    return StageVersion(st.database, st.schema, st.name, st.version, files)


def _uploads(st: StageSpec, names: set[str] | None = None) -> tuple[LocalFile, ...]:
    return tuple(f for f in st.files if names is None or f.name in names)


def _file_drift(f: LocalFile, remote: RemoteFile, encryption: str | None) -> str | None:
    """Why the listed ``remote`` is not ``f``, read by what LIST means on this stage; None when it matches.

    Sizes compare by the stage's rule (FULL: padded ciphertext; SSE: exact); md5 only where LIST
    shows the plaintext's (SSE, single part). Elsewhere the version's marker, uploaded last with
    every file's sha256 and size, vouches for the content.
    """
    sizes = listed_sizes(f.size, encryption)
    if remote.size not in sizes:
        if encryption == SNOWFLAKE_FULL:
            return (
                f"{f.name}: LIST size {remote.size}, {sizes[0]} expected for {f.size} bytes "
                f"({SNOWFLAKE_FULL} lists the padded ciphertext)"
            )
        return f"{f.name}: size {remote.size} -> {f.size}"
    listed_md5 = plaintext_md5(remote.md5, f.size, encryption)
    if listed_md5 and f.md5 and listed_md5 != f.md5:
        return f"{f.name}: content differs from the local file (md5 {listed_md5} on the stage, {f.md5} here)"
    return None


def _marker_file(st: StageSpec) -> LocalFile:
    content = st.marker_bytes()
    return LocalFile(
        MARKER_NAME,
        None,
        len(content),
        hashlib.sha256(content).hexdigest(),
        hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )


def version_file_reasons(
    files: tuple[LocalFile, ...], there: dict[str, RemoteFile], encryption: str | None
) -> tuple[list[str], set[str], list[str]]:
    """A version folder as listed (``there``) against the files it should hold: (reasons, names to upload,
    unexpected names). The files are the manifests' (plan) or those its completion marker lists (drift
    without artifacts: deploy.drift_names)."""
    reasons: list[str] = []
    to_upload: set[str] = set()
    for f in files:
        remote = there.get(f.name)
        if remote is None:
            reasons.append(f"missing file {f.name}")
            to_upload.add(f.name)
        elif why := _file_drift(f, remote, encryption):
            reasons.append(why)
            to_upload.add(f.name)
    wanted = {f.name for f in files} | {MARKER_NAME}
    extra = sorted(n for n in there if n not in wanted)
    reasons += [f"unexpected file {n} in a managed version" for n in extra]
    return reasons, to_upload, extra


def _stage_version_change(st: StageSpec, obs: ObservedStage | None, served: set[str]) -> Change | None:
    """Upload the manifests' version, or repair it.

    ``served``: the versions of this stage live functions import. The account changed when one of
    them is missing or differs, or when a complete version (its marker is what t5-deploy last wrote)
    differs; a version new to the stage, or an unfinished upload nothing serves, is the manifests'.
    """
    version = st.version
    there = obs.versions().get(version, {}) if obs else {}
    name = f"{st.fqn}/{version}"
    if not there:
        why = "the stage does not exist yet" if obs is None else "new content version (file contents changed)"
        if version in served:
            why = "the version a live function imports is missing"
        return Change(
            Action.CREATE,
            Kind.STAGE_VERSION,
            name,
            (f"{why}: {len(st.files)} file(s), {human_bytes(st.total_bytes)}",),
            after=_version_doc(st),
            uploads=_uploads(st),
            origins=ACCOUNT if version in served else MANIFESTS,
        )
    encryption = obs.encryption if obs else None
    reasons, to_upload, extra = version_file_reasons(st.files, there, encryption)
    if MARKER_NAME not in there:
        reasons.append("completion marker missing: an earlier upload was interrupted; finishing it")
    elif why := _file_drift(_marker_file(st), there[MARKER_NAME], encryption):
        reasons.append(f"completion marker does not match the version's files ({why}); rewriting it")
    if not reasons:
        return None
    return Change(
        Action.UPDATE,
        Kind.STAGE_VERSION,
        name,
        tuple(reasons),
        after=_version_doc(st),
        uploads=_uploads(st, to_upload),
        removes=tuple(f"{version}/{n}" for n in extra),
        origins=ACCOUNT if MARKER_NAME in there or version in served else MANIFESTS,
    )


def _written_at(files: dict[str, RemoteFile]) -> datetime:
    """When a version was last written: its newest file, normally the marker, uploaded last.

    Parsed, never compared as text: "Thu, 29 Feb 2024" sorts after "Fri, 1 Mar 2024" as a string.
    """
    return max((t for f in files.values() if (t := f.modified_at) is not None), default=EPOCH)


def _prune(st: StageSpec, obs: ObservedStage, protected: set[str]) -> list[Change]:
    versions = obs.versions()
    current = st.version
    complete = [v for v, files in versions.items() if v != current and MARKER_NAME in files]
    # Newest first by upload time; the version name breaks ties deterministically.
    complete.sort(key=lambda v: (_written_at(versions[v]), v), reverse=True)
    # The newest other complete version is the rollback target of the version this apply
    # makes live: kept whatever keep_versions says. Versions live functions import stay too.
    keep = set(complete[: max(st.keep_versions - 1, 1)]) | protected | {current}
    out = []
    for v in sorted(versions):
        if v in keep:
            continue
        why = (
            f"older than the {st.keep_versions} newest version(s) kept (keep_versions)"
            if v in complete
            else "incomplete version (no completion marker) that is not the current one"
        )
        out.append(
            Change(
                Action.DELETE,
                Kind.STAGE_VERSION,
                f"{st.fqn}/{v}",
                (why,),
                before=ListedVersion(st.database, st.schema, st.name, v, tuple(sorted(versions[v]))),
                removes=(f"{v}/",),
                # keep_versions prunes what the manifests moved away from; an incomplete folder
                # that is not the current version was no completed apply's (by hand, or abandoned).
                origins=MANIFESTS if v in complete else ACCOUNT,
            )
        )
    return out


def served_versions(observed: Observed) -> dict[str, set[str]]:
    """Stage -> the versions live functions import: what the last apply made them serve."""
    out: dict[str, set[str]] = {}
    for fn in observed.functions.values():
        for imp in fn.imports:
            stage, version, _ = split_import(imp)
            out.setdefault(stage, set()).add(version)
    return out


def missing_function_origins(stages: Iterable[str], observed: Observed) -> tuple[Origin, ...]:
    """The account keeps no record of a dropped function: it counts as the account's once t5-deploy
    has deployed a stage it imports from (each apply creates the function with its stages), so a
    function added to the manifests next to deployed stages also reads as drift until applied."""
    deployed = any((st := observed.stages.get(fqn)) is not None and st.managed for fqn in stages)
    return ACCOUNT if deployed else MANIFESTS


def missing_containers(
    databases: Iterable[str], schemas: Iterable[tuple[str, str]], observed: Observed
) -> list[Change]:
    """Create the declared databases and schemas that do not exist.

    One counts as dropped in the account when t5-deploy has deployed anything of these manifests
    here; with nothing deployed, it is the manifests' first apply.
    """
    changes: list[Change] = []
    deployed = any(st.managed for st in observed.stages.values()) or any(
        fn.managed for fn in observed.functions.values()
    )
    missing = ACCOUNT if deployed else MANIFESTS
    absent = ("it does not exist",)
    for db in databases:
        if db not in observed.databases:
            changes.append(Change(Action.CREATE, Kind.DATABASE, db, absent, after=DatabaseProps(db), origins=missing))
    for db, sc in schemas:
        if (db, sc) not in observed.schemas:
            schema = SchemaProps(db, sc)
            changes.append(Change(Action.CREATE, Kind.SCHEMA, f"{db}.{sc}", absent, after=schema, origins=missing))
    return changes


def diff(desired: Desired, observed: Observed) -> Plan:
    changes = missing_containers(desired.databases, desired.schemas, observed)
    served = served_versions(observed)
    for st in desired.stages.values():
        if (c := _stage_change(st, observed.stages.get(st.fqn), st.fqn in served)) is not None:
            changes.append(c)
    for st in desired.stages.values():
        if (c := _stage_version_change(st, observed.stages.get(st.fqn), served.get(st.fqn, set()))) is not None:
            changes.append(c)

    for identity, fn in desired.functions.items():
        want = function_properties(fn, desired.stages)
        have = observed.functions.get(identity)
        if have is None:
            why = missing_function_origins((ref.stage for ref in fn.imports), observed)
            changes.append(
                Change(Action.CREATE, Kind.FUNCTION, identity, ("it does not exist",), after=want, origins=why)
            )
        elif reasons := compare_function(want, have):
            changes.append(
                Change(
                    Action.REPLACE,
                    Kind.FUNCTION,
                    identity,
                    tuple(reasons),
                    before=observed_properties(have),
                    after=want,
                    origins=function_origins(want, have),
                )
            )

    gone = f"managed by {TOOL_NAME} but no longer in the manifests"
    for identity, fn in sorted(observed.functions.items()):
        if identity not in desired.functions and fn.managed:
            changes.append(function_delete(fn, gone, MANIFESTS))
    for fqn, obs in sorted(observed.stages.items()):
        if fqn not in desired.stages and obs.managed:
            changes.append(stage_delete(obs, gone, MANIFESTS))

    # Versions a live function imports survive pruning, also when this run moves it to a
    # new version: until the replace has run (or if it fails) they are what it serves.
    for st in desired.stages.values():
        if (obs := observed.stages.get(st.fqn)) is not None:
            changes.extend(_prune(st, obs, served.get(st.fqn, set())))

    warnings = [*runtime_warnings(desired), *package_warnings(desired, observed), *stage_warnings(desired, observed)]
    return Plan(tuple(changes), observed.fingerprint(), tuple(warnings))


def runtime_warnings(desired: Desired) -> list[str]:
    """Functions on a runtime Snowflake has deprecated (still deployable; see deploy.runtimes)."""
    return [f"{fn.origin}.runtime: {why}" for fn in desired.functions.values() if (why := runtimes.warning(fn.runtime))]


def package_warnings(desired: Desired, observed: Observed) -> list[str]:
    out = [
        f"{fn.origin}.packages: Python {fn.runtime} installs PACKAGES from Snowflake's PyPI repository by default, "
        "not the Anaconda channel (docs: bcr-2325): use PyPI names (torch, not pytorch); not checked here"
        for fn in desired.functions.values()
        if fn.packages and runtimes.pypi_packages(fn.runtime)
    ]
    if observed.packages is None and any(f.packages for f in desired.functions.values()):
        out.append("the Snowflake channel (INFORMATION_SCHEMA.PACKAGES) could not be read; packages were not checked")
    return out


def _shown_versions(versions: list[str]) -> str:
    return ", ".join(versions[-8:]) + (f" (and {len(versions) - 8} older)" if len(versions) > 8 else "")


def package_problems(desired: Desired, observed: Observed) -> list[str]:
    """Packages the channel does not offer for the function's runtime, as manifest problems.

    Checked per runtime: INFORMATION_SCHEMA.PACKAGES has one row per package version per
    Python version (docs: bcr-bundles/2023_04/bcr-1094), and CREATE FUNCTION resolves
    PACKAGES for its RUNTIME_VERSION only. Found at plan, before anything is uploaded.
    """
    if observed.packages is None:
        return []
    problems = []
    for fn in desired.functions.values():
        if runtimes.pypi_packages(fn.runtime):
            continue  # not the Anaconda channel: see package_warnings
        for pkg in fn.packages:
            name, specifier = split_spec(pkg)
            rows = observed.packages.get(name)
            where = f"{fn.origin}.packages"
            if rows is None:
                known = list(observed.packages)
                hint = difflib.get_close_matches(name, known, n=1)
                alias = {"torch": "pytorch"}.get(name)
                did = alias or (hint[0] if hint else None)
                problems.append(
                    f"{where}: {name!r} is not in Snowflake's Anaconda channel for Python"
                    + (f"; did you mean {did!r}?" if did else "; check INFORMATION_SCHEMA.PACKAGES")
                )
                continue
            offered = versions_for(rows, fn.runtime)
            if satisfying(offered, specifier):
                continue
            elsewhere = [r for r in runtimes_offering(rows, specifier) if r != fn.runtime]
            there = f"; available for Python {fn.runtime}: {_shown_versions(offered)}" if offered else ""
            also = f"; offered for Python {', '.join(elsewhere)}" if elsewhere else ""
            problems.append(
                f"{where}: {pkg} is not offered for Python {fn.runtime} in Snowflake's channel"
                f" (INFORMATION_SCHEMA.PACKAGES){there}{also}"
            )
    return problems
