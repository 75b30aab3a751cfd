"""The demo stack's status and its backend's faults as Documents."""

from __future__ import annotations

from perfkit.demo.control import Faults
from perfkit.demo.stack import StackStatus
from perfkit.render.model import Column, Document, Table, name, number, text
from perfkit.units import MISSING, fmt_ms, fmt_share

STATUS_COLUMNS = (name("service"), text("state"), number("pid"), name("address"))
FAULT_COLUMNS = (name("route"), number("extra latency ms"), number("5xx"))


def _on_off(flag: bool | None) -> str:
    return MISSING if flag is None else "on" if flag else "off"


def status_document(status: StackStatus) -> Document:
    rows = [[s.name, "up" if s.up else "DOWN", MISSING if s.pid is None else str(s.pid),
             s.address or MISSING] for s in status.services]
    doc = Document().table(Table.of("perfkit demo", STATUS_COLUMNS, rows))
    if status.backend.address:
        scale = MISSING if status.scale is None else f"{status.scale:g}"
        doc.lines(f"cache: {_on_off(status.cache)}   metrics: "
                  f"{status.metrics_profile or MISSING}   scale: {scale}")
    return doc.lines(f"tokens: {status.tokens_file or MISSING}",
                     f"backend log: {status.log_file or MISSING}")


def try_line(status: StackStatus, token: str) -> str:
    """The first request to make, with a demo token (local to the demo, printed on purpose)."""
    return f"try: curl -H 'Authorization: Bearer {token}' {status.backend.address}/auth/me"


def faults_document(faults: Faults) -> Document:
    """One row a route; the N+1 column only when a route has that fault (the table is as it
    was for latency and 5xx alone)."""
    rows = [[route, fmt_ms(faults.latency_ms.get(route, 0.0)),
             fmt_share(faults.error_ratio.get(route, 0.0))] for route in faults.routes()]
    columns: tuple[Column, ...] = FAULT_COLUMNS
    if faults.n_plus_one:
        columns = (*FAULT_COLUMNS, text("N+1"))
        rows = [[*row, "on" if row[0] in faults.n_plus_one else "off"] for row in rows]
    table = Table.of("faults of the demo backend", columns,
                     rows or [["(none)", fmt_ms(0.0), fmt_share(0.0)]])
    return Document().table(table)
