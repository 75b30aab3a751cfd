"""The phases of a bench record's rows: below the record, so what reads phases by name (the
thresholds) need not import the record."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Which requests a row holds: cache misses, cache hits, or all of them; `login` rows are
    the virtual users' logins, kept in the record's `logins`, never among its routes."""

    COLD = "cold"
    WARM = "warm"
    ALL = "all"
    LOGIN = "login"

    @property
    def order(self) -> int:
        return _PHASE_ORDER[self]


_PHASE_ORDER = {Phase.COLD: 0, Phase.WARM: 1, Phase.ALL: 2, Phase.LOGIN: 3}
