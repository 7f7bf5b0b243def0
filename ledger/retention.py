"""How long a closed family's record is kept, from its pack's ``[retention]`` (UK GDPR
Art. 5(1)(e), storage limitation). The record is kept until the later of the dates the
pack states: ``years_after_closure`` after the last episode closed, and the youngest
child's birthday at ``until_youngest_child_age`` (for a family with children whose dates
of birth are known). A family with an open episode is
never due; a pack that states neither keeps records until the council says otherwise.
"""

from __future__ import annotations

from datetime import date

from ledger.calendar import add_years
from ledger.policies.schema import Retention


def retain_until(retention: Retention | None, *, open_episode: bool, closed_on: date | None,
                 youngest_born: date | None) -> date | None:
    """The first day the family's record may be erased; None if not yet knowable."""
    if retention is None or open_episode:
        return None
    dates = []
    if retention.years_after_closure is not None:
        if closed_on is None:
            return None
        dates.append(add_years(closed_on, retention.years_after_closure))
    if retention.until_youngest_child_age is not None and youngest_born is not None:
        dates.append(add_years(youngest_born, retention.until_youngest_child_age))
    return max(dates) if dates else None
