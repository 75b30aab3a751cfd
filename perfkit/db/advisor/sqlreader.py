"""Reading a statement's parse tree (pglast): which table each column belongs to, and what
each query block asks of each table (equalities, ranges, join keys, an ORDER BY under a
LIMIT) and of each parameter. candidates.py turns that into candidate indexes.

Every SELECT (a subquery, a CTE, a branch of a UNION) is a block of its own; a column of an
enclosing block is a value for the inner one, like a parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums

from perfkit.db.vocabulary import IndexColumn, Param, ParamRole, Resolver, TableInfo, TableName

_RANGE_OPERATORS = frozenset({"<", ">", "<=", ">="})


# --- scopes: which table a column belongs to ------------------------------------------


@dataclass
class _Scope:
    """The relations of one query block, by the name the block uses for them."""

    parent: _Scope | None = None
    relations: dict[str, TableInfo | None] = field(default_factory=dict)
    ctes: set[str] = field(default_factory=set)

    def is_cte(self, name: str) -> bool:
        return name in self.ctes or (self.parent is not None and self.parent.is_cte(name))


@dataclass(frozen=True)
class _Ref:
    table: TableInfo
    column: str
    outer: bool  # from an enclosing block: a value for this block


def _lookup(scope: _Scope | None, fields: list[str], outer: bool = False) -> _Ref | None:
    if scope is None:
        return None
    column = fields[-1]
    if len(fields) == 1:
        owners = [t for t in scope.relations.values() if t is not None and column in t.columns]
        if len(owners) == 1:
            return _Ref(owners[0], column, outer)
        if owners or any(t is None for t in scope.relations.values()):
            return None  # ambiguous, or maybe a column of a subquery
    else:
        qualifier = fields[-2]
        if qualifier in scope.relations:
            found = scope.relations[qualifier]
            return _Ref(found, column, outer) if found and column in found.columns else None
    return _lookup(scope.parent, fields, outer=True)


def _unwrap(node: Any) -> Any:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node


def _column(node: Any, scope: _Scope) -> _Ref | None:
    node = _unwrap(node)
    if not isinstance(node, ast.ColumnRef):
        return None
    parts = tuple(node.fields or ())
    fields = [str(f.sval) for f in parts if isinstance(f, ast.String)]
    if not fields or len(fields) != len(parts):
        return None  # t.*
    return _lookup(scope, fields)


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, (list, tuple)):
        yield from node
    elif isinstance(node, ast.Node):
        for name in getattr(type(node), "__slots__", ()):
            value = getattr(node, name, None)
            if isinstance(value, (ast.Node, list, tuple)):
                yield value


def _walk(node: Any, *, into_selects: bool = False) -> Iterator[Any]:
    """Every node under `node` (nested SELECTs are blocks of their own unless asked)."""
    for child in _children(node):
        if isinstance(child, ast.Node):
            yield child
            if isinstance(child, ast.SelectStmt) and not into_selects:
                continue
        yield from _walk(child, into_selects=into_selects)


def params_in(node: Any) -> set[int]:
    nodes = [node, *_walk(node, into_selects=True)]
    return {int(n.number) for n in nodes if isinstance(n, ast.ParamRef) and n.number}


# --- the collector: what every block asks of each table --------------------------------


@dataclass
class Wants:
    equality: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    orders: list[tuple[IndexColumn, ...]] = field(default_factory=list)

    def add(self, bucket: list[str], column: str) -> None:
        if column not in bucket:
            bucket.append(column)


@dataclass
class Collected:
    resolve: Resolver
    wants: dict[TableName, Wants] = field(default_factory=dict)
    infos: dict[TableName, TableInfo] = field(default_factory=dict)
    params: dict[int, Param] = field(default_factory=dict)
    in_conditions: set[int] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)

    def table_wants(self, info: TableInfo) -> Wants:
        self.infos[info.table] = info
        return self.wants.setdefault(info.table, Wants())

    def param(self, node: Any, role: ParamRole, ref: _Ref | None = None) -> None:
        node = _unwrap(node)
        if isinstance(node, ast.ParamRef) and node.number and node.number not in self.params:
            self.params[node.number] = Param(int(node.number), role,
                                             ref.table.table if ref else None,
                                             ref.column if ref else None)


def _and_terms(node: Any) -> list[Any]:
    if node is None:
        return []
    if isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.AND_EXPR:
        return [term for arg in node.args or () for term in _and_terms(arg)]
    return [node]


def _local_columns(node: Any, scope: _Scope) -> bool:
    """True when an expression reads a column of this block, or one it cannot place (so it
    is not a plain value)."""
    return any(isinstance(n, ast.ColumnRef) and ((ref := _column(n, scope)) is None
                                                 or not ref.outer)
               for n in [node, *_walk(node)])


#: Comparisons of a column with a list or an array: the bucket of wants and the role of $n.
_LIST_COMPARISONS = {
    enums.A_Expr_Kind.AEXPR_IN: ("equality", ParamRole.EQUALITY),
    enums.A_Expr_Kind.AEXPR_OP_ANY: ("equality", ParamRole.ANY),
    enums.A_Expr_Kind.AEXPR_BETWEEN: ("ranges", ParamRole.RANGE),
}


def _comparison(term: Any, scope: _Scope, out: Collected) -> None:
    operator = term.name[-1].sval if term.name else ""
    kind = term.kind
    if kind == enums.A_Expr_Kind.AEXPR_OP and (operator == "=" or operator in _RANGE_OPERATORS):
        _binary(term.lexpr, term.rexpr, operator, scope, out)
        return
    if kind not in _LIST_COMPARISONS or (
            kind != enums.A_Expr_Kind.AEXPR_BETWEEN and operator != "="):
        return  # NOT IN, <> ANY, LIKE...: nothing a btree seeks on
    ref = _column(term.lexpr, scope)
    if ref is None or ref.outer:
        return
    bucket, role = _LIST_COMPARISONS[kind]
    wants = out.table_wants(ref.table)
    wants.add(getattr(wants, bucket), ref.column)
    values = term.rexpr if isinstance(term.rexpr, (list, tuple)) else [term.rexpr]
    for value in values:
        out.param(value, role, ref)


def _binary(left: Any, right: Any, operator: str, scope: _Scope, out: Collected) -> None:
    refs = (_column(left, scope), _column(right, scope))
    local = [r for r in refs if r is not None and not r.outer]
    unknown = [side for side, ref in zip((left, right), refs, strict=True)
               if ref is None and isinstance(_unwrap(side), ast.ColumnRef)]
    if operator == "=" and (len(local) == 2 or (local and unknown)):
        for key in local:  # a join key (with a subquery's or a CTE's column, perhaps)
            out.table_wants(key.table).add(out.table_wants(key.table).joins, key.column)
        return
    for ref, value in ((refs[0], right), (refs[1], left)):
        if ref is None or ref.outer or _local_columns(value, scope):
            continue
        wants = out.table_wants(ref.table)
        role = ParamRole.EQUALITY if operator == "=" else ParamRole.RANGE
        wants.add(wants.equality if operator == "=" else wants.ranges, ref.column)
        out.param(value, role, ref)
        return


def _condition(term: Any, scope: _Scope, out: Collected) -> None:
    out.in_conditions.update(params_in(term))
    if isinstance(term, ast.A_Expr):
        _comparison(term, scope, out)
    elif isinstance(term, ast.SubLink) and term.subLinkType == enums.SubLinkType.ANY_SUBLINK:
        ref = _column(term.testexpr, scope) if term.testexpr is not None else None
        if ref is not None and not ref.outer:
            out.table_wants(ref.table).add(out.table_wants(ref.table).joins, ref.column)
    for node in [term, *_walk(term)]:
        if isinstance(node, ast.SubLink) and isinstance(node.subselect, ast.SelectStmt):
            _select(node.subselect, scope, out)


# --- FROM items and query blocks --------------------------------------------------------


def _relation(item: Any, scope: _Scope, out: Collected, quals: list[Any]) -> None:
    if isinstance(item, ast.RangeVar):
        relname = str(item.relname)
        alias = str(item.alias.aliasname) if item.alias else relname
        if item.schemaname is None and scope.is_cte(relname):
            scope.relations[alias] = None
            return
        info = out.resolve(item.schemaname, relname)
        if info is None:
            out.missing.append(f"{item.schemaname}.{relname}" if item.schemaname else relname)
        else:
            out.infos[info.table] = info
        scope.relations[alias] = info
    elif isinstance(item, ast.JoinExpr):
        _relation(item.larg, scope, out, quals)
        _relation(item.rarg, scope, out, quals)
        quals.extend(_and_terms(item.quals))
    elif isinstance(item, ast.RangeSubselect):
        if isinstance(item.subquery, ast.SelectStmt):
            _select(item.subquery, scope if item.lateral else scope.parent, out)
        if item.alias:
            scope.relations[str(item.alias.aliasname)] = None
    elif isinstance(item, ast.RangeFunction) and item.alias:
        scope.relations[str(item.alias.aliasname)] = None


def _with(clause: Any, scope: _Scope, out: Collected) -> None:
    if clause is None:
        return
    for cte in clause.ctes or ():
        scope.ctes.add(cte.ctename)
        _statement(cte.ctequery, scope, out)


def _order(node: Any, scope: _Scope, out: Collected) -> None:
    """ORDER BY columns of one table, when a LIMIT makes the order worth an index."""
    limit = node.limitCount
    if limit is None or (isinstance(limit, ast.A_Const) and limit.isnull):
        return
    out.param(limit, ParamRole.LIMIT)
    if node.limitOffset is not None:
        out.param(node.limitOffset, ParamRole.OFFSET)
    columns: list[IndexColumn] = []
    owner: TableInfo | None = None
    for sort in node.sortClause or ():
        ref = _column(sort.node, scope)
        descending = sort.sortby_dir == enums.SortByDir.SORTBY_DESC
        nulls = sort.sortby_nulls
        default_nulls = (enums.SortByNulls.SORTBY_NULLS_DEFAULT,
                         enums.SortByNulls.SORTBY_NULLS_FIRST if descending
                         else enums.SortByNulls.SORTBY_NULLS_LAST)
        if (ref is None or ref.outer or (owner is not None and ref.table != owner)
                or sort.sortby_dir == enums.SortByDir.SORTBY_USING or nulls not in default_nulls):
            return
        owner = ref.table
        columns.append(IndexColumn(ref.column, descending))
    if owner is not None:
        out.table_wants(owner).orders.append(tuple(columns))


def _select(node: Any, parent: _Scope | None, out: Collected) -> None:
    if node.op != enums.SetOperation.SETOP_NONE:
        outer = _Scope(parent=parent)
        _with(node.withClause, outer, out)
        for branch in (node.larg, node.rarg):
            if branch is not None:
                _select(branch, outer, out)
        return
    scope = _Scope(parent=parent)
    _with(node.withClause, scope, out)
    _block(scope, out, node.fromClause or (), node.whereClause, node.havingClause)
    for target in node.targetList or ():
        for sub in _walk(target):
            if isinstance(sub, ast.SubLink) and isinstance(sub.subselect, ast.SelectStmt):
                _select(sub.subselect, scope, out)
    _order(node, scope, out)


def _block(scope: _Scope, out: Collected, from_items: Any, where: Any,
           having: Any = None) -> None:
    quals: list[Any] = []
    for item in from_items:
        _relation(item, scope, out, quals)
    for term in [*quals, *_and_terms(where), *_and_terms(having)]:
        _condition(term, scope, out)


def _statement(node: Any, parent: _Scope | None, out: Collected) -> None:
    if isinstance(node, ast.SelectStmt):
        _select(node, parent, out)
    elif isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
        scope = _Scope(parent=parent)
        _with(node.withClause, scope, out)
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        _block(scope, out, [node.relation, *(extra or ())], node.whereClause)
    elif isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt):
        _select(node.selectStmt, parent, out)


def collect(node: Any, resolve: Resolver) -> Collected:
    """What a statement (a parse tree's top node) asks of its tables and parameters."""
    out = Collected(resolve)
    _statement(node, None, out)
    return out
