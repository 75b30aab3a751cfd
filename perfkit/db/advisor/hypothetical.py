"""Plan costs with and without hypothetical indexes (HypoPG), in READ ONLY transactions.

HypoPG's indexes live in the memory of one backend: nothing is written, other sessions see
nothing. Through a transaction pooler each transaction may land on another backend, so the
hypothetical indexes, the PREPARE and the EXPLAINs of one costing share one transaction, and
the indexes are dropped and the statement DEALLOCATEd before it ends: the pooled connection
goes back with nothing of perfkit's on it. A prepared statement keeps the plan it made, and
a generic plan made before a hypothetical index exists never sees it, so every costing
PREPAREs afresh. Each statement is costed twice: its generic plan (parameters unknown, as a
busy prepared statement runs) and a custom plan with the heaviest values (the most common
value of each equality column), where skew shows: a generic plan averages it away.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from perfkit.db.advisor.candidates import Candidate, Unadvisable
from perfkit.db.advisor.sizes import column_shapes, estimate_btree_bytes
from perfkit.db.connect import read_only, sql_text
from perfkit.db.explain import summarize
from perfkit.db.statements import MARK
from perfkit.errors import UsageError

HYPOPG_HINT = ("to prove them, install HypoPG: CREATE EXTENSION hypopg (Supabase: create "
               "extension hypopg with schema extensions; Debian/Ubuntu: apt-get install "
               "postgresql-NN-hypopg, NN the server's major version)")
#: Planning is quick; a statement that takes longer to plan than this is skipped.
PLAN_TIMEOUT_MS = 30_000
_names = itertools.count()


@dataclass(frozen=True)
class Costs:
    """A statement's plan costs: generic, and with its heaviest values (None when some
    parameter has no value to plan with); the indexes either plan reads."""

    generic: float
    heaviest: float | None
    indexes: frozenset[str] = frozenset()

    def cut(self, after: Costs) -> float:
        """The larger relative cut (0..1) of the two plans; < 0 when both got dearer."""
        cuts = [_cut(self.generic, after.generic)]
        if self.heaviest is not None and after.heaviest is not None:
            cuts.append(_cut(self.heaviest, after.heaviest))
        return max(cuts)

    def to_json(self) -> dict[str, float | None]:
        return {"generic": self.generic, "heaviest": self.heaviest}


@dataclass(frozen=True)
class Hypothetical:
    """A hypothetical index: its oid, and the name plans show it by."""

    oid: int
    name: str


def _cut(before: float, after: float) -> float:
    return (before - after) / before if before > 0 else 0.0


def hypopg_schema(conn: psycopg.Connection[Any]) -> str | None:
    """The schema HypoPG is installed in, None when this database does not have it."""
    row = conn.execute(
        "SELECT " + MARK + " n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'").fetchone()
    return None if row is None else str(row[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Planner:
    """EXPLAIN costs of prepared statements, and hypothetical indexes to cost them with."""

    def __init__(self, conn: psycopg.Connection[Any], hypopg: str | None) -> None:
        self.conn, self.hypopg = conn, hypopg

    def costs(self, query: str, param_count: int, heaviest: Sequence[str] | None) -> Costs:
        """Generic plan cost (NULL parameters) and, with `heaviest` (SQL literals, one per
        parameter), the custom plan's; Unadvisable when the statement cannot be planned."""
        name = f"perfkit_advise_{next(_names)}"
        with read_only(self.conn, timeout_ms=PLAN_TIMEOUT_MS):
            try:
                with self.conn.transaction():  # a savepoint: a failure leaves ours usable
                    self.conn.execute(sql_text(f"PREPARE {name} AS {query}"))
            except psycopg.Error as exc:
                raise self._unplannable(exc) from None
            try:
                with self.conn.transaction():
                    generic = self._explain(name, ["NULL"] * param_count, "force_generic_plan")
                    heavy = None if heaviest is None else self._explain(
                        name, list(heaviest), "force_custom_plan")
            except psycopg.Error as exc:
                raise self._unplannable(exc) from None
            finally:  # PREPARE is not transactional: DEALLOCATE before the transaction ends
                self.conn.execute(sql_text(f"DEALLOCATE {name}"))
        indexes = generic.index_names | (heavy.index_names if heavy else frozenset())
        return Costs(generic.total_cost, heavy.total_cost if heavy else None, indexes)

    def _unplannable(self, exc: psycopg.Error) -> Exception:
        """The statement cannot be planned; but a lost session is the database's fault, not
        the statement's: raised as it is (db/retry.py retries the costing once)."""
        if self.conn.closed or self.conn.broken:
            return exc
        return Unadvisable(f"cannot be planned here: {_first_line(exc)}")

    def _explain(self, name: str, params: list[str], mode: str) -> Any:
        self.conn.execute(sql_text(f"SET LOCAL plan_cache_mode = {mode}"))
        args = f"({', '.join(params)})" if params else ""
        row = self.conn.execute(sql_text(
            f"EXPLAIN {MARK} (FORMAT JSON) EXECUTE {name}{args}")).fetchone()
        assert row is not None
        return summarize(row[0])

    @contextlib.contextmanager
    def hypothetical(self, candidates: Sequence[Candidate]
                     ) -> Iterator[dict[Candidate, Hypothetical]]:
        """The candidates as hypothetical indexes, for the costings inside the `with`: one
        transaction holds them all, and they are dropped before it ends."""
        assert self.hypopg is not None
        create = sql.SQL("SELECT " + MARK + " indexrelid, indexname FROM {}(%s)").format(
            sql.Identifier(self.hypopg, "hypopg_create_index"))
        drop = sql.SQL("SELECT " + MARK + " {}(%s)").format(
            sql.Identifier(self.hypopg, "hypopg_drop_index"))
        made: dict[Candidate, Hypothetical] = {}
        with read_only(self.conn, timeout_ms=PLAN_TIMEOUT_MS):
            try:
                for candidate in candidates:
                    made[candidate] = self._create(create, candidate)
                with self.conn.transaction():  # a savepoint: the drops below still run
                    yield dict(made)
            finally:
                for index in made.values():
                    self.conn.execute(drop, (index.oid,))

    def _create(self, create: sql.Composed, candidate: Candidate) -> Hypothetical:
        try:
            with self.conn.transaction():
                row = self.conn.execute(create, (candidate.definition(),)).fetchone()
        except psycopg.Error as exc:
            if self.conn.closed or self.conn.broken:
                raise  # the session was lost: the database failed, not HypoPG's rights
            raise UsageError(f"HypoPG could not create a hypothetical index on "
                             f"{candidate}: {_first_line(exc)}",
                             hint="the role needs EXECUTE on HypoPG's functions") from None
        assert row is not None
        return Hypothetical(int(row[0]), str(row[1]))

    def size_bytes(self, candidate: Candidate) -> int | None:
        """The index's size once built: from the statistics (sizes.py: deduplication
        counted), HypoPG's estimate when the table has none."""
        shapes = column_shapes(self.conn, candidate)
        if shapes is not None:
            return estimate_btree_bytes(*shapes)
        if self.hypopg is None:
            return None
        size = sql.SQL("SELECT " + MARK + " {}(%s)").format(
            sql.Identifier(self.hypopg, "hypopg_relation_size"))
        with self.hypothetical([candidate]) as made:
            row = self.conn.execute(size, (made[candidate].oid,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])
