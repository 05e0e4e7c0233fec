"""System functions that clients call on their own, answered here.

SYSTEM$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY: Snowpark (session.py,
`_get_default_artifact_repository`) runs `SELECT SYSTEM$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY(
'<python>', 'schema', '<schema>')` before it resolves a UDF's packages. The function returns
NULL where no default repository was ever set (Snowpark's own comment: "the system function
returns NULL (value was never set)"), and Snowpark then uses the Anaconda channel, as
Snowflake does. No local account sets one, so the answer is NULL.
"""

from __future__ import annotations

import re

from fakesnow import statement_type

from localsnow import errors
from localsnow.context import Context
from localsnow.responses import Column, ResultSet

DEFAULT_ARTIFACT_REPOSITORY = re.compile(
    r"^SELECT\s+SYSTEM\$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY\s*\((?P<args>[^()]*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def default_python_artifact_repository(ctx: Context, sql: str) -> ResultSet:
    match = DEFAULT_ARTIFACT_REPOSITORY.match(sql.strip())
    if not match:
        raise errors.unsupported("SYSTEM$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY other than alone in a SELECT")
    # A select item without an alias is named by its text, the function's name upper-cased.
    name = f"SYSTEM$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY({match['args']})"
    return ResultSet([Column(name)], [(None,)], statement_type.SELECT)
