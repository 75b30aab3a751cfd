"""Which candidate indexes to propose: a greedy choice, then each kept index's own share.

Greedy: the candidate with the largest estimated time saved first (a statement's total time
times its plan cost cut, summed over the statements it serves), the narrowest on a tie,
until no candidate cuts a statement's cost by MIN_CUT over the set chosen so far. Then,
with the whole set in place, each index is credited with what it alone causes: the set's
plans with and without it (a statement whose cut another index makes is not its). An index
saving less than MIN_SAVED_SHARE of the source's database time goes: a halved plan cost on
a statement of 0.2 ms a call is no reason to slow every write of a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfkit.db.advisor.candidates import Candidate
from perfkit.db.advisor.costing import CostingSession, Target
from perfkit.db.advisor.hypothetical import Costs
from perfkit.db.advisor.record import Choice, StatementStatus

#: A candidate must cut a statement's plan cost by this fraction (generic or heaviest plan).
MIN_CUT = 0.5
#: A kept index saves at least this share of the source's database time (statement time
#: times the index's own cut), or it is dropped. Low enough for an index that takes 0.1 ms
#: off a statement each request runs beside a 13-25 ms one (the demo at scale 0.05, on a
#: busy or an idle machine: 0.46-0.9%), high enough that an index-only twin of a primary
#: key lookup beside a slow list route (0.02-0.1%) goes.
MIN_SAVED_SHARE = 0.0025
#: A statement is credited to an index when its plans, without that index alone, cost this
#: much more: the index causes (part of) its cut.
MIN_CREDIT = 0.1


@dataclass
class Selection:
    """The indexes kept, what each saves, and why every candidate was kept or dropped."""

    chosen: list[Candidate]
    saved_ms: dict[Candidate, float]
    choices: list[Choice]


def saving(before: Costs, after: Costs) -> float:
    """The share of a statement's time a plan change saves: the mean of its relative cost
    cuts (generic plan, heaviest value), 0 when dearer."""
    cuts = [c for c in (_rel(before.generic, after.generic),
                        _rel(before.heaviest, after.heaviest)) if c is not None]
    return max(0.0, sum(cuts) / len(cuts)) if cuts else 0.0


def _rel(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return (before - after) / before


def pool(session: CostingSession, targets: list[Target],
         choices: list[Choice] | None = None) -> list[Candidate]:
    """Every candidate once, without those an existing index already is or extends."""
    found: list[Candidate] = []
    for target in targets:
        for candidate in target.analysis.candidates:
            if candidate in found or any(str(c.candidate) == str(candidate)
                                         for c in choices or []):
                continue
            present = [p for p in session.present(candidate.table)
                       if candidate.is_prefix_of(p.columns)]
            if not present:
                found.append(candidate)
            elif choices is not None:
                choices.append(Choice(candidate, False, f"the existing index {present[0].name} "
                                                        "already leads with these columns"))
    return found


def _gains(session: CostingSession, candidate: Candidate, chosen: list[Candidate],
           targets: list[Target]) -> list[tuple[Target, float]]:
    """The targets this candidate serves on top of the chosen ones, with a score each."""
    served = []
    for target in targets:
        if candidate.table not in target.analysis.tables:
            continue
        base = session.costs(target, tuple(chosen))
        after = session.costs(target, (*chosen, candidate))
        if str(candidate) in after.indexes and base.cut(after) >= MIN_CUT:
            served.append((target, target.advice.stats.total_ms * saving(base, after)))
    return served


def choose(session: CostingSession, targets: list[Target],
           choices: list[Choice]) -> list[Candidate]:
    """The greedy set (see the module's docstring); dropped candidates say why in `choices`."""
    candidates, chosen = pool(session, targets, choices), list[Candidate]()
    targets = [t for t in targets if t.analysis.candidates]
    while candidates:
        best: tuple[tuple[float, int], Candidate] | None = None
        for candidate in list(candidates):
            gains = _gains(session, candidate, chosen, targets)
            if not gains:  # the set only grows: it will not serve later either
                candidates.remove(candidate)
                over = f" and {', '.join(map(str, chosen))}" if chosen else ""
                choices.append(Choice(candidate, False, f"cuts no statement's plan cost by "
                                      f"{MIN_CUT:.0%} over the existing indexes{over}"))
                continue
            key = (sum(score for _t, score in gains), -len(candidate.columns))
            if best is None or key > best[0]:
                best = (key, candidate)
        if best is None:
            break
        pick = best[1]

        def covered(c: Candidate, pick: Candidate = pick) -> bool:
            return c.table == pick.table and c.is_prefix_of(pick.columns)

        for c in [*chosen, *candidates]:
            if c != pick and covered(c):
                choices.append(Choice(c, False, f"a prefix of {pick}, which serves its "
                                                "statements too"))
        chosen = [c for c in chosen if not covered(c)] + [pick]
        candidates = [c for c in candidates if c != pick and not covered(c)]
    return chosen


def _mark(session: CostingSession, chosen: list[Candidate], targets: list[Target]) -> None:
    """Each statement's cost with the set, its status, and the chosen indexes its plan uses."""
    for target in targets:
        stmt = target.advice
        after = session.costs(target, tuple(chosen))
        assert stmt.before is not None
        used = [str(c) for c in chosen if str(c) in after.indexes]
        if used and stmt.before.cut(after) >= MIN_CUT:
            stmt.status, stmt.after, stmt.indexes = StatementStatus.SERVED, after, used
            continue
        stmt.after, stmt.indexes = stmt.before, []
        if not stmt.candidates:
            stmt.status = StatementStatus.NO_CANDIDATE
        elif stmt.before.indexes:
            stmt.status = StatementStatus.COVERED
        else:
            stmt.status = StatementStatus.NO_GAIN


def _credit(session: CostingSession, index: Candidate, chosen: list[Candidate],
            targets: list[Target]) -> tuple[list[Target], float]:
    """The statements this index alone makes cheaper within the set, and the time it saves."""
    credited, saved = [], 0.0
    others = tuple(c for c in chosen if c != index)
    for target in targets:
        stmt = target.advice
        if stmt.status is not StatementStatus.SERVED or str(index) not in stmt.indexes:
            continue
        with_all, without = session.costs(target, tuple(chosen)), session.costs(target, others)
        if without.cut(with_all) >= MIN_CREDIT:
            credited.append(target)
            saved += stmt.stats.total_ms * saving(without, with_all)
    return credited, saved


def settle(session: CostingSession, chosen: list[Candidate], targets: list[Target],
           source_ms: float, choices: list[Choice]) -> Selection:
    """With the whole set in place: statuses, each index's own statements and savings; an
    index no statement needs, or saving less than the floor, leaves the set (one at a time,
    the weakest first: the others' shares change without it)."""
    floor_ms = MIN_SAVED_SHARE * source_ms
    while True:
        _mark(session, chosen, targets)
        credit = {c: _credit(session, c, chosen, targets) for c in chosen}
        unused = [c for c in chosen if not any(str(c) in t.advice.indexes for t in targets)]
        weakest = min(chosen, key=lambda c: credit[c][1], default=None)
        if unused:
            drop, why = unused[0], "no statement's plan uses it once the others are in place"
        elif weakest is not None and credit[weakest][1] < floor_ms:
            drop, why = weakest, (f"saves {credit[weakest][1]:.1f} ms of the source's "
                                  f"{source_ms:.1f} ms of database time, under "
                                  f"{MIN_SAVED_SHARE:.2%}")
        else:
            break
        choices.append(Choice(drop, False, why, saved_ms=credit[drop][1]))
        chosen = [c for c in chosen if c != drop]
    for target in targets:  # a statement names the indexes that cause its cut
        mine = [str(c) for c in chosen if target in credit[c][0]]
        target.advice.indexes = mine or target.advice.indexes
    share = {c: credit[c][1] / source_ms if source_ms > 0 else 0.0 for c in chosen}
    choices.extend(Choice(c, True, f"saves {credit[c][1]:.1f} ms, {share[c]:.1%} of the "
                                   f"source's database time, on {len(credit[c][0])} "
                                   "statement(s)", saved_ms=credit[c][1]) for c in chosen)
    return Selection(chosen, {c: credit[c][1] for c in chosen}, choices)


def select(session: CostingSession, targets: list[Target], source_ms: float) -> Selection:
    """The indexes to propose for these statements (HypoPG installed)."""
    choices: list[Choice] = []
    return settle(session, choose(session, targets, choices), targets, source_ms, choices)
