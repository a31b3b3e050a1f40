"""The capture store on a shared PostgreSQL: many named captures in one database, written by several captures at
once and read while they are written (issue 17).

`connection` (store URLs, where the password comes from, libpq's errors in one line), `schema` (tables, version,
migrations), `store` (`PostgresStore`, `PostgresCapture`, `FileMirror`, push and pull). The display filter's SQL for
it is `store.filter_sql.PostgresDialect`. Needs psycopg 3 (`pip install 'inspector-3factor[postgres]'`); nothing
imports this package unless a store URL is used.
"""
