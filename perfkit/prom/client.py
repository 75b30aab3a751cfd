"""A thin wrapper over prometheus-api-client that keeps what the library drops.

PrometheusConnect returns only `data.result`: Prometheus's own `warnings` and `infos`
(a non-monotonic histogram, a metric that may not be a counter) are lost. perfkit reaches
the HTTP API through the connection's session instead, keeps them, counts the queries it
sends, and turns every failure into `Unreachable` naming the URL without credentials.

Every request is a read, so one that meets a lost connection or a 5xx (a Prometheus
restarting, a proxy in front of it between two backends) is sent again once, after a short
pause, with a note; a second failure is `PrometheusFault`, naming what the query was for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from perfkit.durations import duration_s
from perfkit.errors import Unreachable
from perfkit.redact import redact_text, redact_url

DEFAULT_TIMEOUT_S = 15.0
RETRY_PAUSE_S = 0.5  # a restarting Prometheus or its proxy gets this long before the retry


class PrometheusFault(Unreachable):
    """Prometheus failed a query twice (a lost connection or a 5xx, retried once): the
    report cannot be built, unlike an API that lacks an endpoint."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value (NaN kept as NaN)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and its (time, value) samples; a time with no
    value is absent (Prometheus had nothing to evaluate there), NaN kept as NaN."""

    labels: dict[str, str]
    values: list[tuple[float, float]]


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
    """Instant and range queries, label values and targets over one PrometheusConnect
    session."""

    def __init__(self, url: str, *, token: str | None = None,
                 basic_auth: tuple[str, str] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S,
                 on_retry: Callable[[str], None] | None = None) -> None:
        bare, from_url = split_credentials(url.rstrip("/"))
        self.url = bare
        self.display_url = redact_url(bare)
        self._secrets = [s for s in (token, *(basic_auth or from_url or ())) if s]
        self._timeout_s = timeout_s
        self._on_retry = on_retry
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        # No retry below: _get retries once itself, and says so.
        retry = Retry(total=0, read=False)
        self._conn = PrometheusConnect(url=bare, headers=headers, auth=basic_auth or from_url,
                                       retry=retry, session=session)
        self._session = session
        self.log = QueryLog()

    def _get(self, path: str, params: Mapping[str, Any], purpose: str) -> Any:
        """The API's `data` for one read; `purpose` says what it was for in a failure."""
        response = self._send(path, params, purpose)
        body = _json(response)
        if body is None or body.get("status") != "success":
            raise Unreachable(
                f"Prometheus at {self.display_url} answered HTTP {response.status_code} for "
                f"{path}: {self._detail(response)}",
                hint="check the URL points at the Prometheus HTTP API (…/api/v1 is added) "
                     "and the credentials")
        for key, kept in (("warnings", self.log.warnings), ("infos", self.log.infos)):
            for text in body.get(key) or []:
                if str(text) not in kept:
                    kept.append(str(text))
        return body.get("data")

    def _send(self, path: str, params: Mapping[str, Any], purpose: str) -> Any:
        """The response, sent again once after a lost connection or a 5xx (reads only)."""
        fault = ""
        for attempt in (1, 2):
            try:
                response = self._session.get(
                    f"{self.url}{path}", params=dict(params), headers=self._conn.headers,
                    auth=self._conn.auth, timeout=self._timeout_s)
            except requests.ConnectionError as exc:  # refused, reset, closed mid-answer
                fault = f"is unreachable ({self._reason(exc)})"
            except requests.RequestException as exc:  # a timeout, a bad URL: not retried
                raise Unreachable(
                    f"Prometheus at {self.display_url} is unreachable ({self._reason(exc)}) "
                    f"asking for {purpose}",
                    hint="check --prometheus / PROMETHEUS_URL and that it is up") from None
            else:
                if response.status_code < 500:
                    return response
                fault = f"answered HTTP {response.status_code} ({self._detail(response)})"
            if attempt == 1:
                if self._on_retry is not None:
                    self._on_retry(f"Prometheus at {self.display_url} {fault} asking for "
                                   f"{purpose}; retrying once in {RETRY_PAUSE_S:g} s")
                time.sleep(RETRY_PAUSE_S)
        raise PrometheusFault(
            f"Prometheus at {self.display_url} {fault} asking for {purpose}, and again on "
            "the retry",
            hint="check that it is up and healthy, then rerun: perfkit only reads from it, "
                 "nothing is left to repair")

    def _detail(self, response: Any) -> str:
        """Prometheus's own error (`errorType: error`), else the start of the body."""
        body = _json(response)
        detail = (f"{body.get('errorType', 'error')}: {body.get('error', '')}"
                  if body is not None else response.text[:200].strip() or "empty body")
        return redact_text(" ".join(detail.split()), self._secrets)

    def _reason(self, exc: Exception) -> str:
        return redact_text(_reason(exc), self._secrets)

    @property
    def queries_sent(self) -> int:
        return len(self.log.queries)

    def instant(self, promql: str, at: datetime, purpose: str = "a query") -> list[Sample]:
        """Evaluate PromQL at one instant (`time=`): a window's end, not "now"."""
        self.log.queries.append(promql)
        data = self._get("/api/v1/query", {"query": promql, "time": f"{at.timestamp():.3f}"},
                         purpose)
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise Unreachable(f"Prometheus at {self.display_url} returned an unexpected "
                              f"answer for {promql!r}", hint="is it a Prometheus-compatible API?")
        samples: list[Sample] = []
        for item in data.get("result") or []:
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            samples.append(Sample(labels, float(item["value"][1])))
        return samples

    def range_query(self, promql: str, start: datetime, end: datetime, step_s: float,
              purpose: str = "a range query") -> list[RangeSeries]:
        """Evaluate PromQL at start, start + step, ... <= end (`/api/v1/query_range`)."""
        self.log.queries.append(promql)
        data = self._get("/api/v1/query_range", {
            "query": promql, "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}", "step": f"{step_s:g}"}, purpose)
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise Unreachable(f"Prometheus at {self.display_url} returned an unexpected "
                              f"answer for {promql!r}", hint="is it a Prometheus-compatible API?")
        return [RangeSeries({str(k): str(v) for k, v in (item.get("metric") or {}).items()},
                            [(float(t), float(v)) for t, v in item.get("values") or []])
                for item in data.get("result") or []]

    def metric_names(self, start: datetime | None = None,
                     end: datetime | None = None) -> list[str]:
        """Names of the series the server holds (within [start, end] when given)."""
        params: dict[str, str] = {}
        if start is not None and end is not None:
            params = {"start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
        data = self._get("/api/v1/label/__name__/values", params, "the metric names")
        return [str(n) for n in data or []]

    def scrape_interval_s(self) -> float | None:
        """The longest scrape interval among active targets; None when the API has no targets
        (Thanos, Mimir and VictoriaMetrics may not serve /api/v1/targets); a Prometheus that
        fails (PrometheusFault) fails the report here."""
        try:
            data = self._get("/api/v1/targets", {"state": "active"}, "the scrape interval")
        except PrometheusFault:
            raise
        except Unreachable:
            return None
        intervals = [_duration_s(t.get("scrapeInterval", ""))
                     for t in (data or {}).get("activeTargets", [])]
        known = [i for i in intervals if i]
        return max(known) if known else self._configured_interval_s()

    def _configured_interval_s(self) -> float | None:
        """From the loaded configuration, when no target is known yet (just started)."""
        try:
            data = self._get("/api/v1/status/config", {}, "the scrape interval")
            config = yaml.safe_load((data or {}).get("yaml") or "") or {}
        except PrometheusFault:
            raise
        except (Unreachable, yaml.YAMLError, AttributeError):
            return None
        jobs = config.get("scrape_configs") or []
        values = [j.get("scrape_interval") for j in jobs if isinstance(j, dict)]
        values.append((config.get("global") or {}).get("scrape_interval"))
        known = [d for v in values if isinstance(v, str) and (d := _duration_s(v))]
        return max(known) if known else None


def _json(response: Any) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _reason(exc: Exception) -> str:
    """The innermost cause, e.g. "Connection refused", not requests' nested repr."""
    text = str(exc)
    for marker in ("Connection refused", "Connection reset by peer",
                   "Remote end closed connection without response", "Name or service not known",
                   "timed out", "No route to host", "Temporary failure in name resolution"):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _duration_s(text: str) -> float | None:
    """Prometheus durations as targets report them: "1s", "15s", "1m30s", "500ms"."""
    return duration_s(text) if text else None
