"""Pure diff: (desired, observed) -> Plan. No connection, clock or environment.

Order is deterministic: databases and schemas, stages, stage file versions,
functions, then deletions (functions, stages) and pruning of old versions.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any

from deploy import TOOL_NAME
from deploy.observe import Observed, ObservedFunction, ObservedStage, split_tag, tag
from deploy.plan import Action, Change, Kind, Plan, Upload
from deploy.spec import MARKER_NAME, Desired, FunctionSpec, StageSpec, split_import
from deploy.units import human_bytes

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


def function_properties(fn: FunctionSpec, stages: dict[str, StageSpec]) -> dict[str, Any]:
    """Everything CREATE FUNCTION renders, normalised as DESCRIBE FUNCTION is parsed.

    The COMMENT ends with the ownership tag carrying a hash of all other
    properties, so a hand edit that keeps the comment is still caught field by field.
    """
    props: dict[str, Any] = {
        "database": fn.database,
        "schema": fn.schema,
        "name": fn.name,
        "identity": fn.identity,
        "args": [[a.name, a.type] for a in fn.args],
        "returns": fn.returns,
        "language": "PYTHON",
        "runtime": fn.runtime,
        "handler": fn.handler,
        "packages": sorted(p.lower() for p in fn.packages),
        "imports": sorted(f"@{ref.stage}/{stages[ref.stage].version}/{ref.file}" for ref in fn.imports),
        "null_handling": fn.null_handling,
        "volatility": fn.volatility,
        "body": "",
        "comment": fn.comment,
    }
    spec = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:12]
    props["comment"] = f"{fn.comment} {tag(spec)}".strip()
    props["spec"] = spec
    return props


def observed_properties(fn: ObservedFunction) -> dict[str, Any]:
    return {
        "database": fn.database,
        "schema": fn.schema,
        "name": fn.name,
        "identity": fn.identity,
        "args": [list(a) for a in fn.args],
        "returns": fn.returns,
        "language": fn.language,
        "runtime": fn.runtime,
        "handler": fn.handler,
        "packages": sorted(fn.packages),
        "imports": sorted(fn.imports),
        "null_handling": fn.null_handling,
        "volatility": fn.volatility,
        "body": fn.body,
        "comment": fn.comment,
    }


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _import_reasons(before: list[str], after: list[str]) -> list[str]:
    """Explain import changes per stage: a version bump reads as one line."""

    def by_stage(paths: list[str]) -> dict[str, set[str]]:
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


def compare_function(want: dict[str, Any], have: ObservedFunction) -> list[str]:
    """Field-by-field differences, each as a readable reason."""
    got = observed_properties(have)
    # The user's comment is compared without the tag: the tag's spec hash moves
    # whenever another field does, which would only repeat that field's reason.
    got["comment"] = split_tag(got["comment"])[0]
    want_comment = split_tag(want["comment"])[0]
    reasons: list[str] = []
    for key in _COMPARED:
        wanted = want_comment if key == "comment" else want[key]
        if wanted == got[key]:
            continue
        if key == "imports":
            reasons += _import_reasons(got[key], want[key])
        elif key == "body":
            reasons.append("body: inline code was added outside the manifests")
        else:
            reasons.append(f"{key}: {_short(got[key])} -> {_short(wanted)}")
    _, managed, spec = split_tag(have.comment)
    if not reasons and managed and spec != want["spec"]:
        reasons.append(f"ownership tag records spec {spec}, the manifests give {want['spec']}")
    if reasons and managed and spec == want["spec"]:
        reasons.insert(
            0, f"changed outside {TOOL_NAME}: the live function no longer matches the spec its comment records"
        )
    elif not managed:
        reasons.insert(0, f"exists but is not managed by {TOOL_NAME}; it will be taken over")
    return reasons


def function_delete(fn: ObservedFunction, reason: str) -> Change:
    return Change(Action.DELETE, Kind.FUNCTION, fn.identity, (reason,), before=observed_properties(fn))


def stage_delete(st: ObservedStage, reason: str) -> Change:
    """Drop a managed stage; one that also holds foreign files keeps them and loses only managed versions."""
    foreign = [f.path for f in st.foreign_files()]
    if foreign:
        reason += f"; {len(foreign)} foreign file(s) keep the stage, only managed versions go"
    return Change(
        Action.DELETE,
        Kind.STAGE,
        st.fqn,
        (reason,),
        before={"database": st.database, "schema": st.schema, "name": st.name, "foreign_files": foreign},
        removes=tuple(f"{v}/" for v in sorted(st.versions())),
    )


def _stage_after(st: StageSpec) -> dict[str, Any]:
    return {"database": st.database, "schema": st.schema, "name": st.name, "comment": f"{st.comment} {tag()}".strip()}


def _version_doc(st: StageSpec) -> dict[str, Any]:
    return {
        "database": st.database,
        "schema": st.schema,
        "stage": st.name,
        "version": st.version,
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in st.files],
    }


def _uploads(st: StageSpec, names: set[str] | None = None) -> tuple[Upload, ...]:
    return tuple(Upload(f.name, str(f.source), f.size, f.sha256) for f in st.files if names is None or f.name in names)


def _stage_version_change(st: StageSpec, obs: ObservedStage | None) -> Change | None:
    version = st.version
    there = obs.versions().get(version, {}) if obs else {}
    name = f"{st.fqn}/{version}"
    if not there:
        why = "the stage does not exist yet" if obs is None else "new content version (file contents changed)"
        return Change(
            Action.CREATE,
            Kind.STAGE_VERSION,
            name,
            (f"{why}: {len(st.files)} file(s), {human_bytes(st.total_bytes)}",),
            after=_version_doc(st),
            uploads=_uploads(st),
        )
    reasons: list[str] = []
    to_upload: set[str] = set()
    for f in st.files:
        remote = there.get(f.name)
        if remote is None:
            reasons.append(f"missing file {f.name}")
            to_upload.add(f.name)
        elif remote.size != f.size:
            reasons.append(f"{f.name}: size {remote.size} -> {f.size}")
            to_upload.add(f.name)
    wanted = {f.name for f in st.files} | {MARKER_NAME}
    extra = sorted(n for n in there if n not in wanted)
    reasons += [f"unexpected file {n} in a managed version" for n in extra]
    if MARKER_NAME not in there:
        reasons.append("completion marker missing: an earlier upload was interrupted; finishing it")
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
    )


def _prune(st: StageSpec, obs: ObservedStage, protected: set[str]) -> list[Change]:
    versions = obs.versions()
    current = st.version
    complete = [v for v, files in versions.items() if v != current and MARKER_NAME in files]
    # Newest first by upload time; the version name breaks ties deterministically.
    complete.sort(key=lambda v: (max(f.last_modified for f in versions[v].values()), v), reverse=True)
    keep = set(complete[: max(st.keep_versions - 1, 0)]) | protected | {current}
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
                before={
                    "database": st.database,
                    "schema": st.schema,
                    "stage": st.name,
                    "version": v,
                    "files": sorted(versions[v]),
                },
                removes=(f"{v}/",),
            )
        )
    return out


def diff(desired: Desired, observed: Observed) -> Plan:
    changes: list[Change] = []
    for db in desired.databases:
        if db not in observed.databases:
            changes.append(Change(Action.CREATE, Kind.DATABASE, db, ("it does not exist",), after={"name": db}))
    for db, sc in desired.schemas:
        if (db, sc) not in observed.schemas:
            changes.append(
                Change(
                    Action.CREATE, Kind.SCHEMA, f"{db}.{sc}", ("it does not exist",), after={"database": db, "name": sc}
                )
            )
    for st in desired.stages.values():
        if st.fqn not in observed.stages:
            changes.append(Change(Action.CREATE, Kind.STAGE, st.fqn, ("it does not exist",), after=_stage_after(st)))
    for st in desired.stages.values():
        if (c := _stage_version_change(st, observed.stages.get(st.fqn))) is not None:
            changes.append(c)

    for identity, fn in desired.functions.items():
        want = function_properties(fn, desired.stages)
        have = observed.functions.get(identity)
        if have is None:
            changes.append(Change(Action.CREATE, Kind.FUNCTION, identity, ("it does not exist",), after=want))
        elif reasons := compare_function(want, have):
            changes.append(
                Change(
                    Action.REPLACE,
                    Kind.FUNCTION,
                    identity,
                    tuple(reasons),
                    before=observed_properties(have),
                    after=want,
                )
            )

    gone = f"managed by {TOOL_NAME} but no longer in the manifests"
    for identity, fn in sorted(observed.functions.items()):
        if identity not in desired.functions and fn.managed:
            changes.append(function_delete(fn, gone))
    for fqn, obs in sorted(observed.stages.items()):
        if fqn not in desired.stages and obs.managed:
            changes.append(stage_delete(obs, gone))

    # Versions imported by functions this run leaves alone must survive pruning.
    protected: dict[str, set[str]] = {}
    for identity, fn in observed.functions.items():
        if identity in desired.functions:
            continue
        for imp in fn.imports:
            stage, version, _ = split_import(imp)
            protected.setdefault(stage, set()).add(version)
    for st in desired.stages.values():
        if (obs := observed.stages.get(st.fqn)) is not None:
            changes.extend(_prune(st, obs, protected.get(st.fqn, set())))

    return Plan(tuple(changes), observed.fingerprint(), tuple(package_warnings(desired, observed)))


def package_warnings(desired: Desired, observed: Observed) -> list[str]:
    if observed.packages is None and any(f.packages for f in desired.functions.values()):
        return ["the Snowflake channel (INFORMATION_SCHEMA.PACKAGES) could not be read; packages were not checked"]
    return []


def package_problems(desired: Desired, observed: Observed) -> list[str]:
    """Packages the channel does not offer, as manifest problems (conda names: pytorch, not torch)."""
    if observed.packages is None:
        return []
    problems = []
    for fn in desired.functions.values():
        for pkg in fn.packages:
            name, _, version = pkg.partition("==")
            versions = observed.packages.get(name.lower())
            where = f"{fn.origin}.packages"
            if versions is None:
                known = list(observed.packages)
                hint = difflib.get_close_matches(name.lower(), known, n=1)
                alias = {"torch": "pytorch"}.get(name.lower())
                did = alias or (hint[0] if hint else None)
                problems.append(
                    f"{where}: {name!r} is not in Snowflake's Anaconda channel for Python"
                    + (f"; did you mean {did!r}?" if did else "; check INFORMATION_SCHEMA.PACKAGES")
                )
            elif version and version not in versions:
                problems.append(
                    f"{where}: {name}=={version} is not in the channel; available: {', '.join(versions[-8:])}"
                )
    return problems
