"""Index files -> statements: what is accepted, what is refused, and where (file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.db.migration_reader import StatementKind, expected_indexes, load_statements, parse_text
from perfkit.errors import UsageError


def test_the_seed_file_declares_three_indexes_with_their_queries(seed_dir: Path) -> None:
    statements = load_statements([seed_dir])
    kinds = [s.kind for s in statements]
    assert kinds == [StatementKind.CREATE_INDEX] * 3 + [StatementKind.ANALYZE] * 3
    for stmt in statements[:3]:
        assert stmt.query is not None and "$1" in stmt.query.sql and len(stmt.query.params) == 1
        assert stmt.rewritten and "CREATE INDEX CONCURRENTLY" in stmt.sql()
        assert "IF NOT EXISTS" not in stmt.sql()
    messages = statements[1]
    assert messages.index_name == "idx_messages_conversation_timestamp"
    assert messages.source.line == 18 and messages.table == "messages"
    assert "ORDER BY \"timestamp\" DESC LIMIT 50" in messages.query.sql  # type: ignore[union-attr]


def test_other_ddl_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.sql"
    path.write_text("CREATE INDEX i ON t (a);\n\n-- oops\nCREATE TABLE x (id int);\n")
    with pytest.raises(UsageError, match=r"mixed\.sql:4: only CREATE INDEX.*CREATE TABLE x"):
        load_statements([path])


@pytest.mark.parametrize("sql", ["DELETE FROM t", "VACUUM ANALYZE t", "SET lock_timeout = 0",
                                 "DROP TABLE t", "ALTER TABLE t ADD COLUMN b int", "BEGIN"])
def test_anything_but_index_ddl_analyze_and_comment_is_refused(sql: str) -> None:
    with pytest.raises(UsageError) as failure:
        parse_text(f"CREATE INDEX i ON t (a);\n{sql};\n", Path("f.sql"))
    assert failure.value.exit_code == 2 and "f.sql:2:" in str(failure.value)


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("-- é comment\nCREATE INDEX i ON t (a);\nCREATE INDEX j ON t (b;\n")
    with pytest.raises(UsageError, match=r"bad\.sql:3: syntax error"):
        load_statements([path])


def test_drop_analyze_comment_accepted_and_drops_split_one_per_index() -> None:
    statements = parse_text("DROP INDEX a, s.b;\nANALYZE messages, conversations;\n"
                            "COMMENT ON INDEX a IS 'why';\n", Path("f.sql"))
    assert [s.kind for s in statements] == [StatementKind.DROP_INDEX] * 2 + [
        StatementKind.ANALYZE, StatementKind.COMMENT]
    assert statements[0].sql() == "DROP INDEX CONCURRENTLY IF EXISTS a"
    assert (statements[1].schema, statements[1].index_name) == ("s", "b")
    assert statements[2].tables == ((None, "messages"), (None, "conversations"))
    with pytest.raises(UsageError, match="CASCADE"):
        parse_text("DROP INDEX a CASCADE;", Path("f.sql"))


def test_annotations_must_match_the_query_and_precede_an_index() -> None:
    with pytest.raises(UsageError, match=r"f\.sql:1: .*2 parameter\(s\).*gives 1"):
        parse_text("-- perfkit:query SELECT 1 FROM t WHERE a = $1 AND b = $2\n"
                   "-- perfkit:params 1\nCREATE INDEX i ON t (a);", Path("f.sql"))
    with pytest.raises(UsageError, match=r"f\.sql:2: .*not followed by a CREATE INDEX"):
        parse_text("CREATE INDEX i ON t (a);\n-- perfkit:query SELECT 1\nANALYZE t;",
                   Path("f.sql"))
    with pytest.raises(UsageError, match="unknown annotation"):
        parse_text("-- perfkit:querry SELECT 1\nCREATE INDEX i ON t (a);", Path("f.sql"))


def test_an_index_dropped_later_is_no_longer_expected_and_names_are_required(
        tmp_path: Path) -> None:
    statements = parse_text("CREATE INDEX i ON t (a);\nCREATE INDEX j ON t (b);\nDROP INDEX i;",
                            Path("f.sql"))
    assert [s.index_name for s in expected_indexes(statements)] == ["j"]
    with pytest.raises(UsageError, match="without a name"):
        parse_text("CREATE INDEX ON t (a);", Path("f.sql"))
    twice = tmp_path / "twice.sql"
    twice.write_text("CREATE INDEX i ON t (a);\nCREATE INDEX i ON t (b);")
    with pytest.raises(UsageError, match=r"twice\.sql:2: .*already created at .*twice\.sql:1"):
        load_statements([twice])
    # written CONCURRENTLY already: nothing to add
    assert not parse_text("CREATE INDEX CONCURRENTLY i ON t (a);", Path("f.sql"))[0].rewritten


def test_folders_are_read_in_order_and_missing_paths_refused(tmp_path: Path) -> None:
    (tmp_path / "020_b.sql").write_text("CREATE INDEX b ON t (b);")
    (tmp_path / "010_a.sql").write_text("CREATE INDEX a ON t (a);")
    assert [s.index_name for s in load_statements([tmp_path])] == ["a", "b"]
    with pytest.raises(UsageError, match="no such file"):
        load_statements([tmp_path / "nope"])
