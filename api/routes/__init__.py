"""The HTTP API's routes, one ``APIRouter`` per resource. A route parses and authorises
(the access table, ``api/access.py``, has done that before it runs), calls one query
(``queries/``) or one command of the ledger, and maps the result to HTTP: status, headers,
body. No route imports another route module; what they share is in ``api/``."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    caseloads,
    chronology,
    commands,
    deadlines,
    exports,
    families,
    people,
    policies,
    schemas,
    service,
    staff,
    trust,
)

ROUTERS: tuple[APIRouter, ...] = (
    service.router, policies.router, families.router, commands.router, chronology.router, deadlines.router,
    caseloads.router, people.router, exports.router, trust.router, staff.router, schemas.router,
)
