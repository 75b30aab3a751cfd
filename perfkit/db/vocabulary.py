"""The words the SQL reader and the candidate builder share: tables, their columns, index
columns and the roles of a statement's parameters. Below both, so neither imports the other
for them (perfkit/db/advisor/sqlreader.py reads the tree, perfkit/db/advisor/candidates.py
builds on it); the catalog and the linter speak them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS


@dataclass(frozen=True, order=True)
class TableName:
    schema: str
    name: str

    def __str__(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class TableInfo:
    """What the catalog says of a table a statement names."""

    table: TableName
    columns: frozenset[str]
    indexable: bool = True  # False for catalogs, views and foreign tables
    catalog: bool = False   # pg_catalog, information_schema: never advised on, quietly


#: (schema or None for the search_path, name) -> the table, or None when there is none
Resolver = Callable[[str | None, str], TableInfo | None]


@dataclass(frozen=True, order=True)
class IndexColumn:
    name: str
    descending: bool = False

    def sql(self) -> str:
        return quote_ident(self.name) + (" DESC" if self.descending else "")

    def __str__(self) -> str:
        return self.name + (" DESC" if self.descending else "")


class ParamRole(StrEnum):
    EQUALITY = "equality"      # col = $n, col IN ($n, ...): planned with the heaviest value
    ANY = "any"                # col = ANY($n): an array of the heaviest value
    RANGE = "range"            # col < $n, BETWEEN: a typical value of the column
    LIMIT = "limit"            # LIMIT $n: the statement's rows per call
    OFFSET = "offset"          # OFFSET $n: 0


@dataclass(frozen=True)
class Param:
    number: int
    role: ParamRole
    table: TableName | None = None
    column: str | None = None


def quote_ident(name: str) -> str:
    """An identifier quoted only when it must be (as PostgreSQL's quote_ident does)."""
    plain = (name[:1].isalpha() or name[:1] == "_") and name == name.lower() and all(
        ch.isalnum() or ch in "_$" for ch in name) and name.isascii()
    keyword = name in RESERVED_KEYWORDS or name in TYPE_FUNC_NAME_KEYWORDS or (
        name in COL_NAME_KEYWORDS)
    if plain and not keyword:
        return name
    return '"' + name.replace('"', '""') + '"'
