"""Plan and apply index migrations without blocking writes.

Every build is CREATE INDEX CONCURRENTLY in autocommit (never in a transaction), under a
short lock_timeout with bounded retries, so a busy table delays perfkit instead of perfkit
queueing every writer behind it. A build that fails leaves an INVALID index: perfkit drops
it at once when it can, and any later run finds and rebuilds it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg
from pglast import enums
from psycopg import sql

from perfkit.config import Target as EventTarget
from perfkit.db import catalog
from perfkit.db.connect import connect, ddl_session, pooler_warning
from perfkit.db.ddl_runner import (
    ConnectionLost,
    LockTimeout,
    Notify,
    ProgressCallback,
    Runner,
    Target,
    Watch,
)
from perfkit.db.explain import PlanSummary, explain_query
from perfkit.db.leftovers import Change, left_behind
from perfkit.db.migration_reader import IndexStatement, StatementKind
from perfkit.db.pooler import refuse_transaction_pooler
from perfkit.db.retry import again, lost
from perfkit.db.verify import VerifyReport, verify_indexes
from perfkit.errors import Interrupted, PerfkitError, Unreachable, UsageError
from perfkit.events import record_event

__all__ = ["Action", "ApplyOptions", "ApplyResult", "LockTimeout", "Step", "apply_indexes",
           "plan_apply"]
_NAME_MAX = 63


class Action(StrEnum):
    CREATE = "create"
    UNCHANGED = "unchanged"
    REBUILD = "rebuild-invalid"
    CONFLICT = "conflict"
    REPLACE = "replace"
    DROP = "drop"
    ABSENT = "already-absent"
    COMMENT = "comment"
    ANALYZE = "analyze"


_CHANGES = (Action.CREATE, Action.REBUILD, Action.REPLACE, Action.DROP)


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    lock_timeout_s: float = 5.0
    lock_retries: int = 3
    analyze: bool = True
    replace: bool = False
    explain: bool = False


@dataclass
class Step:
    """What perfkit will do (or did) for one statement of the files."""

    statement: IndexStatement
    action: Action
    reason: str = ""
    schema: str | None = None
    sql: list[str] = field(default_factory=list)
    builds: dict[str, str] = field(default_factory=dict)  # CREATE statement -> index it builds
    done: bool = False
    duration_s: float | None = None

    @property
    def name(self) -> str:
        stmt = self.statement
        return stmt.index_name or " ".join(stmt.text.split())[:60]

    @property
    def table(self) -> str | None:
        stmt = self.statement
        return stmt.table or ", ".join(t for _s, t in stmt.tables) or None

    def to_json(self) -> dict[str, Any]:
        stmt = self.statement
        return {"name": stmt.index_name, "table": self.table, "schema": self.schema,
                "kind": stmt.kind.value, "action": self.action.value, "reason": self.reason,
                "source": str(stmt.source), "sql": self.sql, "done": self.done,
                "concurrently_added": stmt.rewritten, "duration_s": self.duration_s}


@dataclass
class ApplyResult:
    steps: list[Step]
    dry_run: bool
    analyzed: list[str] = field(default_factory=list)
    verify: VerifyReport | None = None
    event_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.action is Action.CONFLICT]

    @property
    def changed(self) -> list[Step]:
        return [s for s in self.steps if s.done and s.action in _CHANGES]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "perfkit.apply/1", "dry_run": self.dry_run,
                "steps": [s.to_json() for s in self.steps], "analyzed": self.analyzed,
                "event_id": self.event_id, "warnings": self.warnings,
                "verify": self.verify.to_json() if self.verify else None}


def _ident(conn: psycopg.Connection[Any], *parts: str) -> str:
    return sql.Identifier(*parts).as_string(conn)


def _temp_name(name: str) -> str:
    suffix = "_perfkit_new"
    return name.encode()[: _NAME_MAX - len(suffix)].decode(errors="ignore") + suffix


def plan_apply(conn: psycopg.Connection[Any], statements: list[IndexStatement], *,
               replace: bool = False) -> list[Step]:
    """Compare each statement with the catalog; decides, changes nothing."""
    steps: list[Step] = []
    planned: dict[tuple[str, str], bool] = {}  # (schema, name) -> exists after earlier steps
    for stmt in statements:
        if stmt.kind is StatementKind.CREATE_INDEX:
            steps.append(_plan_create(conn, stmt, planned, replace))
        elif stmt.kind is StatementKind.DROP_INDEX:
            assert stmt.index_name is not None
            schema = catalog.index_schema(conn, stmt.schema, stmt.index_name)
            key = (schema or stmt.schema or "", stmt.index_name)
            exists = planned.get(key, schema is not None)
            step = Step(stmt, Action.DROP if exists else Action.ABSENT, schema=schema)
            if exists and schema is not None:
                step.sql = [f"DROP INDEX CONCURRENTLY IF EXISTS "
                            f"{_ident(conn, schema, stmt.index_name)}"]
            planned[key] = False
            steps.append(step)
        elif stmt.kind is StatementKind.ANALYZE:
            steps.append(Step(stmt, Action.ANALYZE, "only when something changed",
                              sql=[stmt.text]))
        else:
            steps.append(_plan_comment(conn, stmt))
    return steps


def _plan_create(conn: psycopg.Connection[Any], stmt: IndexStatement,
                 planned: dict[tuple[str, str], bool], replace: bool) -> Step:
    assert stmt.index_name is not None and stmt.table is not None
    schema = catalog.resolve_table(conn, stmt.schema, stmt.table)
    if schema is None:
        raise UsageError(f"{stmt.source}: table {stmt.table} does not exist",
                         hint="nothing was applied")
    name, key = stmt.index_name, (schema, stmt.index_name)
    qualified = _ident(conn, schema, name)
    step = Step(stmt, Action.CREATE, schema=schema)
    dropped_earlier = planned.get(key) is False
    found = None if dropped_earlier else catalog.find_index(conn, schema, name)
    planned[key] = True
    if found is None:
        kind = None if dropped_earlier else catalog.relation_kind(conn, schema, name)
        if kind is not None:
            step.action = Action.CONFLICT
            step.reason = f"the name {name} is taken by a relation of kind {kind!r}"
            return step
        step.reason = "absent"
        step.sql = [stmt.sql()]
        step.builds = {stmt.sql(): name}
    elif not found.valid:
        step.action, step.reason = Action.REBUILD, "INVALID (failed or interrupted build)"
        step.sql = [f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}", stmt.sql()]
        step.builds = {stmt.sql(): name}
    elif found.table == stmt.table and catalog.same_definition(stmt, found.definition):
        step.action, step.reason = Action.UNCHANGED, "valid, same definition"
    elif replace:
        temp = _temp_name(name)
        step.action, step.reason = Action.REPLACE, f"was: {found.definition}"
        step.sql = [f"DROP INDEX CONCURRENTLY IF EXISTS {_ident(conn, schema, temp)}",
                    stmt.sql(index_name=temp),
                    f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}",
                    f"ALTER INDEX {_ident(conn, schema, temp)} RENAME TO {_ident(conn, name)}"]
        step.builds = {stmt.sql(index_name=temp): temp}
    else:
        step.action = Action.CONFLICT
        step.reason = f"exists with another definition: {found.definition}"
    return step


def _plan_comment(conn: psycopg.Connection[Any], stmt: IndexStatement) -> Step:
    node = stmt.node
    step = Step(stmt, Action.COMMENT, sql=[stmt.text])
    if node.objtype in (enums.ObjectType.OBJECT_INDEX, enums.ObjectType.OBJECT_TABLE):
        names = [n.sval for n in node.object]
        exists, current = catalog.comment_of(conn, names)
        if exists and current == node.comment:
            step.action, step.reason, step.sql = Action.UNCHANGED, "same comment", []
    return step


def _target(conn: psycopg.Connection[Any], step: Step, leftover: str | None) -> Target | None:
    """The table a statement works on (blockers are looked up there); the index left if it fails."""
    table = step.statement.table
    if table is None and step.schema and step.statement.index_name:
        found = catalog.find_index(conn, step.schema, step.statement.index_name)
        table = found.table if found else None
    if table is None or step.schema is None:
        return None
    return Target(step.schema, table, index=leftover)


def apply_indexes(dsn: str | None, statements: list[IndexStatement],
                  options: ApplyOptions | None = None, *,
                  progress: ProgressCallback | None = None,
                  notify: Notify | None = None) -> ApplyResult:
    """Plan, build CONCURRENTLY, ANALYZE what changed, verify, and journal a change event."""
    options = options or ApplyOptions()
    say: Notify = notify or (lambda _msg: None)
    with _connect(dsn) as conn:
        refuse_transaction_pooler(conn, dsn or "", "apply-indexes")
        steps = plan_apply(conn, statements, replace=options.replace)
        result = ApplyResult(steps=steps, dry_run=options.dry_run)
        not_owned = _not_owned(conn, steps)
        if not_owned and options.dry_run:
            result.warnings.append(not_owned)
        elif not_owned:
            raise UsageError(f"apply-indexes: {not_owned}; nothing was applied",
                             hint="connect as the owner (Supabase: the postgres role)")
        if options.dry_run or result.conflicts:
            return result
        with ddl_session(conn):
            runner = Runner(conn, dsn or "", lock_timeout_s=options.lock_timeout_s,
                            lock_retries=options.lock_retries,
                            watch=Watch(dsn or "", progress, say), notify=say)
            doing = "building"
            try:
                plans_before = _run_steps(runner, result, options, say)
                doing = "running ANALYZE"
                try:
                    result.analyzed = _analyze(runner, steps, options)
                except ConnectionLost as exc:
                    raise _analyze_lost(exc, result, dsn) from None
                doing = "verifying the indexes"
                result.verify = _verify(conn, dsn or "", statements, options, plans_before,
                                        result, say)
            except KeyboardInterrupt:
                raise _interrupted(result, doing, dsn) from None
    if result.changed:
        result.event_id = record_event("apply-indexes", _event_text(result),
                                       target=EventTarget.of(dsn=dsn)).id
    return result


def _connect(dsn: str | None) -> psycopg.Connection[Any]:
    """connect(), with port 6543's hint when the database cannot be reached there."""
    try:
        return connect(dsn)
    except Unreachable as exc:
        hint = pooler_warning(dsn or "")
        if hint is None:
            raise
        raise Unreachable(exc.message, hint=hint) from None


def _not_owned(conn: psycopg.Connection[Any], steps: list[Step]) -> str | None:
    """What the role may not change: building, dropping or commenting on an index takes the
    table owner's rights, and building one CREATE on the table's schema."""
    refused: dict[str, str] = {}
    no_create: set[str] = set()
    for step in steps:
        if step.action not in (*_CHANGES, Action.COMMENT) or step.schema is None:
            continue
        stmt = step.statement
        builds = stmt.kind is StatementKind.CREATE_INDEX
        name = stmt.table if builds else stmt.index_name
        found = catalog.owner_of(conn, step.schema, name) if name else None
        if found is not None and not found[1]:
            refused[f"{step.schema}.{name}"] = found[0]
        elif builds and not catalog.can_create_in(conn, step.schema):
            no_create.add(step.schema)
    user = conn.info.user
    if refused:
        owned = ", ".join(f"{name} (owner: {owner})" for name, owner in refused.items())
        return f"role {user} does not own {owned}: CREATE/DROP INDEX needs the table's owner"
    if no_create:
        return (f"role {user} has no CREATE privilege on schema {', '.join(sorted(no_create))}"
                f": CREATE INDEX needs it (GRANT CREATE ON SCHEMA ... TO {user})")
    return None


def _run_steps(runner: Runner, result: ApplyResult, options: ApplyOptions,
               say: Notify) -> dict[str, PlanSummary]:
    """Each step's statements in order; with `explain`, each declared query's plan before its
    index is built (returned by index name)."""
    plans_before: dict[str, PlanSummary] = {}
    for step in result.steps:
        if step.action in (Action.ANALYZE, Action.UNCHANGED, Action.ABSENT):
            continue
        stmt = step.statement
        if options.explain and stmt.query and step.action is not Action.COMMENT:
            plans_before[step.name] = explain_query(runner.conn, stmt.query)
        started = time.perf_counter()
        try:
            for statement in step.sql:
                built = step.builds.get(statement)
                added = " (CONCURRENTLY added: a plain CREATE INDEX blocks every write)" if (
                    built and stmt.rewritten) else ""
                say(f"{stmt.source}: {statement}{added}")
                # the DROP of an INVALID index: if it fails, that index is what is left
                leftover = built or (stmt.index_name if step.action is Action.REBUILD
                                     else None)
                runner.run(statement, _target(runner.conn, step, leftover))
        except PerfkitError as exc:
            raise _stopped(exc, step, result, runner.dsn) from None
        step.done, step.duration_s = True, time.perf_counter() - started
    return plans_before


def _stopped(error: PerfkitError, step: Step, result: ApplyResult,
             dsn: str | None = None) -> PerfkitError:
    """The error of a failed step, saying what was done before it (journaled for `report`)."""
    done = ", ".join(s.name for s in result.changed)
    message = f"{step.statement.source}: {error.message}"
    if done:
        result.event_id = record_event(
            "apply-indexes", _event_text(result) + f"; stopped at {step.name}",
            target=EventTarget.of(dsn=dsn)).id
        message += f" (done before: {done}; rerun to finish, each step is checked again)"
    return type(error)(message, hint=error.hint)


def _interrupted(result: ApplyResult, doing: str, dsn: str | None) -> Interrupted:
    """Ctrl-C or SIGTERM: what each change left (read again), journaled like a failure."""
    changes: list[Change] = []
    for step in result.steps:
        if step.action not in _CHANGES or step.schema is None or not step.statement.index_name:
            continue
        name = step.statement.index_name
        changes.append(Change(step.schema, name, builds=step.action is not Action.DROP))
        changes += [Change(step.schema, temp, builds=False) for temp in step.builds.values()
                    if temp != name]  # --replace's new index, not yet renamed
    if doing == "building":
        current = next((s for s in result.steps if s.action in _CHANGES and not s.done), None)
        if current is not None:
            verb = "dropping" if current.action is Action.DROP else "building"
            doing = f"{verb} {current.name}"
    if result.changed:
        result.event_id = record_event(
            "apply-indexes", _event_text(result) + f"; interrupted while {doing}",
            target=EventTarget.of(dsn=dsn)).id
    after = {"running ANALYZE": f"; the ANALYZE may not have finished: run "
                                f"{_analyze_repair(result)} (a rerun has nothing to build)",
             "verifying the indexes": "; `perfkit verify-indexes` checks them"}.get(doing, "")
    return Interrupted(f"apply-indexes interrupted while {doing}: "
                       f"{left_behind(dsn or '', changes)}{after}")


def _analyze(runner: Runner, steps: list[Step], options: ApplyOptions) -> list[str]:
    """ANALYZE the tables a build touched (the planner needs the new index's statistics)."""
    if not options.analyze or not any(s.done and s.action in _CHANGES for s in steps):
        return []
    analyzed: list[str] = []
    for step in steps:
        if step.action is Action.ANALYZE:
            runner.run(step.statement.text)
            step.done = True
            tables = [t for _schema, t in step.statement.tables] or ["(all)"]
            analyzed.extend(tables)
    for step in steps:
        table = step.statement.table
        if step.done and step.action in _CHANGES and table and table not in analyzed:
            runner.run(f"ANALYZE {_ident(runner.conn, step.schema or 'public', table)}")
            analyzed.append(table)
    return analyzed


def _analyze_repair(result: ApplyResult) -> str:
    """The ANALYZE to run by hand when the one after the builds did not finish: a rerun of
    apply-indexes finds nothing to build, so nothing to ANALYZE."""
    tables = list(dict.fromkeys(
        sql.Identifier(s.schema or "public", s.statement.table).as_string()
        for s in result.changed if s.statement.table))
    return "; ".join(f"ANALYZE {t}" for t in tables) or "ANALYZE"


def _analyze_lost(error: ConnectionLost, result: ApplyResult, dsn: str | None) -> Unreachable:
    """The session died in the ANALYZE after the builds: they are done and VALID (a build
    that returned committed its index), only the planner's statistics may be missing, and a
    rerun would find nothing to build, so nothing to ANALYZE: the one line gives the
    statement to run. The change is journaled as a finished one would be."""
    repair = _analyze_repair(result)
    done = _event_text(result)
    result.event_id = record_event("apply-indexes", f"{done}; ANALYZE lost",
                                   target=EventTarget.of(dsn=dsn)).id
    return Unreachable(f"{error.message.rsplit('; ', 1)[0]}: the indexes are done and VALID "
                       f"({done}), only the statistics ANALYZE refreshes are missing: run "
                       f"{repair} (a rerun of apply-indexes finds nothing to build and "
                       "does not ANALYZE)", hint="the change is recorded as event "
                       f"{result.event_id}")


def _verify(conn: psycopg.Connection[Any], dsn: str, statements: list[IndexStatement],
            options: ApplyOptions, plans_before: dict[str, PlanSummary], result: ApplyResult,
            say: Notify) -> VerifyReport:
    """The check after the builds, read-only: a lost session is retried once on a new
    connection (db/retry.py); a second loss says the indexes are built, only not verified."""
    def check(c: psycopg.Connection[Any]) -> VerifyReport:
        return verify_indexes(c, statements, explain=options.explain, plans_before=plans_before)

    try:
        return check(conn)
    except (psycopg.Error, PerfkitError) as exc:
        if not lost(conn):
            raise
        first = exc
    try:
        return again(dsn, check, first, doing="verifying the indexes", say=say)
    except Unreachable as exc:
        raise _verify_lost(exc, result, dsn, statements) from None


def _verify_lost(error: Unreachable, result: ApplyResult, dsn: str,
                 statements: list[IndexStatement]) -> Unreachable:
    """The verification lost twice: the builds are done (a build that returned committed its
    index), only unchecked; journaled as done, with the command that checks them."""
    files = " ".join(dict.fromkeys(str(s.source.path) for s in statements))
    done = _event_text(result)
    what = (f"the indexes are built ({done}) but could not be verified" if done else
            "nothing was changed; the indexes could not be verified")
    if done:
        result.event_id = record_event("apply-indexes", f"{done}; verification lost",
                                       target=EventTarget.of(dsn=dsn)).id
    return Unreachable(f"{error.message.rsplit('; ', 1)[0]}: {what}: check them with "
                       f"`perfkit verify-indexes {files}`",
                       hint=f"the change is recorded as event {result.event_id}"
                       if done else None)


def _event_text(result: ApplyResult) -> str:
    verbs = {Action.CREATE: "built", Action.REBUILD: "rebuilt (was INVALID)",
             Action.REPLACE: "replaced", Action.DROP: "dropped"}
    parts = []
    for action, verb in verbs.items():
        names = [s.name for s in result.changed if s.action is action]
        if names:
            parts.append(f"{verb} {', '.join(names)}")
    if result.analyzed:
        parts.append(f"analyzed {', '.join(result.analyzed)}")
    return "; ".join(parts)  # the event's kind already says apply-indexes
