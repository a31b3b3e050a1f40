-- Hasura's event-trigger catalog in a source database, as Hasura v2 leaves it (source catalog version 4), for the
-- tests of `inspector capture --database-url` (tests/store/postgres/test_hasura_catalog.py).
--
-- Written for these tests from the definitions in hasura/graphql-engine (not a verbatim copy; same tables, columns,
-- types, defaults, indexes and event payload):
--   server/src-rsr/init_pg_source.sql (commit 5018bbf3b91ac9539bbe075a6140392d9cc63871): hdb_source_catalog_version,
--     event_log, event_invocation_logs, gen_hasura_uuid, insert_event_log;
--   server/src-rsr/pg_source_migrations/1_to_2.sql: the event_log indexes replaced by event_log_fetch_events;
--   server/src-rsr/pg_source_migrations/2_to_3.sql: hdb_event_log_cleanups, event_invocation_logs.trigger_name,
--     the foreign key of invocations to events dropped (cleanup deletes events and may keep their invocations);
--   server/src-rsr/pg_source_migrations/3_to_4.sql: insert_event_log's empty settings read as NULL.
-- Hasura itself runs `CREATE SCHEMA IF NOT EXISTS hdb_catalog` before these (server/src-lib/Hasura/Backends/
-- Postgres/DDL/Source.hs).

CREATE SCHEMA IF NOT EXISTS hdb_catalog;

CREATE OR REPLACE FUNCTION hdb_catalog.gen_hasura_uuid() RETURNS uuid LANGUAGE sql AS 'select gen_random_uuid()';

CREATE TABLE hdb_catalog.hdb_source_catalog_version (version text NOT NULL, upgraded_on timestamptz NOT NULL);
CREATE UNIQUE INDEX hdb_source_catalog_version_one_row
  ON hdb_catalog.hdb_source_catalog_version ((version IS NOT NULL));
INSERT INTO hdb_catalog.hdb_source_catalog_version VALUES ('4', now());

CREATE TABLE hdb_catalog.event_log (
  id text DEFAULT hdb_catalog.gen_hasura_uuid() PRIMARY KEY,
  schema_name text NOT NULL,
  table_name text NOT NULL,
  trigger_name text NOT NULL,
  payload jsonb NOT NULL,
  delivered boolean NOT NULL DEFAULT false,
  error boolean NOT NULL DEFAULT false,
  tries integer NOT NULL DEFAULT 0,
  created_at timestamp DEFAULT now(),
  locked timestamptz,            -- NULL: unlocked, free to be processed
  next_retry_at timestamp,
  archived boolean NOT NULL DEFAULT false
);
CREATE INDEX ON hdb_catalog.event_log (trigger_name);
CREATE INDEX event_log_fetch_events ON hdb_catalog.event_log (locked NULLS FIRST, next_retry_at NULLS FIRST, created_at)
  WHERE delivered = 'f' AND error = 'f' AND archived = 'f';

CREATE TABLE hdb_catalog.event_invocation_logs (
  id text DEFAULT hdb_catalog.gen_hasura_uuid() PRIMARY KEY,
  event_id text,
  status integer,
  request json,
  response json,
  created_at timestamp DEFAULT now(),
  trigger_name text
);
CREATE INDEX ON hdb_catalog.event_invocation_logs (event_id);

CREATE TABLE hdb_catalog.hdb_event_log_cleanups (
  id text DEFAULT hdb_catalog.gen_hasura_uuid() PRIMARY KEY,
  trigger_name text NOT NULL,
  scheduled_at timestamp NOT NULL,
  deleted_event_logs integer,
  deleted_event_invocation_logs integer,
  status text NOT NULL CHECK (status IN ('scheduled', 'paused', 'completed', 'dead')),
  UNIQUE (trigger_name, scheduled_at)
);

-- What an event trigger's row trigger calls: the payload {op, data, session_variables, trace_context}, the session
-- and trace context from the transaction's settings (empty means none).
CREATE OR REPLACE FUNCTION hdb_catalog.insert_event_log(
  schema_name text, table_name text, trigger_name text, op text, row_data json
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  new_id text := gen_random_uuid();
BEGIN
  INSERT INTO hdb_catalog.event_log (id, schema_name, table_name, trigger_name, payload)
  VALUES (
    new_id, schema_name, table_name, trigger_name,
    json_build_object(
      'op', op,
      'data', row_data,
      'session_variables', NULLIF(current_setting('hasura.user', 't'), '')::json,
      'trace_context', NULLIF(current_setting('hasura.tracecontext', 't'), '')::json
    )
  );
  RETURN new_id;
END $$;
