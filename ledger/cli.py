"""The ``ledger`` command: serve, token (and, as they land, demo, replay, verify, export).

The CLI is the one entry point that spans layers, so it imports ``api`` and ``replay``
lazily inside the commands that need them.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Early Help case ledger.", no_args_is_help=True, add_completion=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database_url: Annotated[
        Optional[str], typer.Option(help="postgresql://... (default: SQLite in LEDGER_DATA_DIR).")
    ] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    if database_url:
        os.environ["LEDGER_DATABASE_URL"] = database_url
    from ledger.settings import get_settings

    settings = get_settings()
    settings.signing_key()  # create the local key before workers start
    where = settings.database_url if settings.is_postgres else settings.sqlite_path()
    typer.echo(f"Early Help case ledger on http://{host}:{port} (database: {where})")
    uvicorn.run("api.main:app", host=host, port=port, workers=workers if settings.is_postgres else 1)


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="User id the token speaks for.")],
    role: Annotated[str, typer.Option(help="practitioner, supervisor, manager, auditor, service, admin or inspector.")],
    team: Annotated[Optional[str], typer.Option(help="Team (required for practitioner, supervisor, manager).")] = None,
    hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 8.0,
) -> None:
    """Print a bearer token signed with the local key (LEDGER_JWT_SECRET or the data folder's)."""
    from api.auth import TEAM_ROLES, mint
    from ledger.settings import get_settings

    if role in TEAM_ROLES and not team:
        raise typer.BadParameter(f"a {role} token needs --team", param_hint="--team")
    try:
        typer.echo(mint(get_settings().signing_key(), sub=sub, role=role, team=team, hours=hours))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--role") from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
