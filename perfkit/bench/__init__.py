"""Benchmarks of HTTP routes: scenarios, pacing, the engine (h1 or aiohttp) and the Run record."""

from __future__ import annotations
