-- Kaskade database bootstrap: one database, one login role + schema per service, an admin role.
-- Plain SQL for psql (uses \gexec and \connect), idempotent, run as a superuser with
--   psql -v ON_ERROR_STOP=1 -d postgres -f bootstrap.sql
-- Passwords equal the role names: local development only.
-- `-v db=NAME` sets the database up under another name (the benchmark's: deploy/local/postgres.sh bench-db).

\if :{?db}
\else
  \set db kaskade
\endif

-- Text is collated as C (byte order, which for UTF-8 is code point order): Kaskade's text columns
-- are ids and codes, compared for equality and ordered only to page through them. Under a locale
-- collation (even C.UTF-8 on Postgres 15) every comparison in an index search calls strcoll: that
-- cost attribution 4% (the running service) to 15% (one connection) more Postgres time per
-- conversion. Character classes (LC_CTYPE) stay the cluster's. An existing database keeps its
-- collation; `deploy/local/postgres.sh reset` recreates the local one.
SELECT format('CREATE DATABASE %I TEMPLATE template0 LC_COLLATE %L', :'db', 'C')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec

-- Roles are cluster-wide. Re-running converges attributes and passwords.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['share_ingest', 'attribution', 'reward', 'notification', 'kaskade_admin', 'kaskade_bench'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I', r);
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L', r, r);
  END LOOP;
END
$$;

-- The admin (tests: inspect / reset) acts through membership in every service role.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['share_ingest', 'attribution', 'reward', 'notification'] LOOP
    IF NOT EXISTS (SELECT FROM pg_auth_members
                   WHERE roleid = r::regrole AND member = 'kaskade_admin'::regrole) THEN
      EXECUTE format('GRANT %I TO kaskade_admin', r);
    END IF;
  END LOOP;
END
$$;

REVOKE CONNECT, TEMPORARY ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO share_ingest, attribution, reward, notification, kaskade_admin, kaskade_bench;

\connect :"db"

REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- Each service owns its schema; nobody else gets USAGE, so services cannot see each other's tables.
-- The benchmark's naive baseline pipeline gets a schema of its own too (kaskade_bench).
DO $$
DECLARE
  s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['share_ingest', 'attribution', 'reward', 'notification', 'kaskade_bench'] LOOP
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = s) THEN
      EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s, s);
    END IF;
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, s);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
  END LOOP;
END
$$;

-- Per-statement timings for whoever operates the cluster (the library is preloaded by
-- deploy/local/postgres/kaskade.conf): SELECT ... FROM pg_stat_statements ORDER BY total_exec_time.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
