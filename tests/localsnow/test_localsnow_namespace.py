"""The session's current database and schema, as Snowflake sets them at login and on CREATE DATABASE."""

from __future__ import annotations

from typing import Any

import snowflake.connector


def _current(conn: Any) -> tuple[str | None, str | None]:
    return conn.cursor().execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()").fetchone()


def test_create_database_gives_it_a_public_schema_and_makes_it_current(local_snowflake: dict) -> None:
    with snowflake.connector.connect(**local_snowflake) as conn:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE NS_CREATED")
        assert _current(conn) == ("NS_CREATED", "PUBLIC")
        cur.execute("CREATE TABLE T (A INT)")  # unqualified: lands in NS_CREATED.PUBLIC
        assert cur.execute("SELECT COUNT(*) FROM NS_CREATED.PUBLIC.T").fetchone() == (0,)


def test_a_login_naming_only_a_database_lands_in_its_public_schema(local_snowflake: dict) -> None:
    with snowflake.connector.connect(**local_snowflake) as conn:
        conn.cursor().execute("CREATE DATABASE IF NOT EXISTS NS_LOGIN")
        conn.cursor().execute("CREATE TABLE NS_LOGIN.PUBLIC.NEWS (ID INT)")
    with snowflake.connector.connect(**local_snowflake, database="ns_login") as conn:
        assert _current(conn) == ("NS_LOGIN", "PUBLIC")
        assert (conn.database, conn.schema) == ("NS_LOGIN", "PUBLIC")  # from the login answer
        assert conn.cursor().execute("SELECT COUNT(*) FROM NEWS").fetchone() == (0,)


def test_a_missing_database_or_schema_at_login_is_ignored(local_snowflake: dict) -> None:
    with snowflake.connector.connect(**local_snowflake, database="NS_ABSENT", schema="S") as conn:
        assert _current(conn) == (None, None)
        assert conn.database is None
        # ... and is not created by the login either.
        assert conn.cursor().execute("SHOW DATABASES LIKE 'NS_ABSENT'").fetchall() == []
    with snowflake.connector.connect(**local_snowflake) as conn:
        conn.cursor().execute("CREATE DATABASE IF NOT EXISTS NS_HALF")
    with snowflake.connector.connect(**local_snowflake, database="NS_HALF", schema="NOPE") as conn:
        assert _current(conn) == ("NS_HALF", None)


def test_create_database_if_not_exists_on_an_existing_one_changes_nothing(local_snowflake: dict) -> None:
    with snowflake.connector.connect(**local_snowflake) as conn:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS NS_OLD")
        cur.execute("CREATE DATABASE NS_NEW")
        assert _current(conn) == ("NS_NEW", "PUBLIC")
        cur.execute("CREATE DATABASE IF NOT EXISTS NS_OLD")
        assert _current(conn) == ("NS_NEW", "PUBLIC")
