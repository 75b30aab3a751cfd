"""The row level security rules: a policy that calls a STABLE or VOLATILE function per row,
and several permissive policies for one role and action.

`USING (user_id = auth.uid())` calls `auth.uid()` for every row the scan reads; written
`USING (user_id = (select auth.uid()))`, the planner runs it once (an InitPlan) and compares
each row with the result. A call is flagged when its arguments read no column of the row
(so it can be hoisted) and it is not inside a subquery already. The expression is read
with pglast, as the database deparses it (pg_get_expr), and rewritten on its parse tree.

The evidence is EXPLAIN of `SELECT count(*)` on the table: as the policy's role (SET LOCAL
ROLE in a READ ONLY transaction that is rolled back: nothing stays on a pooled connection),
and, with the policies off, the expression as it is and rewritten: the first shows the
per-row filter, the second the InitPlan.
"""

from __future__ import annotations

from typing import Any

import psycopg
from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream
from psycopg import sql

from perfkit.db.connect import READ_LOCK_TIMEOUT_MS, sql_text
from perfkit.db.lint.indexes import qualified, table_label
from perfkit.db.lint.inventory import Inventory, Policy
from perfkit.db.lint.model import Finding
from perfkit.db.vocabulary import quote_ident

#: One plain EXPLAIN takes milliseconds; a catalog lock held elsewhere should not hold us.
EXPLAIN_TIMEOUT_MS = 10_000
ACTIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
_VOLATILITY_SQL = """
SELECT /* perfkit */ string_agg(DISTINCT p.provolatile::text, '')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = %(name)s AND CASE WHEN %(schema)s::text IS NULL
      THEN pg_function_is_visible(p.oid) ELSE n.nspname = %(schema)s END
"""


class _Functions:
    """Which function names resolve to a STABLE or VOLATILE function (cached)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._seen: dict[tuple[str | None, str], str] = {}
        self.volatile: set[str] = set()  # texts of hoisted calls that are VOLATILE

    def per_call(self, node: ast.FuncCall) -> bool:
        parts = [str(p.sval) for p in node.funcname or () if isinstance(p, ast.String)]
        if not parts or node.agg_star or node.over is not None:
            return False
        key = (parts[-2] if len(parts) > 1 else None, parts[-1])
        if key not in self._seen:
            row = self.conn.execute(_VOLATILITY_SQL,
                                    {"schema": key[0], "name": key[1]}).fetchone()
            self._seen[key] = str(row[0] or "") if row else ""
        if "v" in self._seen[key]:
            self.volatile.add(str(RawStream()(node)))
        return "s" in self._seen[key] or "v" in self._seen[key]


def _children(node: Any) -> list[Any]:
    if isinstance(node, tuple | list):
        return list(node)
    if isinstance(node, ast.Node):
        return [getattr(node, name, None) for name in getattr(type(node), "__slots__", ())]
    return []


def _reads_columns(node: Any) -> bool:
    if isinstance(node, ast.ColumnRef):
        return True
    return any(_reads_columns(c) for c in _children(node)
               if isinstance(c, ast.Node | tuple | list))


def _scalar(call: ast.FuncCall) -> ast.SubLink:
    select = ast.SelectStmt(targetList=(ast.ResTarget(val=call),),
                            limitOption=enums.LimitOption.LIMIT_OPTION_DEFAULT,
                            op=enums.SetOperation.SETOP_NONE)
    return ast.SubLink(subLinkType=enums.SubLinkType.EXPR_SUBLINK, subselect=select)


def _hoist(node: Any, functions: _Functions, calls: list[str]) -> Any:
    """The tree with each hoistable per-row call wrapped in a scalar subquery; `calls`
    gets each one's text."""
    if isinstance(node, ast.SubLink):
        return node  # inside a subquery already: the planner decides how often it runs
    if isinstance(node, ast.FuncCall) and not _reads_columns(node.args) and (
            functions.per_call(node)):
        calls.append(str(RawStream()(node)))
        return _scalar(node)
    if isinstance(node, tuple):
        return tuple(_hoist(n, functions, calls) for n in node)
    if isinstance(node, ast.Node):
        for name in getattr(type(node), "__slots__", ()):
            value = getattr(node, name, None)
            if isinstance(value, ast.Node | tuple):
                setattr(node, name, _hoist(value, functions, calls))
    return node


def rewrite(expression: str, functions: _Functions) -> tuple[str, list[str]] | None:
    """(the expression with its per-row calls hoisted, those calls), None when it has none."""
    try:
        select: Any = parse_sql(f"SELECT {expression}")[0].stmt
        node = select.targetList[0].val
    except (ParseError, IndexError, AttributeError):
        return None
    calls: list[str] = []
    new = _hoist(node, functions, calls)
    return (str(RawStream()(new)), calls) if calls else None


def _plan_facts(plan_json: Any, table: str) -> dict[str, Any]:
    root = (plan_json[0] if isinstance(plan_json, list) else plan_json)["Plan"]
    initplans: list[str] = []
    filters: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Parent Relationship") == "InitPlan":
            initplans.append(str(node.get("Subplan Name", "InitPlan")))
        if node.get("Relation Name") == table and node.get("Filter"):
            filters.append(str(node["Filter"]))
        for child in node.get("Plans", []) or []:
            walk(child)

    walk(root)
    return {"filter": " AND ".join(filters) or None, "initplan": initplans,
            "total_cost": float(root.get("Total Cost", 0.0))}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain_count(conn: psycopg.Connection[Any], policy: Policy, *, where: str | None = None,
                  role: str | None = None) -> dict[str, Any]:
    """EXPLAIN SELECT count(*) of the policy's table, as `role` (policies on), or with the
    policies off and `where` inline; rolled back, READ ONLY, every setting LOCAL."""
    query = (f"EXPLAIN (FORMAT JSON) SELECT count(*) FROM "
             f"{qualified(policy.table.schema, policy.table.name)}"
             + (f" WHERE {where}" if where else ""))
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(sql_text(f"SET LOCAL lock_timeout = {READ_LOCK_TIMEOUT_MS}"))
            conn.execute(sql_text(f"SET LOCAL statement_timeout = {EXPLAIN_TIMEOUT_MS}"))
            if role is not None:
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            else:
                conn.execute("SET LOCAL row_security = off")
            row = conn.execute(sql_text(query)).fetchone()
    except psycopg.Error as exc:
        if conn.broken:
            raise
        return {"error": _first_line(exc)}
    assert row is not None
    return _plan_facts(row[0], policy.table.name)


def _role_to_assume(conn: psycopg.Connection[Any], policy: Policy) -> tuple[str | None, str]:
    """(a role of the policy this session may SET ROLE to, or None; why not)."""
    named = [r for r in policy.roles if r != "public"]
    if not named:
        return None, ("the policy is for PUBLIC: explain it as a role that does not own the "
                      "table (this one may bypass row level security)")
    for role in named:
        row = conn.execute("SELECT /* perfkit */ pg_has_role(current_user, %s, 'MEMBER')",
                           (role,)).fetchone()
        if row and row[0]:
            return role, ""
    return None, (f"the current role {conn.info.user} cannot assume "
                  f"{', '.join(named)} (not a member): the plan as that role is not shown")


def _evidence(conn: psycopg.Connection[Any], policy: Policy, calls: list[str],
              rewritten_using: str | None) -> dict[str, Any]:
    evidence: dict[str, Any] = {"calls": calls, "command": policy.command,
                                "roles": list(policy.roles), "using": policy.using,
                                "with_check": policy.with_check}
    if policy.using is None or rewritten_using is None:
        evidence["plans"] = None
        evidence["why"] = ("only WITH CHECK calls it: once per row written, no query plan "
                           "shows it")
        return evidence
    role, why = _role_to_assume(conn, policy)
    as_role = ({"role": role, **explain_count(conn, policy, role=role)} if role
               else {"role": None, "error": why})
    evidence["plans"] = {
        "as_role": as_role,
        "as_written": explain_count(conn, policy, where=f"({policy.using})"),
        "rewritten": explain_count(conn, policy, where=f"({rewritten_using})"),
    }
    return evidence


def _per_row_finding(conn: psycopg.Connection[Any], functions: _Functions,
                     policy: Policy) -> Finding | None:
    using = rewrite(policy.using, functions) if policy.using else None
    check = rewrite(policy.with_check, functions) if policy.with_check else None
    if using is None and check is None:
        return None
    calls = list(dict.fromkeys([*(using[1] if using else []), *(check[1] if check else [])]))
    clauses = (f" USING ({using[0]})" if using else "") + (
        f" WITH CHECK ({check[0]})" if check else "")
    fix = f"ALTER POLICY {qualified_policy(policy)}{clauses};"
    volatile = [c for c in calls if c in functions.volatile]
    if volatile:
        fix = (f"-- {', '.join(volatile)} is VOLATILE: once per statement instead of once "
               f"per row changes what it returns: check that it does not matter\n{fix}")
    evidence = _evidence(conn, policy, calls, using[0] if using else None)
    return Finding("rls_per_row_call", f"{table_label(policy.table)}.{policy.name}",
                   table_label(policy.table), evidence, fix, fix_kind="policies")


def qualified_policy(policy: Policy) -> str:
    return f"{quote_ident(policy.name)} ON " + qualified(
        policy.table.schema, policy.table.name)


def _overlaps(policies: list[Policy]) -> list[dict[str, Any]]:
    """(role, action, policies) wherever two or more permissive policies apply at once."""
    roles = sorted({r for p in policies for r in p.roles})
    found = []
    for role in roles:
        for action in ACTIONS:
            applying = [p.name for p in policies
                        if (role in p.roles or "public" in p.roles) and
                        p.command in (action, "ALL")]
            if role == "public":
                applying = [p.name for p in policies if "public" in p.roles
                            and p.command in (action, "ALL")]
            if len(applying) > 1:
                found.append({"role": role, "action": action, "policies": applying})
    return found


def _merge_fix(table_policies: list[Policy], overlaps: list[dict[str, Any]]) -> str:
    names = sorted({n for o in overlaps for n in o["policies"]})
    chosen = [p for p in table_policies if p.name in names]
    head = ("-- each query runs every permissive policy that applies and ORs them: merge them "
            "into one (or make all but one AS RESTRICTIVE if they must all hold)")
    same = {(p.command, p.roles) for p in chosen}
    if len(same) != 1 or any(p.using is None for p in chosen) or any(
            p.with_check is not None for p in chosen):
        return head
    command, roles = same.pop()
    using = " OR ".join(f"({p.using})" for p in chosen)
    target = qualified(chosen[0].table.schema, chosen[0].table.name)
    merged = quote_ident("_or_".join(names)[:63])
    to = ", ".join("PUBLIC" if r == "public" else quote_ident(r)
                   for r in roles)
    lines = [head, f"-- CREATE POLICY {merged} ON {target} AS PERMISSIVE FOR {command} "
                   f"TO {to} USING ({using});"]
    lines += [f"-- DROP POLICY {qualified_policy(p)};" for p in chosen]
    return "\n".join(lines)


def policy_findings(conn: psycopg.Connection[Any], inventory: Inventory) -> list[Finding]:
    functions = _Functions(conn)
    findings = [f for p in inventory.policies
                if (f := _per_row_finding(conn, functions, p)) is not None]
    for table in sorted({p.table for p in inventory.policies}):
        permissive = [p for p in inventory.policies if p.table == table and p.permissive]
        overlaps = _overlaps(permissive)
        if overlaps:
            findings.append(Finding("multiple_permissive_policies", table_label(table),
                                    table_label(table), {"overlaps": overlaps},
                                    _merge_fix(permissive, overlaps), fix_kind="policies"))
    return findings
