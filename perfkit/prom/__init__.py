"""Prometheus before/after reports: real windows, Prometheus's own estimates, honest caveats."""

from __future__ import annotations

from perfkit.prom.client import PromClient
from perfkit.prom.profiles import BUILTIN_PROFILES, Profile
from perfkit.prom.report import ReportOptions, build_report

__all__ = ["BUILTIN_PROFILES", "Profile", "PromClient", "ReportOptions", "build_report"]
