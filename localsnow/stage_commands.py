"""PUT, GET, LIST, REMOVE, CREATE STAGE (comment) and DROP STAGE.

Files move the way they move with Snowflake on GCP: the server answers PUT and
GET with a presigned URL per file, and the connector uploads or downloads over
HTTP. Here the URLs point back at this server (a signed route writing under the
stage root), so client and server need not share a filesystem.
"""

from __future__ import annotations

import email.utils
import os
from urllib.parse import urlparse
from urllib.request import url2pathname

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from localsnow import errors
from localsnow.command_args import FileCommand, parse_file_command
from localsnow.context import Context, Delegate, Transfer
from localsnow.names import StageLocation, object_name_from_table, parse_stage_location, unquote_literal
from localsnow.responses import Column, ResultSet, status_result


def _local_path(uri: str) -> str:
    """file:///a/b -> /a/b; the connector's re-request sends file://name (no path)."""
    text = unquote_literal(uri)
    parsed = urlparse(text)
    if parsed.scheme.lower() != "file":
        return os.path.expanduser(text)
    path = url2pathname(parsed.path)
    if parsed.netloc and parsed.netloc.lower() != "localhost":
        path = parsed.netloc + path
    return path


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
    rows = [
        (
            stages.listed_name(location.stage, f.relative),
            f.size,
            stages.md5(f),
            email.utils.formatdate(f.mtime, usegmt=True),
        )
        for f in stages.files(location, command.options.get("PATTERN"))
    ]
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


def create_stage(ctx: Context, sql: str) -> Delegate:
    """fakesnow creates the stage; record its COMMENT, which fakesnow drops."""
    expression = _parse(sql)
    comment = expression.find(exp.SchemaCommentProperty)
    table = expression.find(exp.Table)
    if comment is None or table is None:
        return Delegate()
    name = object_name_from_table(table, ctx.database, ctx.schema, "CREATE STAGE")
    existed = ctx.state.stages.exists(name)
    if existed and not expression.args.get("replace"):
        return Delegate()
    text = comment.this.name
    return Delegate(after=lambda: ctx.state.stages.set_comment(name, text))
