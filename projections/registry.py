"""Every read model the projector keeps, in the order it applies them."""

from __future__ import annotations

from projections.base import ReadModel
from projections.caseloads import CaseloadsModel
from projections.chronology import ChronologyModel
from projections.deadlines import DeadlinesModel
from projections.episodes import EpisodesModel
from projections.oversight import OversightModel

READ_MODELS: tuple[type[ReadModel], ...] = (
    ChronologyModel, DeadlinesModel, CaseloadsModel, OversightModel, EpisodesModel,
)
NAMES = tuple(m.name for m in READ_MODELS)
