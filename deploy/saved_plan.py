"""Saved plans that travel: written in one checkout (a CI plan job), applied from another (the apply job).

``stamp`` makes a plan portable before it is written: every upload names its file
relative to a root (``SourceRoots.ref``), and the plan records its ``Scope`` and a
digest of each manifest property and staged file. ``load`` reads a plan file back,
saying plainly what a file is when it is not one. ``check`` refuses a plan that no
longer fits, each cause with its own error and remedy (another target / the
manifests changed), and resolves the uploads to this checkout's files;
``apply_checked`` re-observes the account and refuses when that moved on.

The root of a file (docs/plan-format.md, "Upload sources"), the first that holds it:

1. ``cache``: the deploy cache (T5_DEPLOY_CACHE), where the files generated from the
   manifests live (``generated/<sha>/udf_config.json``, from a function's ``settings``);
   the applying checkout generates them again from its own manifests, into its own cache,
   wherever that is (inside the project or not).
2. ``artifacts_root``: the folder a manifest declares with ``artifacts_root:``, recorded by
   that manifest (project-relative) and the expression as written (``${T5_ARTIFACTS:-...}``).
   Each checkout evaluates the expression in its own environment, so a training run
   downloaded to another folder, or ``artifacts/latest`` linked to another run folder,
   resolves the same. It comes before the project even inside it: links are followed
   (confinement keeps real paths), and a path through the run folder a link points at
   would not exist in a checkout whose ``latest`` is a plain folder.
3. ``project``: the project root (deploy.confine), e.g. ``udf/handler.py``.

Apply uploads only files that the applying checkout's manifests stage themselves: an
upload's reference must be one this checkout computes for one of its own files, with the
same size and sha256. A plan file is input, so it never names a path to read by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from deploy.apply import ApplyResult, Step, apply_plan
from deploy.artifacts import HashCache
from deploy.confine import project_root
from deploy.diff import diff
from deploy.errors import DeployError, PlanStale
from deploy.handler_config import CONFIG_NAME
from deploy.local_file import ROOT_ABSOLUTE, ROOT_ARTIFACTS, ROOT_CACHE, ROOT_PROJECT, LocalFile, SourceRef
from deploy.manifest_yaml import YamlProblem, interpolate, read_text
from deploy.observe import observe
from deploy.plan import FORMAT_VERSION, Change, Plan, PlanFormatError, Scope
from deploy.render.common import scope_line
from deploy.session import Session
from deploy.spec import Desired
from deploy.text import one_line

SAVE_HINT = "save a plan apply can read with `deploy plan --format json --out plan.json`"
REPLAN_HINT = "run `deploy plan` again (and review it) before applying"
_MAX_LISTED = 6


class NotASavedPlan(DeployError):
    """The file given to ``apply --plan`` is not a plan this deploy can read; the message says what it is."""


class PlanForAnotherTarget(PlanStale):
    """The plan was made for another connection, account, database or schema."""


class ManifestsChanged(PlanStale):
    """A manifest property or a staged file differs from when the plan was made."""


class AccountChanged(PlanStale):
    """The account's objects differ from what the plan observed."""


# --- what a plan file is -------------------------------------------------------------------


def _what_text_is(path: Path, text: str) -> str:
    """A reader's name for a file that is not JSON, from its suffix and first lines."""
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        return "empty"
    first = body.splitlines()[0]
    if (
        path.suffix.lower() in (".md", ".markdown")
        or first.startswith(("#", "**", "<details"))
        or (re.search(r"^\|.*\|\s*$", body, re.M))
    ):
        return "Markdown (what `deploy plan --format markdown` writes for a pull-request comment)"
    if first.startswith(("Resource actions are", "No changes", "Warning:", "Plan: ")):
        return "the text form of a plan (what `deploy plan` prints)"
    if path.suffix.lower() == ".sql" or first.startswith("-- "):
        return "SQL (what `deploy plan --format sql` prints)"
    return "text, not JSON"


def load(path: Path) -> Plan:
    """The saved plan in ``path``; NotASavedPlan naming what the file is otherwise, and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotASavedPlan(f"{path} does not exist; {SAVE_HINT}") from None
    except UnicodeDecodeError:
        raise NotASavedPlan(f"{path} is not a saved plan: it is binary, not UTF-8 JSON; {SAVE_HINT}") from None
    except OSError as e:
        raise NotASavedPlan(f"cannot read the saved plan {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise NotASavedPlan(f"{path} is not a saved plan: it is {_what_text_is(path, text)}; {SAVE_HINT}") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise NotASavedPlan(f"{path} is JSON but not a saved plan (it has no format_version); {SAVE_HINT}")
    version = doc["format_version"]
    if version == 1:
        raise NotASavedPlan(
            f"{path} is a saved plan of format 1, written by an older t5-deploy: it holds absolute local "
            f"paths and not the target it was made for, so it cannot be checked here; {SAVE_HINT} and apply that"
        )
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise NotASavedPlan(
            f"{path} is a saved plan of format {version}, written by a newer t5-deploy (this one reads "
            f"{FORMAT_VERSION}); apply it with that version, or {SAVE_HINT} with this one"
        )
    try:
        plan = Plan.from_dict(doc)
    except PlanFormatError as e:
        raise NotASavedPlan(f"{path}: {e}; {SAVE_HINT}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        detail = f"missing {e}" if isinstance(e, KeyError) else one_line(e)
        raise NotASavedPlan(f"{path} is a damaged saved plan ({detail}); {SAVE_HINT}") from None
    if plan.scope is None or plan.manifests is None:
        raise NotASavedPlan(
            f"{path} holds a plan without the scope it was made for (e.g. `deploy drift --format json` output); "
            f"{SAVE_HINT}"
        )
    if not _digest_shaped(plan.manifests):
        raise NotASavedPlan(f"{path} is a damaged saved plan (its `manifests` is not as written); {SAVE_HINT}")
    return plan


def _digest_shaped(manifests: Any) -> bool:
    """``manifest_digest``'s shape: {"stages"|"functions": {name: {"properties"|"files": {str: str}}}}."""

    def flat(d: Any) -> bool:
        return isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())

    return isinstance(manifests, dict) and all(
        isinstance(objects, dict)
        and all(
            isinstance(o, dict) and all(flat(o.get(k, {})) for k in ("properties", "files")) for o in objects.values()
        )
        for objects in (manifests.get("stages", {}), manifests.get("functions", {}))
    )


# --- the scope and the manifests' digest ---------------------------------------------------


def current_scope(connection: str | None, desired: Desired) -> Scope:
    """This run's scope: the environment (--env), the resolved connection (name, account, host) and the
    manifests' target."""
    from deploy.connection import resolve_target

    spec = resolve_target(connection, desired.environment)
    account, host = spec.params.get("account"), spec.params.get("host")
    return Scope(
        connection=spec.name,
        account=str(account) if account else None,
        host=str(host) if host else None,
        databases=tuple(sorted(desired.databases)),
        schemas=tuple(sorted(f"{db}.{sc}" for db, sc in desired.schemas)),
        environment=desired.environment.name if desired.environment else None,
    )


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=_plain).encode()).hexdigest()[:16]


# Not properties: where an object was declared (a comment added above it moves its line), its names
# (the keys, and the target), and the staged files (digested one by one).
_NOT_PROPERTIES = frozenset({"origin", "database", "schema", "name", "files"})


def _properties(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj) if f.name not in _NOT_PROPERTIES}


def _property_digests(obj: Any) -> dict[str, str]:
    return {name: _digest(value) for name, value in sorted(_properties(obj).items())}


def manifest_digest(desired: Desired) -> dict[str, Any]:
    """Each stage's and function's properties, and each staged file, digested and keyed by object."""
    return {
        "stages": {
            fqn: {"properties": _property_digests(st), "files": {f.name: f.sha256 for f in st.files}}
            for fqn, st in sorted(desired.stages.items())
        },
        "functions": {
            identity: {"properties": _property_digests(fn)} for identity, fn in sorted(desired.functions.items())
        },
    }


def _changed_keys(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    before, after = before or {}, after or {}
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def manifest_changes(then: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between two ``manifest_digest``s, one line per object or file, in a stable order."""
    out: list[str] = []
    for kind in ("stages", "functions"):
        before, after = then.get(kind) or {}, now.get(kind) or {}
        singular = kind[:-1]
        for name in sorted(before.keys() | after.keys()):
            if name not in after:
                out.append(f"{singular} {name} is no longer declared")
                continue
            if name not in before:
                out.append(f"{singular} {name} is newly declared")
                continue
            if changed := _changed_keys(before[name].get("properties"), after[name].get("properties")):
                out.append(f"{singular} {name}: {', '.join(changed)} changed")
            if kind == "stages":
                out += _file_changes(name, before[name].get("files") or {}, after[name].get("files") or {})
    return out


def _file_changes(stage: str, then: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    out = []
    for file in _changed_keys(then, now):
        if file not in now:
            out.append(f"stage {stage}: file {file} is no longer staged")
        elif file not in then:
            out.append(f"stage {stage}: file {file} is newly staged")
        else:
            settings = " (generated from a function's `settings`)" if file == CONFIG_NAME else ""
            out.append(f"stage {stage}: file {file} has other content{settings}")
    return out


# --- upload sources ---------------------------------------------------------------------


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class ArtifactsRoot:
    manifest: str  # relative to the project root, POSIX
    expression: str  # as written in the manifest
    path: Path  # resolved in this checkout and environment, links followed


@dataclass(frozen=True)
class SourceRoots:
    """This checkout's roots: what a portable reference is relative to."""

    project: Path
    artifacts: tuple[ArtifactsRoot, ...]
    cache: Path

    @classmethod
    def of(cls, desired: Desired, cache_dir: Path, environ: Mapping[str, str] | None = None) -> SourceRoots:
        """The roots of the manifests ``desired`` was loaded from, as deploy.manifest resolves them."""
        environ = os.environ if environ is None else environ
        manifests = [Path(os.path.realpath(p)) for p in desired.manifest_files]
        project = project_root(manifests[0].parent) if manifests else Path.cwd().resolve()
        roots = [r for m in manifests if (r := _artifacts_root(m, project, environ)) is not None]
        return cls(project, tuple(roots), Path(os.path.realpath(cache_dir)))

    def ref(self, source: Path | str) -> SourceRef:
        """The portable reference of a local file (ROOT_ABSOLUTE when no root holds it)."""
        real = Path(os.path.realpath(source))
        if _within(real, self.cache):
            return SourceRef(ROOT_CACHE, real.relative_to(self.cache).as_posix())
        for root in self.artifacts:
            if _within(real, root.path):
                return SourceRef(ROOT_ARTIFACTS, real.relative_to(root.path).as_posix(), root.manifest, root.expression)
        if _within(real, self.project):
            return SourceRef(ROOT_PROJECT, real.relative_to(self.project).as_posix())
        return SourceRef(ROOT_ABSOLUTE, str(real))


def _artifacts_root(manifest: Path, project: Path, environ: Mapping[str, str]) -> ArtifactsRoot | None:
    """A manifest's declared `artifacts_root`, both as written and resolved (as deploy.manifest._roots does)."""
    try:
        data = yaml.safe_load(read_text(manifest))  # already validated (size, depth) by load_manifests
    except (OSError, YamlProblem, yaml.YAMLError):
        return None
    expression = data.get("artifacts_root") if isinstance(data, dict) else None
    if not isinstance(expression, str):
        return None
    problems: list[str] = []
    declared = interpolate(expression, environ, str(manifest), problems)
    if problems:
        return None
    rel = Path(os.path.relpath(manifest, project))  # the project root is found from the manifest's folder
    return ArtifactsRoot(rel.as_posix(), expression, Path(os.path.realpath(manifest.parent / declared)))


def _stamped(u: LocalFile, roots: SourceRoots) -> LocalFile:
    """An upload with its portable reference; one read from a plan file keeps the one it has."""
    return replace(u, ref=roots.ref(u.source)) if u.source is not None else u


def stamp(plan: Plan, desired: Desired, scope: Scope, roots: SourceRoots) -> Plan:
    """The plan as `plan --format json` saves it: portable upload references, its scope and manifests' digest."""
    changes = tuple(
        replace(c, uploads=tuple(_stamped(u, roots) for u in c.uploads)) if c.uploads else c for c in plan.changes
    )
    return replace(plan, changes=changes, scope=scope, manifests=manifest_digest(desired))


# --- the checks --------------------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    # Compared only where both runs set one, case-insensitively: an account identifier is the first DNS
    # label of <account_identifier>.snowflakecomputing.com (docs.snowflake.com user-guide/admin-account-identifier)
    # and DNS names compare without case (RFC 4343).
    return a is None or b is None or a.lower() == b.lower()


def _env_name(name: str | None) -> str:
    return f"'{name}'" if name else "none (no --env)"


def target_differences(then: Scope, now: Scope) -> list[str]:
    out = []
    if then.environment != now.environment:
        out.append(f"environment {_env_name(then.environment)} -> {_env_name(now.environment)}")
    if then.connection != now.connection:
        out.append(f"connection '{then.connection}' -> '{now.connection}'")
    if not _same(then.account, now.account):
        out.append(f"account {then.account} -> {now.account}")
    if not _same(then.host, now.host):
        out.append(f"host {then.host} -> {now.host}")
    if then.databases != now.databases:
        out.append(f"database {', '.join(then.databases) or '-'} -> {', '.join(now.databases) or '-'}")
    if then.schemas != now.schemas:
        out.append(f"schema {', '.join(then.schemas) or '-'} -> {', '.join(now.schemas) or '-'}")
    return out


def _target_variables(desired: Desired) -> list[str]:
    """The ${VAR}s the manifests' `database:` and `schema:` read, for the remedy."""
    names: list[str] = []
    for manifest in desired.manifest_files:
        try:
            data = yaml.safe_load(read_text(Path(manifest)))
        except (OSError, YamlProblem, yaml.YAMLError):
            continue
        for key in ("database", "schema"):
            value = data.get(key) if isinstance(data, dict) else None
            names += re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", value) if isinstance(value, str) else []
    return list(dict.fromkeys(names))


def check_target(saved: Plan, desired: Desired, scope: Scope) -> None:
    assert saved.scope is not None  # load() refuses plans without one
    differences = target_differences(saved.scope, scope)
    if not differences:
        return
    variables = _target_variables(desired)
    env = f", {' and '.join(variables)}" if variables else ""
    if saved.scope.environment:
        env = f", `--env {saved.scope.environment}`{env}"
    raise PlanForAnotherTarget(
        f"the plan is for another target: it was made for {one_line(scope_line(saved.scope))}; this run targets "
        f"{one_line(scope_line(scope))} ({'; '.join(one_line(d) for d in differences)}). Apply it with the "
        f"connection{env} it was made with, or make a new plan for this target with `deploy plan`"
    )


def check_manifests(saved: Plan, desired: Desired) -> None:
    assert saved.manifests is not None
    changes = manifest_changes(saved.manifests, manifest_digest(desired))
    if changes:
        raise ManifestsChanged(_listed("the manifests changed since the plan was made", changes))


def _listed(head: str, items: list[str]) -> str:
    shown = [one_line(i) for i in items[:_MAX_LISTED]]
    more = f"; and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    again = f"apply from the commit and artifacts the plan was made from, or {REPLAN_HINT}"
    return f"{head}: {'; '.join(shown)}{more}. To go on, {again}"


def resolve_uploads(saved: Plan, desired: Desired, roots: SourceRoots) -> Plan:
    """The plan with each upload's source set to this checkout's file; ManifestsChanged where there is none."""
    local: dict[SourceRef, LocalFile] = {roots.ref(f.source): f for st in desired.stages.values() for f in st.files}

    def resolved(change: Change, u: LocalFile) -> LocalFile:
        found = local.get(u.ref) if u.ref is not None and u.ref.root != ROOT_ABSOLUTE else None
        if found is None or found.sha256 != u.sha256 or found.size != u.size:
            where = str(u.ref) if u.ref else str(u.source)
            raise ManifestsChanged(
                _listed(
                    "the manifests changed since the plan was made",
                    [f"{change.name}: file {u.name} ({where}) is not staged here with that content"],
                )
            )
        return replace(u, source=found.source)

    changes = tuple(
        replace(c, uploads=tuple(resolved(c, u) for u in c.uploads)) if c.uploads else c for c in saved.changes
    )
    return replace(saved, changes=changes)


def check(saved: Plan, desired: Desired, scope: Scope, roots: SourceRoots) -> Plan:
    """Refuse a plan for another target, or made from other manifests; else the plan with this checkout's files."""
    check_target(saved, desired, scope)
    check_manifests(saved, desired)
    return resolve_uploads(saved, desired, roots)


def _plan_difference(saved: Plan, now: Plan) -> list[str]:
    """The changes one plan has and the other lacks, as `deploy plan` would list them now."""
    then_keys = {(c.action.word, c.kind.value, c.name) for c in saved.changes}
    now_keys = {(c.action.word, c.kind.value, c.name) for c in now.changes}
    out = [f"now also {a} {k.replace('_', ' ')} {n}" for a, k, n in sorted(now_keys - then_keys)]
    out += [f"no longer {a} {k.replace('_', ' ')} {n}" for a, k, n in sorted(then_keys - now_keys)]
    return out


def apply_checked(
    session: Session,
    saved: Plan,
    desired: Desired,
    *,
    marker_dir: Path,
    hashes: HashCache,
    allow_destroy: bool = False,
    on_step: Callable[[int, int, Step], None] | None = None,
) -> ApplyResult:
    """Apply a checked plan (``check``), only while the account still looks as it did when it was made."""
    observed = observe(session, desired)
    if observed.fingerprint() != saved.observed_fingerprint:
        differences = _plan_difference(saved, diff(desired, observed))
        head = "the account changed since this plan was made (the saved plan is stale)"
        if differences:
            head += ": `deploy plan` would " + "; ".join(one_line(d) for d in differences[:_MAX_LISTED])
        raise AccountChanged(f"{head}. Someone or something changed its objects; {REPLAN_HINT}")
    return apply_plan(
        saved, session, marker_dir=marker_dir, hashes=hashes, allow_destroy=allow_destroy, on_step=on_step
    )
