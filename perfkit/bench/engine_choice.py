"""Which transport a run uses (`--engine auto|h1|aiohttp`), and why: h1 unless the run needs
what only aiohttp does."""

from __future__ import annotations

from yarl import URL

from perfkit.bench.aiohttp_transport import AiohttpTransport
from perfkit.bench.h1 import H1Transport
from perfkit.bench.options import BenchOptions, Engine
from perfkit.bench.transport import Transport

DEFAULT_ENGINE = Engine.H1  # what auto takes when the run needs nothing of aiohttp's


def choose_engine(options: BenchOptions) -> tuple[Engine, str]:
    """The engine a run uses, and why when it is not the asked one. h1 does HTTP/1.1 to an
    http(s) base URL and nothing else: a base URL carrying user:password (basic auth, which
    aiohttp sends) falls back to aiohttp."""
    if options.engine is not Engine.AUTO:
        return options.engine, "asked with --engine"
    if "@" in URL(options.base_url).raw_authority:
        return Engine.AIOHTTP, "the base URL carries credentials (basic auth)"
    return DEFAULT_ENGINE, "the default"


def fallback_note(options: BenchOptions) -> str | None:
    """The run's note when `auto` took aiohttp: its figures carry a heavier client."""
    engine, reason = choose_engine(options)
    if options.engine is not Engine.AUTO or engine is DEFAULT_ENGINE:
        return None
    return (f"engine {engine.value}, not {DEFAULT_ENGINE.value}: {reason}; aiohttp uses ~3x "
            f"the client CPU a request, so a busy client core weighs more in the latencies")


def open_transport(options: BenchOptions, connections: int) -> Transport:
    """The transport of one run (call it on the run's event loop)."""
    engine, _ = choose_engine(options)
    if engine is Engine.H1:
        return H1Transport(connections=connections, timeout_s=options.timeout_s)
    return AiohttpTransport(connections=connections, timeout_s=options.timeout_s)
