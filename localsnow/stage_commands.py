"""PUT, GET, LIST, REMOVE, CREATE STAGE (comment, encryption) and DROP STAGE.

Files move the way they move with Snowflake on GCP: the server answers PUT and
GET with a presigned URL per file, and the connector uploads or downloads over
HTTP. Here the URLs point back at this server (a signed route writing under the
stage root), so client and server need not share a filesystem.
"""

from __future__ import annotations

import os
import re
from urllib.request import url2pathname

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from localsnow import errors
from localsnow.command_args import FileCommand, parse_file_command
from localsnow.context import Context, Delegate, Transfer
from localsnow.like import STRING_BODY
from localsnow.names import (
    StageLocation,
    decode_string_body,
    object_name_from_table,
    parse_stage_location,
    qualify,
    split_qualified,
    unquote_literal,
)
from localsnow.responses import Column, ResultSet, status_result
from localsnow.stages import ENCRYPTION_TYPES, SNOWFLAKE_FULL, SNOWFLAKE_SSE

_FILE_SCHEME = "file://"
_NAME = r'(?:"(?:[^"]|"")*"|[^\s;."]+)(?:\.(?:"(?:[^"]|"")*"|[^\s;."]+))*'
_ALTER_COMMENT = re.compile(
    rf"^ALTER\s+STAGE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s+"
    rf"(?:SET\s+COMMENT\s*=\s*'(?P<comment>{STRING_BODY})'|(?P<unset>UNSET\s+COMMENT))\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _local_path(uri: str) -> str:
    """file:///a/b -> /a/b; the connector's per-file re-request sends file://<name> (no folder).

    Not urlparse: the path is a glob the connector expands itself (file_transfer_agent
    _expand_filenames), and an escaped name such as model[[]1].json, or the re-request's
    file://model[1].json (gcs_storage_client._update_presigned_url), would be read as an IPv6 host.
    """
    text = unquote_literal(uri)
    if text[: len(_FILE_SCHEME)].lower() != _FILE_SCHEME:
        return os.path.expanduser(text)
    rest = text[len(_FILE_SCHEME) :]
    if rest[:10].lower() == "localhost/":
        rest = rest[9:]
    return url2pathname(rest) if rest.startswith("/") else rest


def _arguments(command: FileCommand, count: int, usage: str) -> list[str]:
    if len(command.args) != count:
        raise errors.compilation_error(f"syntax error: expected {usage}")
    return command.args


def _stage_relative(location: StageLocation, *more: str) -> str:
    parts = [location.stage.database, location.stage.schema, location.stage.name]
    return "/".join(p for p in [*parts, location.path.strip("/"), *more] if p)


def put(ctx: Context, sql: str) -> Transfer:
    command = parse_file_command(sql)
    source, target = _arguments(command, 2, "PUT 'file://<path>' @<stage>[/<path>]")
    if target.strip() == "?":
        raise errors.unsupported("PUT with a bound stage name")
    location = parse_stage_location(target, ctx.database, ctx.schema, "PUT")
    ctx.state.stages.require(location.stage)
    src_path = _local_path(source)
    # The stage path names a folder; the file keeps its (possibly compressed) name.
    relative = _stage_relative(location, os.path.basename(src_path))
    return Transfer(
        {
            "stageInfo": {
                "locationType": "GCS",
                "location": f"{location.stage.dotted}/",
                "creds": {},
                "presignedUrl": ctx.bucket_url(relative),
            },
            "src_locations": [src_path],
            "parallel": int(command.options.get("PARALLEL", "4")),
            "autoCompress": command.option_bool("AUTO_COMPRESS", True),
            "sourceCompression": command.options.get("SOURCE_COMPRESSION", "auto_detect").lower(),
            "overwrite": command.option_bool("OVERWRITE", False),
            "command": "UPLOAD",
        }
    )


def get(ctx: Context, sql: str) -> Transfer:
    command = parse_file_command(sql)
    source, target = _arguments(command, 2, "GET @<stage>[/<path>] 'file://<directory>'")
    location = parse_stage_location(source, ctx.database, ctx.schema, "GET")
    stages = ctx.state.stages
    stages.require(location.stage)
    files = stages.files(location, command.options.get("PATTERN"))
    return Transfer(
        {
            "command": "DOWNLOAD",
            "src_locations": [stages.listed_name(location.stage, f.relative) for f in files],
            "presignedUrls": [
                ctx.bucket_url(_stage_relative(StageLocation(location.stage, ""), f.relative)) for f in files
            ],
            "localLocation": _local_path(target),
            "stageInfo": {"locationType": "GCS", "location": f"{location.stage.dotted}/", "creds": {}},
            "parallel": int(command.options.get("PARALLEL", "10")),
        }
    )


def list_files(ctx: Context, sql: str) -> ResultSet:
    command = parse_file_command(sql)
    (source,) = _arguments(command, 1, "LIST @<stage>[/<path>]")
    location = parse_stage_location(source, ctx.database, ctx.schema, "LIST")
    stages = ctx.state.stages
    stages.require(location.stage)
    encryption = stages.encryption(location.stage)
    rows = [
        (stages.listed_name(location.stage, f.relative), *stages.listing(f, encryption))
        for f in stages.files(location, command.options.get("PATTERN"))
    ]
    # last_modified is text, as Snowflake returns it (Snowpark ListResult.last_modified: str).
    columns = [Column("name"), Column("size", "fixed"), Column("md5"), Column("last_modified")]
    return ResultSet(columns, rows)


def remove_files(ctx: Context, sql: str) -> ResultSet:
    command = parse_file_command(sql)
    (source,) = _arguments(command, 1, "REMOVE @<stage>[/<path>]")
    location = parse_stage_location(source, ctx.database, ctx.schema, "REMOVE")
    ctx.state.stages.require(location.stage)
    removed = ctx.state.stages.remove(location, command.options.get("PATTERN"))
    return ResultSet([Column("name"), Column("result")], [(name, "removed") for name in removed])


def _parse(sql: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, read="snowflake")
    except SqlglotError as error:
        raise errors.compilation_error(str(error).splitlines()[0]) from None


def drop_stage(ctx: Context, sql: str) -> ResultSet:
    expression = _parse(sql)
    table = expression.find(exp.Table)
    if not isinstance(expression, exp.Drop) or table is None:
        raise errors.compilation_error("syntax error: expected DROP STAGE [IF EXISTS] <name>")
    name = object_name_from_table(table, ctx.database, ctx.schema, "DROP STAGE")
    stages = ctx.state.stages
    if not stages.exists(name):
        if expression.args.get("exists"):
            return status_result(f"Drop statement executed successfully ({name.name} already dropped).")
        raise errors.does_not_exist("Stage", name.dotted)
    stages.drop(name)
    return status_result(f"{name.name} successfully dropped.")


def alter_stage(ctx: Context, sql: str) -> ResultSet:
    """ALTER STAGE [IF EXISTS] <name> SET COMMENT = '<text>' | UNSET COMMENT
    (https://docs.snowflake.com/en/sql-reference/sql/alter-stage); other ALTER STAGE forms are not emulated."""
    match = _ALTER_COMMENT.match(sql.strip())
    if not match:
        raise errors.unsupported("ALTER STAGE other than SET COMMENT / UNSET COMMENT")
    name = qualify(split_qualified(match["name"]), ctx.database, ctx.schema, "ALTER STAGE")
    stages = ctx.state.stages
    if not stages.exists(name):
        if match["exists"]:
            return status_result("Statement executed successfully.")
        raise errors.does_not_exist("Stage", name.dotted)
    stages.set_comment(name, "" if match["unset"] else decode_string_body(match["comment"]))
    return status_result("Statement executed successfully.")


def _property(expression: exp.Expression, name: str) -> exp.Expression | None:
    properties = expression.args.get("properties")
    for prop in properties.expressions if properties else []:
        if type(prop) is exp.Property and prop.this.name.upper() == name:
            return prop.args.get("value")
    return None


def _encryption_type(value: exp.Expression | None) -> str | None:
    """ENCRYPTION = (TYPE = '<type>') -> '<TYPE>'; an internal stage takes SNOWFLAKE_FULL or _SSE."""
    if value is None:
        return None
    eq = value.this if isinstance(value, exp.Paren) else None
    if not (
        isinstance(eq, exp.EQ)
        and eq.this.name.upper() == "TYPE"
        and isinstance(eq.expression, exp.Literal)
        and eq.expression.name.upper() in ENCRYPTION_TYPES
    ):
        # Emulator wording: Snowflake's text for this error was not found in public sources.
        raise errors.compilation_error(
            f"invalid value {value.sql(dialect='snowflake')} for property ENCRYPTION of an internal stage; "
            "expected (TYPE = 'SNOWFLAKE_FULL') or (TYPE = 'SNOWFLAKE_SSE')"
        )
    return eq.expression.name.upper()


def create_stage(ctx: Context, sql: str) -> Delegate:
    """fakesnow creates the stage; record what it drops: the COMMENT and an SSE encryption type."""
    expression = _parse(sql)
    table = expression.find(exp.Table)
    if table is None or _property(expression, "URL") is not None:
        return Delegate()  # external stages stay fakesnow's
    comment = expression.find(exp.SchemaCommentProperty)
    encryption = _encryption_type(_property(expression, "ENCRYPTION")) or SNOWFLAKE_FULL
    if encryption == SNOWFLAKE_SSE and expression.find(exp.TemporaryProperty):
        raise errors.unsupported("ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE') on a temporary stage")
    if comment is None and encryption == SNOWFLAKE_FULL:
        return Delegate()
    name = object_name_from_table(table, ctx.database, ctx.schema, "CREATE STAGE")
    if ctx.state.stages.exists(name) and not expression.args.get("replace"):
        # IF NOT EXISTS keeps the existing stage as it is, encryption included.
        return Delegate()
    text = comment.this.name if comment else None

    def record() -> None:
        if text is not None:
            ctx.state.stages.set_comment(name, text)
        ctx.state.stages.set_encryption(name, encryption)

    return Delegate(after=record)
