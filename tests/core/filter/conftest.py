"""The real PostgreSQL server (`tests.helpers.postgres`): the filter tests run against both stores."""

from tests.helpers.postgres import postgres_db, postgres_server

__all__ = ["postgres_db", "postgres_server"]
