"""``ledger export ...``: the exports of the HTTP API, from the command line.

Each command opens the ledger on the configured database, reads the same read models
through the same functions as the HTTP routes (``api/export_routes.py``), writes the bytes
to ``--output`` or standard output, and closes the ledger: the same inputs give the same
bytes as ``GET /families/{id}/chronology?profile=...``, ``GET /exports/annex-a/list-2``
and ``GET /exports/ssd/early-help-episodes``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional
from uuid import UUID

import typer

export = typer.Typer(help="Export chronologies and data returns.", no_args_is_help=True)


class Profile(str, Enum):
    court = "court"
    practice = "practice"
    review = "review"


class ChronologyFormat(str, Enum):
    json = "json"
    csv = "csv"
    docx = "docx"


class ReturnFormat(str, Enum):
    csv = "csv"
    json = "json"


Output = Annotated[Optional[Path], typer.Option(help="File to write (default: standard output).")]
AsAt = Annotated[Optional[str], typer.Option(
    "--as-at", help="The record as it stood at this moment of recording (ISO 8601 with a timezone offset).")]


def _moment(value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date and time", param_hint="--as-at") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("as_at must include a timezone offset, e.g. 2026-03-01T17:00:00+00:00",
                                 param_hint="--as-at")
    return moment


def _day(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=hint) from None


@contextmanager
def _reading() -> Iterator[tuple[Any, Any]]:
    """The ledger and its projector on the configured database (read models caught up,
    as an API process does on start when projecting inline); the ledger is closed after."""
    from ledger.application import Ledger
    from ledger.settings import get_settings
    from projections.projector import Projector

    settings = get_settings()
    ledger = Ledger(settings)
    try:
        projector = Projector(ledger)
        if settings.projections == "inline":
            projector.catch_up()
        yield ledger, projector
    finally:
        ledger.close()


def _write(make: Callable[[Any, Any], Any], output: Optional[Path], what: str,
           member_id: Optional[UUID] = None) -> None:
    """Make an export, log it (one access-log row per family it carries, under
    ``cli:<operating-system user>``), then write it."""
    from aggregates.errors import LedgerError
    from ledger.access_log import Read
    from cli.trust import _operator

    with _reading() as (ledger, projector):
        try:
            found = make(ledger, projector)
        except LedgerError as e:
            typer.secho(f"export refused: {e.detail}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None
        action = "subject-access" if member_id is not None else "export"
        families = [UUID(f) for f in found.families] or [None]
        ledger.access_log.record_all([Read(_operator(), action, f"ledger export {what}", " ".join(sys.argv[2:]),
                                           family_id=f, member_id=member_id) for f in families])
    if output is None:
        if found.media_type.startswith("application/vnd.") and sys.stdout.isatty():
            typer.secho("a Word document is not for a terminal: give --output FILE", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2)
        sys.stdout.buffer.write(found.content)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(found.content)
    typer.echo(f"wrote {output} ({len(found.content)} bytes)", err=True)


@export.command("chronology")
def chronology(
    family: Annotated[str, typer.Option("--family", help="The family's id.")],
    profile: Annotated[Profile, typer.Option(help="court (FPR PD12A), practice (multi-agency) or review.")],
    format: Annotated[ChronologyFormat, typer.Option("--format", help="json, csv or docx.")] = ChronologyFormat.json,
    member: Annotated[Optional[str], typer.Option("--member", help="A member's own chronology.")] = None,
    as_at: AsAt = None,
    output: Output = None,
) -> None:
    """A family's (or one member's) chronology for a court bundle, a partnership or a case review."""
    from api.export_routes import chronology_export

    family_id, member_id = _uuid(family, "--family"), _uuid(member, "--member") if member else None
    moment = _moment(as_at)
    _write(lambda ledger, projector: chronology_export(
        ledger, projector, family_id, profile=profile.value, fmt=format.value, member=member_id, as_at=moment),
        output, "chronology")


@export.command("annex-a")
def annex_a(
    first: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day of the period (YYYY-MM-DD).")],
    format: Annotated[ReturnFormat, typer.Option("--format", help="csv or json.")] = ReturnFormat.csv,
    as_at: AsAt = None,
    output: Output = None,
) -> None:
    """Ofsted Annex A, List 2 (early help): one row per child per early help assessment in the period."""
    from api.export_routes import annex_a_export

    period = _day(first, "--from"), _day(last, "--to")
    moment = _moment(as_at)
    _write(lambda ledger, projector: annex_a_export(ledger, projector, *period, format.value, moment), output,
           "annex-a")


@export.command("ssd")
def ssd(
    first: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day of the period (YYYY-MM-DD).")],
    format: Annotated[ReturnFormat, typer.Option("--format", help="csv or json.")] = ReturnFormat.csv,
    as_at: AsAt = None,
    output: Output = None,
) -> None:
    """The Standard Safeguarding Dataset's ssd_early_help_episodes: one row per child per episode in the period."""
    from api.export_routes import ssd_export

    period = _day(first, "--from"), _day(last, "--to")
    moment = _moment(as_at)
    _write(lambda ledger, projector: ssd_export(ledger, projector, *period, format.value, moment), output, "ssd")


def _uuid(value: str, hint: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an id", param_hint=hint) from None
