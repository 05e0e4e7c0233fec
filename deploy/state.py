"""The observed-state model and the ownership tag: pure data, no session.

``deploy.diff`` imports this instead of ``deploy.observe`` so the diff never
depends on the module that reads the account.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from deploy import TOOL_NAME
from deploy.names import FQN, FunctionIdentity
from deploy.spec import is_version_name
from deploy.sql import argument_type

# The machine-readable ownership tag carried at the end of a COMMENT.
# After the spec, apply records provenance as `key=value` fields (deploy.provenance):
# `[t5-deploy spec=0a1b2c3d4e5f at=2024-05-01T12:00:00Z by=CI_USER commit=3f2a... run=20240501-tiny]`.
# A tag without them (written before provenance was recorded) still reads: its fields are unknown.
TAG_RE = re.compile(
    r"\s*\[" + re.escape(TOOL_NAME) + r"(?: spec=(?P<spec>[0-9a-f]+))?(?P<fields>(?: [a-z_]+=[^\s\]]*)*)\]\s*$"
)
_TAG_FIELD_RE = re.compile(r" ([a-z_]+)=([^\s\]]*)")
# Percent-encoded in a tag field: what would end the field or the tag.
_TAG_SAFE = "@:._-+/,"


def tag(spec_hash: str | None = None, fields: Mapping[str, str | None] | None = None) -> str:
    extra = "".join(f" {k}={quote(v, safe=_TAG_SAFE)}" for k, v in (fields or {}).items() if v)
    return f"[{TOOL_NAME}" + (f" spec={spec_hash}" if spec_hash else "") + extra + "]"


def tag_fields(comment: str | None) -> dict[str, str]:
    """The provenance fields of a COMMENT's ownership tag (``at``, ``by``, ...); {} when it has none."""
    m = TAG_RE.search(comment or "")
    if not m:
        return {}
    return {k: unquote(v) for k, v in _TAG_FIELD_RE.findall(m.group("fields") or "")}


def split_tag(comment: str | None) -> tuple[str, bool, str | None]:
    """(user comment, managed?, spec hash) of a COMMENT."""
    comment = comment or ""
    m = TAG_RE.search(comment)
    if not m:
        return comment, False, None
    return comment[: m.start()], True, m.group("spec")


# --- what LIST's size and md5 mean, by the stage's encryption ------------------------------
# CREATE STAGE without ENCRYPTION gives SNOWFLAKE_FULL (client-side encryption); SHOW STAGES
# tells the two apart in its `type` column: "INTERNAL" (FULL) and "INTERNAL NO CSE" (SSE).
# Sources: docs.snowflake.com/en/sql-reference/sql/create-stage (internalStageParams);
# littleK0i/SnowDDL snowddl/resolver/stage.py `_is_replace_required` and test/stage/st003.py
# (an SSE stage shows "INTERNAL NO CSE", a FULL one "INTERNAL", on a real account);
# Titan titan/data_provider.py `fetch_stage`. DESCRIBE STAGE does not show it (Terraform
# provider, stage_internal resource: "Snowflake does not return encryption settings").
SNOWFLAKE_FULL = "SNOWFLAKE_FULL"
SNOWFLAKE_SSE = "SNOWFLAKE_SSE"
_STAGE_TYPES = {"INTERNAL": SNOWFLAKE_FULL, "INTERNAL NO CSE": SNOWFLAKE_SSE}

# The connector uploads a file in one part below this size (file_transfer_agent.py:
# `multipart_threshold or 67108864`); above it LIST's md5 is `<md5>-<parts>` (snowflake-cli
# src/snowflake/cli/_plugins/stage/md5.py, MULTIPART_MD5SUM_REGEX).
MULTIPART_THRESHOLD = 64 * 1024 * 1024
_PLAIN_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


def stage_encryption(show_type: str | None) -> str | None:
    """SHOW STAGES `type` -> SNOWFLAKE_FULL | SNOWFLAKE_SSE; None when it says neither."""
    kind = " ".join(str(show_type or "").upper().replace("TEMPORARY", "").split())
    return _STAGE_TYPES.get(kind)


def full_listed_size(size: int) -> int:
    """LIST's size of a file on a SNOWFLAKE_FULL stage: the padded ciphertext, 16 * (n // 16 + 1).

    Snowflake CLI docs, "Manage stages" (`snow stage copy` then `ls` on a default stage):
    files of 62, 252 and 109 bytes list as 64, 256 and 112. SnowDDL resolver/stage_file.py:
    LIST's size and md5 are "not reliable due to encryption".
    """
    return 16 * (size // 16 + 1)


def listed_sizes(size: int, encryption: str | None) -> tuple[int, ...]:
    """The LIST sizes a file of ``size`` plaintext bytes may show; either rule when the type is unknown."""
    if encryption == SNOWFLAKE_SSE:
        return (size,)
    if encryption == SNOWFLAKE_FULL:
        return (full_listed_size(size),)
    return (size, full_listed_size(size))


def plaintext_md5(remote_md5: str | None, size: int, encryption: str | None) -> str | None:
    """LIST's md5 when it is the md5 of the file's bytes, else None.

    Only on SNOWFLAKE_SSE stages (on FULL it is the ciphertext's), only for single-part uploads
    (multipart shows ``<md5>-<parts>``) and never NULL (some Azure stages): snowflake-cli
    _plugins/stage/diff.py compares md5 only against SSE listings (tests/stage/test_diff.py
    `stage_contents`: "as they would be listed by a SNOWFLAKE_SSE stage").
    """
    if encryption != SNOWFLAKE_SSE or size >= MULTIPART_THRESHOLD or not remote_md5:
        return None
    return remote_md5.lower() if _PLAIN_MD5_RE.match(remote_md5) else None


# Each apply (and rollback) that makes a function import a version leaves a small JSON record of
# it in `<version>/_releases/` (deploy.provenance). A sub-folder, so the version's own file list
# (`versions()`, the diff's "unexpected file" check) and its completion marker stay as they were;
# pruning a version (REMOVE @stage/<version>/) takes its records with it.
RELEASES_FOLDER = "_releases"


def is_release_record(path: str) -> bool:
    """``<version>/_releases/<name>.json``: a release record inside a managed version folder."""
    parts = path.split("/")
    return len(parts) == 3 and is_version_name(parts[0]) and parts[1] == RELEASES_FOLDER and parts[2].endswith(".json")


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the stage root, e.g. "3f2a9c1b4d5e6f70/model.safetensors"
    size: int
    md5: str | None
    last_modified: str

    @property
    def modified_at(self) -> datetime | None:
        """``last_modified`` parsed: LIST gives RFC 1123, ``Fri, 1 Mar 2024 20:56:24 GMT`` (snowflake-cli
        tests/stage/test_diff.py DEFAULT_LAST_MODIFIED); ISO 8601 is read too. None: unreadable."""
        try:
            when = email.utils.parsedate_to_datetime(self.last_modified)
        except (TypeError, ValueError, IndexError):
            try:
                when = datetime.fromisoformat(self.last_modified)
            except ValueError:
                return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the time of a file whose time is unknown


@dataclass(frozen=True)
class ObservedStage:
    database: str
    schema: str
    name: str
    comment: str
    files: tuple[RemoteFile, ...]
    encryption: str | None = None  # SNOWFLAKE_FULL | SNOWFLAKE_SSE; None: SHOW STAGES did not say

    @property
    def fqn(self) -> str:
        return FQN(self.database, self.schema, self.name).dotted

    @property
    def managed(self) -> bool:
        return split_tag(self.comment)[1]

    def versions(self) -> dict[str, dict[str, RemoteFile]]:
        """Managed version folders -> {file name: file}."""
        out: dict[str, dict[str, RemoteFile]] = {}
        for f in self.files:
            head, _, rest = f.path.partition("/")
            if rest and "/" not in rest and is_version_name(head):
                out.setdefault(head, {})[rest] = f
        return out

    def foreign_files(self) -> list[RemoteFile]:
        managed = {f.path for files in self.versions().values() for f in files.values()}
        return [f for f in self.files if f.path not in managed and not is_release_record(f.path)]

    def release_records(self, version: str) -> list[RemoteFile]:
        """The release records (deploy.provenance) kept in ``version``'s folder, oldest name first."""
        prefix = f"{version}/{RELEASES_FOLDER}/"
        return sorted(
            (f for f in self.files if f.path.startswith(prefix) and "/" not in f.path[len(prefix) :]),
            key=lambda f: f.path,
        )


@dataclass(frozen=True)
class ObservedFunction:
    database: str
    schema: str
    name: str
    args: tuple[tuple[str, str], ...]  # (name, type as DESCRIBE's signature prints it: VARCHAR, NUMBER)
    returns: str
    language: str
    runtime: str
    handler: str
    packages: tuple[str, ...]
    imports: tuple[str, ...]  # normalised stage paths (deploy.names.StagePath.normalized)
    null_handling: str
    volatility: str
    body: str
    comment: str

    @property
    def identity(self) -> str:
        return str(FunctionIdentity.of(self.database, self.schema, self.name, (argument_type(t) for _, t in self.args)))

    @property
    def managed(self) -> bool:
        return split_tag(self.comment)[1]


@dataclass(frozen=True)
class Observed:
    databases: frozenset[str]
    schemas: frozenset[tuple[str, str]]
    stages: dict[str, ObservedStage]
    functions: dict[str, ObservedFunction]
    # INFORMATION_SCHEMA.PACKAGES: package -> ((version, runtime), ...); runtime None = every runtime.
    packages: dict[str, tuple[tuple[str, str | None], ...]] | None = field(default=None)  # None: unread

    def fingerprint(self) -> str:
        """A digest of everything observed; a saved plan applies only while it is unchanged."""
        doc = {
            "databases": sorted(self.databases),
            "schemas": sorted(list(s) for s in self.schemas),
            "stages": {k: asdict(v) for k, v in sorted(self.stages.items())},
            "functions": {k: asdict(v) for k, v in sorted(self.functions.items())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]
