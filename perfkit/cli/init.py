"""`perfkit init`: a commented perfkit.yaml and a scenario for your backend.

Imports of the core sit inside the commands (start-up: `perfkit init --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.config import Settings
    from perfkit.init.plan import InitPlan

OPENAPI_PATH = "/openapi.json"  # where FastAPI serves it by default


def init(
    openapi: Annotated[str | None, typer.Option(
        "--openapi", help="OpenAPI document: a URL (FastAPI: http://HOST/openapi.json) or a "
                          "JSON/YAML file. Default: BASE_URL/openapi.json when a backend is "
                          "configured.")] = None,
    name: Annotated[str | None, typer.Option(
        help="Scenario name (scenarios/NAME.yaml). Default: from the API's title.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite perfkit.yaml and the scenario if they exist.")] = False,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """Write a commented perfkit.yaml and a scenario for your backend, in this folder.

    From an OpenAPI document: one step per GET route; a route whose path needs an id reads it
    from a list route that returns those objects; writes (POST, PUT, PATCH, DELETE) and
    routes without a value to use are written commented out. Credentials become the bench's
    token. Nothing is overwritten without --force.

    Example: `perfkit init --openapi http://127.0.0.1:8000/openapi.json`, then
    `perfkit bench <name>`
    """
    from perfkit.init.scaffold import write_project
    from perfkit.render.init import init_document

    settings = console.settings()
    plan = _plan(openapi, name, settings)
    files = write_project(plan, Path(), force=force)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json({**plan.to_json(), "files": [str(f) for f in files]})
        return
    console.show(init_document(plan, files), console.fmt(output_format))


def _plan(openapi: str | None, name: str | None, settings: Settings) -> InitPlan:
    """The plan from the document named, else from the backend's /openapi.json, else a
    skeleton to start from."""
    from dataclasses import replace

    from perfkit.errors import PerfkitError
    from perfkit.init.openapi import load_spec
    from perfkit.init.plan import plan_init, skeleton_plan

    if openapi is not None:
        plan = plan_init(load_spec(openapi), openapi, name)
        return plan if plan.base_url else replace(plan, base_url=settings.base_url)
    if not settings.base_url:
        return skeleton_plan(None, name, "no API document (--openapi) and no backend "
                                         "configured: replace / with your routes")
    source = settings.base_url.rstrip("/") + OPENAPI_PATH
    try:
        return plan_init(load_spec(source), source, name)
    except PerfkitError as exc:
        console.warning(f"no OpenAPI document: {exc}; writing a first step to start from")
        return skeleton_plan(settings.base_url, name, "replace / with your routes")
