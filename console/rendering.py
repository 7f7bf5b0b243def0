"""Pages from templates: one Jinja2 environment (autoescaped), the filters that write
dates and times the way council staff read them, and the error page.

Dates are written dd/mm/yyyy and times in UK time (Europe/London, GMT or BST shown), as
a court bundle or a case review would write them; the ledger keeps UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aggregates.identifiers import spaced_nhs_number
from aggregates.wording import relationship_word

HERE = Path(__file__).resolve().parent
UK = ZoneInfo("Europe/London")


def _day(value: Any) -> str:
    """dd/mm/yyyy, from a date, a datetime (its UK date) or an ISO string; '' for none."""
    found = _parse(value)
    if found is None:
        return ""
    if isinstance(found, datetime):
        found = _uk(found).date()
    return found.strftime("%d/%m/%Y")


def _moment(value: Any) -> str:
    """dd/mm/yyyy HH:MM in UK time with its zone (GMT/BST); a plain date as a day."""
    found = _parse(value)
    if found is None:
        return ""
    if not isinstance(found, datetime):
        return found.strftime("%d/%m/%Y")
    local = _uk(found)
    return local.strftime("%d/%m/%Y %H:%M ") + (local.tzname() or "")


def _iso(value: Any) -> str:
    """A machine-readable date or time for ``<time datetime=...>``."""
    found = _parse(value)
    return "" if found is None else found.isoformat()


def _uk(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(UK)


def _parse(value: Any) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        return None


def _label(value: Any) -> str:
    """An identifier as words: ``not-started`` and ``not_started`` read "not started"."""
    return str(value).replace("_", " ").replace("-", " ") if value is not None else ""


def _relationship(member: Any) -> str:
    """A member's relationship to the children in words ("mother", "step-parent", "child")."""
    return relationship_word(member.get("relationship"), member.get("gender"), member.get("kind"))


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(day=_day, moment=_moment, iso=_iso, label=_label, relationship=_relationship,
                           nhs=lambda value: spaced_nhs_number(str(value or "")))


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page rendered for the signed-in person (``context['actor']``, if any)."""
    context.setdefault("actor", getattr(request.state, "actor", None))
    context.setdefault("demo", bool(getattr(request.app.state, "console_demo", False)))
    context.setdefault("title", "")
    context.setdefault("path", request.url.path)
    person = _person(request)
    context.setdefault("person", person)
    context.setdefault("people", lambda ids: "; ".join(person(i) for i in ids))
    html = environment.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _person(request: Request) -> Any:
    """``person(user_id, name=None, job_title=None)`` for templates: someone as a person
    reads them, "Sam Jones, Family Support Worker" (``Ledger.describe``, ADR 0030)."""
    ledger = getattr(request.app.state, "ledger", None)

    def person(user_id: str | None, name: str | None = None, job_title: str | None = None) -> str:
        if not user_id and not name:
            return ""
        if ledger is None:
            return name or str(user_id)
        return str(ledger.describe(user_id, name, job_title).text)

    return person


HEADERS = {
    # Nothing but this app's own assets and inline SVG: no CDN, no third-party script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Every page: nothing from elsewhere, not framed, not cached (it shows case records)."""
