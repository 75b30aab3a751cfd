"""What `perfkit init` wrote, as a Document: each route's step and how its values are found."""

from __future__ import annotations

from pathlib import Path

from perfkit.init.plan import InitPlan, StepState
from perfkit.init.scaffold import key_header_example
from perfkit.render.model import Document, Table, name, text

COLUMNS = (name("route"), name("step"), text("values"))
STATE = {StepState.RUNS: "runs", StepState.COMMENTED: "commented out"}


def init_document(plan: InitPlan, files: list[Path]) -> Document:
    rows = [[s.operation.route, STATE[s.state], s.why or "-"] for s in plan.steps]
    runs = sum(1 for s in plan.steps if s.state is StepState.RUNS)
    title = f"perfkit init: {runs} of {len(plan.steps)} routes run, from {plan.source}"
    doc = Document().table(Table.of(title, COLUMNS, rows))
    doc.lines(f"wrote {', '.join(str(f) for f in files)}")
    if plan.left_out:
        doc.lines(f"left out (instrumentation, not the app's traffic): "
                  f"{', '.join(plan.left_out)}")
    if plan.auth.login_path:
        doc.lines(f"credentials: {plan.auth.described}; each virtual user logs in at "
                  f"{plan.auth.login_path}: give --users-file users.csv (one email,password "
                  "a line)")
        return doc.lines(f"next: perfkit bench {plan.name} --users-file users.csv "
                         "--duration 30s")
    if plan.auth.described:
        doc.lines(f"credentials: {plan.auth.described}; give the token with PERFKIT_TOKEN, "
                  "or many with --tokens-file tokens.txt")
    if plan.auth.key_header:
        doc.lines(f"the key's form is yours to give: {plan.auth.key_header} is sent as the "
                  f"scenario writes it ({plan.auth.headers[plan.auth.key_header]}), or as "
                  f"-H gives it")
        return doc.lines(f"next: perfkit bench {plan.name} {key_header_example(plan)} "
                         "--duration 30s")
    return doc.lines(f"next: perfkit bench {plan.name} --duration 30s")
