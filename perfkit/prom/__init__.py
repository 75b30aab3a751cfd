"""Prometheus before/after reports: real windows, Prometheus's own estimates, honest caveats,
and a verdict per route by the rule of compare and gate."""

from __future__ import annotations

from perfkit.prom.client import PromClient
from perfkit.prom.judge import Rule
from perfkit.prom.profiles import BUILTIN_PROFILES, Profile
from perfkit.prom.report import Report, ReportOptions, RouteReport, build_report, collect_report

__all__ = ["BUILTIN_PROFILES", "Profile", "PromClient", "Report", "ReportOptions", "RouteReport",
           "Rule", "build_report", "collect_report"]
