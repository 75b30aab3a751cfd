"""The files `perfkit init` writes from its plan (plan.py): a runnable, commented scenario and
a perfkit.yaml with the target set and every other section as a commented example."""

from __future__ import annotations

import json
from pathlib import Path

from perfkit.atomic import write_output
from perfkit.bench.scenario import route_name
from perfkit.errors import UsageError
from perfkit.init.plan import InitPlan, PlannedStep, StepState

CONFIG_FILE = "perfkit.yaml"
TOKENS_HINT = ("# {token} is PERFKIT_TOKEN, or one token per virtual user: --tokens-file",
               "# tokens.txt --users 20 (one token a line; or PERFKIT_TOKENS_FILE).")
LOGIN_HINT = ("# Each virtual user logs in first (OAuth2 password flow, a form body) and its",
              "# {token} is the answer's access_token: --users-file users.csv, one",
              "# email,password a line ({email} is the form's username). Supabase Auth:",
              "#   path: /auth/v1/token?grant_type=password",
              '#   headers: {apikey: "${SUPABASE_ANON_KEY}"}',
              '#   json: {email: "{email}", password: "{password}"}  # instead of form')


def login_lines(path: str) -> list[str]:
    """The scenario's login step at the OAuth2 password flow's tokenUrl."""
    return [*LOGIN_HINT, "login:", f"  path: {_q(path)}",
            '  form: {username: "{email}", password: "{password}", grant_type: password}',
            '  extract: {token: "$.access_token"}']


def key_header_example(plan: InitPlan) -> str:
    """`-H 'Authorization: Token {token}'`: how the user gives an API key's form (the one
    the document shows, else the common `Token ` prefix as an example)."""
    header = plan.auth.key_header or "Authorization"
    return f"-H '{header}: {plan.auth.key_form or 'Token {token}'}'"


def key_lines(plan: InitPlan) -> list[str]:
    """An API key in a header: its form is the user's to give, said where it is written."""
    if plan.auth.key_header is None:
        return []
    return [f"# {plan.auth.key_header} takes the key in the form your app wants: {{token}} is",
            "# the key as given (PERFKIT_TOKEN, --tokens-file); change the header below, or",
            "# give it at the command line, e.g. for an app that wants `Token <key>`:",
            f"#   perfkit bench {plan.name} {key_header_example(plan)}"]


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def _step_lines(step: PlannedStep, prefix: str = "") -> list[str]:
    op = step.operation
    lines = [f"{prefix}  - path: {_q(step.path)}"]
    if op.method != "GET":
        lines.append(f"{prefix}    method: {op.method}")
    if route_name(op.method, step.path) != op.route:  # as the server names it
        lines.append(f"{prefix}    route: {_q(op.route)}")
    if step.extract:
        inner = ", ".join(f"{var}: {_q(expr)}" for var, expr in step.extract.items())
        lines.append(f"{prefix}    extract: {{{inner}}}")
    if op.method != "GET" and op.has_body:
        lines.append(f"{prefix}    json: {{}}  # the request body")
    return lines


def scenario_text(plan: InitPlan) -> str:
    """The scenario: commented, runnable as written by `perfkit bench NAME`."""
    lines = [f"# {plan.title}: its GET routes as one virtual user's session.",
             f"# Written by `perfkit init` from {plan.source}.",
             f"#   perfkit bench {plan.name}"
             + (" --users-file users.csv" if plan.auth.login_path else "") + " --duration 30s",
             "# A route whose path needs an id reads it from a list route before it (extract:",
             "# $[*] is a random element, $[0] the first where a later list route needs it).",
             "# Writes, and routes perfkit found no value for, are commented out at the end.",
             *([f"# Left out (instrumentation, not the app's traffic): "
                f"{', '.join(plan.left_out)}."] if plan.left_out else []),
             f"name: {plan.name}", f"description: {_q('GET routes of ' + plan.title)}"]
    if plan.auth.login_path:
        lines += [f"# credentials: {plan.auth.described}.", *login_lines(plan.auth.login_path)]
    elif plan.auth.described:
        lines += [f"# credentials: {plan.auth.described}.", *TOKENS_HINT, *key_lines(plan)]
    lines.append("headers:" if plan.auth.headers else "headers: {}  # the API declares no "
                 "credentials")
    lines += [f"  {_q(k)}: {_q(v)}" for k, v in plan.auth.headers.items()]
    lines.append("steps:")
    for step in (s for s in plan.steps if s.state is StepState.RUNS):
        lines += ([f"  # {step.why}"] if step.why else []) + _step_lines(step)
    commented = [s for s in plan.steps if s.state is StepState.COMMENTED]
    if commented:
        lines.append("# Not run as written (uncomment and fill in to include them):")
    for step in commented:
        lines += [f"#   # {step.why}", *_step_lines(step, "#")]
    return "\n".join(lines) + "\n"


def config_text(plan: InitPlan, scenario_file: str) -> str:
    """perfkit.yaml: the target, and every other section as a commented example."""
    base = f"base_url: {_q(plan.base_url)}" if plan.base_url else (
        '# base_url: "http://127.0.0.1:8000"')
    first = next((s.operation.path for s in plan.steps if s.state is StepState.RUNS), "/")
    return "\n".join([
        f"# perfkit.yaml, written by `perfkit init` from {plan.source}.",
        "# Settings: flags > environment > this file > the demo stack (`perfkit demo up`).",
        f"# Scenario: {scenario_file} (`perfkit bench {plan.name}`).", "",
        f"{base}  # the backend (PERFKIT_BASE_URL)",
        "# tokens_file: tokens.txt  # one token a line, one virtual user each",
        "#                          # (PERFKIT_TOKENS_FILE; one token: PERFKIT_TOKEN)",
        '# dsn: "postgresql://app@127.0.0.1:5432/app"  # DATABASE_URL: apply-indexes,',
        "#                          # advise-indexes, doctor (password: PGPASSWORD or ~/.pgpass)",
        '# prometheus_url: "http://127.0.0.1:9090"  # PROMETHEUS_URL: report, doctor',
        "# backend_log: /var/log/app/backend.log  # cache-stats, doctor", "",
        "# doctor's checklist, beyond its generic boxes (routes as the server's metrics "
        "name them):", "# checks:", f"#   - route: {_q(first)}", '#     mean: "< 200ms"',
        '#   - route: "*"', "#     not_slower: true", "",
        "# `perfkit gate run.json`: thresholds per route of a bench run", "# thresholds:",
        f'#   {_q("GET " + first)}: {{p99: "< 200ms", error_ratio: "< 1%"}}', "",
        "# cache lines in the backend log (cache-stats, doctor): a regex with the groups "
        "result and key", "# cache:", "#   preset: app", "#   presets:",
        "#     app: {pattern: 'cache (?P<result>hit|miss) key=(?P<key>\\S+)'}", "",
        "# `perfkit lint`: a finding suppressed per object, with its reason", "# lint:",
        "#   ignore:", "#     - {rule: unused_index, index: idx_orders_legacy, "
        'reason: "read by the yearly report"}', ""])


def write_project(plan: InitPlan, folder: Path, *, force: bool = False) -> list[Path]:
    """perfkit.yaml and scenarios/NAME.yaml in `folder`; neither is written when either
    exists, unless `force`."""
    scenario = folder / "scenarios" / f"{plan.name}.yaml"
    config = folder / CONFIG_FILE
    existing = [p for p in (config, scenario) if p.exists()]
    if existing and not force:
        other = "" if existing[0] == config else ", or --name writes another scenario"
        raise UsageError(f"{existing[0]} already exists: nothing written",
                         hint=f"--force overwrites it{other}")
    relative = f"scenarios/{plan.name}.yaml"
    write_output(scenario, scenario_text(plan), "the scenario")
    write_output(config, config_text(plan, relative), "the configuration")
    return [config, scenario]
