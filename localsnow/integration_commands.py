"""SHOW [<kind>] INTEGRATIONS: the embedded account has no integrations.

CREATE ... INTEGRATION is not supported here, so the list is always empty; what matters is that
the command succeeds with Snowflake's columns: `snow snowpark deploy` lists the account's
integrations before it creates anything (snowflake-cli _plugins/snowpark/commands.py,
_check_if_all_defined_integrations_exists: `show integrations`, reading `name` and `type`).
Columns and the kinds accepted: docs.snowflake.com/en/sql-reference/sql/show-integrations.
"""

from __future__ import annotations

import re

from fakesnow import statement_type

from localsnow import errors
from localsnow.like import STRING_BODY
from localsnow.responses import Column, ResultSet

_SHOW = re.compile(
    r"^SHOW\s+(?:(?:API|CATALOG|EXTERNAL\s+ACCESS|NOTIFICATION|SECURITY|STORAGE)\s+)?INTEGRATIONS"
    rf"(?:\s+LIKE\s+'{STRING_BODY}')?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
COLUMNS = [
    Column("name"),
    Column("type"),
    Column("category"),
    Column("enabled", "boolean"),
    Column("comment"),
    Column("created_on", "timestamp_ltz"),
]


def show_integrations(_ctx: object, sql: str) -> ResultSet:
    if not _SHOW.match(sql.strip()):
        raise errors.compilation_error(
            "syntax error: expected SHOW [API | CATALOG | EXTERNAL ACCESS | NOTIFICATION | SECURITY | STORAGE] "
            "INTEGRATIONS [LIKE '<pattern>']"
        )
    return ResultSet(COLUMNS, [], statement_type.SHOW)
