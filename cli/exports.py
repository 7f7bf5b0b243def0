"""``ledger export ...``: the exports of the HTTP API, from the command line.

Each command opens the ledger on the configured database, reads the same read models
through the same query functions as the HTTP routes (``queries/exports.py``,
``queries/trust.py``), writes the bytes to ``--output`` or standard output, and closes
the ledger: the same inputs give the same bytes as
``GET /families/{id}/chronology?profile=...``, ``GET /exports/annex-a/list-2``,
``GET /exports/ssd/early-help-episodes`` and ``GET /members/{id}/subject-access``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from aggregates.errors import LedgerError
from cli.common import day_option, moment_option, operator, reading, uuid_option
from ledger.access_log import Read
from ledger.application import Ledger
from projections.exports import Export
from projections.projector import Projector
from queries.exports import annex_a_export, chronology_export, ssd_export
from queries.exports import prepared_by as exports_prepared_by
from queries.trust import subject_access_export

export = typer.Typer(help="Export chronologies and data returns.", no_args_is_help=True)


class Profile(StrEnum):
    court = "court"
    practice = "practice"
    review = "review"


class ChronologyFormat(StrEnum):
    json = "json"
    csv = "csv"
    pdf = "pdf"
    docx = "docx"


class ReturnFormat(StrEnum):
    csv = "csv"
    json = "json"


First = Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")]
Last = Annotated[str, typer.Option("--to", help="Last day of the period (YYYY-MM-DD).")]
ReturnFormatOption = Annotated[ReturnFormat, typer.Option("--format", help="csv or json.")]
Output = Annotated[Path | None, typer.Option(help="File to write (default: standard output).")]
PackOption = Annotated[str | None, typer.Option(
    "--pack", help="Only the families worked under this council's policy pack (its id).")]
AsAt = Annotated[str | None, typer.Option(
    "--as-at", help="The record as it stood at this moment of recording (ISO 8601 with a timezone offset).")]


def _write(make: Callable[[Ledger, Projector], Export], output: Path | None, what: str,
           member_id: UUID | None = None) -> None:
    """Make an export, log it (one access-log row per family it carries, under
    ``cli:<operating-system user>``), then write it."""
    with reading() as (ledger, projector):
        try:
            found = make(ledger, projector)
        except LedgerError as e:
            typer.secho(f"export refused: {e.detail}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None
        action = "subject-access" if member_id is not None else "export"
        families: list[UUID | None] = [UUID(f) for f in found.families] or [None]
        ledger.access_log.record_all([Read(operator(), action, f"ledger export {what}", " ".join(sys.argv[2:]),
                                           family_id=f, member_id=member_id) for f in families])
    if output is None:
        if found.media_type.startswith(("application/vnd.", "application/pdf")) and sys.stdout.isatty():
            typer.secho("a Word or PDF document is not for a terminal: give --output FILE", err=True,
                        fg=typer.colors.RED)
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
    format: Annotated[ChronologyFormat, typer.Option(
        "--format", help="json, csv, pdf or docx (Word).")] = ChronologyFormat.json,
    member: Annotated[str | None, typer.Option("--member", help="A member's own chronology.")] = None,
    as_at: AsAt = None,
    case_number: Annotated[str | None, typer.Option(
        "--case-number", help="The court's case number, for the header of a PDF or Word document.")] = None,
    prepared_by: Annotated[str | None, typer.Option(
        "--prepared-by", help="Who the document says prepared it: a user id in the staff directory "
                              "(default: you, as cli:<operating-system user>).")] = None,
    output: Output = None,
) -> None:
    """A family's (or one member's) chronology for a court bundle, a partnership or a case review."""
    family_id, member_id = uuid_option(family, "--family"), uuid_option(member, "--member") if member else None
    moment = moment_option(as_at)
    _write(lambda ledger, projector: chronology_export(
        ledger, projector, family_id, profile=profile.value, fmt=format.value, member=member_id, as_at=moment,
        case_number=case_number, prepared_by=exports_prepared_by(ledger, {"user_id": prepared_by or operator()})),
        output, "chronology")


@export.command("annex-a")
def annex_a(
    first: First,
    last: Last,
    format: ReturnFormatOption = ReturnFormat.csv,
    as_at: AsAt = None,
    pack: PackOption = None,
    output: Output = None,
) -> None:
    """Ofsted Annex A, List 2 (early help): one row per child per early help assessment in the period."""
    period = day_option(first, "--from"), day_option(last, "--to")
    moment = moment_option(as_at)
    _write(lambda ledger, projector: annex_a_export(ledger, projector, *period, format.value, moment, pack), output,
           "annex-a")


@export.command("ssd")
def ssd(
    first: First,
    last: Last,
    format: ReturnFormatOption = ReturnFormat.csv,
    as_at: AsAt = None,
    pack: PackOption = None,
    output: Output = None,
) -> None:
    """The Standard Safeguarding Dataset's ssd_early_help_episodes: one row per child per episode in the period."""
    period = day_option(first, "--from"), day_option(last, "--to")
    moment = moment_option(as_at)
    _write(lambda ledger, projector: ssd_export(ledger, projector, *period, format.value, moment, pack), output,
           "ssd")


@export.callback(invoke_without_command=True)
def subject_access(
    ctx: typer.Context,
    member: Annotated[str | None, typer.Option("--member", help="Everything held about this person "
                                                  "(subject access), when no export is named.")] = None,
    format: Annotated[ReturnFormat, typer.Option("--format", help="json or csv.")] = ReturnFormat.json,
    output: Output = None,
) -> None:
    """Export chronologies and data returns; or, with --member, a subject access export."""
    if ctx.invoked_subcommand is not None:
        if member is not None:
            raise typer.BadParameter("--member alone asks for a subject access export; "
                                     "put it after the export's name for a member's chronology",
                                     param_hint="--member")
        return
    if member is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(code=0)
    member_id = uuid_option(member, "--member")
    _write(lambda ledger, projector: subject_access_export(ledger, projector, member_id, format.value), output,
           f"--member {member_id}", member_id)
