"""The one place that formats: finished records -> Documents (tables and text), drawn by the
terminal (cli/console.py) or as Markdown (render/markdown.py). No statistics, no terminal.

One module per record: run.py, compare.py, gate.py (and junit.py, a format of its own).
"""

from __future__ import annotations

from perfkit.render.model import Column, Document, Kind, Table, Text

__all__ = ["Column", "Document", "Kind", "Table", "Text"]
