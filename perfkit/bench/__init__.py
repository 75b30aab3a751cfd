"""Benchmarks of HTTP routes: scenarios, pacing, the aiohttp runner and the Run record."""

from __future__ import annotations
