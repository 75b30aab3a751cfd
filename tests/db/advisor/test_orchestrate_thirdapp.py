"""advise-indexes on a backend it was not shaped on (tests/thirdapp: an N+1 favourites count,
three query-builder statements sharing one long SELECT, a 2,000-row users table looked up by
primary key on every request): the indexes that save time and nothing on the small table,
each statement credited to the index that causes its cut, sizes within a quarter of the
built ones, and the three statements told apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from perfkit.db.advisor.migration_writer import migration_text
from perfkit.db.advisor.orchestrate import advise
from perfkit.db.advisor.record import Advice, Source, SourceKind, StatementStatus
from perfkit.db.apply import ApplyOptions, apply_indexes
from perfkit.db.migration_reader import load_statements
from perfkit.db.statements import cumulative
from perfkit.render.advice import short_query
from tests.db.support import Server, run_sql
from tests.thirdapp import schema

pytestmark = pytest.mark.integration


@pytest.fixture
def third_db(advice_server: Server) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        dsn = advice_server.create()
        made.append(dsn)
        run_sql(dsn, "CREATE EXTENSION pg_stat_statements", "CREATE EXTENSION hypopg")
        schema.load(dsn)
        return dsn

    yield make
    for dsn in made:
        advice_server.drop(dsn)


def advice_after(dsn: str, requests: int = 120) -> Advice:
    schema.replay(dsn, requests)
    stats, since = cumulative(dsn)
    return advise(dsn, stats, Source(SourceKind.CUMULATIVE, "pg_stat_statements", since))


def test_the_third_app_gets_the_indexes_that_save_time_each_credited_its_own_cut(
        third_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = third_db()
    advice = advice_after(dsn)
    proposed = {str(i.candidate) for i in advice.indexes}
    assert "favorites (article_id)" in proposed, proposed
    assert any(p.startswith("articles (tag") for p in proposed), proposed
    assert not any(p.startswith("users") for p in proposed), proposed
    by_name = {i.name: i for i in advice.indexes}
    for stmt in advice.statements:
        if stmt.status is StatementStatus.SERVED:
            assert len(stmt.indexes) == 1, (stmt.stats.query, stmt.indexes)
            assert stmt in by_name[stmt.indexes[0]].statements
    favorites = next(i for i in advice.indexes if str(i.candidate) == "favorites (article_id)")
    assert [s.stats.query for s in favorites.statements] == [
        "SELECT count(*) FROM favorites WHERE article_id = $1"]
    assert all((i.saved_ms or 0) > 0 for i in advice.indexes)
    dropped = [c for c in advice.choices if not c.kept]
    assert all(c.reason for c in dropped)

    labels = [short_query(s.stats.query, s.stats.queryid) for s in advice.statements
              if s.stats.query.startswith(schema.QB_PREFIX[:30])]
    assert len(labels) == 3 and len(set(labels)) == 3, labels
    assert all(label.startswith('SELECT … FROM "articles" WHERE') for label in labels)

    migration = tmp_path / "advised.sql"
    text = migration_text(advice, written_at="now")
    assert text is not None
    migration.write_text(text)
    apply_indexes(dsn, load_statements([migration]), ApplyOptions())
    with psycopg.connect(dsn, autocommit=True) as conn:
        for index in advice.indexes:
            row = conn.execute("SELECT pg_relation_size(%s::regclass)", (index.name,)).fetchone()
            assert row is not None and index.size_bytes is not None
            assert 0.75 <= index.size_bytes / int(row[0]) <= 1.25, (index.name,
                                                                    index.size_bytes, row[0])
