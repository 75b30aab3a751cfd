"""The index rules: INVALID, duplicate (same parse tree, as db/catalog.py compares them),
redundant (a prefix of another with the same leading columns and order) and unused
(never scanned since the statistics began, when they are old enough to say so).

Never dropped: a primary key, an index backing a constraint (its own UNIQUE or EXCLUDE, or
another table's foreign key), the replica identity; a UNIQUE index only for an identical
twin. An index that is the only one serving a foreign key is not called unused (dropping it
would make the foreign key unindexed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pglast import parse_sql
from pglast.stream import RawStream

from perfkit.db.advisor.candidates import Candidate
from perfkit.db.catalog import definition_tree
from perfkit.db.lint.inventory import ForeignKey, IndexRow, Inventory
from perfkit.db.lint.model import Finding, LintReport
from perfkit.db.vocabulary import TableName, quote_ident


def table_label(table: TableName) -> str:
    """A table as findings name it: always schema-qualified (`public.orders`)."""
    return f"{table.schema}.{table.name}"


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def drop_sql(index: IndexRow) -> str:
    return f"DROP INDEX CONCURRENTLY {qualified(index.table.schema, index.name)};"


def create_sql(index: IndexRow) -> str:
    """The index's own definition, built CONCURRENTLY (as apply-indexes rebuilds it)."""
    node: Any = parse_sql(index.definition)[0].stmt
    node.concurrent = True
    return str(RawStream()(node)) + ";"


def covers(index: IndexRow, key: ForeignKey) -> bool:
    """The index serves the foreign key's lookups: its leading columns are the key's, in any
    order, and it has no predicate."""
    n = len(key.attnums)
    return (index.table == key.table and not index.has_predicate and index.method == "btree"
            and len(index.key_attnums) >= n and set(index.key_attnums[:n]) == set(key.attnums))


def _facts(index: IndexRow) -> dict[str, object]:
    return {"name": index.qualified, "definition": index.definition,
            "size_bytes": index.size_bytes, "idx_scan": index.idx_scan,
            "unique": index.unique, "constraints": list(index.constraints)}


@dataclass
class _Pass:
    inventory: Inventory
    findings: list[Finding] = field(default_factory=list)
    reported: set[int] = field(default_factory=set)  # oids already in a finding
    dropped: set[int] = field(default_factory=set)  # oids the fixes drop

    def add(self, rule: str, index: IndexRow, evidence: dict[str, object], fix: str,
            *, drops: bool = True) -> None:
        self.findings.append(Finding(rule, index.qualified, table_label(index.table),
                                     evidence, fix))
        self.reported.add(index.oid)
        if drops:
            self.dropped.add(index.oid)


def _invalid(run: _Pass) -> None:
    for index in run.inventory.indexes:
        if index.valid or index.building:
            continue
        evidence = {**_facts(index), "ready": index.ready,
                    "why": "INVALID: a CREATE INDEX CONCURRENTLY failed or was interrupted; "
                           "queries never read it, every write still updates it"
                           if index.ready else "INVALID and not ready: a failed build"}
        if index.partitioned:
            fix = (f"-- an index of a partitioned table cannot be built CONCURRENTLY: attach "
                   f"the missing partitions' indexes (ALTER INDEX {index.qualified} ATTACH "
                   "PARTITION ...) in a regular migration")
        else:
            fix = f"{drop_sql(index)}\n{create_sql(index)}"
        run.add("invalid_index", index, evidence, fix, drops=False)


def _tree_key(index: IndexRow) -> str:
    tree = definition_tree(parse_sql(index.definition)[0].stmt)
    return json.dumps(tree, sort_keys=True, default=str)


def _keeper_order(index: IndexRow) -> tuple[bool, int, int]:
    """The one of identical twins to keep: a constraint's, else the most scanned, else the
    oldest."""
    return (not index.protected, -index.idx_scan, index.oid)


def _duplicates(run: _Pass) -> None:
    groups: dict[tuple[object, str], list[IndexRow]] = {}
    for index in run.inventory.indexes:
        if index.valid and not index.building:
            groups.setdefault((index.table, _tree_key(index)), []).append(index)
    for twins in groups.values():
        if len(twins) < 2:
            continue
        keep, *others = sorted(twins, key=_keeper_order)
        for index in others:
            evidence = {**_facts(index), "kept": _facts(keep),
                        "why": f"same definition as {keep.qualified}"}
            if index.protected:
                what = ", ".join(index.constraints) or "the primary key or replica identity"
                fix = (f"-- {index.qualified} backs {what}: drop the constraint in a regular "
                       "migration if it is really the same as the other")
                run.add("duplicate_index", index, evidence, fix, drops=False)
            else:
                run.add("duplicate_index", index, evidence, drop_sql(index))


def _prefix_of(short: IndexRow, long: IndexRow) -> bool:
    n = len(short.key_columns)
    if not short.key_columns or not long.key_columns or n > len(long.key_columns):
        return False
    candidate = Candidate(short.table, short.key_columns)
    if not candidate.is_prefix_of(long.key_columns):
        return False
    if short.classes != long.classes[:n] or short.collations != long.collations[:n]:
        return False
    return set(short.include_attnums) <= set(long.key_attnums) | set(long.include_attnums)


def _covered_by(run: _Pass, index: IndexRow) -> IndexRow | None:
    for other in run.inventory.indexes_of(index.table):
        if (other.oid == index.oid or other.oid in run.dropped or not other.valid
                or other.building or not other.plain_btree or not _prefix_of(index, other)):
            continue
        same_length = len(other.key_columns) == len(index.key_columns)
        if same_length and not (other.unique and not index.unique) and (
                _keeper_order(other) > _keeper_order(index)):
            continue  # of two alike, the less valuable one goes
        return other
    return None


def _redundant(run: _Pass) -> None:
    candidates = [i for i in run.inventory.indexes
                  if i.valid and not i.building and i.plain_btree and not i.unique
                  and not i.protected and i.oid not in run.reported]
    for index in sorted(candidates, key=lambda i: (i.idx_scan, i.size_bytes, -i.oid)):
        wider = _covered_by(run, index)
        if wider is None:
            continue
        evidence = {**_facts(index), "kept": _facts(wider),
                    "why": f"its columns lead {wider.qualified}, which serves every lookup "
                           "it serves"}
        run.add("redundant_index", index, evidence, drop_sql(index))


def _sole_foreign_key_index(inventory: Inventory, index: IndexRow,
                            dropped: set[int]) -> str | None:
    """The foreign key this index alone serves (None when another one serves it too)."""
    for key in inventory.foreign_keys:
        if not covers(index, key):
            continue
        others = [i for i in inventory.indexes_of(key.table) if i.oid != index.oid
                  and i.valid and i.oid not in dropped and covers(i, key)]
        if not others:
            return key.name
    return None


def _unused(run: _Pass, report: LintReport, min_age_s: float) -> None:
    inventory = run.inventory
    age = inventory.stats_age
    for index in inventory.indexes:
        if (index.idx_scan or not index.valid or index.building or index.unique
                or index.protected or index.partitioned or index.oid in run.reported
                or _sole_foreign_key_index(inventory, index, run.dropped)):
            continue
        if age.seconds < min_age_s:
            report.unjudged_unused.append(index.qualified)
            continue
        table = inventory.tables.get(index.table)
        evidence = {**_facts(index), "stats_age": age.to_json(),
                    "index_writes": table.index_writes if table else None,
                    "why": "never scanned since the statistics began"}
        fix = f"-- {drop_sql(index)}  -- a human decides: uncomment to drop it"
        run.add("unused_index", index, evidence, fix, drops=False)


def index_findings(inventory: Inventory, report: LintReport, min_age_s: float
                   ) -> tuple[list[Finding], set[int]]:
    """The index rules' findings, and the oids of the indexes their fixes drop."""
    run = _Pass(inventory)
    _invalid(run)
    _duplicates(run)
    _redundant(run)
    _unused(run, report, min_age_s)
    return run.findings, run.dropped
