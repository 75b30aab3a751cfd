"""Any perfkit record file read typed: a bench run, a report or an index advice, told apart
by its `schema` field once, here, so a command never sniffs a record's JSON itself.

Each kind keeps its own reader and its one SCHEMA (bench/record.py, prom/record.py,
db/advisor/record.py); this module only chooses between them and words the error when a file
is not what the command takes (exit 2, one line naming the file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from perfkit.bench import record as run_record
from perfkit.bench.record import Run, is_run
from perfkit.errors import UsageError
from perfkit.jsonfile import read_json_object
from perfkit.prom import record as report_record
from perfkit.prom.record import ReportRecord, is_report

if TYPE_CHECKING:
    from perfkit.db.advisor.record import Advice

__all__ = ["ADVICE", "ALL", "REPORT", "RUN", "Kind", "Record", "kind_of", "load_record",
           "load_report", "load_run", "load_run_or_report", "read_record"]

Record: TypeAlias = "Run | ReportRecord | Advice"


def _advice_schema() -> str:
    # Imported when asked: the advisor's modules load psycopg and pglast (~0.1 s) that gate,
    # plot and compare, which never take an advice, would otherwise pay at every start.
    from perfkit.db.advisor.record import SCHEMA

    return SCHEMA


@dataclass(frozen=True, eq=False)  # one object per kind: compared by identity
class Kind:
    """One kind of record: what it is called, its schema, and which command writes it."""

    noun: str  # "bench run": after "a perfkit ..." and in "neither a ... nor ..."
    article: str
    written_by: str
    schema_of: Callable[[], str]  # the owner's SCHEMA, read where it is defined

    @property
    def schema(self) -> str:
        return self.schema_of()

    def named(self) -> str:
        return f"{self.article} {self.noun} ({self.schema})"


RUN = Kind("bench run", "a", "`perfkit bench --out`", lambda: run_record.SCHEMA)
REPORT = Kind("report", "a", "`perfkit report --format json`", lambda: report_record.SCHEMA)
ADVICE = Kind("index advice", "an", "`perfkit advise-indexes --format json`", _advice_schema)
ALL = (RUN, REPORT, ADVICE)


def kind_of(data: Mapping[str, Any]) -> Kind | None:
    """The record's kind by its `schema` field (a run of any readable format), else None."""
    if is_run(dict(data)):
        return RUN
    if is_report(data):
        return REPORT
    return ADVICE if data.get("schema") == ADVICE.schema else None


def _refusal(where: str, kinds: tuple[Kind, ...], found: Kind | None) -> UsageError:
    """One line: what the file is not (and what it is, when it is another perfkit record)."""
    if len(kinds) == 1:
        text = f"{where}: not a perfkit {kinds[0].noun} (expected schema {kinds[0].schema})"
    else:
        *first, last = (k.named() for k in kinds)
        text = f"{where}: neither {', '.join(first)} nor {last}"
    if found is not None:
        text += f"; it is {found.named()}"
    return UsageError(text, hint="use a file written by "
                                 + " or ".join(k.written_by for k in kinds))


def read_record(data: Mapping[str, Any], source: str,
                kinds: tuple[Kind, ...] = ALL) -> Record:
    """The typed record of one of `kinds` in `data`; UsageError (exit 2) for anything else."""
    kind = kind_of(data)
    if kind is None or kind not in kinds:
        raise _refusal(source, kinds, kind)
    if kind is RUN:
        return Run.from_json(dict(data), source=source)
    if kind is REPORT:
        return ReportRecord.from_json(data, source=source)
    from perfkit.advice_reader import read_advice  # the advisor's modules: see _advice_schema

    return read_advice(data, source)


def load_record(path: Path, kinds: tuple[Kind, ...] = ALL, *, label: str = "") -> Record:
    """The record in `path`, one of `kinds`. A missing or unreadable file, a file that is not
    JSON, or a record of another schema is one UsageError (exit 2) naming the file (and
    `label`, the flag it came from)."""
    source = f"{label} {path}" if label else str(path)
    return read_record(read_json_object(path, label=label), source, kinds)


def load_run(path: Path, *, label: str = "") -> Run:
    """A bench run: anything else, another perfkit record included, is a UsageError."""
    record = load_record(path, (RUN,), label=label)
    assert isinstance(record, Run)
    return record


def load_run_or_report(path: Path, *, label: str = "") -> Run | ReportRecord:
    """What the gate and the plot read: a bench run or a report, nothing else."""
    record = load_record(path, (RUN, REPORT), label=label)
    assert isinstance(record, Run | ReportRecord)
    return record


def load_report(path: Path, *, label: str = "") -> ReportRecord:
    """A report: anything else, another perfkit record included, is a UsageError."""
    record = load_record(path, (REPORT,), label=label)
    assert isinstance(record, ReportRecord)
    return record
