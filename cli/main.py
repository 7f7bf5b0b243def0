"""The ``ledger`` command: serve, token, project, replay, demo, teams, staff, policies,
export, schemas, verify, erase and keys.

The CLI is an entry point beside the HTTP API (``api/``), over the same application core
(``ledger/``) and query layer (``queries/``): it never imports ``api`` (``serve`` hands
uvicorn the app's import path).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated
from uuid import UUID

import psycopg
import typer
import uvicorn
from eventsourcing.persistence import InterfaceError, OperationalError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aggregates.errors import LedgerError
from aggregates.vocabulary import TEAM_ROLES
from cli import trust as cli_trust
from cli.common import load_packs_or_exit, masked, open_ledger, open_projector, operator, use_database
from cli.exports import export
from cli.schemas import schemas
from demo import DemoAlreadyLoaded, DemoRefused, generate
from ledger.application import Ledger
from ledger.heap import settled
from ledger.policies.render import render_markdown
from ledger.settings import get_settings
from ledger.tokens import MAX_NAME_CLAIM, TokenTooLong, mint
from projections.projector import Projector
from replay.rebuild import PAGE, rebuild

__all__ = ["app", "main", "masked", "use_database"]

app = typer.Typer(help="Early Help case ledger.", no_args_is_help=True, add_completion=False)
DatabaseUrl = Annotated[str | None, typer.Option(help="postgresql://... (default: the configured database).")]
PackDir = Annotated[Path | None, typer.Option("--dir", help="Folder of pack files (default: the shipped packs).")]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database_url: Annotated[
        str | None, typer.Option(help="postgresql://... (default: SQLite in LEDGER_DATA_DIR).")
    ] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (PostgreSQL only).")] = 1,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Load synthetic demo families first (if the database has none).")] = False,
    demo_families: Annotated[int, typer.Option(min=1, help="How many demo families.")] = 60,
) -> None:
    """Run the HTTP API and the review console (http://HOST:PORT/)."""
    if database_url:
        use_database(database_url)
    settings = get_settings()
    load_packs_or_exit(None)  # a malformed pack stops start-up here, with the file and rule named
    settings.signing_key()  # create the local key before workers start
    where = masked(settings.database_url) if settings.is_postgres else settings.sqlite_path()
    open_ledger(None).close()  # the database answers (or start-up stops here, saying why)
    if demo:
        _load_demo(demo_families, seed=1, only_if_empty=True)
        # The console's demo sign-in (anyone as anyone): for the demo data only.
        os.environ["LEDGER_CONSOLE_DEMO_SIGN_IN"] = "true"
        get_settings.cache_clear()
    processes = workers if settings.is_postgres else 1
    typer.echo(f"Early Help case ledger on http://{host}:{port} (database: {where})")
    typer.echo(f"Review console: http://{host}:{port}/"
               + ("  (demo sign-in: pick any user, role and team)" if get_settings().console_demo_sign_in else ""))
    uvicorn.run("console.main:app", host=host, port=port, workers=processes)


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="User id the token speaks for.")],
    role: Annotated[str, typer.Option(help="practitioner, supervisor, manager, auditor, service, admin or inspector.")],
    team: Annotated[str | None, typer.Option(help="Team (required for practitioner, supervisor, manager).")] = None,
    hours: Annotated[float, typer.Option(min=0.01, help="Lifetime in hours, more than 0 (an inspector's at most 336: "
                                                         "14 days).")] = 8.0,
    name: Annotated[str | None, typer.Option(help="The person's name (claim `name`), recorded with each event "
                                                  "they record, e.g. \"Sam Jones\".")] = None,
    job_title: Annotated[str | None, typer.Option(help="Their job title (claim `job_title`), e.g. \"Family "
                                                       "Support Worker\".")] = None,
    scope: Annotated[str | None, typer.Option(help="Scopes granted, space-separated: `feed:full` lets a service "
                                                   "read the feed in full (else pseudonymised).")] = None,
) -> None:
    """Print a bearer token signed with the local key (LEDGER_JWT_SECRET or the data folder's)."""
    if not get_settings().local_tokens:
        typer.echo("LEDGER_OIDC_ISSUER is set: tokens come from the council's identity provider, and the API "
                   "refuses this command's (LEDGER_OIDC_ALLOW_LOCAL_TOKENS=true allows them, for tests only)", err=True)
        raise typer.Exit(2)
    if role in TEAM_ROLES and not team:
        raise typer.BadParameter(f"a {role} token needs --team", param_hint="--team")
    for hint, value in (("--name", name), ("--job-title", job_title)):
        if value is not None and (len(value.strip()) > MAX_NAME_CLAIM or any(ord(c) < 32 for c in value)):
            raise typer.BadParameter(f"at most {MAX_NAME_CLAIM} characters, on one line", param_hint=hint)
    try:
        typer.echo(mint(get_settings().signing_key(), sub=sub, role=role, team=team, hours=hours, name=name,
                        job_title=job_title, scope=scope))
    except TokenTooLong as e:
        raise typer.BadParameter(str(e), param_hint="--hours") from None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--role") from None


@app.command()
def project(
    database_url: DatabaseUrl = None,
    page: Annotated[int, typer.Option(min=1, max=10_000, help="Events per transaction.")] = 500,
    until_caught_up: Annotated[bool, typer.Option(
        "--until-caught-up", help="Exit once every read model is current.")] = False,
    retry_quarantined: Annotated[bool, typer.Option("--retry-quarantined", help=(
        "Apply the families a read model held back again (after a fix), report, and exit."))] = False,
) -> None:
    """Keep the read models current: follow new events until stopped (Ctrl-C or SIGTERM).

    Run one beside the API processes when LEDGER_PROJECTIONS=worker; a stopped or killed
    worker resumes where its last committed page ended."""
    projector = open_projector(database_url)
    projector.page = page
    if retry_quarantined:
        try:
            released, still = projector.retry_quarantined()
        finally:
            projector.ledger.close()
        for row in released:
            typer.echo(f"released: family {UUID(row['family_id'])} in {row['model']} "
                       f"(held since position {row['position']})")
        for row in still:
            typer.secho(f"still held: family {UUID(row['family_id'])} in {row['model']} at position {row['position']} "
                        f"({row['event_type']}): {row['error']}", fg=typer.colors.YELLOW)
        typer.echo(f"{len(released)} released, {len(still)} still held back")
        raise typer.Exit(code=1 if still else 0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started, done = time.perf_counter(), 0

    def report(applied: int, position: int) -> None:
        nonlocal done
        done += applied
        rate = done / max(time.perf_counter() - started, 1e-9)
        typer.echo(f"position {position}: {done} events applied ({rate:,.0f} events/s)")

    typer.echo(f"projecting from {projector.positions()}")
    try:
        with settled(projector.ledger):  # a long-running process's collections (ADR 0049)
            if until_caught_up:
                projector.catch_up(on_page=report)
            else:
                projector.run_forever(stop, on_page=report)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo(f"stopped at {projector.positions()}")
        projector.ledger.close()


@app.command()
def replay(
    projection: Annotated[list[str] | None, typer.Option(
        "--projection", help="Read model to rebuild (repeat for several; default: all).")] = None,
    database_url: DatabaseUrl = None,
    page: Annotated[int, typer.Option(
        min=1, max=100_000, help="About how many events each transaction applies (whole families).")] = PAGE,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help=(
        "Processes applying pages side by side (default: one per CPU, up to 8, from 50,000 events; else 1)."))] = None,
) -> None:
    """Rebuild read models from position 0 into fresh tables and swap them in when complete.

    Killed part-way, it leaves the live read models untouched; run it again to start over."""
    projector = open_projector(database_url)
    try:
        names = projection or [m.name for m in projector.models]
        for name in names:
            projector.model(name)  # an unknown name is refused before any work
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--projection") from None
    columns = (TextColumn("rebuilding {task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>9,.0f} events/s"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(", ".join(names), total=None, rate=0.0)
        lines = not progress.console.is_terminal  # in a log, a line per page instead of a bar

        def advance(events: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, completed=events, total=total, rate=events / elapsed)
            if lines:
                typer.echo(f"{events} of {total} events ({events / elapsed:,.0f} events/s)")

        try:
            done = rebuild(projector, names, page=page, workers=workers, on_progress=advance)
        finally:
            projector.ledger.close()
    processes = f" by {done.workers} processes" if done.workers > 1 else ""
    typer.echo(f"rebuilt {', '.join(done.models)}: {done.events} events in {done.seconds:.1f} s{processes} "
               f"({done.rate:,.0f} events/s), now at position {done.position}")
    for item in done.quarantined:
        typer.secho(f"held back: family {item.family_id} in {item.model} at position {item.position} "
                    f"({item.event_type}): {item.error}", fg=typer.colors.YELLOW)
    if done.quarantined:
        typer.echo(f"{len({i.family_id for i in done.quarantined})} family(ies) held back; every other family is "
                   "current (`ledger project --retry-quarantined` after a fix)")


def _load_demo(families: int, seed: int, *, only_if_empty: bool = False, as_json: bool = False) -> None:
    """Record the demo families (``demo/``), bring the read models up to date, and
    say what was loaded."""
    settings = get_settings()
    ledger = Ledger(settings)
    try:
        if only_if_empty and (ledger.recorder.max_notification_id() or 0) > 0:
            typer.echo("the database already holds families: demo data not loaded again")
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task(f"demo families (seed {seed})", total=families)
            try:
                summary = generate(settings, families=families, seed=seed, packs=ledger.packs,
                                   on_progress=lambda done, total: progress.update(task, completed=done, total=total))
            except (DemoAlreadyLoaded, DemoRefused) as e:
                typer.secho(f"demo data not loaded: {e}", err=True, fg=typer.colors.RED)
                raise typer.Exit(code=1) from None
            projector = Projector(ledger)
            position = ledger.recorder.max_notification_id() or 0
            catch_up = progress.add_task("read models", total=position)
            projector.catch_up(on_page=lambda applied, last: progress.update(catch_up, completed=last))
        summary["position"] = position
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
            return
        typer.echo(f"demo data, seed {seed}: {summary['families']} families, {summary['events']:,} events, "
                   f"{summary['episodes_opened']} episodes ({summary['episodes_closed']} closed, "
                   f"{summary['re_referrals']} re-referrals)")
        typer.echo(f"  history from {summary['from']} to {summary['until'][:10]}; "
                   f"{summary['entries_recorded_late']} entries typed up days late")
        for pack, count in summary["families_per_pack"].items():
            typer.echo(f"  {pack:<27} {count:>6} families {summary['teams_per_pack'][pack]:>4} teams "
                       f"{summary['staff_per_pack'][pack]:>5} staff")
        typer.echo(f"  recorded in {summary['seconds']:.1f} s ({summary['events_per_second']:,.0f} events/s, "
                   f"{summary['families_per_second']:,.1f} families/s); read models caught up to position {position:,}")
    finally:
        ledger.close()


@app.command()
def demo(
    families: Annotated[int, typer.Option(min=1, help="How many synthetic families.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same families.")] = 1,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Walk synthetic families through their packs' pathways over the last fifteen months,
    through the real command path, and bring the read models up to date."""
    if database_url:
        use_database(database_url)
    load_packs_or_exit(None)
    _load_demo(families, seed, as_json=as_json)


teams = typer.Typer(help="The team directory: the teams families are held by.", no_args_is_help=True)
app.add_typer(teams, name="teams")


@teams.command("add")
def teams_add(
    team_id: Annotated[str, typer.Argument(help="The team's id, as tokens carry it (e.g. north).")],
    name: Annotated[str, typer.Option(help="The team's name as staff say it.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Add a team to the directory (or rename one): families are registered for, and
    transferred to, teams of the directory only."""
    ledger = open_ledger(database_url)
    try:
        team = ledger.teams.add(team_id, name=name, by=operator()["user_id"])
    except LedgerError as e:
        typer.secho(f"team refused: {e.detail}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    finally:
        ledger.close()
    typer.echo(f"team {team['team_id']}: {team['name']}")


@teams.command("list")
def teams_list(
    database_url: DatabaseUrl = None,
) -> None:
    """List the team directory."""
    ledger = open_ledger(database_url)
    try:
        found = ledger.teams.all()
    finally:
        ledger.close()
    if not found:
        typer.echo("the team directory is empty: add a team with `ledger teams add <id> --name <name>`")
    for team in found:
        typer.echo(f"{team['team_id']:<32} {team['name']}  (added {team['added_at'][:10]} by {team['added_by']})")


staff = typer.Typer(help="The staff directory: the names and job titles shown instead of user ids.",
                    no_args_is_help=True)
app.add_typer(staff, name="staff")


def _put_staff(user_id: str, name: str, job_title: str | None, database_url: str | None, how: str) -> None:
    ledger = open_ledger(database_url)
    try:
        entry = ledger.staff.put(user_id, name, job_title, operator())
        ledger.access_log.record(actor=operator(), action="staff-update", path=f"ledger staff {how}",
                                 query=f"user_id={user_id}")
    except LedgerError as e:
        typer.secho(f"staff entry refused: {e.detail}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    finally:
        ledger.close()
    typer.echo(f"{entry.user_id}: {entry.name}" + (f", {entry.job_title}" if entry.job_title else ""))


@staff.command("add")
def staff_add(
    user_id: Annotated[str, typer.Argument(help="The user id tokens carry (sub), e.g. sot-sfsw-06.")],
    name: Annotated[str, typer.Option(help="Their name as colleagues read it, e.g. \"Sam Jones\".")],
    job_title: Annotated[str | None, typer.Option(help="Their job title, e.g. \"Family Support Worker\".")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add someone to the staff directory (or replace their entry): entries recorded
    without a name, and workers named by id, read this name and title."""
    _put_staff(user_id, name, job_title, database_url, "add")


@staff.command("update")
def staff_update(
    user_id: Annotated[str, typer.Argument(help="The user id of someone in the directory.")],
    name: Annotated[str | None, typer.Option(help="Their new name (default: unchanged).")] = None,
    job_title: Annotated[str | None, typer.Option(help="Their new job title (default: unchanged; \"\" removes it).")]
    = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change someone's name or job title in the staff directory."""
    if name is None and job_title is None:
        raise typer.BadParameter("give --name, --job-title or both", param_hint="--name")
    ledger = open_ledger(database_url)
    try:
        found = ledger.staff.get(user_id)
    finally:
        ledger.close()
    if found is None:
        typer.secho(f"{user_id} is not in the staff directory: add them with `ledger staff add {user_id} --name ...`",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    _put_staff(user_id, found.name if name is None else name,
               found.job_title if job_title is None else job_title, database_url, "update")


@staff.command("list")
def staff_list(
    database_url: DatabaseUrl = None,
) -> None:
    """List the staff directory."""
    ledger = open_ledger(database_url)
    try:
        found = ledger.staff.all()
    finally:
        ledger.close()
    if not found:
        typer.echo("the staff directory is empty: add someone with `ledger staff add <user id> --name <name>`")
        return
    table = Table("user id", "name", "job title", "updated")
    for entry in found:
        table.add_row(entry.user_id, entry.name, entry.job_title or "",
                      f"{entry.updated_at[:10]} by {entry.updated_by}")
    console = Console()
    if not console.is_terminal:
        console.width = 200  # piped or captured: one line per person
    console.print(table)


policies = typer.Typer(help="Policy packs: check them, render them for managers.", no_args_is_help=True)
app.add_typer(policies, name="policies")
app.add_typer(export, name="export")
app.add_typer(schemas, name="schemas")
cli_trust.install(app)


@policies.command("check")
def policies_check(
    directory: PackDir = None,
) -> None:
    """Validate every pack and list them (exit 2 naming the file and rule if one is malformed)."""
    packs = load_packs_or_exit(directory)
    table = Table("pack", "council", "version", "effective from", "rules", "timed", "ordering", "recording")
    for pack in packs.values():
        kinds = [r.kind for r in pack.rules]
        table.add_row(pack.id, pack.council, pack.version, f"{pack.effective_from}", str(len(kinds)),
                      str(sum(k in ("deadline", "recurring") for k in kinds)), str(kinds.count("ordering")),
                      str(kinds.count("recording")))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # piped or captured: do not wrap ids into three lines
    console.print(table)


@policies.command("render")
def policies_render(
    output: Annotated[Path, typer.Option(help="Markdown file to write.")] = Path("docs/policies.md"),
    check: Annotated[bool, typer.Option(
        "--check", help="Only report whether the file is up to date (exit 1 if not).")] = False,
    directory: PackDir = None,
) -> None:
    """Write the packs as tables a council manager can check against their procedure."""
    text = render_markdown(load_packs_or_exit(directory))
    if check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            typer.echo(f"{output} is out of date: run `ledger policies render`", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output} ({text.count(chr(10))} lines)")


def unreachable(error: BaseException) -> str | None:
    """What to tell the operator when the database cannot be opened, or None if ``error``
    is something else: one line, without a traceback or the password."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (OperationalError, InterfaceError)) or type(seen).__module__.startswith("psycopg"):
            settings = get_settings()
            where = masked(settings.database_url) if settings.is_postgres else str(settings.sqlite_path())
            first = _connect_error(settings.database_url) if settings.is_postgres else None
            if first is None:
                first = str(seen).strip().splitlines()[0] if str(seen).strip() else type(seen).__name__
            hint = (" (create it first, e.g. `createdb`, or point LEDGER_DATABASE_URL at one that exists)"
                    if "does not exist" in first else "")
            return f"cannot open the ledger's database {where}: {first}{hint}"
        seen = seen.__cause__ or seen.__context__
    return None


def _connect_error(url: str | None) -> str | None:
    """Why a plain connection to ``url`` fails (the pool only says it timed out), or None."""
    try:
        with psycopg.connect(url or "", password=get_settings().password(), connect_timeout=3):
            return None
    except psycopg.Error as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else type(e).__name__


def main() -> None:
    try:
        app()
    except ValidationError as e:  # a setting (LEDGER_...) that cannot be used: say which and why
        for error in e.errors():
            typer.secho(f"setting refused: {str(error['msg']).removeprefix('Value error, ')}", err=True,
                        fg=typer.colors.RED)
        raise SystemExit(2) from None
    except Exception as e:
        why = unreachable(e)
        if why is None:
            raise
        typer.secho(why, err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
