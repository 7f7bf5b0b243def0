"""The chronology context an entry carries beside its event fields: the source agency,
its significance and impact on the child, the action taken, a note and a court reference.

Declared once: commands take these fields (``api/models.py``) and a correction of an
entry's ``context`` is checked against them (``ledger.application.coerce_changes``), so
the read models only ever see short strings of the declared kinds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Annotated[str, Field(max_length=20_000)]


class ChronologyContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: Annotated[str, Field(max_length=200)] | None = Field(default=None, description="Source agency.")
    significance: Literal["high", "medium", "low"] | None = None
    impact_on_child: Literal["positive", "negative", "neutral"] | None = None
    action_taken: Text | None = Field(default=None, description="Action taken, or why none.")
    note: Text | None = None
    reference: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="Witness or document reference, for court chronologies (FPR PD12A).")


CONTEXT_FIELDS = tuple(ChronologyContext.model_fields)
