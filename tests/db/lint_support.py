"""A schema with one of each fault `perfkit lint` finds (plain module, imported by tests).

orders (100,000 rows) references customers with no index on customer_id; customers has a
UNIQUE constraint and an identical UNIQUE index beside it; orders(created_at) leads the
UNIQUE (created_at, id); orders(total) is never scanned; tags has an INVALID index (a
concurrent UNIQUE build that met a duplicate, since removed); notes has a policy calling
auth.uid() (a STABLE function, as Supabase's) per row; posts two permissive policies for
one role and action; events 20,000 rows and no primary key.
"""

from __future__ import annotations

import psycopg
import pytest

FAULTS_SQL = """
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS bigint LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::bigint $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA auth TO authenticated;

CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 1000) g;
-- the older of the twins is not the constraint's: only the constraint rule keeps it
CREATE UNIQUE INDEX idx_customers_email ON customers (email);
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);

CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     created_at timestamptz NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 1000, now() - g * interval '1 minute', g % 97
FROM generate_series(1, 100000) g;
CREATE INDEX idx_orders_created ON orders (created_at);
CREATE UNIQUE INDEX idx_orders_created_id ON orders (created_at, id);
CREATE INDEX idx_orders_total ON orders (total);

CREATE TABLE tags (id bigint PRIMARY KEY, label text NOT NULL);
INSERT INTO tags SELECT g, 'label-' || g FROM generate_series(1, 100) g;
INSERT INTO tags VALUES (101, 'label-1');

CREATE TABLE notes (id bigint PRIMARY KEY, user_id bigint NOT NULL, body text NOT NULL);
INSERT INTO notes SELECT g, g % 50, 'note' FROM generate_series(1, 2000) g;
GRANT SELECT ON notes TO authenticated;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes FOR SELECT TO authenticated USING (user_id = auth.uid());

CREATE TABLE posts (id bigint PRIMARY KEY, author_id bigint NOT NULL, public boolean NOT NULL);
ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY posts_own ON posts FOR SELECT TO authenticated
  USING (author_id = (SELECT auth.uid()));
CREATE POLICY posts_public ON posts FOR SELECT TO authenticated USING (public);

CREATE TABLE events (kind text NOT NULL, at timestamptz NOT NULL);
INSERT INTO events SELECT 'k', now() FROM generate_series(1, 20000);
"""

#: (rule, object) of every fault above, as lint names them (unused only with old statistics).
EXPECTED = {
    ("invalid_index", "public.idx_tags_label"),
    ("duplicate_index", "public.idx_customers_email"),
    ("unindexed_foreign_key", "public.orders.orders_customer_id_fkey"),
    ("redundant_index", "public.idx_orders_created"),
    ("rls_per_row_call", "public.notes.own_notes"),
    ("multiple_permissive_policies", "public.posts"),
    ("table_without_primary_key", "public.events"),
    ("unused_index", "public.idx_orders_total"),
}
INDEX_RULES = ("invalid_index", "duplicate_index", "unindexed_foreign_key", "redundant_index")
#: Indexes that back a constraint: lint must never drop them.
CONSTRAINT_INDEXES = ("customers_pkey", "customers_email_key", "orders_pkey", "tags_pkey")
#: Calls that filter on the foreign key, for the pg_stat_statements evidence.
FK_LOOKUPS = 3


def build_faults(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FAULTS_SQL)
        # a concurrent UNIQUE build over a duplicate leaves an INVALID index
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_tags_label ON tags (label)")
        conn.execute("DELETE FROM tags WHERE id = 101")  # so that the rebuild succeeds
        conn.execute("ANALYZE")
    with psycopg.connect(dsn, autocommit=True) as app:  # server-side parameters, as an app
        for customer in range(1, FK_LOOKUPS + 1):
            app.execute("SELECT id, total FROM orders WHERE customer_id = %s", (customer,))


def index_definitions(dsn: str) -> dict[str, bool]:
    """Every index of the public schema -> whether it is valid."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'").fetchall()
    return {str(name): bool(valid) for name, valid in rows}
