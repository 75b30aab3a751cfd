"""The third test app's database: schema, data and the exact SQL its routes send.

One module so a database test replays what the app sends without HTTP (`replay`), and the
app (tests/thirdapp/app.py) sends the same strings. psycopg 3 with `prepare_threshold=None`
and server-side parameters, so pg_stat_statements shows `$1` where the app passes a value.

What it holds, on purpose:
- `favorites` (300,000 rows) has PRIMARY KEY (user_id, article_id): the per-article count the
  list route runs for each listed article (an N+1, 20 a request) filters on article_id alone,
  so only an index on favorites(article_id) helps it;
- the list route filters articles on `tag`, which has no index;
- three query-builder statements share one long SELECT prefix and differ in WHERE/ORDER BY
  (by slug: unique, indexed; by author; by created_at: neither indexed);
- `users` (2,000 rows, primary key on id) is read by id on every request (the login): an
  index there saves nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

ARTICLES = 60_000
USERS = 2_000
FAVORITES_PER_USER = 150  # 300,000 favorites
TAGS = 2_000  # 30 articles a tag: an index on tag is what the list needs
PAGE = 20
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # articles' created_at: EPOCH + id minutes

SCHEMA = f"""
DROP TABLE IF EXISTS favorites, articles, users;
CREATE TABLE users (id int PRIMARY KEY, username text NOT NULL, bio text NOT NULL);
CREATE TABLE articles (
  id bigint PRIMARY KEY, slug text NOT NULL UNIQUE, title text NOT NULL,
  description text NOT NULL, body text NOT NULL, author_id int NOT NULL, tag text NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE favorites (
  user_id int NOT NULL, article_id bigint NOT NULL, created_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, article_id));
INSERT INTO users (id, username, bio)
SELECT i, 'user' || i, repeat('b', 40) FROM generate_series(1, {USERS}) AS i;
INSERT INTO articles (id, slug, title, description, body, author_id, tag, created_at,
                      updated_at)
SELECT i, 'article-' || i, 'Article ' || i, 'about ' || i, repeat('x', 300),
       1 + (i * 7919) % {USERS}, 'tag' || (i * 31) % {TAGS},
       timestamptz '2026-01-01' + (i || ' minutes')::interval,
       timestamptz '2026-01-01' + (i || ' minutes')::interval
FROM generate_series(1, {ARTICLES}) AS i;
INSERT INTO favorites (user_id, article_id, created_at)
SELECT u, 1 + (u * 37 + k * 331) % {ARTICLES}, timestamptz '2026-06-01'
FROM generate_series(1, {USERS}) AS u, generate_series(1, {FAVORITES_PER_USER}) AS k;
"""
# Vacuumed as autovacuum would have by then: the visibility map set, so an index-only scan
# costs what it costs on a live app (each VACUUM outside a transaction block).
VACUUM = ("VACUUM (ANALYZE) users", "VACUUM (ANALYZE) articles", "VACUUM (ANALYZE) favorites")

# Every request: who the bearer token names.
USER_BY_ID = "SELECT id, username FROM users WHERE id = %s"
# GET /articles?tag=X: the list (no index on tag), then one count per listed article.
LIST_BY_TAG = (f"SELECT id, slug, title, author_id FROM articles WHERE tag = %s "
               f"ORDER BY created_at DESC LIMIT {PAGE}")
FAVORITES_COUNT = "SELECT count(*) FROM favorites WHERE article_id = %s"
# psycopg 3 sends a Python int as int2, int4 or int8 by its size, and pg_stat_statements
# counts each type apart (two queryids for one text, as on any app using psycopg): perfkit
# counts them as one statement (db/statements.py), so the ids go as plain ints.
# The query builder's statements: one long prefix, three endings.
QB_PREFIX = ('SELECT "articles"."id", "articles"."slug", "articles"."title", '
             '"articles"."description", "articles"."body", "articles"."author_id", '
             '"articles"."tag", "articles"."created_at", "articles"."updated_at" '
             'FROM "articles"')
QB_BY_SLUG = QB_PREFIX + ' WHERE "articles"."slug" = %s LIMIT 1'
QB_BY_AUTHOR = (QB_PREFIX + ' WHERE "articles"."author_id" = %s '
                'ORDER BY "articles"."created_at" DESC LIMIT 20')
QB_SINCE = (QB_PREFIX + ' WHERE "articles"."created_at" > %s '
            'ORDER BY "articles"."created_at" ASC LIMIT 20')

# The routes, as the app serves them (the method and path a bench names).
ROUTE_LIST = "/articles"  # ?tag=tagN
ROUTE_BY_SLUG = "/articles/{slug}"
ROUTE_BY_AUTHOR = "/profiles/{username}/articles"  # username: user<author_id>
ROUTE_SINCE = "/articles-since/{minute}"  # minutes after EPOCH
ROUTES = ("list", "slug", "author", "since")


def connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection as the app makes them: no server-side prepared statements."""
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)


def load(dsn: str) -> None:
    """(Re)create the tables and their data (a few seconds)."""
    with connect(dsn) as conn:
        conn.execute(SCHEMA)  # type: ignore[arg-type]
        for statement in VACUUM:
            conn.execute(statement)  # type: ignore[arg-type]


def tag(i: int) -> str:
    return f"tag{(i * 7) % TAGS}"


def replay(dsn: str, requests: int, routes: tuple[str, ...] = ROUTES) -> None:
    """Send the SQL that `requests` requests send, the i-th to routes[i % len(routes)]: the
    login's user by id, then the route's statements, with the app's parameters."""
    with connect(dsn) as conn:
        for i in range(requests):
            conn.execute(USER_BY_ID, (1 + i % USERS,))  # type: ignore[arg-type]
            route_sql(conn, routes[i % len(routes)], i)


def route_sql(conn: psycopg.Connection[tuple[object, ...]], route: str, i: int
              ) -> list[tuple[object, ...]]:
    """One request's statements for `route` (the app calls the same SQL through its pool)."""
    if route == "list":
        rows = conn.execute(LIST_BY_TAG, (tag(i),)).fetchall()  # type: ignore[arg-type]
        for row in rows:
            conn.execute(FAVORITES_COUNT, (row[0],)).fetchone()  # type: ignore[arg-type]
        return rows
    if route == "slug":
        return conn.execute(QB_BY_SLUG,  # type: ignore[arg-type]
                            (f"article-{1 + (i * 13) % ARTICLES}",)).fetchall()
    if route == "author":
        return conn.execute(QB_BY_AUTHOR, (1 + (i * 17) % USERS,)).fetchall()  # type: ignore[arg-type]
    if route == "since":
        return conn.execute(QB_SINCE, (minute_time(i),)).fetchall()  # type: ignore[arg-type]
    raise ValueError(f"no route {route!r}")


def minute_time(i: int) -> datetime:
    """A created_at bound in the data's range."""
    return EPOCH + timedelta(minutes=(i * 97) % ARTICLES)
