"""Index migration files -> classified statements with file:line, parsed by pglast.

Only index DDL, ANALYZE and COMMENT are accepted: an index file that also creates a
table or deletes rows is refused as a whole, before anything runs. `-- perfkit:query`
and `-- perfkit:params` comments attach to the next CREATE INDEX (the query it serves).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError, scan
from pglast.stream import RawStream

from perfkit.errors import UsageError
from perfkit.resources import shipped_path

_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_DIRECTIVE = "perfkit:"


class StatementKind(StrEnum):
    CREATE_INDEX = "create-index"
    DROP_INDEX = "drop-index"
    ANALYZE = "analyze"
    COMMENT = "comment"


@dataclass(frozen=True)
class Source:
    """Where a statement was written, for messages a user can jump to."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class DeclaredQuery:
    """The query an index serves, with parameter values that exist in the data."""

    sql: str
    params: tuple[str, ...]
    source: Source


@dataclass
class IndexStatement:
    """One accepted statement. `node` is the pglast tree; `sql()` is what perfkit runs."""

    kind: StatementKind
    source: Source
    text: str
    node: Any
    index_name: str | None = None
    schema: str | None = None
    table: str | None = None
    tables: tuple[tuple[str | None, str], ...] = ()
    query: DeclaredQuery | None = None
    written_concurrently: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rewritten(self) -> bool:
        """True when perfkit adds CONCURRENTLY the file did not ask for."""
        return self.kind in (StatementKind.CREATE_INDEX, StatementKind.DROP_INDEX) and (
            not self.written_concurrently)

    def sql(self, *, index_name: str | None = None) -> str:
        """The statement as perfkit runs it: CONCURRENTLY, no IF NOT EXISTS (state is checked)."""
        node = copy.deepcopy(self.node)
        if self.kind is StatementKind.CREATE_INDEX:
            node.concurrent = True
            node.if_not_exists = False
            if index_name is not None:
                node.idxname = index_name
        elif self.kind is StatementKind.DROP_INDEX:
            node.concurrent = True
            node.missing_ok = True
        return str(RawStream()(node))


SHIPPED_INDEXES = shipped_path("indexes")  # the runbook's migration, shipped with perfkit


def default_index_paths() -> list[Path]:
    """./indexes when there is one, else the runbook's indexes shipped with perfkit (as
    scenario names fall back to the shipped scenarios)."""
    local = Path("indexes")
    return [local] if local.exists() or not SHIPPED_INDEXES.exists() else [SHIPPED_INDEXES]


def statement_files(paths: list[Path]) -> list[Path]:
    """Files named, and *.sql files of folders named, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.sql") if p.is_file())
            if not found:
                raise UsageError(f"{path}: no .sql files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder",
                             hint="pass index migration files or folders (default: indexes/)")
    return files


def load_statements(paths: list[Path]) -> list[IndexStatement]:
    """Parse every file; raise UsageError at the first refused or unparsable statement."""
    statements: list[IndexStatement] = []
    for path in statement_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read: {exc}") from None
        statements.extend(parse_text(text, path))
    _check_duplicates(statements)
    return statements


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(0, offset)) + 1


def parse_text(text: str, path: Path) -> list[IndexStatement]:
    """Statements of one file, each with its line and the annotations written above it."""
    try:
        raw = parse_sql(text)
        tokens = list(scan(text))
    except ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        raise UsageError(f"{path}:{_line_of(text, offset)}: {exc.args[0]}",
                         hint="fix the SQL syntax; nothing was applied") from None
    comments = [(t.start, text[t.start:t.end + 1]) for t in tokens if t.name == "SQL_COMMENT"]
    pending: list[tuple[int, str]] = []
    result: list[IndexStatement] = []
    ci = 0
    for raw_stmt in raw:
        start = raw_stmt.stmt_location or 0
        # the first real token: some parser versions include leading comments in the location
        first = next((t.start for t in tokens
                      if t.start >= start and t.name not in _COMMENT_TOKENS), start)
        while ci < len(comments) and comments[ci][0] < first:
            body = comments[ci][1][2:].strip()
            if body.startswith(_DIRECTIVE):
                pending.append((comments[ci][0], body))
            ci += 1
        length = raw_stmt.stmt_len or (len(text) - start)
        source = Source(path, _line_of(text, first))
        stmt = _classify(raw_stmt.stmt, source, text[first:start + length].strip())
        for one in stmt:
            if one.kind is StatementKind.CREATE_INDEX and pending:
                one.query = _declared_query(pending, path, text)
                pending = []
        result.extend(stmt)
    for pos, body in comments[ci:]:
        if body.startswith(_DIRECTIVE):
            pending.append((pos, body))
    if pending:
        where = f"{path}:{_line_of(text, pending[0][0])}"
        raise UsageError(f"{where}: `-- {pending[0][1].split()[0]}` is not followed by a "
                         "CREATE INDEX", hint="put the annotation right above its index")
    return result


def _declared_query(directives: list[tuple[int, str]], path: Path, text: str) -> DeclaredQuery:
    query_parts: list[str] = []
    params_parts: list[str] = []
    for pos, body in directives:
        word, _, rest = body.partition(" ")
        at = f"{path}:{_line_of(text, pos)}"
        if word == "perfkit:query":
            query_parts.append(rest.strip())
        elif word == "perfkit:params":
            params_parts.append(rest.strip())
        else:
            raise UsageError(f"{at}: unknown annotation `{word}`",
                             hint="use -- perfkit:query and -- perfkit:params")
    where = Source(path, _line_of(text, directives[0][0]))
    if not query_parts:
        raise UsageError(f"{where}: -- perfkit:params without a -- perfkit:query")
    query = " ".join(query_parts)
    try:
        parsed = parse_sql(query)
    except ParseError as exc:
        raise UsageError(f"{where}: perfkit:query does not parse: {exc.args[0]}") from None
    if len(parsed) != 1:
        raise UsageError(f"{where}: perfkit:query must be exactly one statement")
    wanted = max((int(query[t.start + 1:t.end + 1]) for t in scan(query) if t.name == "PARAM"),
                 default=0)
    params: tuple[str, ...] = ()
    joined = ", ".join(p for p in params_parts if p)
    if joined:
        try:
            select: Any = parse_sql(f"SELECT {joined}")[0].stmt
        except ParseError as exc:
            raise UsageError(f"{where}: perfkit:params do not parse: {exc.args[0]}") from None
        params = tuple(str(RawStream()(target.val)) for target in select.targetList)
    if len(params) != wanted:
        raise UsageError(f"{where}: perfkit:query uses {wanted} parameter(s) ($1..) but "
                         f"perfkit:params gives {len(params)}",
                         hint="e.g. -- perfkit:params md5('conv-1')::uuid, 42")
    return DeclaredQuery(sql=query, params=params, source=where)


def _relation(node: Any) -> tuple[str | None, str]:
    return (node.schemaname, node.relname)


def _classify(node: Any, source: Source, text: str) -> list[IndexStatement]:
    if isinstance(node, ast.IndexStmt):
        if not node.idxname:
            raise UsageError(f"{source}: CREATE INDEX without a name",
                             hint="name the index so that perfkit can find and verify it")
        schema, table = _relation(node.relation)
        return [IndexStatement(StatementKind.CREATE_INDEX, source, text, node,
                               index_name=node.idxname, schema=schema, table=table,
                               written_concurrently=bool(node.concurrent))]
    if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX:
        if node.behavior == enums.DropBehavior.DROP_CASCADE:
            raise UsageError(f"{source}: DROP INDEX ... CASCADE cannot run CONCURRENTLY",
                             hint="drop what depends on the index in a regular migration")
        result = []
        for names in node.objects or ():
            parts = [n.sval for n in names]
            one = copy.deepcopy(node)
            one.objects = (names,)
            result.append(IndexStatement(
                StatementKind.DROP_INDEX, source, text, one, index_name=parts[-1],
                schema=parts[-2] if len(parts) > 1 else None,
                written_concurrently=bool(node.concurrent)))
        return result
    if isinstance(node, ast.VacuumStmt) and not node.is_vacuumcmd:
        tables = tuple(_relation(rel.relation) for rel in node.rels or ())
        return [IndexStatement(StatementKind.ANALYZE, source, text, node, tables=tables)]
    if isinstance(node, ast.CommentStmt):
        return [IndexStatement(StatementKind.COMMENT, source, text, node)]
    first_line = text.splitlines()[0] if text else type(node).__name__
    raise UsageError(
        f"{source}: only CREATE INDEX, DROP INDEX, ANALYZE and COMMENT are accepted in index "
        f"files, not `{first_line[:60]}`",
        hint="nothing was applied; move other DDL to a regular migration")


def _check_duplicates(statements: list[IndexStatement]) -> None:
    """The same index created twice with no DROP between is a mistake in the files."""
    seen: dict[tuple[str | None, str], IndexStatement] = {}
    for stmt in statements:
        if stmt.index_name is None:
            continue
        key = (stmt.schema, stmt.index_name)
        if stmt.kind is StatementKind.DROP_INDEX:
            seen.pop(key, None)
        elif key in seen:
            raise UsageError(f"{stmt.source}: index {stmt.index_name} is already created at "
                             f"{seen[key].source}")
        else:
            seen[key] = stmt


def require_index_statements(paths: list[Path], statements: list[IndexStatement], *,
                             kinds: tuple[StatementKind, ...], hint: str) -> None:
    """UsageError when the files hold none of `kinds`: an empty check must not read as a pass."""
    if any(stmt.kind in kinds for stmt in statements):
        return
    files = [str(f) for f in statement_files(paths)] or [str(p) for p in paths]
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    found = sorted({stmt.kind.value for stmt in statements})
    held = f" (only {', '.join(found)})" if found else ""
    raise UsageError(f"no index statements in {shown}{held}", hint=hint)


def expected_indexes(statements: list[IndexStatement]) -> list[IndexStatement]:
    """CREATE INDEX statements still wanted once every file has run (later DROPs win)."""
    wanted: dict[tuple[str | None, str], IndexStatement] = {}
    for stmt in statements:
        if stmt.index_name is None:
            continue
        if stmt.kind is StatementKind.CREATE_INDEX:
            wanted[(stmt.schema, stmt.index_name)] = stmt
        elif stmt.kind is StatementKind.DROP_INDEX:
            wanted = {k: v for k, v in wanted.items() if k[1] != stmt.index_name
                      or (stmt.schema is not None and k[0] not in (None, stmt.schema))}
    return list(wanted.values())
