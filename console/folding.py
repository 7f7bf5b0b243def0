"""A family's deadlines as a person reads them: one line per rule and child.

A rule that recurs (a child seen every ten working days, a review every six weeks)
starts a new clock each time the last one stops, so a family open for a year has
hundreds of clocks of one rule: the engine's table lists every one, which is what the
API gives and what ``?deadlines=all`` shows. The family page folds them: each rule and
child keeps its latest clock, and every clock still running, on a line of its own; the
earlier ones are counted on the latest clock's line (how many, how they ended, from
when to when) and drawn on its row of the timeline. Nothing that needs attention is
folded away: a clock that has not stopped is never "earlier".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from ledger.deadlines import ClockRow


@dataclass(frozen=True)
class Line:
    """A clock the page shows, and the earlier clocks of its rule and child folded into it
    (oldest first)."""

    clock: ClockRow
    earlier: tuple[ClockRow, ...] = field(default=())

    @property
    def counts(self) -> Counter[str]:
        """How the earlier clocks ended, by state."""
        return Counter(c["state"] for c in self.earlier)

    @property
    def first_start(self) -> datetime | None:
        return self.earlier[0]["started_at"] if self.earlier else None


def _running(clock: ClockRow) -> bool:
    return clock["state"] != "breach" and clock["stopped_by"] is None and clock["ended_by"] is None


def fold(clocks: Sequence[ClockRow]) -> list[Line]:
    """The clocks as lines, in the order given: a rule and child's clocks that have
    stopped, other than its latest, are folded into the line of its latest clock."""
    groups: dict[tuple[str, UUID | None], list[int]] = {}
    for i, clock in enumerate(clocks):
        if clock["started_at"] is not None:
            groups.setdefault((clock["rule"], clock["member"]), []).append(i)
    folded_into: dict[int, list[int]] = {}
    hidden: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        by_start = sorted(members, key=lambda i: (clocks[i]["started_at"], i))
        latest = by_start[-1]
        earlier = [i for i in by_start[:-1] if not _running(clocks[i])]
        if earlier:
            folded_into[latest] = earlier
            hidden.update(earlier)
    return [Line(clock, tuple(clocks[j] for j in folded_into.get(i, ())))
            for i, clock in enumerate(clocks) if i not in hidden]
