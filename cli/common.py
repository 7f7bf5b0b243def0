"""What the ``ledger`` commands share: the database a command runs on, the operator it
runs as, the packs, and the parsing of ids and moments given as options."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import typer

from ledger.application import Ledger
from ledger.policies.loader import PACKS_DIR, PackError, load_packs
from ledger.policies.schema import Pack
from ledger.settings import get_settings
from projections.projector import Projector


def operator() -> dict[str, str]:
    """Who a command acts as: the operating-system user, as an admin (operators run the
    CLI with direct access to the database, not behind the API's tokens)."""
    return {"user_id": f"cli:{getpass.getuser()}", "role": "admin", "team": ""}


def use_database(url: str) -> None:
    """``--database-url``: the database for this command, never with a password in it (a
    command line is shown to every user of the machine by `ps`)."""
    if urlsplit(url).password:
        raise typer.BadParameter(
            "put the password in LEDGER_DATABASE_PASSWORD or a file named by LEDGER_DATABASE_PASSWORD_FILE, "
            "not in --database-url (a command line is visible to every user of the machine)",
            param_hint="--database-url")
    os.environ["LEDGER_DATABASE_URL"] = url
    get_settings.cache_clear()


def masked(url: str | None) -> str:
    """A database URL as it may be printed: any password replaced by ***."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_ledger(database_url: str | None = None) -> Ledger:
    """The ledger on the configured database (or ``database_url``); the caller closes it."""
    if database_url:
        use_database(database_url)
    return Ledger(get_settings())


def load_packs_or_exit(directory: Path | None) -> dict[str, Pack]:
    """The packs, or a one-line refusal naming the file, the rule and what is wrong."""
    try:
        return load_packs(directory or get_settings().policy_dir or PACKS_DIR)
    except PackError as e:
        typer.secho(f"policy pack refused: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


def open_projector(database_url: str | None) -> Projector:
    """The ledger and its projector, on the configured database (or ``database_url``)."""
    if database_url:
        use_database(database_url)
    load_packs_or_exit(None)
    return Projector(Ledger(get_settings()))


@contextmanager
def reading() -> Iterator[tuple[Ledger, Projector]]:
    """The ledger and its projector on the configured database (read models caught up,
    as an API process does on start when projecting inline); the ledger is closed after."""
    settings = get_settings()
    ledger = Ledger(settings)
    try:
        projector = Projector(ledger)
        if settings.projections == "inline":
            projector.catch_up()
        yield ledger, projector
    finally:
        ledger.close()


def uuid_option(value: str, hint: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an id", param_hint=hint) from None


def moment_option(value: str | None) -> datetime | None:
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


def day_option(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=hint) from None
