"""The index advice record (`perfkit.advice/1`) read back typed, as db/advisor/record.py's
Advice: what perfkit.records returns for an advice file.

No command takes an advice as input yet, so this reader stands apart from the record it reads
(its place is db/advisor/record.py, as `Advice.from_json`, once that package settles). It
reads what the record holds: the statements' counters it does not write (rows, blocks, calls
per request) stay empty, and each statement's candidates and the choices stay unread (the
record keeps them as display strings only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from perfkit.db.advisor import record as advice_record
from perfkit.db.advisor.candidates import Candidate
from perfkit.db.advisor.hypothetical import Costs
from perfkit.db.advisor.record import Advice
from perfkit.db.vocabulary import IndexColumn, TableName
from perfkit.db.workload import StatementStats
from perfkit.errors import UsageError

HINT = "use a file written by `perfkit advise-indexes --format json`"


def _costs(data: Mapping[str, Any] | None) -> Costs | None:
    if not data:
        return None
    heaviest = data.get("heaviest")
    return Costs(float(data["generic"]), None if heaviest is None else float(heaviest))


def _statement(data: Mapping[str, Any]) -> advice_record.StatementAdvice:
    stats = StatementStats(int(data["queryid"]), str(data["query"]), int(data["calls"]), None,
                           float(data["total_ms"]), float(data["mean_ms"]), 0, 0, 0)
    return advice_record.StatementAdvice(
        stats, advice_record.StatementStatus(data["status"]), str(data.get("reason") or ""),
        _costs(data.get("cost_before")), _costs(data.get("cost_after")),
        [str(i) for i in data.get("indexes") or []])


def _index(data: Mapping[str, Any],
           statements: dict[int, advice_record.StatementAdvice]) -> advice_record.IndexAdvice:
    candidate = Candidate(TableName(str(data.get("schema") or "public"), str(data["table"])),
                          tuple(IndexColumn(str(c["name"]), bool(c.get("descending")))
                                for c in data["columns"]))
    size, writes, saved = (data.get(k) for k in ("size_bytes", "writes_per_s", "saved_ms"))
    return advice_record.IndexAdvice(
        str(data["name"]), candidate, [statements[int(q)] for q in data["statements"]
                                       if int(q) in statements],
        bool(data["proven"]), None if size is None else int(size),
        None if writes is None else float(writes),
        tuple(str(n) for n in data.get("makes_redundant") or []),
        None if saved is None else float(saved))


def _source(data: Mapping[str, Any]) -> advice_record.Source:
    since, seconds = data.get("since"), data.get("seconds")
    return advice_record.Source(
        advice_record.SourceKind(data["kind"]), str(data.get("label") or ""),
        None if since is None else datetime.fromisoformat(str(since)),
        None if seconds is None else float(seconds))


def read_advice(data: Mapping[str, Any], source: str) -> Advice:
    """The advice in `data` (its schema already checked); UsageError when malformed."""
    try:
        statements = [_statement(s) for s in data["statements"]]
        by_id = {s.stats.queryid: s for s in statements}
        return Advice(_source(data["source"]), bool(data.get("hypopg")),
                      [_index(i, by_id) for i in data["indexes"]], statements,
                      notes=[str(n) for n in data.get("notes") or []],
                      elapsed_s=float(data.get("elapsed_s") or 0.0),
                      min_cut=float(data.get("min_cut", 0.5)),
                      min_saved_share=float(data.get("min_saved_share", 0.01)))
    except KeyError as exc:
        raise UsageError(f"{source}: malformed advice record: no {exc}",
                         hint=HINT) from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{source}: malformed advice record ({exc})") from None
