"""Benchmarks of HTTP routes, by role.

- Input: scenario.py (+ yamlsource.py) the steps, options.py what a run is asked,
  tokens.py / credentials.py who the virtual users are.
- The engine, one segment in one process: engine.py (the loops), transport.py (h1.py, our
  HTTP/1.1 client on httptools, or aiohttp), users.py (one request),
  pacer.py (pure schedules), login.py, tally.py (the hot path's counts), evidence.py
  (outages, replies to failures).
- The scheduler, a whole run: scheduler.py (repeats), workers.py and segments.py (processes
  and machines), findmax.py (the capacity search's steps), attribution.py (SQL per route).
- The record: record.py (the Run, `perfkit.run/2`), provenance.py (its settings, generator
  and host), hdr.py, series.py, phase.py.
- Verdicts, pure: cache.py, compare.py, capacity.py, saturation.py, routesql.py, nplusone.py.
"""

from __future__ import annotations
