"""A thin wrapper over prometheus-api-client that keeps what the library drops.

PrometheusConnect returns only `data.result`: Prometheus's own `warnings` and `infos`
(a non-monotonic histogram, a metric that may not be a counter) are lost. perfkit reaches
the HTTP API through the connection's session instead, keeps them, counts the queries it
sends, and turns every failure into `Unreachable` naming the URL without credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from perfkit.errors import Unreachable
from perfkit.redact import redact_text, redact_url

DEFAULT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value (NaN kept as NaN)."""

    labels: dict[str, str]
    value: float


@dataclass
class QueryLog:
    """What was asked and what Prometheus said about it besides the data."""

    queries: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the answer may be incomplete
    infos: list[str] = field(default_factory=list)  # something to know about the query


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`https://user:pass@host/prom` -> (`https://host/prom`, (user, pass))."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (parts.username, parts.password or "")


def basic_auth_from(config: Mapping[str, Any],
                    environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Basic auth from PROMETHEUS_USERNAME/PASSWORD or perfkit.yaml's prometheus_username/…"""
    env = os.environ if environ is None else environ
    user = env.get("PROMETHEUS_USERNAME") or config.get("prometheus_username")
    password = env.get("PROMETHEUS_PASSWORD") or config.get("prometheus_password")
    if not user:
        return None
    return str(user), str(password or "")


class PromClient:
    """Instant queries, label values and targets over one PrometheusConnect session."""

    def __init__(self, url: str, *, token: str | None = None,
                 basic_auth: tuple[str, str] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        bare, from_url = split_credentials(url.rstrip("/"))
        self.url = bare
        self.display_url = redact_url(bare)
        self._secrets = [s for s in (token, *(basic_auth or from_url or ())) if s]
        self._timeout_s = timeout_s
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        # Retry only what a restarting Prometheus answers; a refused connection fails fast.
        retry = Retry(total=2, connect=0, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                      allowed_methods=None)
        self._conn = PrometheusConnect(url=bare, headers=headers, auth=basic_auth or from_url,
                                       retry=retry, session=session)
        self._session = session
        self.log = QueryLog()

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        import requests

        try:
            response = self._session.get(
                f"{self.url}{path}", params=dict(params), headers=self._conn.headers,
                auth=self._conn.auth, timeout=self._timeout_s)
        except requests.RequestException as exc:
            reason = redact_text(_reason(exc), self._secrets)
            raise Unreachable(f"Prometheus at {self.display_url} is unreachable: {reason}",
                              hint="check --prometheus / PROMETHEUS_URL and that it is up"
                              ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = (f"{body.get('errorType', 'error')}: {body.get('error', '')}"
                      if isinstance(body, dict) else response.text[:200].strip())
            raise Unreachable(
                f"Prometheus at {self.display_url} answered HTTP {response.status_code} for "
                f"{path}: {redact_text(detail, self._secrets)}",
                hint="check the URL points at the Prometheus HTTP API (…/api/v1 is added) "
                     "and the credentials")
        for key, kept in (("warnings", self.log.warnings), ("infos", self.log.infos)):
            for text in body.get(key) or []:
                if str(text) not in kept:
                    kept.append(str(text))
        return body.get("data")

    @property
    def queries_sent(self) -> int:
        return len(self.log.queries)

    def instant(self, promql: str, at: datetime) -> list[Sample]:
        """Evaluate PromQL at one instant (`time=`): a window's end, not "now"."""
        self.log.queries.append(promql)
        data = self._get("/api/v1/query", {"query": promql, "time": f"{at.timestamp():.3f}"})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise Unreachable(f"Prometheus at {self.display_url} returned an unexpected "
                              f"answer for {promql!r}", hint="is it a Prometheus-compatible API?")
        samples: list[Sample] = []
        for item in data.get("result") or []:
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            samples.append(Sample(labels, float(item["value"][1])))
        return samples

    def metric_names(self, start: datetime | None = None,
                     end: datetime | None = None) -> list[str]:
        """Names of the series the server holds (within [start, end] when given)."""
        params: dict[str, str] = {}
        if start is not None and end is not None:
            params = {"start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
        data = self._get("/api/v1/label/__name__/values", params)
        return [str(n) for n in data or []]

    def scrape_interval_s(self) -> float | None:
        """The longest scrape interval among active targets; None when the API has no targets
        (Thanos, Mimir and VictoriaMetrics may not serve /api/v1/targets)."""
        try:
            data = self._get("/api/v1/targets", {"state": "active"})
        except Unreachable:
            return None
        intervals = [_duration_s(t.get("scrapeInterval", ""))
                     for t in (data or {}).get("activeTargets", [])]
        known = [i for i in intervals if i]
        return max(known) if known else self._configured_interval_s()

    def _configured_interval_s(self) -> float | None:
        """From the loaded configuration, when no target is known yet (just started)."""
        import yaml

        try:
            data = self._get("/api/v1/status/config", {})
            config = yaml.safe_load((data or {}).get("yaml") or "") or {}
        except (Unreachable, yaml.YAMLError, AttributeError):
            return None
        jobs = config.get("scrape_configs") or []
        values = [j.get("scrape_interval") for j in jobs if isinstance(j, dict)]
        values.append((config.get("global") or {}).get("scrape_interval"))
        known = [d for v in values if isinstance(v, str) and (d := _duration_s(v))]
        return max(known) if known else None


def _reason(exc: Exception) -> str:
    """The innermost cause, e.g. "Connection refused", not requests' nested repr."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "No route to host", "Temporary failure in name resolution"):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _duration_s(text: str) -> float | None:
    """Prometheus durations as targets report them: "1s", "15s", "1m30s", "500ms"."""
    from perfkit.durations import duration_s

    return duration_s(text) if text else None
