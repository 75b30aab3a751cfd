"""Fail when a function in perfkit/ is longer than MAX_LINES (issue 12: short functions).

Counts the body's lines, from its first statement after the docstring to its last line (a
Typer command's option declarations are its signature, not its body): a function that needs
more wants splitting. Usage: python scripts/function_length.py [PATH ...]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 50


def long_functions(path: Path, limit: int = MAX_LINES) -> list[tuple[int, str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(
                    body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body = body[1:]  # the docstring
            lines = node.end_lineno - body[0].lineno + 1
            if lines > limit:
                found.append((node.lineno, node.name, lines))
    return found


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parents[1] / "perfkit"]
    files = sorted(p for root in roots for p in ([root] if root.is_file() else
                                                 root.rglob("*.py")))
    offenders = [(f, *hit) for f in files for hit in long_functions(f)]
    for file, line, name, lines in offenders:
        print(f"{file}:{line}: {name} is {lines} lines (max {MAX_LINES}): split it")
    return 1 if offenders else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
