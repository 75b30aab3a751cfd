"""The JSON Schemas of docs/schemas/ describe the records perfkit really writes: each one is
checked against a record made here by the command that writes it, on the demo stack."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import DemoStack

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
KINDS = {"run": "perfkit.run/2", "compare": "perfkit.compare/1", "report": "perfkit.report/1",
         "gate": "perfkit.gate/1", "advice": "perfkit.advice/1", "indexes": "perfkit.indexes/1",
         "cache-stats": "perfkit.cache-stats/1", "demo": "perfkit.demo/1",
         "lint": "perfkit.lint/1"}


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


def problems(name: str, record: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema(name))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record)]


def test_each_record_kind_has_a_valid_schema_named_for_it() -> None:
    names = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert names >= set(KINDS)
    for name, kind in KINDS.items():
        jsonschema.Draft202012Validator.check_schema(schema(name))
        assert schema(name)["properties"]["schema"] == {"const": kind}
        assert schema(name)["$id"].endswith(f"/{name}.schema.json")


@pytest.fixture(scope="module")
def records(demo_stack: DemoStack, tmp_path_factory: pytest.TempPathFactory,
            ) -> dict[str, Any]:
    """One real record of each kind, written by its command on the demo stack."""
    folder = tmp_path_factory.mktemp("records")
    perfkit = str(Path(sys.executable).parent / "perfkit")

    def run(*args: str, codes: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run([perfkit, *args], cwd=folder, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode in codes, (args, done.returncode, done.stderr)
        return done.stdout

    def json_of(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
        return json.loads(run(*args, "--format", "json", codes=codes))

    found: dict[str, Any] = {"demo": json_of("demo", "status")}
    run("mark", "schemas: traffic from here")
    time.sleep(1.0)  # a scrape between the mark and the traffic
    for out in ("before.json", "after.json"):
        run("bench", "/auth/me", "--rate", "40", "--duration", "2s", "--out", out)
    found["run"] = json.loads((folder / "after.json").read_text())
    time.sleep(2.5)  # the last scrape lands
    found["compare"] = json_of("compare", "before.json", "after.json")
    found["gate"] = json_of("gate", "after.json", "--baseline", "before.json", codes=(0, 1))
    found["report"] = json_of("report", "--since", "20s")
    found["indexes"] = json_of("verify-indexes", codes=(0, 1))
    found["advice"] = json_of("advise-indexes")
    found["cache-stats"] = json_of("cache-stats")
    found["lint"] = json_of("lint", "--min-age", "0s", codes=(0, 1))
    return found


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_real_record_validates_against_its_schema(name: str, records: dict[str, Any]) -> None:
    record = records[name]
    assert record["schema"] == KINDS[name]
    assert problems(name, record) == []


def test_the_schemas_are_not_vacuous(records: dict[str, Any]) -> None:
    """A record missing a stable key, or a URL with a password, does not pass."""
    run = copy.deepcopy(records["run"])
    del run["routes"][0]["latency_ms"]["p99"]
    assert problems("run", run) == ["['routes', 0, 'latency_ms']: 'p99' is a required property"]
    run = copy.deepcopy(records["run"])
    run["base_url"] = "http://user:secret@127.0.0.1:8000"
    assert len(problems("run", run)) == 1
    gate = copy.deepcopy(records["gate"])
    gate["checks"][0]["status"] = "maybe"
    assert len(problems("gate", gate)) == 1

