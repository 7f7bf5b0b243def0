"""What a route takes besides its own parameters, as ``Annotated`` dependencies: the
ledger, its read models (caught up with ``min_position``), the moments a read is asked
about, and the access log's list of the families a read showed.

Routes take these instead of reaching into ``request.app.state``: the app holds one
ledger and one projector (``api/app.py``) and these hand them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.models import Moment
from api.problems import Problem
from ledger.access_log import AccessLog
from ledger.application import Ledger
from projections.projector import Projector
from queries.reading import MAX_POSITION, caught_up

# What only reads the app's state or the request is ``async def``: FastAPI runs a plain
# ``def`` dependency in its thread pool, one hand-over to a thread and back for each, and
# under load those hand-overs were a fifth of the API process's CPU (py-spy; ADR 0042).
# What reads the database or waits stays a ``def`` (``read_models``).


async def ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


async def projector(request: Request) -> Projector:
    return request.app.state.projector  # type: ignore[no-any-return]


async def access_log(request: Request) -> AccessLog:
    return request.app.state.access_log  # type: ignore[no-any-return]


LedgerDep = Annotated[Ledger, Depends(ledger)]
"""The application: commands, and reads of the record itself."""
ProjectorDep = Annotated[Projector, Depends(projector)]
"""The read models as they are (no wait)."""
AccessLogDep = Annotated[AccessLog, Depends(access_log)]

MinPosition = Annotated[int | None, Query(
    ge=0, le=MAX_POSITION,
    description="Wait until the read models have processed this position (a command's `position`).")]


def read_models(request: Request, min_position: MinPosition = None) -> Projector:
    """The read models, once they have processed ``min_position`` (read-your-writes)."""
    state = request.app.state
    return caught_up(state.ledger, state.projector, min_position)


ReadModels = Annotated[Projector, Depends(read_models)]
"""The read models, caught up with the ``min_position`` query parameter (ADR 0011)."""

AsAt = Annotated[Moment | None, Query(
    description="The record as it stood at this moment of recording: "
                "later entries and later corrections are left out.")]
AsOf = Annotated[Moment | None, Query(description="Evaluate as of this moment (default now).")]


class FamiliesShown:
    """Says which families a read across families showed: the access log writes one row
    for each once the answer is known (``access.LogReads``)."""

    def __init__(self, request: Request) -> None:
        self._state = request.state

    def __call__(self, family_ids: Iterable[Any]) -> None:
        self._state.families_read = sorted({UUID(str(f)) for f in family_ids if f is not None}, key=str)


async def families_shown(request: Request) -> FamiliesShown:
    return FamiliesShown(request)  # a class as a dependency would be made in the thread pool


Shown = Annotated[FamiliesShown, Depends(families_shown)]


# -- unknown query parameters -----------------------------------------------------------------

_ACCEPTED: dict[int, tuple[str, ...]] = {}


def accepted_query(route: APIRoute) -> tuple[str, ...]:
    """The query parameters a route (and its dependencies) declares, by their names on the wire."""
    found = _ACCEPTED.get(id(route))
    if found is None:
        found = tuple(dict.fromkeys(_query_names(route.dependant)))
        _ACCEPTED[id(route)] = found
    return found


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (p.alias for p in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def refuse_unknown_query(request: Request) -> None:
    """A query parameter the route does not know is refused (422), naming it and the ones
    it accepts: a mistyped filter (``states=`` for ``status=``) never silently answers
    everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    accepted = accepted_query(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in accepted]
    if not unknown:
        return
    takes = f"accepts {', '.join(accepted)}" if accepted else "takes no query parameters"
    method = request.method
    raise Problem(
        422, "Invalid request",
        "; ".join(f"query.{name}: unknown parameter" for name in unknown)
        + f" ({method} {route.path} {takes})",
        errors=[{"field": f"query.{name}", "message": "unknown parameter", "type": "unknown_parameter"}
                for name in unknown],
        accepted=list(accepted))
