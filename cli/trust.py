"""``ledger verify``, ``ledger erase`` and ``ledger keys rotate``: the trust commands
(ADR 0013, docs/security.md). (``ledger export --member``, subject access, is with the
other exports in ``cli/exports.py``.)

Operators run these with direct access to the database, so they are not behind the
API's tokens; what they read of a person's record is written to the access log under
``cli:<operating-system user>`` like any read through the API.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from aggregates.errors import LedgerError
from aggregates.vocabulary import ERASURE_REASONS
from cli.common import open_ledger, operator, uuid_option
from ledger.integrity import expected, statement
from ledger.integrity import verify as verify_events
from ledger.keys import MasterKey, keyring_text, new_key_id, parse_keyring
from ledger.settings import get_settings
from projections.projector import Projector
from replay.compare import differences

keys = typer.Typer(help="The master keyring that wraps each family's key.", no_args_is_help=True)


def verify(
    expect: Annotated[str | None, typer.Option(
        "--expect", help="A head published earlier: a statement `--publish` printed, a file holding one, or a head "
                         "hash; the record up to it must be unchanged.")] = None,
    publish: Annotated[bool, typer.Option(
        "--publish", help="Print a signed statement of the head to keep outside the database.")] = False,
    skip_read_models: Annotated[bool, typer.Option(
        "--skip-read-models", help="Leave out the comparison of the read models with a rebuild (the slow part).")]
    = False,
) -> None:
    """Check the record: every event's keyed hash chain and the global order, the access
    log (its chain and the heads the events carry), destroyed keys against erasure events,
    snapshots, and the read models against a rebuild from the events; name each problem
    and exit 1 if there is any."""
    ledger = open_ledger()
    try:
        result = verify_events(ledger)
        problems = result.problems + ledger.access_log.verify()
        if expect is not None:
            published = expect
            if not expect.lstrip().startswith("{") and len(expect) != 64:  # a file holding the statement
                try:
                    published = Path(expect).read_text(encoding="utf-8")
                except OSError as e:
                    raise typer.BadParameter(f"neither a statement, a head hash nor a readable file: {e}",
                                             param_hint="--expect") from None
            problems += expected(ledger, result, published)
        if not skip_read_models:
            problems += differences(Projector(ledger))
        signed = statement(ledger, result) if publish else None
    finally:
        ledger.close()
    for problem in problems:
        typer.secho(problem, fg=typer.colors.RED)
    verdict = "FAILED" if problems else "ok"
    checked = "access log, keys, snapshots" + ("" if skip_read_models else " and read models")
    typer.echo(f"{verdict}: {result.events:,} events in {result.families:,} families; {checked} checked; "
               f"{len(problems)} problem(s)")
    typer.echo(f"head hash {result.head} at position {result.position} (publish it outside the database to pin "
               "today's record: --publish)")
    if signed is not None:
        typer.echo(signed)
    if problems:
        raise typer.Exit(code=1)


def erase(
    family: Annotated[str, typer.Option("--family", help="The family's id.")],
    reason: Annotated[str, typer.Option(help="retention-period-passed, erasure-request or recorded-in-error.")]
    = "erasure-request",
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="e.g. 'UK GDPR Art. 17(1)(a)'.")]
    = "UK GDPR Art. 17",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Crypto-shred a family's personal data: destroy its key (for good), then record
    PersonalDataErased. Refused under a legal hold or with an open episode."""
    family_id = uuid_option(family, "--family")
    if reason not in ERASURE_REASONS:
        raise typer.BadParameter(f"one of {', '.join(ERASURE_REASONS)}", param_hint="--reason")
    if not yes and not typer.confirm(f"Destroy the key of family {family_id}? Its names, dates of birth and "
                                     "free text can never be read again", default=False):
        raise typer.Exit(code=1)
    ledger = open_ledger()
    try:
        try:
            recorded = ledger.erase(family_id, actor=operator(), reason=reason, legal_basis=legal_basis)
        except LedgerError as e:
            typer.secho(f"erasure refused: {e.detail}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None
        if ledger.settings.projections == "inline":
            Projector(ledger).catch_up()
    finally:
        ledger.close()
    typer.echo(f"family {family_id} erased: event {recorded.event_id} at position {recorded.position}")


@keys.command("rotate")
def rotate() -> None:
    """Re-wrap every family key under the newest master key. With LEDGER_MASTER_KEYS,
    put the new key first and run this; without it, a new key is added to the data
    folder's keyring first. Older master keys can be retired once this has run."""
    settings = get_settings()
    if not settings.master_keys:
        path = Path(settings.data_dir) / "master-keys"
        ring = parse_keyring(path.read_text(encoding="utf-8").strip()) if path.exists() else []
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(keyring_text([MasterKey(new_key_id(), secrets.token_bytes(32)), *ring]),
                        encoding="utf-8")
        path.chmod(0o600)
    ledger = open_ledger()
    try:
        count = ledger.keys.rotate()
        newest = ledger.keys.keyring[0].id
    finally:
        ledger.close()
    typer.echo(f"{count} family key(s) re-wrapped under master key {newest}")


def install(app: typer.Typer) -> None:
    app.command()(verify)
    app.command()(erase)
    app.add_typer(keys, name="keys")

