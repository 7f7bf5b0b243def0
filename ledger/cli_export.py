"""``ledger export ...``: the exports of the HTTP API, from the command line."""

from __future__ import annotations

import typer

export = typer.Typer(help="Export chronologies and data returns.", no_args_is_help=True)
