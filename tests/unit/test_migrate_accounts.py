from __future__ import annotations

from jobs.migrate import as_owner, password_statement, role_statements
from jobs.settings import JobSettings


def test_should_create_the_jobs_role_with_its_password_and_grant_only_rows() -> None:
    settings = JobSettings(cassandra_keyspace="ks", cassandra_username="app", cassandra_password="it's")
    assert role_statements(settings) == [
        "CREATE ROLE IF NOT EXISTS 'app' WITH PASSWORD = 'it''s' AND LOGIN = true",
        "GRANT SELECT ON KEYSPACE ks TO 'app'",
        "GRANT MODIFY ON KEYSPACE ks TO 'app'",
    ]
    assert password_statement(settings) == "ALTER ROLE 'app' WITH PASSWORD = 'it''s'"


def test_should_create_no_role_without_an_admin() -> None:
    assert role_statements(JobSettings(cassandra_admin_username="")) == []


def test_should_run_ddl_as_the_owners_never_as_the_jobs() -> None:
    owner = as_owner(JobSettings())
    assert (owner.mysql_user, owner.mysql_password.get_secret_value()) == ("tidemark_migrate", "tidemark_migrate")
    assert (owner.cassandra_username, owner.cassandra_password.get_secret_value()) == ("cassandra", "cassandra")
    mine = as_owner(JobSettings(cassandra_admin_username="", cassandra_username="given"))
    assert mine.cassandra_username == "given", "with no admin, migrate logs in as the role it was given"
